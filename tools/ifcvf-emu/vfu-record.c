/* Recording a client's messages as fuzz seeds (see vfu-record.h). */
#include "vfu-record.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

FILE *vfu_record_open(void)
{
	static unsigned conns;
	const char *dir = getenv("IFCVF_EMU_RECORD");
	char path[PATH_MAX];
	FILE *f;

	if (!dir || !*dir)
		return NULL;
	snprintf(path, sizeof(path), "%s/emu-server-%ld-%u", dir, (long)getpid(), conns++);
	f = fopen(path, "we");
	if (!f) {
		fprintf(stderr, "ifcvf-emu: cannot record the client into %s: %m\n", path);
		return NULL;
	}
	/* the emulator variant of the fuzz target: the default command line */
	fputc(0, f);
	return f;
}

/* 1: a regular file (memfd), 2: an eventfd, 3: anything else */
static unsigned fd_kind(int fd)
{
	char link[64], target[64];
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		return 1;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n > 0) {
		target[n] = '\0';
		if (strstr(target, "eventfd"))
			return 2;
	}
	return 3;
}

void vfu_record_msg(FILE *f, const struct vfu_msg *m)
{
	uint16_t len = m->payload_len > UINT16_MAX ? UINT16_MAX : (uint16_t)m->payload_len;
	uint8_t flags = 0;

	if (!f || m->hdr.command >= 0xf0)
		return;
	if (m->nfds)
		flags = (uint8_t)(fd_kind(m->fds[0]) | ((m->nfds - 1) & 7) << 2);
	if (m->hdr.flags & VFU_FLAG_NO_REPLY)
		flags |= 0x20;
	if ((m->hdr.flags & VFU_FLAG_TYPE_MASK) != VFU_FLAG_TYPE_COMMAND)
		flags |= 0x40;
	fputc((int)m->hdr.command, f);
	fputc(flags, f);
	fwrite(&m->hdr.msg_id, 2, 1, f);
	fwrite(&len, 2, 1, f);
	if (len)
		fwrite(m->payload, 1, len, f);
	fflush(f);
}

void vfu_record_close(FILE *f)
{
	if (f)
		fclose(f);
}
