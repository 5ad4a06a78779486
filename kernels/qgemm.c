/* kernels/qgemm.c — see qgemm.h.
 *
 * One driver per type walks the output in chunks of QG_NC weight rows
 * (OpenMP over chunks: static and contiguous for decode, so each thread
 * streams its own slice of W; dynamic for prefill) and, inside a chunk, in
 * tiles: BF16 4 activation rows × 4 weight rows (M = 1: one weight row at a
 * time), Q8 4 activation rows × 2 packed groups of 16 weight rows. A chunk
 * of W (64 rows: 128-147 KB at 2048 columns) stays in L2 while every group
 * of x rows passes over it, so prefill reads W from memory once.
 *
 * Q8 is packed (qgemm.h) because the row-major layout cost, per 64 bytes of
 * weights, a convert, a multiply and an FMA for each vpdpbusd (two blocks'
 * scales per zmm): decode was compute-bound at ~55 % of the read bandwidth
 * and prefill at ~240 GFLOP/s. Packed, a block costs 8 vpdpbusd per row
 * group and one convert + FMA.
 *
 * The AVX-512 micro-kernels are always_inline bodies with constant row
 * counts inside target-attributed functions, so each shape gets its own
 * register allocation.
 */
#include "qgemm.h"
#include "half.h"
#include "status.h"

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
#define QG_G 16               /* Q8: weight rows per packed group */
#define QG_REC (QG_G * 32 + QG_G * 4) /* Q8: bytes per (group, block) record */
#define QG_MR 4               /* Q8: most activation rows per tile */

typedef struct {
    float *y;
    int ldy;
    const int8_t *xq;          /* Q8: x (M, kp) */
    const float *xs;           /* (M, nb) */
    const int32_t *xsum;       /* (M, nb) Σ of each block of xq (VNNI path) */
    const uint8_t *wp;         /* packed weights (qgemm_q8_pack) */
    const uint16_t *xb;        /* BF16 */
    int ldx;
    const uint8_t *wb;
    const float *b;
    int M, N, K;               /* K: kp for Q8 */
    int acc;
} qg_args;

typedef void (*qg_tile)(const qg_args *a, int m0, int mr, int n0, int nr);
/* M = 1: output rows [n0, n1) one weight row at a time (NULL: tiles). */
typedef void (*qg_rows)(const qg_args *a, int n0, int n1);

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

/* Packed Q8 record of (group g, block blk): QG_REC bytes at
 * wp + (g·nb + blk)·QG_REC; byte t·64 + 4r + i is w[16g + r][32·blk + 4t + i]
 * (t < 8, r < 16, i < 4), then 16 float scales at byte 512. */
static inline const uint8_t *q8_rec(const qg_args *a, int g, int blk) {
    return a->wp + ((size_t)g * (a->K / 32) + blk) * QG_REC;
}

/* Q8 tiles: activation rows [m0, m0 + mr) × weight groups [g0, g0 + ng);
 * outputs past N (the padding of the last group) are not stored. */
static void q8_store16(const qg_args *a, int m, int g, const float *v) {
    for (int r = 0; r < QG_G && g * QG_G + r < a->N; r++) qg_store(a, m, g * QG_G + r, v[r]);
}

