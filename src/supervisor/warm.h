/* Between the client (client.c) and the connection it may find opened ahead of its
 * first call (preconnect.c). */
#ifndef AGENTD_CLAUDE_WARM_H
#define AGENTD_CLAUDE_WARM_H

#include <curl/curl.h>

#include "supervisor/claude_client.h"

struct warm_use {
	int fd;                       /* to hand to curl as this attempt's first socket, or -1 */
	int given;                    /* the one handed, or -1 */
};

/* Before an attempt: when a connection opened ahead is still good, set up curl (after
 * curl_easy_reset) to take it as its first socket. The client's connection goes either
 * way: it serves one call at most. */
void warm_apply(struct claude_client *c, CURL *curl, struct warm_use *u);
/* After the attempt: close the connection if curl did not take it. */
void warm_release(struct warm_use *u);
/* The client's connection opened ahead, if any, closed (claude_client_cleanup). */
void warm_close(struct claude_client *c);

#endif
