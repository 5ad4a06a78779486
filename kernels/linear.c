/* kernels/linear.c — see linear.h.
 *
 * GEMV inner loops read W with unaligned loads (loadu / memcpy), so a tensor
 * at any byte offset of an mmap'd file works. BF16 → F32 is a 16-bit shift;
 * F16 → F32 is F16C's vcvtph2ps (exact, subnormals included).
 */
#include "linear.h"
#include "bigmem.h"
#include "qgemm.h"
#include "quant.h"
#include "status.h"
#include "half.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define LINEAR_AVX2 1
#endif

/* Rows of W per prefill tile, and the GEMV work below which no threads start. */
#define TILE_ROWS 256
#define PAR_MIN_WORK 65536L
/* GEMV software-prefetch distance in bytes of W */
#define GEMV_PF 1024

static size_t elem_size(linear_type t) {
    return t == LINEAR_F32 ? 4 : t == LINEAR_Q8 ? 1 : 2;
}

linear_w linear_view(linear_type type, const void *data, int rows, int cols) {
    linear_w w = {type, rows, cols, data, NULL, 0};
    return w;
}

size_t linear_bytes(const linear_w *w) {
    if (w->type == LINEAR_Q8) return qgemm_q8_packed_bytes(w->rows, quant_q8_row_len(w->cols));
    return (size_t)w->rows * w->cols * elem_size(w->type);
}

void linear_release(linear_w *w) {
    if (!w) return;
    free(w->owned);
    w->owned = NULL;
}

void linear_rows_to_f32(float *dst, const linear_w *W, int r0, int n) {
    const size_t K = (size_t)W->cols;
    if (W->type == LINEAR_Q8) {
        const int rl = quant_q8_row_len(W->cols);
        for (int r = 0; r < n; r++) qgemm_q8_row_to_f32(dst + r * K, W->data, rl, r0 + r, W->cols);
        return;
    }
    const uint8_t *src = (const uint8_t *)W->data + (size_t)r0 * K * elem_size(W->type);
    const size_t len = (size_t)n * K;
    if (W->type == LINEAR_F32) memmove(dst, src, len * sizeof(float));
    else if (W->type == LINEAR_F16) f16_to_f32_n(dst, src, len);
    else bf16_to_f32_n(dst, src, len);
}

int linear_quantize_q8(linear_w *dst, const linear_w *src) {
    const int rl = quant_q8_row_len(src->cols), nb = rl / QUANT_Q8_BLOCK, G = 16;
    const size_t bytes = qgemm_q8_packed_bytes(src->rows, rl);
    /* packed for kernels/qgemm.h; huge pages for the decode stream */
    uint8_t *mem = bigmem_alloc(bytes);
    if (!mem) return status_fail(ST_NOMEM, "linear: cannot allocate %zu bytes for a Q8 copy", bytes);
    const int ngroups = (src->rows + G - 1) / G;
    int st = ST_OK;
    #pragma omp parallel
    {
        /* one group of 16 rows at a time: float rows, then int8 + scales */
        float *row = malloc((size_t)src->cols * sizeof(float));
        int8_t *q = malloc((size_t)G * rl);
        float *sc = malloc((size_t)G * nb * sizeof(float));
        if (!row || !q || !sc) {
            #pragma omp atomic write
            st = ST_NOMEM;
        } else {
            #pragma omp for schedule(static)
            for (int g = 0; g < ngroups; g++) {
                const int r0 = g * G, n = src->rows - r0 < G ? src->rows - r0 : G;
                for (int r = 0; r < n; r++) {
                    linear_rows_to_f32(row, src, r0 + r, 1);
                    quant_q8_row(q + (size_t)r * rl, sc + (size_t)r * nb, row, src->cols);
                }
                qgemm_q8_pack_rows(mem, src->rows, rl, r0, n, q, sc);
            }
        }
        free(row), free(q), free(sc);
    }
    if (st) {
        free(mem);
        return status_fail(ST_NOMEM, "linear: out of memory while quantising");
    }
    *dst = (linear_w){LINEAR_Q8, src->rows, src->cols, mem, mem, 0};
    return ST_OK;
}

/* ------------------------------------------------------------------ GEMV */

