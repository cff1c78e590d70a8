/* Issue 35: a log callback that calls back into the library must not hang.
 * Records are raised while the runtime is busy (an event rejected as too
 * old during a poll, a refused update, in worker mode too); the callback
 * re-enters in the way MODE names. Exit 0 when every call returned; the test
 * runs it under a deadline (alarm).
 * Usage: reentrant_log CONFIG.json MODE   (MODE: stats, push, unset, wakeup, worker) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "edgeintent.h"

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) { perror(path); exit(2); }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc(n + 1);
  b[fread(b, 1, n, f)] = 0;
  fclose(f);
  return b;
}

static ei_runtime *rt;
static const char *mode;
static int inside = 0, reentered = 0;

static void on_log(void *user, int level, const char *msg) {
  (void)user;
  fprintf(stderr, "log(%d): %.100s\n", level, msg);
  if (inside++ == 0 && rt) {
    static char buf[1 << 16];
    int r = 0;
    if (!strcmp(mode, "stats") || !strcmp(mode, "worker")) r = ei_stats_json(rt, buf, sizeof buf);
    else if (!strcmp(mode, "push")) r = ei_push_json(rt, "{\"ts_ms\":1767600109000,\"type\":\"search\"}");
    else if (!strcmp(mode, "unset")) r = ei_set_log_callback(NULL, NULL, EI_LOG_DEBUG);
    else if (!strcmp(mode, "wakeup")) { int64_t ms; r = ei_next_wakeup_ms(rt, &ms); }
    fprintf(stderr, "  re-entered (%s) -> %d\n", mode, r);
    if (r >= 0) reentered++;
  }
  inside--;
}

static void on_decision(void *user, const char *json) { (void)user; (void)json; }

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: %s CONFIG.json MODE\n", argv[0]); return 2; }
  alarm(20);
  mode = argv[2];
  if (ei_set_log_callback(on_log, NULL, EI_LOG_DEBUG) != 0) return 3;
  rt = ei_runtime_new(slurp(argv[1]));
  if (!rt) { fprintf(stderr, "ei_runtime_new: %s\n", ei_last_error()); return 4; }
  int worker = !strcmp(mode, "worker");
  if (worker && ei_start_worker(rt, on_decision, NULL) != 0) return 5;
  /* The second event is older than the first beyond the skew: rejected, logged. */
  ei_push_json(rt, "{\"ts_ms\":1767600100000,\"type\":\"app_foreground\"}");
  ei_push_json(rt, "{\"ts_ms\":1767600000000,\"type\":\"app_foreground\"}");
  char buf[4096];
  if (!worker) while (ei_poll_decision(rt, buf, sizeof buf) == 1) {}
  int r = ei_update_config(rt, (const unsigned char *)"garbage", 7);
  fprintf(stderr, "update -> %d\n", r);
  if (worker && ei_stop_worker(rt) != 0) return 6;
  ei_runtime_free(rt);
  rt = NULL;
  printf("reentered %d\n", reentered);
  return reentered > 0 ? 0 : 7;
}
