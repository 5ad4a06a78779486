/* tools/cmd_dupes.c — `seer dupes`: near-duplicate groups (index/dupes.h). */
#include "cli_image.h"
#include "cmd.h"
#include "dupes.h"
#include "search.h"
#include "status.h"
#include "store.h"
#include "vindex.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

static void dupes_usage(FILE *f) {
    fprintf(f,
            "usage: seer dupes --db DIR [--threshold T] [--index auto|flat|hnsw] [--json]\n"
            "\n"
            "Groups of near-duplicate images: pairs whose embeddings have a cosine\n"
            "similarity of at least T (default %.2f: resized and recompressed copies of\n"
            "one photo; distinct photos of one scene stay apart, see docs/api.md), found\n"
            "from each image's nearest neighbours in the index and joined transitively.\n"
            "Byte-identical files are one image already and never show here.\n",
            (double)DUPES_THRESHOLD_DEFAULT);
}

int cmd_dupes(int argc, char **argv) {
    static const struct option opts[] = {{"db", required_argument, 0, 'd'},     {"threshold", required_argument, 0, 't'},
                                         {"json", no_argument, 0, 'j'},         {"index", required_argument, 0, 'x'},
                                         {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    const char *db = NULL, *index = "auto";
    float threshold = DUPES_THRESHOLD_DEFAULT;
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'j': json = 1; break;
        case 'x': index = optarg; break;
        case 't': {
            char *end;
            errno = 0;
            double t = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(t > 0 && t <= 1)) {
                cli_error("--threshold: expected a cosine similarity in (0, 1], got '%s'", optarg);
                return 2;
            }
            threshold = (float)t;
            break;
        }
        case 'h': dupes_usage(stdout); return 0;
        default: dupes_usage(stderr); return 2;
        }
    }
    if (!db || optind != argc) {
        cli_error("--db DIR is required");
        dupes_usage(stderr);
        return 2;
    }
    store *st;
    if (store_open(db, STORE_RDONLY, &st)) {
        cli_error("%s", status_message());
        return 1;
    }
    vindex_params p;
    vindex *vi = NULL;
    dupes_result r = {0};
    int rc = search_index_params(st, index, &p) || vindex_load(st, &p, &vi, NULL) || dupes_find(st, vi, threshold, &r);
    if (rc) {
        cli_error("%s", status_message());
        rc = 1;
    }
    json_t *groups = json_array();
    for (size_t g = 0; !rc && g < r.n_groups; g++) {
        json_t *imgs = json_array();
        if (!json) printf("group %zu: %zu images, similarity %.4f..%.4f\n", g + 1, r.groups[g].n,
                          (double)r.groups[g].min_score, (double)r.groups[g].max_score);
        for (size_t i = 0; i < r.groups[g].n; i++) {
            store_image im;
            if (store_get_image(st, r.groups[g].ids[i], &im)) { status_clear(); continue; }
            if (json) {
                json_array_append_new(imgs, cli_image_json(r.groups[g].ids[i], &im));
            } else {
                printf("  %6llu  ", (unsigned long long)r.groups[g].ids[i]);
                cli_image_print(&im);
                putchar('\n');
            }
        }
        json_array_append_new(groups, json_pack("{s:f, s:f, s:o}", "min_score", (double)r.groups[g].min_score,
                                                "max_score", (double)r.groups[g].max_score, "images", imgs));
    }
    if (!rc && json) cli_json_print(json_pack("{s:f, s:o}", "threshold", (double)threshold, "groups", groups));
    else json_decref(groups);
    if (!rc && !json) fprintf(stderr, "%zu groups at threshold %.3f\n", r.n_groups, (double)threshold);
    dupes_result_release(&r);
    vindex_free(vi);
    store_close(st);
    return rc;
}
