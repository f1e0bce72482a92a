/* Unit tests of self-contained pieces of ifcvf-emu: the bounded frame FIFO
 * (emu-fifo.c) against a model queue, wrap-around included, the generator
 * frame format (gen-frame.h) at its documented offsets, and the generator's
 * fast builder (gen-build.h) against gen_frame_build(). */
#include <string.h>

#include <glib.h>

#include "emu-fifo.h"
#include "emu-options.h"
#include "gen-build.h"
#include "gen-frame.h"

static void fill(guint8 *p, gsize len, guint32 seed)
{
	for (gsize i = 0; i < len; i++)
		p[i] = (guint8)(seed + i * 7);
}

static void test_fifo_model(void)
{
	struct emu_fifo f;
	GQueue model = G_QUEUE_INIT;
	GRand *rand = g_rand_new_with_seed(42);
	static guint8 buf[EMU_MAX_FRAME];
	guint32 next = 0;
	guint pushed = 0, refused = 0;

	emu_fifo_init(&f, 64);
	for (guint round = 0; round < 20000; round++) {
		if (g_rand_boolean(rand) || g_queue_is_empty(&model)) {
			gsize len = (gsize)g_rand_int_range(rand, 1, 3000);
			gboolean ok;

			fill(buf, len, next);
			ok = emu_fifo_push(&f, buf, len);
			if (ok) {
				g_queue_push_tail(&model, GUINT_TO_POINTER((next << 12) | (guint32)len));
				pushed++;
				next++;
			} else {
				/* refused only when full by count or bytes */
				g_assert_true(f.count == 64 || f.count > 0);
				refused++;
			}
			g_assert_cmpuint(f.count, ==, g_queue_get_length(&model));
		} else {
			guint32 v = GPOINTER_TO_UINT(g_queue_pop_head(&model));
			gsize len = 0, want = v & 0xfff;
			const guint8 *p = emu_fifo_peek(&f, &len);

			g_assert_nonnull(p);
			g_assert_cmpuint(len, ==, want);
			fill(buf, want, v >> 12);
			g_assert_cmpmem(p, len, buf, want);
			emu_fifo_pop(&f);
		}
	}
	g_assert_cmpuint(pushed, >, 5000);
	g_assert_cmpuint(refused, >, 0);
	g_assert_cmpuint(f.high_water, ==, 64);
	g_queue_clear(&model);
	g_rand_free(rand);
	emu_fifo_fini(&f);
}

static void test_fifo_bounds(void)
{
	static guint8 big[EMU_MAX_FRAME];
	struct emu_fifo f;
	gsize len;

	/* by count */
	emu_fifo_init(&f, 3);
	for (guint i = 0; i < 3; i++)
		g_assert_true(emu_fifo_push(&f, big, 60));
	g_assert_false(emu_fifo_push(&f, big, 60));
	g_assert_nonnull(emu_fifo_peek(&f, &len));
	emu_fifo_pop(&f);
	g_assert_true(emu_fifo_push(&f, big, 60));
	emu_fifo_fini(&f);
	g_assert_true(emu_fifo_empty(&f));

	/* the largest frame always fits an empty FIFO, and two of them fit */
	emu_fifo_init(&f, 1);
	g_assert_true(emu_fifo_push(&f, big, EMU_MAX_FRAME));
	g_assert_false(emu_fifo_push(&f, big, 1));
	emu_fifo_pop(&f);
	g_assert_true(emu_fifo_empty(&f));
	g_assert_null(emu_fifo_peek(&f, &len));
	emu_fifo_fini(&f);
	emu_fifo_init(&f, 2);
	g_assert_true(emu_fifo_push(&f, big, EMU_MAX_FRAME));
	g_assert_true(emu_fifo_push(&f, big, EMU_MAX_FRAME));
	g_assert_false(emu_fifo_push(&f, big, EMU_MAX_FRAME + 1));
	emu_fifo_fini(&f);
}

