/* A new API key for the sessions (sessions_rekey() in include/session/session.h).
 *
 * The registry's key lock, taken for writing, keeps any spawn from falling between the
 * two halves: a spawn request that reached the spawner before the key has its link by
 * now, and gets the key over it; one after it is forked with the key. */
#include "session_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "ipc/frame.h"
#include "session/hub.h"
#include "supervisor/spawner.h"

/* Under the key lock: the key to every session with a link. */
static unsigned send_all(struct sessions *reg, const cJSON *payload)
{
	size_t n = 0;
	unsigned sent = 0;
	struct session **all = registry_all(reg, &n);
	for (size_t i = 0; i < n; i++) {
		struct session *s = all[i];
		struct ad_err e;
		pthread_mutex_lock(&s->lock);
		if (s->link != NULL && hub_link_send(s->link, FRAME_API_KEY, payload, &e) == 0)
			sent++;
		else if (s->link != NULL)
			session_log(s, AD_LOG_WARN, "the new API key could not be sent: %s", e.msg);
		pthread_mutex_unlock(&s->lock);
		session_unref(s);
	}
	free(all);
	return sent;
}

int sessions_rekey(struct sessions *reg, const char *key, unsigned *sent, struct ad_err *err)
{
	*sent = 0;
	cJSON *payload = cJSON_CreateObject();
	cJSON *k = cJSON_AddStringToObject(payload, "api_key", key);
	if (k == NULL) {
		cJSON_Delete(payload);
		return ad_err_set(err, ENOMEM, "the key");
	}
	pthread_rwlock_wrlock(&reg->key_lock);
	int rc = spawner_set_key(reg->spawner, key, err);
	if (rc == 0)
		*sent = send_all(reg, payload);
	pthread_rwlock_unlock(&reg->key_lock);
	explicit_bzero(k->valuestring, strlen(k->valuestring));
	cJSON_Delete(payload);
	return rc;
}
