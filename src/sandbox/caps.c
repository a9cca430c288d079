/* Dropping capabilities: see include/sandbox/caps.h. */
#include "sandbox/caps.h"

#include <errno.h>
#include <linux/securebits.h>
#include <sys/capability.h>
#include <sys/prctl.h>

int sandbox_caps_drop_all(struct ad_err *err)
{
	/* Root without capabilities stays without them across exec, and setuid() cannot
	 * give them back; each bit locked so that nothing later undoes it. */
	unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
			     SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
			     SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
	if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) < 0)
		return ad_err_sys(err, "prctl PR_SET_SECUREBITS");
	/* cap_max_bits(): what this kernel knows, which may be more than our headers do */
	for (cap_value_t cap = 0; cap < (cap_value_t)cap_max_bits(); cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return ad_err_sys(err, "prctl PR_CAPBSET_DROP %d", cap);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return ad_err_sys(err, "prctl PR_CAP_AMBIENT_CLEAR_ALL");
	cap_t none = cap_init();
	if (none == NULL)
		return ad_err_sys(err, "cap_init");
	int rc = cap_set_proc(none);
	int saved = errno;
	cap_free(none);
	if (rc < 0)
		return ad_err_set(err, saved, "cap_set_proc (empty)");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return ad_err_sys(err, "prctl PR_SET_NO_NEW_PRIVS");
	return 0;
}
