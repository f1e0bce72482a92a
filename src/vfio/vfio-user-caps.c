/* VERSION capabilities as JSON. The writer only ever emits our four numbers;
 * the parser is a strict recursive-descent reader of RFC 8259 JSON that
 * checks "capabilities" against the spec (reference/vfio-user.md §1.4) and
 * skips keys it does not know. Anything wrong is EINVAL, as libvfio-user
 * answers a client's bad JSON. */
#include "vfio-user-caps.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define JSON_MAX_DEPTH 32

void vfu_caps_defaults(struct vfu_caps *caps)
{
	caps->max_msg_fds = 1;
	caps->max_data_xfer_size = 1048576;
	caps->pgsizes = 4096;
	caps->max_dma_maps = 65535;
	caps->twin_socket = false;
}

int vfu_caps_format(const struct vfu_caps *caps, char *buf, size_t len)
{
	int n = snprintf(buf, len,
			 "{\"capabilities\":{\"max_msg_fds\":%u,\"max_data_xfer_size\":%llu,"
			 "\"pgsizes\":%llu,\"max_dma_maps\":%u}}",
			 caps->max_msg_fds, (unsigned long long)caps->max_data_xfer_size,
			 (unsigned long long)caps->pgsizes, caps->max_dma_maps);

	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return n;
}

/* ---- parser ---- */

struct json {
	const char *s;
	const char *start;
	struct cerr *e;
};

static int fail(struct json *j, const char *what)
{
	return cerr_set(j->e, EINVAL, "capabilities JSON: %s at byte %td", what, j->s - j->start);
}

static void skip_ws(struct json *j)
{
	while (*j->s == ' ' || *j->s == '\t' || *j->s == '\n' || *j->s == '\r')
		j->s++;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A string; its raw body (escapes left as they are) in @ret/@ret_len. */
static int parse_string(struct json *j, const char **ret, size_t *ret_len)
{
	const char *body;

	if (*j->s != '"')
		return fail(j, "expected a string");
	body = ++j->s;
	for (;;) {
		unsigned char c = (unsigned char)*j->s;

		if (c == '"')
			break;
		if (c == '\0')
			return fail(j, "unterminated string");
		if (c < 0x20)
			return fail(j, "control character in a string");
		if (c == '\\') {
			j->s++;
			if (*j->s == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!is_hex(j->s[i]))
						return fail(j, "bad \\u escape");
				j->s += 4;
			} else if (!strchr("\"\\/bfnrt", *j->s) || *j->s == '\0') {
				return fail(j, "bad escape");
			}
		}
		j->s++;
	}
	if (ret) {
		*ret = body;
		*ret_len = (size_t)(j->s - body);
	}
	j->s++;
	return 0;
}

/* Any number; with @ret, it must be a non-negative integer that fits. */
static int parse_number(struct json *j, uint64_t *ret, const char *name)
{
	const char *p = j->s;
	bool integer = true, negative = false;
	uint64_t v = 0;

	if (*p == '-') {
		negative = true;
		p++;
	}
	if (*p == '0') {
		p++;
	} else if (*p >= '1' && *p <= '9') {
		while (is_digit(*p)) {
			unsigned d = (unsigned)(*p - '0');

			if (v > (UINT64_MAX - d) / 10)
				integer = false;
			else
				v = v * 10 + d;
			p++;
		}
	} else {
		return fail(j, "bad number");
	}
	if (*p == '.') {
		integer = false;
		p++;
		if (!is_digit(*p))
			return fail(j, "bad number");
		while (is_digit(*p))
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		integer = false;
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!is_digit(*p))
			return fail(j, "bad number");
		while (is_digit(*p))
			p++;
	}
	if (ret && (!integer || negative))
		return cerr_set(j->e, EINVAL,
				"capabilities JSON: %s is not a non-negative integer that fits in 64 bits",
				name);
	j->s = p;
	if (ret)
		*ret = v;
	return 0;
}

static int skip_value(struct json *j, int depth);

/* An object; @member is called for each key with the parser at its value
 * and must consume that value. */
typedef int (*member_fn)(struct json *j, const char *key, size_t key_len, void *data,
			 int depth);

