/* Times one tl2cgen-compiled model row by row, the way `edgeintent bench`
 * times its engines: rows from ROWS.bin (float32, row-major) cycled, one
 * clock reading around each call, percentiles of the per-call samples.
 *
 *   cc -O3 -DRESULT_T=double main.c tl2cgen_harness.c -lm -o harness
 *
 * RESULT_T is the type `predict` writes (header.h: float or double).
 *   ./harness ROWS.bin N_FEATURES ITERS WARMUP PREDICTIONS.txt
 *
 * Prints one JSON object; writes each row's prediction (after the model's
 * own post-processing) to PREDICTIONS.txt so that the caller can check it
 * against ONNX Runtime.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "header.h"

#ifndef RESULT_T
#define RESULT_T double
#endif

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int cmp_u64(const void* a, const void* b) {
    uint64_t x = *(const uint64_t*)a, y = *(const uint64_t*)b;
    return (x > y) - (x < y);
}

int main(int argc, char** argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s ROWS.bin N_FEATURES ITERS WARMUP PREDICTIONS.txt\n", argv[0]);
        return 2;
    }
    long n_features = atol(argv[2]), iters = atol(argv[3]), warmup = atol(argv[4]);
    if (n_features <= 0 || n_features != get_num_feature() || iters <= 0 || warmup < 0) {
        fprintf(stderr, "bad arguments: the model reads %d features\n", get_num_feature());
        return 2;
    }
    FILE* f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    long n_rows = bytes / (long)sizeof(float) / n_features;
    if (n_rows <= 0) {
        fprintf(stderr, "%s holds no rows\n", argv[1]);
        return 2;
    }
    float* raw = malloc((size_t)bytes);
    if (!raw || fread(raw, 1, (size_t)bytes, f) != (size_t)bytes) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 2;
    }
    fclose(f);
    /* Entries prepared up front: converting a row is not the model's cost. */
    union Entry* rows = calloc((size_t)(n_rows * n_features), sizeof(union Entry));
    for (long i = 0; i < n_rows * n_features; i++) {
        if (raw[i] != raw[i]) {
            rows[i].missing = -1;
        } else {
            rows[i].fvalue = raw[i];
        }
    }
    int32_t n_out = 0;
    get_num_class(&n_out);
    if (n_out < 1) n_out = 1;
    RESULT_T* result = calloc((size_t)n_out * (size_t)get_num_target(), sizeof(RESULT_T));
    size_t width = (size_t)n_out * (size_t)get_num_target();

    FILE* p = fopen(argv[5], "w");
    if (!p) {
        perror(argv[5]);
        return 2;
    }
    for (long r = 0; r < n_rows; r++) {
        memset(result, 0, width * sizeof(RESULT_T));
        predict(rows + r * n_features, 0, result);
        for (size_t k = 0; k < width; k++) fprintf(p, k ? " %.9g" : "%.9g", result[k]);
        fputc('\n', p);
    }
    fclose(p);

    volatile double sink = 0;
    for (long i = 0; i < warmup; i++) {
        memset(result, 0, width * sizeof(RESULT_T));
        predict(rows + (i % n_rows) * n_features, 0, result);
        sink += result[0];
    }
    uint64_t* samples = malloc((size_t)iters * sizeof(uint64_t));
    double total = 0;
    for (long i = 0; i < iters; i++) {
        union Entry* row = rows + (i % n_rows) * n_features;
        uint64_t t0 = now_ns();
        memset(result, 0, width * sizeof(RESULT_T));
        predict(row, 0, result);
        sink += result[0];
        samples[i] = now_ns() - t0;
        total += (double)samples[i];
    }
    qsort(samples, (size_t)iters, sizeof(uint64_t), cmp_u64);
    printf("{\"rows\":%ld,\"iters\":%ld,\"p50_ns\":%llu,\"p90_ns\":%llu,\"p99_ns\":%llu,\"mean_ns\":%.1f}\n",
           n_rows, iters, (unsigned long long)samples[iters / 2],
           (unsigned long long)samples[iters * 9 / 10], (unsigned long long)samples[iters * 99 / 100],
           total / (double)iters);
    free(samples);
    free(result);
    free(rows);
    free(raw);
    return sink == 12345.678 ? 1 : 0;
}
