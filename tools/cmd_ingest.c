/* tools/cmd_ingest.c — `seer ingest`: photo trees into a store, with a
 * progress display. */
#include "cli_settings.h"
#include "cmd.h"
#include "ingest.h"
#include "log.h"
#include "status.h"
#include "store.h"
#include "vindex.h"
#include "watch.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void ingest_usage(FILE *f) {
    fprintf(f,
            "usage: seer ingest --db DIR [--model DIR] [options] [PATH...]\n"
            "\n"
            "Walk each PATH (directories recursively; hidden entries skipped), embed every\n"
            "image with the model (CLIP or BLIP-2) and commit it to the store in DIR (created\n"
            "when missing). Every other file is opened and its format told from its bytes:\n"
            "the name is no filter (a JPEG without extension or named .png goes in). Each\n"
            "file gets one status: added, updated (new content), unchanged (same size and\n"
            "mtime, or touched with the same bytes), duplicate (bytes already stored under\n"
            "another path: stored once), failed or skipped (no image) with its reason on\n"
            "stderr. The date taken, camera, GPS position, size and format are stored with\n"
            "each image. Without PATH, the settings file's photos roots are ingested.\n"
            "\n"
            "options:\n"
            "  --config FILE      settings read before these options: db, model, photos\n"
            "                     (default /etc/seer/seer.conf when present; docs/install.md)\n"
            "  --db DIR           the store (an LMDB environment)\n"
            "  --model DIR        Hugging Face CLIP or BLIP-2 model directory; a store keeps one.\n"
            "                     Default: the one the store was built with\n"
            "  --batch N          images per forward pass and per transaction (default 32)\n"
            "  --threads N        decode threads (default: the number of CPUs)\n"
            "  --prune            also drop stored files under PATH that no longer exist\n"
            "                     (a PATH with no image file left is not pruned: an unmounted\n"
            "                     drive would lose every image under it)\n"
            "  --prune-empty      with --prune, prune such a PATH too\n"
            "  --index KIND       after ingesting, build the approximate index: hnsw\n"
            "                     (exact search needs none; default: keep what the store has)\n"
            "  --wait             wait for another ingest on the same store instead of failing\n"
            "  --report FILE      one JSON line per file seen: {\"path\", \"status\", \"reason\"}\n"
            "                     (reason null unless failed or skipped)\n"
            "  --watch            after the first pass, keep running and ingest what is\n"
            "                     created, changed, moved or deleted under the PATHs (inotify,\n"
            "                     ~1 s debounce) until SIGINT / SIGTERM (settings: watch = on);\n"
            "                     --no-watch: one pass\n"
            "  --watch-interval S with --watch, also walk everything every S seconds (default\n"
            "                     3600): what inotify cannot see (network filesystems)\n"
            "  --no-exif-rotate   do not apply JPEG EXIF orientation\n"
            "  --quiet            no progress display, no per-file lines, no summary (errors\n"
            "                     that stop the run still print)\n"
            "  -v, --verbose      log progress (as `seer -v ingest`)\n");
}

typedef struct {
    int tty, quiet;
    double last_line;
    uint64_t last_done;   /* the count of the last "done" line (printed once) */
    FILE *report;      /* --report, or NULL */
} ui;

