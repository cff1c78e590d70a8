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
#include <stdint.h>

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
#define EI_ERR_STATE (-8)    /* the call does not fit the runtime's state (worker
                                mode, no geofence, inside the decision callback) */
#define EI_ERR_ARG (-9)      /* an argument is out of range */
#define EI_ERR_UPDATE (-10)  /* an update package was refused; the running
                                version stays in force */

/* The ABI this header describes; compare with ei_abi_version() at start-up. */
#define EI_ABI_VERSION 3

/* Log levels for ei_set_log_callback, most severe first. */
#define EI_LOG_ERROR 1
#define EI_LOG_WARN 2  /* a problem worked around: model fallback, dropped decisions */
#define EI_LOG_INFO 3  /* worth knowing: a clock jump */
#define EI_LOG_DEBUG 4 /* per-event detail */

/* Error codes are -1 to -15; a buffer-size answer -(needed) is always -16 or
 * less, so this tells them apart. */
#define EI_TOO_SMALL(r) ((r) <= -16)

/* The opaque runtime handle. */
typedef struct ei_runtime ei_runtime;

/* Receives one decision in worker mode: a JSON line valid only during the
 * call, and the user pointer given to ei_start_worker. */
typedef void (*ei_decision_cb)(void *user, const char *decision_json);

/* Receives one diagnostic: EI_LOG_* level and a message valid only during the
 * call. */
typedef void (*ei_log_cb)(void *user, int level, const char *message);

/* Creates a runtime from config JSON (the CLI's --config contents; relative
 * paths resolve against the working directory). NULL on error; see ei_last_error. */
ei_runtime *ei_runtime_new(const char *config_json);

/* Like ei_runtime_new, for one user: the id picks the A/B bucket
 * (policy.buckets) and the arm of staged roll-outs. NULL on error. */
ei_runtime *ei_runtime_new_for_user(const char *config_json, const char *user_id);

/* Applies a signed config update package from the server, between two events
 * (after the events already pushed). 1 in force; 0 accepted, but this user's
 * roll-out arm keeps the running version; EI_ERR_UPDATE refused (see
 * ei_last_error) with the running version kept; EI_ERR_STATE: the config has
 * no "updates" section. */
int ei_update_config(ei_runtime *rt, const uint8_t *bytes, size_t len);

/* Applies a signed model update package, as ei_update_config does a config. */
int ei_update_model(ei_runtime *rt, const uint8_t *bytes, size_t len);

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

/* The library's ABI version; a host built against this header expects
 * EI_ABI_VERSION. */
int ei_abi_version(void);

/* Processes pushed events, then moves time on to now_ms (the events' clock)
 * and runs the periodic decisions due by then; poll afterwards. Call it when
 * ei_next_wakeup_ms comes due. 0 ok, EI_ERR_ARG for a time outside
 * 0..7258118400000 (2200), EI_ERR_STATE in worker mode (it ticks by itself). */
int ei_tick(ei_runtime *rt, int64_t now_ms);

/* When the runtime next wants ei_tick (ms, the events' clock): 1 and *out_ms
 * written, 0 when nothing is due (the homepage is not visible), <0 error. */
int ei_next_wakeup_ms(ei_runtime *rt, int64_t *out_ms);

/* Installs the coverage circle the server sent after a request_coverage
 * decision. 0 ok; EI_ERR_ARG for an invalid circle, EI_ERR_STATE without a
 * geofence config; on error the previous circle stays. */
int ei_set_coverage(ei_runtime *rt, double lat, double lon, double radius_m);

/* Worker mode: a thread of the runtime's own (named "edgeintent") processes
 * pushed events as they arrive, runs ticks as time passes (the newest event
 * time plus the time elapsed since, so events may be stamped by any one
 * clock) and calls cb(user, decision_json) for every decision, in order, on
 * that thread only and holding no lock: the callback may call any function
 * here except ei_start_worker, ei_stop_worker and ei_runtime_free (those
 * return EI_ERR_STATE or do nothing from inside it). Decisions queued before
 * the start go to the callback first. While it runs, ei_poll_decision and
 * ei_tick return EI_ERR_STATE, and ei_snapshot_save saves what the worker has
 * processed. Starting and stopping happen one at a time: a start while
 * another thread stops waits for the stop to finish, then starts.
 * 0 ok, <0 error (EI_ERR_STATE if already running). */
int ei_start_worker(ei_runtime *rt, ei_decision_cb cb, void *user);

/* Stops worker mode once every event already pushed is processed and its
 * decisions delivered; then decisions are polled again. 0 stopped, 1 none was
 * running, <0 error. ei_runtime_free stops it too. */
int ei_stop_worker(ei_runtime *rt);

/* Routes the library's diagnostics (model fallbacks, dropped decisions,
 * clock jumps, caught panics) to cb for levels up to max_level; a NULL cb
 * turns them off. Process-wide: set it before ei_runtime_new to hear about
 * the model load. The callback runs on whichever thread the runtime works on,
 * possibly several at once, and never while the library holds a lock of its
 * own: a record raised inside a call is delivered as that call returns, on
 * its thread. So the callback may call any function here (ei_stats_json,
 * ei_next_wakeup_ms, ei_push_json, ei_set_log_callback, ...); the worker-mode
 * rules above still apply on the worker thread. 0 ok, EI_ERR_ARG for a bad
 * level. */
int ei_set_log_callback(ei_log_cb cb, void *user, int max_level);

/* Frees a runtime (NULL is ignored), stopping its worker first. No other
 * thread may be using it. */
void ei_runtime_free(ei_runtime *rt);

#ifdef __cplusplus
}
#endif

#endif /* EDGEINTENT_H */
