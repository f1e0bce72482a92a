/* Kick latency and cost: host notifier, relay, direct.
 *
 * Measures, in one invocation, the time from a frontend's kick to the VF's
 * interrupt for a one-packet TX chain, three ways:
 *   host-notifier: the frontend writes the VF's doorbell page, which the
 *             helper handed it over the backend channel and it mapped
 *             (the helper is out of the path) -> ifcvf-emu -> used entry ->
 *             MSI-X eventfd (the vring's callfd)
 *   relay:    frontend -> kickfd -> ifcvf-helper's kick relay -> doorbell ->
 *             ifcvf-emu -> the same
 *   baseline: the same queue driven by this program directly through the
 *             project's VFIO layer, the doorbell written without the helper:
 *             on the VF's doorbell page mapped here (as the host notifier
 *             does) when the VF has one, else through the VFIO layer's
 *             register write
 * The difference of the medians is what each path adds per kick. It also
 * prints the helper's CPU time per million kicks (utime+stime from /proc)
 * for the two paths through the helper (the baseline runs without one).
 *
 * usage: kick-latency EMU HELPER [KICKS]     (run by bench/run)
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "bench-proc.h"
#include "ifcvf-hw.h"
#include "virtq-drv.h"
#include "vu-frontend.h"

#define FRAME 64u
#define VERSION_1 (1ull << 32)
#define PROTOCOL_FEATURES (1ull << 30)

static void die(const char *what, const struct cerr *e)
{
	fprintf(stderr, "kick-latency: %s: %s\n", what, e ? e->msg : strerror(errno));
	exit(1);
}

static void report(const char *name, long long *lat, unsigned n, long long *p50, long long *p99)
{
	qsort(lat, n, sizeof(*lat), bench_cmp_ll);
	*p50 = lat[n / 2];
	*p99 = lat[(n * 99) / 100];
	printf("%-9s kick -> interrupt: p50 %6.1f us  p99 %6.1f us  (%u kicks)\n", name,
	       (double)*p50 / 1000.0, (double)*p99 / 1000.0, n);
}

/* one TX chain per round: header + frame, device-readable */
static uint64_t tx_buf;

static void post_tx(struct virtq_drv *q, struct vu_guest_mem *mem)
{
	struct virtq_buf b = { .gpa = tx_buf, .len = 12 + FRAME, .device_writes = false };

	if (virtq_drv_add(q, mem, &b, 1, false) < 0)
		die("queue full", NULL);
	/* publish without the kick: the caller times its own kick */
	__atomic_store_n(&q->avail->idx, q->avail_idx, __ATOMIC_RELEASE);
}

static void reap(struct virtq_drv *q)
{
	uint32_t id, len;

	while (virtq_drv_get_used(q, &id, &len) > 0)
		;
}

/* rounds through the helper: kick = eventfd_write(kickfd) (relay), or a
 * write to the doorbell page the helper handed over (@notifier). 0, or -1
 * when the host notifier never came (the reason on stderr). */
