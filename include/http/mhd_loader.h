/* libmicrohttpd is loaded when the HTTP server starts, not when agentd is exec'd.
 *
 * libmicrohttpd brings GnuTLS and eight more libraries with it. Every process agentd
 * starts that serves no HTTP (`agentd sandbox run`, and each sandbox's first process
 * before it execs) would pay for loading them: about 1 ms and 2.5 MiB of PSS each. So
 * the binary does not link it; mhd_loader.c defines the MHD_* functions agentd calls,
 * with the prototypes of <microhttpd.h>, each forwarding to the symbol found by
 * dlopen()/dlsym() here. */
#ifndef AGENTD_HTTP_MHD_LOADER_H
#define AGENTD_HTTP_MHD_LOADER_H

#include "core/err.h"

/* Load the library and resolve every function; idempotent; not thread-safe (call it
 * before the server's threads exist). */
int mhd_load(struct ad_err *err);

#endif