static void q8_tile_scalar(const qg_args *a, int m0, int mr, int g0, int ng) {
    const int nb = a->K / 32;
    for (int i = 0; i < mr; i++)
        for (int g = g0; g < g0 + ng; g++) {
            const int8_t *x = a->xq + (size_t)(m0 + i) * a->K;
            const float *sx = a->xs + (size_t)(m0 + i) * nb;
            float s[QG_G] = {0};
            for (int blk = 0; blk < nb; blk++) {
                const uint8_t *rec = q8_rec(a, g, blk);
                for (int r = 0; r < QG_G; r++) {
                    int32_t d = 0;
                    for (int t = 0; t < 8; t++)
                        for (int k = 0; k < 4; k++)
                            d += (int32_t)x[blk * 32 + 4 * t + k] * (int8_t)rec[t * 64 + 4 * r + k];
                    float sw;
                    memcpy(&sw, rec + 512 + 4 * r, 4);
                    s[r] += (float)d * (sx[blk] * sw);
                }
            }
            q8_store16(a, m0 + i, g, s);
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
/* MR activation rows × one group of 16 weight rows. A record's 64-byte
 * step t holds rows 0-7 in its low 32 bytes and rows 8-15 in its high 32,
 * four consecutive k each, so the four bytes x[32·blk + 4t ..] broadcast
 * over a ymm meet each row's four weights: |x| (u8) · (w with x's sign) by
 * vpmaddubsw (pairs stay below 2·127² < 2^15: nothing saturates), then
 * vpmaddwd to one int32 per row, converted and scaled by sx·sw per block. */
QG_INLINE void q8_avx2_body(const qg_args *a, int m0, const int MR, int g) {
    const int nb = a->K / 32;
    const int8_t *x[2];
    const float *sx[2];
    for (int i = 0; i < MR; i++) x[i] = a->xq + (size_t)(m0 + i) * a->K, sx[i] = a->xs + (size_t)(m0 + i) * nb;
    __m256 c[2][2];
    for (int i = 0; i < MR; i++) c[i][0] = c[i][1] = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    for (int blk = 0; blk < nb; blk++) {
        const uint8_t *rec = q8_rec(a, g, blk);
        __m256i d[2][2];
        for (int i = 0; i < MR; i++) d[i][0] = d[i][1] = _mm256_setzero_si256();
        #pragma GCC unroll 8
        for (int t = 0; t < 8; t++) {
            if (MR == 1) _mm_prefetch((const char *)rec + QG_PF + t * 64, _MM_HINT_T0);
            const __m256i w0 = _mm256_loadu_si256((const __m256i *)(const void *)(rec + t * 64));
            const __m256i w1 = _mm256_loadu_si256((const __m256i *)(const void *)(rec + t * 64 + 32));
            #pragma GCC unroll 2
            for (int i = 0; i < MR; i++) {
                int32_t x4;
                memcpy(&x4, x[i] + blk * 32 + 4 * t, 4);
                const __m256i xb = _mm256_set1_epi32(x4), ax = _mm256_sign_epi8(xb, xb);
                d[i][0] = _mm256_add_epi32(d[i][0], _mm256_madd_epi16(_mm256_maddubs_epi16(ax, _mm256_sign_epi8(w0, xb)), ones));
                d[i][1] = _mm256_add_epi32(d[i][1], _mm256_madd_epi16(_mm256_maddubs_epi16(ax, _mm256_sign_epi8(w1, xb)), ones));
            }
        }
        const __m256 s0 = _mm256_loadu_ps((const float *)(const void *)(rec + 512));
        const __m256 s1 = _mm256_loadu_ps((const float *)(const void *)(rec + 544));
        #pragma GCC unroll 2
        for (int i = 0; i < MR; i++) {
            const __m256 xv = _mm256_set1_ps(sx[i][blk]);
            c[i][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d[i][0]), _mm256_mul_ps(s0, xv), c[i][0]);
            c[i][1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d[i][1]), _mm256_mul_ps(s1, xv), c[i][1]);
        }
    }
    for (int i = 0; i < MR; i++) {
        float v[QG_G];
        _mm256_storeu_ps(v, c[i][0]);
        _mm256_storeu_ps(v + 8, c[i][1]);
        q8_store16(a, m0 + i, g, v);
    }
}

static void q8_tile_avx2(const qg_args *a, int m0, int mr, int g0, int ng) {
    for (int g = g0; g < g0 + ng; g++) {
        int i = 0;
        for (; i + 2 <= mr; i += 2) q8_avx2_body(a, m0 + i, 2, g);
        if (i < mr) q8_avx2_body(a, m0 + i, 1, g);
    }
}

/* ------------------------------------------------------------------ AVX-512 */

