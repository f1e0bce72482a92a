#include "used-relay.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

/* longest indirect table we accept (the virtio spec allows up to 2^16/16) */
#define INDIRECT_MAX 4096u

static uint16_t load16(const volatile uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* A page is logged after it was written: a log sync that runs in between
 * then sees the bit set again and sends the page once more. */
static void log_range(const struct used_relay_ops *ops, uint64_t gpa, uint64_t len)
{
	if (!len)
		return;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	ops->log(ops->opaque, gpa, len);
}

/* offsets inside a split used ring */
static uint64_t used_elem_off(uint16_t slot)
{
	return offsetof(struct vring_used, ring) + (uint64_t)slot * sizeof(struct vring_used_elem);
}

static uint64_t avail_event_off(uint16_t size)
{
	return used_elem_off(size);
}

/* The dirty log's page: vhost-user logs 4 KiB pages whatever the guest's. */
#define LOG_PAGE_SHIFT 12
#define LOG_PAGE (1u << LOG_PAGE_SHIFT)

/* A round's dirty pages, as 64-page words of the log (page p is bit p%64
 * of word p/64), each word once: the round logs a page once however many
 * buffers it holds, and hands the words over at the end instead of a call
 * per buffer. Buffers are mostly laid out in ascending order, so the last
 * word added is tried first. */
#define LOG_CACHE_WORDS 32u

struct log_cache {
	uint64_t last_page;   /* the page of the last one-page range added, or ~0 */
	unsigned n;
	uint64_t word[LOG_CACHE_WORDS];
	uint64_t bits[LOG_CACHE_WORDS];
};

/* Hand the cached pages over and empty the cache: a word at a time to
 * log_word, or each run of consecutive pages (across words, in the cache's
 * order) as one range to log. Called after the pages were written. */
static void cache_flush(const struct used_relay_ops *ops, struct log_cache *c)
{
	uint64_t run_start = 0, run_end = 0;   /* pages [start, end) */

	if (!c->n)
		return;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	if (ops->log_word) {
		for (unsigned i = 0; i < c->n; i++)
			ops->log_word(ops->opaque, c->word[i], c->bits[i]);
		c->n = 0;
		c->last_page = ~0ull;
		return;
	}
	for (unsigned i = 0; i < c->n; i++) {
		uint64_t bits = c->bits[i], base = c->word[i] * 64;

		while (bits) {
			unsigned first = (unsigned)__builtin_ctzll(bits);
			uint64_t rest = ~bits >> first;   /* ones where the run ended */
			unsigned len = rest ? (unsigned)__builtin_ctzll(rest) : 64 - first;

			if (base + first != run_end) {
				if (run_end != run_start)
					ops->log(ops->opaque, run_start << LOG_PAGE_SHIFT,
						 (run_end - run_start) << LOG_PAGE_SHIFT);
				run_start = base + first;
			}
			run_end = base + first + len;
			bits = first + len >= 64 ? 0 : bits & (~0ull << (first + len));
		}
	}
	if (run_end != run_start)
		ops->log(ops->opaque, run_start << LOG_PAGE_SHIFT, (run_end - run_start) << LOG_PAGE_SHIFT);
	c->n = 0;
	c->last_page = ~0ull;
}

static inline void cache_add_word(const struct used_relay_ops *ops, struct log_cache *c,
				  uint64_t word, uint64_t bits)
{
	unsigned i;

	if (c->n && c->word[c->n - 1] == word) {
		c->bits[c->n - 1] |= bits;
		return;
	}
	for (i = 0; i + 1 < c->n; i++)
		if (c->word[i] == word) {
			c->bits[i] |= bits;
			return;
		}
	if (c->n == LOG_CACHE_WORDS)
		cache_flush(ops, c);
	c->word[c->n] = word;
	c->bits[c->n] = bits;
	c->n++;
}

/* pages first..last, not the common case below */
static __attribute__((noinline)) void cache_add_pages(const struct used_relay_ops *ops,
						      struct log_cache *c, uint64_t first,
						      uint64_t last)
{
	uint64_t w = first / 64, wlast = last / 64;

	if (w == wlast) {
		unsigned n = (unsigned)(last - first) + 1;
		uint64_t ones = n == 64 ? ~0ull : ((1ull << n) - 1);

		cache_add_word(ops, c, w, ones << (first % 64));
		return;
	}
	cache_add_word(ops, c, w, ~0ull << (first % 64));
	for (w++; w < wlast; w++)
		cache_add_word(ops, c, w, ~0ull);
	cache_add_word(ops, c, wlast, ~0ull >> (63 - last % 64));
}

/* the pages of [gpa, gpa+len), len > 0 and the range inside guest memory;
 * inline for the cases that cost a compare or two */
static inline __attribute__((always_inline)) void cache_add(const struct used_relay_ops *ops,
							    struct log_cache *c, uint64_t gpa,
							    uint64_t len)
{
	uint64_t first = gpa >> LOG_PAGE_SHIFT, last = (gpa + len - 1) >> LOG_PAGE_SHIFT;

	if (first == last) {
		/* small buffers back to back: most share the page of the one
		 * before, or the word of the last page */
		if (first == c->last_page)
			return;
		c->last_page = first;
		if (c->n && c->word[c->n - 1] == first / 64) {
			c->bits[c->n - 1] |= 1ull << (first % 64);
			return;
		}
	}
	cache_add_pages(ops, c, first, last);
}

/* Log every device-writable descriptor of the chain at @head, whole: the
 * used length is what the device reports, not a bound on what it wrote
 * (virtio lets it write more), so the chain's WRITE buffers, indirect
 * ones included, are all dirty. A buffer outside guest memory is refused. */
static int log_chain(struct used_relay_queue *q, const struct used_relay_ops *ops, uint32_t head,
		     struct log_cache *cache, uint64_t *logged, struct cerr *e)
{
	const struct vring_desc *table = q->desc;
	uint32_t table_size = q->size, i = head, steps = 0;
	bool indirect = false;

	if (head >= q->size)
		return cerr_set(e, EINVAL, "used entry names descriptor %u, ring has %u", head, q->size);
	for (;;) {
		struct vring_desc d;

		memcpy(&d, (const void *)&table[i], sizeof(d));
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (indirect)
				return cerr_set(e, EINVAL, "descriptor %u: nested indirect table", head);
			if (d.len == 0 || d.len % sizeof(struct vring_desc) ||
			    d.len / sizeof(struct vring_desc) > INDIRECT_MAX)
				return cerr_set(e, EINVAL, "descriptor %u: indirect table of %u bytes", head, d.len);
			table = ops->translate(ops->opaque, d.addr, d.len);
			if (!table)
				return cerr_set(e, EFAULT, "descriptor %u: indirect table 0x%llx+%u is outside guest memory",
						head, (unsigned long long)d.addr, d.len);
			table_size = d.len / sizeof(struct vring_desc);
			indirect = true;
			i = 0;
			steps = 0;
			continue;
		}
		if ((d.flags & VRING_DESC_F_WRITE) && d.len) {
			if (!ops->translate(ops->opaque, d.addr, d.len))
				return cerr_set(e, EFAULT, "descriptor %u: buffer 0x%llx+%u is outside guest memory",
						head, (unsigned long long)d.addr, d.len);
			cache_add(ops, cache, d.addr, d.len);
			*logged += d.len;
		}
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		if (++steps >= table_size)
			return cerr_set(e, ELOOP, "descriptor %u: chain longer than its table (%u)", head,
					table_size);
		i = d.next;
		if (i >= table_size)
			return cerr_set(e, EINVAL, "descriptor %u: next %u is past the table (%u)", head, i,
					table_size);
	}
	return 0;
}

