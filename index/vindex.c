/* index/vindex.c — exact and HNSW cosine search. See vindex.h.
 *
 * NOTES ON THE DESIGN
 *
 * Layout: FLAT keeps `mat` (n × dim float32, row-major, capacity `cap` rows)
 * and `ids` (n u64); row r of mat is the vector of ids[r]. HNSW keeps the
 * FAISS index (labels 0..n-1 = rows, in add order) and `ids`; the vectors live
 * only inside FAISS's storage (mat is NULL) so 1M vectors are not held twice.
 *
 * Own exact scan (scan_own): the rows are split into `threads` contiguous
 * ranges, one per OpenMP thread; each thread walks its range in blocks of
 * SCAN_BLOCK rows, scores a block against all queries (one query: our
 * scan_dot_rows kernel (kernels/scan.c), which measured faster than cblas_sgemv — set
 * SEER_SCAN_SGEMV=1 to re-measure sgemv; several queries: one cblas_sgemm,
 * single-threaded inside the parallel region) into a small score buffer
 * that stays in L1/L2, then
 * pushes the block's scores through a per-query min-heap of size k. The
 * threads' heaps are merged at the end. A thread is used per SCAN_MIN_BYTES
 * (16 MiB) of matrix at most: below that, waking a second thread costs more
 * than it saves (and stalls when the other core is busy). Cost: one pass over the matrix —
 * memory-bound, so the floor is n*dim*4 bytes / memory bandwidth.
 *
 * Several vectors per image (n_vec > 1, BLIP-2's 32 query tokens): an
 * image's score is the maximum over its n_vec dot products. FLAT: row
 * img*n_vec + q of mat is vector q of image img; a block holds whole images,
 * its dot products are folded to one score per image (scan_group_max, in
 * place) before the heap, so the heap sees images, never vectors. HNSW and
 * the FAISS flat scan: FAISS holds every vector, label img*n_vec + q; a
 * search over-fetches kf vectors, keeps the first (= best) hit of each image,
 * and doubles kf for the queries still short of k distinct images, until
 * they have k or kf covers the whole index. n_vec = 1 takes the old paths
 * untouched (no grouping, no over-fetch).
 *
 * Invariants:
 *   V1  ids[] is strictly increasing (vindex_add checks), so the largest id
 *       is ids[n-1] and the generation rule of vindex.h holds.
 *   V2  HNSW: faiss ntotal == n * n_vec (n counts images).
 *
 * Persisted blob (store index table, name "hnsw"), little-endian:
 *   0  "SVIX"          4  u32 blob version (1)   8  u32 kind   12 u32 dim
 *   16 u64 generation  24 u64 n                  32 u64 max id 40 u32 hnsw_m
 *   44 u32 efConstruction   48 n × u64 ids   then the faiss_write_index bytes.
 */
#include "vindex.h"

#include "log.h"
#include "scan.h"
#include "topk.h"
#include "status.h"
#include "timer.h"

#include <cblas.h>
#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/IndexFlat_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>
#include <faiss/c_api/utils/distances_c.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCAN_BLOCK 1024
#define SCAN_MIN_BYTES (16u << 20)
#define BLOB_HDR 48
#define BLOB_VERSION 1

struct vindex {
    vindex_params p;
    int dim;
    size_t n, cap;
    float *mat;             /* FLAT: (cap, n_vec, dim), images [0, n) valid */
    int n_vec;              /* vectors per image (>= 1) */
    uint64_t *ids;          /* (cap) */
    FaissIndex *faiss;      /* HNSW graph, or the FAISS flat copy for VINDEX_SCAN_FAISS */
    uint64_t generation;
};

void vindex_params_default(vindex_params *p) {
    memset(p, 0, sizeof *p);
    p->kind = VINDEX_FLAT;
    p->scan = VINDEX_SCAN_OWN;
    p->threads = 2;
    p->hnsw_m = 32;
    p->ef_construction = 64;
    p->ef_search = 64;
    p->n_vec = 1;
}

static int faiss_fail(const char *what) {
    const char *e = faiss_get_last_error();
    return status_fail(ST_STORE, "FAISS %s failed: %s", what, e ? e : "(no message)");
}

static int set_param(FaissIndex *ix, const char *name, double v) {
    FaissParameterSpace *ps = NULL;
    if (faiss_ParameterSpace_new(&ps)) return faiss_fail("ParameterSpace_new");
    int rc = faiss_ParameterSpace_set_index_parameter(ps, ix, name, v);
    faiss_ParameterSpace_free(ps);
    return rc ? faiss_fail(name) : 0;
}

/* ---------------------------------------------------------------- create/add */

static int reserve(vindex *vi, size_t need) {
    if (need <= vi->cap) return 0;
    size_t cap = vi->cap ? vi->cap : 1024;
    while (cap < need) cap *= 2;
    uint64_t *ids = realloc(vi->ids, cap * sizeof *ids);
    if (!ids) return status_fail(ST_NOMEM, "vindex: out of memory for %zu ids", cap);
    vi->ids = ids;
    if (vi->p.kind == VINDEX_FLAT) {
        float *m = realloc(vi->mat, cap * (size_t)vi->n_vec * (size_t)vi->dim * sizeof(float));
        if (!m) return status_fail(ST_NOMEM, "vindex: out of memory for %zu × %d vectors", cap, vi->dim);
        vi->mat = m;
    }
    vi->cap = cap;
    return 0;
}

