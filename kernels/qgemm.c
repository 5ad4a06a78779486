/* kernels/qgemm.c — see qgemm.h.
 *
 * One driver walks the output in chunks of QG_NC weight rows (OpenMP over
 * chunks: static and contiguous for decode, so each thread streams its own
 * slice of W; dynamic for prefill) and, inside a chunk, in tiles of up to 4
 * activation rows × 4 weight rows; the tile function is the path's
 * micro-kernel. A chunk of W (64 rows: 128 KB at 2048 columns) stays in L2
 * while every 4-row group of x passes over it, so prefill reads W from
 * memory once.
 *
 * The AVX-512 micro-kernels are always_inline bodies with a constant row
 * count MR inside target-attributed functions, so each MR gets its own
 * register allocation (16 zmm accumulators at MR = 4).
 */
#include "qgemm.h"
#include "half.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define QG_X86 1
#define QG_T512Q8 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define QG_T512BF __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define QG_INLINE static inline __attribute__((always_inline))
#endif

#define QG_NC 64              /* W rows per work unit */
#define QG_PAR_MIN 65536L     /* MACs below which no threads start */
#define QG_PF 1024            /* decode prefetch distance in bytes of W */

typedef struct {
    float *y;
    int ldy;
    const int8_t *xq;          /* Q8 */
    const float *xs;
    const int8_t *wq;
    const float *ws;
    const uint16_t *xb;        /* BF16 */
    int ldx;
    const uint8_t *wb;
    const float *b;
    int M, N, K;               /* K: kp for Q8 */
    int acc;
} qg_args;

typedef void (*qg_tile)(const qg_args *a, int m0, int mr, int n0, int nr);

static inline void qg_store(const qg_args *a, int m, int n, float v) {
    if (a->b) v += a->b[n];
    float *o = a->y + (size_t)m * a->ldy + n;
    *o = a->acc ? *o + v : v;
}

/* ------------------------------------------------------------------ dispatch */

static int env_cap(void) {
    static int cap = -1;
    if (cap < 0) {
        const char *e = getenv("SEER_ISA");
        int c = QGEMM_AVX512;
        if (e && !strcmp(e, "scalar")) c = QGEMM_SCALAR;
        else if (e && !strcmp(e, "avx2")) c = QGEMM_AVX2;
        cap = c;
    }
    return cap;
}

int qgemm_supported(qgemm_isa isa, int bf16) {
    if (isa == QGEMM_SCALAR) return 1;
#ifdef QG_X86
    __builtin_cpu_init();
    if (isa == QGEMM_AVX2) return !bf16;   /* the build's baseline */
    if (isa == QGEMM_AVX512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") &&
               (bf16 ? __builtin_cpu_supports("avx512bf16") : __builtin_cpu_supports("avx512vnni"));
#endif
    return 0;
}

qgemm_isa qgemm_q8_best(void) {
    const int cap = env_cap();
    if (cap >= QGEMM_AVX512 && qgemm_supported(QGEMM_AVX512, 0)) return QGEMM_AVX512;
    if (cap >= QGEMM_AVX2 && qgemm_supported(QGEMM_AVX2, 0)) return QGEMM_AVX2;
    return QGEMM_SCALAR;
}

qgemm_isa qgemm_bf16_best(void) {
    return env_cap() >= QGEMM_AVX512 && qgemm_supported(QGEMM_AVX512, 1) ? QGEMM_AVX512 : QGEMM_SCALAR;
}

const char *qgemm_isa_name(qgemm_isa isa) {
    return isa == QGEMM_AVX512 ? "avx512" : isa == QGEMM_AVX2 ? "avx2" : "scalar";
}

/* ------------------------------------------------------------------ scalar */

static void q8_tile_scalar(const qg_args *a, int m0, int mr, int n0, int nr) {
    const int kp = a->K, nb = kp / 32;
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) {
            const int8_t *x = a->xq + (size_t)(m0 + i) * kp, *w = a->wq + (size_t)(n0 + j) * kp;
            const float *sx = a->xs + (size_t)(m0 + i) * nb, *sw = a->ws + (size_t)(n0 + j) * nb;
            float s = 0.0f;
            for (int blk = 0; blk < nb; blk++) {
                int32_t d = 0;
                for (int t = 0; t < 32; t++) d += (int32_t)x[blk * 32 + t] * w[blk * 32 + t];
                s += (float)d * (sx[blk] * sw[blk]);
            }
            qg_store(a, m0 + i, n0 + j, s);
        }
}

