/* `ifcvf-helper run`: the per-VM daemon. Owns the VM's D-Bus name (unless
 * --bus none), probes every VF, starts DPDK's EAL and one vhost-user socket
 * per VF, then runs the GLib main loop until SIGTERM, SIGINT or Shutdown()
 * over D-Bus. Port state changes arrive from DPDK's threads through struct
 * port_events; the main loop logs them and publishes them (bus-glue.h).
 *
 * Threads: main thread. */
#include "run-cmd.h"

#include <errno.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "backend-channel.h"
#include "bus-glue.h"
#include "device-watch.h"
#include "eal.h"
#include "helper-error.h"
#include "ifcvf-bus-names.h"
#include "libvirt-watch.h"
#include "port.h"
#include "run-options.h"
#include "sentinel.h"
#include "vhost-glue.h"

typedef struct {
	GMainLoop *loop;
	struct port_events *events;
	struct port **ports;
	guint n_ports;
	IfcvfBusGlue *glue;       /* NULL with --bus none */
	IfcvfLibvirtWatch *libvirt; /* NULL without --libvirt-uri, or not started yet */
	/* --libvirt-uri at-migration: the URI and UUID until the watch starts
	 * (the first port that logs); NULL otherwise */
	const char *libvirt_later;
	const char *uuid;
	IfcvfDeviceWatch *devices;  /* lost devices: fail, re-attach */
	guint *mem_checks;        /* per port: a memory-table check pending, or 0 */
	gboolean stopping;        /* a signal or Shutdown() asked to stop */
	const char *stop_cause;   /* what did (static), for the ports' last line */
} Run;

typedef struct {
	Run *run;
	guint port;
} MemCheck;

static gboolean on_mem_check(gpointer user_data)
{
	MemCheck *mc = user_data;

	mc->run->mem_checks[mc->port] = 0;
	port_check_mem_table(mc->run->ports[mc->port]);
	return G_SOURCE_REMOVE;
}

/* A frontend connected: look whether it sent a memory table once it had
 * time to (the port says nothing runs for want of one). */
static void schedule_mem_check(Run *run, guint port)
{
	MemCheck *mc;

	if (port >= run->n_ports || !run->mem_checks)
		return;
	if (run->mem_checks[port])
		g_source_remove(run->mem_checks[port]);
	mc = g_new(MemCheck, 1);
	*mc = (MemCheck){ run, port };
	/* a little later than the port's limit, which counts from before the
	 * event was queued */
	run->mem_checks[port] = g_timeout_add_full(G_PRIORITY_DEFAULT, PORT_MEM_TABLE_WAIT_MS + 50,
						   on_mem_check, mc, g_free);
}

static void cancel_mem_checks(Run *run)
{
	for (guint i = 0; run->mem_checks && i < run->n_ports; i++)
		if (run->mem_checks[i])
			g_source_remove(run->mem_checks[i]);
	g_clear_pointer(&run->mem_checks, g_free);
}

static void log_event(Run *run, const struct port_event *ev)
{
	const struct port_config *cfg = ev->port < run->n_ports && run->ports[ev->port]
					? port_config(run->ports[ev->port]) : NULL;
	const char *sep = ev->reason[0] ? ": " : "";

	if (ev->info)
		g_message("port %u (%s, socket %s): %s", ev->port, cfg ? cfg->device : "?",
			  cfg ? cfg->socket : "?", ev->reason);
	/* a note while failed is not why the port failed: that reason stays */
	else if (ev->state == PORT_STATE_FAILED && ev->warning)
		g_warning("port %u (%s, socket %s): still failed; also: %s", ev->port,
			  cfg ? cfg->device : "?", cfg ? cfg->socket : "?", ev->reason);
	else if (ev->state == PORT_STATE_FAILED)
		g_warning("port %u (%s, socket %s): failed%s%s", ev->port, cfg ? cfg->device : "?",
			  cfg ? cfg->socket : "?", sep, ev->reason);
	else if (ev->warning)
		g_warning("port %u (%s, socket %s): %s%s%s", ev->port, cfg ? cfg->device : "?",
			  cfg ? cfg->socket : "?", port_state_to_string(ev->state), sep, ev->reason);
	else
		g_message("port %u (%s, socket %s): %s%s%s", ev->port, cfg ? cfg->device : "?",
			  cfg ? cfg->socket : "?", port_state_to_string(ev->state), sep, ev->reason);
}

