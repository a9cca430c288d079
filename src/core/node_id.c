/* Node names and the session ids that carry them: see include/core/node_id.h. */
#include "core/node_id.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static bool name_ok(const char *name, size_t n)
{
	if (n == 0 || n > NODE_NAME_MAX || name[0] == '-' || name[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') || name[i] == '-'))
			return false;
	return true;
}

int node_name_check(const char *name, struct ad_err *err)
{
	if (!name_ok(name, strlen(name)))
		return ad_err_set(err, 0, "\"%s\" is not a node name: 1 to %d of a-z, 0-9 and '-' (not first or "
				  "last), as in a DNS label", name, NODE_NAME_MAX);
	return 0;
}

void node_name_from(const char *host, char out[NODE_NAME_MAX + 1])
{
	size_t n = 0;
	for (const char *p = host; *p != '\0' && *p != '.' && n < NODE_NAME_MAX; p++) {
		char c = (char)tolower((unsigned char)*p);
		bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (ok || (n > 0 && out[n - 1] != '-'))
			out[n++] = ok ? c : '-';
	}
	while (n > 0 && out[n - 1] == '-')
		n--;
	out[n] = '\0';
	if (n == 0)
		snprintf(out, NODE_NAME_MAX + 1, "node");
}

int node_name_from_host(char out[NODE_NAME_MAX + 1], struct ad_err *err)
{
	char host[256] = "";
	if (gethostname(host, sizeof(host) - 1) < 0)
		return ad_err_sys(err, "gethostname");
	node_name_from(host, out);
	return 0;
}

bool node_id_parse(const char *id, const char **node)
{
	if (strncmp(id, "sess_", 5) != 0)
		return false;
	size_t hex = strspn(id + 5, "0123456789abcdef");
	const char *rest = id + 5 + hex;
	if (hex == 0 || hex > 48)
		return false;
	if (*rest == '\0') {
		*node = rest;             /* made before ids named their node */
		return true;
	}
	*node = rest + 1;
	return *rest == '.' && name_ok(rest + 1, strlen(rest + 1));
}

void node_id_make(char out[NODE_SESSION_ID_MAX], const unsigned char rnd[12], const char *node)
{
	int n = snprintf(out, NODE_SESSION_ID_MAX, "sess_");
	for (size_t i = 0; i < 12; i++)
		n += snprintf(out + n, (size_t)(NODE_SESSION_ID_MAX - n), "%02x", rnd[i]);
	snprintf(out + n, (size_t)(NODE_SESSION_ID_MAX - n), ".%s", node);
}
