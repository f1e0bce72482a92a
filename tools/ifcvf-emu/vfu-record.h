/* Recording of the replies a connection sent, for the seed corpus of the
 * vfio-user client's fuzz target (tests/fuzz/vfio-user-client.c, whose
 * input format this writes): with IFCVF_EMU_RECORD_REPLIES=DIR in the
 * environment (tests only), each connection's replies go to a new file in
 * DIR. Without it nothing is opened and every call is a no-op.
 *
 * Threads: a recording belongs to its connection's thread. */
#pragma once

#include <stddef.h>
#include <stdio.h>

#include "vfio-user-proto.h"

/* NULL when not recording (or the file cannot be made: recording is best
 * effort, it never fails a connection). */
FILE *vfu_record_open(void);
void vfu_record_reply(FILE *f, const struct vfu_hdr *reply, const void *payload, size_t len);
void vfu_record_close(FILE *f);
