/* A port whose device went away (the emulator killed, the function
 * hot-removed) and came back: fail the port with the reason and stop the
 * datapath without waiting on the dead device (every vfio-user call fails at
 * once on a hung-up socket, or after its timeout), then open and probe the
 * device again and converge, so a ready frontend runs again with the guest's
 * ring state read from guest memory (the new device has none).
 *
 * Threads: the callers are device-watch.c's worker (one per port at a time)
 * and the main loop (port_device_hangup_fd(), while no worker runs); both
 * entry points that change the device hold ctl while they do. */
#include "port.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config-relay.h"
#include "kick-relay.h"
#include "port-private.h"

static port_vf_hold_fn keeper_hold;
static port_vf_drop_fn keeper_drop;

void port_set_vf_keeper(port_vf_hold_fn hold, port_vf_drop_fn drop)
{
	keeper_hold = hold;
	keeper_drop = drop;
}

/* device_status in the virtio common configuration (virtio 1.x §4.1.4.3) */
#define COMMON_CFG_DEVICE_STATUS 0x14u
/* PCI command register (PCI Local Bus 3.0 §6.2.2) */
#define PCI_COMMAND 0x04u

void port_vf_keep(struct port *p)
{
	const struct ifcvf_cap_loc *common = &p->hw.caps.common;
	uint64_t status_off, config_off;
	int fd, r;

	p->kept = 0;
	if (!keeper_hold || !p->dev || vfio_dev_transport(p->dev) != VFIO_TRANSPORT_KERNEL)
		return;
	r = vfio_dev_kernel_handle(p->dev, common->bar, common->offset + COMMON_CFG_DEVICE_STATUS,
				   &fd, &status_off, &config_off);
	if (r == 0)
		r = keeper_hold(p->cfg.device, fd, status_off, config_off + PCI_COMMAND, &p->kept);
	if (r < 0)
		port_note(p, true, "the sentinel cannot hold the VF (%s): if the helper dies, the VF "
			  "is not stopped before the frontend sees its connection close", strerror(-r));
}

void port_vf_unkeep(struct port *p)
{
	if (p->kept && keeper_drop)
		keeper_drop(p->kept);
	p->kept = 0;
}

int port_device_lost_fd(struct port *p, bool *ret_readable)
{
	*ret_readable = false;
	return p->dev ? vfio_dev_lost_fd(p->dev, ret_readable) : -1;
}

void port_device_lost_reason(struct port *p, char *buf, size_t len)
{
	if (p->dev)
		vfio_dev_lost_reason(p->dev, buf, len);
	else
		snprintf(buf, len, "device lost");
}

bool port_device_is_lost(struct port *p)
{
	bool lost;

	pthread_mutex_lock(&p->ctl);
	lost = p->dev_lost;
	pthread_mutex_unlock(&p->ctl);
	return lost;
}

void port_device_lost(struct port *p, const char *why)
{
	pthread_mutex_lock(&p->ctl);
	if (p->dev_lost || p->closing) {
		pthread_mutex_unlock(&p->ctl);
		return;
	}
	p->dev_lost = true;
	atomic_fetch_add(&p->stats.errors, 1);
	if (p->running || p->vf_touched || p->mapped) {
		if (p->running)
			atomic_fetch_add(&p->stats.stops, 1);
		/* the dead device answers nothing: each vring's state is its
		 * used index in guest memory, handed back to the frontend */
		port_datapath_stop(p, true);
	}
	/* the control queue lives in the old device's DMA space */
	ifcvf_ctrlq_free(p->ctrlq, p->dev);
	p->ctrlq = NULL;
	/* closed now: a kernel asking for the function back (request
	 * interrupt) waits until it is released; nothing reaches p->dev while
	 * dev_lost is set (no bring-up, port_read_config() refuses) */
	kick_relay_free(p->kick);
	p->kick = NULL;
	config_relay_free(p->config);
	p->config = NULL;
	port_lm_release(p);
	port_vf_unkeep(p);
	vfio_dev_close(p->dev);
	p->dev = NULL;
	p->hw.dev = NULL;
	/* a later stop's marks must not read the closed device's counters */
	p->phases.dev = NULL;
	/* The frontend is told by the state only: vhost-user has no message
	 * for a backend to take a net link down (QEMU's virtio-net link
	 * follows the vhost-user connection, and DPDK's public API cannot
	 * drop one connection), and a config-change notice now would only
	 * make a blk frontend read a configuration nobody can give. The guest
	 * sees its rings stall, not a reset, and go on from where their used
	 * indices stand once the device is back. */
	port_set_state(p, PORT_STATE_FAILED, why);
	pthread_mutex_unlock(&p->ctl);
}

/* The device came back the same (a different one would not match what the
 * frontend negotiated). */
static int same_device(const struct port *p, const struct ifcvf_hw *hw, struct cerr *e)
{
	if (hw->type != p->hw.type || hw->is_ifcvf != p->hw.is_ifcvf ||
	    hw->features != p->hw.features || hw->max_queues != p->hw.max_queues)
		return cerr_set(e, ENODEV,
				"%s came back as a different device (type, features or queues "
				"differ): restart the helper to serve it", p->cfg.device);
	return 0;
}

int port_device_reattach(struct port *p, struct cerr *e)
{
	struct ifcvf_devargs args = { .sw_live_migration = p->cfg.sw_live_migration,
				      .generic_virtio = p->cfg.generic_virtio };
	struct vfio_dev *dev = NULL;
	struct ifcvf_hw hw;
	int r;

	/* opened without ctl: a device that is slow to answer holds no one */
	r = vfio_dev_open(p->cfg.device, NULL, &dev, e);
	if (r < 0)
		return r;
	memset(&hw, 0, sizeof(hw));
	r = ifcvf_hw_init(&hw, dev, &args, e);
	if (r == 0)
		r = same_device(p, &hw, e);
	if (r < 0) {
		vfio_dev_close(dev);
		return r;
	}
	pthread_mutex_lock(&p->ctl);
	if (p->closing || !p->dev_lost) {
		pthread_mutex_unlock(&p->ctl);
		vfio_dev_close(dev);
		return cerr_set(e, ESHUTDOWN, "the port is shutting down");
	}
	p->dev = dev;
	p->hw = hw;
	port_vf_keep(p);
	atomic_store(&p->capacity, hw.type == IFCVF_DEV_BLK ? hw.blk.capacity : 0);
	p->vf_touched = false;
	p->vf_fresh = false;
	/* where the lost device's vrings stopped says nothing of this one's
	 * (a new emulator, a hot-added function: their rings stand at 0): an
	 * IFCVF without ring-state registers is reset and relayed with
	 * translated indices by the next start, never resumed at its own
	 * index against the guest's used ring */
	memset(p->vf_pos, 0, sizeof(p->vf_pos));
	p->vf_pos_known = 0;
	p->dev_lost = false;
	p->refused = false;
	if (p->conn < 0)
		port_set_state(p, PORT_STATE_WAITING, "the device is back; waiting for a frontend");
	else
		port_set_state(p, PORT_STATE_STOPPED, "the device is back");
	port_reconcile(p);
	/* a blk device may come back with another configuration (capacity) */
	if (p->conn >= 0 && p->hw.type == IFCVF_DEV_BLK && p->fe->config_changed)
		p->fe->config_changed(p->conn);
	pthread_mutex_unlock(&p->ctl);
	return 0;
}
