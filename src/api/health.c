/* GET /api/health: liveness, version, uptime and what the sandbox self-check found. */
#include <time.h>

#include "api/app.h"
#include "core/clock.h"
#include "http/sse_out.h"
#include "session/session.h"

enum MHD_Result api_health(struct http_req *req)
{
	struct app *app = req->app;
	uint64_t now = clock_mono_ns();

	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "status", app->probe.ready ? "ok" : "degraded");
	cJSON_AddStringToObject(root, "version", AGENTD_VERSION);
	/* a load balancer's check sends no new sessions to a node that says "draining": true */
	cJSON_AddItemToObject(root, "node", api_node_json(req));
	cJSON_AddNumberToObject(root, "uptime_s", (double)((now - app->start_ns) / 1000000000u));
	cJSON_AddItemToObject(root, "sandbox", sandbox_probe_json(&app->probe));
	cJSON *ws = workspace_host_json(&app->workspaces);
	uint64_t bytes = 0, files = 0;
	sessions_disk_usage(app->sessions, &bytes, &files);
	cJSON_AddNumberToObject(ws, "disk_bytes", (double)bytes);
	cJSON_AddNumberToObject(ws, "disk_files", (double)files);
	cJSON_AddItemToObject(root, "workspaces", ws);
	cJSON *sessions = cJSON_AddObjectToObject(root, "sessions");
	cJSON_AddNumberToObject(sessions, "alive", sessions_count(app->sessions, NULL));
	cJSON_AddItemToObject(sessions, "pool", sessions_pool_json(app->sessions));
	cJSON *http = cJSON_AddObjectToObject(root, "http");
	cJSON_AddNumberToObject(http, "events_queued_bytes", (double)sse_out_queued_total());
	cJSON_AddNumberToObject(http, "events_clients_dropped", (double)sse_out_dropped_total());
	/* a page asks for a token before its first request, not after a 401 */
	cJSON_AddBoolToObject(cJSON_AddObjectToObject(root, "auth"), "token_required", api_token_required(app));
	cJSON *api = cJSON_AddObjectToObject(root, "anthropic");
	cJSON_AddBoolToObject(api, "api_key_configured", atomic_load(&app->api_key_set));
	char at[32];
	time_t loaded = (time_t)atomic_load(&app->key_loaded_at);
	struct tm tm;
	if (gmtime_r(&loaded, &tm) != NULL && strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
		cJSON_AddStringToObject(api, "key_loaded_at", at);   /* a reload took: it moves */
	cJSON_AddStringToObject(api, "base_url", app->cfg.anthropic.base_url);
	/* what a new session may run (runtime.allow): a page offers these */
	cJSON *runtimes = cJSON_AddArrayToObject(root, "runtimes");
	for (char **r = app->cfg.runtime.allow; r != NULL && *r != NULL; r++)
		cJSON_AddItemToArray(runtimes, cJSON_CreateString(*r));
	return http_reply_json(req, 200, root);
}
