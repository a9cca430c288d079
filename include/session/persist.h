/* What a hybrid session keeps on disk, under <state_dir>/sessions/<id>/:
 *
 *     session.json       who owns it, its pattern and defaults, turns, usage, the
 *                        transcript of its completed turns, and the generation of the
 *                        workspace snapshot that goes with them (replaced atomically)
 *     workspace.<N>.tar  /workspace as it was at save N (ipc/session_files.h: the
 *                        supervisor writes them)
 *     title              the name its owner gave it (UTF-8 text, replaced atomically
 *                        when it is given or changed; not tied to any save)
 *     workspace/         with workspaces on disk (sandbox/workspace.h), the workspace
 *                        itself, kept in place across suspends: every session has
 *                        this folder then, and only a hybrid's saved session.json
 *                        keeps it beyond its sandbox; its snapshots are not made
 *     workspace.img      the loop store's image of it
 *
 * Both are written after every completed turn, before the client gets the answer, and
 * at a suspend: the snapshot first, then session.json naming it; only then are older
 * snapshots removed. So a crash or kill -9 of the daemon, or a session.json that could
 * not be written, loses at most the last save, and what comes back is always a
 * transcript with the workspace saved with it. */
#ifndef AGENTD_SESSION_PERSIST_H
#define AGENTD_SESSION_PERSIST_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/config.h"
#include "core/err.h"

#define PERSIST_META_MAX (64u << 20)

int persist_save_meta(const char *state_dir, const char *id, const cJSON *meta, struct ad_err *err);
/* The metas of every saved session (NULL-free array; each entry with "id"); what
 * cannot be read is logged and skipped. */
cJSON *persist_load_all(const struct config *cfg);
/* The session's folder and everything in it go, its workspace on disk included
 * (sandbox/workspace.h): removed at once, or once a sandbox still using it ends. */
void persist_remove(const struct config *cfg, const char *id);
/* The session's title ("" removes it). */
int persist_save_title(const char *state_dir, const char *id, const char *title, struct ad_err *err);
/* The snapshots older than generation keep go (session.json names keep now). */
void persist_prune(const char *state_dir, const char *id, uint64_t keep);

#endif
