/* dlopen() with a table of functions: see include/core/dlload.h. */
#include "core/dlload.h"

#include <dlfcn.h>

void *dl_load(const char *soname, const char *package, const struct dl_symbol *syms, size_t n,
	      void *table, struct ad_err *err)
{
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		ad_err_set(err, 0, "cannot load %s (install %s): %s", soname, package, dlerror());
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		void *fn = dlsym(h, syms[i].name);
		if (fn == NULL) {
			ad_err_set(err, 0, "%s has no %s: too old?", soname, syms[i].name);
			dlclose(h);
			return NULL;
		}
		*(void **)((char *)table + syms[i].offset) = fn;
	}
	return h;
}
