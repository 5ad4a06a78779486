/* tools/cmd_search.c — `seer search` (text or example image) and `seer info`. */
#include "catalog.h"
#include "cli_image.h"
#include "cmd.h"
#include "embed.h"
#include "ingest.h"
#include "search.h"
#include "status.h"
#include "store.h"
#include "vindex.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void search_usage(FILE *f) {
    fprintf(f,
            "usage: seer search --db DIR [--k N] [--offset N] [--json] [--index auto|flat|hnsw]\n"
            "                   [--rerank itm] [FILTERS] TEXT\n"
            "       seer search --db DIR ... --image FILE\n"
            "       seer search --db DIR ... --like ID\n"
            "\n"
            "The k (default 15) stored images most similar to TEXT (the model's text side),\n"
            "to an example image or to a stored image, best first, with cosine similarity\n"
            "scores (BLIP-2: the maximum over an image's 32 query vectors) and z (standard\n"
            "deviations above the mean score of the images scanned; z >= 3 is a strong\n"
            "match). Filters apply before ranking.\n"
            "\n"
            "options:\n"
            "  --db DIR        the store made by seer ingest\n"
            "  --model DIR     the CLIP or BLIP-2 model (default: the one the store was built with)\n"
            "  --k N           how many results (1..1000, default 15)\n"
            "  --json          one JSON object: {\"query\", \"results\": [{\"id\", \"path\", \"score\"}]}\n"
            "  --index KIND    auto (hnsw when the store has one, else exact), flat, hnsw\n"
            "  --image FILE    search by example image instead of text\n"
            "  --like ID       search by a stored image (its id; never a hit itself)\n"
            "  --offset N      skip the first N hits (paging; k + offset <= 4096)\n"
            "  --rerank itm    BLIP-2: re-rank the k hits with the ITM head (reads their image\n"
            "                  files); score = ITM match logit + cosine, and \"itm\" (match\n"
            "                  probability) in --json\n"
            CLI_FILTER_HELP);
}


/* The options of one `seer search`. */
typedef struct {
    const char *db, *model, *index, *image, *text;
    long k, offset, like;
    int json, rerank;
    filter f;
} search_args;

/* argv → *a; 0, or the exit status to return (usage printed). */
static int parse_search_args(int argc, char **argv, search_args *a) {
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},    {"model", required_argument, 0, 'm'},
        {"k", required_argument, 0, 'k'},     {"json", no_argument, 0, 'j'},
        {"index", required_argument, 0, 'x'}, {"image", required_argument, 0, 'i'},
        {"help", no_argument, 0, 'h'},        {"offset", required_argument, 0, 'o'},
        {"like", required_argument, 0, 'l'},  {"rerank", required_argument, 0, 'r'},
        CLI_FILTER_OPTIONS, {0, 0, 0, 0}};
    *a = (search_args){.index = "auto", .k = 15};
    filter_init(&a->f);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hk:", opts, NULL)) != -1) {
        switch (c) {
        case 'd': a->db = optarg; break;
        case 'm': a->model = optarg; break;
        case 'k': if (cli_parse_int("--k", optarg, 1, 1000, &a->k)) return 2; break;
        case 'j': a->json = 1; break;
        case 'x': a->index = optarg; break;
        case 'i': a->image = optarg; break;
        case 'o': if (cli_parse_int("--offset", optarg, 0, 4095, &a->offset)) return 2; break;
        case 'l': if (cli_parse_int("--like", optarg, 1, 0x7fffffffffffffffL, &a->like)) return 2; break;
        case 'r':
            if (strcmp(optarg, "itm")) { cli_error("--rerank: expected itm, got '%s'", optarg); return 2; }
            a->rerank = SEARCH_RERANK_ITM;
            break;
        case 'h': search_usage(stdout); return -1;
        default: {
            int r = cli_filter_option(&a->f, c, optarg);
            if (r == 0) break;
            if (r < 0) search_usage(stderr);
            return 2;
        }
        }
    }
    if (a->image && a->like) {
        cli_error("give --image FILE or --like ID, not both");
        return 2;
    }
    int bytext = !a->image && !a->like;
    if (!a->db || (bytext ? optind != argc - 1 : optind != argc)) {
        cli_error(!a->db ? "--db DIR is required" : !bytext ? "give one of --image FILE, --like ID or TEXT, not both" : "give one TEXT");
        search_usage(stderr);
        return 2;
    }
    if (strcmp(a->index, "auto") && strcmp(a->index, "flat") && strcmp(a->index, "hnsw")) {
        cli_error("--index: expected auto, flat or hnsw, got '%s'", a->index);
        return 2;
    }
    if (a->k + a->offset > 4096) {
        cli_error("--k + --offset must be at most 4096");
        return 2;
    }
    a->text = bytext ? argv[optind] : NULL;
    return 0;
}

/* The embedder (the store's model unless --model) and the index for a
 * search over st. */
