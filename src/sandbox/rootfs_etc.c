/* The sandbox's /etc: written for it, not copied. Of the host's /etc only what tools
 * need and holds no secret is bound, read-only: the CA certificates, the dynamic
 * linker's cache, and /etc/alternatives (Debian's symlinks behind awk, editor, pager,
 * ...; without them those commands vanish). */
#include <stdio.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "sandbox/rootfs.h"

static const char *const host_etc_ro[] = { "ssl/certs", "ld.so.cache", "alternatives" };

int rootfs_etc(const char *root, const struct sandbox_policy *p, struct ad_err *err)
{
	char dir[64], path[128], text[512];
	snprintf(dir, sizeof(dir), "%s/etc", root);
	if (fs_mkdir_p(dir, 0755, err) < 0)
		return -1;
	static const struct {
		const char *name;
		const char *text;
	} files[] = {
		{ "passwd", "root:x:0:0:sandbox user:/workspace:/bin/bash\n"
			    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n" },
		{ "group", "root:x:0:\nnogroup:x:65534:\n" },
		{ "nsswitch.conf", "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n" },
		/* No network but loopback: a lookup fails at once instead of timing out. */
		{ "resolv.conf", "# The sandbox has no network of its own.\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i].name);
		if (rootfs_write_file(path, files[i].text, err) < 0)
			return -1;
	}
	snprintf(path, sizeof(path), "%s/hostname", dir);
	snprintf(text, sizeof(text), "%s\n", p->hostname);
	if (rootfs_write_file(path, text, err) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/hosts", dir);
	snprintf(text, sizeof(text), "127.0.0.1\tlocalhost %s\n::1\tlocalhost ip6-localhost ip6-loopback\n",
		 p->hostname);
	if (rootfs_write_file(path, text, err) < 0)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(host_etc_ro); i++) {
		char src[64];
		snprintf(src, sizeof(src), "/etc/%s", host_etc_ro[i]);
		snprintf(path, sizeof(path), "%s/%s", dir, host_etc_ro[i]);
		if (access(src, F_OK) == 0 && rootfs_bind(src, path, 0, err) < 0)
			return -1;
	}
	return 0;
}
