#include "bench-proc.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

pid_t bench_spawn(char *const argv[], const char *log)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open(log ? log : "/dev/null", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* their logs would bury the figures */
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	if (pid < 0) {
		perror("bench: fork");
		exit(1);
	}
	return pid;
}

void bench_wait_socket(const char *path, pid_t pid)
{
	struct stat st;

	for (int i = 0; i < 800; i++) {
		if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			return;
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			fprintf(stderr, "bench: the process for %s exited early\n", path);
			exit(1);
		}
		usleep(25 * 1000);
	}
	fprintf(stderr, "bench: %s did not appear\n", path);
	exit(1);
}

void bench_stop(pid_t pid)
{
	kill(pid, SIGTERM);
	for (int i = 0; i < 200; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		usleep(25 * 1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

long long bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

double bench_cpu_seconds(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f || !fgets(buf, sizeof(buf), f)) {
		fprintf(stderr, "bench: cannot read %s\n", path);
		exit(1);
	}
	fclose(f);
	/* fields after the command name, which may contain spaces */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) {
		fprintf(stderr, "bench: cannot parse %s\n", path);
		exit(1);
	}
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

int bench_cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}
