/* tools/cmd_ingest.c — `seer ingest`: photo trees into a store, with a
 * progress display. */
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
            "usage: seer ingest --db DIR --model DIR [options] PATH...\n"
            "\n"
            "Walk each PATH (directories recursively; hidden entries skipped), embed every\n"
            "image with the CLIP model and commit it to the store in DIR (created when\n"
            "missing). Re-running is incremental: unchanged files (same path, size, mtime)\n"
            "are skipped without decoding; identical content under two paths is stored\n"
            "once; a changed file is embedded again. A bad file is reported and skipped.\n"
            "\n"
            "options:\n"
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

int cmd_ingest(int argc, char **argv) {
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},      {"model", required_argument, 0, 'm'},
        {"batch", required_argument, 0, 'b'},   {"threads", required_argument, 0, 't'},
        {"prune", no_argument, 0, 'p'},         {"index", required_argument, 0, 'x'},
        {"wait", no_argument, 0, 'w'},          {"no-exif-rotate", no_argument, 0, 'E'},
        {"quiet", no_argument, 0, 'q'},         {"help", no_argument, 0, 'h'},
        {"prune-empty", no_argument, 0, 'P'},
        {0, 0, 0, 0}};
    const char *db = NULL, *model = NULL, *index = NULL;
    int wait = 0, c;
    long v;
    ingest_opts o;
    ingest_opts_default(&o);
    ui u = {.tty = isatty(2)};
    optind = 1;
    while ((c = getopt_long(argc, argv, "hq", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'm': model = optarg; break;
        case 'b': if (cli_parse_int("--batch", optarg, 1, 1024, &v)) return 2; o.batch = (int)v; break;
        case 't': if (cli_parse_int("--threads", optarg, 1, 256, &v)) return 2; o.threads = (int)v; break;
        case 'p': o.prune = 1; break;
        case 'P': o.prune_empty = 1; break;
        case 'x': index = optarg; break;
        case 'w': wait = 1; break;
        case 'E': o.image.exif_rotate = 0; break;
        case 'q': u.quiet = 1; break;
        case 'h': ingest_usage(stdout); return 0;
        default: ingest_usage(stderr); return 2;
        }
    }
    if (!db || !model || optind >= argc) {
        cli_error(!db ? "--db DIR is required" : !model ? "--model DIR is required" : "give at least one PATH");
        ingest_usage(stderr);
        return 2;
    }
    if (o.prune_empty && !o.prune) {
        cli_error("--prune-empty goes with --prune");
        return 2;
    }
    if (index && strcmp(index, "hnsw") && strcmp(index, "flat")) {
        cli_error("--index: expected hnsw or flat, got '%s'", index);
        return 2;
    }
    embedder *e;
    if (embedder_open(model, EMBED_IMAGE, &e)) {
        cli_error("%s", status_message());
        return 1;
    }
    store *st;
    if (store_open(db, STORE_CREATE | (wait ? STORE_WAIT : 0), &st)) {
        cli_error("%s", status_message());
        embedder_close(e);
        return 1;
    }
    int rc = 1;
    if (store_check_model(st, e->identity, e->dim)) {
        cli_error("%s", status_message());
        goto out;
    }
    char real[4096];
    if (store_set_model_path(st, realpath(model, real) ? real : model)) {
        cli_error("%s", status_message());
        goto out;
    }
    o.roots = (const char *const *)(argv + optind);
    o.n_roots = argc - optind;
    o.on_progress = on_progress;
    o.on_error = on_error;
    o.ctx = &u;
    o.cancel = &interrupted;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    ingest_stats s;
    int st_run = ingest_run(st, e, &o, &s);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (st_run && st_run != ST_CANCELLED) {
        cli_error("%s", status_message());
        goto out;
    }
    /* The approximate index is derived: build or catch it up now so that
     * searches start fast. The exact index needs nothing. */
    void *blob = NULL;
    size_t blen = 0;
    int has_hnsw = store_index_get(st, "hnsw", &blob, &blen) == ST_OK;
    free(blob);
    if (!st_run && ((index && !strcmp(index, "hnsw")) || (has_hnsw && !(index && !strcmp(index, "flat"))))) {
        vindex_params p;
        vindex_params_default(&p);
        p.kind = VINDEX_HNSW;
        vindex *vi;
        if (vindex_open(st, &p, &vi, NULL) || vindex_save(vi, st)) {
            cli_error("building the HNSW index: %s", status_message());
            goto out;
        }
        vindex_free(vi);
    }
    if (!u.quiet) {
        printf("ingest %s: %llu files in %.1fs — added %llu, re-embedded %llu, unchanged %llu, duplicates %llu, "
               "failed %llu, pruned %llu; skipped %llu unsupported, %llu hidden\n",
               st_run ? "cancelled" : "done", (unsigned long long)s.total, s.elapsed,
               (unsigned long long)s.added, (unsigned long long)s.replaced, (unsigned long long)s.unchanged,
               (unsigned long long)s.duplicates, (unsigned long long)s.failed, (unsigned long long)s.pruned,
               (unsigned long long)s.unsupported, (unsigned long long)s.hidden);
        printf("time: read %.1fs, decode %.1fs, preprocess %.1fs, thumbnails %.1fs (summed over threads); "
               "encode %.1fs, commit %.1fs\n", s.t_read, s.t_decode, s.t_preprocess, s.t_thumb, s.t_encode,
               s.t_commit);
        for (size_t i = 0; i < u.n_errors && i < 20; i++) printf("failed: %s\n", u.errors[i]);
        if (u.n_errors > 20) printf("failed: ... and %zu more\n", u.n_errors - 20);
    }
    rc = st_run ? 1 : 0;
out:
    for (size_t i = 0; i < u.n_errors; i++) free(u.errors[i]);
    free(u.errors);
    store_close(st);
    embedder_close(e);
    return rc;
}
