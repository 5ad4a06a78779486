/* kernels/matmul.c — see matmul.h. GEMMs go to oneDNN's sgemm (AVX-512
 * CPUs) or OpenBLAS (OpenMP build). */
#include "matmul.h"

#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdlib.h>
#include <string.h>

/* oneDNN for matmul_linear: an x86 CPU with AVX-512, unless SEER_ISA caps
 * the build's paths below it (as for kernels/qgemm.h). Decided once. */
static int use_dnnl(void) {
    static int use = -1;
    if (use < 0) {
        int u = 0;
#if defined(__x86_64__)
        __builtin_cpu_init();
        const char *e = getenv("SEER_ISA");
        u = __builtin_cpu_supports("avx512f") && !(e && (!strcmp(e, "avx2") || !strcmp(e, "scalar")));
#endif
        use = u;   /* a benign race: every thread computes the same value */
    }
    return use;
}

void matmul_linear(float *y, const float *x, const float *W, const float *b,
                   int M, int N, int K, int accumulate) {
    float beta = 0.0f;
    if (b) {
        /* Seed y with the bias (or add it to the residual) and let sgemm
         * accumulate: one pass over y instead of a separate bias pass. */
        if (accumulate) {
            #pragma omp parallel for schedule(static) if ((long)M * N > 65536)
            for (int i = 0; i < M; i++) {
                float *row = y + (size_t)i * N;
                for (int j = 0; j < N; j++) row[j] += b[j];
            }
        } else {
            #pragma omp parallel for schedule(static) if ((long)M * N > 65536)
            for (int i = 0; i < M; i++) memcpy(y + (size_t)i * N, b, (size_t)N * sizeof *b);
        }
        beta = 1.0f;
    } else if (accumulate) {
        beta = 1.0f;
    }
    if (use_dnnl() && dnnl_sgemm('N', 'T', M, N, K, 1.0f, x, K, W, K, beta, y, N) == dnnl_success) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, K, W, K, beta, y, N);
}

void matmul_strided(float *C, int ldc, const float *A, int lda, const float *B, int ldb,
                    int M, int N, int K, float alpha, int trans_b) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K,
                alpha, A, lda, B, ldb, 0.0f, C, ldc);
}
