/* Config-change notices on the frontends' backend channels, without ever
 * waiting on a frontend. See backend-channel.h for why this is safe next to
 * DPDK. */
#include "backend-channel.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* vhost-user specification, "Back-end message types" */
#define VU_BACKEND_CONFIG_CHANGE_MSG 2u
#define VU_VERSION 0x1u

struct vu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
} __attribute__((packed));

typedef struct {
	int fd;               /* our dup */
	char label[32];
	gint64 last_warn;     /* monotonic, of the last warning about drops */
	unsigned quiet;       /* drops since then */
} Channel;

/* conn -> Channel *; NULL while empty */
static GMutex lock;
static GHashTable *channels;

static void channel_free(Channel *c)
{
	close(c->fd);
	g_free(c);
}

gboolean backend_channel_set(int conn, int fd, const char *label)
{
	struct stat st;
	Channel *c;
	int copy;

	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		g_warning("%s: the backend channel the frontend sent is not a socket; "
			  "config-change notices will not reach it", label);
		backend_channel_clear(conn);
		return FALSE;
	}
	copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (copy < 0) {
		g_warning("%s: cannot keep the backend channel (%s); config-change notices will "
			  "not reach the frontend", label, g_strerror(errno));
		backend_channel_clear(conn);
		return FALSE;
	}
	c = g_new0(Channel, 1);
	c->fd = copy;
	g_strlcpy(c->label, label, sizeof(c->label));
	g_mutex_lock(&lock);
	if (!channels)
		channels = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
						 (GDestroyNotify)channel_free);
	g_hash_table_replace(channels, GINT_TO_POINTER(conn), c);
	g_mutex_unlock(&lock);
	return TRUE;
}

/* caller holds lock */
static void remove_locked(int conn)
{
	if (!channels)
		return;
	g_hash_table_remove(channels, GINT_TO_POINTER(conn));
	if (g_hash_table_size(channels) == 0)
		g_clear_pointer(&channels, g_hash_table_unref);
}

void backend_channel_clear(int conn)
{
	g_mutex_lock(&lock);
	remove_locked(conn);
	g_mutex_unlock(&lock);
}

/* caller holds lock: a full channel, said once per BACKEND_CHANNEL_WARN_SECONDS */
static void warn_dropped(Channel *c)
{
	gint64 now = g_get_monotonic_time();

	if (c->last_warn && now - c->last_warn < BACKEND_CHANNEL_WARN_SECONDS * G_TIME_SPAN_SECOND) {
		c->quiet++;
		return;
	}
	if (c->quiet)
		g_warning("%s: config-change notice dropped: the frontend does not read its backend "
			  "channel (%u more dropped in the last %d s)", c->label, c->quiet,
			  BACKEND_CHANNEL_WARN_SECONDS);
	else
		g_warning("%s: config-change notice dropped: the frontend does not read its backend "
			  "channel (the notices it has not read tell it the same)", c->label);
	c->last_warn = now;
	c->quiet = 0;
}

int backend_channel_config_changed(int conn)
{
	struct vu_hdr hdr = { .request = VU_BACKEND_CONFIG_CHANGE_MSG, .flags = VU_VERSION };
	Channel *c;
	ssize_t n;
	int r = 0;

	g_mutex_lock(&lock);
	c = channels ? g_hash_table_lookup(channels, GINT_TO_POINTER(conn)) : NULL;
	if (!c) {
		g_mutex_unlock(&lock);
		return -ENOTCONN;
	}
	/* MSG_DONTWAIT: the lock and the caller never wait on the frontend */
	n = send(c->fd, &hdr, sizeof(hdr), MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n == (ssize_t)sizeof(hdr)) {
		r = 0;
	} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		warn_dropped(c);
		r = -EAGAIN;
	} else {
		/* gone, or a short write that left the stream out of step:
		 * no more notices on this channel */
		r = n < 0 ? -errno : -EPROTO;
		g_warning("%s: the backend channel broke (%s); no more config-change notices "
			  "until the frontend sends a new one", c->label,
			  n < 0 ? g_strerror(errno) : "short write");
		remove_locked(conn);
	}
	g_mutex_unlock(&lock);
	return r;
}
