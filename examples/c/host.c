/*
 * A whole app host on the C ABI (issue 20), for memcheck, helgrind and DRD:
 * the config as a JSON string in the program, a log callback, worker mode
 * with a decision callback that answers request_coverage with ei_set_coverage
 * and reads the stats through a tiny buffer from inside the callback, many
 * producer threads, a snapshot saved while the worker runs and restored into
 * a second runtime, which is then driven by ei_tick / ei_next_wakeup_ms and
 * polled through a tiny buffer. Prints one summary line; exits non-zero when
 * a call fails or the accounting does not add up.
 *
 *   cc examples/c/host.c -Iinclude -Ltarget/release -ledgeintent -lpthread -o host
 *   (cd models && ../host TRACE.jsonl SNAPSHOT_PATH [THREADS])
 *
 * Run from models/: the config names intent.onnx and feature_spec.json there.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeintent.h"

/* The shipped model and features, with a small coverage circle and a fence
 * around the example trace's Shanghai fixes, so the trace leaves coverage. */
static const char *CONFIG =
    "{\"model\": {\"path\": \"intent.onnx\", \"required\": true},"
    " \"features\": \"feature_spec.json\","
    " \"policy\": {\"threshold\": 0.6, \"hysteresis\": 0.2, \"cooldown_s\": 15,"
    "             \"tick_interval_s\": 30, \"budget_per_hour\": 60},"
    " \"ingest\": {\"channel_capacity\": 65536, \"decision_queue\": 4096,"
    "             \"max_clock_skew_ms\": 5000},"
    " \"dedup\": {\"slots\": {\"feed\": 1.0, \"search\": 2.0}},"
    " \"geofence\": {\"coverage\": {\"lat\": 31.2302, \"lon\": 121.4738, \"radius_m\": 60},"
    "   \"fences\": [{\"id\": \"plaza\", \"lat\": 31.2304, \"lon\": 121.4740,"
    "                \"radius_m\": 150, \"buffer_m\": 300}]}}";

static int failures;

#define CHECK(cond, ...)                                    \
    do {                                                    \
        if (!(cond)) {                                      \
            fprintf(stderr, "host: check failed: " __VA_ARGS__); \
            fprintf(stderr, " (%s)\n", ei_last_error());    \
            failures++;                                     \
        }                                                   \
    } while (0)

/* Shared with the callbacks: every field under the lock. */
struct seen {
    pthread_mutex_t lock;
    long decisions, coverage_requests, coverage_set, stats_reads, logs;
    ei_runtime *rt;
};

static void on_log(void *user, int level, const char *message) {
    struct seen *s = user;
    pthread_mutex_lock(&s->lock);
    s->logs++;
    pthread_mutex_unlock(&s->lock);
    if (level <= EI_LOG_WARN) fprintf(stderr, "host: log %d: %s\n", level, message);
}

/* Called on the worker thread only. */
static void on_decision(void *user, const char *json) {
    struct seen *s = user;
    int coverage = strstr(json, "\"action\":\"request_coverage\"") != NULL;
    if (coverage) {
        /* The server's answer, simulated: a wider circle around the plaza. */
        int r = ei_set_coverage(s->rt, 31.2302, 121.4738, 3000.0);
        CHECK(r == 0, "ei_set_coverage from the callback returned %d", r);
    }
    /* The stats through an 8-byte buffer: the needed size, then the text
     * (which may have grown meanwhile: producers keep counting). */
    char tiny[8];
    int need = ei_stats_json(s->rt, tiny, sizeof tiny);
    CHECK(EI_TOO_SMALL(need), "ei_stats_json into 8 bytes returned %d", need);
    while (EI_TOO_SMALL(need)) {
        size_t cap = (size_t)-need + 64;
        char *buf = malloc(cap);
        need = buf ? ei_stats_json(s->rt, buf, cap) : -1;
        free(buf);
    }
    CHECK(need > 0, "ei_stats_json returned %d", need);
    /* Stopping the worker from its own callback is refused, not a deadlock. */
    CHECK(ei_stop_worker(s->rt) == EI_ERR_STATE, "ei_stop_worker from the callback");
    pthread_mutex_lock(&s->lock);
    s->decisions++;
    s->coverage_requests += coverage;
    s->coverage_set += coverage;
    s->stats_reads++;
    pthread_mutex_unlock(&s->lock);
}

struct job {
    ei_runtime *rt;
    char **lines;
    long from, to, pushed, refused;
};

