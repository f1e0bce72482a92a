/* gen-check: runs inside the test guest and checks the frames of
 * ifcvf-emu's generator (tools/ifcvf-emu/gen-frame.h) that reach an
 * interface: how many arrived, which sequence numbers are missing,
 * duplicated or out of order (per stream, streams 0..3: each generator of
 * a test numbers its own), and how many were corrupt.
 *
 * usage: gen-check IFNAME SECONDS
 * Runs until an end-of-test frame (stream 0xffffffff, sent by the tests'
 * l2-switch) arrives, SIGTERM or SIGINT, or SECONDS pass. Prints one "GENCHECK ..." summary line
 * a second and a final "GENCHECK-FINAL ..." line with the missing ranges.
 * Static, no libraries beyond libc, so it runs in a busybox initramfs. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gen-frame.h"

#define MAX_SEQ (1u << 24)   /* frames tracked per run: 16 M */
#define END_STREAM 0xffffffffu

#define MAX_STREAMS 4   /* streams 0..3 tracked apart (a new generator uses another) */

static uint8_t seen[MAX_STREAMS][MAX_SEQ / 8];
static uint64_t received, duplicates, corrupt, out_of_order, beyond, socket_drops;
static uint64_t max_seq[MAX_STREAMS];
static int have_any[MAX_STREAMS];
static volatile sig_atomic_t stopped;

static void on_signal(int sig)
{
	(void)sig;
	stopped = 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void account(uint32_t stream, uint64_t seq)
{
	uint8_t *bits;

	if (stream >= MAX_STREAMS || seq >= MAX_SEQ) {
		beyond++;
		return;
	}
	bits = seen[stream];
	if (bits[seq / 8] & (1u << (seq % 8))) {
		duplicates++;
		return;
	}
	bits[seq / 8] |= (uint8_t)(1u << (seq % 8));
	received++;
	if (have_any[stream] && seq < max_seq[stream])
		out_of_order++;
	if (!have_any[stream] || seq > max_seq[stream])
		max_seq[stream] = seq;
	have_any[stream] = 1;
}

/* The missing ranges of every stream seen ("S:A-B" for a stream S > 0),
 * then the totals; max_seq is stream 0's. */
static void print_missing(void)
{
	uint64_t missing = 0;
	int ranges = 0;

	printf("GENCHECK-MISSING");
	for (uint32_t st = 0; st < MAX_STREAMS; st++) {
		uint64_t start = 0;
		int in_gap = 0;

		for (uint64_t s = 0; have_any[st] && s <= max_seq[st]; s++) {
			int got = seen[st][s / 8] & (1u << (s % 8));

			if (!got) {
				missing++;
				if (!in_gap) {
					start = s;
					in_gap = 1;
				}
			}
			if ((got || s == max_seq[st]) && in_gap) {
				uint64_t end = got ? s - 1 : s;

				if (ranges++ < 1024) {
					if (st)
						printf(" %u:%llu-%llu", st, (unsigned long long)start,
						       (unsigned long long)end);
					else
						printf(" %llu-%llu", (unsigned long long)start,
						       (unsigned long long)end);
				}
				in_gap = 0;
			}
		}
	}
	printf("\n");
	printf("GENCHECK-FINAL received=%llu max_seq=%llu missing=%llu duplicates=%llu corrupt=%llu out_of_order=%llu socket_drops=%llu\n",
	       (unsigned long long)received, (unsigned long long)max_seq[0],
	       (unsigned long long)missing, (unsigned long long)duplicates,
	       (unsigned long long)corrupt, (unsigned long long)out_of_order,
	       (unsigned long long)socket_drops);
}

int main(int argc, char **argv)
{
	struct sockaddr_ll sll = { 0 };
	uint8_t frame[65536];
	double end, next_report;
	int fd, finished = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: gen-check IFNAME SECONDS\n");
		return 2;
	}
	fd = socket(AF_PACKET, SOCK_RAW, htons(GEN_FRAME_ETHERTYPE));
	if (fd < 0) {
		perror("gen-check: socket");
		return 1;
	}
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(GEN_FRAME_ETHERTYPE);
	sll.sll_ifindex = (int)if_nametoindex(argv[1]);
	if (!sll.sll_ifindex || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		perror("gen-check: bind");
		return 1;
	}
	/* a deep queue: a guest stalled by TCG must not drop frames itself */
	{
		int sz = 16 << 20;

		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz));
	}
	{
		struct sigaction sa = { .sa_handler = on_signal };

		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
	}
	end = now() + atof(argv[2]);
	next_report = now() + 1;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		double t = now();

		if (t >= end || finished || stopped)
			break;
		if (t >= next_report) {
			printf("GENCHECK received=%llu max_seq=%llu duplicates=%llu corrupt=%llu\n",
			       (unsigned long long)received, (unsigned long long)max_seq[0],
			       (unsigned long long)duplicates, (unsigned long long)corrupt);
			fflush(stdout);
			next_report = t + 1;
		}
		if (poll(&p, 1, 100) <= 0)
			continue;
		for (;;) {
			ssize_t n = recv(fd, frame, sizeof(frame), MSG_DONTWAIT);
			uint32_t stream;
			uint64_t seq;

			if (n < 0)
				break;
			switch (gen_frame_parse(frame, (size_t)n, &stream, &seq)) {
			case GEN_FRAME_OK:
				if (stream == END_STREAM)
					finished = 1;
				else
					account(stream, seq);
				break;
			case GEN_FRAME_CORRUPT:
				corrupt++;
				break;
			default:
				break;
			}
		}
	}
	{
		struct tpacket_stats st;
		socklen_t len = sizeof(st);

		if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0)
			socket_drops += st.tp_drops;
	}
	printf("GENCHECK-END %s\n", finished ? "end-of-test frame" : stopped ? "signal" : "time limit");
	print_missing();
	fflush(stdout);
	return duplicates || corrupt ? 1 : 0;
}
