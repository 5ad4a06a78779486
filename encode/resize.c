/* encode/resize.c — separable fixed-point resampling, Pillow-exact.
 *
 * Written from the description in docs/model-spec.md §A4 step 3.
 * For one axis of length in -> out:
 *
 *   scale   = in / out                  (double)
 *   fscale  = max(scale, 1)             (filter widening when downscaling)
 *   support = filter_support * fscale
 *   for output index i:
 *     center = (i + 0.5) * scale
 *     lo     = max(0,  (int)(center - support + 0.5))
 *     hi     = min(in, (int)(center + support + 0.5))
 *     w[j]   = filter((lo + j - center + 0.5) * (1 / fscale)),  j = 0 .. hi-lo-1
 *     w[j]  /= sum(w)                   (when the sum is not 0)
 *     k[j]   = (int)(w[j] * 2^22 +- 0.5)   (half away from zero)
 *   out[i]   = clamp((2^21 + sum_j src[lo + j] * k[j]) >> 22, 0, 255)
 *
 * int32 is enough: sum |k| <= ~1.3 * 2^22 for these filters, times 255 < 2^31.
 * The horizontal pass runs first over every input row into a uint8
 * intermediate (out_w x in_h), then the vertical pass.
 */
#include "resize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"

#if defined(__SSE4_1__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#define PRECISION_BITS 22

typedef struct {
    int ntaps;   /* taps per output (max over outputs); rows of k are this long */
    int *lo;     /* (out) first input index */
    int *cnt;    /* (out) taps actually used, <= ntaps */
    int32_t *k;  /* (out, ntaps) fixed-point weights, zero beyond cnt */
} coeffs;

/* ---------------------------------------------------------------- filters */

static double filter_bicubic(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
}