/* virtio's vring_need_event(): did [old, new) cross the guest's event? */
static bool crossed(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

/* how many entries ahead the relay prefetches the next chains' descriptors */
#define PREFETCH_AHEAD 4u

int used_relay_run(struct used_relay_queue *q, const struct used_relay_ops *ops,
		   unsigned budget, struct used_relay_result *res, struct cerr *e)
{
	uint16_t dev_idx = load16(&q->mediated->idx);
	uint16_t pending = (uint16_t)(dev_idx - q->last);
	uint16_t old = q->last, mask = (uint16_t)(q->size - 1);
	uint16_t flags;
	struct log_cache cache;
	uint64_t logged = 0;
	unsigned n = 0;
	int r = 0;

	memset(res, 0, sizeof(*res));
	cache.n = 0;
	cache.last_page = ~0ull;
	if (pending > q->size)
		return cerr_set(e, EINVAL, "device used index %u is %u entries past %u, ring has %u",
				dev_idx, pending, q->last, q->size);
	if (pending > budget)
		pending = (uint16_t)budget;

	for (; n < pending; n++) {
		uint16_t vf = (uint16_t)(old + n);
		struct vring_used_elem el;

		if (n + PREFETCH_AHEAD < pending)
			__builtin_prefetch(&q->desc[q->mediated->ring[(vf + PREFETCH_AHEAD) & mask].id & mask]);
		/* one read: the entry checked is the entry copied */
		memcpy(&el, (const void *)&q->mediated->ring[vf & mask], sizeof(el));
		r = log_chain(q, ops, el.id, &cache, &logged, e);
		if (r < 0)
			break;
		memcpy((void *)&q->used->ring[(uint16_t)(vf + q->shift) & mask], &el, sizeof(el));
	}
	res->entries = n;
	res->bytes_logged = logged;
	q->last = (uint16_t)(old + n);
	/* the used elements written: one range, or two where the ring wraps */
	if (n) {
		uint16_t g0 = (uint16_t)(old + q->shift) & mask;
		unsigned room = (unsigned)q->size - g0, head = room < n ? room : n;

		cache_add(ops, &cache, q->used_gpa + used_elem_off(g0), head * sizeof(struct vring_used_elem));
		if (n > head)
			cache_add(ops, &cache, q->used_gpa + used_elem_off(0),
				  (n - head) * sizeof(struct vring_used_elem));
	}

	/* flags (NO_NOTIFY) and avail_event are the device's wishes to the guest */
	if (!q->own_notify) {
		flags = load16(&q->mediated->flags);
		if (flags != load16(&q->used->flags)) {
			__atomic_store_n(&q->used->flags, flags, __ATOMIC_RELAXED);
			cache_add(ops, &cache, q->used_gpa + offsetof(struct vring_used, flags),
				  sizeof(uint16_t));
		}
	}
	if (q->event_idx && !q->own_notify) {
		volatile uint16_t *dev_ev = (volatile uint16_t *)((uint8_t *)q->mediated + avail_event_off(q->size));
		volatile uint16_t *guest_ev = (volatile uint16_t *)((uint8_t *)q->used + avail_event_off(q->size));

		uint16_t want = (uint16_t)(*dev_ev + q->shift);

		if (want != *guest_ev) {
			*guest_ev = want;
			cache_add(ops, &cache, q->used_gpa + avail_event_off(q->size), sizeof(uint16_t));
		}
	}
	/* the buffers and entries relayed logged before the index below */
	cache_flush(ops, &cache);

	if (res->entries) {
		uint16_t gidx = (uint16_t)(q->last + q->shift);

		/* entries and their log bits before the index the guest polls */
		__atomic_store_n(&q->used->idx, gidx, __ATOMIC_RELEASE);
		cache_add(ops, &cache, q->used_gpa + offsetof(struct vring_used, idx), sizeof(uint16_t));
		cache_flush(ops, &cache);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (q->event_idx) {
			uint16_t used_event = load16((volatile uint16_t *)&q->avail->ring[q->size]);

			res->interrupt = crossed(used_event, gidx, (uint16_t)(old + q->shift));
		} else {
			res->interrupt = !(load16(&q->avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);
		}
	}
	return r;
}

void used_relay_log_used_ring(const struct used_relay_queue *q, const struct used_relay_ops *ops)
{
	log_range(ops, q->used_gpa, avail_event_off(q->size) + sizeof(uint16_t));
}
