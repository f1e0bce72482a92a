/* Recording vfio-user conversations as fuzz seeds (see vfu-record.h). */
#include "vfu-record.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* the fuzz target's chunk: ctl, command, id, error, memfd pages, length */
#define CTL_ERROR 0x4u
/* seeds stay small: longer payloads are cut (the client then refuses them) */
#define RECORD_MAX_PAYLOAD 4096u

FILE *vfu_record_open(void)
{
	static unsigned seq;
	const char *dir = getenv("IFCVF_EMU_RECORD_REPLIES");
	char path[4096];
	FILE *f;

	if (!dir || !*dir)
		return NULL;
	snprintf(path, sizeof(path), "%s/emu-%ld-%u", dir, (long)getpid(), seq++);
	f = fopen(path, "wbx");
	if (f)   /* the client calls' selector: the target's defaults */
		fwrite("\0\0\0\0", 1, 4, f);
	return f;
}

void vfu_record_reply(FILE *f, const struct vfu_hdr *reply, const void *payload, size_t len)
{
	uint8_t h[9];

	if (!f)
		return;
	if (len > RECORD_MAX_PAYLOAD)
		len = RECORD_MAX_PAYLOAD;
	h[0] = (reply->flags & VFU_FLAG_ERROR) ? CTL_ERROR : 0;
	h[1] = (uint8_t)reply->command;
	h[2] = (uint8_t)(reply->command >> 8);
	h[3] = (uint8_t)reply->msg_id;
	h[4] = (uint8_t)(reply->msg_id >> 8);
	h[5] = (uint8_t)reply->error;
	h[6] = 0;
	h[7] = (uint8_t)len;
	h[8] = (uint8_t)(len >> 8);
	fwrite(h, 1, sizeof(h), f);
	if (len)
		fwrite(payload, 1, len, f);
	fflush(f);
}

void vfu_record_close(FILE *f)
{
	if (f)
		fclose(f);
}

/* ---- the client's messages (IFCVF_EMU_RECORD) ---- */

FILE *vfu_record_msgs_open(void)
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

void vfu_record_msgs_close(FILE *f)
{
	if (f)
		fclose(f);
}