static void test_gen_frame(void)
{
	const guint8 dst[6] = { 0x02, 0xfc, 0, 0, 0, 1 };
	guint8 f[200];
	guint32 stream = 0;
	guint64 seq = 0;

	/* FNV-1a 32 reference values */
	g_assert_cmphex(gen_fnv1a((const guint8 *)"", 0), ==, 0x811c9dc5);
	g_assert_cmphex(gen_fnv1a((const guint8 *)"a", 1), ==, 0xe40c292c);
	g_assert_cmphex(gen_fnv1a((const guint8 *)"foobar", 6), ==, 0xbf9cf968);

	gen_frame_build(f, sizeof(f), dst, 0x1234, 0x0102030405060708ull);
	g_assert_cmpmem(f, 6, dst, 6);
	g_assert_cmphex(f[12], ==, 0x88);
	g_assert_cmphex(f[13], ==, 0xb5);
	g_assert_cmpmem(f + 14, 4, "IFCG", 4);
	g_assert_cmphex(f[20], ==, 0x12);
	g_assert_cmphex(f[21], ==, 0x34);
	for (guint i = 0; i < 8; i++)
		g_assert_cmpuint(f[22 + i], ==, i + 1);
	g_assert_cmpuint(f[30] << 24 | f[31] << 16 | f[32] << 8 | f[33], ==, 200 - 38);
	g_assert_cmphex((guint32)(f[34] << 24 | f[35] << 16 | f[36] << 8 | f[37]), ==,
			gen_fnv1a(f + 38, 200 - 38));
	g_assert_cmpint(gen_frame_parse(f, sizeof(f), &stream, &seq), ==, GEN_FRAME_OK);
	g_assert_cmpuint(stream, ==, 0x1234);
	g_assert_cmphex(seq, ==, 0x0102030405060708ull);

	/* a payload byte, the length, the size: corrupt */
	f[150] ^= 1;
	g_assert_cmpint(gen_frame_parse(f, sizeof(f), &stream, &seq), ==, GEN_FRAME_CORRUPT);
	f[150] ^= 1;
	g_assert_cmpint(gen_frame_parse(f, sizeof(f) - 1, &stream, &seq), ==, GEN_FRAME_CORRUPT);
	/* too short, other ethertype, other magic: foreign */
	g_assert_cmpint(gen_frame_parse(f, 37, &stream, &seq), ==, GEN_FRAME_FOREIGN);
	f[13] = 0xb6;
	g_assert_cmpint(gen_frame_parse(f, sizeof(f), &stream, &seq), ==, GEN_FRAME_FOREIGN);
	f[13] = 0xb5;
	f[14] = 'X';
	g_assert_cmpint(gen_frame_parse(f, sizeof(f), &stream, &seq), ==, GEN_FRAME_FOREIGN);

	/* the smallest frame has no payload */
	gen_frame_build(f, GEN_FRAME_HDR_LEN, dst, 0, 7);
	g_assert_cmpint(gen_frame_parse(f, GEN_FRAME_HDR_LEN, &stream, &seq), ==, GEN_FRAME_OK);
	g_assert_cmpuint(seq, ==, 7);
}

/* gen-build.h writes exactly what gen_frame_build() does, for every one of
 * the 256 payloads (and again once their checksums are cached). */
static void test_gen_build(void)
{
	const guint8 dst[6] = { 0x02, 0xfc, 0, 0, 0, 7 };
	const gsize sizes[] = { GEN_FRAME_HDR_LEN, GEN_FRAME_HDR_LEN + 1, 64, 100, 1518, 9000 };
	static guint8 want[9000], got[9000];

	for (guint i = 0; i < G_N_ELEMENTS(sizes); i++) {
		struct gen_builder b;
		gsize size = sizes[i];

		g_assert_cmpint(gen_builder_init(&b, size, dst, 0x10203 + i), ==, 0);
		for (guint64 seq = 0; seq < 600; seq++) {
			guint64 s = seq < 512 ? seq : G_GUINT64_CONSTANT(0xfedcba9876543210) + seq;

			gen_frame_build(want, size, dst, 0x10203 + i, s);
			memset(got, 0xee, size);
			gen_builder_build(&b, got, s);
			g_assert_cmpmem(got, size, want, size);
		}
		gen_builder_fini(&b);
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ifcvf-helper/emu-unit/fifo/model", test_fifo_model);
	g_test_add_func("/ifcvf-helper/emu-unit/fifo/bounds", test_fifo_bounds);
	g_test_add_func("/ifcvf-helper/emu-unit/gen-frame", test_gen_frame);
	g_test_add_func("/ifcvf-helper/emu-unit/gen-build", test_gen_build);
	return g_test_run();
}
