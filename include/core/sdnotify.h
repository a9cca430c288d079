/* systemd's readiness protocol (sd_notify(3)), spoken directly: one datagram to the
 * socket named by $NOTIFY_SOCKET ("@name" is an abstract socket). No-op when unset. */
#ifndef AGENTD_CORE_SDNOTIFY_H
#define AGENTD_CORE_SDNOTIFY_H

#include "core/err.h"

int sdnotify(const char *state, struct ad_err *err);

#endif