static int create_faiss(vindex *vi) {
    if (vi->dim <= 0) return 0;
    if (vi->p.kind == VINDEX_HNSW) {
        char desc[32];
        snprintf(desc, sizeof desc, "HNSW%d", vi->p.hnsw_m);
        if (faiss_index_factory(&vi->faiss, vi->dim, desc, METRIC_INNER_PRODUCT)) return faiss_fail("index_factory");
        int rc = set_param(vi->faiss, "efConstruction", vi->p.ef_construction);
        if (!rc) rc = set_param(vi->faiss, "efSearch", vi->p.ef_search);
        return rc;
    }
    if (vi->p.scan == VINDEX_SCAN_FAISS) {
        FaissIndexFlatIP *ix;
        if (faiss_IndexFlatIP_new_with(&ix, vi->dim)) return faiss_fail("IndexFlatIP_new");
        vi->faiss = (FaissIndex *)ix;
        faiss_set_distance_compute_blas_threshold(1);   /* BLAS even for one query (BUILD-NOTES) */
    }
    return 0;
}

static int vindex_new(const vindex_params *p, int dim, vindex **out) {
    *out = NULL;
    if (p->kind != VINDEX_FLAT && p->kind != VINDEX_HNSW) return status_fail(ST_ARG, "vindex: unknown kind %d", p->kind);
    if (dim < 0 || dim > 65536) return status_fail(ST_ARG, "vindex: bad dim %d", dim);
    vindex *vi = calloc(1, sizeof *vi);
    if (!vi) return status_fail(ST_NOMEM, "vindex: out of memory");
    vi->p = *p;
    if (vi->p.threads <= 0) vi->p.threads = 2;
    if (vi->p.hnsw_m <= 0) vi->p.hnsw_m = 32;
    if (vi->p.ef_construction <= 0) vi->p.ef_construction = 64;
    if (vi->p.ef_search <= 0) vi->p.ef_search = 64;
    if (vi->p.n_vec <= 0) vi->p.n_vec = 1;
    if (vi->p.n_vec > 4096) { free(vi); return status_fail(ST_ARG, "vindex: bad vectors per image %d", p->n_vec); }
    vi->n_vec = vi->p.n_vec;
    vi->dim = dim;
    int rc = create_faiss(vi);
    if (rc) { vindex_free(vi); return rc; }
    *out = vi;
    return 0;
}

int vindex_add(vindex *vi, size_t n, const float *vecs, const uint64_t *ids) {
    if (!n) return 0;
    if (vi->dim <= 0) return status_fail(ST_ARG, "vindex_add: the index has no dimension");
    for (size_t i = 0; i < n; i++)
        if ((i == 0 && vi->n && ids[0] <= vi->ids[vi->n - 1]) || (i && ids[i] <= ids[i - 1]))
            return status_fail(ST_ARG, "vindex_add: ids must be strictly increasing (id %llu)", (unsigned long long)ids[i]);
    int rc = reserve(vi, vi->n + n);
    if (rc) return rc;
    const size_t per = (size_t)vi->n_vec * (size_t)vi->dim;   /* floats per image */
    if (vi->faiss && faiss_Index_add(vi->faiss, (idx_t)(n * (size_t)vi->n_vec), vecs)) return faiss_fail("add");
    if (vi->mat) memcpy(vi->mat + vi->n * per, vecs, n * per * sizeof(float));
    memcpy(vi->ids + vi->n, ids, n * sizeof *ids);
    vi->n += n;
    return 0;
}

int vindex_build(const vindex_params *p, int dim, size_t n, const float *vecs, const uint64_t *ids, vindex **out) {
    if (dim <= 0) return status_fail(ST_ARG, "vindex_build: bad dim %d", dim);
    vindex *vi;
    int rc = vindex_new(p, dim, &vi);
    if (rc) return rc;
    if ((rc = vindex_add(vi, n, vecs, ids))) { vindex_free(vi); return rc; }
    *out = vi;
    return 0;
}

void vindex_free(vindex *vi) {
    if (!vi) return;
    if (vi->faiss) faiss_Index_free(vi->faiss);
    free(vi->mat);
    free(vi->ids);
    free(vi);
}

size_t vindex_size(const vindex *vi) { return vi->n; }
int vindex_dim(const vindex *vi) { return vi->dim; }
int vindex_n_vec(const vindex *vi) { return vi->n_vec; }
vindex_kind vindex_kind_of(const vindex *vi) { return vi->p.kind; }
uint64_t vindex_generation(const vindex *vi) { return vi->generation; }

int vindex_set_ef_search(vindex *vi, int ef) {
    if (vi->p.kind != VINDEX_HNSW) return status_fail(ST_ARG, "vindex_set_ef_search: not an HNSW index");
    if (ef <= 0) return status_fail(ST_ARG, "vindex_set_ef_search: bad efSearch %d", ef);
    vi->p.ef_search = ef;
    return vi->faiss ? set_param(vi->faiss, "efSearch", ef) : 0;
}

/* ---------------------------------------------------------------- search */

