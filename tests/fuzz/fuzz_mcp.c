/* Fuzz target for what agentd reads from an MCP server (include/mcp/mcp.h): one message
 * (mcp_read), and when it is a result, that result as a tools/list page (the toolset)
 * and as a tools/call result (mcp_tool_result). Besides "no crash, no sanitizer
 * report" it checks that a tool result is an array whose blocks are text or image and
 * whose text stays within the cap. Built with libFuzzer by `make fuzz`, and with
 * tests/fuzz/replay.c into a program that `make test` runs over the corpus. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/mcp.h"

#define CAP 4096

static void check_content(const cJSON *content)
{
	const cJSON *b;
	size_t text = 0;
	if (!cJSON_IsArray(content))
		abort();
	cJSON_ArrayForEach(b, content) {
		const cJSON *type = cJSON_GetObjectItemCaseSensitive(b, "type");
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(b, "text");
		if (!cJSON_IsString(type) || (strcmp(type->valuestring, "text") != 0 && strcmp(type->valuestring, "image") != 0))
			abort();
		if (cJSON_IsString(t))
			text += strlen(t->valuestring);
	}
	if (text > CAP + 1024)          /* the cap, and the note that says what was cut */
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ad_err e;
	struct mcp_client *c = mcp_client_new(MCP_ERA_LEGACY);
	cJSON *req = c ? mcp_req_tools_list(c, NULL, &e) : NULL;   /* id 1 in flight */
	struct mcp_msg m;
	if (req != NULL && mcp_read(c, (const char *)data, size, &m, &e) == 0) {
		const cJSON *result;
		if (mcp_result_of(&m, 1, &result, &e) == 0) {
			struct mcp_toolset *ts = mcp_toolset_new();
			const char *cursor;
			if (ts != NULL && mcp_toolset_begin(ts, "fuzz", &e) == 0 &&
			    mcp_toolset_page(ts, "fuzz", result, &cursor, &e) == 0)
				cJSON_Delete(mcp_toolset_defs(ts));
			mcp_toolset_free(ts);
			cJSON *content = NULL;
			bool is_error;
			if (mcp_tool_result(result, CAP, &content, &is_error, &e) == 0)
				check_content(content);
			cJSON_Delete(content);
		}
		mcp_msg_free(&m);
	}
	cJSON_Delete(req);
	mcp_client_free(c);
	return 0;
}
