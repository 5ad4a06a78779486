/* tests/test_watch.c — index/watch.c on a temporary folder: the paths of
 * files written, renamed and deleted, folders created (and then watched) and
 * moved out (and then not), hidden names ignored; a burst of 5000 files in
 * batches of at most max_paths that together hold every one; a queue
 * overflow asking for a rescan; cancel. No timing asserts: each wait has a
 * generous deadline (idle_s) and only the set of paths is checked. */
#include "test.h"

#include "status.h"
#include "watch.h"

#include <fcntl.h>
#include <unistd.h>

static char tmp[64];

static void put(const char *rel) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmp, rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, "x", 1) != 1) printf("  cannot write %s\n", p);
    if (fd >= 0) close(fd);
}

static void sh(const char *cmd) {
    if (system(cmd) != 0) printf("  command failed: %s\n", cmd);
}

/* Gather batches until every one of want[] (relative) was seen or the
 * deadline passes; 1 when all were seen. *n_batches (may be NULL) counts. */
static int saw_all(watch *w, const char *const *want, int n_want, int *n_batches) {
    int seen[16] = {0}, n_seen = 0;
    watch_opts o;
    watch_opts_default(&o);
    o.quiet_s = 0.3;
    o.idle_s = 20;
    for (int round = 0; round < 20 && n_seen < n_want; round++) {
        watch_batch b;
        if (watch_next(w, &o, &b) != ST_OK) return 0;
        if (n_batches) (*n_batches)++;
        if (!b.n) break;   /* idle for 20 s */
        for (size_t i = 0; i < b.n; i++)
            for (int k = 0; k < n_want; k++) {
                char p[512];
                snprintf(p, sizeof p, "%s/%s", tmp, want[k]);
                if (!seen[k] && !strcmp(b.paths[i], p)) seen[k] = 1, n_seen++;
            }
        watch_batch_release(&b);
    }
    for (int k = 0; k < n_want; k++)
        if (!seen[k]) printf("  not seen: %s\n", want[k]);
    return n_seen == n_want;
}

TEST(events_to_paths) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/a/deep %s/.hidden", tmp, tmp);
    sh(cmd);
    watch *w;
    CHECK_MSG(watch_open((const char *[]){tmp}, 1, &w) == 0, "%s", status_message());
    if (!w) return;
    CHECK(watch_count(w) == 3);   /* tmp, a, a/deep; not .hidden */
    put("a/deep/one.jpg");
    put(".hidden/no.jpg");
    put("a/.part.jpg");
    CHECK(saw_all(w, (const char *[]){"a/deep/one.jpg"}, 1, NULL));

    /* rename: both names; delete: the name; a new folder and a file in it */
    snprintf(cmd, sizeof cmd, "mv %s/a/deep/one.jpg %s/a/two.jpg && mkdir %s/b", tmp, tmp, tmp);
    sh(cmd);
    CHECK(saw_all(w, (const char *[]){"a/deep/one.jpg", "a/two.jpg", "b"}, 3, NULL));
    put("b/three.jpg");   /* b is watched now */
    snprintf(cmd, sizeof cmd, "rm %s/a/two.jpg", tmp);
    sh(cmd);
    CHECK(saw_all(w, (const char *[]){"b/three.jpg", "a/two.jpg"}, 2, NULL));
    CHECK(watch_count(w) == 4);

    /* a folder moved out is reported and no longer watched */
    snprintf(cmd, sizeof cmd, "mkdir -p %s.out && mv %s/a %s.out/", tmp, tmp, tmp);
    sh(cmd);
    CHECK(saw_all(w, (const char *[]){"a"}, 1, NULL));
    CHECK_MSG(watch_count(w) == 2, "%zu watched", watch_count(w));
    snprintf(cmd, sizeof cmd, "%s.out/a/deep/outside.jpg", tmp);
    int fd = open(cmd, O_WRONLY | O_CREAT, 0644);
    if (fd >= 0) close(fd);
    put("b/four.jpg");
    watch_opts o;
    watch_opts_default(&o);
    o.quiet_s = 0.3;
    o.idle_s = 20;
    watch_batch b;
    CHECK(watch_next(w, &o, &b) == 0);
    for (size_t i = 0; i < b.n; i++) CHECK_MSG(!strstr(b.paths[i], "outside"), "%s", b.paths[i]);
    watch_batch_release(&b);
    snprintf(cmd, sizeof cmd, "rm -rf %s.out", tmp);
    sh(cmd);

    /* cancel */
    volatile int stop = 1;
    o.cancel = &stop;
    CHECK(watch_next(w, &o, &b) == ST_CANCELLED && b.n == 0);
    watch_close(w);
}