static int scan_own(const vindex *vi, size_t nq, const float *q, int k, vindex_hit *hits, int kk) {
    /* a thread is worth waking for at least SCAN_MIN_BYTES of matrix */
    const int nv = vi->n_vec;
    size_t bytes = vi->n * (size_t)nv * (size_t)vi->dim * sizeof(float);
    int T = vi->p.threads;
    if ((size_t)T > bytes / SCAN_MIN_BYTES + 1) T = (int)(bytes / SCAN_MIN_BYTES + 1);
    /* a block is BI whole images = BI * nv rows (SCAN_BLOCK rows for nv = 1) */
    const size_t BI = nv < SCAN_BLOCK ? (size_t)(SCAN_BLOCK / nv) : 1;
    const size_t BR = BI * (size_t)nv;
    topk_entry *heaps = malloc((size_t)T * nq * (size_t)k * sizeof *heaps);
    int *lens = calloc((size_t)T * nq, sizeof *lens);
    float *scores = malloc((size_t)T * nq * BR * sizeof *scores);
    if (!heaps || !lens || !scores) {
        free(heaps); free(lens); free(scores);
        return status_fail(ST_NOMEM, "vindex_search: out of memory");
    }
    const int dim = vi->dim;
    const size_t n = vi->n;
#pragma omp parallel num_threads(T)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        size_t per = (n + (size_t)nt - 1) / (size_t)nt;
        size_t r0 = (size_t)t * per, r1 = r0 + per < n ? r0 + per : n;
        topk_entry *H = heaps + (size_t)t * nq * (size_t)k;
        int *L = lens + (size_t)t * nq;
        float *S = scores + (size_t)t * nq * BR;
        for (size_t b = r0; b < r1; b += BI) {
            int imgs = (int)(r1 - b < BI ? r1 - b : BI);
            int rows = imgs * nv;
            const float *M = vi->mat + b * (size_t)nv * (size_t)dim;
            if (nq == 1 && getenv("SEER_SCAN_SGEMV"))   /* kept to re-measure */
                cblas_sgemv(CblasRowMajor, CblasNoTrans, rows, dim, 1.0f, M, dim, q, 1, 0.0f, S, 1);
            else if (nq == 1)
                scan_dot_rows(M, rows, dim, q, S);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, rows, dim, 1.0f, q, dim, M, dim,
                            0.0f, S, rows);
            for (size_t qi = 0; qi < nq; qi++) {
                topk_entry *h = H + qi * (size_t)k;
                int *len = &L[qi];
                float *s = S + qi * (size_t)rows;
                if (nv > 1) scan_group_max(s, imgs, nv, s);   /* one score per image */
                for (int i = 0; i < imgs; i++)
                    if (*len < k || s[i] > h[0].s) topk_push(h, len, k, s[i], (int64_t)(b + (size_t)i));
            }
        }
    }
    /* merge the threads' heaps per query */
    topk_entry *all = malloc((size_t)T * (size_t)k * sizeof *all);
    if (!all) { free(heaps); free(lens); free(scores); return status_fail(ST_NOMEM, "vindex_search: out of memory"); }
    for (size_t qi = 0; qi < nq; qi++) {
        int m = 0;
        for (int t = 0; t < T; t++) {
            memcpy(all + m, heaps + ((size_t)t * nq + qi) * (size_t)k, (size_t)lens[(size_t)t * nq + qi] * sizeof *all);
            m += lens[(size_t)t * nq + qi];
        }
        qsort(all, (size_t)m, sizeof *all, topk_entry_cmp_desc);
        for (int i = 0; i < kk; i++) {
            hits[qi * (size_t)k + i].id = vi->ids[all[i].r];
            hits[qi * (size_t)k + i].score = all[i].s;
        }
    }
    free(all); free(heaps); free(lens); free(scores);
    return 0;
}

static int scan_faiss(const vindex *vi, size_t nq, const float *q, int k, vindex_hit *hits, int kk) {
    float *D = malloc(nq * (size_t)k * sizeof *D);
    idx_t *lab = malloc(nq * (size_t)k * sizeof *lab);
    if (!D || !lab) { free(D); free(lab); return status_fail(ST_NOMEM, "vindex_search: out of memory"); }
    int rc = 0;
    /* HNSW parallelises over queries only: for fewer queries than threads,
     * waking the team costs more than it gives (and stalls on a busy core).
     * The setting is this thread's own OpenMP ICV; it is restored. */
    int saved = omp_get_max_threads();
    int fewer = vi->p.kind == VINDEX_HNSW && nq < (size_t)saved;
    if (fewer) omp_set_num_threads((int)nq);
    if (faiss_Index_search(vi->faiss, (idx_t)nq, q, k, D, lab)) rc = faiss_fail("search");
    if (fewer) omp_set_num_threads(saved);
    for (size_t qi = 0; !rc && qi < nq; qi++) {
        int m = 0;
        for (int i = 0; i < k && m < kk; i++) {
            idx_t r = lab[qi * (size_t)k + i];
            if (r < 0 || (size_t)r >= vi->n) continue;   /* HNSW may return fewer than k */
            hits[qi * (size_t)k + m].id = vi->ids[r];
            hits[qi * (size_t)k + m].score = D[qi * (size_t)k + i];
            m++;
        }
        for (; m < kk; m++) { hits[qi * (size_t)k + m].id = 0; hits[qi * (size_t)k + m].score = -INFINITY; }
    }
    free(D); free(lab);
    return rc;
}

