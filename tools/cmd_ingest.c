/* tools/cmd_ingest.c — `seer ingest`: photo trees into a store, with a
 * progress display. */
#include "cli_settings.h"
#include "cmd.h"
#include "ingest.h"
#include "log.h"
#include "status.h"
#include "store.h"
#include "vindex.h"

#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void ingest_usage(FILE *f) {
    fprintf(f,
            "usage: seer ingest --db DIR --model DIR [options] [PATH...]\n"
            "\n"
            "Walk each PATH (directories recursively; hidden entries skipped), embed every\n"
            "image with the CLIP model and commit it to the store in DIR (created when\n"
            "missing). Re-running is incremental: unchanged files (same path, size, mtime)\n"
            "are skipped without decoding; identical content under two paths is stored\n"
            "once; a changed file is embedded again. A bad file is reported and skipped.\n"
            "Without PATH, the settings file's photos roots are ingested.\n"
            "\n"
            "options:\n"
            "  --config FILE      settings read before these options: db, model, photos\n"
            "                     (default /etc/seer/seer.conf when present; docs/install.md)\n"
            "  --db DIR           the store (an LMDB environment)\n"
            "  --model DIR        Hugging Face CLIP model directory; a store keeps one model\n"
            "  --batch N          images per forward pass and per transaction (default 32)\n"
            "  --threads N        decode threads (default: the number of CPUs)\n"
            "  --prune            also drop stored files under PATH that no longer exist\n"
            "                     (a PATH with no image file left is refused: an unmounted\n"
            "                     drive would lose every image under it)\n"
            "  --prune-empty      with --prune, prune such a PATH too\n"
            "  --index KIND       after ingesting, build the approximate index: hnsw\n"
            "                     (exact search needs none; default: keep what the store has)\n"
            "  --wait             wait for another ingest on the same store instead of failing\n"
            "  --watch            keep the store up to date: walk the PATHs again every\n"
            "                     --watch-interval seconds until SIGINT / SIGTERM (settings:\n"
            "                     watch = on); --no-watch: one pass\n"
            "  --watch-interval S seconds between walks with --watch (default 300)\n"
            "  --no-exif-rotate   do not apply JPEG EXIF orientation\n"
            "  --quiet            no progress display and no summary (errors still print)\n");
}

typedef struct {
    int tty, quiet;
    double last_line;
    size_t n_errors;
    char **errors; /* "path: reason", for the summary */
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
    double rate = s->elapsed > 0 ? (double)(s->added + s->replaced) / s->elapsed : 0;
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
    } else if (s->elapsed - u->last_line >= 5.0 || s->done == s->total) {
        fprintf(stderr, "seer: ingest: %llu/%llu files, %.1f images/s, ETA %s, %llu errors\n",
                (unsigned long long)s->done, (unsigned long long)s->total, rate, eta,
                (unsigned long long)s->failed);
        u->last_line = s->elapsed;
    }
    fflush(stderr);
}

static void on_error(const char *path, const char *reason, void *ctx) {
    ui *u = ctx;
    if (u->tty && !u->quiet) fputc('\n', stderr);
    fprintf(stderr, "seer: skipped %s: %s\n", path, reason);
    char **v = realloc(u->errors, (u->n_errors + 1) * sizeof *v);
    if (!v) return;
    u->errors = v;
    size_t n = strlen(path) + strlen(reason) + 3;
    if ((v[u->n_errors] = malloc(n))) {
        snprintf(v[u->n_errors], n, "%s: %s", path, reason);
        u->n_errors++;
    }
}

static volatile int interrupted;
static void on_signal(int sig) { interrupted = sig; }

/* The options of one `seer ingest`. */
typedef struct {
    const char *db, *model, *index;
    int wait;
    int watch_s; /* > 0: walk the roots again every watch_s seconds until stopped */
    ingest_opts o;
} ingest_args;

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
        {0, 0, 0, 0}};
    const settings *cs = cli_settings_load(argc, argv);
    if (!cs) return 2;
    a->db = cs->db, a->model = cs->model, a->index = NULL;
    a->wait = 0;
    int watch = cs->watch == SETTINGS_ON;
    long interval = cs->watch_interval ? cs->watch_interval : 300;
    ingest_opts_default(&a->o);
    int c;
    long v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hq", opts, NULL)) != -1) {
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
        case 'G': break; /* read by cli_settings_load */
        case 'W': watch = 1; break;
        case 'n': watch = 0; break;
        case 'I': if (cli_parse_int("--watch-interval", optarg, 10, 86400, &interval)) return 2; break;
        case 'h': ingest_usage(stdout); return -1;
        default: ingest_usage(stderr); return 2;
        }
    }
    if (!a->db || !a->model || (optind >= argc && !cs->n_photos)) {
        cli_error(!a->db ? "--db DIR is required" : !a->model ? "--model DIR is required" : "give at least one PATH (or photos = ... in the settings file)");
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
    a->watch_s = watch ? (int)interval : 0;
    a->o.roots = (const char *const *)(optind < argc ? argv + optind : cs->photos);
    a->o.n_roots = optind < argc ? argc - optind : cs->n_photos;
    return 0;
}