TEST(burst_in_batches) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf %s/* && mkdir -p %s/burst", tmp, tmp);
    sh(cmd);
    watch *w;
    CHECK(watch_open((const char *[]){tmp}, 1, &w) == 0);
    if (!w) return;
    enum { N = 5000 };
    for (int i = 0; i < N; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "burst/f%05d.jpg", i);
        put(rel);
    }
    static unsigned char seen[N];
    memset(seen, 0, sizeof seen);
    int n_seen = 0, batches = 0, rescan = 0;
    size_t largest = 0;
    watch_opts o;
    watch_opts_default(&o);
    o.quiet_s = 0.3;
    o.max_paths = 1000;
    o.idle_s = 20;
    while (n_seen < N && !rescan && batches < 100) {
        watch_batch b;
        if (watch_next(w, &o, &b) != ST_OK) break;
        batches++;
        if (!b.n && !b.rescan) break;
        rescan |= b.rescan;
        if (b.n > largest) largest = b.n;
        for (size_t i = 0; i < b.n; i++) {
            const char *f = strstr(b.paths[i], "/burst/f");
            int k = f ? atoi(f + 8) : -1;
            if (k >= 0 && k < N && !seen[k]) seen[k] = 1, n_seen++;
        }
        watch_batch_release(&b);
    }
    /* a burst this size fits the kernel's default queue (16384 events) */
    CHECK_MSG(n_seen == N || rescan, "seen %d of %d in %d batches", n_seen, N, batches);
    CHECK_MSG(batches >= 5, "%d batches", batches);
    /* a batch stops reading at max_paths; one read may hold a few more */
    CHECK_MSG(largest <= o.max_paths + 64 * 1024 / 16, "largest batch %zu", largest);
    printf("  %d files in %d batches (largest %zu)%s\n", n_seen, batches, largest, rescan ? ", overflowed" : "");
    watch_close(w);
}

/* More events than the kernel queues (fs.inotify.max_queued_events) while
 * nobody reads: the overflow asks for a rescan. */
TEST(overflow_asks_rescan) {
    FILE *f = fopen("/proc/sys/fs/inotify/max_queued_events", "r");
    long max_q = 0;
    if (f) {
        if (fscanf(f, "%ld", &max_q) != 1) max_q = 0;
        fclose(f);
    }
    if (max_q <= 0 || max_q > 100000) {
        printf("  (skipped: max_queued_events is %ld)\n", max_q);
        return;
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf %s/* && mkdir -p %s/many", tmp, tmp);
    sh(cmd);
    watch *w;
    CHECK(watch_open((const char *[]){tmp}, 1, &w) == 0);
    if (!w) return;
    for (long i = 0; i < max_q + 100; i++) {   /* one IN_CLOSE_WRITE each, unread */
        char rel[64];
        snprintf(rel, sizeof rel, "many/f%06ld", i);
        put(rel);
    }
    watch_opts o;
    watch_opts_default(&o);
    o.quiet_s = 0.3;
    o.max_paths = (size_t)max_q * 4;
    o.idle_s = 20;
    int rescan = 0;
    for (int i = 0; i < 10 && !rescan; i++) {
        watch_batch b;
        if (watch_next(w, &o, &b) != ST_OK) break;
        rescan = b.rescan;
        int empty = !b.n && !b.rescan;
        watch_batch_release(&b);
        if (empty) break;
    }
    CHECK(rescan);
    watch_close(w);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/seer-test-watch-XXXXXX");
    if (!mkdtemp(tmp)) return 1;
    RUN(events_to_paths);
    RUN(burst_in_batches);
    RUN(overflow_asks_rescan);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    sh(cmd);
    return test_summary();
}
