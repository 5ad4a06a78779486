/* kernels/gemm_small.h — y = x · Wᵀ + b for few rows of x (a text query,
 * a decode step), with W pre-packed into column panels.
 *
 * OpenBLAS repacks W on every call, which for a handful of rows costs more
 * than the arithmetic. Here W (N, K) is packed once at model load into panels
 * of 16 output columns, each panel contiguous over k: P[N/16][K][16] (N padded
 * up to a multiple of 16 with zeros). The kernel streams each panel once per
 * 6 rows of x, broadcasting x[m][k] against 16 columns (AVX2/FMA, 12
 * accumulators), panels split over the OpenMP threads.
 *
 * Ownership: a gemm_packed owns its panel buffer (gemm_packed_release).
 * Thread-safety: gemm_small only reads the packed weights.
 */
#ifndef SEER_GEMM_SMALL_H
#define SEER_GEMM_SMALL_H

typedef struct {
    float *panels;   /* (Np/16, K, 16), 64-byte aligned */
    int    N, K, Np; /* Np = N rounded up to 16 */
    int    owned;    /* panels is ours to free */
} gemm_packed;

/* Pack W (N, K) row-major into a new buffer. ST_NOMEM on failure. */
int  gemm_pack(gemm_packed *p, const float *W, int N, int K);
/* Pack W in place when N is a multiple of 16 (the panels then live in W's
 * memory, which must be 64-byte aligned and stay alive); otherwise as
 * gemm_pack. W's row-major contents are gone afterwards. */
int  gemm_pack_inplace(gemm_packed *p, float *W, int N, int K);
void gemm_packed_release(gemm_packed *p);

/* y (M, N) = x (M, K) · Wᵀ + b (N, may be NULL); with accumulate, y += that. */
void gemm_small(float *y, const float *x, const gemm_packed *W, const float *b, int M, int accumulate);

#endif