static void fmt_time(double s, char *buf, size_t cap) {
    if (s < 0 || s > 1e7) snprintf(buf, cap, "--");
    else if (s < 60) snprintf(buf, cap, "%.0fs", s);
    else if (s < 3600) snprintf(buf, cap, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(buf, cap, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

static void on_progress(const ingest_stats *s, void *ctx) {
    ui *u = ctx;
    if (u->quiet) return;
    double rate = s->elapsed > 0 ? (double)(s->added + s->updated) / s->elapsed : 0;
    double files_rate = s->elapsed > 0 ? (double)s->done / s->elapsed : 0;
    char eta[32];
    fmt_time(files_rate > 0 ? (double)(s->total - s->done) / files_rate : -1, eta, sizeof eta);
    if (u->tty) {
        int width = 30, fill = s->total ? (int)(width * s->done / s->total) : width;
        char bar[64];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
        bar[width] = 0;
        fprintf(stderr, "\r[%s] %llu/%llu files  %.1f images/s  ETA %s  errors %llu  ", bar,
                (unsigned long long)s->done, (unsigned long long)s->total, rate, eta,
                (unsigned long long)s->failed);
        if (s->done == s->total) fputc('\n', stderr);
    } else if (s->elapsed - u->last_line >= 5.0 || (s->done == s->total && u->last_done != s->done)) {
        u->last_done = s->done;
        fprintf(stderr, "seer: ingest: %llu/%llu files, %.1f images/s, ETA %s, %llu errors\n",
                (unsigned long long)s->done, (unsigned long long)s->total, rate, eta,
                (unsigned long long)s->failed);
        u->last_line = s->elapsed;
    }
    fflush(stderr);
}

/* s with each invalid UTF-8 sequence as U+FFFD (paths are bytes; JSON is
 * UTF-8); malloc'd. */
static char *utf8_clean(const char *s) {
    size_t n = strlen(s);
    char *o = malloc(3 * n + 1), *q = o;
    if (!o) return NULL;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int len = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3 : (*p >> 3) == 30 ? 4 : 0;
        int ok = len > 0;
        for (int i = 1; ok && i < len; i++) ok = (p[i] & 0xc0) == 0x80;
        if (ok && len > 1) {   /* overlong forms, surrogates, above U+10FFFF */
            unsigned cp = len == 2 ? (p[0] & 0x1fu) << 6 | (p[1] & 0x3fu)
                        : len == 3 ? (p[0] & 0x0fu) << 12 | (p[1] & 0x3fu) << 6 | (p[2] & 0x3fu)
                                   : (p[0] & 0x07u) << 18 | (p[1] & 0x3fu) << 12 | (p[2] & 0x3fu) << 6 | (p[3] & 0x3fu);
            ok = (len == 2 && cp >= 0x80) || (len == 3 && cp >= 0x800 && (cp < 0xd800 || cp > 0xdfff)) ||
                 (len == 4 && cp >= 0x10000 && cp <= 0x10ffff);
        }
        if (ok) {
            memcpy(q, p, (size_t)len);
            q += len, p += len;
        } else {
            memcpy(q, "\xef\xbf\xbd", 3);
            q += 3, p++;
        }
    }
    *q = 0;
    return o;
}

static void on_file(const char *path, int status, const char *reason, void *ctx) {
    ui *u = ctx;
    if (reason && !u->quiet) {
        if (u->tty) fputc('\n', stderr);
        fprintf(stderr, "seer: %s %s: %s\n", ingest_status_name(status), path, reason);
    }
    if (u->report) {
        char *p = utf8_clean(path), *r = reason ? utf8_clean(reason) : NULL;
        json_t *j = p ? json_pack("{s:s, s:s, s:s?}", "path", p, "status", ingest_status_name(status), "reason", r)
                      : NULL;
        if (!j || json_dumpf(j, u->report, JSON_COMPACT) || fputc('\n', u->report) == EOF)
            log_warn("ingest: could not write the report line for %s", path);
        json_decref(j);
        free(p);
        free(r);
    }
}

/* The options of one `seer ingest`. */
typedef struct {
    const char *db, *model, *index, *report;
    char model_buf[4096];   /* the store's model directory, when --model is not given */
    int wait;
    int watch;              /* keep running: inotify batches after the first pass */
    int watch_s;            /* with watch: a full walk every watch_s seconds */
    ingest_opts o;
} ingest_args;

/* No --model: the model directory the store was built with. 0, or the exit
 * status after printing why there is none. */
static int model_from_store(ingest_args *a) {
    store *st;
    int rc = store_open(a->db, STORE_RDONLY, &st);
    if (rc == ST_NOT_FOUND) {
        cli_error("--model DIR is required: there is no store at %s yet to take its model from", a->db);
        return 2;
    }
    if (!rc) rc = store_get_model_path(st, a->model_buf, sizeof a->model_buf);
    store_close(st);
    if (rc) {
        cli_error("%s", status_message());
        return rc == ST_NOT_FOUND ? 2 : 1;
    }
    a->model = a->model_buf;
    log_info("ingest: the store's model %s", a->model);
    return 0;
}

/* argv → *a (and u->quiet); 0, -1 after --help, or the exit status of a
 * usage error. */
static int parse_ingest_args(int argc, char **argv, ingest_args *a, ui *u) {
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},      {"model", required_argument, 0, 'm'},
        {"batch", required_argument, 0, 'b'},   {"threads", required_argument, 0, 't'},
        {"prune", no_argument, 0, 'p'},         {"index", required_argument, 0, 'x'},
        {"wait", no_argument, 0, 'w'},          {"no-exif-rotate", no_argument, 0, 'E'},
        {"quiet", no_argument, 0, 'q'},         {"help", no_argument, 0, 'h'},
        {"prune-empty", no_argument, 0, 'P'},   {"config", required_argument, 0, 'G'},
        {"watch", no_argument, 0, 'W'},         {"no-watch", no_argument, 0, 'n'},
        {"watch-interval", required_argument, 0, 'I'},
        {"report", required_argument, 0, 'R'},  {"verbose", no_argument, 0, 'v'},
        {0, 0, 0, 0}};
    const settings *cs = cli_settings_load(argc, argv);
    if (!cs) return 2;
    a->db = cs->db, a->model = cs->model, a->index = NULL, a->report = NULL;
    a->wait = 0;
    int watch = cs->watch == SETTINGS_ON;
    long interval = cs->watch_interval ? cs->watch_interval : 3600;
    ingest_opts_default(&a->o);
    int c;
    long v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hqv", opts, NULL)) != -1) {
        switch (c) {
        case 'd': a->db = optarg; break;
        case 'm': a->model = optarg; break;
        case 'b': if (cli_parse_int("--batch", optarg, 1, 1024, &v)) return 2; a->o.batch = (int)v; break;
        case 't': if (cli_parse_int("--threads", optarg, 1, 256, &v)) return 2; a->o.threads = (int)v; break;
        case 'p': a->o.prune = 1; break;
        case 'P': a->o.prune_empty = 1; break;
        case 'x': a->index = optarg; break;
        case 'w': a->wait = 1; break;
        case 'E': a->o.image.exif_rotate = 0; break;
        case 'q': u->quiet = 1; break;
        case 'v': log_set_level(LOG_INFO); break;
        case 'R': a->report = optarg; break;
        case 'G': break; /* read by cli_settings_load */
        case 'W': watch = 1; break;
        case 'n': watch = 0; break;
        case 'I': if (cli_parse_int("--watch-interval", optarg, 10, 86400, &interval)) return 2; break;
        case 'h': ingest_usage(stdout); return -1;
        default: ingest_usage(stderr); return 2;
        }
    }
    if (!a->db || (optind >= argc && !cs->n_photos)) {
        cli_error(!a->db ? "--db DIR is required" : "give at least one PATH (or photos = ... in the settings file)");
        ingest_usage(stderr);
        return 2;
    }
    if (a->o.prune_empty && !a->o.prune) {
        cli_error("--prune-empty goes with --prune");
        return 2;
    }
    if (a->index && strcmp(a->index, "hnsw") && strcmp(a->index, "flat")) {
        cli_error("--index: expected hnsw or flat, got '%s'", a->index);
        return 2;
    }
    int rc;
    if (!a->model && (rc = model_from_store(a))) return rc;
    a->watch = watch;
    a->watch_s = (int)interval;
    a->o.roots = (const char *const *)(optind < argc ? argv + optind : cs->photos);
    a->o.n_roots = optind < argc ? argc - optind : cs->n_photos;
    return 0;
}

