/* libcurl is loaded when the first API call is made, not when agentd is exec'd.
 *
 * libcurl brings a TLS library, HTTP/2, SSH, LDAP, IDN and more: some fifteen
 * libraries that every exec of agentd (the sandbox's init among them) would load for
 * nothing. As for libmicrohttpd (http/mhd_loader.h), curl_loader.c defines the curl_*
 * functions agentd calls with <curl/curl.h>'s prototypes and forwards them to the
 * symbols dlopen()/dlsym() found. */
#ifndef AGENTD_SUPERVISOR_CURL_LOADER_H
#define AGENTD_SUPERVISOR_CURL_LOADER_H

#include "core/err.h"

/* Load libcurl, resolve every function, curl_global_init(); idempotent; call before
 * any thread that uses curl exists. */
int curl_load(struct ad_err *err);

#endif
