/* The hook room's public header: what main.c calls. The rest of src/hook
 * (domain XML, port map, spawning the helper, locks, systemd) is the
 * room's own.
 *
 * Threads: main thread only (the hook is a short-lived process). */
#pragma once

/* `ifcvf-helper hook`: libvirt's qemu hook. Takes argv with "hook" as
 * argv[0]; returns the process exit status. */
int ifcvf_cmd_hook(int argc, char **argv);
