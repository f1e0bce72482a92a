/* The --fault schedule of the vfio-user conversation (emu-fault.h). */
#include "emu-fault.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int parse_count(const char *kind, const char *s, uint64_t min, uint64_t max,
		       uint64_t *ret, struct cerr *e)
{
	unsigned long long v;
	char *end;

	errno = 0;
	if (*s < '0' || *s > '9')
		goto bad;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		goto bad;
	*ret = v;
	return 0;
bad:
	return cerr_set(e, EINVAL, "--fault %s: '%s' is not a number from %llu to %llu", kind, s,
			(unsigned long long)min, (unsigned long long)max);
}

int emu_fault_schedule_parse(const char *kind, struct emu_fault_schedule *s, struct cerr *e)
{
	static const struct {
		const char *name;
		uint64_t max;
	} kinds[] = {
		{ "fail-at", UINT32_MAX }, { "drop-at", UINT32_MAX },
		{ "delay-ms", 600000 },    { "delay-at", UINT32_MAX },
	};
	uint64_t *dest[] = { &s->fail_at, &s->drop_at, NULL, &s->delay_at };
	uint64_t v = 0;

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t n = strlen(kinds[i].name);

		if (strncmp(kind, kinds[i].name, n) || kind[n] != '=')
			continue;
		if (parse_count(kinds[i].name, kind + n + 1, 1, kinds[i].max, &v, e) < 0)
			return -EINVAL;
		if (dest[i])
			*dest[i] = v;
		else
			s->delay_ms = (unsigned)v;
		return 1;
	}
	return 0;
}

enum emu_fault_action emu_fault_schedule_take(const struct emu_fault_schedule *s, uint64_t index)
{
	if (s->delay_ms && (!s->delay_at || s->delay_at == index)) {
		struct timespec ts = { .tv_sec = s->delay_ms / 1000,
				       .tv_nsec = (long)(s->delay_ms % 1000) * 1000000 };

		fprintf(stderr, "ifcvf-emu: --fault delay-ms=%u: message %" PRIu64
			" answered %u ms late\n", s->delay_ms, index, s->delay_ms);
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	if (s->drop_at == index) {
		fprintf(stderr, "ifcvf-emu: --fault drop-at=%" PRIu64
			": the connection closed at message %" PRIu64 "\n", s->drop_at, index);
		return EMU_FAULT_DROP;
	}
	if (s->fail_at == index)
		return EMU_FAULT_FAIL;
	return EMU_FAULT_NONE;
}
