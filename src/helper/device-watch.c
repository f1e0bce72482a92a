/* See device-watch.h. The main loop only watches each device's hang-up fd
 * and joins workers; everything that may wait on a device (stopping the
 * datapath, opening it again) runs in the port's worker, so neither the main
 * loop nor DPDK's vhost-events thread waits for a dead or slow device. */
#include "device-watch.h"

#include <glib-unix.h>
#include <string.h>

typedef struct {
	IfcvfDeviceWatch *w;
	struct port *port;
	guint index;
	guint fd_watch;           /* main loop: the hang-up watch, or 0 */
	guint done_source;        /* main loop: the join scheduled, or 0 (under lock) */
	GThread *worker;          /* main loop */
	char why[128];
} Watched;

struct IfcvfDeviceWatch {
	Watched *ports;
	guint n_ports;
	GMutex lock;
	GCond cond;
	gboolean stopping;        /* under lock */
};

static void arm(Watched *wp);

/* main loop: the worker finished; join it and watch the new device */
static gboolean on_worker_done(gpointer user_data)
{
	Watched *wp = user_data;

	g_mutex_lock(&wp->w->lock);
	wp->done_source = 0;
	g_mutex_unlock(&wp->w->lock);
	g_thread_join(wp->worker);
	wp->worker = NULL;
	arm(wp);
	return G_SOURCE_REMOVE;
}

/* true when the watch is being freed; else waits @ms first */
static gboolean wait_or_stop(IfcvfDeviceWatch *w, guint ms)
{
	gint64 until = g_get_monotonic_time() + (gint64)ms * 1000;
	gboolean stop;

	g_mutex_lock(&w->lock);
	while (!w->stopping && g_cond_wait_until(&w->cond, &w->lock, until))
		;
	stop = w->stopping;
	g_mutex_unlock(&w->lock);
	return stop;
}

static gpointer worker(gpointer user_data)
{
	Watched *wp = user_data;
	guint delay = IFCVF_REATTACH_FIRST_MS, tries = 0;
	char last[CERR_MSG_MAX] = "";

	port_device_lost(wp->port, wp->why);
	while (!wait_or_stop(wp->w, delay)) {
		struct cerr ce = { 0 };

		tries++;
		if (port_device_reattach(wp->port, &ce) == 0) {
			g_message("port %u: device re-attached after %u attempt%s", wp->index, tries,
				  tries == 1 ? "" : "s");
			break;
		}
		/* one line per new cause, not one per attempt */
		if (strcmp(last, ce.msg) != 0) {
			g_message("port %u: device not back yet (retrying up to every %u ms): %s",
				  wp->index, IFCVF_REATTACH_MAX_MS, ce.msg);
			g_strlcpy(last, ce.msg, sizeof(last));
		}
		delay = MIN(delay * 2, IFCVF_REATTACH_MAX_MS);
	}
	g_mutex_lock(&wp->w->lock);
	if (!wp->w->stopping)
		wp->done_source = g_idle_add(on_worker_done, wp);
	g_mutex_unlock(&wp->w->lock);
	return NULL;
}

static gboolean on_hangup(gint fd, GIOCondition cond, gpointer user_data)
{
	Watched *wp = user_data;
	g_autofree char *name = g_strdup_printf("ifcvf-dev-%u", wp->index);

	(void)fd;
	wp->fd_watch = 0;
	(void)cond;
	port_device_lost_reason(wp->port, wp->why, sizeof(wp->why));
	g_warning("port %u (%s): %s; re-attaching with back-off", wp->index,
		  port_config(wp->port)->device, wp->why);
	wp->worker = g_thread_new(name, worker, wp);
	return G_SOURCE_REMOVE;
}

static void arm(Watched *wp)
{
	bool readable = false;
	int fd = port_device_lost_fd(wp->port, &readable);

	if (fd >= 0)
		wp->fd_watch = g_unix_fd_add(fd, readable ? G_IO_IN : G_IO_HUP | G_IO_ERR,
					     on_hangup, wp);
}

IfcvfDeviceWatch *ifcvf_device_watch_new(struct port **ports, guint n_ports)
{
	IfcvfDeviceWatch *w = g_new0(IfcvfDeviceWatch, 1);

	g_mutex_init(&w->lock);
	g_cond_init(&w->cond);
	w->n_ports = n_ports;
	w->ports = g_new0(Watched, n_ports);
	for (guint i = 0; i < n_ports; i++) {
		w->ports[i] = (Watched){ .w = w, .port = ports[i], .index = i };
		arm(&w->ports[i]);
	}
	return w;
}

void ifcvf_device_watch_free(IfcvfDeviceWatch *w)
{
	if (!w)
		return;
	g_mutex_lock(&w->lock);
	w->stopping = TRUE;
	g_cond_broadcast(&w->cond);
	g_mutex_unlock(&w->lock);
	for (guint i = 0; i < w->n_ports; i++) {
		Watched *wp = &w->ports[i];

		if (wp->fd_watch)
			g_source_remove(wp->fd_watch);
		if (wp->worker)
			g_thread_join(wp->worker);
		/* no worker left to schedule one now */
		if (wp->done_source)
			g_source_remove(wp->done_source);
	}
	g_cond_clear(&w->cond);
	g_mutex_clear(&w->lock);
	g_free(w->ports);
	g_free(w);
}