static int parse_object(struct json *j, member_fn member, void *data, int depth)
{
	if (depth > JSON_MAX_DEPTH)
		return fail(j, "nested too deeply");
	if (*j->s != '{')
		return fail(j, "expected an object");
	j->s++;
	skip_ws(j);
	if (*j->s == '}') {
		j->s++;
		return 0;
	}
	for (;;) {
		const char *key;
		size_t key_len;
		int r;

		skip_ws(j);
		r = parse_string(j, &key, &key_len);
		if (r < 0)
			return r;
		skip_ws(j);
		if (*j->s != ':')
			return fail(j, "expected ':'");
		j->s++;
		skip_ws(j);
		r = member(j, key, key_len, data, depth + 1);
		if (r < 0)
			return r;
		skip_ws(j);
		if (*j->s == '}') {
			j->s++;
			return 0;
		}
		if (*j->s != ',')
			return fail(j, "expected ',' or '}'");
		j->s++;
	}
}

static int skip_member(struct json *j, const char *key, size_t key_len, void *data, int depth)
{
	return skip_value(j, depth);
}

static int skip_array(struct json *j, int depth)
{
	if (depth > JSON_MAX_DEPTH)
		return fail(j, "nested too deeply");
	j->s++;
	skip_ws(j);
	if (*j->s == ']') {
		j->s++;
		return 0;
	}
	for (;;) {
		int r;

		skip_ws(j);
		r = skip_value(j, depth + 1);
		if (r < 0)
			return r;
		skip_ws(j);
		if (*j->s == ']') {
			j->s++;
			return 0;
		}
		if (*j->s != ',')
			return fail(j, "expected ',' or ']'");
		j->s++;
	}
}

static int skip_value(struct json *j, int depth)
{
	static const char *const words[] = { "true", "false", "null" };

	switch (*j->s) {
	case '{':
		return parse_object(j, skip_member, NULL, depth);
	case '[':
		return skip_array(j, depth);
	case '"':
		return parse_string(j, NULL, NULL);
	default:
		break;
	}
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strncmp(j->s, words[i], strlen(words[i]))) {
			j->s += strlen(words[i]);
			return 0;
		}
	if (*j->s == '-' || is_digit(*j->s))
		return parse_number(j, NULL, NULL);
	return fail(j, "expected a value");
}

static bool key_is(const char *key, size_t key_len, const char *want)
{
	return key_len == strlen(want) && !memcmp(key, want, key_len);
}

static bool is_number_start(char c)
{
	return c == '-' || is_digit(c);
}

static int not_a(struct json *j, const char *name, const char *what)
{
	return cerr_set(j->e, EINVAL, "capabilities JSON: %s is not %s (at byte %td)", name, what,
			j->s - j->start);
}

static int get_number(struct json *j, const char *name, uint64_t min, uint64_t max,
		      uint64_t *ret)
{
	int r;

	if (!is_number_start(*j->s))
		return not_a(j, name, "a number");
	r = parse_number(j, ret, name);
	if (r < 0)
		return r;
	if (*ret < min || *ret > max)
		return cerr_set(j->e, EINVAL, "capabilities JSON: %s %llu is out of range %llu..%llu",
				name, (unsigned long long)*ret, (unsigned long long)min,
				(unsigned long long)max);
	return 0;
}

static int get_bool(struct json *j, const char *name, bool *ret)
{
	if (!strncmp(j->s, "true", 4)) {
		j->s += 4;
		*ret = true;
		return 0;
	}
	if (!strncmp(j->s, "false", 5)) {
		j->s += 5;
		*ret = false;
		return 0;
	}
	return not_a(j, name, "true or false");
}

/* A key seen twice would leave the value to whichever one we read last. */
static int once(struct json *j, unsigned *seen, unsigned bit, const char *name)
{
	if (*seen & bit)
		return cerr_set(j->e, EINVAL, "capabilities JSON: %s appears twice", name);
	*seen |= bit;
	return 0;
}

/* "migration": {"pgsize": N, "max_bitmap_size": N} (legacy; we do not
 * migrate over vfio-user, but libvfio-user sends it unasked) */
static int migration_member(struct json *j, const char *key, size_t key_len, void *data,
			    int depth)
{
	uint64_t v;

	if (key_is(key, key_len, "pgsize"))
		return get_number(j, "migration.pgsize", 0, UINT64_MAX, &v);
	if (key_is(key, key_len, "max_bitmap_size"))
		return get_number(j, "migration.max_bitmap_size", 0, UINT64_MAX, &v);
	return skip_value(j, depth);
}

/* "twin_socket": {"supported": bool, "fd_index": N}; @data: supported */
static int twin_member(struct json *j, const char *key, size_t key_len, void *data, int depth)
{
	uint64_t v;

	if (key_is(key, key_len, "supported"))
		return get_bool(j, "twin_socket.supported", data);
	if (key_is(key, key_len, "fd_index"))
		return get_number(j, "twin_socket.fd_index", 0, UINT32_MAX, &v);
	return skip_value(j, depth);
}