static int run_vhost(const char *sock, bool notifier, unsigned kicks, long long *lat, pid_t helper,
		     double *cpu_per_million)
{
	struct vu_guest_mem mem;
	struct vu_frontend fe;
	struct virtq_drv rx, tx;
	struct cerr e = { 0 };
	double cpu0;

	if (vu_guest_mem_init(&mem, 16 << 20, &e) < 0)
		die("guest memory", &e);
	tx_buf = vu_guest_mem_alloc(&mem, 4096, 4096);
	if (virtq_drv_init(&rx, &mem, 0, 256, false, &e) < 0 ||
	    virtq_drv_init(&tx, &mem, 1, 256, false, &e) < 0)
		die("rings", &e);
	/* the helper takes the next frontend once it let go of the last one */
	for (int tries = 0;; tries++) {
		if (vu_frontend_connect(&fe, sock, 10000, &e) == 0 &&
		    vu_frontend_handshake(&fe, 1ull << VU_PROTOCOL_F_REPLY_ACK |
					       (notifier ? 1ull << VU_PROTOCOL_F_BACKEND_REQ |
							   1ull << VU_PROTOCOL_F_BACKEND_SEND_FD |
							   1ull << VU_PROTOCOL_F_HOST_NOTIFIER : 0), &e) == 0)
			break;
		if (fe.sock >= 0)
			vu_frontend_close(&fe);
		if (tries > 100)
			die("vhost-user connect", &e);
		usleep(50000);
	}
	if ((notifier && (vu_frontend_set_backend_req(&fe, 0, &e) < 0 ||
			  vu_frontend_serve_backend(&fe, VU_NOTIFIER_ACCEPT, &e) < 0)) ||
	    vu_frontend_set_features(&fe, (fe.features & (VERSION_1 | PROTOCOL_FEATURES)), &e) < 0 ||
	    vu_frontend_set_mem_table(&fe, &mem, &e) < 0 ||
	    vu_frontend_setup_vring(&fe, &rx, &e) < 0 ||
	    vu_frontend_setup_vring(&fe, &tx, &e) < 0 ||
	    vu_frontend_set_vring_enable(&fe, 0, true, &e) < 0 ||
	    vu_frontend_set_vring_enable(&fe, 1, true, &e) < 0)
		die("vhost-user setup", &e);

	/* the port comes up asynchronously: wait until a kick is answered */
	for (int tries = 0;; tries++) {
		post_tx(&tx, &mem);
		eventfd_write(tx.kickfd, 1);
		if (virtq_drv_wait_call(&tx, 200) > 0)
			break;
		if (tries > 50) {
			fprintf(stderr, "kick-latency: the port never answered a kick\n");
			exit(1);
		}
	}
	reap(&tx);
	/* and, for the host notifier, until TX's doorbell page is mapped */
	for (int tries = 0; notifier && !(vu_frontend_notifiers(&fe) & 2); tries++) {
		if (tries > 500) {
			fprintf(stderr, "kick-latency: host-notifier: the helper handed over no doorbell "
				"page within 5 s (see the helper's log)\n");
			vu_frontend_close(&fe);
			virtq_drv_fini(&rx);
			virtq_drv_fini(&tx);
			vu_guest_mem_fini(&mem);
			return -1;
		}
		usleep(10000);
	}

	cpu0 = bench_cpu_seconds(helper);
	for (unsigned i = 0; i < kicks; i++) {
		long long t0;

		post_tx(&tx, &mem);
		t0 = bench_now_ns();
		if (notifier)
			(void)vu_frontend_kick(&fe, 1, tx.kickfd);
		else
			eventfd_write(tx.kickfd, 1);
		if (virtq_drv_wait_call(&tx, 5000) <= 0) {
			fprintf(stderr, "kick-latency: no interrupt for kick %u\n", i);
			exit(1);
		}
		lat[i] = bench_now_ns() - t0;
		reap(&tx);
	}
	*cpu_per_million = (bench_cpu_seconds(helper) - cpu0) * 1e6 / kicks;
	if (notifier && fe.hn_doorbells < kicks) {
		fprintf(stderr, "kick-latency: host-notifier: only %llu of %u kicks went to the page\n",
			(unsigned long long)fe.hn_doorbells, kicks);
		exit(1);
	}
	vu_frontend_close(&fe);
	virtq_drv_fini(&rx);
	virtq_drv_fini(&tx);
	vu_guest_mem_fini(&mem);
	return 0;
}

/* rounds without the helper: this process is the driver of the VF */
static void run_direct(const char *address, unsigned kicks, long long *lat)
{
	struct ifcvf_devargs args = { .sw_live_migration = true };
	struct vfio_dev *dev = NULL;
	struct vu_guest_mem mem;
	struct virtq_drv tx;
	struct ifcvf_hw hw;
	struct cerr e = { 0 };
	int fds[3] = { -1, -1, -1 };
	void *page = NULL;
	uint64_t page_size = 0;

	if (vu_guest_mem_init(&mem, 16 << 20, &e) < 0)
		die("guest memory", &e);
	tx_buf = vu_guest_mem_alloc(&mem, 4096, 4096);
	if (virtq_drv_init(&tx, &mem, 1, 256, false, &e) < 0)
		die("ring", &e);
	fds[2] = tx.callfd;
	if (vfio_dev_open(address, NULL, &dev, &e) < 0 || ifcvf_hw_init(&hw, dev, &args, &e) < 0)
		die(address, &e);
	{
		struct ifcvf_vring_cfg q = {
			.desc = tx.desc_gpa, .avail = tx.avail_gpa, .used = tx.used_gpa,
			.size = tx.size, .vector = 2,
		};
		if (vfio_dev_dma_map(dev, 0, mem.size, mem.base, mem.fd, 0, &e) < 0 ||
		    vfio_dev_set_irq_eventfds(dev, VFIO_DEV_IRQ_MSIX, 0, 3, fds, &e) < 0 ||
		    ifcvf_hw_reset(&hw, 1000, &e) < 0 ||
		    ifcvf_hw_add_status(&hw, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, &e) < 0 ||
		    ifcvf_hw_set_features(&hw, hw.features & (1ull << VIRTIO_F_VERSION_1), &e) < 0 ||
		    ifcvf_hw_queue_program(&hw, 1, &q, &e) < 0 ||
		    ifcvf_hw_queue_enable(&hw, 1, &e) < 0 ||
		    ifcvf_hw_add_status(&hw, VIRTIO_STATUS_DRIVER_OK, &e) < 0)
			die("program the VF", &e);
	}
	{
		int fd = -1;
		uint64_t off = 0, size = 0;

		/* the same page a host notifier hands out, mapped here */
		if (ifcvf_hw_notify_area(&hw, 1, &fd, &off, &size, &e) == 0) {
			page = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
			if (page == MAP_FAILED)
				page = NULL;
			page_size = size;
		}
		printf("baseline: doorbell %s\n", page ? "on the mapped page" : "through the VFIO layer");
	}
	for (unsigned i = 0; i < kicks; i++) {
		long long t0;

		post_tx(&tx, &mem);
		t0 = bench_now_ns();
		if (page)
			*(volatile uint16_t *)page = 1;
		else if (ifcvf_hw_notify_queue(&hw, 1, &e) < 0)
			die("doorbell", &e);
		if (virtq_drv_wait_call(&tx, 5000) <= 0) {
			fprintf(stderr, "kick-latency: no interrupt for direct kick %u\n", i);
			exit(1);
		}
		lat[i] = bench_now_ns() - t0;
		reap(&tx);
	}
	if (page)
		munmap(page, page_size);
	(void)ifcvf_hw_reset(&hw, 1000, &e);
	vfio_dev_close(dev);
	virtq_drv_fini(&tx);
	vu_guest_mem_fini(&mem);
}

