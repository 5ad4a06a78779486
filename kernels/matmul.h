/* kernels/matmul.h — dense products in the nn.Linear convention.
 *
 * All matrices are row-major float32, and every product is float32 (no
 * reduced-precision arithmetic). W is stored [out, in] as in PyTorch
 * checkpoints, so y = x · Wᵀ + b.
 *
 * matmul_linear (the vision and text towers' projections) runs oneDNN's
 * sgemm on a CPU with AVX-512 (its JIT kernels pick AVX-512 at run time;
 * 1.3-1.5x OpenBLAS as Debian ships it and as OPENBLAS_CORETYPE may pin it,
 * docs/benchmarks.md), OpenBLAS elsewhere or with SEER_ISA=avx2 / scalar.
 * matmul_strided (attention blocks, called inside OpenMP regions) is
 * OpenBLAS. Threads: the OpenMP pool (both libraries use libgomp).
 */
#ifndef SEER_MATMUL_H
#define SEER_MATMUL_H

/* y (M, N) = x (M, K) · W (N, K)ᵀ + b (N); b may be NULL.
 * With accumulate != 0: y += x · Wᵀ + b instead (residual connections). */
void matmul_linear(float *y, const float *x, const float *W, const float *b,
                   int M, int N, int K, int accumulate);

/* Strided general product for attention blocks:
 * C (M, N; ldc) = alpha · A (M, K; lda) · B (N, K; ldb)ᵀ      (trans_b = 1)
 * C (M, N; ldc) = alpha · A (M, K; lda) · B (K, N; ldb)       (trans_b = 0) */
void matmul_strided(float *C, int ldc, const float *A, int lda, const float *B, int ldb,
                    int M, int N, int K, float alpha, int trans_b);

#endif
