/* index/watch.c — inotify over photo folders; see watch.h.
 *
 * State: one inotify instance; for each watch descriptor (the kernel hands
 * out small increasing ints) the directory's absolute path, in an array
 * indexed by wd. A directory watched for the sake of a file root also lists
 * the names it is watched for (every name when a directory root covers it).
 * A batch is a growing array of paths, sorted and made unique when returned.
 */
#include "watch.h"

#include "log.h"
#include "status.h"
#include "timer.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIR_EVENTS (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB | \
                    IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW)

typedef struct {
    char  *path;       /* NULL: no watch with this wd */
    int    all;        /* every name (a directory under a root) */
    char **only;       /* else these names (file roots) */
    size_t n_only;
} wentry;

struct watch {
    int fd;
    wentry *e;         /* indexed by wd */
    size_t cap;
    size_t n;          /* live entries */
    int limit_logged;
    /* inotify records are read here (aligned as the kernel writes struct
     * inotify_event). Not a _Thread_local: 64 KiB of static TLS is added to
     * every thread of the process, and civetweb's ~100 KB worker stacks then
     * fail to start (pthread_create EINVAL: seer serve could not listen). */
    char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
};

void watch_opts_default(watch_opts *o) {
    memset(o, 0, sizeof *o);
    o->quiet_s = 1.0;
    o->max_wait_s = 10.0;
    o->max_paths = 4096;
}

size_t watch_count(const watch *w) { return w->n; }

static void entry_clear(wentry *e) {
    free(e->path);
    for (size_t i = 0; i < e->n_only; i++) free(e->only[i]);
    free(e->only);
    memset(e, 0, sizeof *e);
}

/* Watch dir; name non-NULL: only for that name (a file root). */
static int add_one(watch *w, const char *dir, const char *name) {
    int wd = inotify_add_watch(w->fd, dir, DIR_EVENTS);
    if (wd < 0) {
        if (errno == ENOSPC) {
            if (!w->limit_logged)
                log_warn("watch: the system's inotify watch limit is reached (fs.inotify.max_user_watches); %s "
                         "and folders beyond it are only seen by full walks", dir);
            w->limit_logged = 1;
            return ST_OK;
        }
        if (errno == ENOENT || errno == ENOTDIR || errno == EACCES) return ST_OK;  /* gone, or not ours */
        return status_fail(ST_IO, "watch: %s: %s", dir, strerror(errno));
    }
    if ((size_t)wd >= w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap <= (size_t)wd) cap *= 2;
        wentry *e = realloc(w->e, cap * sizeof *e);
        if (!e) return status_fail(ST_NOMEM, "watch: out of memory");
        memset(e + w->cap, 0, (cap - w->cap) * sizeof *e);
        w->e = e, w->cap = cap;
    }
    wentry *e = &w->e[wd];
    if (!e->path) {
        if (!(e->path = strdup(dir))) return status_fail(ST_NOMEM, "watch: out of memory");
        w->n++;
    }
    if (!name) {
        e->all = 1;
        return ST_OK;
    }
    char **o = realloc(e->only, (e->n_only + 1) * sizeof *o);
    if (!o) return status_fail(ST_NOMEM, "watch: out of memory");
    e->only = o;
    if (!(o[e->n_only] = strdup(name))) return status_fail(ST_NOMEM, "watch: out of memory");
    e->n_only++;
    return ST_OK;
}

/* Watch dir and every non-hidden directory under it (links not followed). */
static int add_tree(watch *w, const char *dir, int depth) {
    if (depth > 64) return ST_OK;
    int rc = add_one(w, dir, NULL);
    if (rc) return rc;
    DIR *d = opendir(dir);
    if (!d) return ST_OK;   /* unreadable or gone meanwhile: the ingest reports it */
    struct dirent *de;
    char path[PATH_MAX];
    while (!rc && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= (int)sizeof path) continue;
        int is_dir = de->d_type == DT_DIR;
        if (de->d_type == DT_UNKNOWN) {
            struct stat sb;
            is_dir = lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
        }
        if (is_dir) rc = add_tree(w, path, depth + 1);
    }
    closedir(d);
    return rc;
}

/* Drop the watches of dir and everything under it (moved out, deleted). */
static void drop_tree(watch *w, const char *dir) {
    size_t n = strlen(dir);
    for (size_t wd = 0; wd < w->cap; wd++) {
        wentry *e = &w->e[wd];
        if (!e->path || strncmp(e->path, dir, n) || (e->path[n] != '/' && e->path[n] != 0)) continue;
        inotify_rm_watch(w->fd, (int)wd);   /* the kernel's IN_IGNORED for it finds no entry then */
        entry_clear(e);
        w->n--;
    }
}

int watch_open(const char *const *roots, int n_roots, watch **out) {
    *out = NULL;
    watch *w = calloc(1, sizeof *w);
    if (!w) return status_fail(ST_NOMEM, "watch: out of memory");
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd < 0) {
        free(w);
        return status_fail(ST_IO, "watch: inotify: %s", strerror(errno));
    }
    int rc = ST_OK;
    char real[PATH_MAX];
    for (int i = 0; i < n_roots && !rc; i++) {
        struct stat sb;
        if (!realpath(roots[i], real) || stat(real, &sb) != 0) {
            rc = status_fail(errno == ENOENT ? ST_NOT_FOUND : ST_IO, "watch: %s: %s", roots[i], strerror(errno));
            break;
        }
        if (S_ISDIR(sb.st_mode)) {
            rc = add_tree(w, real, 0);
        } else {
            char *slash = strrchr(real, '/');
            *slash = 0;
            rc = add_one(w, slash == real ? "/" : real, slash + 1);
        }
    }
    if (rc) {
        watch_close(w);
        return rc;
    }
    log_info("watch: %zu folders watched", w->n);
    *out = w;
    return ST_OK;
}