/* ingest_run with SIGINT / SIGTERM asking it to stop after the batch. */
static int run_interruptible(store *st, const embedder *e, ingest_opts *o, ui *u, ingest_stats *s) {
    o->on_progress = on_progress;
    o->on_error = on_error;
    o->ctx = u;
    o->cancel = &interrupted;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int rc = ingest_run(st, e, o, s);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    return rc;
}

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

/* The summary: counts, where the time went, the first failures. */
static void print_report(const ui *u, const ingest_stats *s, int cancelled) {
    printf("ingest %s: %llu files in %.1fs — added %llu, re-embedded %llu, unchanged %llu, duplicates %llu, "
           "failed %llu, pruned %llu; skipped %llu unsupported, %llu hidden\n",
           cancelled ? "cancelled" : "done", (unsigned long long)s->total, s->elapsed,
           (unsigned long long)s->added, (unsigned long long)s->replaced, (unsigned long long)s->unchanged,
           (unsigned long long)s->duplicates, (unsigned long long)s->failed, (unsigned long long)s->pruned,
           (unsigned long long)s->unsupported, (unsigned long long)s->hidden);
    printf("time: read %.1fs, decode %.1fs, preprocess %.1fs, thumbnails %.1fs (summed over threads); "
           "encode %.1fs, commit %.1fs\n", s->t_read, s->t_decode, s->t_preprocess, s->t_thumb, s->t_encode,
           s->t_commit);
    for (size_t i = 0; i < u->n_errors && i < 20; i++) printf("failed: %s\n", u->errors[i]);
    if (u->n_errors > 20) printf("failed: ... and %zu more\n", u->n_errors - 20);
}

/* One ingest pass into the store a->db; the exit status (0, or 1 after
 * printing the error; *cancelled when a signal stopped it). */
static int ingest_pass(ingest_args *a, const embedder *e, ui *u, int *cancelled) {
    store *st;
    if (store_open(a->db, STORE_CREATE | (a->wait || a->watch_s ? STORE_WAIT : 0), &st)) {
        cli_error("%s", status_message());
        return 1;
    }
    int rc = 1;
    char real[4096];
    if (ingest_check_model(st, e) || store_set_model_path(st, realpath(a->model, real) ? real : a->model)) {
        cli_error("%s", status_message());
        goto out;
    }
    ingest_stats s;
    int st_run = run_interruptible(st, e, &a->o, u, &s);
    *cancelled = st_run == ST_CANCELLED;
    if (st_run && st_run != ST_CANCELLED) {
        cli_error("%s", status_message());
        goto out;
    }
    if (!st_run && refresh_hnsw(st, a->index)) goto out;
    if (!u->quiet) print_report(u, &s, st_run != 0);
    rc = st_run ? 1 : 0;
out:
    for (size_t i = 0; i < u->n_errors; i++) free(u->errors[i]);
    free(u->errors);
    u->errors = NULL;
    u->n_errors = 0;
    store_close(st);
    return rc;
}

/* Sleep seconds, or less when SIGINT / SIGTERM arrives; 1 when one did. */
static int watch_sleep(int seconds) {
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    for (int i = 0; i < seconds * 10 && !interrupted; i++) usleep(100000);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    return interrupted != 0;
}

int cmd_ingest(int argc, char **argv) {
    ingest_args a;
    ui u = {.tty = isatty(2)};
    int rc = parse_ingest_args(argc, argv, &a, &u);
    if (rc) return rc < 0 ? 0 : rc;
    embedder *e;
    if (embedder_load(a.model, EMBED_IMAGE, &e)) {
        cli_error("%s", status_message());
        return 1;
    }
    int cancelled = 0;
    for (;;) {
        rc = ingest_pass(&a, e, &u, &cancelled);
        if (rc || cancelled || !a.watch_s) break;
        if (!u.quiet) {
            printf("seer: watching; next walk in %d s\n", a.watch_s);
            fflush(stdout);
        }
        if (watch_sleep(a.watch_s)) break; /* stopped between walks: a clean exit */
    }
    embedder_free(e);
    return rc;
}
