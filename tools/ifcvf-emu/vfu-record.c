#include "vfu-record.h"

#include <stdint.h>
#include <stdlib.h>
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
