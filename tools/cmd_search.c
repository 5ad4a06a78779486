/* tools/cmd_search.c — `seer search` (text or example image) and `seer info`. */
#include "cmd.h"
#include "embed.h"
#include "status.h"
#include "store.h"
#include "timer.h"
#include "vindex.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void search_usage(FILE *f) {
    fprintf(f,
            "usage: seer search --db DIR [--k N] [--json] [--index auto|flat|hnsw] TEXT\n"
            "       seer search --db DIR [--k N] [--json] --image FILE\n"
            "\n"
            "The k (default 15) stored images most similar to TEXT (CLIP text tower) or\n"
            "to an example image, best first, with cosine similarity scores.\n"
            "\n"
            "options:\n"
            "  --db DIR        the store made by seer ingest\n"
            "  --model DIR     the CLIP model (default: the one the store was built with)\n"
            "  --k N           how many results (1..1000, default 15)\n"
            "  --json          one JSON object: {\"query\", \"results\": [{\"id\", \"path\", \"score\"}]}\n"
            "  --index KIND    auto (hnsw when the store has one, else exact), flat, hnsw\n"
            "  --image FILE    search by example image instead of text\n");
}


int cmd_search(int argc, char **argv) {
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},    {"model", required_argument, 0, 'm'},
        {"k", required_argument, 0, 'k'},     {"json", no_argument, 0, 'j'},
        {"index", required_argument, 0, 'x'}, {"image", required_argument, 0, 'i'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    const char *db = NULL, *model = NULL, *index = "auto", *image = NULL;
    long k = 15;
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hk:", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'm': model = optarg; break;
        case 'k': if (cli_parse_int("--k", optarg, 1, 1000, &k)) return 2; break;
        case 'j': json = 1; break;
        case 'x': index = optarg; break;
        case 'i': image = optarg; break;
        case 'h': search_usage(stdout); return 0;
        default: search_usage(stderr); return 2;
        }
    }
    if (!db || (image ? optind != argc : optind != argc - 1)) {
        cli_error(!db ? "--db DIR is required" : image ? "give --image FILE or TEXT, not both" : "give one TEXT");
        search_usage(stderr);
        return 2;
    }
    if (strcmp(index, "auto") && strcmp(index, "flat") && strcmp(index, "hnsw")) {
        cli_error("--index: expected auto, flat or hnsw, got '%s'", index);
        return 2;
    }
    const char *text = image ? NULL : argv[optind];
    store *st;
    if (store_open(db, STORE_RDONLY, &st)) {
        cli_error("%s", status_message());
        return 1;
    }
    int rc = 1;
    embedder *e = NULL;
    vindex *vi = NULL;
    char mpath[4096];
    if (!model) {
        if (store_get_model_path(st, mpath, sizeof mpath)) {
            cli_error("%s", status_message());
            goto out;
        }
        model = mpath;
    }
    if (embedder_open(model, image ? EMBED_IMAGE : EMBED_TEXT, &e) || store_check_model(st, e->identity, e->dim)) {
        cli_error("%s", status_message());
        goto out;
    }
    vindex_params p;
    vindex_params_default(&p);
    if (!strcmp(index, "hnsw")) p.kind = VINDEX_HNSW;
    else if (!strcmp(index, "auto")) {
        void *blob;
        size_t len;
        if (store_index_get(st, "hnsw", &blob, &len) == ST_OK) {
            free(blob);
            p.kind = VINDEX_HNSW;
        }
    }
    if (vindex_open(st, &p, &vi, NULL)) {
        cli_error("%s", status_message());
        goto out;
    }
    float *q = malloc((size_t)e->dim * sizeof *q);
    vindex_hit *hits = malloc((size_t)k * sizeof *hits);
    int n = 0;
    double t0 = timer_now();
    int st_q;
    if (image) {
        image_t img = {0};
        float *pix = malloc(embedder_pixels_len(e) * sizeof(float));
        st_q = image_load(image, &(image_opts){0}, &img, NULL);
        if (!st_q) {
            image_opts io = image_opts_default();
            image_free(&img);
            st_q = image_load(image, &io, &img, NULL);
        }
        if (!st_q) st_q = embedder_preprocess(e, &img, pix);
        if (!st_q) st_q = embedder_images(e, pix, 1, q);
        image_free(&img);
        free(pix);
    } else {
        st_q = embedder_text(e, text, q);
    }
    if (!st_q) st_q = vindex_search(vi, q, (int)k, hits, &n);
    double took = timer_now() - t0;
    if (st_q) {
        cli_error("%s", status_message());
        free(q), free(hits);
        goto out;
    }
    json_t *o = json_object(), *arr = json_array();
    json_object_set_new(o, "query", json_string(image ? image : text));
    for (int i = 0; i < n; i++) {
        store_image im;
        const char *path = store_get_image(st, hits[i].id, &im) == ST_OK ? im.path : "";
        if (json) {
            json_t *r = json_object();
            json_object_set_new(r, "id", json_integer((json_int_t)hits[i].id));
            json_object_set_new(r, "path", json_string(path));
            json_object_set_new(r, "score", json_real(hits[i].score));
            json_array_append_new(arr, r);
        } else {
            printf("%2d  %.4f  %s\n", i + 1, hits[i].score, path);
        }
    }
    if (json) {
        json_object_set_new(o, "took_ms", json_real(took * 1e3));
        json_object_set_new(o, "results", arr);
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(7));
        if (s) puts(s);
        free(s);
    } else {
        json_decref(arr);
    }
    json_decref(o);
    free(q), free(hits);
    rc = 0;
