/*
 * ooblex_scripts.h - the Lua the workers run inside Redis for the reliable
 * hand-off of frames (ooblex_keys.h).
 *
 * Owns: the text of the two scripts that make the hand-off atomic, and
 * what their KEYS and ARGV are. They are part of the contract: any worker
 * reaps any other's frames, so every worker must run the same scripts, and
 * the reap script reads the frame's deadline inside Redis at the wire
 * header's offsets, which it takes from ooblex_wire.h (OOBLEX_WIRE_OFF_*,
 * pinned by tests/unit/test_wire.c): one change of the header moves it too.
 * Sent with EVAL (a few hundred bytes, once per reap or batch).
 */
#ifndef OOBLEX_SCRIPTS_H
#define OOBLEX_SCRIPTS_H

#include "ooblex_wire.h"

/* Moves what a dead worker left in its processing list back to the front
 * of its queue, or counts it as stale when its deadline (wire header,
 * OOBLEX_WIRE_OFF_DEADLINE_US, u64 µs) has passed. Atomic, so several
 * reapers never move a frame twice, and it does nothing while the owner's
 * liveness key exists. A message too short or without the magic has no
 * deadline: it goes back (the worker that takes it counts it malformed).
 * KEYS: processing list, liveness key, queue, stale counter. ARGV: now (µs).
 * Returns {moved back, counted stale}. */
extern const char ooblex_script_reap[];

/* Completion: the results go out and the batch's frames leave the
 * processing list only if the list still holds every frame of the batch.
 * If a reaper took the frames back (the liveness key lapsed: a stalled
 * process, a Redis outage), they are someone else's now and these results
 * are dropped, so a frame's result is never delivered twice. A frame is
 * known by the first OOBLEX_COMPLETE_ID_LEN bytes of its message (magic to
 * deadline: client id, frame id and seq among them), so the list may also
 * hold frames taken after the batch (prefetched: worker_loop.h): normally
 * the batch is the list's oldest n, at its right end, and is trimmed off;
 * after a reap it is searched for.
 * KEYS: processing list, stale counter, result key per result.
 * ARGV: batch size n, result TTL (s), stale count, the n frames' ids
 * (oldest first), result per result.
 * Returns 1, or 0 when the batch had been reaped. */
#define OOBLEX_COMPLETE_ID_LEN	(OOBLEX_WIRE_OFF_DEADLINE_US + 8)
/* What a completed frame is overwritten with before LREM when it is not at
 * the end of the list (no frame message is this short). */
#define OOBLEX_COMPLETE_TOMBSTONE	"ooblex:completed"
extern const char ooblex_script_complete[];

#endif