/* MR activation rows × NG groups of 16 weight rows. Step t of a record is
 * one zmm: lane r holds row r's four weights at k = 32·blk + 4t .. + 3, and
 * vpdpbusd with the four activation bytes broadcast (an embedded {1to16}
 * operand) adds each row's four products to its lane. vpdpbusd multiplies
 * u8 by s8, so the weights go in as w + 128 (xor 0x80) and each lane starts
 * the block from -128·Σx (xsum): the block's sum is then Σ x·w exactly. Per
 * block: 8 vpdpbusd per (row, group), one convert and one FMA with sw·sx. */
QG_T512Q8 QG_INLINE void q8_512_body(const qg_args *a, int m0, const int MR, int g0, const int NG) {
    const int nb = a->K / 32;
    const int8_t *x[QG_MR];
    const float *sx[QG_MR];
    const int32_t *xsum[QG_MR];
    for (int i = 0; i < MR; i++) {
        x[i] = a->xq + (size_t)(m0 + i) * a->K;
        sx[i] = a->xs + (size_t)(m0 + i) * nb, xsum[i] = a->xsum + (size_t)(m0 + i) * nb;
    }
    const uint8_t *wg[2];
    for (int j = 0; j < NG; j++) wg[j] = q8_rec(a, g0 + j, 0);
    const __m512i off = _mm512_set1_epi8((char)0x80);
    __m512 c[QG_MR][2];
    #pragma GCC unroll 8
    for (int i = 0; i < MR; i++)
        #pragma GCC unroll 2
        for (int j = 0; j < NG; j++) c[i][j] = _mm512_setzero_ps();
    for (int blk = 0; blk < nb; blk++) {
        __m512i d[QG_MR][2];
        #pragma GCC unroll 8
        for (int i = 0; i < MR; i++)
            #pragma GCC unroll 2
            for (int j = 0; j < NG; j++) d[i][j] = _mm512_set1_epi32(-128 * xsum[i][blk]);
        #pragma GCC unroll 8
        for (int t = 0; t < 8; t++) {
            __m512i w[2];
            #pragma GCC unroll 2
            for (int j = 0; j < NG; j++) {
                const uint8_t *p = wg[j] + (size_t)blk * QG_REC + t * 64;
                if (MR == 1) _mm_prefetch((const char *)p + QG_PF, _MM_HINT_T0);
                w[j] = _mm512_xor_si512(_mm512_loadu_si512(p), off);
            }
            #pragma GCC unroll 8
            for (int i = 0; i < MR; i++) {
                int32_t x4;
                memcpy(&x4, x[i] + blk * 32 + 4 * t, 4);
                const __m512i xb = _mm512_set1_epi32(x4);
                #pragma GCC unroll 2
                for (int j = 0; j < NG; j++) d[i][j] = _mm512_dpbusd_epi32(d[i][j], w[j], xb);
            }
        }
        #pragma GCC unroll 2
        for (int j = 0; j < NG; j++) {
            const __m512 sw = _mm512_loadu_ps((const float *)(const void *)(wg[j] + (size_t)blk * QG_REC + 512));
            if (MR == 1) _mm_prefetch((const char *)wg[j] + (size_t)blk * QG_REC + 512 + QG_PF, _MM_HINT_T0);
            #pragma GCC unroll 8
            for (int i = 0; i < MR; i++)
                c[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d[i][j]), _mm512_mul_ps(sw, _mm512_set1_ps(sx[i][blk])),
                                          c[i][j]);
        }
    }
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NG; j++) {
            float v[QG_G];
            _mm512_storeu_ps(v, c[i][j]);
            q8_store16(a, m0 + i, g0 + j, v);
        }
}

#define Q8_CASE(mr)                                                                                \
    case mr:                                                                                       \
        if (ng == 2) q8_512_body(a, m0, mr, g0, 2);                                                \
        else q8_512_body(a, m0, mr, g0, 1);                                                        \
        break;

QG_T512Q8 static void q8_tile_512(const qg_args *a, int m0, int mr, int g0, int ng) {
    switch (mr) {
    Q8_CASE(4) Q8_CASE(3) Q8_CASE(2)
    default:
        if (ng == 2) q8_512_body(a, m0, 1, g0, 2);
        else q8_512_body(a, m0, 1, g0, 1);
        break;
    }
}