out:
    vindex_free(vi);
    embedder_close(e);
    store_close(st);
    return rc;
}

static void info_usage(FILE *f) {
    fprintf(f,
            "usage: seer info --db DIR [--json] [--verify]\n"
            "\n"
            "Image count, embedding model, index kind and sizes on disk of a store.\n"
            "--verify also checks every invariant of the store (docs/storage.md; reads\n"
            "everything) and exits 1 naming the first violation.\n");
}

int cmd_info(int argc, char **argv) {
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'}, {"json", no_argument, 0, 'j'}, {"help", no_argument, 0, 'h'},
        {"verify", no_argument, 0, 'v'},   {0, 0, 0, 0}};
    const char *db = NULL;
    int json = 0, verify = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'j': json = 1; break;
        case 'v': verify = 1; break;
        case 'h': info_usage(stdout); return 0;
        default: info_usage(stderr); return 2;
        }
    }
    if (!db || optind != argc) {
        cli_error("--db DIR is required");
        info_usage(stderr);
        return 2;
    }
    store *st;
    if (store_open(db, STORE_RDONLY, &st)) {
        cli_error("%s", status_message());
        return 1;
    }
    store_counts cn;
    char model[STORE_MODEL_MAX] = "", mpath[4096] = "";
    int dim = 0;
    if (store_counts_get(st, &cn)) {
        cli_error("%s", status_message());
        store_close(st);
        return 1;
    }
    if (verify && store_verify(st)) {
        cli_error("verify: %s", status_message());
        store_close(st);
        return 1;
    }
    store_get_model(st, model, sizeof model, &dim);
    store_get_model_path(st, mpath, sizeof mpath);
    void *blob = NULL;
    size_t hlen = 0;
    int hnsw = store_index_get(st, "hnsw", &blob, &hlen) == ST_OK;
    free(blob);
    char file[4200];
    struct stat sb;
    snprintf(file, sizeof file, "%s/data.mdb", db);
    long long disk = stat(file, &sb) == 0 ? (long long)sb.st_blocks * 512 : -1;
    if (json) {
        json_t *o = json_pack("{s:I, s:I, s:s, s:s, s:i, s:s, s:I, s:I, s:I, s:I, s:I}", "images",
                              (json_int_t)cn.n_images, "paths", (json_int_t)cn.n_paths, "model", model,
                              "model_path", mpath, "dim", dim, "index", hnsw ? "hnsw" : "flat", "hnsw_bytes",
                              (json_int_t)hlen, "thumbnails", (json_int_t)cn.n_thumbs, "disk_bytes",
                              (json_int_t)disk, "map_bytes", (json_int_t)cn.map_bytes, "generation",
                              (json_int_t)cn.generation);
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (s) puts(s);
        free(s);
        json_decref(o);
    } else {
        printf("store       %s\n", db);
        printf("images      %llu (%llu paths)\n", (unsigned long long)cn.n_images, (unsigned long long)cn.n_paths);
        printf("model       %s (dim %d)%s%s\n", model[0] ? model : "(none yet)", dim, mpath[0] ? " from " : "", mpath);
        printf("index       %s%s\n", hnsw ? "hnsw + exact" : "exact (flat)", "");
        printf("thumbnails  %llu\n", (unsigned long long)cn.n_thumbs);
        printf("disk        %.1f MB (map %.1f MB)\n", disk / 1e6, cn.map_bytes / 1e6);
        printf("generation  %llu\n", (unsigned long long)cn.generation);
        if (verify) printf("verify      ok (every invariant holds)\n");
    }
    store_close(st);
    return 0;
}