#ifdef LINEAR_AVX2
static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
static inline __m256 load8(const uint8_t *p, linear_type t) {
    if (t == LINEAR_F32) return _mm256_loadu_ps((const float *)(const void *)p);
    __m128i h = _mm_loadu_si128((const __m128i *)(const void *)p);
    if (t == LINEAR_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
#endif

static inline float load1(const uint8_t *p, linear_type t) {
    if (t == LINEAR_F32) {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, p, 2);
    return t == LINEAR_F16 ? f16_to_f32(h) : bf16_to_f32(h);
}

/* Σ_k x[k]·w[k] for one stored row w (K elements of type t). */
static float dot_row(const uint8_t *w, linear_type t, const float *x, int K) {
    const size_t es = elem_size(t);
    int k = 0;
    float s = 0.0f;
#ifdef LINEAR_AVX2
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (; k + 32 <= K; k += 32) {
        /* software prefetch GEMV_PF bytes ahead (into the next row at the
         * end): the hardware prefetcher alone left ~15% of the read
         * bandwidth on the table, most at 4 KiB page starts */
        _mm_prefetch((const char *)w + k * es + GEMV_PF, _MM_HINT_T0);
        if (es == 4) _mm_prefetch((const char *)w + k * es + GEMV_PF + 64, _MM_HINT_T0);
        a0 = _mm256_fmadd_ps(load8(w + (k + 0) * es, t), _mm256_loadu_ps(x + k + 0), a0);
        a1 = _mm256_fmadd_ps(load8(w + (k + 8) * es, t), _mm256_loadu_ps(x + k + 8), a1);
        a2 = _mm256_fmadd_ps(load8(w + (k + 16) * es, t), _mm256_loadu_ps(x + k + 16), a2);
        a3 = _mm256_fmadd_ps(load8(w + (k + 24) * es, t), _mm256_loadu_ps(x + k + 24), a3);
    }
    for (; k + 8 <= K; k += 8) a0 = _mm256_fmadd_ps(load8(w + k * es, t), _mm256_loadu_ps(x + k), a0);
    s = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
#endif
    for (; k < K; k++) s += load1(w + k * es, t) * x[k];
    return s;
}

static int gemv(float *y, int ldy, const float *x, int ldx, const linear_w *W, const float *b, int M,
                int accumulate) {
    const int N = W->rows, K = W->cols;
    const long work = (long)N * K;
    const int par = !omp_in_parallel() && work >= PAR_MIN_WORK;
    const size_t rowb = (size_t)K * elem_size(W->type);
    const uint8_t *base = W->data;
    #pragma omp parallel for schedule(dynamic, 32) if (par)
    for (int n = 0; n < N; n++) {
        for (int m = 0; m < M; m++) {
            float v = dot_row(base + (size_t)n * rowb, W->type, x + (size_t)m * ldx, K);
            if (b) v += b[n];
            float *o = y + (size_t)m * ldy + n;
            *o = accumulate ? *o + v : v;
        }
    }
    return ST_OK;
}

/* ------------------------------------------------------------------ GEMM */

static void add_bias(float *y, int ldy, const float *b, int M, int N) {
    for (int m = 0; m < M; m++) {
        float *row = y + (size_t)m * ldy;
        for (int n = 0; n < N; n++) row[n] += b[n];
    }
}

/* Each thread's float32 tile buffer, kept between calls (TILE_ROWS × cols
 * floats: 2 MB for 2048 columns, 10 MB for 10240) instead of a malloc and
 * free of it on every call. */
static _Thread_local float *tl_buf;
static _Thread_local size_t tl_cap;

static float *thread_buf(size_t n) {
    if (n > tl_cap) {
        float *p = malloc(n * sizeof(float));
        if (!p) return NULL;
        free(tl_buf);
        tl_buf = p, tl_cap = n;
    }
    return tl_buf;
}

/* Prefill: W converted in tiles of rows into each thread's buffer, one
 * single-threaded cblas_sgemm per tile over all M rows, OpenMP over tiles.
 * Every sgemm call packs all of x again, so tiles are large (TILE_ROWS =
 * 256: x is packed once per 256 outputs, not once per 64) yet small enough
 * to stay in cache between conversion and use; converting all of W first
 * and calling one threaded sgemm was 2x slower at small M (the float32 copy
 * goes through memory) and no faster at M = 600. */
static int gemm_tiled(float *y, int ldy, const float *x, int ldx, const linear_w *W, const float *b, int M,
                      int accumulate) {
    const int N = W->rows, K = W->cols;
    const float beta = accumulate ? 1.0f : 0.0f;
    if (W->type == LINEAR_F32 && ((uintptr_t)W->data & 3) == 0) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, ldx, W->data, K, beta, y, ldy);
        if (b) add_bias(y, ldy, b, M, N);
        return ST_OK;
    }
    const int nthreads = omp_in_parallel() ? 1 : omp_get_max_threads();
    /* at least 4 tiles per thread when W is small, for the dynamic schedule */
    int tr = (N + 4 * nthreads - 1) / (4 * nthreads);
    tr = tr > TILE_ROWS ? TILE_ROWS : tr < 16 ? 16 : (tr + 15) / 16 * 16;
    const int ntiles = (N + tr - 1) / tr;
    int st = ST_OK;
    #pragma omp parallel num_threads(nthreads) if (nthreads > 1 && ntiles > 1)
    {
        float *buf = thread_buf((size_t)tr * K);
        if (!buf) {
            #pragma omp atomic write
            st = ST_NOMEM;
        }
        #pragma omp for schedule(dynamic, 1)
        for (int t = 0; t < ntiles; t++) {
            if (!buf) continue;
            const int r0 = t * tr, nr = r0 + tr <= N ? tr : N - r0;
            linear_rows_to_f32(buf, W, r0, nr);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, nr, K, 1.0f, x, ldx, buf, K, beta, y + r0,
                        ldy);
            if (b) add_bias(y + r0, ldy, b + r0, M, nr);
        }
    }
    if (st) return status_fail(ST_NOMEM, "linear: cannot allocate %d x %d tile buffers", tr, K);
    return ST_OK;
}

