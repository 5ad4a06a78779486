/* tests/test_browse.c — browsing, filters, paging, like=, z-scores and
 * near-duplicates (index/filter, catalog, browse, dupes, search) on a store
 * of the bundled sample photos embedded with the bundled demo CLIP, with the
 * photo metadata (dates, cameras, formats, folders) injected through
 * store_commit so nothing here depends on the decoders:
 *   every id comes exactly once across the pages of every sort and order,
 *   undated images come last both ways;
 *   after/before are inclusive, folder works absolute and relative to an
 *   ingested root and stops at path components, camera ignores case, format
 *   matches its name; bad filter values are refused with a message;
 *   a filtered search is the unfiltered ranking restricted to the matches
 *   (so a filter keeping few images still returns min(k, matches)), on the
 *   exact and the HNSW index, dense and sparse; search pages concatenate to
 *   the full ranking;
 *   like=ID never returns ID and finds its resized, recompressed copy first
 *   with a strong z; the z of a hit is (score - mean) / std over every
 *   scanned score;
 *   dupes groups the near-copy with its original and nothing else. */
#include "test.h"

#include "browse.h"
#include "catalog.h"
#include "dupes.h"
#include "filter.h"
#include "image.h"
#include "resize.h"
#include "search.h"
#include "status.h"
#include "store.h"
#include "thumb.h"
#include "vindex.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_CIFAR 40
#define MAXN 64

static const char *src;
static char tmp[256], db[300];
static embedder *emb;
static store *st;
static size_t n_img;
static uint64_t ids[MAXN];
static uint64_t id_orig, id_copy;    /* a larger sample and its resized, recompressed copy */

/* The metadata of image i (deterministic from i). */
static void meta_of(size_t i, store_record *r, char *path, size_t cap) {
    /* every 7th has no date; the others one day each from 2023-12-25 on */
    if (i % 7 == 3) {
        r->taken_source = IMAGE_TAKEN_NONE;
        r->taken_ns = STORE_TAKEN_NONE;
        r->taken[0] = 0;
    } else {
        unsigned day = (unsigned)i % 60;   /* 2023-12-25 + i days, within Dec/Jan/Feb */
        unsigned y = 2023, m = 12, d = 25 + day;
        if (d > 31) { y = 2024; m = 1; d -= 31; }
        if (m == 1 && d > 31) { m = 2; d -= 31; }
        snprintf(r->taken, sizeof r->taken, "%04u-%02u-%02uT%02u:00:00", y % 10000, m % 13, d % 32, (unsigned)(i % 24));
        r->taken_source = IMAGE_TAKEN_EXIF;
        r->taken_ns = 0;
    }
    r->taken_offset_min = IMAGE_OFFSET_UNKNOWN;
    if (i % 3 == 0) snprintf(r->make, sizeof r->make, "Canon"), snprintf(r->model, sizeof r->model, "Canon EOS R5");
    else if (i % 3 == 1) snprintf(r->make, sizeof r->make, "Google"), snprintf(r->model, sizeof r->model, "Pixel 7");
    else r->make[0] = r->model[0] = 0;
    r->format = i % 10 == 5 ? "png" : "jpeg";
    r->has_gps = i == 2;
    r->gps_lat = 48.85, r->gps_lon = 2.35;
    /* folders: /lib/2023/a, /lib/2023/ab (a prefix trap), /lib/2024/trip, and /elsewhere */
    const char *dir = i % 4 == 0 ? "/lib/2023/a" : i % 4 == 1 ? "/lib/2023/ab" : i % 4 == 2 ? "/lib/2024/trip" : "/elsewhere";
    snprintf(path, cap, "%s/img%02zu.jpg", dir, i);
}

