/* The JSON capabilities of a vfio-user VERSION message (reference/vfio-user.md
 * §1.4): a tiny writer for the client's own and a small strict parser for
 * the server's reply. Plain C, no GLib. Pure functions; any thread. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cerr.h"

struct vfu_caps {
	uint32_t max_msg_fds;          /* fds the peer takes per message */
	uint64_t max_data_xfer_size;   /* bytes per REGION/DMA access sent to it */
	uint64_t pgsizes;              /* DMA page sizes it supports (OR) */
	uint32_t max_dma_maps;
	bool twin_socket;              /* parsed only: "twin_socket" supported */
};

/* The spec's values for capabilities that are absent. */
void vfu_caps_defaults(struct vfu_caps *caps);

/* Write {"capabilities":{...}} into @buf; returns its length (without the
 * NUL) or -ENOSPC. */
int vfu_caps_format(const struct vfu_caps *caps, char *buf, size_t len);

/* Parse a NUL-terminated JSON text (a VERSION message's capabilities, either side's). Known keys
 * must hold values of their type and range (max_msg_fds 0..1024,
 * max_data_xfer_size >= 1, pgsizes != 0 with no page size below 4096,
 * max_dma_maps >= 1; migration and twin_socket objects, write_multiple a
 * bool) and appear once; twin_socket's "supported" lands in
 * @ret->twin_socket (a client that never proposed it refuses a reply that
 * sets it; a server just does not grant it); unknown keys are skipped whatever their value; anything that is not
 * JSON is refused. Every refusal is -EINVAL. Absent keys keep their
 * defaults. */
int vfu_caps_parse(const char *json, struct vfu_caps *ret, struct cerr *e);
