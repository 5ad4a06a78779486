/* kernels/gemm_small.c — see gemm_small.h. */
#include "gemm_small.h"
#include "status.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

int gemm_pack(gemm_packed *p, const float *W, int N, int K) {
    p->N = N, p->K = K, p->Np = (N + 15) & ~15, p->owned = 1;
    size_t n = (size_t)p->Np * K;
    if (posix_memalign((void **)&p->panels, 64, n * sizeof(float))) {
        p->panels = NULL;
        return status_fail(ST_NOMEM, "gemm_pack: cannot allocate %zu floats", n);
    }
    for (int pn = 0; pn < p->Np / 16; pn++) {
        float *dst = p->panels + (size_t)pn * K * 16;
        for (int k = 0; k < K; k++)
            for (int j = 0; j < 16; j++) {
                int col = pn * 16 + j;
                dst[(size_t)k * 16 + j] = col < N ? W[(size_t)col * K + k] : 0.0f;
            }
    }
    return ST_OK;
}

int gemm_pack_inplace(gemm_packed *p, float *W, int N, int K) {
    int st = gemm_pack(p, W, N, K);
    if (st || p->Np != N || ((uintptr_t)W & 63)) return st;
    memcpy(W, p->panels, (size_t)N * K * sizeof(float));
    free(p->panels);
    p->panels = W;
    p->owned = 0;
    return ST_OK;
}

void gemm_packed_release(gemm_packed *p) {
    if (p->owned) free(p->panels);
    p->panels = NULL;
}

/* One panel (16 columns) against R rows of x (R = 1..6), into out. Each
 * output accumulates over k in order with FMAs, whatever R is. */
#if defined(__AVX2__) && defined(__FMA__)
/* Named accumulators (GCC does not keep an array of __m256 in registers);
 * rows past R compile away. */
#define ROW_STEP(m)                                                                            \
    if (rows > m) {                                                                             \
        const __m256 b = _mm256_broadcast_ss(x + (size_t)m * ldx + k);                         \
        a##m##0 = _mm256_fmadd_ps(b, w0, a##m##0);                                             \
        a##m##1 = _mm256_fmadd_ps(b, w1, a##m##1);                                             \
    }
#define ROW_STORE(m)                                                                           \
    if (rows > m) {                                                                             \
        _mm256_storeu_ps(out[m], a##m##0);                                                     \
        _mm256_storeu_ps(out[m] + 8, a##m##1);                                                 \
    }
#define PANEL_ROWS(R)                                                                          \
    static void panel_rows_##R(float out[6][16], const float *x, int ldx, const float *panel,  \
                               int K) {                                                        \
        const int rows = R;                                                                    \
        __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00; \
        __m256 a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00;               \
        for (int k = 0; k < K; k++) {                                                          \
            _mm_prefetch((const char *)(panel + (size_t)k * 16 + 1024), _MM_HINT_T0);           \
            const __m256 w0 = _mm256_load_ps(panel + (size_t)k * 16);                          \
            const __m256 w1 = _mm256_load_ps(panel + (size_t)k * 16 + 8);                      \
            ROW_STEP(0) ROW_STEP(1) ROW_STEP(2) ROW_STEP(3) ROW_STEP(4) ROW_STEP(5)            \
        }                                                                                      \
        ROW_STORE(0) ROW_STORE(1) ROW_STORE(2) ROW_STORE(3) ROW_STORE(4) ROW_STORE(5)          \
    }
#else
#define PANEL_ROWS(R)                                                                          \
    static void panel_rows_##R(float out[6][16], const float *x, int ldx, const float *panel,  \
                               int K) {                                                        \
        for (int m = 0; m < R; m++)                                                            \
            for (int j = 0; j < 16; j++) {                                                     \
                float s = 0.0f;                                                                \
                for (int k = 0; k < K; k++) s += x[(size_t)m * ldx + k] * panel[(size_t)k * 16 + j]; \
                out[m][j] = s;                                                                 \
            }                                                                                  \
    }
#endif
PANEL_ROWS(1)
PANEL_ROWS(2)
PANEL_ROWS(3)
PANEL_ROWS(4)
PANEL_ROWS(5)
PANEL_ROWS(6)

typedef void (*panel_fn)(float[6][16], const float *, int, const float *, int);
static const panel_fn panel_rows[7] = {NULL, panel_rows_1, panel_rows_2, panel_rows_3,
                                       panel_rows_4, panel_rows_5, panel_rows_6};

void gemm_small(float *y, const float *x, const gemm_packed *W, const float *b, int M, int accumulate) {
    const int N = W->N, K = W->K, panels = W->Np / 16;
    /* One region for the whole product; a handful of panels runs on one thread. */
    #pragma omp parallel for schedule(static) if ((long)panels * K * M > 200000)
    for (int pn = 0; pn < panels; pn++) {
        const float *panel = W->panels + (size_t)pn * K * 16;
        const int c0 = pn * 16, nc = N - c0 < 16 ? N - c0 : 16;
        /* Row blocks of equal size (10 rows: 5 + 5, not 6 + 4). */
        const int blocks = (M + 5) / 6, per = (M + blocks - 1) / blocks;
        for (int m0 = 0; m0 < M; m0 += per) {
            const int mr = M - m0 < per ? M - m0 : per;
            float acc[6][16];
            panel_rows[mr](acc, x + (size_t)m0 * K, K, panel, K);
            for (int m = 0; m < mr; m++) {
                float *yr = y + (size_t)(m0 + m) * N + c0;
                for (int j = 0; j < nc; j++) {
                    float v = acc[m][j] + (b ? b[c0 + j] : 0.0f);
                    yr[j] = accumulate ? yr[j] + v : v;
                }
            }
        }
    }
}
