/* tools/cmd_list.c — `seer list`: the library's images, filtered, sorted and
 * paged (index/browse.h), as text lines or JSON. */
#include "browse.h"
#include "catalog.h"
#include "cli_image.h"
#include "cmd.h"
#include "status.h"
#include "store.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void list_usage(FILE *f) {
    fprintf(f,
            "usage: seer list --db DIR [--sort taken|added|path] [--order asc|desc]\n"
            "                 [--offset N] [--limit N] [--json] [FILTERS]\n"
            "\n"
            "The stored images, one per line (taken, camera, size, format, path), sorted\n"
            "(default: by date taken, newest first; images without a date last).\n"
            "\n"
            "options:\n"
            "  --db DIR        the store made by seer ingest\n"
            "  --sort KEY      taken (default), added or path\n"
            "  --order ORDER   desc (default) or asc\n"
            "  --offset N      skip the first N images\n"
            "  --limit N       at most N images (1..1000, default 50)\n"
            "  --json          one JSON object: {\"total\", \"images\": [{\"id\", \"path\", \"taken\",\n"
            "                  \"camera\", \"format\", \"width\", \"height\", \"gps\"?}]}\n" CLI_FILTER_HELP);
}

int cmd_list(int argc, char **argv) {
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},     {"sort", required_argument, 0, 's'},
        {"order", required_argument, 0, 'r'},  {"offset", required_argument, 0, 'o'},
        {"limit", required_argument, 0, 'n'},  {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},         CLI_FILTER_OPTIONS, {0, 0, 0, 0}};
    browse_query q = browse_query_default();
    const char *db = NULL;
    int json = 0, c;
    long v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 's': if (browse_parse_sort(optarg, &q.sort)) { cli_error("--%s", status_message()); return 2; } break;
        case 'r': if (browse_parse_order(optarg, &q.desc)) { cli_error("--%s", status_message()); return 2; } break;
        case 'o': if (cli_parse_int("--offset", optarg, 0, 0x7fffffffffffffffL, &v)) return 2; q.offset = (uint64_t)v; break;
        case 'n': if (cli_parse_int("--limit", optarg, 1, BROWSE_LIMIT_MAX, &v)) return 2; q.limit = (size_t)v; break;
        case 'j': json = 1; break;
        case 'h': list_usage(stdout); return 0;
        default: {
            int r = cli_filter_option(&q.filter, c, optarg);
            if (r == 0) break;
            if (r < 0) list_usage(stderr);
            return 2;
        }
        }
    }
    if (!db || optind != argc) {
        cli_error(!db ? "--db DIR is required" : "unexpected argument '%s'", argv[optind]);
        list_usage(stderr);
        return 2;
    }
    store *st;
    if (store_open(db, STORE_RDONLY, &st)) {
        cli_error("%s", status_message());
        return 1;
    }
    catalog *cat = NULL;
    browse_result r = {0};
    int rc = catalog_load(st, &cat) || browse_run(cat, &q, &r) ? 1 : 0;
    if (rc) cli_error("%s", status_message());
    json_t *arr = json ? json_array() : NULL;
    for (size_t i = 0; !rc && i < r.n; i++) {
        store_image im;
        if (store_get_image(st, r.ids[i], &im)) { status_clear(); continue; }
        if (json) {
            json_array_append_new(arr, cli_image_json(r.ids[i], &im));
        } else {
            printf("%6llu  ", (unsigned long long)r.ids[i]);
            cli_image_print(&im);
            putchar('\n');
        }
    }
    if (!rc && json)
        cli_json_print(json_pack("{s:I, s:I, s:o}", "total", (json_int_t)r.total, "offset", (json_int_t)q.offset, "images", arr));
    else if (!rc)
        fprintf(stderr, "%zu of %llu images (from %llu)\n", r.n, (unsigned long long)r.total, (unsigned long long)q.offset);
    else json_decref(arr);
    browse_result_release(&r);
    catalog_free(cat);
    store_close(st);
    return rc;
}
