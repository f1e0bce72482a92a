/* What the emulator's fuzz targets (emu-server.c, emu-datapath.c) share:
 * a reader over the fuzzer's bytes, the emulator configurations an input
 * picks from, a fresh device per input, and the leak checks that make an
 * input that leaves an fd or a guest mapping behind fail at once (the
 * fuzzer runs millions of inputs in one process).
 *
 * Threads: the fuzzer's one thread. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "emu-device.h"
#include "emu-wire.h"

struct fz_in {
	const uint8_t *p;
	size_t n;
};

/* Take bytes from the input; past its end, zeroes (and fz_empty()). */
uint8_t fz_u8(struct fz_in *in);
uint16_t fz_u16(struct fz_in *in);
uint32_t fz_u32(struct fz_in *in);
uint64_t fz_u64(struct fz_in *in);
/* Up to @len bytes into @buf (zero-filled past the end); how many were real. */
size_t fz_bytes(struct fz_in *in, void *buf, size_t len);
static inline bool fz_empty(const struct fz_in *in)
{
	return in->n == 0;
}

/* A device as `ifcvf-emu` builds it for command line variant @variant
 * (taken modulo the number of variants): net with or without the BAR4
 * block, plain virtio function, several pairs, blk. A net device gets the
 * loop wire, so TX comes back on RX. */
struct fz_emu {
	const struct emu_config *cfg;
	struct emu_device dev;
	struct emu_wire *wire;
	struct emu_loop loop;
};

void fz_emu_open(struct fz_emu *fe, unsigned variant);
void fz_emu_close(struct fz_emu *fe);

/* The fds this process has: counted when an input starts
 * (fz_leaks_baseline); it must end where it started (fz_leaks_check aborts,
 * naming what leaked). */
void fz_leaks_baseline(void);
void fz_leaks_check(const char *target);

/* Guest memory: a memfd of @size bytes that can be sealed, so that at the
 * end of an input fz_memfd_check_unmapped() finds a writable mapping of it
 * left behind (F_SEAL_WRITE is refused then) and aborts. */
int fz_memfd(const char *what, uint64_t size);
void fz_memfd_check_unmapped(const char *target, int fd);