static void bf16_tile_scalar(const qg_args *a, int m0, int mr, int n0, int nr) {
    const int K = a->K;
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) {
            const uint16_t *x = a->xb + (size_t)(m0 + i) * a->ldx;
            const uint8_t *w = a->wb + (size_t)(n0 + j) * K * 2;
            float s = 0.0f;
            for (int k = 0; k < K; k++) {
                uint16_t h;
                memcpy(&h, w + 2 * (size_t)k, 2);
                s += bf16_to_f32(x[k]) * bf16_to_f32(h);
            }
            qg_store(a, m0 + i, n0 + j, s);
        }
}

/* ------------------------------------------------------------------ AVX2 */

#ifdef QG_X86
static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* MR activation rows × 4 weight rows (rows past nr repeat the last one and
 * are not stored). Per block: |x| (u8) · (w with x's sign) by vpmaddubsw —
 * pairs stay below 2·127² < 2^15, so nothing saturates — then vpmaddwd to
 * int32 lanes, converted and scaled by sx·sw. */
QG_INLINE void q8_avx2_body(const qg_args *a, int m0, const int MR, int n0, int nr) {
    const int kp = a->K, nb = kp / 32;
    const int8_t *w[4], *x[2];
    const float *sw[4], *sx[2];
    for (int j = 0; j < 4; j++) {
        const int r = n0 + (j < nr ? j : nr - 1);
        w[j] = a->wq + (size_t)r * kp, sw[j] = a->ws + (size_t)r * nb;
    }
    for (int i = 0; i < MR; i++) x[i] = a->xq + (size_t)(m0 + i) * kp, sx[i] = a->xs + (size_t)(m0 + i) * nb;
    __m256 acc[2][4];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    for (int blk = 0; blk < nb; blk++) {
        __m256i wv[4];
        #pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            if (MR == 1 && (blk & 1) == 0) _mm_prefetch((const char *)(w[j] + blk * 32) + QG_PF, _MM_HINT_T0);
            wv[j] = _mm256_loadu_si256((const __m256i *)(const void *)(w[j] + blk * 32));
        }
        #pragma GCC unroll 2
        for (int i = 0; i < MR; i++) {
            const __m256i xv = _mm256_loadu_si256((const __m256i *)(const void *)(x[i] + blk * 32));
            const __m256i ax = _mm256_sign_epi8(xv, xv);
            #pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(ax, _mm256_sign_epi8(wv[j], xv)), ones);
                acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(sx[i][blk] * sw[j][blk]),
                                            acc[i][j]);
            }
        }
    }
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < nr; j++) qg_store(a, m0 + i, n0 + j, hsum8(acc[i][j]));
}

static void q8_tile_avx2(const qg_args *a, int m0, int mr, int n0, int nr) {
    int i = 0;
    for (; i + 2 <= mr; i += 2) q8_avx2_body(a, m0 + i, 2, n0, nr);
    if (i < mr) q8_avx2_body(a, m0 + i, 1, n0, nr);
}

/* ------------------------------------------------------------------ AVX-512 */

/* [s[0] ×8, s[1] ×8]: the scales of two consecutive blocks, one per half. */
QG_T512Q8 QG_INLINE __m512 q8_scale2(const float *s) {
    const __m512i idx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    __m128 v = _mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)(const void *)s));
    return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(v));
}

/* One step of 64 bytes (two blocks; full = 0: one block, the upper 32 bytes
 * read as zeros). vpdpbusd multiplies u8 by s8, so the weights go in as
 * w + 128 (w xor 0x80) and each lane starts from -128·Σx of its four
 * activations (one vpdpbusd per x row and step): the sum is then Σ x·w
 * exactly. The 16 accumulators are named variables (an array
 * indexed in loops stayed in memory). */
#define Q8_W(j)                                                                                   \
    const int8_t *p##j = w[j] + (size_t)blk * 32;                                                 \
    if (MR < 4) _mm_prefetch((const char *)p##j + QG_PF, _MM_HINT_T0);                            \
    const __m512i wv##j = _mm512_xor_si512(full ? _mm512_loadu_si512(p##j) : _mm512_maskz_loadu_epi8(0xffffffffull, p##j), off); \
    const __m512 sw##j = full ? q8_scale2(sw[j] + blk) : _mm512_set1_ps(sw[j][blk]);
#define Q8_PAIR(i, j) \
    c##i##j = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(xc, wv##j, xv)), _mm512_mul_ps(sxv, sw##j), c##i##j);
#define Q8_ROW(i)                                                                                  \
    if (MR > i) {                                                                                  \
        const int8_t *px = x[i] + (size_t)blk * 32;                                                \
        const __m512i xv = full ? _mm512_loadu_si512(px) : _mm512_maskz_loadu_epi8(0xffffffffull, px); \
        const __m512i xc = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, off, xv));             \
        const __m512 sxv = full ? q8_scale2(sx[i] + blk) : _mm512_set1_ps(sx[i][blk]);            \
        Q8_PAIR(i, 0) Q8_PAIR(i, 1) Q8_PAIR(i, 2) Q8_PAIR(i, 3)                                    \
    }