static double filter_bilinear(double x) {
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

static double sinc(double x) {
    if (x == 0.0) return 1.0;
    x *= M_PI;
    return sin(x) / x;
}

static double filter_lanczos(double x) {
    /* truncated sinc, a = 3 */
    if (-3.0 <= x && x < 3.0) return sinc(x) * sinc(x / 3.0);
    return 0.0;
}

/* ---------------------------------------------------------------- coefficients */

static void coeffs_free(coeffs *c) {
    free(c->lo);
    free(c->cnt);
    free(c->k);
    memset(c, 0, sizeof *c);
}

static int coeffs_build(int in, int out, double (*f)(double), double fsupport, coeffs *c) {
    memset(c, 0, sizeof *c);
    const double scale = (double)in / out;
    const double fscale = scale < 1.0 ? 1.0 : scale;
    const double support = fsupport * fscale;
    const int ntaps = (int)ceil(support) * 2 + 1;
    double *w = malloc(sizeof(double) * ntaps);
    c->lo = malloc(sizeof(int) * out);
    c->cnt = malloc(sizeof(int) * out);
    c->k = calloc((size_t)out * ntaps, sizeof(int32_t));
    if (!w || !c->lo || !c->cnt || !c->k) {
        free(w);
        coeffs_free(c);
        return status_fail(ST_NOMEM, "resize: out of memory for %d x %d coefficients", out, ntaps);
    }
    c->ntaps = ntaps;
    const double inv = 1.0 / fscale;
    for (int i = 0; i < out; i++) {
        const double center = (i + 0.5) * scale;
        int lo = (int)(center - support + 0.5);
        if (lo < 0) lo = 0;
        int hi = (int)(center + support + 0.5);
        if (hi > in) hi = in;
        int n = hi - lo;
        if (n > ntaps) n = ntaps; /* cannot happen; keeps the table in bounds */
        double sum = 0.0;
        for (int j = 0; j < n; j++) {
            w[j] = f((j + lo - center + 0.5) * inv);
            sum += w[j];
        }
        int32_t *k = c->k + (size_t)i * ntaps;
        for (int j = 0; j < n; j++) {
            double v = sum != 0.0 ? w[j] / sum : w[j];
            v *= (double)(1 << PRECISION_BITS);
            k[j] = (int32_t)(v < 0.0 ? v - 0.5 : v + 0.5);
        }
        c->lo[i] = lo;
        c->cnt[i] = n;
    }
    free(w);
    return ST_OK;
}

static inline uint8_t clip8(int32_t v) {
    v >>= PRECISION_BITS; /* arithmetic shift: floor, as in Pillow */
    return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

/* ---------------------------------------------------------------- passes */

/* (h, in_w, 3) -> (h, out_w, 3).
 * SIMD path: each input row is widened once into int32 RGBX lanes (one
 * 128-bit vector per pixel), so a tap is one load, one 32-bit multiply by the
 * broadcast weight and one add, for the three channels at once; the final
 * >> 22 and the two saturating packs are exactly clip8. `row4` is scratch of
 * in_w vectors. */
static void pass_horizontal(const uint8_t *restrict src, int in_w, int h, uint8_t *restrict dst, int out_w,
                            const coeffs *c, int32_t *restrict row4) {
    const int32_t half = 1 << (PRECISION_BITS - 1);
    for (int y = 0; y < h; y++) {
        const uint8_t *row = src + (size_t)y * in_w * 3;
        uint8_t *d = dst + (size_t)y * out_w * 3;
#if defined(__SSE4_1__)
        for (int x = 0; x < in_w; x++) {
            row4[4 * x + 0] = row[3 * x + 0];
            row4[4 * x + 1] = row[3 * x + 1];
            row4[4 * x + 2] = row[3 * x + 2];
            row4[4 * x + 3] = 0;
        }
        const __m128i vhalf = _mm_set1_epi32(half);
        for (int x = 0; x < out_w; x++, d += 3) {
            const int32_t *k = c->k + (size_t)x * c->ntaps;
            const __m128i *s = (const __m128i *)(row4 + 4 * (size_t)c->lo[x]);
            const int n = c->cnt[x];
            __m128i acc = vhalf;
            for (int j = 0; j < n; j++)
                acc = _mm_add_epi32(acc, _mm_mullo_epi32(_mm_load_si128(s + j), _mm_set1_epi32(k[j])));
            acc = _mm_srai_epi32(acc, PRECISION_BITS);
            acc = _mm_packus_epi16(_mm_packs_epi32(acc, acc), acc);
            const uint32_t px = (uint32_t)_mm_cvtsi128_si32(acc);
            d[0] = (uint8_t)px;
            d[1] = (uint8_t)(px >> 8);
            d[2] = (uint8_t)(px >> 16);
        }
#else
        (void)row4;
        for (int x = 0; x < out_w; x++, d += 3) {
            const int32_t *k = c->k + (size_t)x * c->ntaps;
            const uint8_t *s = row + (size_t)c->lo[x] * 3;
            const int n = c->cnt[x];
            int32_t r = half, g = half, b = half;
            for (int j = 0; j < n; j++, s += 3) {
                r += s[0] * k[j];
                g += s[1] * k[j];
                b += s[2] * k[j];
            }
            d[0] = clip8(r);
            d[1] = clip8(g);
            d[2] = clip8(b);
        }
#endif
    }
}

/* (in_h, w, 3) -> (out_h, w, 3). Rows are processed as flat arrays of w*3
 * bytes, accumulating one input row at a time so the inner loop is
 * contiguous and vectorises. */
static void pass_vertical(const uint8_t *restrict src, int w, uint8_t *restrict dst, int out_h, const coeffs *c,
                          int32_t *restrict acc) {
    const size_t rowlen = (size_t)w * 3;
    const int32_t half = 1 << (PRECISION_BITS - 1);
    for (int y = 0; y < out_h; y++) {
        const int32_t *k = c->k + (size_t)y * c->ntaps;
        const int n = c->cnt[y];
        for (size_t i = 0; i < rowlen; i++) acc[i] = half;
        for (int j = 0; j < n; j++) {
            const uint8_t *restrict s = src + (size_t)(c->lo[y] + j) * rowlen;
            const int32_t kj = k[j];
            size_t i = 0;
#if defined(__AVX2__)
            const __m256i vk = _mm256_set1_epi32(kj);
            for (; i + 8 <= rowlen; i += 8) {
                __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(s + i)));
                __m256i a = _mm256_loadu_si256((const __m256i *)(acc + i));
                _mm256_storeu_si256((__m256i *)(acc + i), _mm256_add_epi32(a, _mm256_mullo_epi32(v, vk)));
            }
#endif
            for (; i < rowlen; i++) acc[i] += s[i] * kj;
        }
        uint8_t *d = dst + (size_t)y * rowlen;
        for (size_t i = 0; i < rowlen; i++) d[i] = clip8(acc[i]);
    }
}