/* Set of image indices (open addressing, cap a power of two): the images a
 * query's grouped FAISS hits already hold. */
static int seen_add(int64_t *tab, size_t cap, int64_t v) {
    size_t h = (size_t)((uint64_t)v * 0x9E3779B97F4A7C15ull >> 17) & (cap - 1);
    while (tab[h] >= 0) {
        if (tab[h] == v) return 0;
        h = (h + 1) & (cap - 1);
    }
    tab[h] = v;
    return 1;
}

/* n_vec > 1 through FAISS (HNSW, or the FAISS flat scan): over-fetch kf
 * vectors, keep each image's first (best) hit, widen kf for the queries short
 * of kk distinct images until the index is exhausted. */
static int scan_faiss_grouped(const vindex *vi, size_t nq, const float *q, int k, vindex_hit *hits, int kk) {
    const int nv = vi->n_vec, dim = vi->dim;
    const size_t total = vi->n * (size_t)nv;
    size_t kf = (size_t)k * (size_t)(nv < 4 ? nv : 4);
    if (vi->p.kind != VINDEX_HNSW) kf = (size_t)k * (size_t)nv;   /* exact: k*nv vectors always hold k images */
    if (kf > total) kf = total;
    size_t scap = 16;
    while (scap < 2 * (size_t)kk) scap *= 2;
    size_t *pend = malloc(nq * sizeof *pend);
    float *qb = malloc(nq * (size_t)dim * sizeof *qb);
    int64_t *seen = malloc(scap * sizeof *seen);
    if (!pend || !qb || !seen) { free(pend); free(qb); free(seen); return status_fail(ST_NOMEM, "vindex_search: out of memory"); }
    for (size_t i = 0; i < nq; i++) pend[i] = i;
    size_t np = nq;
    int rc = 0;
    int saved = omp_get_max_threads();
    while (np && !rc) {
        float *D = malloc(np * kf * sizeof *D);
        idx_t *lab = malloc(np * kf * sizeof *lab);
        if (!D || !lab) { free(D); free(lab); rc = status_fail(ST_NOMEM, "vindex_search: out of memory"); break; }
        for (size_t i = 0; i < np; i++) memcpy(qb + i * (size_t)dim, q + pend[i] * (size_t)dim, (size_t)dim * sizeof *qb);
        int fewer = vi->p.kind == VINDEX_HNSW && np < (size_t)saved;
        if (fewer) omp_set_num_threads((int)np);
        if (faiss_Index_search(vi->faiss, (idx_t)np, qb, (idx_t)kf, D, lab)) rc = faiss_fail("search");
        if (fewer) omp_set_num_threads(saved);
        size_t still = 0;
        for (size_t i = 0; !rc && i < np; i++) {
            size_t qi = pend[i];
            vindex_hit *h = hits + qi * (size_t)k;
            for (size_t j = 0; j < scap; j++) seen[j] = -1;
            int m = 0;
            for (size_t j = 0; j < kf && m < kk; j++) {
                idx_t r = lab[i * kf + j];
                if (r < 0 || (size_t)r >= total) continue;
                int64_t img = (int64_t)(r / nv);
                if (!seen_add(seen, scap, img)) continue;
                h[m].id = vi->ids[img];
                h[m].score = D[i * kf + j];
                m++;
            }
            if (m < kk && kf < total) { pend[still++] = qi; continue; }   /* widen */
            for (; m < kk; m++) { h[m].id = 0; h[m].score = -INFINITY; }
        }
        free(D); free(lab);
        np = still;
        kf = kf * 2 < total ? kf * 2 : total;
    }
    free(pend); free(qb); free(seen);
    return rc;
}

int vindex_search_batch(const vindex *vi, size_t nq, const float *queries, int k, vindex_hit *hits, int *n_hits) {
    *n_hits = 0;
    if (k <= 0 || k > 4096) return status_fail(ST_ARG, "vindex_search: k must be in [1, 4096], got %d", k);
    if (!nq || vi->n == 0) return 0;
    int kk = (size_t)k < vi->n ? k : (int)vi->n;
    float *q = malloc(nq * (size_t)vi->dim * sizeof *q);
    if (!q) return status_fail(ST_NOMEM, "vindex_search: out of memory");
    for (size_t i = 0; i < nq; i++) {
        const float *src = queries + i * (size_t)vi->dim;
        double ss = 0;
        for (int j = 0; j < vi->dim; j++) ss += (double)src[j] * src[j];
        if (!(ss > 0) || !isfinite(ss)) {
            free(q);
            return status_fail(ST_ARG, "vindex_search: query %zu is zero or not finite", i);
        }
        float inv = (float)(1.0 / sqrt(ss));
        for (int j = 0; j < vi->dim; j++) q[i * (size_t)vi->dim + j] = src[j] * inv;
    }
    int rc = (vi->p.kind == VINDEX_FLAT && vi->p.scan == VINDEX_SCAN_OWN) ? scan_own(vi, nq, q, k, hits, kk)
             : vi->n_vec > 1 ? scan_faiss_grouped(vi, nq, q, k, hits, kk)
                             : scan_faiss(vi, nq, q, k, hits, kk);
    free(q);
    if (!rc) *n_hits = kk;
    return rc;
}