static volatile int interrupted;
static void on_signal(int sig) { interrupted = sig; }

/* The approximate index is derived: build or catch it up now (asked for with
 * --index hnsw, or kept up when the store has one and --index flat was not
 * given) so that searches start fast. The exact index needs nothing. */
static int refresh_hnsw(store *st, const char *index) {
    void *blob = NULL;
    size_t blen = 0;
    int has_hnsw = store_index_get(st, "hnsw", &blob, &blen) == ST_OK;
    free(blob);
    if (!((index && !strcmp(index, "hnsw")) || (has_hnsw && !(index && !strcmp(index, "flat"))))) return 0;
    vindex_params p;
    vindex_params_default(&p);
    p.kind = VINDEX_HNSW;
    vindex *vi;
    if (vindex_load(st, &p, &vi, NULL) || vindex_save(vi, st)) {
        cli_error("building the HNSW index: %s", status_message());
        return 1;
    }
    vindex_free(vi);
    return 0;
}

/* The summary: counts that add up to the files seen, where the time went.
 * The failed and skipped files were named as they came (stderr). */
static void print_report(const ingest_stats *s, int cancelled) {
    printf("ingest %s: %llu files in %.1fs — added %llu, updated %llu, unchanged %llu, duplicates %llu, "
           "failed %llu, skipped %llu; removed %llu stored paths (%llu hidden entries passed over)\n",
           cancelled ? "cancelled" : "done", (unsigned long long)s->total, s->elapsed,
           (unsigned long long)s->added, (unsigned long long)s->updated, (unsigned long long)s->unchanged,
           (unsigned long long)s->duplicates, (unsigned long long)s->failed, (unsigned long long)s->skipped,
           (unsigned long long)s->pruned, (unsigned long long)s->hidden);
    printf("time: read %.1fs, decode %.1fs, preprocess %.1fs, thumbnails %.1fs (summed over threads); "
           "encode %.1fs, commit %.1fs\n", s->t_read, s->t_decode, s->t_preprocess, s->t_thumb, s->t_encode,
           s->t_commit);
    fflush(stdout);
}

