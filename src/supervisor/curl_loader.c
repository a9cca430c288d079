/* libcurl through dlopen(): see include/claude/curl_loader.h. */
#define CURL_DISABLE_TYPECHECK   /* we define curl_easy_setopt/getinfo, not call them */
#include "supervisor/curl_loader.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stddef.h>

#include <curl/curl.h>

#include "core/cleanup.h"
#include "core/dlload.h"

#ifndef CURL_SONAME
#define CURL_SONAME "libcurl.so.4"
#endif

static struct {
	__typeof__(&curl_global_init) global_init;
	__typeof__(&curl_easy_init) easy_init;
	__typeof__(&curl_easy_setopt) easy_setopt;
	__typeof__(&curl_easy_perform) easy_perform;
	__typeof__(&curl_easy_getinfo) easy_getinfo;
	__typeof__(&curl_easy_cleanup) easy_cleanup;
	__typeof__(&curl_easy_reset) easy_reset;
	__typeof__(&curl_easy_strerror) easy_strerror;
	__typeof__(&curl_slist_append) slist_append;
	__typeof__(&curl_slist_free_all) slist_free_all;
	__typeof__(&curl_url) url;
	__typeof__(&curl_url_set) url_set;
	__typeof__(&curl_url_get) url_get;
	__typeof__(&curl_url_cleanup) url_cleanup;
	__typeof__(&curl_free) free;
} api;

static const struct dl_symbol symbols[] = {
#define SYM(field, name) { name, offsetof(__typeof__(api), field) }
	SYM(global_init, "curl_global_init"),
	SYM(easy_init, "curl_easy_init"),
	SYM(easy_setopt, "curl_easy_setopt"),
	SYM(easy_perform, "curl_easy_perform"),
	SYM(easy_getinfo, "curl_easy_getinfo"),
	SYM(easy_cleanup, "curl_easy_cleanup"),
	SYM(easy_reset, "curl_easy_reset"),
	SYM(easy_strerror, "curl_easy_strerror"),
	SYM(slist_append, "curl_slist_append"),
	SYM(slist_free_all, "curl_slist_free_all"),
	SYM(url, "curl_url"),
	SYM(url_set, "curl_url_set"),
	SYM(url_get, "curl_url_get"),
	SYM(url_cleanup, "curl_url_cleanup"),
	SYM(free, "curl_free"),
#undef SYM
};

int curl_load(struct ad_err *err)
{
	static void *handle;
	if (handle != NULL)
		return 0;
	void *h = dl_load(CURL_SONAME, "libcurl4", symbols, ARRAY_SIZE(symbols), &api, err);
	if (h == NULL)
		return -1;
	CURLcode rc = api.global_init(CURL_GLOBAL_DEFAULT);
	if (rc != CURLE_OK) {
		ad_err_set(err, 0, "curl_global_init: %s", api.easy_strerror(rc));
		dlclose(h);
		return -1;
	}
	handle = h;
	return 0;
}

/* The forwarders, with <curl/curl.h>'s prototypes. */

CURLcode curl_global_init(long flags)
{
	return api.global_init(flags);
}

CURL *curl_easy_init(void)
{
	return api.easy_init();
}

/* One argument follows the option, its type given by the option's range (the same
 * rule libcurl itself reads it by). */
CURLcode curl_easy_setopt(CURL *curl, CURLoption option, ...)
{
	va_list ap;
	CURLcode rc;
	va_start(ap, option);
	if (option < CURLOPTTYPE_OBJECTPOINT)
		rc = api.easy_setopt(curl, option, va_arg(ap, long));
	else if (option < CURLOPTTYPE_FUNCTIONPOINT)
		rc = api.easy_setopt(curl, option, va_arg(ap, void *));
	else if (option < CURLOPTTYPE_OFF_T)
		rc = api.easy_setopt(curl, option, va_arg(ap, void (*)(void)));
	else if (option < CURLOPTTYPE_BLOB)
		rc = api.easy_setopt(curl, option, va_arg(ap, curl_off_t));
	else
		rc = api.easy_setopt(curl, option, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

CURLcode curl_easy_perform(CURL *curl)
{
	return api.easy_perform(curl);
}

/* Every CURLINFO takes a pointer to where the answer goes. */
CURLcode curl_easy_getinfo(CURL *curl, CURLINFO info, ...)
{
	va_list ap;
	va_start(ap, info);
	CURLcode rc = api.easy_getinfo(curl, info, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

void curl_easy_cleanup(CURL *curl)
{
	api.easy_cleanup(curl);
}

void curl_easy_reset(CURL *curl)
{
	api.easy_reset(curl);
}

const char *curl_easy_strerror(CURLcode code)
{
	return api.easy_strerror(code);
}

struct curl_slist *curl_slist_append(struct curl_slist *list, const char *string)
{
	return api.slist_append(list, string);
}

void curl_slist_free_all(struct curl_slist *list)
{
	api.slist_free_all(list);
}

CURLU *curl_url(void)
{
	return api.url();
}

CURLUcode curl_url_set(CURLU *u, CURLUPart part, const char *content, unsigned int flags)
{
	return api.url_set(u, part, content, flags);
}

CURLUcode curl_url_get(CURLU *u, CURLUPart part, char **content, unsigned int flags)
{
	return api.url_get(u, part, content, flags);
}

void curl_url_cleanup(CURLU *u)
{
	api.url_cleanup(u);
}

void curl_free(void *p)
{
	api.free(p);
}