int vindex_search(const vindex *vi, const float *query, int k, vindex_hit *hits, int *n_hits) {
    return vindex_search_batch(vi, 1, query, k, hits, n_hits);
}

/* ---------------------------------------------------------------- persistence */

static void le32w(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) { p[i] = (uint8_t)v; v >>= 8; } }
static void le64w(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) { p[i] = (uint8_t)v; v >>= 8; } }
static uint32_t le32r(const uint8_t *p) { uint32_t v = 0; for (int i = 3; i >= 0; i--) v = v << 8 | p[i]; return v; }
static uint64_t le64r(const uint8_t *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = v << 8 | p[i]; return v; }

int vindex_save(const vindex *vi, store *st) {
    if (vi->p.kind != VINDEX_HNSW || !vi->faiss) return 0;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return status_fail(ST_NOMEM, "vindex_save: open_memstream failed");
    uint8_t hdr[BLOB_HDR] = {'S', 'V', 'I', 'X'};
    le32w(hdr + 4, BLOB_VERSION);
    le32w(hdr + 8, (uint32_t)vi->p.kind);
    le32w(hdr + 12, (uint32_t)vi->dim);
    le64w(hdr + 16, vi->generation);
    le64w(hdr + 24, vi->n);
    le64w(hdr + 32, vi->n ? vi->ids[vi->n - 1] : 0);
    le32w(hdr + 40, (uint32_t)vi->p.hnsw_m);
    le32w(hdr + 44, (uint32_t)vi->p.ef_construction);
    int rc = 0;
    if (fwrite(hdr, 1, BLOB_HDR, f) != BLOB_HDR) rc = status_fail(ST_NOMEM, "vindex_save: write failed");
    for (size_t i = 0; !rc && i < vi->n; i++) {
        uint8_t b[8];
        le64w(b, vi->ids[i]);
        if (fwrite(b, 1, 8, f) != 8) rc = status_fail(ST_NOMEM, "vindex_save: write failed");
    }
    if (!rc && faiss_write_index(vi->faiss, f)) rc = faiss_fail("write_index");
    if (fclose(f) != 0 && !rc) rc = status_fail(ST_NOMEM, "vindex_save: out of memory");
    if (!rc) rc = store_index_put(st, "hnsw", buf, len);
    free(buf);
    return rc;
}

/* Parse a persisted blob into a fresh vindex; *max_id gets the largest id. */
static int load_blob(const vindex_params *p, int dim, const uint8_t *b, size_t len, vindex **out) {
    *out = NULL;
    if (len < BLOB_HDR || memcmp(b, "SVIX", 4) != 0 || le32r(b + 4) != BLOB_VERSION)
        return status_fail(ST_FORMAT, "the persisted HNSW index has an unknown format");
    if ((int)le32r(b + 8) != p->kind || (int)le32r(b + 12) != dim || (int)le32r(b + 40) != p->hnsw_m)
        return status_fail(ST_MISMATCH, "the persisted index was built with other parameters");
    uint64_t n = le64r(b + 24);
    if (n > (len - BLOB_HDR) / 8) return status_fail(ST_FORMAT, "the persisted HNSW index is truncated");
    vindex *vi;
    vindex_params q = *p;
    q.ef_construction = (int)le32r(b + 44);
    int rc = vindex_new(&q, dim, &vi);
    if (rc) return rc;
    faiss_Index_free(vi->faiss);
    vi->faiss = NULL;
    if ((rc = reserve(vi, n ? n : 1))) goto fail;
    for (uint64_t i = 0; i < n; i++) vi->ids[i] = le64r(b + BLOB_HDR + 8 * i);
    vi->n = n;
    vi->generation = le64r(b + 16);
    size_t off = BLOB_HDR + 8 * n;
    FILE *f = fmemopen((void *)(b + off), len - off, "rb");
    if (!f) { rc = status_fail(ST_NOMEM, "fmemopen failed"); goto fail; }
    if (faiss_read_index(f, 0, &vi->faiss)) rc = faiss_fail("read_index");
    fclose(f);
    if (rc) goto fail;
    if ((uint64_t)faiss_Index_ntotal(vi->faiss) != n * (uint64_t)vi->n_vec || faiss_Index_d(vi->faiss) != dim) {
        rc = status_fail(ST_FORMAT, "the persisted HNSW index disagrees with its header");
        goto fail;
    }
    if ((rc = set_param(vi->faiss, "efSearch", p->ef_search))) goto fail;
    vi->p.ef_search = p->ef_search;
    *out = vi;
    return 0;
fail:
    vindex_free(vi);
    return rc;
}

/* Collects vectors (and counts ids <= max_id) during a store walk. */
typedef struct {
    int dim;                /* floats per image: n_vec × vector dim */
    uint64_t max_id, n_old;
    size_t n, cap;
    float *vecs;
    uint64_t *ids;
} collect;