static void libvirt_at_migration(Run *run, guint port);

static void drain_events(Run *run)
{
	struct port_event ev;

	while (port_events_pop(run->events, &ev)) {
		libvirt_at_migration(run, ev.port);
		if (ev.refresh) {
			ifcvf_bus_glue_port_event(run->glue, &ev);
			continue;
		}
		if (ev.log_only) {
			const struct port_config *cfg = ev.port < run->n_ports && run->ports[ev.port]
							? port_config(run->ports[ev.port]) : NULL;

			g_message("port %u (%s, socket %s): %s", ev.port, cfg ? cfg->device : "?",
				  cfg ? cfg->socket : "?", ev.reason);
			continue;
		}
		log_event(run, &ev);
		if (ev.state == PORT_STATE_CONNECTED)
			schedule_mem_check(run, ev.port);
		ifcvf_bus_glue_port_event(run->glue, &ev);
	}
}

static void log_counters(Run *run)
{
	for (guint i = 0; i < run->n_ports; i++) {
		struct port_info info;

		port_get_info(run->ports[i], &info);
		g_message("port %u: kicks relayed %" G_GUINT64_FORMAT ", config interrupts %"
			  G_GUINT64_FORMAT ", DMA maps %" G_GUINT64_FORMAT ", starts %"
			  G_GUINT64_FORMAT ", stops %" G_GUINT64_FORMAT ", errors %" G_GUINT64_FORMAT,
			  i, (guint64)info.kicks, (guint64)info.config_irqs, (guint64)info.dma_maps,
			  (guint64)info.starts, (guint64)info.stops, (guint64)info.errors);
		g_message("port %u: live migration (%s): switchovers %" G_GUINT64_FORMAT
			  ", rollbacks %" G_GUINT64_FORMAT ", used entries relayed %" G_GUINT64_FORMAT
			  ", pages logged %" G_GUINT64_FORMAT ", last switch %" G_GUINT64_FORMAT
			  " us, last stop %" G_GUINT64_FORMAT " us",
			  i, port_lm_mode_to_string(info.lm_mode), (guint64)info.switchovers,
			  (guint64)info.rollbacks, (guint64)info.relayed_entries,
			  (guint64)info.pages_logged, (guint64)info.switch_us, (guint64)info.stop_us);
	}
}

/* libvirt's word on the migration, on the main loop */
static void on_libvirt_signal(enum migration_signal signal, const char *what, gpointer user_data)
{
	Run *run = user_data;

	g_message("libvirt: domain event: %s", what);
	ifcvf_bus_glue_migration_signal(run->glue, signal, what);
}

/* --libvirt-connect at-migration: libvirt is loaded and connected the
 * first time a port logs (QEMU set VHOST_F_LOG_ALL: a migration out
 * begins), without waiting: an idle helper maps no libvirt (~12 MB of RSS
 * less). What libvirt said before is covered by vhost-user: LOG_ALL gives
 * iterating, the VF stopped while logging stop-and-copy, the frontend
 * leaving completed (migration-phase.h). Once started the watch stays. */
static void libvirt_at_migration(Run *run, guint port)
{
	g_autoptr(GError) error = NULL;
	struct port_info info;
	const char *uri = run->libvirt_later;

	if (!uri || port >= run->n_ports || !run->ports[port])
		return;
	port_get_info(run->ports[port], &info);
	if (info.lm_state == PORT_LM_DIRECT)
		return;
	run->libvirt_later = NULL;
	g_message("port %u logs (a migration begins): connecting to libvirt %s to follow "
		  "domain %s", port, uri, run->uuid);
	run->libvirt = ifcvf_libvirt_watch_start(uri, run->uuid, on_libvirt_signal, run, &error);
	if (!run->libvirt)
		g_warning("libvirt %s: %s; migration phases from vhost-user alone", uri,
			  error->message);
}

/* The start path's steps, in ms since the previous one, at debug level
 * (G_MESSAGES_DEBUG=ifcvf-helper): where a helper's start time goes. */
static void start_step(gint64 *last, const char *step)
{
	gint64 now = g_get_monotonic_time();

	g_debug("start: %s took %.3f ms", step, (double)(now - *last) / 1000.0);
	*last = now;
}

static gboolean on_events(gint fd, GIOCondition cond, gpointer user_data)
{
	drain_events(user_data);
	return G_SOURCE_CONTINUE;
}

