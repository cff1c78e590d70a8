/*
 * A multi-threaded host for memcheck (issue 15): several producer threads
 * push the lines of a trace through ei_push_json while the main thread polls
 * decisions with a deliberately small buffer; then a snapshot round trip and
 * the stats. Prints one summary line; exits non-zero if the accounting does
 * not add up.
 *
 *   cc examples/c/threaded.c -Iinclude -Ltarget/release -ledgeintent -lpthread -o threaded
 *   ./threaded CONFIG.json TRACE.jsonl SNAPSHOT_PATH [THREADS]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeintent.h"
#include "stats_json.h"

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

static long drain(ei_runtime *rt, char **buf, size_t *cap) {
    long n = 0;
    for (;;) {
        int r = ei_poll_decision(rt, *buf, *cap);
        if (r == 0) return n;
        if (r == 1) { n++; continue; }
        if (EI_TOO_SMALL(r)) {
            char *bigger = realloc(*buf, (size_t)(-r));
            if (!bigger) return -1;
            *buf = bigger;
            *cap = (size_t)(-r);
            continue;
        }
        fprintf(stderr, "threaded: poll failed (%d): %s\n", r, ei_last_error());
        return -1;
    }
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

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s CONFIG.json TRACE.jsonl SNAPSHOT [THREADS]\n", argv[0]);
        return 2;
    }
    int threads = argc > 4 ? atoi(argv[4]) : 4;
    if (threads < 1 || threads > 64) threads = 4;
    long clen = 0, tlen = 0;
    char *config = slurp(argv[1], &clen);
    char *trace = slurp(argv[2], &tlen);
    if (!config || !trace) { fprintf(stderr, "threaded: cannot read inputs\n"); return 2; }
    ei_runtime *rt = ei_runtime_new(config);
    free(config);
    if (!rt) { fprintf(stderr, "threaded: %s\n", ei_last_error()); free(trace); return 1; }
    long n = 0;
    for (long i = 0; i < tlen; i++) if (trace[i] == '\n') n++;
    char **lines = malloc(sizeof(char *) * (size_t)(n + 1));
    long k = 0;
    for (char *p = strtok(trace, "\n"); p && k <= n; p = strtok(NULL, "\n")) lines[k++] = p;
    struct job jobs[64];
    pthread_t tid[64];
    for (int t = 0; t < threads; t++) {
        jobs[t] = (struct job){rt, lines, k * t / threads, k * (t + 1) / threads, 0, 0};
        pthread_create(&tid[t], NULL, produce, &jobs[t]);
    }
    size_t cap = 32; /* small: exercises the -(needed) path */
    char *buf = malloc(cap);
    long decisions = 0, d;
    for (int spins = 0; spins < 1000; spins++) {
        if ((d = drain(rt, &buf, &cap)) < 0) return 1;
        decisions += d;
    }
    long pushed = 0, refused = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        pushed += jobs[t].pushed;
        refused += jobs[t].refused;
    }
    if ((d = drain(rt, &buf, &cap)) < 0) return 1;
    decisions += d;
    int status = 0;
    if (ei_snapshot_save(rt, argv[3]) != 0 || ei_snapshot_load(rt, argv[3]) != 0) {
        fprintf(stderr, "threaded: snapshot round trip failed: %s\n", ei_last_error());
        status = 1;
    }
    char *stats = stats_json(rt);
    if (!stats) { fprintf(stderr, "threaded: stats failed: %s\n", ei_last_error()); status = 1; }
    free(stats);
    if (pushed + refused != k) { fprintf(stderr, "threaded: %ld + %ld != %ld lines\n", pushed, refused, k); status = 1; }
    printf("threaded: %d threads, %ld lines, %ld pushed, %ld refused, %ld decisions\n", threads, k, pushed, refused, decisions);
    free(buf);
    free(lines);
    free(trace);
    ei_runtime_free(rt);
    return status;
}
