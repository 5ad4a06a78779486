/* kernels/softmax.c — see softmax.h. */
#include "softmax.h"
#include "vmath.h"

#include <math.h>
#include <stddef.h>

void softmax_rows(float *x, int rows, int cols, int ld, const int *len) {
    for (int r = 0; r < rows; r++) {
        float *xr = x + (size_t)r * ld;
        int n = len ? len[r] : cols;
        float m = -INFINITY;
        for (int i = 0; i < n; i++) m = xr[i] > m ? xr[i] : m;
        float s = 0.0f;
        int i = 0;
#if defined(__AVX2__) && defined(__FMA__)
        __m256 vm = _mm256_set1_ps(m), vs = _mm256_setzero_ps();
        for (; i + 8 <= n; i += 8) {
            __m256 e = vmath_exp8(_mm256_sub_ps(_mm256_loadu_ps(xr + i), vm));
            _mm256_storeu_ps(xr + i, e);
            vs = _mm256_add_ps(vs, e);
        }
        float t[8];
        _mm256_storeu_ps(t, vs);
        for (int k = 0; k < 8; k++) s += t[k];
#endif
        for (; i < n; i++) {
            xr[i] = vmath_expf(xr[i] - m);
            s += xr[i];
        }
        float inv = 1.0f / s;
        for (i = 0; i < n; i++) xr[i] *= inv;
        for (; i < cols; i++) xr[i] = 0.0f;
    }
}
