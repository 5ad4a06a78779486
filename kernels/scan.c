/* kernels/scan.c — see scan.h. */
#include "scan.h"

#include <stddef.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

/* out[r] = M[r, :] · q for rows r in [0, rows): the one-query scan kernel.
 * Four rows at a time share each load of q; with AVX2+FMA it is a plain
 * stream over the rows at memory speed (sgemv reached ~1.4x the bandwidth
 * floor here, this ~1.1x: docs/benchmarks.md). */
void scan_dot_rows(const float *M, int rows, int dim, const float *q, float *out) {
    int r = 0;
#if defined(__AVX2__) && defined(__FMA__)
    if ((dim & 7) == 0) {
        for (; r + 4 <= rows; r += 4) {
            const float *a = M + (size_t)r * dim;
            __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
            for (int j = 0; j < dim; j += 8) {
                __m256 x = _mm256_loadu_ps(q + j);
                s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j), x, s0);
                s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + dim + j), x, s1);
                s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + 2 * (size_t)dim + j), x, s2);
                s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + 3 * (size_t)dim + j), x, s3);
            }
            /* horizontal sums of the four accumulators at once */
            __m256 t01 = _mm256_hadd_ps(s0, s1), t23 = _mm256_hadd_ps(s2, s3);
            __m256 t = _mm256_hadd_ps(t01, t23);
            __m128 lo = _mm256_castps256_ps128(t), hi = _mm256_extractf128_ps(t, 1);
            _mm_storeu_ps(out + r, _mm_add_ps(lo, hi));
        }
    }
#endif
    for (; r < rows; r++) {
        const float *a = M + (size_t)r * dim;
        float s = 0;
        for (int j = 0; j < dim; j++) s += a[j] * q[j];
        out[r] = s;
    }
}

void scan_group_max(const float *s, int groups, int g, float *out) {
    for (int i = 0; i < groups; i++) {
        const float *a = s + (size_t)i * g;
        float m = a[0];
        for (int j = 1; j < g; j++) m = a[j] > m ? a[j] : m;
        out[i] = m;
    }
}