static int open_search(const search_args *a, store *st, embedder **e, vindex **vi) {
    char mpath[4096];
    const char *model = a->model;
    if (!model) {
        if (store_get_model_path(st, mpath, sizeof mpath)) return 1;
        model = mpath;
    }
    int parts = a->rerank ? EMBED_IMAGE | EMBED_TEXT : a->image ? EMBED_IMAGE : EMBED_TEXT;
    if (embedder_load(model, parts, e) || ingest_check_model(st, *e))
        return 1;
    vindex_params p;
    if (search_index_params(st, a->index, &p) || vindex_load(st, &p, vi, NULL)) return 1;
    return 0;
}

/* The hits, as lines "rank  score  z  path" or as one JSON object. */
static void print_hits(const search_args *a, const search_result *r) {
    if (!a->json) {
        for (int i = 0; i < r->n; i++)
            printf("%2ld  %.4f  %5.2f  %s\n", a->offset + i + 1, r->hits[i].score, r->hits[i].z,
                   r->hits[i].found ? r->hits[i].image.path : "");
        if (!r->strong) fprintf(stderr, "seer: no strong match (no hit has z >= %.1f)\n", SEARCH_STRONG_Z);
        return;
    }
    json_t *o = json_object(), *arr = json_array();
    json_object_set_new(o, "query", a->like ? json_null() : json_string(a->image ? a->image : a->text));
    if (a->like) json_object_set_new(o, "like", json_integer(a->like));
    for (int i = 0; i < r->n; i++) {
        const search_hit *h = &r->hits[i];
        json_t *j = h->found ? cli_image_json(h->id, &h->image) : json_pack("{s:I, s:s}", "id", (json_int_t)h->id, "path", "");
        json_object_set_new(j, "score", json_real(h->score));
        json_object_set_new(j, "z", json_real(h->z));
        if (h->itm >= 0) json_object_set_new(j, "itm", json_real(h->itm));
        json_array_append_new(arr, j);
    }
    json_object_set_new(o, "took_ms", json_real(r->took_s * 1e3));
    json_object_set_new(o, "offset", json_integer(a->offset));
    json_object_set_new(o, "matches", json_integer((json_int_t)r->matches));
    json_object_set_new(o, "scanned", json_pack("{s:I, s:f, s:f}", "n", (json_int_t)r->stats.scanned, "mean",
                                                r->stats.mean, "std", r->stats.std));
    json_object_set_new(o, "strong", json_boolean(r->strong));
    json_object_set_new(o, "results", arr);
    cli_json_print(o);
}

int cmd_search(int argc, char **argv) {
    search_args a;
    int rc = parse_search_args(argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    store *st;
    if (store_open(a.db, STORE_RDONLY, &st)) {
        cli_error("%s", status_message());
        return 1;
    }
    embedder *e = NULL;
    vindex *vi = NULL;
    search_result r = {0};
    catalog *cat = NULL;
    searcher sr = {.st = st, .vi = &vi, .cat = &cat};
    search_query q = search_query_default();
    q.text = a.text, q.image_path = a.image, q.k = (int)a.k, q.rerank = a.rerank;
    q.like = (uint64_t)a.like, q.offset = (int)a.offset, q.filter = &a.f;
    rc = open_search(&a, st, &e, &vi);
    if (!rc && filter_active(&a.f) && catalog_load(st, &cat)) rc = 1;
    sr.emb = e;
    if (!rc) rc = search_run(&sr, &q, &r) ? 1 : 0;
    if (rc) cli_error("%s", status_message());
    else print_hits(&a, &r);
    search_result_release(&r);
    catalog_free(cat);
    vindex_free(vi);
    embedder_free(e);
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
    store_model mi;
    const char *family = "";
    int n_vec = 1;
    if (store_get_model_info(st, &mi) == ST_OK) {
        snprintf(model, sizeof model, "%s", mi.identity);
        dim = mi.dim, n_vec = mi.n_vec;
        family = mi.family;
    }
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
        json_t *o = json_pack("{s:I, s:I, s:s, s:s, s:s, s:i, s:i, s:s, s:I, s:I, s:I, s:I, s:I}", "images",
                              (json_int_t)cn.n_images, "paths", (json_int_t)cn.n_paths, "model", model,
                              "model_path", mpath, "family", family, "dim", dim, "vectors_per_image", n_vec, "index", hnsw ? "hnsw" : "flat", "hnsw_bytes",
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
        if (model[0]) printf("family      %s, %d vector%s per image\n", family, n_vec, n_vec == 1 ? "" : "s");
        printf("index       %s%s\n", hnsw ? "hnsw + exact" : "exact (flat)", "");
        printf("thumbnails  %llu\n", (unsigned long long)cn.n_thumbs);
        printf("disk        %.1f MB (map %.1f MB)\n", disk / 1e6, cn.map_bytes / 1e6);
        printf("generation  %llu\n", (unsigned long long)cn.generation);
        if (verify) printf("verify      ok (every invariant holds)\n");
    }
    store_close(st);
    return 0;
}