#define ACC16(z)                                                                                   \
    __m512 c00 = z, c01 = z, c02 = z, c03 = z, c10 = z, c11 = z, c12 = z, c13 = z, c20 = z, c21 = z, \
           c22 = z, c23 = z, c30 = z, c31 = z, c32 = z, c33 = z
#define STORE_ROW(i)                                                                               \
    if (MR > i) {                                                                                  \
        const __m512 r[4] = {c##i##0, c##i##1, c##i##2, c##i##3};                                  \
        for (int j = 0; j < nr; j++) qg_store(a, m0 + i, n0 + j, _mm512_reduce_add_ps(r[j]));       \
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

/* BF16 decode (M = 1): one weight row at a time, so each thread reads one
 * sequential stream (four rows side by side, as the tile reads them, ran at
 * 60-75 % of the read bandwidth; one stream at 80-90 %). Two accumulators
 * per row, 64 weights per step. */
QG_T512BF static void bf16_rows_512(const qg_args *a, int n0, int n1) {
    const int K = a->K;
    const uint16_t *x = a->xb;
    for (int n = n0; n < n1; n++) {
        const uint8_t *w = a->wb + (size_t)n * K * 2;
        __m512 c0 = _mm512_setzero_ps(), c1 = _mm512_setzero_ps();
        int k = 0;
        for (; k + 64 <= K; k += 64) {
            _mm_prefetch((const char *)(w + k * 2) + QG_PF, _MM_HINT_T0);
            _mm_prefetch((const char *)(w + k * 2) + QG_PF + 64, _MM_HINT_T0);
            c0 = _mm512_dpbf16_ps(c0, (__m512bh)_mm512_loadu_si512(x + k), (__m512bh)_mm512_loadu_si512(w + k * 2));
            c1 = _mm512_dpbf16_ps(c1, (__m512bh)_mm512_loadu_si512(x + k + 32),
                                  (__m512bh)_mm512_loadu_si512(w + k * 2 + 64));
        }
        for (; k < K; k += 32) {
            const __mmask32 m = k + 32 <= K ? 0xffffffffu : (__mmask32)((1u << (K - k)) - 1);
            c0 = _mm512_dpbf16_ps(c0, (__m512bh)_mm512_maskz_loadu_epi16(m, x + k),
                                  (__m512bh)_mm512_maskz_loadu_epi16(m, w + k * 2));
        }
        qg_store(a, 0, n, _mm512_reduce_add_ps(_mm512_add_ps(c0, c1)));
    }
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

static void qg_chunk(const qg_args *a, qg_tile tile, qg_rows rows, int c) {
    const int n0 = c * QG_NC, n1 = n0 + QG_NC < a->N ? n0 + QG_NC : a->N;
    if (rows && a->M == 1) {
        rows(a, n0, n1);
        return;
    }
    for (int m0 = 0; m0 < a->M; m0 += 4) {
        const int mr = a->M - m0 < 4 ? a->M - m0 : 4;
        for (int n = n0; n < n1; n += 4) tile(a, m0, mr, n, n1 - n < 4 ? n1 - n : 4);
    }
}

typedef void (*qg_chunkfn)(const qg_args *a, qg_tile tile, qg_rows rows, int c);

/* n products (all with the same M and x) in one OpenMP region: the chunks of
 * all of them are one list, so a decoded token wakes the threads once for
 * q, k and v, not three times. */
static void qg_run(const qg_args *a, int n, qg_chunkfn chunk, qg_tile tile, qg_rows rows) {
    int first[QGEMM_MAX_N + 1];
    long work = 0;
    first[0] = 0;
    for (int i = 0; i < n; i++) {
        first[i + 1] = first[i] + (a[i].M > 0 && a[i].N > 0 ? (a[i].N + QG_NC - 1) / QG_NC : 0);
        work += (long)a[i].M * a[i].N * a[i].K;
    }
    const int total = first[n];
    const int par = !omp_in_parallel() && work >= QG_PAR_MIN && total > 1;
    #define QG_ONE(c)                                                                              \
        do {                                                                                       \
            int i_ = 0;                                                                            \
            while ((c) >= first[i_ + 1]) i_++;                                                     \
            chunk(&a[i_], tile, rows, (c) - first[i_]);                                            \
        } while (0)
    if (a[0].M < 4) {
        #pragma omp parallel for schedule(static) if (par)
        for (int c = 0; c < total; c++) QG_ONE(c);
    } else {
        #pragma omp parallel for schedule(dynamic, 1) if (par)
        for (int c = 0; c < total; c++) QG_ONE(c);
    }
    #undef QG_ONE
}

/* Q8: chunks of QG_NC / QG_G groups; inside, tiles of QG_MR activation rows
 * × 2 groups, so a chunk's records stay in L2 while all of x passes. */
static void q8_chunk(const qg_args *a, qg_tile tile, qg_rows rows, int c) {
    (void)rows;
    const int per = QG_NC / QG_G, ngr = (a->N + QG_G - 1) / QG_G;
    const int g0 = c * per, g1 = g0 + per < ngr ? g0 + per : ngr;
    for (int m0 = 0; m0 < a->M; m0 += QG_MR) {
        const int mr = a->M - m0 < QG_MR ? a->M - m0 : QG_MR;
        for (int g = g0; g < g1; g += 2) tile(a, m0, mr, g, g1 - g < 2 ? g1 - g : 2);
    }
}

size_t qgemm_q8_packed_bytes(int N, int kp) { return (size_t)((N + QG_G - 1) / QG_G) * (size_t)(kp / 32) * QG_REC; }

void qgemm_q8_pack_rows(void *wp, int N, int kp, int r0, int n, const int8_t *wq, const float *ws) {
    const int nb = kp / 32;
    uint8_t *base = wp;
    for (int r = r0; r < r0 + n; r++) {
        const int g = r / QG_G, lane = r % QG_G;
        const int8_t *q = wq + (size_t)(r - r0) * kp;
        for (int blk = 0; blk < nb; blk++) {
            uint8_t *rec = base + ((size_t)g * nb + blk) * QG_REC;
            for (int t = 0; t < 8; t++) memcpy(rec + t * 64 + 4 * lane, q + blk * 32 + 4 * t, 4);
            memcpy(rec + 512 + 4 * lane, ws + (size_t)(r - r0) * nb + blk, 4);
        }
    }
    /* the padding rows of the last group: zero weights and scales */
    if (r0 + n == N && N % QG_G) {
        const int g = N / QG_G;
        for (int lane = N % QG_G; lane < QG_G; lane++)
            for (int blk = 0; blk < nb; blk++) {
                uint8_t *rec = base + ((size_t)g * nb + blk) * QG_REC;
                for (int t = 0; t < 8; t++) memset(rec + t * 64 + 4 * lane, 0, 4);
                memset(rec + 512 + 4 * lane, 0, 4);
            }
    }
}

void qgemm_q8_unpack_row(const void *wp, int kp, int r, int8_t *q, float *scales) {
    const int nb = kp / 32, g = r / QG_G, lane = r % QG_G;
    const uint8_t *base = wp;
    for (int blk = 0; blk < nb; blk++) {
        const uint8_t *rec = base + ((size_t)g * nb + blk) * QG_REC;
        for (int t = 0; t < 8; t++) memcpy(q + blk * 32 + 4 * t, rec + t * 64 + 4 * lane, 4);
        memcpy(scales + blk, rec + 512 + 4 * lane, 4);
    }
}

void qgemm_q8_row_to_f32(float *dst, const void *wp, int kp, int r, int cols) {
    const int nb = kp / 32, g = r / QG_G, lane = r % QG_G;
    const uint8_t *base = wp;
    for (int blk = 0; blk < nb; blk++) {
        const uint8_t *rec = base + ((size_t)g * nb + blk) * QG_REC;
        float sc;
        memcpy(&sc, rec + 512 + 4 * lane, 4);
        for (int t = 0; t < 8; t++)
            for (int i = 0; i < 4; i++) {
                const int k = blk * 32 + 4 * t + i;
                if (k < cols) dst[k] = (float)(int8_t)rec[t * 64 + 4 * lane + i] * sc;
            }
    }
}

int qgemm_q8_n(qgemm_isa isa, int n, float *const *y, const int *ldy, const int8_t *xq, const float *xs,
               const void *const *wp, const float *const *b, const int *N, int M, int kp, int accumulate) {
    if (M <= 0 || n <= 0) return ST_OK;
    if (n > QGEMM_MAX_N) return status_fail(ST_ARG, "qgemm: %d products in one call (at most %d)", n, QGEMM_MAX_N);
    qg_args a[QGEMM_MAX_N];
    for (int i = 0; i < n; i++)
        a[i] = (qg_args){.y = y[i], .ldy = ldy[i], .xq = xq, .xs = xs, .wp = wp[i], .b = b ? b[i] : NULL, .M = M,
                         .N = N[i], .K = kp, .acc = accumulate};
    qg_tile tile = q8_tile_scalar;
    int32_t *xsum = NULL;
#ifdef QG_X86
    if (isa == QGEMM_AVX512 && qgemm_supported(QGEMM_AVX512, 0)) {
        tile = q8_tile_512;
        const int nb = kp / 32;   /* the VNNI path's block sums of x */
        xsum = malloc((size_t)M * nb * sizeof(int32_t));
        if (!xsum) return status_fail(ST_NOMEM, "qgemm: cannot allocate %d x %d block sums", M, nb);
        for (size_t i = 0; i < (size_t)M * nb; i++) {
            int32_t s = 0;
            for (int k = 0; k < 32; k++) s += xq[i * 32 + k];
            xsum[i] = s;
        }
        for (int i = 0; i < n; i++) a[i].xsum = xsum;
    } else if (isa >= QGEMM_AVX2) {
        tile = q8_tile_avx2;
    }
#endif
    qg_run(a, n, q8_chunk, tile, NULL);
    free(xsum);
    return ST_OK;
}

int qgemm_q8(qgemm_isa isa, float *y, int ldy, const int8_t *xq, const float *xs, const void *wp, const float *b,
             int M, int N, int kp, int accumulate) {
    return qgemm_q8_n(isa, 1, &y, &ldy, xq, xs, &wp, &b, &N, M, kp, accumulate);
}

int qgemm_bf16_n(qgemm_isa isa, int n, float *const *y, const int *ldy, const uint16_t *x, int ldx,
                 const void *const *w, const float *const *b, const int *N, int M, int K, int accumulate) {
    if (M <= 0 || n <= 0) return ST_OK;
    if (n > QGEMM_MAX_N) return status_fail(ST_ARG, "qgemm: %d products in one call (at most %d)", n, QGEMM_MAX_N);
    qg_args a[QGEMM_MAX_N];
    for (int i = 0; i < n; i++)
        a[i] = (qg_args){.y = y[i], .ldy = ldy[i], .xb = x, .ldx = ldx, .wb = w[i], .b = b ? b[i] : NULL, .M = M,
                         .N = N[i], .K = K, .acc = accumulate};
    qg_tile tile = bf16_tile_scalar;
    qg_rows rows = NULL;
#ifdef QG_X86
    if (isa == QGEMM_AVX512 && qgemm_supported(QGEMM_AVX512, 1)) tile = bf16_tile_512, rows = bf16_rows_512;
#endif
    qg_run(a, n, qg_chunk, tile, rows);
    return ST_OK;
}

void qgemm_bf16(qgemm_isa isa, float *y, int ldy, const uint16_t *x, int ldx, const void *w, const float *b,
                int M, int N, int K, int accumulate) {
    qgemm_bf16_n(isa, 1, &y, &ldy, x, ldx, &w, &b, &N, M, K, accumulate);
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