enum {
	SEEN_MAX_MSG_FDS = 1u << 0,
	SEEN_MAX_XFER = 1u << 1,
	SEEN_PGSIZES = 1u << 2,
	SEEN_MAX_DMA_MAPS = 1u << 3,
	SEEN_MIGRATION = 1u << 4,
	SEEN_TWIN_SOCKET = 1u << 5,
	SEEN_WRITE_MULTIPLE = 1u << 6,
	SEEN_CAPABILITIES = 1u << 7,
};

struct caps_ctx {
	struct vfu_caps *caps;
	unsigned seen;
};

static int caps_member(struct json *j, const char *key, size_t key_len, void *data, int depth)
{
	struct caps_ctx *ctx = data;
	struct vfu_caps *caps = ctx->caps;
	uint64_t v;
	int r;

	if (key_is(key, key_len, "max_msg_fds")) {
		if ((r = once(j, &ctx->seen, SEEN_MAX_MSG_FDS, "max_msg_fds")) < 0 ||
		    (r = get_number(j, "max_msg_fds", 0, 1024, &v)) < 0)
			return r;
		caps->max_msg_fds = (uint32_t)v;
	} else if (key_is(key, key_len, "max_data_xfer_size")) {
		if ((r = once(j, &ctx->seen, SEEN_MAX_XFER, "max_data_xfer_size")) < 0 ||
		    (r = get_number(j, "max_data_xfer_size", 1, UINT32_MAX, &v)) < 0)
			return r;
		caps->max_data_xfer_size = v;
	} else if (key_is(key, key_len, "pgsizes")) {
		if ((r = once(j, &ctx->seen, SEEN_PGSIZES, "pgsizes")) < 0 ||
		    (r = get_number(j, "pgsizes", 1, UINT64_MAX, &v)) < 0)
			return r;
		/* DMA maps are aligned to the smallest one, and mmap needs pages */
		if (v & 4095)
			return cerr_set(j->e, EINVAL,
					"capabilities JSON: pgsizes 0x%llx offers a page size below 4096",
					(unsigned long long)v);
		caps->pgsizes = v;
	} else if (key_is(key, key_len, "max_dma_maps")) {
		if ((r = once(j, &ctx->seen, SEEN_MAX_DMA_MAPS, "max_dma_maps")) < 0 ||
		    (r = get_number(j, "max_dma_maps", 1, UINT32_MAX, &v)) < 0)
			return r;
		caps->max_dma_maps = (uint32_t)v;
	} else if (key_is(key, key_len, "migration")) {
		if ((r = once(j, &ctx->seen, SEEN_MIGRATION, "migration")) < 0)
			return r;
		if (*j->s != '{')
			return not_a(j, "migration", "an object");
		return parse_object(j, migration_member, NULL, depth);
	} else if (key_is(key, key_len, "twin_socket")) {
		bool supported = false;

		if ((r = once(j, &ctx->seen, SEEN_TWIN_SOCKET, "twin_socket")) < 0)
			return r;
		if (*j->s != '{')
			return not_a(j, "twin_socket", "an object");
		if ((r = parse_object(j, twin_member, &supported, depth)) < 0)
			return r;
		ctx->caps->twin_socket = supported;
	} else if (key_is(key, key_len, "write_multiple")) {
		bool b;

		if ((r = once(j, &ctx->seen, SEEN_WRITE_MULTIPLE, "write_multiple")) < 0)
			return r;
		return get_bool(j, "write_multiple", &b);
	} else {
		/* a capability of a later spec: skipped (QEMU only warns) */
		return skip_value(j, depth);
	}
	return 0;
}

static int top_member(struct json *j, const char *key, size_t key_len, void *data, int depth)
{
	struct caps_ctx *ctx = data;
	int r;

	if (!key_is(key, key_len, "capabilities"))
		return skip_value(j, depth);
	if ((r = once(j, &ctx->seen, SEEN_CAPABILITIES, "capabilities")) < 0)
		return r;
	if (*j->s != '{')
		return not_a(j, "capabilities", "an object");
	return parse_object(j, caps_member, ctx, depth);
}

int vfu_caps_parse(const char *json, struct vfu_caps *ret, struct cerr *e)
{
	struct json j = { .s = json, .start = json, .e = e };
	struct vfu_caps caps;
	struct caps_ctx ctx = { .caps = &caps };
	int r;

	vfu_caps_defaults(&caps);
	skip_ws(&j);
	r = parse_object(&j, top_member, &ctx, 0);
	if (r < 0)
		return r;
	skip_ws(&j);
	if (*j.s != '\0')
		return fail(&j, "trailing characters");
	*ret = caps;
	return 0;
}
