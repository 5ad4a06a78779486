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
 *   QGEMM_AVX512  Q8: AVX512-VNNI vpdpbusd (weights offset by +128 into u8,
 *                 the offset's 128·Σx taken back per lane), 2 blocks per zmm,
 *                 4×4 register tiles. BF16: AVX512-BF16 vdpbf16ps on the
 *                 stored weights (any alignment), 4×4 tiles.
 *   QGEMM_AVX2    Q8 only: vpmaddubsw with the sign moved onto the weights,
 *                 then vpmaddwd; 2×4 tiles. (BF16 has no AVX2 path: the
 *                 caller widens to float32, kernels/linear.c.)
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

/* y (M, N; row stride ldy) = xq (M, kp) · wq (N, kp)ᵀ with block scales as
 * above, + b (N; may be NULL); accumulate != 0: y += instead. kp is a
 * multiple of 32; xs is (M, kp/32), ws (N, kp/32). isa must be supported
 * (qgemm_supported); an unsupported one falls back to QGEMM_SCALAR. */
void qgemm_q8(qgemm_isa isa, float *y, int ldy, const int8_t *xq, const float *xs, const int8_t *wq,
              const float *ws, const float *b, int M, int N, int kp, int accumulate);

/* y (M, N; ldy) = x (M, K; row stride ldx elements) · w (N, K)ᵀ + b, x and w
 * bfloat16 (w at any byte alignment, rows contiguous). As qgemm_q8 otherwise. */
void qgemm_bf16(qgemm_isa isa, float *y, int ldy, const uint16_t *x, int ldx, const void *w, const float *b,
                int M, int N, int K, int accumulate);

/* dst (n) = src rounded to bfloat16, nearest even (as f32_to_bf16). */
void qgemm_f32_to_bf16(uint16_t *dst, const float *src, size_t n);

#endif
