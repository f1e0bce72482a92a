/* Fuzz target 6: what the hook reads from outside. The input is three
 * texts separated by NUL bytes: a domain XML (with its <ifcvf:ports>
 * metadata), a host port map (ports.conf) and the argument file of
 * `hook exec`. They go through the hook's own parsers: hook_vm_uuid(),
 * hook_vm_parse() with the port map, hook_helper_argv(), hook_lock_path()
 * and hook_exec_args_parse().
 *
 * Oracles beyond no crash, leak or sanitizer report:
 *   - a port the hook accepts and would pass its own path checks for
 *     (absolute, short enough, no ',') becomes a --port spec that
 *     `run`'s parser reads back as the same port (no key injected, none
 *     lost);
 *   - hook_vm_parse() and hook_vm_uuid() agree on the UUID;
 *   - a VF lock, whatever the device string, is a file directly in the
 *     run directory;
 *   - the argument file the hook writes for the VM (hook_exec_args_write(),
 *     as its write_args() does) reads back (hook_exec_args_parse()) with
 *     the same VM name, devices, sockets and helper argv. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hook-config.h"
#include "hook-exec.h"
#include "hook-files.h"
#include "hook-helper.h"
#include "run-options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RUN_DIR "/run/ifcvf-helper"

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "hook-inputs fuzz: %s: %s\n", what, detail);
	abort();
}

/* the next NUL-terminated piece of @data (the rest when there is no NUL) */
static const char *piece(const uint8_t **data, size_t *size, size_t *ret_len)
{
	const char *p = (const char *)*data;
	const uint8_t *nul = memchr(*data, 0, *size);
	size_t len = nul ? (size_t)(nul - *data) : *size;

	*ret_len = len;
	*data += nul ? len + 1 : len;
	*size -= nul ? len + 1 : len;
	return p;
}

static void require_lock_in_run_dir(const char *device)
{
	g_autofree char *lock = hook_lock_path(RUN_DIR, device);
	g_autofree char *dir = g_path_get_dirname(lock);
	g_autofree char *base = g_path_get_basename(lock);

	if (strcmp(dir, RUN_DIR) || !g_str_has_prefix(base, "vf-") || strchr(base, '/'))
		fail("a VF lock outside the run directory", lock);
}

static void require_spec_round_trip(const HookPort *p)
{
	g_autofree char *spec = hook_port_to_spec(p);
	g_autoptr(GError) error = NULL;
	struct port_config cfg = { 0 };

	if (!g_path_is_absolute(p->socket) || strlen(p->socket) > HOOK_SOCKET_PATH_MAX ||
	    strchr(p->socket, ','))
		return;   /* port_check() refuses it before any spec is made */
	if (!ifcvf_port_config_parse(spec, &cfg, &error))
		fail("run refuses the --port spec the hook made", error->message);
	if (strcmp(cfg.device, p->device) || strcmp(cfg.socket, p->socket) ||
	    cfg.client != !!p->client || cfg.sw_live_migration != !!p->sw_lm ||
	    cfg.queue_pairs != p->queue_pairs || cfg.generic_virtio)
		fail("run reads another port from the hook's --port spec", spec);
	ifcvf_port_config_clear(&cfg);
}

static void require_strv_equal(const char *what, const char *const *a, const char *const *b)
{
	guint i;

	for (i = 0; a && a[i] && b && b[i]; i++)
		if (strcmp(a[i], b[i]))
			fail(what, b[i]);
	if ((a && a[i]) || (b && b[i]))
		fail(what, "a different number of items");
}

/* what `hook exec` will read is what the hook wrote */
static void require_args_round_trip(const HookVm *vm, const char *const *argv)
{
	g_autoptr(GPtrArray) devices = g_ptr_array_new();
	g_autoptr(GPtrArray) sockets = g_ptr_array_new();
	g_autoptr(GError) error = NULL;
	g_autoptr(HookExecFile) f = NULL;
	g_autofree char *text = NULL;
	gsize len = 0;
	HookExecArgs args = { .vm = vm->name, .log = "/var/log/ifcvf-helper/vm.log", .argv = argv,
			      .socket_user = "libvirt-qemu:kvm" };

	for (guint i = 0; i < vm->ports->len; i++) {
		const HookPort *p = g_ptr_array_index(vm->ports, i);

		g_ptr_array_add(devices, p->device);
		if (!p->client)
			g_ptr_array_add(sockets, p->socket);
	}
	g_ptr_array_add(devices, NULL);
	g_ptr_array_add(sockets, NULL);
	args.devices = (const char *const *)devices->pdata;
	args.sockets = (const char *const *)sockets->pdata;
	/* the text hook_exec_args_write() puts in the file, without the file:
	 * a write, fsync and rename per input cost most of the time */
	text = hook_exec_args_format(&args, &len);
	f = hook_exec_args_parse(text, len, &error);
	if (!f)
		fail("hook exec refuses the argument file the hook wrote", error->message);
	if (strcmp(f->vm, vm->name))
		fail("the argument file's VM= reads back otherwise", vm->name);
	require_strv_equal("the argument file's Devices= read back otherwise",
			   (const char *const *)devices->pdata, (const char *const *)f->devices);
	require_strv_equal("the argument file's Argv= reads back otherwise", argv,
			   (const char *const *)f->argv);
	if (sockets->len > 1)
		require_strv_equal("the argument file's Sockets= read back otherwise",
				   (const char *const *)sockets->pdata,
				   (const char *const *)f->sockets);
}

static void domain(const char *xml, size_t len, const char *map_text, size_t map_len)
{
	g_autoptr(GKeyFile) map = g_key_file_new();
	g_autoptr(GError) error = NULL;
	g_autoptr(HookVm) vm = NULL;
	g_autofree char *uuid = hook_vm_uuid(xml, len, NULL);
	HookEnv env = { 0 };
	g_auto(GStrv) argv = NULL;

	if (!g_key_file_load_from_data(map, map_text, map_len, G_KEY_FILE_NONE, NULL))
		g_clear_pointer(&map, g_key_file_unref);
	vm = hook_vm_parse(xml, len, map, &error);
	if (!vm)
		return;
	if (g_strcmp0(uuid, vm->uuid))
		fail("hook_vm_uuid and hook_vm_parse disagree", vm->uuid);
	for (guint i = 0; i < vm->ports->len; i++) {
		const HookPort *p = g_ptr_array_index(vm->ports, i);

		require_spec_round_trip(p);
		require_lock_in_run_dir(p->device);
	}
	env.helper = (char *)"/usr/bin/ifcvf-helper";
	env.bus = (char *)"system";
	argv = hook_helper_argv(&env, vm);
	if (!argv || g_strcmp0(argv[0], env.helper))
		fail("hook_helper_argv", "no helper path first");
	require_args_round_trip(vm, (const char *const *)argv);
}

static void args_file(const char *text, size_t len)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(HookExecFile) f = hook_exec_args_parse(text, len, &error);

	if (!f) {
		if (!error || !error->message)
			fail("hook_exec_args_parse", "refused without an error");
		return;
	}
	if (!f->argv[0] || !g_path_is_absolute(f->argv[0]))
		fail("hook_exec_args_parse", "accepted an Argv without an absolute path first");
	for (guint i = 0; f->devices[i]; i++)
		require_lock_in_run_dir(f->devices[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t xml_len, map_len, args_len;
	const char *xml = piece(&data, &size, &xml_len);
	const char *map = piece(&data, &size, &map_len);
	const char *args = piece(&data, &size, &args_len);

	domain(xml, xml_len, map, map_len);
	args_file(args, args_len);
	return 0;
}
