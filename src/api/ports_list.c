/* GET /api/sessions/{id}/ports: the ports of runtime.ports, each with whether a server
 * in the session's sandbox listens there (as /ports/ reaches it: on 127.0.0.1 or every
 * address), read from the sandbox's own /proc/net/tcp{,6}. See ports_int.h for the proxy. */
#include "ports_int.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/app.h"
#include "session/session.h"

#define PORTS_MAX 65536

/* The sandbox's network, checked to be the one the session reported (its init's pid
 * may have gone and been taken again). */
int ports_open_net(struct session *s, char *why, size_t n)
{
	int pid;
	uint64_t want;
	char path[64];
	struct stat st;
	if (session_sandbox_net(s, &pid, &want) < 0)
		return snprintf(why, n, "session %s has no running sandbox (a suspended session resumes with a "
			       "message)", session_id(s)), -1;
	snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || (uint64_t)st.st_ino != want) {
		if (fd >= 0)
			close(fd);
		return snprintf(why, n, "session %s's sandbox has just ended", session_id(s)), -1;
	}
	return fd;
}


/* Mark in listening[] the ports a socket of /proc/PID/net/tcp{,6} listens on where
 * 127.0.0.1 reaches it. */
static void scan(int pid, const char *file, unsigned char *listening)
{
	char path[64], line[512], local[64];
	unsigned port, state;
	snprintf(path, sizeof(path), "/proc/%d/net/%s", pid, file);
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, " %*u: %63[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x", local, &port, &state) != 3 ||
		    state != 0x0A || port >= PORTS_MAX)
			continue;
		bool any = local[strspn(local, "0")] == '\0';
		bool loop = strcmp(local, "0100007F") == 0 || strcmp(local, "0000000000000000FFFF00000100007F") == 0;
		if (any || loop)
			listening[port] = 1;
	}
	fclose(f);
}

enum MHD_Result api_session_ports(struct http_req *req)
{
	struct app *app = req->app;
	enum MHD_Result rc;
	_cleanup_session_ struct session *s = api_find_session(req, &rc);
	if (s == NULL)
		return rc;
	unsigned char *listening = calloc(PORTS_MAX, 1);
	if (listening == NULL)
		return http_reply_error(req, 503, HTTP_ERR_UNAVAILABLE, "out of memory");
	char why[200];
	int net = ports_open_net(s, why, sizeof(why)), pid;
	uint64_t ino;
	if (net >= 0 && session_sandbox_net(s, &pid, &ino) == 0) {
		scan(pid, "tcp", listening);
		scan(pid, "tcp6", listening);
		struct stat st;
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
		if (stat(path, &st) < 0 || (uint64_t)st.st_ino != ino)      /* read another's */
			memset(listening, 0, PORTS_MAX);
	}
	if (net >= 0)
		close(net);
	cJSON *j = cJSON_CreateObject();
	cJSON_AddBoolToObject(j, "sandbox", net >= 0);
	cJSON *list = cJSON_AddArrayToObject(j, "ports");
	for (char **p = app->cfg.runtime.ports; p != NULL && *p != NULL; p++) {
		unsigned port = (unsigned)atoi(*p);
		char path[160];
		snprintf(path, sizeof(path), "/api/sessions/%s/ports/%u/", session_id(s), port);
		cJSON *e = cJSON_CreateObject();
		cJSON_AddNumberToObject(e, "port", port);
		cJSON_AddBoolToObject(e, "listening", port < PORTS_MAX && listening[port]);
		cJSON_AddStringToObject(e, "path", path);
		cJSON_AddItemToArray(list, e);
	}
	free(listening);
	return http_reply_json(req, 200, j);
}