#define Q8_STEP(full_)                                                                             \
    do {                                                                                           \
        const int full = full_;                                                                    \
        Q8_W(0) Q8_W(1) Q8_W(2) Q8_W(3)                                                            \
        Q8_ROW(0) Q8_ROW(1) Q8_ROW(2) Q8_ROW(3)                                                    \
    } while (0)
#define ACC16(z)                                                                                   \
    __m512 c00 = z, c01 = z, c02 = z, c03 = z, c10 = z, c11 = z, c12 = z, c13 = z, c20 = z, c21 = z, \
           c22 = z, c23 = z, c30 = z, c31 = z, c32 = z, c33 = z
#define STORE_ROW(i)                                                                               \
    if (MR > i) {                                                                                  \
        const __m512 r[4] = {c##i##0, c##i##1, c##i##2, c##i##3};                                  \
        for (int j = 0; j < nr; j++) qg_store(a, m0 + i, n0 + j, _mm512_reduce_add_ps(r[j]));       \
    }

QG_T512Q8 QG_INLINE void q8_512_body(const qg_args *a, int m0, const int MR, int n0, int nr) {
    const int kp = a->K, nb = kp / 32;
    const int8_t *w[4], *x[4] = {0};
    const float *sw[4], *sx[4] = {0};
    for (int j = 0; j < 4; j++) {
        const int r = n0 + (j < nr ? j : nr - 1);
        w[j] = a->wq + (size_t)r * kp, sw[j] = a->ws + (size_t)r * nb;
    }
    for (int i = 0; i < MR; i++) x[i] = a->xq + (size_t)(m0 + i) * kp, sx[i] = a->xs + (size_t)(m0 + i) * nb;
    const __m512i off = _mm512_set1_epi8((char)0x80), zero = _mm512_setzero_si512();
    ACC16(_mm512_setzero_ps());
    int blk = 0;
    for (; blk + 2 <= nb; blk += 2) Q8_STEP(1);
    if (blk < nb) Q8_STEP(0);
    STORE_ROW(0) STORE_ROW(1) STORE_ROW(2) STORE_ROW(3)
}

QG_T512Q8 static void q8_tile_512(const qg_args *a, int m0, int mr, int n0, int nr) {
    switch (mr) {
    case 4: q8_512_body(a, m0, 4, n0, nr); break;
    case 3: q8_512_body(a, m0, 3, n0, nr); break;
    case 2: q8_512_body(a, m0, 2, n0, nr); break;
    default: q8_512_body(a, m0, 1, n0, nr); break;
    }
}

/* BF16: 32 pairs per zmm, vdpbf16ps straight from the stored weights. */
#define BF_W(j)                                                                   \
    const uint8_t *p##j = w[j] + (size_t)k * 2;                                   \
    if (MR < 4) _mm_prefetch((const char *)p##j + QG_PF, _MM_HINT_T0);            \
    const __m512bh wv##j = (__m512bh)_mm512_maskz_loadu_epi16(m, p##j);
#define BF_ROW(i)                                                                 \
    if (MR > i) {                                                                 \
        const __m512bh xv = (__m512bh)_mm512_maskz_loadu_epi16(m, x[i] + k);      \
        c##i##0 = _mm512_dpbf16_ps(c##i##0, xv, wv0);                             \
        c##i##1 = _mm512_dpbf16_ps(c##i##1, xv, wv1);                             \
        c##i##2 = _mm512_dpbf16_ps(c##i##2, xv, wv2);                             \
        c##i##3 = _mm512_dpbf16_ps(c##i##3, xv, wv3);                             \
    }

QG_T512BF QG_INLINE void bf16_512_body(const qg_args *a, int m0, const int MR, int n0, int nr) {
    const int K = a->K;
    const uint8_t *w[4];
    const uint16_t *x[4] = {0};
    for (int j = 0; j < 4; j++) w[j] = a->wb + (size_t)(n0 + (j < nr ? j : nr - 1)) * K * 2;
    for (int i = 0; i < MR; i++) x[i] = a->xb + (size_t)(m0 + i) * a->ldx;
    ACC16(_mm512_setzero_ps());
    for (int k = 0; k < K; k += 32) {
        const __mmask32 m = k + 32 <= K ? 0xffffffffu : (__mmask32)((1u << (K - k)) - 1);
        BF_W(0) BF_W(1) BF_W(2) BF_W(3)
        BF_ROW(0) BF_ROW(1) BF_ROW(2) BF_ROW(3)
    }
    STORE_ROW(0) STORE_ROW(1) STORE_ROW(2) STORE_ROW(3)
}

QG_T512BF static void bf16_tile_512(const qg_args *a, int m0, int mr, int n0, int nr) {
    switch (mr) {
    case 4: bf16_512_body(a, m0, 4, n0, nr); break;
    case 3: bf16_512_body(a, m0, 3, n0, nr); break;
    case 2: bf16_512_body(a, m0, 2, n0, nr); break;
    default: bf16_512_body(a, m0, 1, n0, nr); break;
    }
}
#endif

/* ------------------------------------------------------------------ driver */

static void qg_chunk(const qg_args *a, qg_tile tile, int c) {
    const int n0 = c * QG_NC, n1 = n0 + QG_NC < a->N ? n0 + QG_NC : a->N;
    for (int m0 = 0; m0 < a->M; m0 += 4) {
        const int mr = a->M - m0 < 4 ? a->M - m0 : 4;
        for (int n = n0; n < n1; n += 4) tile(a, m0, mr, n, n1 - n < 4 ? n1 - n : 4);
    }
}

static void qg_drive(const qg_args *a, qg_tile tile) {
    if (a->M <= 0 || a->N <= 0) return;
    const int nchunks = (a->N + QG_NC - 1) / QG_NC;
    const int par = !omp_in_parallel() && (long)a->M * a->N * a->K >= QG_PAR_MIN && nchunks > 1;
    if (a->M < 4) {
        #pragma omp parallel for schedule(static) if (par)
        for (int c = 0; c < nchunks; c++) qg_chunk(a, tile, c);
    } else {
        #pragma omp parallel for schedule(dynamic, 1) if (par)
        for (int c = 0; c < nchunks; c++) qg_chunk(a, tile, c);
    }
}

void qgemm_q8(qgemm_isa isa, float *y, int ldy, const int8_t *xq, const float *xs, const int8_t *wq,
              const float *ws, const float *b, int M, int N, int kp, int accumulate) {
    qg_args a = {.y = y, .ldy = ldy, .xq = xq, .xs = xs, .wq = wq, .ws = ws, .b = b, .M = M, .N = N, .K = kp,
                 .acc = accumulate};
    qg_tile tile = q8_tile_scalar;
#ifdef QG_X86
    if (isa == QGEMM_AVX512 && qgemm_supported(QGEMM_AVX512, 0)) tile = q8_tile_512;
    else if (isa >= QGEMM_AVX2) tile = q8_tile_avx2;
#endif
    qg_drive(&a, tile);
}

void qgemm_bf16(qgemm_isa isa, float *y, int ldy, const uint16_t *x, int ldx, const void *w, const float *b,
                int M, int N, int K, int accumulate) {
    qg_args a = {.y = y, .ldy = ldy, .xb = x, .ldx = ldx, .wb = w, .b = b, .M = M, .N = N, .K = K,
                 .acc = accumulate};
    qg_tile tile = bf16_tile_scalar;
#ifdef QG_X86
    if (isa == QGEMM_AVX512 && qgemm_supported(QGEMM_AVX512, 1)) tile = bf16_tile_512;
#endif
    qg_drive(&a, tile);
}

void qgemm_f32_to_bf16(uint16_t *dst, const float *src, size_t n) {
    size_t i = 0;
#ifdef QG_X86
    /* round to nearest even as integers (u + 0x7fff + lsb) >> 16; NaNs
     * (rare) are redone by the scalar code below */
    const __m256i bias = _mm256_set1_epi32(0x7fff), one = _mm256_set1_epi32(1);
    for (; i + 8 <= n; i += 8) {
        const __m256 f = _mm256_loadu_ps(src + i);
        if (_mm256_movemask_ps(_mm256_cmp_ps(f, f, _CMP_UNORD_Q))) break;
        const __m256i u = _mm256_castps_si256(f);
        __m256i r = _mm256_add_epi32(u, _mm256_add_epi32(bias, _mm256_and_si256(_mm256_srli_epi32(u, 16), one)));
        r = _mm256_srli_epi32(r, 16);
        const __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0xD8);
        _mm_storeu_si128((__m128i *)(void *)(dst + i), _mm256_castsi256_si128(p));
    }
#endif
    for (; i < n; i++) dst[i] = f32_to_bf16(src[i]);
}
