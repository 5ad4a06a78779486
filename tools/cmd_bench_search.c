/* tools/cmd_bench_search.c — `seer bench search`: single-query top-k latency
 * of the exact scans (own BLAS scan, FAISS IndexFlatIP) and HNSW over
 * clustered synthetic unit vectors, against this machine's memory bandwidth
 * measured in the same run.
 *
 *     seer bench search --n 10000,100000,1000000 [--dim 512] [--queries 200]
 *                       [--k 15] [--clusters 1000] [--ef-construction 64]
 *                       [--hnsw-max-n N] [--hnsw-m M] [--vectors-per-image V]
 *                       [--no-faiss] [--no-hnsw]
 *
 * --vectors-per-image V (BLIP-2: 32): every image holds V vectors and its
 * score is the max over them (vindex n_vec); n counts images, so the scan
 * reads n*V*dim*4 bytes, and HNSW indexes n*V vectors grouped to images.
 *
 * The exact scan reads every vector once, so its floor is n*dim*4 bytes
 * divided by the read bandwidth (a 2-thread sum over 512 MiB, best of 5).
 * HNSW's efSearch is swept upward until recall@k against the exact result
 * reaches 0.95; the table reports the first that does.
 *
 * --filter adds, after the exact own scan and HNSW, the filtered search
 * (vindex_search_among) with allow-sets keeping 100% (the unfiltered scan
 * with its z-score statistics), 50% and 1% of the ids, drawn at random; its
 * floor_ms is the read floor of the kept rows only (fraction x n*dim*4).
 */
#include "bench_util.h"
#include "cmd.h"

#include "status.h"
#include "timer.h"
#include "vindex.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- bandwidth */

typedef struct { double read_gbs, triad_gbs; } bandwidth;

/* 2 × 512 MiB swept by the OpenMP threads (omp_set_num_threads(threads) in main). */
static bandwidth measure_bandwidth(void) {
    double rd, tr;
    bench_bandwidth((size_t)1 << 30, 4, &rd, &tr);
    return (bandwidth){rd / 1e9, tr / 1e9};
}

/* ---------------------------------------------------------------- data */

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double u01(uint64_t *s) { return ((double)(splitmix(s) >> 11) + 0.5) / 9007199254740992.0; }
static float gauss(uint64_t *s) { return (float)(sqrt(-2.0 * log(u01(s))) * cos(6.283185307179586 * u01(s))); }

/* Row i of x (n × dim): a unit vector near one of nc unit centres; noise
 * sigma per coordinate (0.035 × sqrt(512) ≈ 0.8 of the centre's norm, so
 * in-cluster cosines are around 0.6, like real image embeddings). Rows in
 * one group of `group` (an image's vectors) share their centre. */
static void gen_clustered(float *x, size_t n, int dim, const float *centres, int nc, uint64_t seed, int threads,
                          int group) {
    const float sigma = 0.035f;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t i = 0; i < n; i++) {
        uint64_t cs = seed ^ ((i / (size_t)group) * 0x2545f4914f6cdd1dull), s = seed ^ (i * 0x9e3779b97f4a7c15ull);
        const float *c = centres + (splitmix(&cs) % (uint64_t)nc) * (size_t)dim;
        float *v = x + i * (size_t)dim;
        double ss = 0;
        for (int j = 0; j < dim; j++) { v[j] = c[j] + sigma * gauss(&s); ss += (double)v[j] * v[j]; }
        float inv = (float)(1.0 / sqrt(ss));
        for (int j = 0; j < dim; j++) v[j] *= inv;
    }
}

/* ---------------------------------------------------------------- timing */


typedef struct { double p50, p99, mean; } lat;

/* Time nq single-query searches (after 3 warm-ups); fill hits [nq, k]. */
static int time_queries(const vindex *vi, const float *q, int nq, int dim, int k, vindex_hit *hits, lat *out) {
    double *t = malloc((size_t)nq * sizeof *t);
    int nh, rc = 0;
    for (int i = 0; i < 3 && !rc; i++) rc = vindex_search(vi, q + (size_t)(i % nq) * dim, k, hits, &nh);
    double sum = 0;
    for (int i = 0; i < nq && !rc; i++) {
        double t0 = timer_now();
        rc = vindex_search(vi, q + (size_t)i * dim, k, hits + (size_t)i * k, &nh);
        t[i] = (timer_now() - t0) * 1e3;
        sum += t[i];
    }
    if (!rc) {
        qsort(t, (size_t)nq, sizeof *t, bench_cmp_double);
        out->p50 = t[nq / 2];
        out->p99 = t[(int)ceil(0.99 * nq) - 1];
        out->mean = sum / nq;
    }
    free(t);
    return rc;
}

