/* Loading a library with dlopen() and filling a table of its functions: the heavy
 * optional libraries (libmicrohttpd, libcurl) come in only when a process needs them. */
#ifndef AGENTD_CORE_DLLOAD_H
#define AGENTD_CORE_DLLOAD_H

#include <stddef.h>

#include "core/err.h"

struct dl_symbol {
	const char *name;
	size_t offset;           /* where its address goes in the table */
};

/* dlopen soname and store every symbol's address in table; nothing is kept on failure.
 * package names what to install when the library is missing. */
void *dl_load(const char *soname, const char *package, const struct dl_symbol *syms, size_t n,
	      void *table, struct ad_err *err);

#endif