/* the one way to stop: SIGTERM, SIGINT and Shutdown() over D-Bus */
static void request_stop(Run *run, const char *why, const char *cause)
{
	g_message("%s, shutting down", why);
	if (!run->stop_cause)
		run->stop_cause = cause;
	run->stopping = TRUE;
	ifcvf_bus_glue_begin_shutdown(run->glue);
	g_main_loop_quit(run->loop);
}

static gboolean on_sigterm(gpointer user_data)
{
	request_stop(user_data, "signal received (SIGTERM)", "signal SIGTERM");
	return G_SOURCE_CONTINUE;
}

static gboolean on_sigint(gpointer user_data)
{
	request_stop(user_data, "signal received (SIGINT)", "signal SIGINT");
	return G_SOURCE_CONTINUE;
}

static void on_bus_shutdown(gpointer user_data)
{
	request_stop(user_data, "Shutdown() called over D-Bus", "Shutdown() over D-Bus");
}

/* Own the VM's name before any VF is touched: a second helper for the VM
 * stops here. FALSE with @error, or with none when a signal came first. */
static gboolean start_bus(Run *run, GError **error)
{
	if (!run->glue)
		return TRUE;
	return ifcvf_bus_glue_own_name(run->glue, &run->stopping, error);
}

/* A socket file nobody listens on (a helper that was killed) would make
 * DPDK's bind fail; a live one is left alone so the bind reports it. */
static void remove_stale_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (stat(path, &st) < 0 || !S_ISSOCK(st.st_mode) || strlen(path) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno == ECONNREFUSED)
		(void)unlink(path);
	close(fd);
}

static gboolean open_ports(Run *run, const struct port_config *cfgs, guint n, GError **error)
{
	run->ports = g_new0(struct port *, n);
	run->mem_checks = g_new0(guint, n);
	run->n_ports = n;
	for (guint i = 0; i < n; i++) {
		struct cerr ce = { 0 };

		if (port_open(i, &cfgs[i], &ifcvf_vhost_frontend_ops, run->events, &run->ports[i],
			      &ce) < 0) {
			/* the device layers name the device themselves */
			if (g_str_has_prefix(ce.msg, cfgs[i].device))
				g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_DEVICE,
					    "port %u: %s", i, ce.msg);
			else
				g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_DEVICE,
					    "port %u (%s): %s", i, cfgs[i].device, ce.msg);
			return FALSE;
		}
		if (!ifcvf_bus_glue_add_port(run->glue, run->ports[i], error))
			return FALSE;
	}
	return TRUE;
}

/* Every datapath stops before any socket is unregistered: unregistering
 * unmaps the frontend's memory, and calls destroy_device only for a device
 * DPDK counted running. */
static void shutdown_ports(Run *run)
{
	const char *why = run->stop_cause ? run->stop_cause : "its start failed";

	for (guint i = 0; i < run->n_ports; i++)
		port_shutdown(run->ports[i], why);
}

static void close_ports(Run *run)
{
	for (guint i = 0; i < run->n_ports; i++)
		port_close(run->ports[i]);
	g_clear_pointer(&run->ports, g_free);
	run->n_ports = 0;
}

static gboolean start_sockets(Run *run, guint *ret_started, GError **error)
{
	ifcvf_vhost_set_ports(run->ports, run->n_ports);
	for (guint i = 0; i < run->n_ports; i++) {
		const struct port_config *cfg = port_config(run->ports[i]);

		if (!cfg->client)
			remove_stale_socket(cfg->socket);
		if (!ifcvf_vhost_add_port(run->ports[i], error)) {
			g_prefix_error(error, "port %u (%s): ", i, cfg->device);
			return FALSE;
		}
		*ret_started = i + 1;
		port_listening(run->ports[i]);
	}
	return TRUE;
}

static void stop_sockets(Run *run, guint started)
{
	for (guint i = started; i > 0; i--)
		ifcvf_vhost_remove_port(run->ports[i - 1]);
	ifcvf_vhost_set_ports(NULL, 0);
	/* no host-notifier answer reaches a port once it may close */
	backend_channel_shutdown();
}

