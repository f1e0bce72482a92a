/* The probe room's public header: what main.c calls. probe-json.h is the
 * room's own.
 *
 * Threads: main thread only. */
#pragma once

/* `ifcvf-helper probe`: open a VF and print what it offers as JSON. Takes
 * argv with "probe" as argv[0]; returns the process exit status. */
int ifcvf_cmd_probe(int argc, char **argv);