static int make_store(void) {
    int rc = store_open(db, STORE_CREATE, &st);
    if (!rc) rc = store_check_model(st, emb->identity, emb->dim);
    if (!rc) rc = store_roots_add(st, "/lib");
    if (!rc) rc = store_roots_add(st, "/other-root");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "ls -d %s/samples/cifar10/*/*.jpg | head -%d; ls -d %s/samples/larger/*.jpg", src, N_CIFAR, src);
    FILE *f = popen(cmd, "r");
    char line[1024];
    float *vecs = malloc(MAXN * (size_t)emb->dim * sizeof *vecs);
    char paths[MAXN][128];
    store_record recs[MAXN];
    memset(recs, 0, sizeof recs);
    while (!rc && f && n_img < MAXN - 1 && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        size_t i = n_img;
        if ((rc = embedder_image_file(emb, line, NULL, vecs + i * (size_t)emb->dim, NULL))) break;
        meta_of(i, &recs[i], paths[i], sizeof paths[i]);
        recs[i].path = paths[i];
        store_hash_bytes(paths[i], strlen(paths[i]), recs[i].hash);
        recs[i].width = recs[i].height = 32;
        recs[i].vector = vecs + i * (size_t)emb->dim;
        n_img++;
        if (strstr(line, "horse-test0100")) {
            /* its near-copy: half size, JPEG quality 60, stored as another image */
            image im = {0}, half = {0};
            uint8_t *jpg = NULL;
            size_t len = 0;
            image_opts io = image_opts_default();
            size_t c = n_img;
            rc = image_load(line, &io, &im, NULL);
            if (!rc) rc = resize_image(&im, im.w / 2, im.h / 2, RESIZE_BILINEAR, &half);
            if (!rc) rc = thumb_jpeg(&half, im.w, 60, &jpg, &len);
            if (!rc) rc = embedder_image_bytes(emb, jpg, len, "copy", &io, vecs + c * (size_t)emb->dim, NULL);
            free(jpg);
            image_release(&im), image_release(&half);
            meta_of(c, &recs[c], paths[c], sizeof paths[c]);
            recs[c].path = paths[c];
            store_hash_bytes(paths[c], strlen(paths[c]), recs[c].hash);
            recs[c].vector = vecs + c * (size_t)emb->dim;
            id_orig = i + 1, id_copy = c + 1;   /* ids are 1.. in commit order (checked below) */
            n_img++;
        }
    }
    if (f) pclose(f);
    store_result res[MAXN];
    if (!rc) rc = store_commit(st, n_img, recs, res);
    for (size_t i = 0; !rc && i < n_img; i++) ids[i] = res[i].id;
    if (!rc && (ids[id_orig - 1] != id_orig || ids[id_copy - 1] != id_copy)) rc = status_fail(ST_INTERNAL, "ids are not 1..n");
    free(vecs);
    return rc;
}

/* ---------------------------------------------------------------- browse */

TEST(pages_hold_every_id_once) {
    catalog *cat;
    CHECK_MSG(catalog_load(st, &cat) == 0, "%s", status_message());
    for (int sort = 0; sort < 3; sort++)
        for (int desc = 0; desc < 2; desc++) {
            int seen[MAXN + 1] = {0};
            browse_query q = browse_query_default();
            q.sort = (browse_sort)sort, q.desc = desc, q.limit = 7;
            uint64_t total = 0, got = 0;
            int undated_seen = 0, order_ok = 1;
            for (q.offset = 0;; q.offset += q.limit) {
                browse_result r;
                CHECK(browse_run(cat, &q, &r) == 0);
                total = r.total;
                for (size_t i = 0; i < r.n; i++) {
                    CHECK(r.ids[i] >= 1 && r.ids[i] <= n_img);
                    seen[r.ids[i]]++;
                    got++;
                    const catalog_entry *e = catalog_find(cat, r.ids[i]);
                    if (sort == BROWSE_TAKEN) {
                        if (!e->taken[0]) undated_seen = 1;
                        else if (undated_seen) order_ok = 0;   /* a dated one after an undated one */
                    }
                }
                size_t n = r.n;
                browse_result_release(&r);
                if (n < q.limit) break;
            }
            CHECK(total == n_img && got == n_img);
            for (size_t i = 1; i <= n_img; i++) CHECK_MSG(seen[i] == 1, "sort %d desc %d id %zu seen %d", sort, desc, i, seen[i]);
            CHECK(order_ok && (sort != BROWSE_TAKEN || undated_seen));
        }
    /* taken asc: the first is the earliest date */
    browse_query q = browse_query_default();
    q.desc = 0, q.limit = 1;
    browse_result r;
    CHECK(browse_run(cat, &q, &r) == 0 && r.n == 1);
    CHECK(!strncmp(catalog_find(cat, r.ids[0])->taken, "2023-12-25", 10));
    browse_result_release(&r);
    q.offset = 1000;   /* past the end: empty page, the total still told */
    CHECK(browse_run(cat, &q, &r) == 0 && r.n == 0 && r.total == n_img);
    q.limit = 0;
    CHECK(browse_run(cat, &q, &r) == ST_ARG);
    catalog_free(cat);
}