static double recall(const vindex_hit *got, const vindex_hit *truth, int nq, int k) {
    long found = 0;
    for (int q = 0; q < nq; q++)
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) found += got[(size_t)q * k + i].id == truth[(size_t)q * k + j].id;
    return (double)found / ((double)nq * k);
}

/* ---------------------------------------------------------------- command */

static void usage(void) {
    fprintf(stderr,
            "usage: seer bench search [--n N[,N...]] [--dim D] [--queries Q] [--k K] [--clusters C]\n"
            "                         [--ef-construction E] [--hnsw-max-n N] [--hnsw-m M] [--threads T]\n"
            "                         [--vectors-per-image V] [--no-faiss] [--no-hnsw] [--filter]\n");
}

/* The options of one `seer bench search`. */
typedef struct {
    long ns[8];
    int n_ns;
    long dim, nq, k, nc, efc, threads, hnsw_max, hnsw_m, nv;
    int do_faiss, do_hnsw, do_filter;
} search_args;

/* argv → *a; 0, -1 after --help, or the exit status of a usage error. */
static int parse_args(int argc, char **argv, search_args *a) {
    *a = (search_args){.ns = {10000, 100000, 1000000}, .n_ns = 3, .dim = 512, .nq = 200, .k = 15, .nc = 1000,
                       .efc = 64, .threads = 2, .hnsw_max = 1000000000, .hnsw_m = 32, .nv = 1, .do_faiss = 1,
                       .do_hnsw = 1};
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long *dst = NULL, lo = 1, hi = 1L << 40;
        if (!strcmp(o, "--no-faiss")) { a->do_faiss = 0; continue; }
        if (!strcmp(o, "--no-hnsw")) { a->do_hnsw = 0; continue; }
        if (!strcmp(o, "--filter")) { a->do_filter = 1; continue; }
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) { usage(); return -1; }
        if (!v) { cli_error("%s needs a value", o); usage(); return 2; }
        if (!strcmp(o, "--n")) {
            a->n_ns = 0;
            char *s = strdup(v), *save = NULL;
            for (char *t = strtok_r(s, ",", &save); t && a->n_ns < 8; t = strtok_r(NULL, ",", &save))
                if (cli_parse_int("--n", t, 1, 100000000, &a->ns[a->n_ns++])) { free(s); return 2; }
            free(s);
            i++;
            continue;
        }
        if (!strcmp(o, "--dim")) { dst = &a->dim; hi = 4096; }
        else if (!strcmp(o, "--queries")) { dst = &a->nq; hi = 100000; }
        else if (!strcmp(o, "--k")) { dst = &a->k; hi = 1024; }
        else if (!strcmp(o, "--clusters")) { dst = &a->nc; hi = 1000000; }
        else if (!strcmp(o, "--ef-construction")) { dst = &a->efc; hi = 4096; }
        else if (!strcmp(o, "--hnsw-max-n")) { dst = &a->hnsw_max; }
        else if (!strcmp(o, "--hnsw-m")) { dst = &a->hnsw_m; lo = 4; hi = 256; }
        else if (!strcmp(o, "--vectors-per-image")) { dst = &a->nv; hi = 4096; }
        else if (!strcmp(o, "--threads")) { dst = &a->threads; hi = 256; }
        else { cli_error("unknown option %s", o); usage(); return 2; }
        if (cli_parse_int(o, v, lo, hi, dst)) return 2;
        i++;
    }
    return 0;
}

/* nc random unit centres (nc, dim). */
static float *make_centres(long nc, long dim) {
    float *centres = malloc((size_t)nc * dim * sizeof *centres);
    if (!centres) return NULL;
    uint64_t cs = 12345;
    for (long i = 0; i < nc * dim; i++) centres[i] = gauss(&cs);
    for (long i = 0; i < nc; i++) {
        double ss = 0;
        for (long j = 0; j < dim; j++) ss += (double)centres[i * dim + j] * centres[i * dim + j];
        for (long j = 0; j < dim; j++) centres[i * dim + j] /= (float)sqrt(ss);
    }
    return centres;
}

/* What every method of one n is measured on. */
typedef struct {
    const search_args *a;
    size_t n;
    const float *x, *q;         /* (n, nv, dim) vectors, (nq, dim) queries */
    const uint64_t *ids;
    vindex_hit *truth, *hits;   /* (nq, k) each: the exact own scan's, the method's */
    double floor_ms, floor_triad;
} bench_case;