/* ---------------------------------------------------------------- entry points */

int resize_image(const image *in, int out_w, int out_h, resize_filter filter, image *out) {
    out->w = out->h = 0;
    out->rgb = NULL;
    if (!in || !in->rgb || in->w <= 0 || in->h <= 0) return status_fail(ST_ARG, "resize: empty input image");
    if (out_w <= 0 || out_h <= 0 || out_w > IMAGE_MAX_SIDE || out_h > IMAGE_MAX_SIDE)
        return status_fail(ST_ARG, "resize: output size %dx%d out of range", out_w, out_h);
    double (*f)(double);
    double support;
    switch (filter) {
    case RESIZE_BICUBIC:  f = filter_bicubic;  support = 2.0; break;
    case RESIZE_BILINEAR: f = filter_bilinear; support = 1.0; break;
    case RESIZE_LANCZOS:  f = filter_lanczos;  support = 3.0; break;
    default: return status_fail(ST_ARG, "resize: unknown filter %d", (int)filter);
    }
    const int need_h = out_w != in->w, need_v = out_h != in->h;
    if (!need_h && !need_v) {
        int st = image_alloc(in->w, in->h, out);
        if (st) return st;
        memcpy(out->rgb, in->rgb, (size_t)in->w * in->h * 3);
        return ST_OK;
    }

    coeffs ch = {0}, cv = {0};
    image tmp = {0};
    int32_t *acc = NULL, *row4 = NULL;
    int st = ST_OK;
    if (need_h && (st = coeffs_build(in->w, out_w, f, support, &ch))) goto done;
    if (need_v && (st = coeffs_build(in->h, out_h, f, support, &cv))) goto done;
    if ((st = image_alloc(out_w, out_h, out))) goto done;

    const uint8_t *mid = in->rgb; /* (in_h, out_w, 3) after the horizontal pass */
    if (need_h) {
        row4 = aligned_alloc(16, sizeof(int32_t) * 4 * (size_t)in->w);
        if (!row4) { st = status_fail(ST_NOMEM, "resize: out of memory"); goto done; }
        if (need_v) {
            if ((st = image_alloc(out_w, in->h, &tmp))) goto done;
            pass_horizontal(in->rgb, in->w, in->h, tmp.rgb, out_w, &ch, row4);
            mid = tmp.rgb;
        } else {
            pass_horizontal(in->rgb, in->w, in->h, out->rgb, out_w, &ch, row4);
        }
    }
    if (need_v) {
        acc = malloc(sizeof(int32_t) * (size_t)out_w * 3);
        if (!acc) { st = status_fail(ST_NOMEM, "resize: out of memory"); goto done; }
        pass_vertical(mid, out_w, out->rgb, out_h, &cv, acc);
    }
done:
    free(acc);
    free(row4);
    image_release(&tmp);
    coeffs_free(&ch);
    coeffs_free(&cv);
    if (st) image_release(out);
    return st;
}

int resize_bicubic(const image *in, int out_w, int out_h, image *out) {
    return resize_image(in, out_w, out_h, RESIZE_BICUBIC, out);
}