/* How many of the images filter f keeps, by browse and by catalog_filter. */
static size_t count(const catalog *cat, const filter *f) {
    browse_query q = browse_query_default();
    q.filter = *f;
    q.limit = BROWSE_LIMIT_MAX;
    browse_result r;
    if (browse_run(cat, &q, &r)) return (size_t)-1;
    uint64_t *v;
    size_t n;
    if (catalog_filter(cat, f, &v, &n) || n != r.total) n = (size_t)-2;
    free(v);
    browse_result_release(&r);
    return n;
}

/* The same count from the metadata rules, by hand. */
static size_t expect(int (*keep)(size_t i, const store_record *r, const char *path)) {
    size_t n = 0;
    for (size_t i = 0; i < n_img; i++) {
        store_record r = {0};
        char path[128];
        meta_of(i, &r, path, sizeof path);
        n += keep(i, &r, path) != 0;
    }
    return n;
}

static int k_after(size_t i, const store_record *r, const char *p) { (void)i, (void)p; return r->taken[0] && strncmp(r->taken, "2024-01-05", 10) >= 0; }
static int k_before(size_t i, const store_record *r, const char *p) { (void)i, (void)p; return r->taken[0] && strncmp(r->taken, "2024-01-05", 10) <= 0; }
static int k_2023(size_t i, const store_record *r, const char *p) { (void)i, (void)r; return !strncmp(p, "/lib/2023/", 10); }
static int k_2023a(size_t i, const store_record *r, const char *p) { (void)i, (void)r; return !strncmp(p, "/lib/2023/a/", 12); }
static int k_canon(size_t i, const store_record *r, const char *p) { (void)i, (void)p; return !strcmp(r->make, "Canon"); }
static int k_pixel_png(size_t i, const store_record *r, const char *p) { (void)i, (void)p; return !strcmp(r->make, "Google") && !strcmp(r->format, "png"); }

TEST(filters) {
    catalog *cat;
    CHECK(catalog_load(st, &cat) == 0);
    filter f;
    filter_init(&f);
    CHECK(count(cat, &f) == n_img);
    CHECK(filter_set(&f, "after", "2024-01-05") == 0);
    CHECK(count(cat, &f) == expect(k_after) && expect(k_after) > 0);
    CHECK(filter_set(&f, "before", "2024-01-05") == 0);   /* one day, both ends inclusive */
    CHECK(count(cat, &f) == 1);
    filter_init(&f);
    CHECK(filter_set(&f, "before", "2024-01-05") == 0);
    CHECK(count(cat, &f) == expect(k_before));
    /* folders */
    const char *same[] = {"/lib/2023", "/lib/2023/", "2023", "2023/", "./2023"};
    for (size_t i = 0; i < 5; i++) {
        filter_init(&f);
        CHECK(filter_set(&f, "folder", same[i]) == 0);
        CHECK_MSG(count(cat, &f) == expect(k_2023), "folder %s", same[i]);
    }
    filter_init(&f);
    CHECK(filter_set(&f, "folder", "2023/a") == 0);   /* not 2023/ab */
    CHECK(count(cat, &f) == expect(k_2023a) && expect(k_2023a) < expect(k_2023));
    filter_init(&f);
    CHECK(filter_set(&f, "folder", "/lib/202") == 0);  /* not a component */
    CHECK(count(cat, &f) == 0);
    filter_init(&f);
    CHECK(filter_set(&f, "folder", "elsewhere") == 0); /* /elsewhere is under no root */
    CHECK(count(cat, &f) == 0);
    /* camera: case, make + model */
    filter_init(&f);
    CHECK(filter_set(&f, "camera", "cANON eos") == 0);
    CHECK(count(cat, &f) == expect(k_canon));
    filter_init(&f);
    CHECK(filter_set(&f, "camera", "google pixel") == 0 && filter_set(&f, "format", "PNG") == 0);
    CHECK(count(cat, &f) == expect(k_pixel_png));
    char cam[130];
    filter_camera("Canon", "Canon EOS R5", cam, sizeof cam);
    CHECK(!strcmp(cam, "Canon EOS R5"));
    filter_camera("Google", "Pixel 7", cam, sizeof cam);
    CHECK(!strcmp(cam, "Google Pixel 7"));
    /* refused, with a message naming the parameter */
    filter_init(&f);
    CHECK(filter_set(&f, "after", "2024-02-30") == ST_ARG && strstr(status_message(), "after"));
    CHECK(filter_set(&f, "before", "2024-1-05") == ST_ARG);
    CHECK(filter_set(&f, "after", "2024-03-01") == 0 && filter_set(&f, "before", "2024-02-01") == ST_ARG);
    CHECK(filter_set(&f, "folder", "") == ST_ARG && filter_set(&f, "folder", ".") == ST_ARG);
    CHECK(filter_set(&f, "format", "jp/g") == ST_ARG && filter_set(&f, "colour", "red") == ST_ARG);
    catalog_free(cat);
}

