/*
 * edgeintent C ABI: the on-device intent runtime for mobile hosts (JNI, Swift).
 *
 * Link with libedgeintent.so (cdylib) or libedgeintent.a (staticlib, plus
 * -lpthread -ldl -lm -Wl,-z,noexecstack: tract's x86-64 assembly kernels lack
 * a .note.GNU-stack section, so without the flag ld warns and marks the
 * program's stack executable). Every function checks its pointers and never lets a
 * panic cross the boundary: failures are negative codes, and ei_last_error()
 * says what was wrong. Strings are UTF-8 and NUL-terminated.
 *
 * Kept in sync with src/ffi.rs by tests/ffi.rs, which fails when they drift.
 */
#ifndef EDGEINTENT_H
#define EDGEINTENT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes (every function returns them negated as documented). */
#define EI_ERR_NULL (-1)     /* a NULL pointer was passed */
#define EI_ERR_UTF8 (-2)     /* a string was not valid UTF-8 */
#define EI_ERR_EVENT (-3)    /* the event JSON is invalid (counted) */
#define EI_ERR_FULL (-4)     /* the ingest channel is full; event dropped (counted) */
#define EI_ERR_SNAPSHOT (-5) /* a snapshot could not be written or read */
#define EI_ERR_INTERNAL (-6) /* an internal error (a caught panic) */
#define EI_ERR_CLOSED (-7)   /* the runtime cannot accept events any more */

/* Error codes are -1 to -15; a buffer-size answer -(needed) is always -16 or
 * less, so this tells them apart. */
#define EI_TOO_SMALL(r) ((r) <= -16)

/* The opaque runtime handle. */
typedef struct ei_runtime ei_runtime;

/* Creates a runtime from config JSON (the CLI's --config contents; relative
 * paths resolve against the working directory). NULL on error; see ei_last_error. */
ei_runtime *ei_runtime_new(const char *config_json);

/* Pushes one event (a JSON object of the trace contract). Safe from many
 * threads at once; never blocks. 0 ok (an unknown "type" is counted and
 * skipped), <0 error. */
int ei_push_json(ei_runtime *rt, const char *event_json);

/* Processes pushed events and writes the oldest decision not yet taken (one
 * JSON line, NUL-terminated) into buf. 1 written, 0 none, <0 error; if buf is
 * too small returns -(needed length, NUL included) and keeps the decision. */
int ei_poll_decision(ei_runtime *rt, char *buf, size_t len);

/* Saves the state (features, policy timers, fences, dedup lists) to path
 * atomically: a crash leaves the previous file intact. 0 ok, <0 error. */
int ei_snapshot_save(ei_runtime *rt, const char *path);

/* Restores a snapshot. On error (missing, truncated, corrupt, another version
 * or configuration) the runtime keeps its state. 0 ok, <0 error. */
int ei_snapshot_load(ei_runtime *rt, const char *path);

/* Writes the counters as JSON into buf: bytes written (NUL excluded), or
 * -(needed length) if buf is too small, or another negative error. */
int ei_stats_json(ei_runtime *rt, char *buf, size_t len);

/* The last error on this thread ("" if none); valid until the next call on
 * this thread. */
const char *ei_last_error(void);

/* The library version, e.g. "0.1.0". */
const char *ei_version(void);

/* Frees a runtime (NULL is ignored). No other thread may be using it. */
void ei_runtime_free(ei_runtime *rt);

#ifdef __cplusplus
}
#endif

#endif /* EDGEINTENT_H */
