/* Little-endian stores into the emulator's register and config arrays. */
#pragma once

#include <stdint.h>

static inline void emu_put16(uint8_t *a, uint32_t off, uint16_t v)
{
	a[off] = (uint8_t)v;
	a[off + 1] = (uint8_t)(v >> 8);
}

static inline void emu_put32(uint8_t *a, uint32_t off, uint32_t v)
{
	emu_put16(a, off, (uint16_t)v);
	emu_put16(a, off + 2, (uint16_t)(v >> 16));
}