/* ---------------------------------------------------------------- search */

/* The whole unfiltered ranking of the text query (every image). */
static int full_ranking(const searcher *sr, const char *text, search_result *r) {
    search_query q = search_query_default();
    q.text = text, q.k = (int)n_img;
    return search_run(sr, &q, r);
}

static void filtered_is_restricted_ranking(vindex_kind kind) {
    vindex_params p;
    vindex_params_default(&p);
    p.kind = kind;
    vindex *vi;
    CHECK(vindex_load(st, &p, &vi, NULL) == 0);
    catalog *cat;
    CHECK(catalog_load(st, &cat) == 0);
    vindex_params pf;
    vindex_params_default(&pf);
    vindex *flat;
    CHECK(vindex_load(st, &pf, &flat, NULL) == 0);
    searcher sf = {.emb = emb, .st = st, .vi = &flat, .cat = &cat};
    searcher sr = {.emb = emb, .st = st, .vi = &vi, .cat = &cat};
    search_result all;
    CHECK(full_ranking(&sf, "a photo of a horse", &all) == 0 && all.n == (int)n_img);
    const char *fs[][2] = {{"format", "png"}, {"camera", "pixel"}, {"folder", "2024"}, {"after", "2024-01-20"}};
    for (size_t t = 0; t < 4; t++) {
        filter f;
        filter_init(&f);
        CHECK(filter_set(&f, fs[t][0], fs[t][1]) == 0);
        for (int k = 1; k <= 30; k += 9) {
            search_query q = search_query_default();
            q.text = "a photo of a horse", q.k = k, q.filter = &f;
            search_result r;
            CHECK_MSG(search_run(&sr, &q, &r) == 0, "%s", status_message());
            /* expected: the full ranking, kept by the filter, first k */
            int m = 0;
            for (int i = 0; i < all.n && m < k; i++) {
                const catalog_entry *e = catalog_find(cat, all.hits[i].id);
                if (!catalog_match(cat, &f, e)) continue;
                CHECK_MSG(m < r.n && r.hits[m].id == all.hits[i].id, "%s=%s k=%d hit %d", fs[t][0], fs[t][1], k, m);
                m++;
            }
            uint64_t *ids_f;
            size_t nf;
            CHECK(catalog_filter(cat, &f, &ids_f, &nf) == 0);
            free(ids_f);
            CHECK(r.n == m && (size_t)r.n == ((size_t)k < nf ? (size_t)k : nf) && r.matches == nf);
            search_result_release(&r);
        }
    }
    search_result_release(&all);
    catalog_free(cat);
    vindex_free(vi);
    vindex_free(flat);
}

TEST(filtered_search_exact) { filtered_is_restricted_ranking(VINDEX_FLAT); }
TEST(filtered_search_hnsw) { filtered_is_restricted_ranking(VINDEX_HNSW); }

TEST(search_pages_and_z) {
    vindex_params p;
    vindex_params_default(&p);
    vindex *vi;
    CHECK(vindex_load(st, &p, &vi, NULL) == 0);
    searcher sr = {.emb = emb, .st = st, .vi = &vi};
    search_result all;
    CHECK(full_ranking(&sr, "a red car", &all) == 0);
    /* z = (score - mean) / std over every score */
    double s = 0, s2 = 0;
    for (int i = 0; i < all.n; i++) s += all.hits[i].score, s2 += (double)all.hits[i].score * all.hits[i].score;
    double mean = s / all.n, sd = sqrt(s2 / all.n - mean * mean);
    CHECK(all.stats.scanned == n_img);
    CHECK_NEAR(all.stats.mean, mean, 1e-5);
    CHECK_NEAR(all.stats.std, sd, 1e-5);
    CHECK_NEAR(all.hits[0].z, (all.hits[0].score - mean) / sd, 1e-3);
    /* pages of 5 concatenate to the ranking */
    for (int off = 0; off < all.n; off += 5) {
        search_query q = search_query_default();
        q.text = "a red car", q.k = 5, q.offset = off;
        search_result r;
        CHECK(search_run(&sr, &q, &r) == 0);
        CHECK(r.n == (all.n - off < 5 ? all.n - off : 5));
        for (int i = 0; i < r.n; i++) CHECK(r.hits[i].id == all.hits[off + i].id);
        search_result_release(&r);
    }
    search_query q = search_query_default();
    q.text = "x", q.k = 10, q.offset = 4090;
    search_result r;
    CHECK(search_run(&sr, &q, &r) == ST_ARG);
    search_result_release(&all);
    vindex_free(vi);
}