/* One ingest pass into the store a->db: the roots (paths NULL; with prune
 * forced on for a watch's rescans) or exactly these paths (a watch batch).
 * The exit status (0, or 1 after printing the error); *cancelled when a
 * signal stopped it. */
static int ingest_pass(ingest_args *a, const embedder *e, ui *u, char **paths, size_t n_paths, int force_prune,
                       int *cancelled) {
    store *st;
    *cancelled = 0;
    if (store_open(a->db, STORE_CREATE | (a->wait || a->watch ? STORE_WAIT : 0), &st)) {
        cli_error("%s", status_message());
        return 1;
    }
    int rc = 1;
    char real[4096];
    if (ingest_check_model(st, e) || store_set_model_path(st, realpath(a->model, real) ? real : a->model)) {
        cli_error("%s", status_message());
        goto out;
    }
    ingest_opts o = a->o;
    o.on_progress = on_progress;
    o.on_file = on_file;
    o.ctx = u;
    o.cancel = &interrupted;
    if (force_prune) o.prune = 1;
    ingest_stats s;
    int st_run = paths ? ingest_paths(st, e, &o, (const char *const *)paths, n_paths, &s) : ingest_run(st, e, &o, &s);
    *cancelled = st_run == ST_CANCELLED;
    if (st_run && st_run != ST_CANCELLED) {
        cli_error("%s", status_message());
        goto out;
    }
    if (u->report) fflush(u->report);
    if (!st_run && refresh_hnsw(st, a->index)) goto out;
    if (!u->quiet) print_report(&s, st_run != 0);
    rc = st_run ? 1 : 0;
out:
    store_close(st);
    return rc;
}

/* --watch: inotify batches through the same commit path, a full walk every
 * watch_s seconds and whenever events were lost. w was opened before the
 * first pass, so nothing that changed during it is missed. */
static int watch_loop(ingest_args *a, const embedder *e, ui *u, watch *w) {
    watch_opts wo;
    watch_opts_default(&wo);
    wo.cancel = &interrupted;
    wo.idle_s = a->watch_s;
    int cancelled = 0;
    if (!u->quiet) {
        printf("seer: watching %zu folders for changes (and a full walk every %d s); stop with SIGINT or SIGTERM\n",
               watch_count(w), a->watch_s);
        fflush(stdout);
    }
    for (;;) {
        watch_batch b;
        int rc = watch_next(w, &wo, &b);
        if (rc == ST_CANCELLED) return 0;   /* stopped between batches: a clean exit */
        if (rc) {
            cli_error("%s", status_message());
            return 1;
        }
        if (b.rescan) log_warn("watch: events were lost (the kernel's queue overflowed); walking everything");
        int full = b.rescan || !b.n;
        rc = ingest_pass(a, e, u, full ? NULL : b.paths, b.n, full, &cancelled);
        watch_batch_release(&b);
        if (rc && !cancelled) return rc;
        if (cancelled) return 0;
    }
}

int cmd_ingest(int argc, char **argv) {
    ingest_args a;
    ui u = {.tty = isatty(2)};
    int rc = parse_ingest_args(argc, argv, &a, &u);
    if (rc) return rc < 0 ? 0 : rc;
    if (a.report && !(u.report = fopen(a.report, "w"))) {
        cli_error("--report %s: %s", a.report, strerror(errno));
        return 1;
    }
    embedder *e;
    if (embedder_load(a.model, EMBED_IMAGE, &e)) {
        if (a.model == a.model_buf)
            cli_error("the model %s was built with cannot be loaded (%s); give --model DIR", a.db, status_message());
        else
            cli_error("%s", status_message());
        if (u.report) fclose(u.report);
        return 1;
    }
    watch *w = NULL;
    if (a.watch && watch_open(a.o.roots, a.o.n_roots, &w)) {
        cli_error("--watch: %s", status_message());
        embedder_free(e);
        if (u.report) fclose(u.report);
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int cancelled = 0;
    rc = ingest_pass(&a, e, &u, NULL, 0, 0, &cancelled);
    if (!rc && !cancelled && w) rc = watch_loop(&a, e, &u, w);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    watch_close(w);
    embedder_free(e);
    if (u.report && fclose(u.report) != 0) {
        cli_error("--report %s: %s", a.report, strerror(errno));
        rc = rc ? rc : 1;
    }
    return rc;
}
