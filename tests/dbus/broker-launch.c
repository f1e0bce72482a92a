/* broker-launch CONFIG SOCKET: run dbus-broker as a private bus for the
 * tests, listening on the unix socket SOCKET, with the bus configuration
 * CONFIG (dbus-daemon's XML format; <listen> is ignored).
 *
 * dbus-broker-launch is made for systemd: it takes its listening socket by
 * socket activation (LISTEN_FDS, fd 3), connects to the bus it serves as the
 * system (or user) bus, and logs to the journal socket, without which it
 * exits. Here the socket is made and handed over as systemd would, the bus is
 * named by DBUS_SYSTEM_BUS_ADDRESS, and, when no journal listens, a private
 * mount namespace gets a socket at the journal's path whose messages a child
 * copies to stderr. The socket listens before the launcher starts, so a
 * client may connect at once (it waits until the broker serves it).
 *
 * Runs as root (for the mount namespace). Ends with the launcher (the test
 * stops it with SIGTERM); the broker and the log child die with it. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
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

/* the journal's native protocol: KEY=VALUE lines; MESSAGE is what people read */
static void copy_log(int fd)
{
	static char buf[65536];

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
		char *line, *save = NULL;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0);
		buf[n] = 0;
		for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			if (strncmp(line, "MESSAGE=", 8) == 0)
				fprintf(stderr, "dbus-broker: %s\n", line + 8);
	}
}

/* a journal socket in a mount namespace of our own, read by a child */
static void fake_journal(void)
{
	struct sockaddr_un addr;
	int fd;
	pid_t pid;

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
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		copy_log(fd);
	}
	/* the child holds the socket; the launcher only connects to it */
	close(fd);
}

int main(int argc, char **argv)
{
	struct sockaddr_un addr;
	char pid_str[32];
	char *address;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: broker-launch CONFIG SOCKET\n");
		return 2;
	}
	if (!journal_listens())
		fake_journal();

	fd = unix_socket(SOCK_STREAM, argv[2], &addr);
	(void)unlink(argv[2]);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		die("bind the bus socket");
	/* anyone may connect, as to the system bus; the policy decides the rest */
	if (chmod(argv[2], 0666) < 0)
		die("chmod the bus socket");
	if (listen(fd, 64) < 0)
		die("listen");
	/* socket activation: the listening socket is fd 3, kept across exec */
	if (fd != 3) {
		if (dup2(fd, 3) < 0)
			die("dup2");
		close(fd);
	} else if (fcntl(3, F_SETFD, 0) < 0) {
		die("fcntl");
	}
	snprintf(pid_str, sizeof(pid_str), "%d", (int)getpid());
	if (asprintf(&address, "unix:path=%s", argv[2]) < 0)
		die("asprintf");
	setenv("LISTEN_FDS", "1", 1);
	setenv("LISTEN_PID", pid_str, 1);
	unsetenv("LISTEN_FDNAMES");
	unsetenv("NOTIFY_SOCKET");
	/* the launcher connects to the bus it serves as "the system bus" */
	setenv("DBUS_SYSTEM_BUS_ADDRESS", address, 1);
	execlp("dbus-broker-launch", "dbus-broker-launch", "--scope", "system", "--config-file",
	       argv[1], (char *)NULL);
	die("exec dbus-broker-launch");
}
