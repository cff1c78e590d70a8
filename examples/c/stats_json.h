/* What the C examples share: the stats JSON in a buffer sized by the
 * library's answer. Include after edgeintent.h and stdlib.h. */
#ifndef EI_EXAMPLE_STATS_JSON_H
#define EI_EXAMPLE_STATS_JSON_H

/* The stats JSON in a buffer sized by the library's answer (it grows with
 * the monitors' histograms); NULL on error. The caller frees it. */
static char *stats_json(ei_runtime *rt) {
    size_t cap = 4096;
    for (int tries = 0; tries < 8; tries++) {
        char *buf = malloc(cap);
        if (!buf) return NULL;
        int n = ei_stats_json(rt, buf, cap);
        if (n >= 0) return buf;
        free(buf);
        if (!EI_TOO_SMALL(n)) return NULL;
        cap = (size_t)-n + 256; /* counters may grow before the next call */
    }
    return NULL;
}

#endif