static void *produce(void *arg) {
    struct job *j = arg;
    for (long i = j->from; i < j->to; i++) {
        if (ei_push_json(j->rt, j->lines[i]) == 0) j->pushed++;
        else j->refused++;
    }
    return NULL;
}

static char *slurp(const char *path, long *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)*len + 1);
    if (text && fread(text, 1, (size_t)*len, f) != (size_t)*len) { free(text); text = NULL; }
    if (text) text[*len] = '\0';
    fclose(f);
    return text;
}

/* A number field of the stats JSON, or -1. */
static long stat(ei_runtime *rt, const char *key) {
    char tiny[1];
    int need = ei_stats_json(rt, tiny, sizeof tiny);
    long value = -1;
    while (EI_TOO_SMALL(need)) {
        size_t cap = (size_t)-need + 256; /* counters may grow before the next call */
        char *buf = malloc(cap);
        if (!buf) return -1;
        need = ei_stats_json(rt, buf, cap);
        if (need > 0) {
            char pattern[64];
            snprintf(pattern, sizeof pattern, "\"%s\":", key);
            const char *at = strstr(buf, pattern);
            value = at ? strtol(at + strlen(pattern), NULL, 10) : -1;
        }
        free(buf);
    }
    return value;
}

/* Polls everything through a buffer that starts at 16 bytes and grows. */
static long drain(ei_runtime *rt, char **buf, size_t *cap) {
    long n = 0;
    for (;;) {
        int r = ei_poll_decision(rt, *buf, *cap);
        if (r == 0) return n;
        if (r == 1) { n++; continue; }
        if (EI_TOO_SMALL(r)) {
            char *bigger = realloc(*buf, (size_t)-r);
            if (!bigger) return -1;
            *buf = bigger;
            *cap = (size_t)-r;
            continue;
        }
        fprintf(stderr, "host: poll failed (%d): %s\n", r, ei_last_error());
        return -1;
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s TRACE.jsonl SNAPSHOT [THREADS]\n", argv[0]);
        return 2;
    }
    int threads = argc > 3 ? atoi(argv[3]) : 4;
    if (threads < 1 || threads > 64) threads = 4;
    if (ei_abi_version() != EI_ABI_VERSION) {
        fprintf(stderr, "host: library ABI %d, header %d\n", ei_abi_version(), EI_ABI_VERSION);
        return 1;
    }
    struct seen seen = {.lock = PTHREAD_MUTEX_INITIALIZER};
    CHECK(ei_set_log_callback(on_log, &seen, 99) == EI_ERR_ARG, "a bad log level");
    CHECK(ei_set_log_callback(on_log, &seen, EI_LOG_INFO) == 0, "ei_set_log_callback");

    long tlen = 0;
    char *trace = slurp(argv[1], &tlen);
    if (!trace) { fprintf(stderr, "host: cannot read %s\n", argv[1]); return 2; }
    long n = 0;
    for (long i = 0; i < tlen; i++) if (trace[i] == '\n') n++;
    char **lines = malloc(sizeof(char *) * (size_t)(n + 1));
    long count = 0;
    for (char *line = strtok(trace, "\n"); line; line = strtok(NULL, "\n")) lines[count++] = line;

    ei_runtime *rt = ei_runtime_new(CONFIG);
    if (!rt) { fprintf(stderr, "host: %s\n", ei_last_error()); return 1; }
    seen.rt = rt;
    CHECK(ei_set_coverage(rt, 91.0, 0.0, 100.0) == EI_ERR_ARG, "an invalid coverage circle");
    CHECK(ei_tick(rt, -5) == EI_ERR_ARG, "a negative tick time");
    CHECK(ei_start_worker(rt, NULL, NULL) == EI_ERR_NULL, "a NULL decision callback");
    CHECK(ei_start_worker(rt, on_decision, &seen) == 0, "ei_start_worker");
    CHECK(ei_start_worker(rt, on_decision, &seen) == EI_ERR_STATE, "a second worker");
    char small[16];
    CHECK(ei_poll_decision(rt, small, sizeof small) == EI_ERR_STATE, "poll in worker mode");
    CHECK(ei_tick(rt, 1000) == EI_ERR_STATE, "tick in worker mode");

    /* Many producers at once; they interleave, so some events arrive too far
     * behind the newest and are rejected, which the stats count. */
    pthread_t *tids = malloc(sizeof(pthread_t) * (size_t)threads);
    struct job *jobs = calloc((size_t)threads, sizeof(struct job));
    long per = (count + threads - 1) / threads;
    for (int t = 0; t < threads; t++) {
        jobs[t] = (struct job){rt, lines, t * per, (t + 1) * per > count ? count : (t + 1) * per, 0, 0};
        pthread_create(&tids[t], NULL, produce, &jobs[t]);
    }
    /* A snapshot while the worker runs and producers push, and another once
     * they are done (the one restored below). */
    CHECK(ei_snapshot_save(rt, argv[2]) == 0, "ei_snapshot_save while pushing");
    long pushed = 0, refused = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(tids[t], NULL);
        pushed += jobs[t].pushed;
        refused += jobs[t].refused;
    }
    CHECK(ei_snapshot_save(rt, argv[2]) == 0, "ei_snapshot_save in worker mode");
    CHECK(ei_stop_worker(rt) == 0, "ei_stop_worker");
    CHECK(ei_stop_worker(rt) == 1, "a second ei_stop_worker");
    int64_t wake = 0;
    CHECK(ei_next_wakeup_ms(rt, NULL) == EI_ERR_NULL, "ei_next_wakeup_ms into NULL");
    CHECK(ei_next_wakeup_ms(rt, &wake) >= 0, "ei_next_wakeup_ms");

    long processed = stat(rt, "events_processed"), rejected = stat(rt, "events_rejected");
    long invalid = stat(rt, "events_invalid"), unknown = stat(rt, "events_unknown");
    long held = stat(rt, "events_held");
    CHECK(pushed + refused == count, "every line pushed or refused");
    CHECK(processed + rejected + unknown + held == pushed,
          "pushed %ld = processed %ld + rejected %ld + unknown %ld + held %ld", pushed, processed,
          rejected, unknown, held);
    CHECK(invalid == refused, "refused %ld = invalid %ld", refused, invalid);
    CHECK(seen.decisions > 0, "the callback saw decisions");
    CHECK(seen.coverage_requests == 0 || seen.coverage_set == seen.coverage_requests,
          "every coverage request answered");
    CHECK(stat(rt, "decisions_dropped") == 0, "no decision dropped");
    ei_runtime_free(rt);

    /* The snapshot restores into a second runtime. */
    ei_runtime *restored = ei_runtime_new(CONFIG);
    if (!restored) { fprintf(stderr, "host: %s\n", ei_last_error()); return 1; }
    CHECK(ei_snapshot_load(restored, argv[2]) == 0, "ei_snapshot_load");
    CHECK(ei_next_wakeup_ms(restored, &wake) >= 0, "ei_next_wakeup_ms after restore");
    ei_runtime_free(restored);

    /* A third, polled, driven by ticks and polled through a small buffer. */
    ei_runtime *again = ei_runtime_new(CONFIG);
    if (!again) { fprintf(stderr, "host: %s\n", ei_last_error()); return 1; }
    size_t cap = 16;
    char *buf = malloc(cap);
    long polled = 0;
    /* The last fifth of the trace in order, ticking whenever due. */
    long ticks = 0;
    for (long i = count - count / 5; i < count; i++) {
        long ts = 0;
        const char *at = strstr(lines[i], "\"ts_ms\":");
        if (at) ts = strtol(at + 8, NULL, 10);
        while (ei_next_wakeup_ms(again, &wake) == 1 && wake < ts) {
            CHECK(ei_tick(again, wake) == 0, "ei_tick");
            ticks++;
            long got = drain(again, &buf, &cap);
            CHECK(got >= 0, "drain after a tick");
            polled += got > 0 ? got : 0;
        }
        ei_push_json(again, lines[i]);
        long got = drain(again, &buf, &cap);
        CHECK(got >= 0, "drain");
        polled += got > 0 ? got : 0;
    }
    CHECK(ei_set_coverage(again, 31.23, 121.47, 5000.0) == 0, "ei_set_coverage");
    CHECK(polled > 0 && ticks > 0, "polled %ld decisions over %ld ticks", polled, ticks);
    free(buf);
    ei_runtime_free(again);
    CHECK(ei_set_log_callback(NULL, NULL, EI_LOG_DEBUG) == 0, "clearing the log callback");

    printf("host: threads=%d lines=%ld pushed=%ld refused=%ld processed=%ld rejected=%ld "
           "worker_decisions=%ld coverage_requests=%ld ticks=%ld polled=%ld logs=%ld failures=%d\n",
           threads, count, pushed, refused, processed, rejected, seen.decisions,
           seen.coverage_requests, ticks, polled, seen.logs, failures);
    free(jobs);
    free(tids);
    free(lines);
    free(trace);
    return failures == 0 ? 0 : 1;
}
