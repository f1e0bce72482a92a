/* Shared parts of the emulator's fuzz targets (see emu-fuzz.h). */
#include "emu-fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint8_t fz_u8(struct fz_in *in)
{
	uint8_t v = 0;

	fz_bytes(in, &v, 1);
	return v;
}

uint16_t fz_u16(struct fz_in *in)
{
	uint16_t v = 0;

	fz_bytes(in, &v, sizeof(v));
	return v;
}

uint32_t fz_u32(struct fz_in *in)
{
	uint32_t v = 0;

	fz_bytes(in, &v, sizeof(v));
	return v;
}

uint64_t fz_u64(struct fz_in *in)
{
	uint64_t v = 0;

	fz_bytes(in, &v, sizeof(v));
	return v;
}

size_t fz_bytes(struct fz_in *in, void *buf, size_t len)
{
	size_t take = len < in->n ? len : in->n;

	memcpy(buf, in->p, take);
	memset((uint8_t *)buf + take, 0, len - take);
	in->p += take;
	in->n -= take;
	return take;
}

/* ---- configurations ---- */

static const char *const variants[][8] = {
	{ "--queue-size-max", "256" },
	{ "--queue-pairs", "2", "--virtio-function", "--queue-size-max", "256" },
	{ "--no-lm", "--queue-size-max", "256" },
	{ "--type", "blk", "--queues", "2", "--queue-size-max", "256" },
	{ "--fault", "write-past-len", "--queue-size-max", "64", "--rx-fifo", "4" },
	{ "--queue-pairs", "3", "--queue-size-max", "32" },
};
#define NVARIANTS (sizeof(variants) / sizeof(variants[0]))

static struct emu_config configs[NVARIANTS];
static bool parsed[NVARIANTS];

static const struct emu_config *config_of(unsigned v)
{
	if (!parsed[v]) {
		char *argv[16] = { "ifcvf-emu", "--socket", "/nonexistent/fuzz.sock" };
		int argc = 3;
		struct cerr e = { 0 };

		for (unsigned i = 0; i < 8 && variants[v][i]; i++)
			argv[argc++] = (char *)variants[v][i];
		if (emu_options_parse(argc, argv, &configs[v], stderr, &e) != EMU_OPTIONS_OK) {
			fprintf(stderr, "fuzz: emulator variant %u: %s\n", v, e.msg);
			abort();
		}
		parsed[v] = true;
	}
	return &configs[v];
}

void fz_emu_open(struct fz_emu *fe, unsigned variant)
{
	struct cerr e = { 0 };

	fe->cfg = config_of(variant % NVARIANTS);
	fe->wire = NULL;
	fe->loop.epoll_fd = -1;
	if (emu_device_init(&fe->dev, fe->cfg, &e) < 0) {
		fprintf(stderr, "fuzz: emu_device_init: %s\n", e.msg);
		abort();
	}
	if (fe->cfg->type == EMU_TYPE_NET) {
		if (emu_wire_open(fe->cfg, &fe->dev.net, &fe->loop, &fe->wire, &e) < 0) {
			fprintf(stderr, "fuzz: emu_wire_open: %s\n", e.msg);
			abort();
		}
		fe->dev.net.wire = fe->wire;
	}
}

void fz_emu_close(struct fz_emu *fe)
{
	fe->dev.net.wire = NULL;
	if (fe->wire)
		emu_wire_close(fe->wire);
	fe->wire = NULL;
	emu_device_fini(&fe->dev);
}

/* ---- leaks ---- */

static int base_fds = -1;

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		abort();
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

void fz_leaks_baseline(void)
{
	base_fds = count_fds();
}

int fz_memfd(const char *what, uint64_t size)
{
	int fd = memfd_create(what, MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
		abort();
	return fd;
}

void fz_memfd_check_unmapped(const char *target, int fd)
{
	/* F_SEAL_WRITE is refused while a writable shared mapping exists */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE) < 0 && errno == EBUSY) {
		fprintf(stderr, "%s: this input left guest memory mapped (writable)\n", target);
		abort();
	}
}

void fz_leaks_check(const char *target)
{
	int fds = count_fds();

	if (base_fds < 0)
		return;
	if (fds != base_fds) {
		fprintf(stderr, "%s: this input leaked fds: %d open, %d before it\n", target, fds,
			base_fds);
		abort();
	}
}