int main(int argc, char **argv)
{
	unsigned kicks = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 0) : 20000;
	char dir[] = "/tmp/ifcvf-bench-XXXXXX", emu_sock[128], vhost_sock[128], address[160],
	     port[400];
	long long *relay, *direct, *hn, r50, r99, d50, d99, h50 = 0, h99 = 0;
	double cpu_relay, cpu_hn = 0;
	int hn_ok;
	pid_t emu, helper;

	if (argc < 3 || kicks < 100) {
		fprintf(stderr, "usage: %s IFCVF-EMU IFCVF-HELPER [KICKS>=100]\n", argv[0]);
		return 2;
	}
	if (!mkdtemp(dir))
		die("mkdtemp", NULL);
	snprintf(emu_sock, sizeof(emu_sock), "%s/vf.sock", dir);
	snprintf(vhost_sock, sizeof(vhost_sock), "%s/vhost.sock", dir);
	snprintf(address, sizeof(address), "vfio-user:%s", emu_sock);
	snprintf(port, sizeof(port), "device=%s,socket=%s", address, vhost_sock);
	relay = calloc(kicks, sizeof(*relay));
	direct = calloc(kicks, sizeof(*direct));
	hn = calloc(kicks, sizeof(*hn));

	emu = bench_spawn((char *[]){ argv[1], "--socket", emu_sock, "--type", "net", "--wire", "loop", NULL }, NULL);
	bench_wait_socket(emu_sock, emu);

	helper = bench_spawn((char *[]){ argv[2], "run", "--bus", "none", "--port", port, NULL }, NULL);
	bench_wait_socket(vhost_sock, helper);
	hn_ok = run_vhost(vhost_sock, true, kicks, hn, helper, &cpu_hn) == 0;
	(void)run_vhost(vhost_sock, false, kicks, relay, helper, &cpu_relay);
	bench_stop(helper);

	run_direct(address, kicks, direct);
	bench_stop(emu);

	if (hn_ok)
		report("host-notifier", hn, kicks, &h50, &h99);
	else
		printf("host-notifier kick -> interrupt: p50      -  (no doorbell page handed over)\n");
	report("relay", relay, kicks, &r50, &r99);
	report("baseline", direct, kicks, &d50, &d99);
	if (hn_ok)
		printf("host notifier adds: p50 %.1f us, p99 %.1f us; ratio host-notifier/baseline p50 %.2f\n",
		       (double)(h50 - d50) / 1000.0, (double)(h99 - d99) / 1000.0,
		       (double)h50 / (double)d50);
	printf("kick relay adds: p50 %.1f us, p99 %.1f us; ratio relay/baseline p50 %.2f\n",
	       (double)(r50 - d50) / 1000.0, (double)(r99 - d99) / 1000.0, (double)r50 / (double)d50);
	/* "helper CPU time: relay X s per million kicks" (bench/run reads these) */
	if (hn_ok)
		printf("helper CPU time: host-notifier %.2f s per million kicks\n", cpu_hn);
	printf("helper CPU time: relay %.2f s per million kicks\n", cpu_relay);
	printf("helper CPU time: baseline 0 s per million kicks (no helper)\n");
	unlink(emu_sock);
	unlink(vhost_sock);
	rmdir(dir);
	free(relay);
	free(direct);
	free(hn);
	return 0;
}