static int run_helper(const struct port_config *cfgs, guint n, const char *bus,
		      const char *name, const char *uuid, const char *libvirt_uri,
		      enum ifcvf_libvirt_connect libvirt_connect, gboolean verbose)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *cause = NULL; /* why it exits, logged last */
	Run run = { 0 };
	struct cerr ce = { 0 };
	guint started = 0, events_watch, sigterm, sigint;
	gboolean eal_up = FALSE;
	gint64 t = g_get_monotonic_time();
	int status = 1;

	if (bus) {
		run.glue = ifcvf_bus_glue_new(bus, name, uuid, on_bus_shutdown, &run, &error);
		if (!run.glue) {
			fprintf(stderr, IFCVF_HELPER_EXIT_PREFIX "--bus %s: %s\n", bus, error->message);
			return g_error_matches(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS)
			       ? 2 : 1;
		}
	}
	if (port_events_new(&run.events, &ce) < 0) {
		fprintf(stderr, IFCVF_HELPER_EXIT_PREFIX "%s\n", ce.msg);
		ifcvf_bus_glue_free(run.glue);
		return 1;
	}
	/* a frontend that goes away mid-write must not kill the helper */
	signal(SIGPIPE, SIG_IGN);
	run.loop = g_main_loop_new(NULL, FALSE);
	events_watch = g_unix_fd_add(port_events_fd(run.events), G_IO_IN, on_events, &run);
	sigterm = g_unix_signal_add(SIGTERM, on_sigterm, &run);
	sigint = g_unix_signal_add(SIGINT, on_sigint, &run);

	if (!start_bus(&run, &error)) {
		if (error)
			cause = g_strdup_printf("D-Bus: %s", error->message);
		else
			status = 0;
		goto out;
	}
	start_step(&t, "D-Bus name");
	if (!open_ports(&run, cfgs, n, &error)) {
		cause = g_strdup(error->message);
		goto out;
	}
	start_step(&t, "opening the VFs");
	g_message("starting for VM %s (uuid %s) with %u port%s, %s%s", name ? name : "-",
		  uuid ? uuid : "-", n, n == 1 ? "" : "s", run.glue ? "D-Bus name " : "no D-Bus",
		  run.glue ? ifcvf_bus_glue_get_name(run.glue) : "");
	if (!(eal_up = ifcvf_eal_init(verbose, &error))) {
		cause = g_strdup(error->message);
		goto out;
	}
	start_step(&t, "DPDK's EAL");
	/* at-start: before the sockets listen (the hook waits for them), so
	 * that a destination's helper hears its domain start; bounded */
	if (libvirt_uri && libvirt_connect == IFCVF_LIBVIRT_CONNECT_AT_START &&
	    !(run.libvirt = ifcvf_libvirt_watch_new(libvirt_uri, uuid, on_libvirt_signal, &run,
						    &error))) {
		cause = g_strdup_printf("--libvirt-uri %s: %s", libvirt_uri, error->message);
		goto out;
	}
	if (run.libvirt)
		start_step(&t, "libvirt connection");
	if (libvirt_uri && !run.libvirt) {
		run.libvirt_later = libvirt_uri;
		run.uuid = uuid;
		g_message("libvirt %s: connecting once a migration begins here", libvirt_uri);
	}
	if (!start_sockets(&run, &started, &error)) {
		cause = g_strdup(error->message);
		goto out;
	}
	start_step(&t, "vhost-user sockets");
	status = 0;
	run.devices = ifcvf_device_watch_new(run.ports, run.n_ports);
	if (!run.stopping)
		g_main_loop_run(run.loop);

out:
	/* no watch starts while the ports stop */
	run.libvirt_later = NULL;
	g_clear_pointer(&run.libvirt, ifcvf_libvirt_watch_free);
	/* no re-attach races the shutdown */
	g_clear_pointer(&run.devices, ifcvf_device_watch_free);
	ifcvf_bus_glue_begin_shutdown(run.glue);
	/* the datapaths stop first (SIGTERM, SIGINT and Shutdown() all come
	 * here); unregistering then closes every connection and removes the
	 * sockets, and the ports close */
	shutdown_ports(&run);
	stop_sockets(&run, started);
	drain_events(&run);
	cancel_mem_checks(&run);
	if (eal_up)
		log_counters(&run);
	/* the name goes once the sockets are gone: whoever sees it go finds
	 * no socket left */
	g_clear_pointer(&run.glue, ifcvf_bus_glue_free);
	close_ports(&run);
	if (eal_up)
		ifcvf_eal_cleanup();
	g_source_remove(events_watch);
	g_source_remove(sigterm);
	g_source_remove(sigint);
	g_main_loop_unref(run.loop);
	port_events_free(run.events);
	if (status == 0)
		g_message("stopped");
	/* the cause last, after the counters: the hook shows this line */
	if (cause) {
		g_strdelimit(cause, "\r\n", ' ');
		fflush(stdout);
		fprintf(stderr, IFCVF_HELPER_EXIT_PREFIX "%s\n", cause);
	}
	return status;
}

