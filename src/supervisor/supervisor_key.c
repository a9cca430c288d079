/* A new API key from the gateway (agentd reloaded it: SIGHUP): the relay takes it for
 * the next call, its own and the sandbox API server's (a call in flight keeps the key it
 * started with), and the copies of the old one in this process are wiped. The key is
 * never logged and goes no further than the relay. See include/ipc/protocol.h. */
#include <string.h>

#include "core/log.h"
#include "supervisor/relay.h"
#include "supervisor_int.h"

/* The frame's bytes as they came and the parsed copy hold the key: wiped once taken
 * (the decoder is done with those bytes; the payload is deleted by the caller). */
static void wipe_frame(struct supervisor *s, cJSON *key)
{
	frame_decoder_wipe_payload(s->gw_dec);
	if (cJSON_IsString(key))
		explicit_bzero(key->valuestring, strlen(key->valuestring));
}

int sup_api_key(struct supervisor *s, cJSON *payload, struct ad_err *err)
{
	cJSON *key = cJSON_GetObjectItemCaseSensitive(payload, "api_key");
	struct ad_err why;
	size_t n = cJSON_IsString(key) ? strlen(key->valuestring) : 0;
	int rc = 0;
	if (!cJSON_IsString(key) || n < CONFIG_API_KEY_MIN || n > CONFIG_API_KEY_MAX)
		rc = ad_err_set(err, 0, "an api_key frame without a key of %d to %d characters", CONFIG_API_KEY_MIN,
				CONFIG_API_KEY_MAX);
	else if (config_settings_check("anthropic.api_key", key->valuestring, &why) < 0)
		rc = ad_err_set(err, 0, "an api_key frame whose key %s", why.msg);
	if (rc == 0) {
		bool changed = relay_set_key(&s->relay, key->valuestring);
		/* the settings' copy, inherited from the spawner, is no one's to read now */
		char *inherited = s->env->cfg->anthropic.api_key;
		if (changed && inherited != NULL)
			explicit_bzero(inherited, strlen(inherited));
		log_info("the API key %s; the next model call uses it", changed ? "changed" : "is the same");
	}
	wipe_frame(s, key);
	return rc;
}
