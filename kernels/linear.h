/* kernels/linear.h — y = x · Wᵀ (+ b) with W kept in its stored precision.
 *
 * W is an nn.Linear weight [out = rows, in = cols], row-major, in F32, F16,
 * BF16 (pointing anywhere, e.g. into an mmap'd checkpoint, possibly
 * unaligned) or Q8 (kernels/quant.h blocks, made by linear_quantize_q8). x
 * and y are float32.
 *
 * Paths:
 *   Q8 (every M)      W is kept packed in groups of 16 rows (qgemm.h); x is
 *                     quantised per block of 32 like W and the product
 *                     runs as integer dot products (kernels/qgemm.h: AVX512-
 *                     VNNI, AVX2 or scalar, picked at run time).
 *   BF16 on a CPU with AVX512-BF16 (every M)
 *                     x is rounded to bfloat16 and multiplied with the stored
 *                     weights by vdpbf16ps (qgemm_bf16): no float32 copy of W.
 *                     Elsewhere (or with SEER_ISA=avx2) BF16 takes the float
 *                     paths below, with x kept in float32.
 *   F32, F16 (and BF16 without AVX512-BF16), by M:
 *     M < LINEAR_GEMV_MAX_M  (decode)   fused AVX2/FMA dot products that
 *                                       convert W on the fly; OpenMP over
 *                                       output rows; memory-bandwidth bound.
 *     otherwise              (prefill)  W is converted in tiles of rows into a
 *                                       per-thread float32 buffer and each
 *                                       tile is one cblas_sgemm (OpenMP over
 *                                       tiles, OpenBLAS single-threaded
 *                                       inside). F32 weights with 4-byte
 *                                       alignment go to one cblas_sgemm.
 * So the Q8 and AVX512-BF16 paths differ from float32 at the rounding of x
 * to int8 (per block) or bfloat16 (docs/benchmarks.md: their accuracy).
 *
 * Ownership: a linear_w only borrows data, except the Q8 arrays made by
 * linear_quantize_q8, which it owns until linear_release. Thread-safety: a
 * linear_w is read-only after construction; linear_forward may run on many
 * threads at once (it opens its own OpenMP regions; inside an enclosing
 * parallel region it runs on the calling thread).
 */
#ifndef SEER_LINEAR_H
#define SEER_LINEAR_H

#include <stddef.h>
#include <stdint.h>

typedef enum { LINEAR_F32, LINEAR_F16, LINEAR_BF16, LINEAR_Q8 } linear_type;

#define LINEAR_GEMV_MAX_M 4

typedef struct {
    linear_type type;
    int rows, cols;         /* out, in */
    const void *data;       /* F32/F16/BF16: (rows, cols) elements, any alignment;
                               Q8: int8 blocks and their scales packed for
                               kernels/qgemm.h (qgemm_q8_packed_bytes(rows,
                               quant_q8_row_len(cols)) bytes) */
    void *owned;            /* Q8: the allocation behind data */
    int f32_x;              /* BF16: 1 = always the float32 paths (x not rounded to
                               bfloat16): the exact mode for checks against float
                               references; 0 = BF16 dot products where the CPU has them */
} linear_w;

/* A borrowed view of a float matrix (no allocation). */
linear_w linear_view(linear_type type, const void *data, int rows, int cols);

/* dst = Q8 copy of src (any non-Q8 type); dst owns it. ST_NOMEM on failure. */
int  linear_quantize_q8(linear_w *dst, const linear_w *src);
void linear_release(linear_w *w);

/* Bytes W occupies (what a forward pass streams through). */
size_t linear_bytes(const linear_w *w);

/* y (M, rows; row stride ldy) = x (M, cols; ldx) · Wᵀ + b (rows; may be NULL).
 * accumulate != 0: y += ... instead. Returns ST_NOMEM when the prefill tile
 * buffers or the quantised / bfloat16 copy of x cannot be had. */
int linear_forward(float *y, int ldy, const float *x, int ldx, const linear_w *W, const float *b, int M,
                   int accumulate);

/* n ≤ QGEMM_MAX_N (4) products of the same x, y[i] (M, W[i]->rows; ldy[i])
 * = x · W[i]ᵀ + b[i] (b may be NULL, or b[i]), no accumulate: q, k and v,
 * or gate and up. Weights of one type and width on the Q8 or BF16-dot path
 * share one quantised / rounded x and one OpenMP region (qgemm_*_n); else
 * n linear_forward calls. The same results as n linear_forward calls. */
int linear_forward_n(int n, float *const *y, const int *ldy, const float *x, int ldx, const linear_w *const *W,
                     const float *const *b, int M);

/* Rows [r0, r0 + n) of W as float32 into dst (n, cols). */
void linear_rows_to_f32(float *dst, const linear_w *W, int r0, int n);

#endif
