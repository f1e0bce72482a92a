/* Subcommands of ifcvf-helper. Each takes argv with the subcommand name as
 * argv[0] and returns the process exit status. Main thread only. */
#pragma once

#include <glib.h>

int ifcvf_cmd_hook(int argc, char **argv);
int ifcvf_cmd_probe(int argc, char **argv);
int ifcvf_cmd_run(int argc, char **argv);
