/* The sandbox's init (src/sandbox/tiny_init/init.c), a small static program built with
 * agentd and embedded in it, as a sealed memfd that every sandbox executes as its PID 1.
 *
 * The memfd is made once per process and kept (close-on-exec): make it before forking
 * the processes that build sandboxes (the spawner, before its supervisors), so that they
 * share one copy of its pages. Its seals (no write, grow, shrink, or further seal) keep
 * anyone, inside a sandbox or out, from changing it. */
#ifndef AGENTD_SANDBOX_INIT_IMAGE_H
#define AGENTD_SANDBOX_INIT_IMAGE_H

#include <stddef.h>

#include "core/err.h"

/* The memfd, made on the first call. */
int sandbox_init_image_fd(struct ad_err *err);

/* The program's bytes, as built. */
const unsigned char *sandbox_init_image(size_t *size);

#endif
