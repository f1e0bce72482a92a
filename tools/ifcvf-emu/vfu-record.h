/* Recording what a vfio-user client sends, for the fuzz target emu-server
 * (tests/fuzz/emu-server.c, whose input format this writes): with
 * IFCVF_EMU_RECORD=DIR in the environment, each connection appends its
 * client's messages to DIR/emu-server-PID-N (N counts connections), one
 * record per message, fds noted by kind (memfd or other file, eventfd,
 * anything else) but not their contents. Tests only: it costs a write per
 * message, and failing to record only says so once on stderr.
 *
 * Threads: the thread serving the connection. */
#pragma once

#include <stdio.h>

#include "vfio-user-wire.h"

/* A file to record a new connection into, or NULL (not asked, or cannot). */
FILE *vfu_record_open(void);
void vfu_record_msg(FILE *f, const struct vfu_msg *m);
void vfu_record_close(FILE *f);