void watch_close(watch *w) {
    if (!w) return;
    for (size_t i = 0; i < w->cap; i++) entry_clear(&w->e[i]);
    free(w->e);
    if (w->fd >= 0) close(w->fd);
    free(w);
}

void watch_batch_release(watch_batch *b) {
    if (!b) return;
    for (size_t i = 0; i < b->n; i++) free(b->paths[i]);
    free(b->paths);
    memset(b, 0, sizeof *b);
}

typedef struct {
    watch_batch *b;
    size_t cap;
} gather;

static int gather_add(gather *g, const char *dir, const char *name) {
    watch_batch *b = g->b;
    if (b->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 64;
        char **p = realloc(b->paths, cap * sizeof *p);
        if (!p) return status_fail(ST_NOMEM, "watch: out of memory");
        b->paths = p, g->cap = cap;
    }
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (!p) return status_fail(ST_NOMEM, "watch: out of memory");
    snprintf(p, n, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", name);
    b->paths[b->n++] = p;
    return ST_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void batch_unique(watch_batch *b) {
    if (!b->n) return;
    qsort(b->paths, b->n, sizeof *b->paths, cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (k && !strcmp(b->paths[k - 1], b->paths[i])) free(b->paths[i]);
        else b->paths[k++] = b->paths[i];
    }
    b->n = k;
}

/* One event into the batch (and the watches). */
static int on_event(watch *w, const struct inotify_event *ev, gather *g) {
    if (ev->mask & IN_Q_OVERFLOW) {
        g->b->rescan = 1;
        return ST_OK;
    }
    if (ev->wd < 0 || (size_t)ev->wd >= w->cap || !w->e[ev->wd].path) return ST_OK;   /* dropped already */
    wentry *e = &w->e[ev->wd];
    if (ev->mask & IN_IGNORED) {   /* the kernel removed the watch (directory deleted, unmounted) */
        entry_clear(e);
        w->n--;
        return ST_OK;
    }
    if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT)) {
        /* seen from its parent's watch as a delete / move, unless it is a
         * root: a vanished root removes nothing */
        log_debug("watch: %s went away", e->path);
        return ST_OK;
    }
    if (!ev->len || ev->name[0] == '.' || !ev->name[0]) return ST_OK;   /* hidden, temporary */
    if (!e->all) {
        int wanted = 0;
        for (size_t i = 0; i < e->n_only && !wanted; i++) wanted = !strcmp(e->only[i], ev->name);
        if (!wanted) return ST_OK;
    }
    int is_dir = (ev->mask & IN_ISDIR) != 0;
    if (is_dir && (ev->mask & (IN_CREATE | IN_MOVED_TO))) {
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", e->path, ev->name) >= (int)sizeof path) return ST_OK;
        int rc = add_tree(w, path, 0);
        e = &w->e[ev->wd];   /* add_tree may have grown the array */
        if (rc) return rc;
    } else if (is_dir && (ev->mask & (IN_MOVED_FROM | IN_DELETE))) {
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", e->path, ev->name) >= (int)sizeof path) return ST_OK;
        drop_tree(w, path);
        e = &w->e[ev->wd];
        if (!e->path) return ST_OK;
    } else if (!is_dir && (ev->mask & IN_CREATE)) {
        return ST_OK;   /* its IN_CLOSE_WRITE follows once it is written */
    } else if (is_dir && (ev->mask & IN_ATTRIB)) {
        return ST_OK;
    }
    return gather_add(g, e->path, ev->name);
}

int watch_next(watch *w, const watch_opts *o, watch_batch *out) {
    memset(out, 0, sizeof *out);
    gather g = {out, 0};
    char *buf = w->buf;
    const double start = timer_now();
    double first = 0, last = 0;
    for (;;) {
        if (o->cancel && *o->cancel) {
            watch_batch_release(out);
            return ST_CANCELLED;
        }
        double now = timer_now();
        if (out->n || out->rescan) {
            if (now - last >= o->quiet_s || now - first >= o->max_wait_s || out->n >= o->max_paths) break;
        } else if (o->idle_s > 0 && now - start >= o->idle_s) {
            break;
        }
        struct pollfd pf = {.fd = w->fd, .events = POLLIN};
        int pr = poll(&pf, 1, 100);
        if (pr < 0 && errno != EINTR) {
            watch_batch_release(out);
            return status_fail(ST_IO, "watch: poll: %s", strerror(errno));
        }
        if (pr <= 0) continue;
        /* read what is queued, but stop reading once the batch is full: the
         * rest stays in the kernel's queue for the next batch */
        while (out->n < o->max_paths) {
            ssize_t n = read(w->fd, buf, sizeof w->buf);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == EAGAIN) break;
            if (n <= 0) {
                watch_batch_release(out);
                return status_fail(ST_IO, "watch: reading inotify events: %s", n < 0 ? strerror(errno) : "end of file");
            }
            for (char *p = buf; p < buf + n;) {
                const struct inotify_event *ev = (const struct inotify_event *)p;
                int rc = on_event(w, ev, &g);
                if (rc) {
                    watch_batch_release(out);
                    return rc;
                }
                p += sizeof *ev + ev->len;
            }
            now = timer_now();
            if (!first && (out->n || out->rescan)) first = now;
            last = now;
        }
    }
    batch_unique(out);
    return ST_OK;
}
