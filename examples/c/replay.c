/*
 * Replays a trace through the C ABI and prints each decision as a JSON line,
 * exactly like `edgeintent replay --config CONFIG TRACE` prints them.
 *
 *   cc examples/c/replay.c -Iinclude -Ltarget/release -ledgeintent -o replay
 *   ./replay CONFIG.json TRACE.jsonl [SNAPSHOT_OUT]
 *
 * Relative paths inside CONFIG resolve against the working directory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeintent.h"
#include "stats_json.h"

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    if (text && fread(text, 1, (size_t)n, f) != (size_t)n) {
        free(text);
        text = NULL;
    }
    if (text) text[n] = '\0';
    fclose(f);
    return text;
}

/* Prints every waiting decision, growing the buffer when one does not fit. */
static int drain(ei_runtime *rt, char **buf, size_t *cap) {
    for (;;) {
        int r = ei_poll_decision(rt, *buf, *cap);
        if (r == 0) return 0;
        if (r == 1) {
            puts(*buf);
            continue;
        }
        if (EI_TOO_SMALL(r)) { /* -(needed) */
            *cap = (size_t)(-r);
            char *bigger = realloc(*buf, *cap);
            if (!bigger) return -1;
            *buf = bigger;
            continue;
        }
        fprintf(stderr, "replay: poll failed (%d): %s\n", r, ei_last_error());
        return r;
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s CONFIG.json TRACE.jsonl [SNAPSHOT_OUT]\n", argv[0]);
        return 2;
    }
    char *config = read_file(argv[1]);
    if (!config) {
        fprintf(stderr, "replay: cannot read %s\n", argv[1]);
        return 2;
    }
    ei_runtime *rt = ei_runtime_new(config);
    free(config);
    if (!rt) {
        fprintf(stderr, "replay: %s\n", ei_last_error());
        return 1;
    }
    FILE *trace = fopen(argv[2], "r");
    if (!trace) {
        fprintf(stderr, "replay: cannot read %s\n", argv[2]);
        ei_runtime_free(rt);
        return 2;
    }
    size_t cap = 64; /* deliberately small: exercises the -(needed) path */
    char *buf = malloc(cap);
    char line[65536];
    int status = 0;
    long lineno = 0;
    while (status == 0 && fgets(line, sizeof line, trace)) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0') continue;
        int r = ei_push_json(rt, line);
        if (r < 0) {
            fprintf(stderr, "replay: line %ld: %s\n", lineno, ei_last_error());
            status = 1;
            break;
        }
        status = drain(rt, &buf, &cap) == 0 ? 0 : 1;
    }
    fclose(trace);
    if (status == 0 && argc > 3 && ei_snapshot_save(rt, argv[3]) != 0) {
        fprintf(stderr, "replay: snapshot: %s\n", ei_last_error());
        status = 1;
    }
    char *stats = stats_json(rt);
    if (stats) fprintf(stderr, "edgeintent %s stats: %s\n", ei_version(), stats);
    free(stats);
    free(buf);
    ei_runtime_free(rt);
    return status;
}
