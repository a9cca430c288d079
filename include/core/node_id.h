/* Node names, and session ids that carry them.
 *
 * Several agentd hosts ("nodes") can serve behind one load balancer (README, "More than
 * one host"). Each has a name (node.name), and every session id it makes ends with it:
 *
 *     sess_<24 lowercase hex>.<node>          e.g. sess_5f0c1a2b3c4d5e6f708192a3.web-2
 *
 * so a balancer routes a session's requests by the part after the '.' (HAProxy's
 * field(2,.)) without any shared table. Ids made before ids named their node
 * ("sess_<hex>", no '.') belong to whichever node has them. */
#ifndef AGENTD_CORE_NODE_ID_H
#define AGENTD_CORE_NODE_ID_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

#define NODE_NAME_MAX 40
/* "sess_", 24 hex, '.', a node name, NUL */
#define NODE_SESSION_ID_MAX (5 + 24 + 1 + NODE_NAME_MAX + 1)

/* A node name: 1 to NODE_NAME_MAX of [a-z0-9-], not starting or ending with '-' (a DNS
 * label, and a name HAProxy can put in a backend's name). */
int node_name_check(const char *name, struct ad_err *err);
/* A node name made from a host name: its first label, lowercased, each run of other
 * characters ('_', say) one '-', none first or last, at most NODE_NAME_MAX ("node" when
 * nothing is left): a host whose name is no DNS label still starts. */
void node_name_from(const char *host, char out[NODE_NAME_MAX + 1]);
/* The default node name: node_name_from(the host name). */
int node_name_from_host(char out[NODE_NAME_MAX + 1], struct ad_err *err);

/* Whether id is a session id (either form); *node then points at its node part, or at ""
 * for an id that names none. */
bool node_id_parse(const char *id, const char **node);
/* A new session id for node, from 12 random bytes. */
void node_id_make(char out[NODE_SESSION_ID_MAX], const unsigned char rnd[12], const char *node);

#endif
