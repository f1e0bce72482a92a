/* broker-launch CONFIG SOCKET: run dbus-broker as a private bus for the
 * tests, listening on the unix socket SOCKET, with the bus configuration
 * CONFIG (dbus-daemon's XML format; <listen> is ignored).
 *
 * dbus-broker-launch is made for systemd: it takes its listening socket by
 * socket activation (LISTEN_FDS, fd 3), connects to the bus it serves as the
 * system (or user) bus, and logs to the journal socket, without which it
 * exits. Here broker-launch plays systemd's part: it makes the socket and
 * hands it over, names the bus by DBUS_SYSTEM_BUS_ADDRESS, and, when no
 * journal listens, binds a socket at the journal's path in a private mount
 * namespace and copies the messages sent to it to stderr.
 *
 * Readiness: once the socket listens, broker-launch prints the bus address
 * on stdout and closes stdout (like dbus-daemon --print-address). From then
 * on a client may connect (it waits in the backlog until the broker serves
 * it); before that line the socket may not exist yet.
 *
 * Stopping: SIGTERM (or SIGINT) goes to dbus-broker-launch, which stops the
 * broker. broker-launch is the subreaper of both and exits only when both
 * are gone and every message they logged was copied, so the broker's last
 * words (sent after the launcher exited) are not refused. Exits with the
 * launcher's status (0 when it stopped on SIGTERM).
 *
 * Runs as root (for the mount namespace). Dies with its parent (the test),
 * the launcher dies with it.
 *
 * BROKER_LAUNCH_DELAY_MS=N in the environment holds it back N ms before it
 * sets anything up, as a loaded machine may: the readiness test uses it. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define JOURNAL_DIR    "/run/systemd/journal"
#define JOURNAL_SOCKET JOURNAL_DIR "/socket"

static void die(const char *what) __attribute__((noreturn));
static void die(const char *what)
{
	fprintf(stderr, "broker-launch: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int unix_socket(int type, const char *path, struct sockaddr_un *addr)
{
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket");
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(addr->sun_path)) {
		fprintf(stderr, "broker-launch: socket path too long: %s\n", path);
		exit(1);
	}
	strcpy(addr->sun_path, path);
	return fd;
}

static int journal_listens(void)
{
	struct sockaddr_un addr;
	int fd = unix_socket(SOCK_DGRAM, JOURNAL_SOCKET, &addr);
	int ok = connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;

	close(fd);
	return ok;
}

/* a journal socket in a mount namespace of our own; returns it, bound */
static int fake_journal(void)
{
	struct sockaddr_un addr;
	int fd;

	if (unshare(CLONE_NEWNS) < 0)
		die("unshare(CLONE_NEWNS)");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die("making / private");
	/* a tmpfs over /run/systemd (or /run), so the host's stays untouched */
	if (mount("tmpfs", access("/run/systemd", F_OK) == 0 ? "/run/systemd" : "/run", "tmpfs",
		  MS_NOSUID | MS_NODEV, "mode=0755") < 0)
		die("mounting a tmpfs for the journal socket");
	if (mkdir("/run/systemd", 0755) < 0 && errno != EEXIST)
		die("mkdir /run/systemd");
	if (mkdir(JOURNAL_DIR, 0755) < 0 && errno != EEXIST)
		die("mkdir " JOURNAL_DIR);
	fd = unix_socket(SOCK_DGRAM, JOURNAL_SOCKET, &addr);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		die("bind " JOURNAL_SOCKET);
	return fd;
}

