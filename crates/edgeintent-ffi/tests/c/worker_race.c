/* Issue 35: ei_start_worker while another thread is inside ei_stop_worker.
 * The start must wait for the stop and then run a worker whose callback gets
 * the later decisions; the host's poll and tick are refused while it runs.
 * Prints what each side saw; exit 0 when decisions went where asked.
 * Usage: worker_race CONFIG.json */
#include <pthread.h>
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
static int delivered[3];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void on_decision(void *user, const char *json) {
  (void)json;
  pthread_mutex_lock(&lock);
  delivered[(long)user]++;
  pthread_mutex_unlock(&lock);
  usleep(50000); /* a slow host: the stop takes a while */
}

static void *stopper(void *arg) {
  (void)arg;
  printf("stop W1 -> %d\n", ei_stop_worker(rt));
  return NULL;
}

static void push_refreshes(long long from, int n) {
  for (int i = 0; i < n; i++) {
    char e[128];
    snprintf(e, sizeof e, "{\"ts_ms\":%lld,\"type\":\"pull_to_refresh\",\"page\":\"home\"}", from + i * 3000LL);
    ei_push_json(rt, e);
  }
}

int main(int argc, char **argv) {
  if (argc != 2) { fprintf(stderr, "usage: %s CONFIG.json\n", argv[0]); return 2; }
  alarm(30);
  rt = ei_runtime_new(slurp(argv[1]));
  if (!rt) { fprintf(stderr, "ei_runtime_new: %s\n", ei_last_error()); return 3; }
  if (ei_start_worker(rt, on_decision, (void *)1) != 0) return 4;
  push_refreshes(1767600000000LL, 10);
  pthread_t t;
  pthread_create(&t, NULL, stopper, NULL);
  usleep(20000);
  int started = ei_start_worker(rt, on_decision, (void *)2);
  printf("start W2 while W1 stops -> %d\n", started);
  pthread_join(t, NULL);
  char buf[1024];
  int polled = ei_poll_decision(rt, buf, sizeof buf);
  int ticked = ei_tick(rt, 1767600100000LL);
  printf("poll -> %d, tick -> %d\n", polled, ticked);
  push_refreshes(1767600200000LL, 10);
  int host = 0;
  for (int k = 0; k < 10; k++) {
    while (ei_poll_decision(rt, buf, sizeof buf) == 1) host++;
    usleep(20000);
  }
  int stopped = ei_stop_worker(rt);
  printf("stop W2 -> %d; host polled %d; delivered W1=%d W2=%d\n", stopped, host, delivered[1], delivered[2]);
  ei_runtime_free(rt);
  int ok = started == 0 && polled == EI_ERR_STATE && ticked == EI_ERR_STATE && host == 0 &&
           stopped == 0 && delivered[2] >= 10 && delivered[1] + delivered[2] >= 20;
  return ok ? 0 : 1;
}
