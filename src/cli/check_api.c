/* `agentd check-api`: one small streaming call to the configured Messages API, to see
 * that the key, the base URL and the model work, and if not, why (the deployment
 * guide's troubleshooting cases: no key, key rejected, rate limited, unreachable). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "supervisor/claude_client.h"
#include "claude/stream.h"
#include "cli/cli.h"
#include "core/config.h"
#include "core/json.h"
#include "core/log.h"

/* Text deltas to stdout as they come; the whole message put together on the side. */
static int show(void *ctx, const char *event, const char *data, size_t len, struct ad_err *err)
{
	if (strcmp(event, "content_block_delta") == 0) {
		cJSON *j = cJSON_ParseWithLength(data, len);
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "delta");
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(d, "text");
		if (cJSON_IsString(t))
			fputs(t->valuestring, stdout), fflush(stdout);
		cJSON_Delete(j);
	}
	return claude_stream_event(ctx, event, data, len, err);
}

static char *request_body(const struct config *cfg, const char *text)
{
	cJSON *req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "model", cfg->anthropic.model);
	cJSON_AddNumberToObject(req, "max_tokens", 64);
	cJSON_AddBoolToObject(req, "stream", true);
	cJSON *msgs = cJSON_AddArrayToObject(req, "messages");
	cJSON *m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "role", "user");
	cJSON_AddStringToObject(m, "content", text);
	cJSON_AddItemToArray(msgs, m);
	char *body = json_print(req);
	cJSON_Delete(req);
	return body;
}

int cli_check_api(int argc, char **argv)
{
	const char *config = NULL, *env_file = NULL, *text = "Reply with the single word: ready";
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' }, { "env-file", required_argument, NULL, 'e' },
		{ "message", required_argument, NULL, 'm' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:e:m:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'e': env_file = optarg; break;
		case 'm': text = optarg; break;
		case 'h':
			printf("Usage: agentd check-api [--config FILE] [--env-file FILE] [--message TEXT]\n"
			       "Send one small request to the configured Messages API and say how it went.\n");
			return 0;
		default: return 2;
		}
	}
	struct config cfg;
	struct ad_err e;
	config_locate(&config, &env_file);
	log_setup(AD_LOG_INFO, false);
	if (config_load(&cfg, config, env_file, &e) < 0) {
		fprintf(stderr, "agentd: %s\n", e.msg);
		return 1;
	}
	int rc = 1;
	char *body = NULL;
	struct claude_stream *s = claude_stream_new(1u << 20);
	if (cfg.anthropic.api_key[0] == '\0') {
		fprintf(stderr, "agentd: no API key: set ANTHROPIC_API_KEY in the environment or in .env "
				"(see .env.example)\n");
	} else if ((body = request_body(&cfg, text)) != NULL && s != NULL) {
		struct claude_client client = {
			.base_url = cfg.anthropic.base_url, .api_key = cfg.anthropic.api_key,
			.timeout_s = (unsigned)cfg.anthropic.timeout_s, .max_retries = (unsigned)cfg.anthropic.max_retries,
			.abort_fd = -1,
		};
		struct claude_call call;
		if (claude_call(&client, body, show, s, &call) == 0) {
			const cJSON *m = claude_stream_message(s);
			const cJSON *u = cJSON_GetObjectItemCaseSensitive(m, "usage");
			const cJSON *in = cJSON_GetObjectItemCaseSensitive(u, "input_tokens");
			const cJSON *out = cJSON_GetObjectItemCaseSensitive(u, "output_tokens");
			const cJSON *stop = cJSON_GetObjectItemCaseSensitive(m, "stop_reason");
			printf("\nagentd: the API works: %s, %u attempt%s, request-id %s, stop_reason %s, "
			       "%d input and %d output tokens\n", cfg.anthropic.model, call.attempts,
			       call.attempts > 1 ? "s" : "", call.request_id,
			       cJSON_IsString(stop) ? stop->valuestring : "?",
			       cJSON_IsNumber(in) ? in->valueint : -1, cJSON_IsNumber(out) ? out->valueint : -1);
			rc = 0;
		} else {
			fprintf(stderr, "agentd: %s%s%s\n", call.message, call.request_id[0] ? "; request-id " : "",
				call.request_id);
		}
		claude_client_cleanup(&client);
	}
	free(body);
	claude_stream_free(s);
	config_free(&cfg);
	return rc;
}
