/* Inside the Streamable HTTP transport: the server's state and one HTTP exchange, shared
 * by the exchange itself (mcp_remote_http.c: libcurl, the response read, the sentences
 * for what went wrong) and the protocol over it (mcp_remote.c). */
#ifndef AGENTD_SUPERVISOR_MCP_REMOTE_INT_H
#define AGENTD_SUPERVISOR_MCP_REMOTE_INT_H

#include <curl/curl.h>

#include "supervisor/mcp_remote.h"

#define DEFAULT_TIMEOUT_S 30
#define CONNECT_TIMEOUT_MS 10000L
#define LINGER_MS 200            /* after the answer, for the server to end its stream */
#define SIDE_TIMEOUT_MS 5000L    /* an answer to the server's request, sent during a stream */
#define CANCEL_TIMEOUT_MS 1000L  /* telling the server that a request was given up on */

struct mcp_remote {
	char *name, *url;
	struct mcp_remote_headers conf;
	unsigned timeout_s, call_timeout_s;
	size_t max_output;
	CURL *curl;                  /* every request, so that the connection is reused */
	CURL *side;                  /* answers sent while curl reads a stream */
	bool answering;              /* side is in use */
	struct mcp_client *client;
	char session[MCP_SESSION_ID_MAX + 1];
	bool tools_changed;
	bool (*abort)(void *);       /* of the call under way */
	void *abort_ctx;
};

/* One HTTP exchange: a message sent, what came back. */
struct exchange {
	struct mcp_remote *r;
	CURL *curl;
	int64_t want;                /* the request's id; 0 for a notification or an answer */
	unsigned timeout_s;          /* the exchange's time limit */
	CURLcode rc;
	long status;
	char type[128];
	char session[MCP_SESSION_ID_MAX + 2];   /* one longer than allowed shows a longer one */
	char where[256];             /* a redirect's Location */
	char errbuf[CURL_ERROR_SIZE];
	struct mcp_remote_body *body;
	uint64_t answered_ns;
	bool aborted, failed;        /* failed: the body could not be read (err says why) */
	struct ad_err err;
	int got;                     /* 1: answer is the answer */
	struct mcp_msg answer;
	char words[MCP_REMOTE_WORDS_MAX + 1];   /* what the server said, for an error */
};

/* The configured header lines and ours, as libcurl takes them; and their wiping (they
 * may hold secrets) with the list's end. */
struct curl_slist *mcp_remote_header_list(const struct mcp_remote *r, const char *const *lines, size_t n);
void mcp_remote_wipe_list(struct curl_slist *h);
/* One POST of payload with headers h, its response read into x (the answer to x->want). */
void mcp_remote_transfer(struct exchange *x, const char *payload, size_t len, struct curl_slist *h, long timeout_ms);
/* msg POSTed on curl within timeout_ms: x says what came back (mcp_remote_release it). */
void mcp_remote_send(struct mcp_remote *r, CURL *curl, const cJSON *msg, long timeout_ms, struct exchange *x);
void mcp_remote_release(struct exchange *x);
/* Sentences for what an exchange came to: nothing usable over the network (0 when a
 * response came whole, or the answer did), an HTTP status that is not 2xx, a 2xx
 * without the answer; -1 with err. */
int mcp_remote_transport_failed(const struct mcp_remote *r, const struct exchange *x, const char *what,
				struct ad_err *err);
int mcp_remote_status_failed(const struct exchange *x, const char *what, struct ad_err *err);
int mcp_remote_not_answered(const struct exchange *x, const char *what, struct ad_err *err);

#endif