/* HNSW: efSearch swept upward until recall@k reaches 0.95; the row for the
 * first that does (or the last tried). */
static int sweep_ef(vindex *vi, const bench_case *b, double build) {
    static const int efs[] = {16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512};
    const search_args *a = b->a;
    int chosen = 0, rc = 0;
    double chosen_r = 0;
    lat L, chosen_l = {0, 0, 0};
    for (size_t e = 0; e < sizeof efs / sizeof *efs && !rc; e++) {
        if (efs[e] < a->k) continue;
        if ((rc = vindex_set_ef_search(vi, efs[e]))) break;
        if ((rc = time_queries(vi, b->q, (int)a->nq, (int)a->dim, (int)a->k, b->hits, &L))) break;
        double r = recall(b->hits, b->truth, (int)a->nq, (int)a->k);
        fprintf(stderr, "  hnsw n=%zu efSearch=%d: recall@%ld %.3f p50 %.3f ms p99 %.3f ms\n", b->n, efs[e], a->k, r,
                L.p50, L.p99);
        if (r >= 0.95) { chosen = efs[e]; chosen_r = r; chosen_l = L; break; }
        chosen_r = r; chosen_l = L; chosen = efs[e];
    }
    if (!rc) {
        char name[32];
        snprintf(name, sizeof name, "hnsw%ld ef%d", a->hnsw_m, chosen);
        printf("%9zu  %-14s %9.2f %9.3f %9.3f %10.3f %9s %7s %7s\n", b->n, name, build, chosen_l.p50, chosen_l.p99,
               chosen_r, "-", "-", "-");
    }
    return rc;
}

/* vindex_search_among with allow-sets keeping 100%, 50% and 1% of the ids:
 * one row each. */
static int bench_filtered(const vindex *vi, const bench_case *b, const char *method) {
    const search_args *a = b->a;
    static const double fracs[] = {1.0, 0.5, 0.01};
    uint64_t *allow = malloc(b->n * sizeof *allow);
    double *t = malloc((size_t)a->nq * sizeof *t);
    int rc = allow && t ? 0 : status_fail(ST_NOMEM, "out of memory");
    for (size_t f = 0; f < 3 && !rc; f++) {
        size_t na = 0;
        uint64_t seed = 777 + f;
        for (size_t i = 0; i < b->n; i++)
            if (fracs[f] >= 1.0 || u01(&seed) < fracs[f]) allow[na++] = b->ids[i];
        const uint64_t *al = fracs[f] >= 1.0 ? NULL : allow;
        vindex_scan_stats ss;
        int nh;
        for (int i = 0; i < 3 && !rc; i++)
            rc = vindex_search_among(vi, b->q + (size_t)i * a->dim, al, na, 0, (int)a->k, b->hits, &nh, &ss);
        for (long i = 0; i < a->nq && !rc; i++) {
            double t0 = timer_now();
            rc = vindex_search_among(vi, b->q + (size_t)i * a->dim, al, na, 0, (int)a->k, b->hits, &nh, &ss);
            t[i] = (timer_now() - t0) * 1e3;
            if (!rc && nh != ((size_t)a->k < na ? (int)a->k : (int)na)) rc = status_fail(ST_INTERNAL, "filtered search gave %d hits", nh);
        }
        if (rc) break;
        qsort(t, (size_t)a->nq, sizeof *t, bench_cmp_double);
        double p50 = t[a->nq / 2], p99 = t[(int)ceil(0.99 * a->nq) - 1];
        double fl = b->floor_ms * (double)na / (double)b->n, flt = b->floor_triad * (double)na / (double)b->n;
        char name[32];
        snprintf(name, sizeof name, "%s %g%%", method, fracs[f] * 100);
        printf("%9zu  %-14s %9s %9.3f %9.3f %10s %9.2f %7.2f %7.2f\n", b->n, name, "-", p50, p99, "exact", fl, p50 / fl,
               p50 / flt);
    }
    free(allow);
    free(t);
    return rc;
}

/* Method m (0 exact own scan, 1 exact FAISS, 2 HNSW) on one n: build, time,
 * print its row. */
