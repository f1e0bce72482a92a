/* The daemon's entry point, called by main.c.
 *
 * Threads: main thread only. */
#pragma once

/* `ifcvf-helper run`: the per-VM daemon. Takes argv with "run" as argv[0];
 * returns the process exit status. */
int ifcvf_cmd_run(int argc, char **argv);
