/* Frames over a socket: whole frames out, whatever has arrived in. */
#ifndef AGENTD_IPC_LINK_H
#define AGENTD_IPC_LINK_H

#include "ipc/frame.h"

/* Encode and write the whole frame (waiting for room on a non-blocking socket);
 * never raises SIGPIPE. */
int link_send(int fd, unsigned type, const cJSON *payload, struct ad_err *err);

/* link_send, then free payload. */
int link_send_take(int fd, unsigned type, cJSON *payload, struct ad_err *err);

/* One read of what is there, fed to the decoder: 0, or 1 at end of file (an error when
 * it cut a frame in half), or -1. EAGAIN counts as 0. */
int link_recv(int fd, struct frame_decoder *d, frame_fn fn, void *ctx, struct ad_err *err);

#endif