int ifcvf_cmd_run(int argc, char **argv)
{
	g_auto(GStrv) port_specs = NULL;
	g_autofree char *name = NULL;
	g_autofree char *uuid = NULL;
	g_autofree char *bus = NULL;
	g_autofree char *libvirt_uri = NULL;
	g_autofree char *libvirt_when = NULL;
	enum ifcvf_libvirt_connect libvirt_connect = IFCVF_LIBVIRT_CONNECT_AT_MIGRATION;
	gboolean verbose = FALSE;
	const GOptionEntry entries[] = {
		{ "port", 'p', 0, G_OPTION_ARG_STRING_ARRAY, &port_specs,
		  "A VF and its vhost-user socket (repeat for more ports)",
		  "device=ADDR,socket=PATH[,client][,sw-live-migration=1][,queue-pairs=N]" },
		{ "name", 0, 0, G_OPTION_ARG_STRING, &name,
		  "Name of the VM (logs, D-Bus Name; default: the UUID)", "VM" },
		{ "uuid", 0, 0, G_OPTION_ARG_STRING, &uuid,
		  "UUID of the VM (required unless --bus none)", "UUID" },
		{ "bus", 0, 0, G_OPTION_ARG_STRING, &bus,
		  "D-Bus to publish on: system (default), session, a D-Bus address, or none",
		  "BUS" },
		{ "libvirt-uri", 0, 0, G_OPTION_ARG_STRING, &libvirt_uri,
		  "Follow the VM's migration in libvirt's events over a read-only connection "
		  "to URI (requires --uuid)", "URI" },
		{ "libvirt-connect", 0, 0, G_OPTION_ARG_STRING, &libvirt_when,
		  "When to load libvirt and connect: at-migration (default) or at-start "
		  "(requires --libvirt-uri)", "WHEN" },
		{ "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose,
		  "Let DPDK's vhost library log every message", NULL },
		{ NULL }
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("- serve VFs to a VM as vhost-user ports");
	g_autoptr(GError) error = NULL;
	g_autoptr(GArray) cfgs = g_array_new(FALSE, TRUE, sizeof(struct port_config));
	int status;

	/* GOption would name the program after argv[0], "run" */
	g_set_prgname("ifcvf-helper run");
	g_option_context_add_main_entries(ctx, entries, NULL);
	g_option_context_set_description(ctx,
		"Port keys:\n"
		"  device=ADDR            pci:DDDD:BB:DD.F (kernel VFIO) or vfio-user:PATH (required)\n"
		"  socket=PATH            the vhost-user socket (required); the helper listens\n"
		"                         on it, or with 'client' connects to it and reconnects\n"
		"  client                 the frontend listens (QEMU server=on, virtio-user server=1)\n"
		"  sw-live-migration=0|1  software-assisted live migration (required for a VF\n"
		"                         without the BAR4 live-migration block)\n"
		"  generic-virtio=0|1     accept a modern virtio-net/blk function that is not an\n"
		"                         IFCVF (it has no live-migration block)\n"
		"  queue-pairs=N          offer at most N queue pairs (blk: queues), at most\n"
		"                         what the VF has; default all of them\n"
		"\n"
		"D-Bus: the helper owns org.ifcvf.Helper1.Vm_<UUID without dashes> on the bus\n"
		"before it touches any VF, and publishes the VM and its ports there (see\n"
		"ifcvfctl). When the name cannot be owned (the bus cannot be reached, or\n"
		"another helper serves this VM) it exits with one line saying why. Use\n"
		"--bus none to run without D-Bus, for example for a plain QEMU setup with no\n"
		"libvirt; Shutdown() and SetLiveMigrationMode() are then not available.\n"
		"\n"
		"libvirt: with --libvirt-uri (the hook passes qemu:///system) the helper opens\n"
		"its own read-only connection and follows the domain of --uuid: its lifecycle,\n"
		"migration-iteration and job-completed events, together with what vhost-user\n"
		"shows (dirty logging on/off, the VF stopped), give Domain.MigrationPhase.\n"
		"With --libvirt-connect at-migration (the default) libvirt is loaded and the\n"
		"connection opened only when a port starts dirty logging (a migration out\n"
		"begins), without holding anything up: an idle helper maps no libvirt; once\n"
		"loaded it stays. With at-start (the hook passes it to a helper it starts for\n"
		"an incoming migration) the helper connects before its sockets listen,\n"
		"waiting at most 5 s, so that it hears its domain start on the destination.\n"
		"A libvirtd that is down or goes away is logged once and retried every 2 s;\n"
		"the ports never wait for it. Without --libvirt-uri (plain QEMU) the phase\n"
		"comes from vhost-user alone.\n"
		"\n"
		"Every VF is probed before anything starts: one that cannot be opened or\n"
		"identified stops the helper with one line naming the port. Once running, a\n"
		"frontend the port refuses (bad ring, too many queues...) is logged with the\n"
		"reason and the other ports keep running. SIGTERM, SIGINT or Shutdown() over\n"
		"D-Bus stop the helper cleanly.\n"
		"\n"
		"Exit status: 0 after a signal or Shutdown(), 1 when a port cannot start or the\n"
		"bus name cannot be owned, 2 on bad usage.\n");
	if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
		fprintf(stderr, "ifcvf-helper run: %s\n", error->message);
		return 2;
	}
	if (argc > 1) {
		fprintf(stderr, "ifcvf-helper run: unexpected argument '%s' (see --help)\n", argv[1]);
		return 2;
	}
	if (!port_specs || !port_specs[0]) {
		fprintf(stderr, "ifcvf-helper run: no --port given (see --help)\n");
		return 2;
	}
	if (uuid && !ifcvf_bus_uuid_parse(uuid, NULL, NULL, NULL)) {
		fprintf(stderr, "ifcvf-helper run: --uuid '%s' is not a UUID\n", uuid);
		return 2;
	}
	if (libvirt_uri && !ifcvf_libvirt_uri_check(libvirt_uri, &error)) {
		fprintf(stderr, "ifcvf-helper run: %s\n", error->message);
		return 2;
	}
	if (libvirt_when && !libvirt_uri) {
		fprintf(stderr, "ifcvf-helper run: --libvirt-connect needs --libvirt-uri\n");
		return 2;
	}
	if (libvirt_when && !ifcvf_libvirt_connect_parse(libvirt_when, &libvirt_connect, &error)) {
		fprintf(stderr, "ifcvf-helper run: %s\n", error->message);
		return 2;
	}
	if (libvirt_uri && !uuid) {
		fprintf(stderr, "ifcvf-helper run: --libvirt-uri needs --uuid (the domain to "
			"follow)\n");
		return 2;
	}
	for (guint i = 0; port_specs[i]; i++) {
		struct port_config cfg;

		if (!ifcvf_port_config_parse(port_specs[i], &cfg, &error)) {
			fprintf(stderr, "ifcvf-helper run: %s\n", error->message);
			status = 2;
			goto out;
		}
		g_array_append_val(cfgs, cfg);
	}
	if (!ifcvf_port_configs_check((struct port_config *)(void *)cfgs->data, cfgs->len, &error)) {
		fprintf(stderr, "ifcvf-helper run: %s\n", error->message);
		status = 2;
		goto out;
	}
	if (!bus)
		bus = g_strdup("system");
	if (g_str_equal(bus, "none"))
		g_clear_pointer(&bus, g_free);
	if (bus && !uuid) {
		fprintf(stderr, "ifcvf-helper run: --uuid is required with --bus %s (the bus name is "
			"made from it); --bus none runs without D-Bus\n", bus);
		status = 2;
		goto out;
	}
	/* while the process has one thread and nothing open (sentinel.h) */
	if ((status = sentinel_start()) < 0)
		g_warning("cannot start the sentinel (%s): if the helper dies, its VFs are not "
			  "stopped before the frontends see their connections close",
			  g_strerror(-status));
	else
		port_set_vf_keeper(sentinel_hold_vf, sentinel_drop);
	status = run_helper((struct port_config *)(void *)cfgs->data, cfgs->len, bus, name, uuid,
			    libvirt_uri, libvirt_connect, verbose);
	sentinel_stop();
out:
	for (guint i = 0; i < cfgs->len; i++)
		ifcvf_port_config_clear(&g_array_index(cfgs, struct port_config, i));
	return status;
}