static int bench_method(const bench_case *b, int m) {
    const search_args *a = b->a;
    vindex_params p;
    vindex_params_default(&p);
    p.threads = (int)a->threads;
    p.scan = m == 1 ? VINDEX_SCAN_FAISS : VINDEX_SCAN_OWN;
    p.kind = m == 2 ? VINDEX_HNSW : VINDEX_FLAT;
    p.ef_construction = (int)a->efc;
    p.hnsw_m = (int)a->hnsw_m;
    p.n_vec = (int)a->nv;
    vindex *vi;
    double t0 = timer_now();
    int rc = vindex_build(&p, (int)a->dim, b->n, b->x, b->ids, &vi);
    if (rc) return rc;
    double build = timer_now() - t0;
    if (m < 2) {
        lat L;
        rc = time_queries(vi, b->q, (int)a->nq, (int)a->dim, (int)a->k, m == 0 ? b->truth : b->hits, &L);
        if (!rc) {
            double r = m == 0 ? 1.0 : recall(b->hits, b->truth, (int)a->nq, (int)a->k);
            printf("%9zu  %-14s %9.2f %9.3f %9.3f %10.3f %9.2f %7.2f %7.2f\n", b->n, m == 0 ? "exact own" : "exact faiss",
                   build, L.p50, L.p99, r, b->floor_ms, L.p50 / b->floor_ms, L.p50 / b->floor_triad);
        }
        if (!rc && m == 0 && a->do_filter) rc = bench_filtered(vi, b, "among");
    } else {
        rc = sweep_ef(vi, b, build);
        if (!rc && a->do_filter) rc = bench_filtered(vi, b, "hnsw among");
    }
    fflush(stdout);
    vindex_free(vi);
    return rc;
}

int cmd_bench_search(int argc, char **argv) {
    search_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    const long dim = a.dim, nq = a.nq, k = a.k, threads = a.threads;
    omp_set_num_threads((int)threads);
    printf("seer bench search: dim %ld, %ld vector%s per image, %ld clusters, %ld queries, top-%ld, %ld threads, "
           "HNSW M %ld efConstruction %ld\n", dim, a.nv, a.nv == 1 ? "" : "s", a.nc, nq, k, threads, a.hnsw_m, a.efc);
    bandwidth bw = measure_bandwidth();
    printf("memory bandwidth (%ld threads): read %.1f GB/s, triad %.1f GB/s\n\n", threads, bw.read_gbs, bw.triad_gbs);
    printf("%9s  %-14s %9s %9s %9s %10s %9s %7s %7s\n", "n", "method", "build_s", "p50_ms", "p99_ms", "recall@k",
           "floor_ms", "x_read", "x_triad");

    float *centres = make_centres(a.nc, dim);
    float *q = malloc((size_t)nq * dim * sizeof *q);
    vindex_hit *truth = malloc((size_t)nq * k * sizeof *truth), *hits = malloc((size_t)nq * k * sizeof *hits);
    if (!centres || !q || !truth || !hits) {
        cli_error("out of memory");
        free(centres); free(q); free(truth); free(hits);
        return 1;
    }
    gen_clustered(q, (size_t)nq, (int)dim, centres, (int)a.nc, 0xfeedull, (int)threads, 1);

    for (int ni = 0; ni < a.n_ns && !rc; ni++) {
        size_t n = (size_t)a.ns[ni];
        const size_t rows = n * (size_t)a.nv;
        float *x = malloc(rows * (size_t)dim * sizeof *x);
        uint64_t *ids = malloc(n * sizeof *ids);
        if (!x || !ids) { cli_error("out of memory for %zu vectors", rows); free(x); free(ids); rc = 1; break; }
        gen_clustered(x, rows, (int)dim, centres, (int)a.nc, 0xabcdefull + n, (int)threads, (int)a.nv);
        for (size_t i = 0; i < n; i++) ids[i] = i + 1;
        /* bandwidth again right before this n's scans: other load on the
         * machine moves it, and the ratio must compare like with like */
        if (ni > 0) bw = measure_bandwidth();
        fprintf(stderr, "  n=%zu: read %.1f GB/s, triad %.1f GB/s\n", n, bw.read_gbs, bw.triad_gbs);
        bench_case b = {.a = &a, .n = n, .x = x, .q = q, .ids = ids, .truth = truth, .hits = hits,
                        .floor_ms = (double)rows * dim * 4 / (bw.read_gbs * 1e9) * 1e3,
                        .floor_triad = (double)rows * dim * 4 / (bw.triad_gbs * 1e9) * 1e3};
        for (int m = 0; m < 3 && !rc; m++) {
            if (m == 1 && !a.do_faiss) continue;
            if (m == 2 && (!a.do_hnsw || (long)n > a.hnsw_max)) continue;
            rc = bench_method(&b, m);
        }
        free(x);
        free(ids);
    }
    if (rc) cli_error("%s", status_message());
    free(centres); free(q); free(truth); free(hits);
    return rc ? 1 : 0;
}