static int collect_vec(uint64_t id, const float *vec, void *ctx) {
    collect *c = ctx;
    if (id <= c->max_id) { c->n_old++; return 0; }   /* key only: the value page is not touched */
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 4096;
        float *v = realloc(c->vecs, cap * (size_t)c->dim * sizeof *v);
        if (!v) return status_fail(ST_NOMEM, "vindex: out of memory loading vectors");
        c->vecs = v;
        uint64_t *i = realloc(c->ids, cap * sizeof *i);
        if (!i) return status_fail(ST_NOMEM, "vindex: out of memory loading vectors");
        c->ids = i;
        c->cap = cap;
    }
    memcpy(c->vecs + c->n * (size_t)c->dim, vec, (size_t)c->dim * sizeof(float));
    c->ids[c->n++] = id;
    return 0;
}

int vindex_load(store *st, const vindex_params *p, vindex **out, vindex_how *how) {
    *out = NULL;
    if (how) *how = 0;
    store_model model;
    int rc = store_get_model_info(st, &model);
    if (rc == ST_NOT_FOUND) {
        status_clear();
        if (how) *how = VINDEX_BUILT;
        return vindex_new(p, 0, out);     /* empty store: empty index */
    }
    if (rc) return rc;
    const int dim = model.dim;
    vindex_params pp = *p;
    pp.n_vec = model.n_vec;                /* the store's, whatever the caller said */
    p = &pp;

    vindex *old = NULL;
    if (p->kind == VINDEX_HNSW) {
        void *blob;
        size_t len;
        rc = store_index_get(st, "hnsw", &blob, &len);
        if (!rc) {
            rc = load_blob(p, dim, blob, len, &old);
            free(blob);
            if (rc) { log_warn("%s: %s; rebuilding", store_dir(st), status_message()); old = NULL; }
        }
        status_clear();
        uint64_t gen;
        if ((rc = store_generation(st, &gen))) { vindex_free(old); return rc; }
        if (old && old->generation == gen) {
            if (how) *how = VINDEX_LOADED;
            *out = old;
            return 0;
        }
    }

    collect c = {.dim = dim * model.n_vec, .max_id = old && old->n ? old->ids[old->n - 1] : 0};
    uint64_t gen = 0;
    double t0 = timer_now();
    rc = store_foreach_vector(st, 0, collect_vec, &c, &gen, NULL);
    if (!rc && old && c.n_old == old->n) {
        /* only additions since old->generation: catch up */
        if (!(rc = vindex_add(old, c.n, c.vecs, c.ids))) {
            old->generation = gen;
            log_info("%s: HNSW index caught up with %zu new vectors in %.1f s", store_dir(st), c.n, timer_now() - t0);
            if (store_writable(st)) rc = vindex_save(old, st);
            if (!rc) { *out = old; old = NULL; if (how) *how = VINDEX_CAUGHT_UP; }
        }
        goto done;
    }
    if (!rc && old) {
        /* something was removed: rebuild from every vector */
        vindex_free(old);
        old = NULL;
        free(c.vecs); free(c.ids);
        memset(&c, 0, sizeof c);
        c.dim = dim * model.n_vec;
        rc = store_foreach_vector(st, 0, collect_vec, &c, &gen, NULL);
        if (how) *how = VINDEX_REBUILT;
    } else if (how) {
        *how = p->kind == VINDEX_HNSW ? VINDEX_REBUILT : VINDEX_BUILT;
    }
    if (!rc) {
        vindex *vi;
        if (p->kind == VINDEX_FLAT && !(rc = vindex_new(p, dim, &vi))) {
            /* adopt the walk's arrays: no second copy of the matrix */
            vi->mat = c.vecs; vi->ids = c.ids; vi->n = c.n; vi->cap = c.cap;
            c.vecs = NULL; c.ids = NULL;
            if (vi->faiss && vi->n && faiss_Index_add(vi->faiss, (idx_t)(vi->n * (size_t)vi->n_vec), vi->mat))
                rc = faiss_fail("add");
            vi->generation = gen;
            if (rc) vindex_free(vi); else *out = vi;
        } else if (p->kind == VINDEX_HNSW && !(rc = vindex_build(p, dim, c.n, c.vecs, c.ids, &vi))) {
            vi->generation = gen;
            if (p->kind == VINDEX_HNSW)
                log_info("%s: HNSW index built over %zu vectors in %.1f s", store_dir(st), c.n, timer_now() - t0);
            if (p->kind == VINDEX_HNSW && store_writable(st)) rc = vindex_save(vi, st);
            if (rc) vindex_free(vi); else *out = vi;
        }
    }
done:
    vindex_free(old);
    free(c.vecs);
    free(c.ids);
    return rc;
}

/* ---------------------------------------------------------------- filtered search */

/* One thread's share of a filtered scan: its heap and the sums of what it scored. */
typedef struct {
    topk_entry *h;
    int len;
    double sum, sumsq;
    size_t cnt;
} among_part;

/* Row r's vector: a pointer into mat (FLAT), or read back from FAISS's
 * storage into buf (HNSW). NULL when FAISS cannot give it. */
static const float *among_row(const vindex *vi, int64_t r, float *buf) {
    const size_t nv = (size_t)vi->n_vec;
    if (vi->mat) return vi->mat + (size_t)r * nv * (size_t)vi->dim;
    for (size_t q = 0; q < nv; q++)   /* FAISS holds vector q of row r at r*n_vec + q */
        if (faiss_Index_reconstruct(vi->faiss, (idx_t)((size_t)r * nv + q), buf + q * (size_t)vi->dim)) return NULL;
    return buf;
}

