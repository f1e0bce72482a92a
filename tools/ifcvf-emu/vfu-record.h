/* Recording a vfio-user conversation for the fuzz targets' seed corpora
 * (tests only; without the environment variable nothing is opened and every
 * call is a no-op; recording is best effort, it never fails a connection):
 * - IFCVF_EMU_RECORD_REPLIES=DIR: each connection's replies go to a new
 *   file in DIR, in the input format of tests/fuzz/vfio-user-client.c;
 * - IFCVF_EMU_RECORD=DIR: each connection's client messages go to
 *   DIR/emu-server-PID-N, one record per message, fds noted by kind (memfd
 *   or other file, eventfd, anything else) but not their contents, in the
 *   input format of tests/fuzz/emu-server.c.
 *
 * Threads: a recording belongs to its connection's thread. */
#pragma once

#include <stddef.h>
#include <stdio.h>

#include "vfio-user-proto.h"
#include "vfio-user-wire.h"

/* NULL when not recording replies */
FILE *vfu_record_open(void);
void vfu_record_reply(FILE *f, const struct vfu_hdr *reply, const void *payload, size_t len);
void vfu_record_close(FILE *f);

/* NULL when not recording the client's messages */
FILE *vfu_record_msgs_open(void);
void vfu_record_msg(FILE *f, const struct vfu_msg *m);
void vfu_record_msgs_close(FILE *f);
