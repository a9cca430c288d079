/* Dropping every capability, in a fixed order: securebits (so that root in the sandbox
 * gains nothing from exec), the bounding set, the ambient set, then effective, permitted
 * and inheritable (capset); last PR_SET_NO_NEW_PRIVS. */
#ifndef AGENTD_SANDBOX_CAPS_H
#define AGENTD_SANDBOX_CAPS_H

#include "core/err.h"

int sandbox_caps_drop_all(struct ad_err *err);

#endif