/* Row r's score: the dot product of q with its vector, or the best of its
 * n_vec vectors' (S: n_vec floats of scratch). */
static float among_score(const vindex *vi, const float *v, const float *q, float *S) {
    const int nv = vi->n_vec;
    scan_dot_rows(v, nv, vi->dim, q, S);
    float m = S[0];
    for (int i = 1; i < nv; i++) m = S[i] > m ? S[i] : m;
    return m;
}

/* Score q against rows[0, nr) (gather), or against every row of mat in blocks
 * (rows == NULL), skipping rows whose bit is clear in bits (when given) and
 * ex_row; the k best of each thread in parts[t]. *T gets the threads used. */
static int among_scan(const vindex *vi, const float *q, const int64_t *rows, size_t nr, const uint8_t *bits,
                      int64_t ex_row, int k, among_part *parts, int *T_out) {
    const int dim = vi->dim;
    size_t work = rows ? nr : vi->n;
    size_t bytes = work * (size_t)vi->n_vec * (size_t)dim * sizeof(float);
    int T = vi->p.threads;
    if ((size_t)T > bytes / SCAN_MIN_BYTES + 1) T = (int)(bytes / SCAN_MIN_BYTES + 1);
    *T_out = T;
    topk_entry *heaps = malloc((size_t)T * (size_t)k * sizeof *heaps);
    const size_t nv = (size_t)vi->n_vec, sblock = SCAN_BLOCK > nv ? SCAN_BLOCK : nv;
    float *scratch = malloc((size_t)T * (sblock + nv * (size_t)dim) * sizeof *scratch);
    if (!heaps || !scratch) {
        free(heaps); free(scratch);
        return status_fail(ST_NOMEM, "vindex_search: out of memory");
    }
    int failed = 0;
#pragma omp parallel num_threads(T)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        among_part *P = &parts[t];
        P->h = heaps + (size_t)t * (size_t)k;
        float *S = scratch + (size_t)t * (sblock + nv * (size_t)dim), *buf = S + sblock;
        size_t per = (work + (size_t)nt - 1) / (size_t)nt;
        size_t r0 = (size_t)t * per, r1 = r0 + per < work ? r0 + per : work;
        if (rows) {
            for (size_t i = r0; i < r1; i++) {
                const float *v = among_row(vi, rows[i], buf);
                if (!v) { failed = 1; break; }
                float s = among_score(vi, v, q, S);
                P->sum += s, P->sumsq += (double)s * s, P->cnt++;
                if (P->len < k || s > P->h[0].s) topk_push(P->h, &P->len, k, s, rows[i]);
            }
        } else {
            for (size_t b = r0; nv > 1 && b < r1; b++) {   /* several vectors per image: one image at a time */
                int64_t r = (int64_t)b;
                if ((bits && !(bits[r >> 3] >> (r & 7) & 1)) || r == ex_row) continue;
                float s = among_score(vi, vi->mat + b * nv * (size_t)dim, q, S);
                P->sum += s, P->sumsq += (double)s * s, P->cnt++;
                if (P->len < k || s > P->h[0].s) topk_push(P->h, &P->len, k, s, r);
            }
            for (size_t b = r0; nv == 1 && b < r1; b += SCAN_BLOCK) {
                int n = (int)(r1 - b < SCAN_BLOCK ? r1 - b : SCAN_BLOCK);
                scan_dot_rows(vi->mat + b * (size_t)dim, n, dim, q, S);
                for (int i = 0; i < n; i++) {
                    int64_t r = (int64_t)(b + (size_t)i);
                    if ((bits && !(bits[r >> 3] >> (r & 7) & 1)) || r == ex_row) continue;
                    float s = S[i];
                    P->sum += s, P->sumsq += (double)s * s, P->cnt++;
                    if (P->len < k || s > P->h[0].s) topk_push(P->h, &P->len, k, s, r);
                }
            }
        }
    }
    free(scratch);
    if (failed) {
        free(heaps);
        for (int t = 0; t < T; t++) parts[t].h = NULL;
        return faiss_fail("reconstruct");
    }
    return 0;   /* parts[0].h owns heaps */
}

static int64_t row_of(const vindex *vi, uint64_t id) {
    size_t lo = 0, hi = vi->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (vi->ids[mid] < id) lo = mid + 1; else hi = mid;
    }
    return lo < vi->n && vi->ids[lo] == id ? (int64_t)lo : -1;
}

