#include "raw-client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

void client_free(Client *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	g_free(c);
}

Client *client_connect(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	Client *c = g_new0(Client, 1);

	c->next_id = 1;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	g_assert_cmpint(c->fd, >=, 0);
	g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
	g_assert_cmpint(connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
	return c;
}
