/* Inside the config module: storing one value of one setting (config_value.c), shared
 * by the loader (config.c). Not for other modules. */
#ifndef AGENTD_CORE_CONFIG_VALUE_H
#define AGENTD_CORE_CONFIG_VALUE_H

#include <cjson/cJSON.h>

#include "core/config.h"

void *config_field(struct config *cfg, const struct setting *s);
/* Store a value given as text (defaults, environment, JSON strings). */
int config_apply_text(struct config *cfg, const struct setting *s, const char *text,
		      const char *base_dir, struct ad_err *err);
/* Store a value given as JSON (the config file). */
int config_apply_json(struct config *cfg, const struct setting *s, const cJSON *v,
		      const char *base_dir, struct ad_err *err);
void config_list_free(char **list);

#endif