/* ------------------------------------------------------------------ int8 / BF16 */

/* Q8, every M: x quantised per block of 32 like the weights, then integer
 * dot products (kernels/qgemm.h picks VNNI, AVX2 or scalar) for the n
 * weights wd (N[i] rows each, K columns) that share x. */
static int q8_forward(int n, float *const *y, const int *ldy, const float *x, int ldx, const void *const *wd,
                      const float *const *b, const int *N, int K, int M, int accumulate) {
    const int rl = quant_q8_row_len(K), nb = rl / QUANT_Q8_BLOCK;
    int8_t *xq = malloc((size_t)M * rl);
    float *xs = malloc((size_t)M * nb * sizeof(float));
    int st = xq && xs ? ST_OK : status_fail(ST_NOMEM, "linear: cannot allocate %d quantised activation rows", M);
    if (!st) {
        #pragma omp parallel for schedule(static) if (M >= 16 && !omp_in_parallel())
        for (int m = 0; m < M; m++) quant_q8_row(xq + (size_t)m * rl, xs + (size_t)m * nb, x + (size_t)m * ldx, K);
        st = qgemm_q8_n(qgemm_q8_best(), n, y, ldy, xq, xs, wd, b, N, M, rl, accumulate);
    }
    free(xq);
    free(xs);
    return st;
}

/* BF16 weights on a CPU with AVX512-BF16, every M: x rounded to bfloat16,
 * then vdpbf16ps on the stored weights (no float32 copy of W); n weights
 * sharing x as q8_forward. */
static int bf16_forward(int n, float *const *y, const int *ldy, const float *x, int ldx, const void *const *wd,
                        const float *const *b, const int *N, int K, int M, int accumulate) {
    uint16_t *xb = malloc((size_t)M * K * sizeof(uint16_t));
    if (!xb) return status_fail(ST_NOMEM, "linear: cannot allocate %d bfloat16 activation rows", M);
    for (int m = 0; m < M; m++) qgemm_f32_to_bf16(xb + (size_t)m * K, x + (size_t)m * ldx, (size_t)K);
    const int st = qgemm_bf16_n(QGEMM_AVX512, n, y, ldy, xb, K, wd, b, N, M, K, accumulate);
    free(xb);
    return st;
}

/* W takes the BF16 dot-product path (else the float paths below). */
static int bf16_dots(const linear_w *W) {
    return W->type == LINEAR_BF16 && !W->f32_x && qgemm_bf16_best() == QGEMM_AVX512;
}

int linear_forward_n(int n, float *const *y, const int *ldy, const float *x, int ldx, const linear_w *const *W,
                     const float *const *b, int M) {
    if (M <= 0 || n <= 0) return ST_OK;
    int same = n <= QGEMM_MAX_N, N[QGEMM_MAX_N];
    const void *wd[QGEMM_MAX_N];
    for (int i = 0; i < n && same; i++) {
        same = W[i]->type == W[0]->type && W[i]->cols == W[0]->cols && W[i]->f32_x == W[0]->f32_x;
        N[i] = W[i]->rows, wd[i] = W[i]->data;
    }
    if (same && W[0]->type == LINEAR_Q8) return q8_forward(n, y, ldy, x, ldx, wd, b, N, W[0]->cols, M, 0);
    if (same && bf16_dots(W[0])) return bf16_forward(n, y, ldy, x, ldx, wd, b, N, W[0]->cols, M, 0);
    for (int i = 0; i < n; i++) {
        const int st = linear_forward(y[i], ldy[i], x, ldx, W[i], b ? b[i] : NULL, M, 0);
        if (st) return st;
    }
    return ST_OK;
}

int linear_forward(float *y, int ldy, const float *x, int ldx, const linear_w *W, const float *b, int M,
                   int accumulate) {
    if (M <= 0) return ST_OK;
    if (W->type == LINEAR_Q8) return q8_forward(1, &y, &ldy, x, ldx, &W->data, &b, &W->rows, W->cols, M, accumulate);
    if (bf16_dots(W)) return bf16_forward(1, &y, &ldy, x, ldx, &W->data, &b, &W->rows, W->cols, M, accumulate);
    if (M < LINEAR_GEMV_MAX_M) return gemv(y, ldy, x, ldx, W, b, M, accumulate);
    return gemm_tiled(y, ldy, x, ldx, W, b, M, accumulate);
}
