/* A TCP connection to the API opened ahead of the first model call: see
 * claude_client_preconnect() in include/supervisor/claude_client.h. */
#include "supervisor/claude_client.h"
#include "warm.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"

/* Servers close connections that stay silent; past this age one is not trusted. */
#define WARM_MAX_AGE_MS 20000
/* A sandbox that waits replaces its connection at this age, well before the above. */
#define WARM_REFRESH_MS (WARM_MAX_AGE_MS / 2)
/* A connection still being made when the first call comes gets this long. */
#define WARM_CONNECT_WAIT_MS 1000

struct claude_warm {
	int fd;
	uint64_t since_ms;
};

/* Host and port of an http(s) URL, into host and port; -1 when it is not one we can
 * connect to ahead (another scheme, user info). */
static int host_port(const char *url, char *host, size_t hsize, char *port, size_t psize)
{
	const char *p;
	const char *dflt = NULL;
	if (strncmp(url, "http://", 7) == 0)
		p = url + 7, dflt = "80";
	else if (strncmp(url, "https://", 8) == 0)
		p = url + 8, dflt = "443";
	else
		return -1;
	size_t alen = strcspn(p, "/?#");
	if (memchr(p, '@', alen) != NULL || alen == 0)
		return -1;
	const char *end = p + alen, *colon;
	if (*p == '[') {
		const char *close = memchr(p, ']', alen);
		if (close == NULL || (size_t)(close - p - 1) >= hsize)
			return -1;
		snprintf(host, hsize, "%.*s", (int)(close - p - 1), p + 1);
		colon = close + 1 < end && close[1] == ':' ? close + 1 : NULL;
	} else {
		colon = memchr(p, ':', alen);
		size_t hlen = (size_t)((colon ? colon : end) - p);
		if (hlen >= hsize)
			return -1;
		snprintf(host, hsize, "%.*s", (int)hlen, p);
	}
	if (colon != NULL && (size_t)(end - colon - 1) < psize && end > colon + 1)
		snprintf(port, psize, "%.*s", (int)(end - colon - 1), colon + 1);
	else
		snprintf(port, psize, "%s", dflt);
	return 0;
}

/* curl would go through a proxy: a connection to the API itself would be the wrong one. */
static bool proxied(void)
{
	static const char *const vars[] = { "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY",
					    "all_proxy" };
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i]);
		if (v != NULL && v[0] != '\0')
			return true;
	}
	return false;
}

void claude_client_preconnect(struct claude_client *c)
{
	char host[256], port[16];
	if (c->warm != NULL || c->handle != NULL || proxied() ||
	    host_port(c->base_url, host, sizeof(host), port, sizeof(port)) < 0)
		return;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai = NULL;
	int rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0) {
		log_debug("claude: no connection ahead to %s:%s: %s", host, port, gai_strerror(rc));
		return;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0 || (c->warm = malloc(sizeof(*c->warm))) == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	*c->warm = (struct claude_warm){ fd, clock_mono_ms() };
}

int claude_client_warm_due_ms(const struct claude_client *c)
{
	if (c->warm == NULL)
		return -1;
	uint64_t age = clock_mono_ms() - c->warm->since_ms;
	return age >= WARM_REFRESH_MS ? 0 : (int)(WARM_REFRESH_MS - age);
}

void claude_client_warm_refresh(struct claude_client *c)
{
	if (claude_client_warm_due_ms(c) != 0)
		return;
	warm_close(c);
	claude_client_preconnect(c);
}

void warm_close(struct claude_client *c)
{
	if (c->warm == NULL)
		return;
	close(c->warm->fd);
	free(c->warm);
	c->warm = NULL;
}

/* Connected, and nothing came from the server: not a byte, not a hang-up. */
static bool still_good(int fd)
{
	struct pollfd p = { fd, POLLOUT | POLLIN | POLLRDHUP, 0 };
	if (poll(&p, 1, WARM_CONNECT_WAIT_MS) != 1 || (p.revents & (POLLIN | POLLRDHUP | POLLERR | POLLHUP)) ||
	    !(p.revents & POLLOUT))
		return false;
	int err = 0;
	socklen_t len = sizeof(err);
	return getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
}

static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *addr)
{
	struct warm_use *u = ud;
	if (purpose == CURLSOCKTYPE_IPCXN && u->fd >= 0) {
		u->given = u->fd;
		u->fd = -1;                   /* curl's now: it closes it */
		return u->given;
	}
	return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

static int socket_options(void *ud, curl_socket_t fd, curlsocktype purpose)
{
	const struct warm_use *u = ud;
	return fd == u->given ? CURL_SOCKOPT_ALREADY_CONNECTED : CURL_SOCKOPT_OK;
}

void warm_apply(struct claude_client *c, CURL *curl, struct warm_use *u)
{
	u->fd = u->given = -1;
	if (c->warm == NULL)
		return;
	struct claude_warm w = *c->warm;
	free(c->warm);
	c->warm = NULL;
	if (clock_mono_ms() - w.since_ms > WARM_MAX_AGE_MS || !still_good(w.fd)) {
		close(w.fd);
		return;
	}
	u->fd = w.fd;
	curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, u);
	curl_easy_setopt(curl, CURLOPT_SOCKOPTFUNCTION, socket_options);
	curl_easy_setopt(curl, CURLOPT_SOCKOPTDATA, u);
}

void warm_release(struct warm_use *u)
{
	if (u->fd >= 0)
		close(u->fd);
	u->fd = -1;
}