TEST(like_finds_the_copy) {
    vindex_params p;
    vindex_params_default(&p);
    vindex *vi;
    CHECK(vindex_load(st, &p, &vi, NULL) == 0);
    searcher sr = {.emb = emb, .st = st, .vi = &vi};
    search_query q = search_query_default();
    q.like = id_orig, q.k = (int)n_img;
    search_result r;
    CHECK_MSG(search_run(&sr, &q, &r) == 0, "%s", status_message());
    CHECK(r.n == (int)n_img - 1);
    for (int i = 0; i < r.n; i++) CHECK(r.hits[i].id != id_orig);
    CHECK(r.hits[0].id == id_copy);
    printf("  like: copy %.4f (z %.2f), next %.4f (z %.2f), mean %.4f std %.4f\n", r.hits[0].score, r.hits[0].z,
           r.hits[1].score, r.hits[1].z, r.stats.mean, r.stats.std);
    /* the copy stands out most; strong is the rule applied to the best hit */
    for (int i = 1; i < r.n; i++) CHECK(r.hits[i].z < r.hits[0].z);
    CHECK(r.strong == (r.hits[0].z >= SEARCH_STRONG_Z));
    search_result_release(&r);
    q.like = 999999;
    CHECK(search_run(&sr, &q, &r) == ST_NOT_FOUND);
    q.text = "both";
    q.like = id_orig;
    CHECK(search_run(&sr, &q, &r) == ST_ARG);
    vindex_free(vi);
}

TEST(dupes_group_the_copy) {
    vindex_params p;
    vindex_params_default(&p);
    vindex *vi;
    CHECK(vindex_load(st, &p, &vi, NULL) == 0);
    dupes_result r;
    CHECK_MSG(dupes_find(st, vi, DUPES_THRESHOLD_DEFAULT, &r) == 0, "%s", status_message());
    CHECK(r.n_groups == 1);
    if (r.n_groups == 1) {
        CHECK(r.groups[0].n == 2 && r.groups[0].ids[0] == id_orig && r.groups[0].ids[1] == id_copy);
        CHECK(r.groups[0].min_score >= DUPES_THRESHOLD_DEFAULT);
    }
    dupes_result_release(&r);
    /* a threshold of 1 + nothing: no groups; a bad one refused */
    CHECK(dupes_find(st, vi, 1.0f, &r) == 0 && r.n_groups == 0);
    dupes_result_release(&r);
    CHECK(dupes_find(st, vi, 0.0f, &r) == ST_ARG && dupes_find(st, vi, 1.5f, &r) == ST_ARG);
    /* the HNSW index finds the same group */
    vindex *hn;
    p.kind = VINDEX_HNSW;
    CHECK(vindex_load(st, &p, &hn, NULL) == 0);
    CHECK(dupes_find(st, hn, DUPES_THRESHOLD_DEFAULT, &r) == 0 && r.n_groups == 1 && r.groups[0].n == 2);
    dupes_result_release(&r);
    vindex_free(hn);
    vindex_free(vi);
}

int main(void) {
    src = test_source();
    char model[512];
    snprintf(model, sizeof model, "%s/models/demo/clip", src);
    snprintf(tmp, sizeof tmp, "/tmp/seer-test-browse-XXXXXX");
    if (!mkdtemp(tmp)) return 1;
    snprintf(db, sizeof db, "%s/db", tmp);
    if (embedder_load(model, EMBED_IMAGE | EMBED_TEXT, &emb)) {
        printf("cannot open %s: %s\n", model, status_message());
        return 1;
    }
    if (make_store()) {
        printf("cannot make the test store: %s\n", status_message());
        return 1;
    }
    RUN(pages_hold_every_id_once);
    RUN(filters);
    RUN(filtered_search_exact);
    RUN(filtered_search_hnsw);
    RUN(search_pages_and_z);
    RUN(like_finds_the_copy);
    RUN(dupes_group_the_copy);
    store_close(st);
    embedder_free(emb);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) printf("  could not remove %s\n", tmp);
    return test_summary();
}