/* the journal's native protocol: KEY=VALUE lines; MESSAGE is what people read */
static void print_messages(char *entry)
{
	char *line, *save = NULL;

	for (line = strtok_r(entry, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (strncmp(line, "MESSAGE=", 8) == 0)
			fprintf(stderr, "dbus-broker: %s\n", line + 8);
}

/* Copy one datagram's messages to stderr; 0 when none was queued. An entry
 * too big for a datagram comes as an empty datagram carrying a memfd. */
static int copy_one_entry(int fd)
{
	static char buf[65536];
	union {
		char space[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) - 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = &control, .msg_controllen = sizeof(control) };
	struct cmsghdr *cmsg;
	ssize_t n;

	n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0 && errno == EAGAIN)
		return 0;
	if (n < 0)
		die("reading the journal socket");
	cmsg = CMSG_FIRSTHDR(&msg);
	if (n == 0 && cmsg && cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS) {
		int memfd;

		memcpy(&memfd, CMSG_DATA(cmsg), sizeof(memfd));
		n = pread(memfd, buf, sizeof(buf) - 1, 0);
		close(memfd);
		if (n < 0)
			n = 0;
	}
	buf[n] = 0;
	print_messages(buf);
	return 1;
}

/* the launcher: dbus-broker-launch with @listen_fd as its activated socket */
static void exec_launcher(int listen_fd, const char *config, const char *address,
			  const sigset_t *mask, pid_t supervisor)
{
	char pid_str[32];

	/* gone with broker-launch, even if it is killed outright */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != supervisor)
		_exit(1);
	if (sigprocmask(SIG_SETMASK, mask, NULL) < 0)
		die("sigprocmask");
	/* socket activation: the listening socket is fd 3, kept across exec */
	if (listen_fd != 3) {
		if (dup2(listen_fd, 3) < 0)
			die("dup2");
		close(listen_fd);
	} else if (fcntl(3, F_SETFD, 0) < 0) {
		die("fcntl");
	}
	snprintf(pid_str, sizeof(pid_str), "%d", (int)getpid());
	setenv("LISTEN_FDS", "1", 1);
	setenv("LISTEN_PID", pid_str, 1);
	unsetenv("LISTEN_FDNAMES");
	unsetenv("NOTIFY_SOCKET");
	/* the launcher connects to the bus it serves as "the system bus" */
	setenv("DBUS_SYSTEM_BUS_ADDRESS", address, 1);
	execlp("dbus-broker-launch", "dbus-broker-launch", "--scope", "system", "--config-file",
	       config, (char *)NULL);
	fprintf(stderr, "broker-launch: exec dbus-broker-launch: %s\n", strerror(errno));
	_exit(127);
}

/* Serve the journal socket (-1: none) and the signals until the launcher
 * and everything it started are gone; returns the launcher's exit status. */
static int supervise(int sig_fd, int journal_fd, pid_t launcher)
{
	int status = 1;

	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = sig_fd, .events = POLLIN },
			{ .fd = journal_fd, .events = POLLIN },
		};
		struct signalfd_siginfo si;
		pid_t pid;
		int st;

		if (poll(pfd, journal_fd >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (journal_fd >= 0 && (pfd[1].revents & POLLIN))
			(void)copy_one_entry(journal_fd);
		if (!(pfd[0].revents & POLLIN))
			continue;
		if (read(sig_fd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			if (launcher > 0)
				kill(launcher, SIGTERM);
			continue;
		}
		/* SIGCHLD: the launcher, or the broker once orphaned (we are
		 * the subreaper); signals coalesce, so reap all there are */
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			if (pid != launcher)
				continue;
			launcher = 0;
			status = WIFEXITED(st) ? WEXITSTATUS(st)
					       : WTERMSIG(st) == SIGTERM ? 0 : 128 + WTERMSIG(st);
		}
		if (pid < 0 && errno == ECHILD)
			break;
	}
	/* nobody writes any more: what they sent is queued, copy it */
	while (journal_fd >= 0 && copy_one_entry(journal_fd))
		;
	return status;
}

int main(int argc, char **argv)
{
	struct sockaddr_un addr;
	sigset_t mask, old_mask;
	char *address;
	int journal_fd = -1;
	int listen_fd, sig_fd;
	pid_t supervisor = getpid();
	pid_t launcher;

	if (argc != 3) {
		fprintf(stderr, "usage: broker-launch CONFIG SOCKET\n");
		return 2;
	}
	if (getenv("BROKER_LAUNCH_DELAY_MS"))
		usleep(atoi(getenv("BROKER_LAUNCH_DELAY_MS")) * 1000);
	/* the broker, orphaned when the launcher exits, stays ours to wait for */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		die("PR_SET_CHILD_SUBREAPER");
	if (!journal_listens())
		journal_fd = fake_journal();

	listen_fd = unix_socket(SOCK_STREAM, argv[2], &addr);
	(void)unlink(argv[2]);
	if (bind(listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		die("bind the bus socket");
	/* anyone may connect, as to the system bus; the policy decides the rest */
	if (chmod(argv[2], 0666) < 0)
		die("chmod the bus socket");
	if (listen(listen_fd, 64) < 0)
		die("listen");
	if (asprintf(&address, "unix:path=%s", argv[2]) < 0)
		die("asprintf");

	/* signals are read from a signalfd, from before the launcher exists */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &mask, &old_mask) < 0)
		die("sigprocmask");
	sig_fd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sig_fd < 0)
		die("signalfd");

	/* ready: the socket listens; stdout closes so a reader sees the end */
	printf("%s\n", address);
	if (fflush(stdout) != 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
		die("printing the address");

	launcher = fork();
	if (launcher < 0)
		die("fork");
	if (launcher == 0)
		exec_launcher(listen_fd, argv[1], address, &old_mask, supervisor);
	/* the launcher holds the socket now */
	close(listen_fd);
	free(address);
	return supervise(sig_fd, journal_fd, launcher);
}
