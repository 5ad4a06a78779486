/* kernels/qgemm.h — low-precision products with run-time dispatch:
 * Q8 weights × int8-quantised activations (integer dot products) and BF16
 * weights × BF16 activations (BF16 dot products), for decode (M of 1-3) and
 * prefill (blocked, OpenMP over output columns) alike.
 *
 *   Q8    y[m][n] = b[n] + Σ_blk xs[m][blk]·ws[n][blk]·Σ_{i<32} xq[m][32·blk+i]·wq[n][32·blk+i]
 *         xq, wq are int8 in [-127, 127] (kernels/quant.h blocks of 32, rows
 *         zero-padded to kp, a multiple of 32), xs, ws one float scale per block.
 *         Every block's integer dot is exact on every path; the paths differ
 *         only in the order of the float sum over blocks.
 *   BF16  y[m][n] = b[n] + Σ_k x[m][k]·w[n][k], x and w bfloat16, products
 *         exact in float32, summed in float32 (order differs per path).
 *
 * Paths (qgemm_isa), picked once from cpuid by qgemm_best and capped by the
 * environment variable SEER_ISA (scalar | avx2 | avx512) for tests and
 * comparisons:
 *   QGEMM_AVX512  Q8: AVX512-VNNI vpdpbusd on packed weights (below): one
 *                 zmm lane per weight row, the activation's four bytes
 *                 broadcast (weights offset by +128 into u8, the offset's
 *                 128·Σx taken back per block), tiles of 4 activation rows ×
 *                 32 weight rows. BF16: AVX512-BF16 vdpbf16ps on the stored
 *                 weights (any alignment), 4×4 tiles; M = 1 one weight row at
 *                 a time (one sequential stream per thread).
 *   QGEMM_AVX2    Q8 only: vpmaddubsw with the sign moved onto the weights,
 *                 then vpmaddwd, on the same packed weights. (BF16 has no
 *                 AVX2 path: the caller widens to float32, kernels/linear.c.)
 *   QGEMM_SCALAR  plain C for both; the reference the tests check the SIMD
 *                 paths against, and what a SEER_SIMD=OFF build runs.
 * The AVX-512 code is compiled with target attributes into every x86-64
 * build that has AVX2 as its baseline, so one binary runs the best path of
 * the machine it is on.
 *
 * Threads: each call opens its own OpenMP region over blocks of output
 * columns when the work is large enough; inside an enclosing parallel region
 * it runs on the calling thread. Pure functions otherwise; thread-safe.
 */
#ifndef SEER_QGEMM_H
#define SEER_QGEMM_H

#include <stddef.h>
#include <stdint.h>

typedef enum { QGEMM_SCALAR = 0, QGEMM_AVX2 = 1, QGEMM_AVX512 = 2 } qgemm_isa;

/* The best Q8 path this CPU and build run (AVX512 = avx512f/bw/vl + vnni). */
qgemm_isa qgemm_q8_best(void);
/* The best BF16 path: QGEMM_AVX512 (avx512f/bw/vl + avx512_bf16) or
 * QGEMM_SCALAR (then a caller wanting speed should widen to float32). */
qgemm_isa qgemm_bf16_best(void);
/* Whether this CPU and build can run isa's Q8 (bf16 = 0) or BF16 path. */
int qgemm_supported(qgemm_isa isa, int bf16);
const char *qgemm_isa_name(qgemm_isa isa);

/* Packed Q8 weights. The rows are taken in groups of 16 (the last group
 * padded with zero rows); group g's blocks follow each other, and the
 * record of (g, blk), 576 bytes, holds for t < 8 at byte 64·t + 4·r the
 * four weights w[16g + r][32·blk + 4t .. + 3] (r < 16), then the 16 rows'
 * float scales of the block at byte 512. So one 64-byte load gives 16 rows
 * four weights each, and a decoded token reads each matrix as one
 * sequential stream per thread, scales included. */
size_t qgemm_q8_packed_bytes(int N, int kp);
/* Rows [r0, r0 + n) of an (N, kp) matrix into wp (qgemm_q8_packed_bytes(N, kp)
 * bytes): wq (n, kp) int8 and ws (n, kp/32) scales, row-major. The call
 * that ends at row N also zeroes the padding rows. Disjoint row ranges may
 * be packed by different threads, except that rows of one group of 16 share
 * cache lines (correct, only slower). */
void qgemm_q8_pack_rows(void *wp, int N, int kp, int r0, int n, const int8_t *wq, const float *ws);
/* Row r of packed weights back into q (kp) and scales (kp/32). */
void qgemm_q8_unpack_row(const void *wp, int kp, int r, int8_t *q, float *scales);
/* Row r dequantised: dst[k] = q·scale for k < cols (as quant_q8_row_to_f32). */
void qgemm_q8_row_to_f32(float *dst, const void *wp, int kp, int r, int cols);

/* y (M, N; row stride ldy) = xq (M, kp) · Wᵀ with block scales as above,
 * W packed (qgemm_q8_pack_rows), + b (N; may be NULL); accumulate != 0:
 * y += instead. kp is a multiple of 32; xs is (M, kp/32). isa must be
 * supported (qgemm_supported); an unsupported one falls back to
 * QGEMM_SCALAR. Returns ST_NOMEM when the VNNI path's block sums of x
 * (M·kp/32 ints) cannot be had, else ST_OK. */
int qgemm_q8(qgemm_isa isa, float *y, int ldy, const int8_t *xq, const float *xs, const void *wp, const float *b,
             int M, int N, int kp, int accumulate);

/* At most this many products per qgemm_*_n call. */
#define QGEMM_MAX_N 4

/* n ≤ QGEMM_MAX_N products of the same x (q, k and v; gate and up), each
 * y[i] (M, N[i]; ldy[i]) = x · W[i]ᵀ + b[i] (b may be NULL, or b[i]), in one
 * OpenMP region over the chunks of all of them: each region start wakes the
 * worker threads, which a decoded token otherwise pays per product. Same
 * results as n single calls. ST_ARG when n > QGEMM_MAX_N. */
int qgemm_q8_n(qgemm_isa isa, int n, float *const *y, const int *ldy, const int8_t *xq, const float *xs,
               const void *const *wp, const float *const *b, const int *N, int M, int kp, int accumulate);
int qgemm_bf16_n(qgemm_isa isa, int n, float *const *y, const int *ldy, const uint16_t *x, int ldx,
                 const void *const *w, const float *const *b, const int *N, int M, int K, int accumulate);

/* y (M, N; ldy) = x (M, K; row stride ldx elements) · w (N, K)ᵀ + b, x and w
 * bfloat16 (w at any byte alignment, rows contiguous). As qgemm_q8 otherwise. */
void qgemm_bf16(qgemm_isa isa, float *y, int ldy, const uint16_t *x, int ldx, const void *w, const float *b,
                int M, int N, int K, int accumulate);

/* dst (n) = src rounded to bfloat16, nearest even (as f32_to_bf16). */
void qgemm_f32_to_bf16(uint16_t *dst, const float *src, size_t n);

#endif