int vindex_search_among(const vindex *vi, const float *query, const uint64_t *allow, size_t n_allow,
                        uint64_t exclude, int k, vindex_hit *hits, int *n_hits, vindex_scan_stats *stats) {
    *n_hits = 0;
    if (stats) memset(stats, 0, sizeof *stats);
    if (k <= 0 || k > 4096) return status_fail(ST_ARG, "vindex_search: k must be in [1, 4096], got %d", k);
    if (vi->n == 0 || (allow && n_allow == 0)) return 0;
    const int dim = vi->dim;
    float *q = malloc((size_t)dim * sizeof *q);
    if (!q) return status_fail(ST_NOMEM, "vindex_search: out of memory");
    double ss = 0;
    for (int j = 0; j < dim; j++) ss += (double)query[j] * query[j];
    if (!(ss > 0) || !isfinite(ss)) {
        free(q);
        return status_fail(ST_ARG, "vindex_search: the query is zero or not finite");
    }
    float inv = (float)(1.0 / sqrt(ss));   /* as vindex_search_batch: the same scores to the bit */
    for (int j = 0; j < dim; j++) q[j] = query[j] * inv;
    int64_t ex_row = exclude ? row_of(vi, exclude) : -1;

    int64_t *rows = NULL;
    uint8_t *bits = NULL;
    size_t nr = 0;
    int rc = 0;
    if (allow) {
        rows = malloc(n_allow * sizeof *rows);
        if (!rows) { free(q); return status_fail(ST_NOMEM, "vindex_search: out of memory"); }
        /* both lists increase: one merge walk maps ids to rows */
        size_t j = 0;
        for (size_t i = 0; i < n_allow; i++) {
            if (i && allow[i] <= allow[i - 1]) {
                free(q); free(rows);
                return status_fail(ST_ARG, "vindex_search: the allowed ids must be strictly increasing");
            }
            while (j < vi->n && vi->ids[j] < allow[i]) j++;
            if (j < vi->n && vi->ids[j] == allow[i] && (int64_t)j != ex_row) rows[nr++] = (int64_t)j;
        }
        if (vi->mat && nr * 4 >= vi->n) {   /* dense: one pass over the matrix with a bitmap */
            bits = calloc(vi->n / 8 + 1, 1);
            if (!bits) { free(q); free(rows); return status_fail(ST_NOMEM, "vindex_search: out of memory"); }
            for (size_t i = 0; i < nr; i++) bits[rows[i] >> 3] |= (uint8_t)(1u << (rows[i] & 7));
        }
    }

    among_part parts[64];
    memset(parts, 0, sizeof parts);
    int T = 0;
    vindex_params pp = vi->p;
    if (pp.threads > 64) pp.threads = 64;
    vindex tmp = *vi;
    tmp.p = pp;
    if (vi->p.kind == VINDEX_HNSW && !allow) {
        /* the graph for the hits, an evenly spaced sample for the stats */
        int kq = k + (ex_row >= 0) <= 4096 ? k + (ex_row >= 0) : 4096;
        vindex_hit *h = malloc((size_t)kq * sizeof *h);
        int nh = 0;
        rc = h ? vindex_search(vi, q, kq, h, &nh) : status_fail(ST_NOMEM, "vindex_search: out of memory");
        int m = 0;
        for (int i = 0; !rc && i < nh && m < k; i++)
            if (h[i].id && h[i].id != exclude) hits[m++] = h[i];
        if (!rc) *n_hits = m;
        free(h);
        size_t ns = vi->n < VINDEX_STATS_SAMPLE ? vi->n : VINDEX_STATS_SAMPLE;
        if (!rc && stats && (rows = malloc(ns * sizeof *rows))) {
            for (size_t i = 0; i < ns; i++) rows[i] = (int64_t)(i * vi->n / ns);
            nr = ns;
            if (!(rc = among_scan(&tmp, q, rows, nr, NULL, -1, 1, parts, &T))) {
                double s = 0, s2 = 0;
                size_t c = 0;
                for (int t = 0; t < T; t++) s += parts[t].sum, s2 += parts[t].sumsq, c += parts[t].cnt;
                stats->scanned = c;
                stats->mean = c ? s / (double)c : 0;
                stats->std = c > 1 ? sqrt(fmax(0, s2 / (double)c - stats->mean * stats->mean)) : 0;
            }
            free(parts[0].h);
        }
        free(rows);
        free(q);
        return rc;
    }
    rc = bits || !allow ? among_scan(&tmp, q, NULL, 0, bits, ex_row, k, parts, &T)
                        : among_scan(&tmp, q, rows, nr, NULL, -1, k, parts, &T);
    if (!rc) {
        topk_entry *all = malloc((size_t)T * (size_t)k * sizeof *all);
        if (!all) rc = status_fail(ST_NOMEM, "vindex_search: out of memory");
        int m = 0;
        double s = 0, s2 = 0;
        size_t c = 0;
        for (int t = 0; all && t < T; t++) {
            memcpy(all + m, parts[t].h, (size_t)parts[t].len * sizeof *all);
            m += parts[t].len;
            s += parts[t].sum, s2 += parts[t].sumsq, c += parts[t].cnt;
        }
        if (all) {
            qsort(all, (size_t)m, sizeof *all, topk_entry_cmp_desc);
            int kk = m < k ? m : k;
            for (int i = 0; i < kk; i++) hits[i] = (vindex_hit){vi->ids[all[i].r], all[i].s};
            *n_hits = kk;
            if (stats) {
                stats->scanned = c;
                stats->mean = c ? s / (double)c : 0;
                stats->std = c > 1 ? sqrt(fmax(0, s2 / (double)c - stats->mean * stats->mean)) : 0;
            }
        }
        free(all);
        free(parts[0].h);
    }
    free(bits);
    free(rows);
    free(q);
    return rc;
}
