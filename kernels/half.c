/* kernels/half.c — IEEE binary16 and bfloat16 to and from binary32. See half.h.
 *
 * The bulk loops run over every float weight at model load (hundreds of MB),
 * so F16 uses the F16C instruction (vcvtph2ps, 8 lanes) and BF16 an AVX2
 * widen-and-shift when the compiler targets them; the scalar loops are the
 * reference and the tail handlers.
 */
#include "half.h"

#include <string.h>

#if defined(__F16C__) || defined(__AVX2__)
#include <immintrin.h>
#endif

/* ------------------------------------------------------- half precision */

static inline uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    if (exp == 0) {
        if (mant == 0) return bits_f32(sign);               /* +-0 */
        /* subnormal: mant * 2^-24; normalise so the leading 1 is bit 10 */
        int e = 1;
        while (!(mant & 0x400)) { mant <<= 1; e--; }
        mant &= 0x3ff;
        return bits_f32(sign | ((uint32_t)(e + 112) << 23) | (mant << 13));
    }
    if (exp == 31) {
        if (!mant) return bits_f32(sign | 0x7f800000u);      /* inf */
        /* NaN: sign and payload kept, made quiet, as F16C's vcvtph2ps does:
         * f16_to_f32_n gives the same bits in its vector body and its tail */
        return bits_f32(sign | 0x7fc00000u | (mant << 13));
    }
    return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t f32_to_f16(float f) {
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t exp = (u >> 23) & 0xff;
    uint32_t mant = u & 0x7fffff;
    if (exp == 0xff) /* inf stays inf; NaN stays a (quiet) NaN with its top payload bits */
        return sign | 0x7c00 | (mant ? (uint16_t)(0x200 | (mant >> 13)) : 0);
    int e = (int)exp - 127 + 15;                             /* biased half exponent */
    if (e >= 31) return sign | 0x7c00;                       /* overflow -> inf */
    if (e <= 0) {                                            /* half subnormal or zero */
        if (e < -10) return sign;                            /* below half the smallest subnormal */
        uint32_t m = mant | 0x800000;
        int shift = 14 - e;                                  /* 14..24 */
        uint32_t h = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;     /* may carry into the smallest normal */
        return sign | (uint16_t)h;
    }
    uint32_t h = ((uint32_t)e << 10) | (mant >> 13), rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;     /* carry may reach inf: correct */
    return sign | (uint16_t)h;
}

uint16_t f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

/* ------------------------------------------------------- bulk conversion */

void f16_to_f32_n(float *dst, const void *src_, size_t n) {
    const uint8_t *src = src_;
    size_t i = 0;
#ifdef __F16C__
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(src + 2 * i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
#endif
    for (; i < n; i++) {
        uint16_t h;
        memcpy(&h, src + 2 * i, 2);
        dst[i] = f16_to_f32(h);
    }
}

void f32_to_f16_n(void *dst_, const float *src, size_t n) {
    uint8_t *dst = dst_;
    size_t i = 0;
#ifdef __F16C__
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128((__m128i *)(dst + 2 * i), h);
    }
#endif
    for (; i < n; i++) {
        uint16_t h = f32_to_f16(src[i]);
        memcpy(dst + 2 * i, &h, 2);
    }
}

void bf16_to_f32_n(float *dst, const void *src_, size_t n) {
    const uint8_t *src = src_;
    size_t i = 0;
#ifdef __AVX2__
    for (; i + 8 <= n; i += 8) {
        __m128i b = _mm_loadu_si128((const __m128i *)(src + 2 * i));
        __m256i w = _mm256_slli_epi32(_mm256_cvtepu16_epi32(b), 16);
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(w));
    }
#endif
    for (; i < n; i++) {
        uint16_t b;
        memcpy(&b, src + 2 * i, 2);
        dst[i] = bf16_to_f32(b);
    }
}
