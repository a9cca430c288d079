/* Dropping capabilities: see include/sandbox/caps.h. */
#include "sandbox/caps.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int sandbox_caps_drop_all(struct ad_err *err)
{
	/* Root without capabilities stays without them across exec, and setuid() cannot
	 * give them back; each bit locked so that nothing later undoes it. */
	unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
			     SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
			     SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
	if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) < 0)
		return ad_err_sys(err, "prctl PR_SET_SECUREBITS");
	/* Every capability this kernel knows, which may be more than our headers do: up
	 * to the first it calls invalid (EINVAL; a known one may only fail with EPERM). */
	for (int cap = 0;; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL && cap > CAP_CHOWN)
				break;
			return ad_err_sys(err, "prctl PR_CAPBSET_DROP %d", cap);
		}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return ad_err_sys(err, "prctl PR_CAP_AMBIENT_CLEAR_ALL");
	/* effective, permitted and inheritable all empty (no libcap: one library fewer
	 * for agentd sandbox run to load) */
	struct __user_cap_header_struct head = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3] = { { 0 } };
	if (syscall(SYS_capset, &head, none) < 0)
		return ad_err_sys(err, "capset (empty)");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return ad_err_sys(err, "prctl PR_SET_NO_NEW_PRIVS");
	return 0;
}
