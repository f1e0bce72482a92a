/* gen-send: runs inside the test guest and transmits ifcvf-emu generator
 * frames (tools/ifcvf-emu/gen-frame.h, sequence 0, 1, 2, ... in STREAM) on
 * an interface, for the emulator's `--wire gen` checker on the other side
 * of the VF: the guest's TX direction, checked for loss, duplicates, order
 * and corruption there.
 *
 * usage: gen-send IFNAME PPS SIZE STREAM
 * Sends at about PPS frames a second until SIGTERM or SIGINT, then prints
 * "GENSEND-FINAL stream=S sent=N refused=M". A frame the kernel refuses (a full
 * queue while the backend is gone) is sent again later under the same
 * number: a number is used once it was accepted, never twice.
 * Static, no libraries beyond libc, so it runs in a busybox initramfs. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gen-frame.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	struct sockaddr_ll sll = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	uint8_t frame[2048];
	unsigned long long sent = 0, refused = 0;
	double pps, t0;
	uint32_t stream;
	size_t size;
	int fd;

	if (argc != 5) {
		fprintf(stderr, "usage: gen-send IFNAME PPS SIZE STREAM\n");
		return 2;
	}
	pps = atof(argv[2]);
	size = (size_t)atol(argv[3]);
	stream = (uint32_t)strtoul(argv[4], NULL, 0);
	if (pps <= 0 || size < GEN_FRAME_HDR_LEN || size > sizeof(frame)) {
		fprintf(stderr, "gen-send: PPS must be > 0 and SIZE %u..%zu\n", GEN_FRAME_HDR_LEN,
			sizeof(frame));
		return 2;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	fd = socket(AF_PACKET, SOCK_RAW, htons(GEN_FRAME_ETHERTYPE));
	if (fd < 0) {
		perror("gen-send: socket");
		return 1;
	}
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(GEN_FRAME_ETHERTYPE);
	sll.sll_ifindex = (int)if_nametoindex(argv[1]);
	sll.sll_halen = 6;
	memcpy(sll.sll_addr, bcast, 6);
	if (!sll.sll_ifindex || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		perror("gen-send: bind");
		return 1;
	}
	t0 = now();
	while (!stop) {
		/* frames due since the start, at most 64 behind: a guest stalled
		 * by TCG catches up gradually instead of flooding */
		unsigned long long due = (unsigned long long)((now() - t0) * pps);

		if (due > sent + 64) {
			t0 = now() - (double)(sent + 64) / pps;
			due = sent + 64;
		}
		while (!stop && sent < due) {
			gen_frame_build(frame, size, bcast, stream, sent);
			if (send(fd, frame, size, MSG_DONTWAIT) != (ssize_t)size) {
				refused++;
				break;
			}
			sent++;
		}
		usleep(1000);
	}
	printf("GENSEND-FINAL stream=%u sent=%llu refused=%llu\n", stream, sent, refused);
	fflush(stdout);
	close(fd);
	return 0;
}
