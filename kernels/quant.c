/* kernels/quant.c — see quant.h. */
#include "quant.h"

#include <math.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#if defined(__AVX2__) && defined(__FMA__)
/* One full block of 32 with AVX2: the same numbers as the scalar loop below
 * (max with the running value second ignores NaNs as fmaxf does; vcvtps2dq
 * rounds to nearest even as lrintf does, and gives INT_MIN for NaN, which
 * the clamp turns into -127 as it does lrintf's LONG_MIN). */
static void q8_block_avx2(int8_t *q, float *scale, const float *x) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < QUANT_Q8_BLOCK; i += 8) m = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)), m);
    __m128 h = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
    h = _mm_max_ps(_mm_movehl_ps(h, h), h);
    h = _mm_max_ss(_mm_movehdup_ps(h), h);
    const float amax = _mm_cvtss_f32(h), d = amax / 127.0f, id = d > 0.0f ? 1.0f / d : 0.0f;
    *scale = d;
    const __m256 vid = _mm256_set1_ps(id);
    const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
    __m256i v[4];
    for (int k = 0; k < 4; k++)
        v[k] = _mm256_min_epi32(_mm256_max_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), vid)), lo),
                                hi);
    /* pack to int8 (no saturation reached: already clamped), undo the lane interleave */
    const __m256i w = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
    const __m256i r = _mm256_permutevar8x32_epi32(w, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)(void *)q, r);
}
#endif

void quant_q8_row(int8_t *q, float *scales, const float *x, int n) {
    const int np = quant_q8_row_len(n);
    int b0 = 0;
#if defined(__AVX2__) && defined(__FMA__)
    for (; (b0 + 1) * QUANT_Q8_BLOCK <= n; b0++) q8_block_avx2(q + b0 * QUANT_Q8_BLOCK, scales + b0, x + b0 * QUANT_Q8_BLOCK);
#endif
    for (int b = b0; b < np / QUANT_Q8_BLOCK; b++) {
        const int s = b * QUANT_Q8_BLOCK;
        const int e = s + QUANT_Q8_BLOCK < n ? s + QUANT_Q8_BLOCK : n;
        float amax = 0.0f;
        for (int i = s; i < e; i++) amax = fmaxf(amax, fabsf(x[i]));
        const float d = amax / 127.0f;
        const float id = d > 0.0f ? 1.0f / d : 0.0f;
        scales[b] = d;
        for (int i = s; i < s + QUANT_Q8_BLOCK; i++) {
            if (i >= e) { q[i] = 0; continue; }
            /* |x|·id <= 127 up to rounding: clamp so abs() of every value fits in int8 */
            long v = lrintf(x[i] * id);
            q[i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
        }
    }
}

float quant_q8_dot(const int8_t *a, const float *sa, const int8_t *b, const float *sb, int n) {
    const int nb = n / QUANT_Q8_BLOCK;
    int blk = 0;
    float sum = 0.0f;
#if defined(__AVX2__) && defined(__FMA__)
    /* two blocks per step into two accumulators; a (the weights, streamed
     * from memory in GEMV) is prefetched 1 KiB ahead */
    __m256 acc = _mm256_setzero_ps(), acc2 = acc;
    const __m256i ones = _mm256_set1_epi16(1);
#define Q8_BLOCK_DOT(j, ac)                                                                     \
    do {                                                                                        \
        __m256i va = _mm256_loadu_si256((const __m256i *)(a + (j) * QUANT_Q8_BLOCK));           \
        __m256i vb = _mm256_loadu_si256((const __m256i *)(b + (j) * QUANT_Q8_BLOCK));           \
        /* maddubs wants unsigned x signed: |a| and b with a's sign */                          \
        __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(va, va), _mm256_sign_epi8(vb, va)); \
        __m256i p32 = _mm256_madd_epi16(p16, ones); /* pairs: |.| <= 2·127² < 2^15 */          \
        ac = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p32), _mm256_set1_ps(sa[j] * sb[j]), ac);       \
    } while (0)
    for (; blk + 2 <= nb; blk += 2) {
        _mm_prefetch((const char *)(a + blk * QUANT_Q8_BLOCK) + 1024, _MM_HINT_T0);
        Q8_BLOCK_DOT(blk, acc);
        Q8_BLOCK_DOT(blk + 1, acc2);
    }
    for (; blk < nb; blk++) Q8_BLOCK_DOT(blk, acc);
#undef Q8_BLOCK_DOT
    acc = _mm256_add_ps(acc, acc2);
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    s4 = _mm_add_ss(s4, _mm_movehdup_ps(s4));
    sum = _mm_cvtss_f32(s4);
#endif
    for (; blk < nb; blk++) {
        int32_t d = 0;
        for (int i = 0; i < QUANT_Q8_BLOCK; i++)
            d += (int32_t)a[blk * QUANT_Q8_BLOCK + i] * b[blk * QUANT_Q8_BLOCK + i];
        sum += (float)d * sa[blk] * sb[blk];
    }
    return sum;
}

void quant_q8_row_to_f32(float *dst, const int8_t *q, const float *scales, int cols) {
    int i = 0;
#if defined(__AVX2__) && defined(__FMA__)
    for (; i + QUANT_Q8_BLOCK <= cols; i += QUANT_Q8_BLOCK) {
        const __m256 d = _mm256_set1_ps(scales[i / QUANT_Q8_BLOCK]);
        for (int j = 0; j < QUANT_Q8_BLOCK; j += 8) {
            __m256i v = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(q + i + j)));
            _mm256_storeu_ps(dst + i + j, _mm256_mul_ps(_mm256_cvtepi32_ps(v), d));
        }
    }
#endif
    for (; i < cols; i++) dst[i] = (float)q[i] * scales[i / QUANT_Q8_BLOCK];
}
