/* tests/test_kernels.c — every kernel of kernels/ against a plain scalar
 * reference written here (double precision unless said otherwise).
 *
 * Shapes: odd sizes (1, 3, 7, 9, 15, 17, 31, 33, 65, ...) and sizes on both
 * sides of every SIMD width the kernels use (8 floats, 16-column panels, 32
 * elements per GEMV step and per Q8 block, 4-row scan blocks, 1..6-row
 * gemm_small blocks), so vector bodies and scalar tails both run. In a build
 * with SEER_SIMD=OFF the same checks run the scalar fallbacks.
 *
 * Outputs are poisoned (a NaN bit pattern) before each call, so an element a
 * kernel forgets to write fails; padding between rows (ld > width) is
 * poisoned too and must come back untouched.
 *
 * Tolerances, u = 2^-24 (float32 unit roundoff), gamma(n) = n·u / (1 - n·u):
 *   a float32 sum of n terms, in any order and with or without FMA, is within
 *   gamma(n)·Σ|terms| of the exact sum (Higham, Accuracy and Stability of
 *   Numerical Algorithms, §3.1). Each kernel's bound below says which n and
 *   which extra terms (bias, accumulate, exp error) it adds. The references
 *   run in double, so their own error is negligible against these bounds.
 * Seeds are fixed; the whole test takes about a second in Release.
 */
#include <stdarg.h>
#include <stdint.h>
#include <time.h>

#include "act.h"
#include "attention.h"
#include "gemm_small.h"
#include "half.h"
#include "linear.h"
#include "matmul.h"
#include "norm.h"
#include "qgemm.h"
#include "quant.h"
#include "rope.h"
#include "scan.h"
#include "softmax.h"
#include "topk.h"
#include "test.h"

/* ------------------------------------------------------------------ helpers */

#define U (1.0 / 16777216.0) /* float32 unit roundoff, 2^-24 */
static double gam(double n) { return n * U / (1.0 - n * U); }

static uint64_t rng_s;
static void seed(uint64_t s) { rng_s = s * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull; }
static uint64_t rnd64(void) {
    rng_s ^= rng_s >> 12, rng_s ^= rng_s << 25, rng_s ^= rng_s >> 27;
    return rng_s * 0x2545F4914F6CDD1Dull;
}
static double urand(void) { return (double)(rnd64() >> 11) * (1.0 / 9007199254740992.0); }
static float frand(float lo, float hi) { return (float)(lo + (hi - lo) * urand()); }
static int irand(int n) { return (int)(rnd64() % (uint64_t)n); }

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        printf("out of memory (%zu bytes)\n", n);
        exit(2);
    }
    return p;
}
static float *fmalloc(size_t n) { return xmalloc(n * sizeof(float)); }

static uint32_t fbits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bitsf(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* The poison: a quiet NaN with a recognisable payload. */
#define POISON_BITS 0x7fc0deadu
static void poison(float *p, size_t n) {
    const float v = bitsf(POISON_BITS);
    for (size_t i = 0; i < n; i++) p[i] = v;
}
static int is_poison(float f) { return fbits(f) == POISON_BITS; }

static void fill(float *p, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) p[i] = frand(lo, hi);
}

/* Running comparison of one kernel: the first failure (with the case it was
 * in) and the worst err/tol ratio among the passes, printed for the record. */
static char g_case[256];
#define CASE(...) snprintf(g_case, sizeof g_case, __VA_ARGS__)
typedef struct {
    const char *name;
    double worst;
    long n, bad;
    char first[512];
} tally;

static void fail_at(tally *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_at(tally *t, const char *fmt, ...) {
    if (t->bad++) return;
    int k = snprintf(t->first, sizeof t->first, "%s: ", g_case);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->first + k, sizeof t->first - (size_t)k, fmt, ap);
    va_end(ap);
}

static void near(tally *t, float got, double ref, double tol, long idx) {
    t->n++;
    double err = fabs((double)got - ref);
    if (!(err <= tol)) { /* NaN (poison) fails here too */
        fail_at(t, "[%ld] got %.9g%s, want %.9g, |diff| %.3g > tol %.3g", idx, got,
                is_poison(got) ? " (never written)" : "", ref, err, tol);
        return;
    }
    if (tol > 0 && err / tol > t->worst) t->worst = err / tol;
}
static void same_bits(tally *t, float got, float want, long idx) {
    t->n++;
    if (fbits(got) != fbits(want))
        fail_at(t, "[%ld] got %08x (%.9g)%s, want %08x (%.9g)", idx, fbits(got), got,
                is_poison(got) ? " (never written)" : "", fbits(want), want);
}
static void untouched(tally *t, float got, long idx) {
    t->n++;
    if (!is_poison(got)) fail_at(t, "[%ld] padding overwritten with %.9g", idx, got);
}
static void report(tally *t) {
    CHECK_MSG(t->bad == 0, "%s: %ld of %ld values wrong; first %s", t->name, t->bad, t->n, t->first);
    printf("  %-22s %8ld values, worst err/tol %.3f\n", t->name, t->n, t->worst);
}

/* Sizes around the SIMD widths, and a few odd ones. */
static const int ODD[] = {1, 3, 7, 9, 15, 17, 31, 33, 65};
#define NODD (int)(sizeof ODD / sizeof *ODD)
static const int TAILS[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 23, 24, 31, 32, 33, 40, 63, 64, 65, 97, 129, 257};
#define NTAILS (int)(sizeof TAILS / sizeof *TAILS)

/* ------------------------------------------------------------------ half */

/* Value of a non-NaN binary16, from the format's definition. */
static double ref_f16(uint16_t h) {
    const int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? INFINITY : ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

/* f32 bits a binary16 widens to: exact for numbers; a NaN keeps its sign and
 * payload and comes back quiet (what F16C's vcvtph2ps and torch give). */
static uint32_t ref_f16_bits(uint16_t h) {
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
        return ((uint32_t)(h & 0x8000) << 16) | 0x7fc00000u | ((uint32_t)(h & 0x3ff) << 13);
    return fbits((float)ref_f16(h));
}

/* Magnitudes of halves 0x0000..0x7bff, then 2^16 at 0x7c00: the point where
 * the exponent range would continue, so rounding past 65504 goes to inf. */
static double g_half_mag[0x7c01];

/* Nearest binary16 to f, ties to the even bit pattern (which is the even
 * significand), by search over the table of values. NaN is not handled. */
static uint16_t ref_to_f16(float f) {
    const uint16_t sign = (uint16_t)((fbits(f) >> 16) & 0x8000);
    const double a = fabs((double)f);
    if (a >= 65536.0) return sign | 0x7c00;
    int lo = 0, hi = 0x7c00; /* g_half_mag[lo] <= a < g_half_mag[hi] */
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (g_half_mag[mid] <= a) lo = mid;
        else hi = mid;
    }
    const double dl = a - g_half_mag[lo], dh = g_half_mag[hi] - a;
    return sign | (uint16_t)(dl < dh ? lo : dh < dl ? hi : (lo & 1) ? hi : lo);
}

/* Nearest bfloat16 (the top 16 bits of some float), ties to even. No NaN. */
static uint16_t ref_to_bf16(float f) {
    const uint32_t b = fbits(f), lo = b & 0xffff0000u, up = lo + 0x10000u;
    if (isinf(f)) return (uint16_t)(b >> 16);
    const double a = fabs((double)f), vl = fabs((double)bitsf(lo));
    const double vh = ((up >> 23) & 0xff) == 0xff ? ldexp(1.0, 128) : fabs((double)bitsf(up));
    const double dl = a - vl, dh = vh - a;
    const uint32_t r = dl < dh ? lo : dh < dl ? up : ((lo >> 16) & 1) ? up : lo;
    return (uint16_t)(r >> 16);
}

static void check_to_f16(tally *t, float f) {
    const uint16_t got = f32_to_f16(f);
    t->n++;
    if (isnan(f)) {
        /* a quiet NaN with the sign and the top payload bits */
        const uint32_t b = fbits(f);
        const uint16_t want = (uint16_t)(((b >> 16) & 0x8000) | 0x7c00 | 0x200 | ((b & 0x7fffff) >> 13));
        if (got != want) fail_at(t, "NaN %08x -> %04x, want %04x", b, got, want);
        return;
    }
    const uint16_t want = ref_to_f16(f);
    if (got != want) fail_at(t, "%.9g (%08x) -> %04x, want %04x", f, fbits(f), got, want);
}

static void check_to_bf16(tally *t, float f) {
    const uint16_t got = f32_to_bf16(f);
    t->n++;
    if (isnan(f)) {
        const uint16_t want = (uint16_t)((fbits(f) >> 16) | 0x40);
        if (got != want) fail_at(t, "NaN %08x -> %04x, want %04x", fbits(f), got, want);
        return;
    }
    const uint16_t want = ref_to_bf16(f);
    if (got != want) fail_at(t, "%.9g (%08x) -> %04x, want %04x", f, fbits(f), got, want);
}

TEST(half_scalar) {
    seed(1);
    for (int h = 0; h <= 0x7c00; h++) g_half_mag[h] = h == 0x7c00 ? 65536.0 : ref_f16((uint16_t)h);

    tally w16 = {.name = "f16_to_f32"}, wbf = {.name = "bf16_to_f32"};
    for (uint32_t h = 0; h < 0x10000; h++) {
        CASE("half %04x", h);
        const float got = f16_to_f32((uint16_t)h);
        w16.n++;
        if (fbits(got) != ref_f16_bits((uint16_t)h))
            fail_at(&w16, "%04x -> %08x, want %08x", h, fbits(got), ref_f16_bits((uint16_t)h));
        same_bits(&wbf, bf16_to_f32((uint16_t)h), bitsf(h << 16), (long)h);
    }
    report(&w16);
    report(&wbf);

    /* Narrowing: every representable value, every midpoint between
     * neighbours (a tie) and the floats just either side of it, then random
     * bit patterns (NaN, inf, f32 subnormals included) and random magnitudes
     * around the half subnormal range. */
    tally n16 = {.name = "f32_to_f16"}, nbf = {.name = "f32_to_bf16"};
    CASE("f16 grid");
    for (int s = 0; s < 2; s++)
        for (int h = 0; h < 0x7c00; h++) {
            const double a = g_half_mag[h], b = g_half_mag[h + 1], sg = s ? -1.0 : 1.0;
            const float mid = (float)(sg * (a + b) / 2); /* 12 significant bits: exact */
            check_to_f16(&n16, (float)(sg * a));
            check_to_f16(&n16, mid);
            check_to_f16(&n16, nextafterf(mid, 0.0f));
            check_to_f16(&n16, nextafterf(mid, sg * INFINITY));
        }
    CASE("bf16 grid");
    for (uint32_t h = 0; h < 0x10000; h++) {
        if (((h >> 7) & 0xff) == 0xff) continue; /* inf and NaN: below */
        const float v = bitsf(h << 16), mid = bitsf((h << 16) | 0x8000);
        check_to_bf16(&nbf, v);
        check_to_bf16(&nbf, mid);
        check_to_bf16(&nbf, bitsf((h << 16) | 0x7fff));
        check_to_bf16(&nbf, bitsf((h << 16) | 0x8001));
    }
    CASE("random");
    const float specials[] = {INFINITY, -INFINITY, NAN, -NAN, bitsf(0x7f800001u), bitsf(0xff812345u),
                              bitsf(0x7fffffffu), 0.0f, -0.0f, 1e-45f, -1e-45f, 65504.0f, 65519.996f,
                              65520.0f, -65520.0f, 3.4028235e38f};
    for (size_t i = 0; i < sizeof specials / sizeof *specials; i++) {
        check_to_f16(&n16, specials[i]);
        check_to_bf16(&nbf, specials[i]);
    }
    for (int i = 0; i < 200000; i++) {
        const float f = bitsf((uint32_t)rnd64());
        check_to_f16(&n16, f);
        check_to_bf16(&nbf, f);
        const float g = (float)ldexp(urand() * (irand(2) ? 1 : -1), -irand(30));
        check_to_f16(&n16, g);
        check_to_bf16(&nbf, g);
    }
    report(&n16);
    report(&nbf);
}

TEST(half_bulk) {
    seed(2);
    tally t16 = {.name = "f16_to_f32_n"}, tbf = {.name = "bf16_to_f32_n"};
    const size_t sizes[] = {0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 65, 1000, 65536 + 13};
    uint16_t *src = xmalloc((65536 + 64) * 2 + 8);
    float *dst = fmalloc(65536 + 64 + 8);
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++)
        for (int off = 0; off < 3; off++) { /* src at byte offsets 0, 1, 2: unaligned loads */
            const size_t n = sizes[si];
            uint8_t *s = (uint8_t *)src + off;
            for (size_t i = 0; i < n; i++) {
                /* every pattern for the big size (NaN, inf, subnormals); else random */
                uint16_t h = n > 65536 ? (uint16_t)i : (uint16_t)rnd64();
                memcpy(s + 2 * i, &h, 2);
            }
            for (int bf = 0; bf < 2; bf++) {
                tally *t = bf ? &tbf : &t16;
                CASE("%s n=%zu offset %d", bf ? "bf16" : "f16", n, off);
                poison(dst, n + 8);
                if (bf) bf16_to_f32_n(dst, s, n);
                else f16_to_f32_n(dst, s, n);
                for (size_t i = 0; i < n; i++) {
                    uint16_t h;
                    memcpy(&h, s + 2 * i, 2);
                    same_bits(t, dst[i], bitsf(bf ? (uint32_t)h << 16 : ref_f16_bits(h)), (long)i);
                }
                for (size_t i = n; i < n + 8; i++) untouched(t, dst[i], (long)i);
            }
        }
    report(&t16);
    report(&tbf);
    free(src);
    free(dst);
}

/* f32_to_f16_n: the bits of f32_to_f16 on every value (checked in
 * half_scalar against the reference), vector body and tail, at unaligned
 * destinations, with random floats, every float near the half range's edges
 * and specials (inf, NaN, subnormal ties). */
TEST(half_narrow) {
    seed(3);
    tally t = {.name = "f32_to_f16_n"};
    const size_t sizes[] = {0, 1, 7, 8, 9, 16, 17, 33, 1000, 4096 + 5};
    float *src = fmalloc(4096 + 16);
    uint8_t *dst = xmalloc((4096 + 16) * 2 + 8);
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++)
        for (int off = 0; off < 2; off++) {
            const size_t n = sizes[si];
            for (size_t i = 0; i < n; i++) {
                uint32_t u = (uint32_t)rnd64();
                /* half of them: exponents around the half range (subnormals, overflow) */
                if (i & 1) u = (u & 0x807fffffu) | ((uint32_t)(100 + (u >> 3) % 50) << 23);
                if (i % 97 == 5) u = 0x7f800000u | (u & 0x80000000u);      /* inf */
                if (i % 89 == 7) u = 0x7fa00000u | (u & 0x803fffffu);      /* NaN, quiet or not */
                if (i % 83 == 3) u = 0x33000000u;                          /* half the smallest subnormal: a tie */
                memcpy(&src[i], &u, 4);
            }
            CASE("n=%zu offset %d", n, off);
            memset(dst, 0xa5, (n + 4) * 2 + off);
            f32_to_f16_n(dst + off, src, n);
            for (size_t i = 0; i < n; i++) {
                uint16_t h;
                memcpy(&h, dst + off + 2 * i, 2);
                const uint16_t want = f32_to_f16(src[i]);
                t.n++;
                if (h != want) fail_at(&t, "[%zu] %.9g -> 0x%04x, want 0x%04x", i, src[i], h, want);
            }
            for (size_t i = 2 * n; i < 2 * n + 8; i++) {
                t.n++;
                if (dst[off + i] != 0xa5) fail_at(&t, "byte %zu past the end overwritten", i);
            }
        }
    report(&t);
    free(src);
    free(dst);
}

/* ------------------------------------------------------------------ dot products */

/* y (M, N; ldy) reference = x (M, K; ldx) · W (N, K)ᵀ + b, (+ y0 when acc),
 * and per element the bound gamma(K + 1 + extra)·(Σ|x w| + |b| + |y0|):
 * K products and their sum, then one rounding for each addition after it. */
static void check_gemm(tally *t, const float *y, int ldy, const double *W, const float *x, int ldx,
                       const float *b, const float *y0, int M, int N, int K) {
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double ref = 0, mag = 0;
            for (int k = 0; k < K; k++) {
                const double p = (double)x[(size_t)m * ldx + k] * W[(size_t)n * K + k];
                ref += p, mag += fabs(p);
            }
            int extra = 0;
            if (b) ref += b[n], mag += fabs(b[n]), extra++;
            if (y0) ref += y0[(size_t)m * ldy + n], mag += fabs(y0[(size_t)m * ldy + n]), extra++;
            near(t, y[(size_t)m * ldy + n], ref, gam(K + 1 + extra) * mag + 1e-30, (long)m * ldy + n);
        }
    /* padding columns: the poison, or y0's values when accumulating */
    for (int m = 0; m < M; m++)
        for (int n = N; n < ldy; n++) {
            const size_t i = (size_t)m * ldy + n;
            if (y0) same_bits(t, y[i], y0[i], (long)i);
            else untouched(t, y[i], (long)i);
        }
}

static double *to_double(const float *p, size_t n) {
    double *d = xmalloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) d[i] = p[i];
    return d;
}

TEST(matmul) {
    seed(3);
    tally tl = {.name = "matmul_linear"}, ts = {.name = "matmul_strided"};
    for (int c = 0; c < 60; c++) {
        const int M = ODD[irand(NODD)], N = ODD[irand(NODD)], K = TAILS[irand(NTAILS)];
        const int hasb = c & 1, acc = (c >> 1) & 1;
        CASE("matmul_linear M=%d N=%d K=%d bias=%d acc=%d", M, N, K, hasb, acc);
        float *x = fmalloc((size_t)M * K), *W = fmalloc((size_t)N * K), *b = fmalloc(N);
        float *y = fmalloc((size_t)M * N), *y0 = fmalloc((size_t)M * N);
        fill(x, (size_t)M * K, -1, 1), fill(W, (size_t)N * K, -1, 1), fill(b, N, -1, 1);
        fill(y0, (size_t)M * N, -1, 1);
        if (acc) memcpy(y, y0, (size_t)M * N * sizeof(float));
        else poison(y, (size_t)M * N);
        matmul_linear(y, x, W, hasb ? b : NULL, M, N, K, acc);
        double *Wd = to_double(W, (size_t)N * K);
        check_gemm(&tl, y, N, Wd, x, K, hasb ? b : NULL, acc ? y0 : NULL, M, N, K);
        free(x), free(W), free(b), free(y), free(y0), free(Wd);
    }
    /* strided, both orientations of B, alpha != 1, padded rows */
    for (int c = 0; c < 60; c++) {
        const int M = ODD[irand(NODD)], N = ODD[irand(NODD)], K = TAILS[irand(NTAILS)], tb = c & 1;
        const int lda = K + irand(3), ldb = (tb ? K : N) + irand(3), ldc = N + 1 + irand(3);
        const float alpha = c % 3 ? 0.125f : 1.0f; /* a power of two: scaling is exact */
        CASE("matmul_strided M=%d N=%d K=%d trans_b=%d lda=%d ldb=%d ldc=%d", M, N, K, tb, lda, ldb, ldc);
        const size_t nb = (size_t)(tb ? N : K) * ldb;
        float *A = fmalloc((size_t)M * lda), *B = fmalloc(nb), *C = fmalloc((size_t)M * ldc);
        fill(A, (size_t)M * lda, -1, 1), fill(B, nb, -1, 1);
        poison(C, (size_t)M * ldc);
        matmul_strided(C, ldc, A, lda, B, ldb, M, N, K, alpha, tb);
        double *Wd = xmalloc((size_t)N * K * sizeof(double)); /* B as (N, K), alpha folded in */
        for (int n = 0; n < N; n++)
            for (int k = 0; k < K; k++)
                Wd[(size_t)n * K + k] = (double)alpha * (tb ? B[(size_t)n * ldb + k] : B[(size_t)k * ldb + n]);
        check_gemm(&ts, C, ldc, Wd, A, lda, NULL, NULL, M, N, K);
        free(A), free(B), free(C), free(Wd);
    }
    report(&tl);
    report(&ts);
}

/* gemm_small: every block height (M = 1..13 covers 1..6 and the equal splits
 * 7 = 4+3, 10 = 5+5, 11 = 6+5, 13 = 5+4+4), N on both sides of the 16-column
 * panel, K around 8; packed copies and in-place packing; a product large
 * enough to start the OpenMP split over panels. Same bound as matmul. */
static void gemm_small_case(tally *t, int M, int N, int K, int hasb, int acc, int inplace) {
    CASE("gemm_small M=%d N=%d K=%d bias=%d acc=%d inplace=%d", M, N, K, hasb, acc, inplace);
    float *W = NULL;
    if (posix_memalign((void **)&W, 64, (size_t)N * K * sizeof(float) + 64)) exit(2);
    float *x = fmalloc((size_t)M * K), *b = fmalloc(N), *y = fmalloc((size_t)M * N), *y0 = fmalloc((size_t)M * N);
    fill(W, (size_t)N * K, -1, 1), fill(x, (size_t)M * K, -1, 1), fill(b, N, -1, 1), fill(y0, (size_t)M * N, -1, 1);
    double *Wd = to_double(W, (size_t)N * K);
    gemm_packed P;
    CHECK(gemm_pack(&P, W, N, K) == 0);
    gemm_packed Q = {0};
    if (inplace) {
        CHECK(gemm_pack_inplace(&Q, W, N, K) == 0);
        /* N a multiple of 16 with W 64-byte aligned: the panels live in W */
        CHECK((Q.panels == W) == (N % 16 == 0) && Q.owned == (N % 16 != 0));
        CHECK(memcmp(Q.panels, P.panels, (size_t)P.Np * K * sizeof(float)) == 0);
    }
    if (acc) memcpy(y, y0, (size_t)M * N * sizeof(float));
    else poison(y, (size_t)M * N);
    gemm_small(y, x, inplace ? &Q : &P, hasb ? b : NULL, M, acc);
    check_gemm(t, y, N, Wd, x, K, hasb ? b : NULL, acc ? y0 : NULL, M, N, K);
    gemm_packed_release(&P);
    if (inplace) gemm_packed_release(&Q);
    free(W), free(x), free(b), free(y), free(y0), free(Wd);
}

TEST(gemm_small) {
    seed(4);
    tally t = {.name = "gemm_small"};
    const int NK[][2] = {{1, 1}, {3, 7}, {15, 9}, {16, 8}, {17, 17}, {31, 3}, {33, 33}, {48, 16}, {65, 24}};
    int c = 0;
    for (int M = 1; M <= 13; M++)
        for (size_t s = 0; s < sizeof NK / sizeof *NK; s++, c++)
            gemm_small_case(&t, M, NK[s][0], NK[s][1], c & 1, (c >> 1) & 1, (c >> 2) & 1);
    const int Ms[] = {17, 31, 37};
    for (int i = 0; i < 3; i++) gemm_small_case(&t, Ms[i], 33, 65, i & 1, i == 1, 0);
    gemm_small_case(&t, 8, 1024, 40, 1, 0, 1); /* 64 panels x 40 x 8 > 200000: threads */
    report(&t);
}

/* ------------------------------------------------------------------ quant */

/* The Q8 quantiser as quant.h states it: per block of 32, scale = max|x| /
 * 127 and q = x · (1 / scale) rounded to nearest (even), in float32. */
static void ref_q8_row(int8_t *q, float *sc, const float *x, int n) {
    const int np = quant_q8_row_len(n);
    for (int b = 0; b < np / 32; b++) {
        float amax = 0.0f;
        for (int i = b * 32; i < b * 32 + 32 && i < n; i++) amax = fabsf(x[i]) > amax ? fabsf(x[i]) : amax;
        const float d = amax / 127.0f, id = d > 0.0f ? 1.0f / d : 0.0f;
        sc[b] = d;
        for (int i = b * 32; i < b * 32 + 32; i++) {
            const float v = i < n ? nearbyintf(x[i] * id) : 0.0f;
            q[i] = (int8_t)(v > 127.0f ? 127 : v < -127.0f ? -127 : (int)v);
        }
    }
}

TEST(quant) {
    seed(5);
    tally tq = {.name = "quant_q8_row"}, td = {.name = "quant_q8_dot"}, tf = {.name = "quant_q8_row_to_f32"};
    int8_t *q = xmalloc(4096 + 64), *rq = xmalloc(4096);
    float *sc = fmalloc(160), *rs = fmalloc(160), *x = fmalloc(4096), *dq = fmalloc(4096 + 8);
    const int ns[] = {1, 3, 7, 9, 15, 17, 31, 32, 33, 63, 64, 65, 95, 96, 97, 257, 1000};
    for (size_t si = 0; si < sizeof ns / sizeof *ns; si++) {
        const int n = ns[si], np = quant_q8_row_len(n), nb = np / 32;
        CHECK(np % 32 == 0 && np >= n && np < n + 32);
        for (int b = 0; b < nb; b++) { /* blocks of very different magnitudes, one all zero */
            const float mag = b % 4 == 3 ? 0.0f : ldexpf(1.0f, irand(40) - 20);
            for (int i = b * 32; i < b * 32 + 32 && i < n; i++) x[i] = frand(-mag, mag);
        }
        if (n > 5) x[5] = 0.0f;
        CASE("quant_q8_row n=%d", n);
        memset(q, 0x5a, (size_t)np + 64); /* int8 poison */
        poison(sc, nb + 4);
        quant_q8_row(q, sc, x, n);
        ref_q8_row(rq, rs, x, n);
        for (int b = 0; b < nb; b++) same_bits(&tq, sc[b], rs[b], b);
        for (int b = nb; b < nb + 4; b++) untouched(&tq, sc[b], b);
        for (int i = 0; i < np + 64; i++) {
            tq.n++;
            if (i >= np) {
                if (q[i] != 0x5a) fail_at(&tq, "[%d] written past the padded row", i);
                continue;
            }
            if (q[i] != rq[i]) fail_at(&tq, "q[%d] = %d, want %d (x %.9g scale %.9g)", i, q[i], rq[i], x[i], sc[i / 32]);
            /* what the format promises, independently of how it rounds */
            const double err = fabs((double)q[i] * sc[i / 32] - (i < n ? x[i] : 0.0));
            if (q[i] < -127 || (i >= n && q[i]) || err > 0.5001 * sc[i / 32])
                fail_at(&tq, "q[%d] = %d does not represent %.9g (scale %.9g)", i, q[i], i < n ? x[i] : 0.0, sc[i / 32]);
        }
        for (int b = 0; b < nb; b++) { /* the largest |x| of a nonzero block maps to ±127 */
            int top = 0;
            for (int i = b * 32; i < b * 32 + 32; i++) top = abs(q[i]) > top ? abs(q[i]) : top;
            tq.n++;
            if (top != (sc[b] > 0 ? 127 : 0)) fail_at(&tq, "block %d: largest |q| %d", b, top);
        }
        /* back to float: exactly q · scale, only the first cols written */
        CASE("quant_q8_row_to_f32 cols=%d", n);
        poison(dq, (size_t)n + 8);
        quant_q8_row_to_f32(dq, q, sc, n);
        for (int i = 0; i < n; i++) same_bits(&tf, dq[i], (float)q[i] * sc[i / 32], i);
        for (int i = n; i < n + 8; i++) untouched(&tf, dq[i], i);
    }
    /* dot: random int8 rows in [-127, 127] with the extremes (|a·b| pairs
     * near the int16 limit of maddubs) and random scales. Exact reference;
     * bound gamma(n + 2)·Σ_b |sa sb|·Σ_i |a_i b_i|: n/8-lane float sums plus
     * the rounding of sa·sb. */
    const int dn[] = {32, 64, 96, 128, 160, 32 * 7, 32 * 33, 4096};
    for (size_t di = 0; di < sizeof dn / sizeof *dn; di++)
        for (int mode = 0; mode < 3; mode++) {
            const int n = dn[di], nb = n / 32;
            int8_t *a = q, *b = rq;
            for (int i = 0; i < n; i++) {
                a[i] = (int8_t)(mode == 0 ? irand(255) - 127 : mode == 1 ? 127 : -127);
                b[i] = (int8_t)(mode == 0 ? irand(255) - 127 : mode == 1 ? (i & 1 ? 127 : -127) : -127);
            }
            for (int k = 0; k < nb; k++) sc[k] = frand(0.0f, 1.0f), rs[k] = frand(-2.0f, 2.0f);
            CASE("quant_q8_dot n=%d mode %d", n, mode);
            double ref = 0, mag = 0;
            for (int k = 0; k < nb; k++) {
                long dot = 0, adot = 0;
                for (int i = k * 32; i < k * 32 + 32; i++) dot += a[i] * b[i], adot += abs(a[i] * b[i]);
                ref += (double)sc[k] * rs[k] * dot;
                mag += fabs((double)sc[k] * rs[k]) * adot;
            }
            near(&td, quant_q8_dot(a, sc, b, rs, n), ref, gam(n + 2) * mag, 0);
        }
    report(&tq);
    report(&td);
    report(&tf);
    free(q), free(rq), free(sc), free(rs), free(x), free(dq);
}

/* ------------------------------------------------------------------ linear */

/* One linear_forward case: W of `type` stored at byte offset `off` (so F32
 * and F16 rows are unaligned when off is odd), x and y with padded rows. The
 * reference takes W's exact stored values (Q8: the dequantised q·scale). For
 * Q8 with M < LINEAR_GEMV_MAX_M (decode) x is quantised too (ref_q8_row) and
 * the reference is Σ_blocks sw·sx·Σ qw·qx exactly, bound as quant_q8_dot
 * plus the bias and accumulate additions; otherwise the matmul bound. */
static void linear_case(tally *t, tally *tc, linear_type type, int M, int N, int K, int off, int hasb, int acc,
                        linear_type q8_from) {
    CASE("linear type %d M=%d N=%d K=%d off=%d bias=%d acc=%d", type, M, N, K, off, hasb, acc);
    const linear_type stored = type == LINEAR_Q8 ? q8_from : type;
    const size_t es = stored == LINEAR_F32 ? 4 : 2, nk = (size_t)N * K;
    uint8_t *raw = xmalloc(nk * es + 8), *w = raw + off;
    double *Wd = xmalloc(nk * sizeof(double));
    for (size_t i = 0; i < nk; i++) {
        const float v = frand(-1, 1);
        if (stored == LINEAR_F32) {
            memcpy(w + 4 * i, &v, 4);
            Wd[i] = v;
        } else {
            /* every 7th F16 weight a subnormal (F16C and the scalar path must agree) */
            uint16_t h = stored == LINEAR_F16 ? (i % 7 == 3 ? (uint16_t)(1 + irand(0x3ff)) : f32_to_f16(v))
                                              : f32_to_bf16(v);
            memcpy(w + 2 * i, &h, 2);
            Wd[i] = stored == LINEAR_F16 ? ref_f16(h) : (double)bitsf((uint32_t)h << 16);
        }
    }
    linear_w W = linear_view(stored, w, N, K), Q = {0};
    const linear_w *use = &W;
    int8_t *q8_rows = NULL;     /* Q8: the packed weights unpacked, (N, rl) */
    float *q8_scales = NULL;    /* and their scales (N, rl / 32) */
    if (type == LINEAR_Q8) {
        CHECK(linear_quantize_q8(&Q, &W) == 0);
        use = &Q;
        const int rl = quant_q8_row_len(K);
        q8_rows = xmalloc((size_t)N * rl), q8_scales = fmalloc((size_t)N * (rl / 32));
        for (int n = 0; n < N; n++) qgemm_q8_unpack_row(Q.data, rl, n, q8_rows + (size_t)n * rl, q8_scales + (size_t)n * (rl / 32));
        const int8_t *qs = q8_rows;
        for (int n = 0; n < N; n++) /* Q8 must be the row-wise quantisation of W */
            for (int k = 0; k < K; k++) {
                const float ws = q8_scales[(size_t)n * (rl / 32) + k / 32];
                const double err = fabs((double)qs[(size_t)n * rl + k] * ws - Wd[(size_t)n * K + k]);
                tc->n++;
                if (err > 0.5001 * ws) fail_at(tc, "Q8 weight [%d,%d] off by %.3g (scale %.3g)", n, k, err, ws);
            }
        for (size_t i = 0; i < nk; i++)
            Wd[i] = (double)((float)qs[(i / K) * rl + i % K] * q8_scales[(i / K) * (rl / 32) + (i % K) / 32]);
    }
    /* Q8 is packed in groups of 16 rows, the last one padded */
    CHECK(linear_bytes(use) == (type == LINEAR_Q8 ? (size_t)(N + 15) / 16 * 16 * quant_q8_row_len(K) * (1 + 4 / 32.0)
                                                  : nk * es));

    /* linear_rows_to_f32 over a few row ranges: exactly the stored values */
    for (int r0 = 0; r0 < N; r0 += 1 + N / 3) {
        const int nr = N - r0 < 5 ? N - r0 : 5;
        float *buf = fmalloc((size_t)nr * K + 8);
        poison(buf, (size_t)nr * K + 8);
        linear_rows_to_f32(buf, use, r0, nr);
        for (size_t i = 0; i < (size_t)nr * K; i++) same_bits(tc, buf[i], (float)Wd[(size_t)r0 * K + i], (long)i);
        for (size_t i = (size_t)nr * K; i < (size_t)nr * K + 8; i++) untouched(tc, buf[i], (long)i);
        free(buf);
    }

    const int ldx = K + 3, ldy = N + 2;
    float *x = fmalloc((size_t)M * ldx), *b = fmalloc(N), *y = fmalloc((size_t)M * ldy), *y0 = fmalloc((size_t)M * ldy);
    fill(x, (size_t)M * ldx, -1, 1), fill(b, N, -1, 1), fill(y0, (size_t)M * ldy, -1, 1);
    if (acc) {
        memcpy(y, y0, (size_t)M * ldy * sizeof(float));
    } else {
        poison(y, (size_t)M * ldy);
        poison(y0, (size_t)M * ldy); /* the padding must stay poison */
    }
    CHECK(linear_forward(y, ldy, x, ldx, use, hasb ? b : NULL, M, acc) == 0);
    if (type == LINEAR_Q8) { /* decode and prefill both quantise x per block */
        const int rl = quant_q8_row_len(K), nb = rl / 32;
        const int8_t *qs = q8_rows;
        int8_t *xq = xmalloc((size_t)rl);
        float *xs = fmalloc(nb);
        for (int m = 0; m < M; m++) {
            ref_q8_row(xq, xs, x + (size_t)m * ldx, K);
            for (int n = 0; n < N; n++) {
                double ref = 0, mag = 0;
                for (int k = 0; k < nb; k++) {
                    long d = 0, ad = 0;
                    for (int i = k * 32; i < k * 32 + 32; i++) {
                        const int p = qs[(size_t)n * rl + i] * xq[i];
                        d += p, ad += abs(p);
                    }
                    const double s = (double)q8_scales[(size_t)n * nb + k] * xs[k];
                    ref += s * d, mag += fabs(s) * ad;
                }
                int extra = 0;
                if (hasb) ref += b[n], mag += fabs(b[n]), extra++;
                if (acc) ref += y0[(size_t)m * ldy + n], mag += fabs(y0[(size_t)m * ldy + n]), extra++;
                near(t, y[(size_t)m * ldy + n], ref, gam(rl + 2 + extra) * mag + 1e-30, (long)m * ldy + n);
            }
            for (int n = N; n < ldy; n++) same_bits(t, y[(size_t)m * ldy + n], y0[(size_t)m * ldy + n], n);
        }
        free(xq), free(xs);
    } else if (type == LINEAR_BF16 && qgemm_bf16_best() == QGEMM_AVX512) {
        /* BF16 dot products: x is rounded to bfloat16 first, then exact products */
        float *xr = fmalloc((size_t)M * ldx);
        for (size_t i = 0; i < (size_t)M * ldx; i++) xr[i] = bf16_to_f32(f32_to_bf16(x[i]));
        check_gemm(t, y, ldy, Wd, xr, ldx, hasb ? b : NULL, acc ? y0 : NULL, M, N, K);
        free(xr);
    } else {
        check_gemm(t, y, ldy, Wd, x, ldx, hasb ? b : NULL, acc ? y0 : NULL, M, N, K);
    }
    linear_release(&Q);
    free(q8_rows), free(q8_scales);
    free(raw), free(Wd), free(x), free(b), free(y), free(y0);
}

TEST(linear) {
    seed(6);
    tally t[4] = {{.name = "linear F32"}, {.name = "linear F16"}, {.name = "linear BF16"}, {.name = "linear Q8"}};
    tally tc = {.name = "linear_rows_to_f32"};
    const int Ks[] = {1, 7, 8, 9, 31, 32, 33, 40, 63, 65, 97};
    int c = 0;
    for (int type = 0; type < 4; type++) {
        for (int M = 1; M <= 5; M++)  /* 1..3: GEMV, 4..5: tiled sgemm */
            for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++, c++)
                linear_case(&t[type], &tc, (linear_type)type, M, ODD[irand(NODD)], Ks[ki], c % 3, c & 1, (c >> 1) & 1,
                            LINEAR_F32);
        /* larger: threaded GEMV (N·K >= 65536), several prefill tiles */
        linear_case(&t[type], &tc, (linear_type)type, 2, 300, 257, 1, 1, 0, LINEAR_F32);
        linear_case(&t[type], &tc, (linear_type)type, 9, 300, 65, 0, 1, 1, LINEAR_F32);
        linear_case(&t[type], &tc, (linear_type)type, 17, 65, 33, 2, 0, 0, LINEAR_F32);
    }
    /* Q8 made from F16 and BF16 weights */
    linear_case(&t[3], &tc, LINEAR_Q8, 1, 33, 65, 1, 1, 0, LINEAR_F16);
    linear_case(&t[3], &tc, LINEAR_Q8, 5, 17, 40, 0, 0, 1, LINEAR_BF16);
    for (int i = 0; i < 4; i++) report(&t[i]);
    report(&tc);
}

/* ------------------------------------------------------------------ scan */

TEST(scan) {
    seed(7);
    tally t = {.name = "scan_dot_rows"};
    const int rows[] = {1, 2, 3, 4, 5, 7, 8, 9, 17, 33, 65, 100};
    const int dims[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 65, 512};
    for (size_t ri = 0; ri < sizeof rows / sizeof *rows; ri++)
        for (size_t di = 0; di < sizeof dims / sizeof *dims; di++) {
            const int R = rows[ri], D = dims[di];
            CASE("scan_dot_rows rows=%d dim=%d", R, D);
            float *M = fmalloc((size_t)R * D), *q = fmalloc(D), *out = fmalloc((size_t)R + 8);
            fill(M, (size_t)R * D, -1, 1), fill(q, D, -1, 1);
            poison(out, (size_t)R + 8);
            scan_dot_rows(M, R, D, q, out);
            double *qd = to_double(q, D);
            /* out[r] = M[r]·q: the matmul bound with M as x and q as one row of W */
            check_gemm(&t, out, 1, qd, M, D, NULL, NULL, R, 1, D);
            for (int i = R; i < R + 8; i++) untouched(&t, out[i], i);
            free(M), free(q), free(out), free(qd);
        }
    report(&t);
}

/* ------------------------------------------------------------------ norm */

/* Inputs sit on an offset (mean ~3, spread ~1) so the two-pass mean matters.
 * LayerNorm bound, per element: the float32 mean is off by <= gamma(D)·mean|x|
 * and the variance's 1/sqrt by <= gamma(D + 4) relatively, so
 *   |err| <= gamma(D + 6)·(|w|·(mean|x| / σ + 2·|x̂|) + |b|),  x̂ = (x - mean)/σ.
 * RMSNorm: Σx² relative gamma(D), halved by the sqrt, then three products:
 *   |err| <= gamma(D + 6)·|ref|. L2 sums in double: |err| <= 4u·|ref|. */
TEST(norm) {
    seed(8);
    tally tl = {.name = "norm_layer"}, tr = {.name = "norm_rms"}, t2 = {.name = "norm_l2"};
    const int Ds[] = {1, 3, 7, 9, 15, 17, 31, 33, 65, 769};
    for (size_t di = 0; di < sizeof Ds / sizeof *Ds + 1; di++)
        for (int variant = 0; variant < 4; variant++) {
            const int big = di == sizeof Ds / sizeof *Ds; /* rows·D > 32768: threads */
            const int D = big ? 1000 : Ds[di], R = big ? 40 : 1 + irand(5);
            const int inplace = variant >> 1, hasb = variant & 1;
            const size_t n = (size_t)R * D;
            float *x = fmalloc(n), *y = fmalloc(n + 8), *w = fmalloc(D), *b = fmalloc(D);
            fill(x, n, 2.0f, 4.0f), fill(w, D, -2.0f, 2.0f), fill(b, D, -1.0f, 1.0f);
            float *x0 = fmalloc(n);
            memcpy(x0, x, n * sizeof(float));
            const float eps = 1e-5f;

            CASE("norm_layer rows=%d D=%d bias=%d inplace=%d", R, D, hasb, inplace);
            float *out = inplace ? x : y;
            if (!inplace) poison(y, n + 8);
            norm_layer(out, x, w, hasb ? b : NULL, R, D, eps);
            for (int r = 0; r < R; r++) {
                const float *xr = x0 + (size_t)r * D;
                double mean = 0, mabs = 0, var = 0;
                for (int i = 0; i < D; i++) mean += xr[i], mabs += fabs(xr[i]);
                mean /= D, mabs /= D;
                for (int i = 0; i < D; i++) var += (xr[i] - mean) * (xr[i] - mean);
                const double sd = sqrt(var / D + eps);
                for (int i = 0; i < D; i++) {
                    const double xh = (xr[i] - mean) / sd, ref = xh * w[i] + (hasb ? b[i] : 0.0);
                    const double tol = gam(D + 6) * (fabs(w[i]) * (mabs / sd + 2 * fabs(xh)) + (hasb ? fabs(b[i]) : 0));
                    near(&tl, out[(size_t)r * D + i], ref, tol, (long)r * D + i);
                }
            }
            if (!inplace)
                for (size_t i = n; i < n + 8; i++) untouched(&tl, y[i], (long)i);

            CASE("norm_rms rows=%d D=%d weight=%d inplace=%d", R, D, hasb, inplace);
            memcpy(x, x0, n * sizeof(float));
            if (!inplace) poison(y, n + 8);
            norm_rms(out, x, hasb ? w : NULL, R, D, eps);
            for (int r = 0; r < R; r++) {
                const float *xr = x0 + (size_t)r * D;
                double ss = 0;
                for (int i = 0; i < D; i++) ss += (double)xr[i] * xr[i];
                const double inv = 1.0 / sqrt(ss / D + eps);
                for (int i = 0; i < D; i++) {
                    const double ref = xr[i] * inv * (hasb ? w[i] : 1.0);
                    near(&tr, out[(size_t)r * D + i], ref, gam(D + 6) * fabs(ref), (long)r * D + i);
                }
            }
            if (!inplace)
                for (size_t i = n; i < n + 8; i++) untouched(&tr, y[i], (long)i);

            CASE("norm_l2 rows=%d D=%d", R, D);
            memcpy(x, x0, n * sizeof(float));
            fill(x, (size_t)D, -1.0f, 1.0f);            /* signs mixed in row 0 */
            if (R > 1) memset(x + D, 0, D * sizeof(float)); /* a zero row stays zero */
            memcpy(x0, x, n * sizeof(float));
            norm_l2(x, R, D);
            for (int r = 0; r < R; r++) {
                const float *xr = x0 + (size_t)r * D;
                double ss = 0;
                for (int i = 0; i < D; i++) ss += (double)xr[i] * xr[i];
                for (int i = 0; i < D; i++) {
                    const double ref = ss > 0 ? xr[i] / sqrt(ss) : 0.0;
                    near(&t2, x[(size_t)r * D + i], ref, 4 * U * fabs(ref), (long)r * D + i);
                }
            }
            free(x), free(x0), free(y), free(w), free(b);
        }
    report(&tl);
    report(&tr);
    report(&t2);
}

/* ------------------------------------------------------------------ act */

static double ref_act(act_kind k, double v) {
    switch (k) {
    case ACT_QUICK_GELU: return v / (1.0 + exp(-1.702 * v));
    case ACT_GELU_ERF:   return 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
    case ACT_GELU_TANH:  return 0.5 * v * (1.0 + tanh(sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
    case ACT_SILU:       return v / (1.0 + exp(-v));
    default:             return v;
    }
}

/* Activation bound: 8u·|v| + 1e-6·|ref|, v = x + bias. The forms x·(1 + t)
 * and x - x/(1 + e) keep an absolute error of a few u·|x| (1 + t rounds
 * relative to 1, so for x << 0 the small result loses its relative
 * precision, as it does in torch's float32), and vmath's exp is within
 * ~2e-7 relatively; libm's erff/tanhf are within a few ulp. */
static void act_check(tally *t, act_kind k, const float *got, const float *x0, const float *bias, int cols, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const double v = (double)x0[i] + (bias ? bias[i % (size_t)cols] : 0.0);
        const double ref = ref_act(k, v);
        if (k == ACT_NONE) same_bits(t, got[i], bias ? x0[i] + bias[i % (size_t)cols] : x0[i], (long)i);
        else near(t, got[i], ref, 8 * U * fabs(v) + 1e-6 * fabs(ref) + 1e-37, (long)i);
    }
}

TEST(act) {
    seed(9);
    CHECK(act_parse("quick_gelu") == ACT_QUICK_GELU && act_parse("gelu") == ACT_GELU_ERF);
    CHECK(act_parse("gelu_new") == ACT_GELU_TANH && act_parse("gelu_pytorch_tanh") == ACT_GELU_TANH &&
          act_parse("gelu_fast") == ACT_GELU_TANH);
    CHECK(act_parse("silu") == ACT_SILU && act_parse("swish") == ACT_SILU);
    CHECK(act_parse("relu") == -1 && act_parse("") == -1 && act_parse(NULL) == -1);

    const char *names[] = {"none", "quick_gelu", "gelu_erf", "gelu_tanh", "silu"};
    tally t[5] = {{.name = "act none"}, {.name = "act quick_gelu"}, {.name = "act gelu_erf"}, {.name = "act gelu_tanh"}, {.name = "act silu"}};
    const size_t ns[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 65, 70001};
    float *x = fmalloc(70001), *x0 = fmalloc(70001), *bias = fmalloc(70001);
    for (int k = ACT_NONE; k <= ACT_SILU; k++)
        for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++) {
            const size_t n = ns[ni];
            fill(x0, n, -12.0f, 12.0f);
            const float special[] = {0.0f, -0.0f, 30.0f, -30.0f, 100.0f, -100.0f, 1e-8f, -1e-8f, 0.5f};
            for (size_t i = 0; i < 9 && i < n; i++) x0[(i * 7919) % n] = special[i];
            /* no bias: the whole span; with bias: rows of `cols`, odd widths */
            CASE("act %s n=%zu", names[k], n);
            memcpy(x, x0, n * sizeof(float));
            act_apply((act_kind)k, x, n, NULL, 0);
            act_check(&t[k], (act_kind)k, x, x0, NULL, 1, n);
            const int cw[] = {1, 3, 7, 9, 17, 33, 40};
            const int cols = n == 70001 ? 1000 : cw[irand(7)];
            const size_t nr = n == 70001 ? 70000 : (n / cols ? n / cols : 1) * cols;
            if (nr > n) continue;
            fill(bias, cols, -3.0f, 3.0f);
            CASE("act %s rows=%zu cols=%d bias", names[k], nr / cols, cols);
            memcpy(x, x0, nr * sizeof(float));
            act_apply((act_kind)k, x, nr, bias, cols);
            act_check(&t[k], (act_kind)k, x, x0, bias, cols, nr);
        }
    for (int k = 0; k < 5; k++) report(&t[k]);

    /* SwiGLU: silu(g)·u into a fresh y, and in place over g */
    tally ts = {.name = "act_swiglu"};
    for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++) {
        const size_t n = ns[ni];
        float *g = fmalloc(n), *u = fmalloc(n), *y = fmalloc(n + 8);
        fill(g, n, -12.0f, 12.0f), fill(u, n, -3.0f, 3.0f);
        for (int alias = 0; alias < 2; alias++) {
            CASE("act_swiglu n=%zu alias=%d", n, alias);
            float *gg = alias ? fmalloc(n) : g;
            if (alias) memcpy(gg, g, n * sizeof(float));
            poison(y, n + 8);
            float *out = alias ? gg : y;
            act_swiglu(out, gg, u, n);
            for (size_t i = 0; i < n; i++) {
                const double ref = ref_act(ACT_SILU, g[i]) * u[i];
                near(&ts, out[i], ref, 8 * U * fabs((double)g[i] * u[i]) + 1e-6 * fabs(ref) + 1e-37, (long)i);
            }
            if (!alias)
                for (size_t i = n; i < n + 8; i++) untouched(&ts, y[i], (long)i);
            if (alias) free(gg);
        }
        free(g), free(u), free(y);
    }
    report(&ts);
    free(x), free(x0), free(bias);
}

/* ------------------------------------------------------------------ softmax */

/* Softmax bound, relative to each output p (all positive): the float32 sum of
 * n exps gamma(n + 2), vmath's exp 2e-7 on both the term and (through the sum)
 * the normaliser, and the float32 subtraction x - max, whose rounding of
 * u·|x - max| becomes a relative error of exp: 2u·(max - min) covers it.
 * Entries at -inf come out as exp's clamped floor (~1.2e-38), hence 1e-37. */
TEST(softmax) {
    seed(10);
    tally t = {.name = "softmax_rows"};
    for (int c = 0; c < 120; c++) {
        const int cols = c < 2 * NTAILS ? TAILS[c % NTAILS] : ODD[irand(NODD)];
        const int rows = 1 + irand(6), ld = cols + irand(3), masked = c & 1;
        const float off = c % 3 == 0 ? 1000.0f : 0.0f, spread = c % 5 == 0 ? 40.0f : 8.0f;
        float *x = fmalloc((size_t)rows * ld), *x0 = fmalloc((size_t)rows * ld);
        int *len = xmalloc(rows * sizeof(int));
        poison(x0, (size_t)rows * ld);
        for (int r = 0; r < rows; r++) {
            len[r] = masked ? (r == 0 && rows > 1 ? 0 : 1 + irand(cols)) : cols;
            for (int i = 0; i < len[r]; i++) x0[(size_t)r * ld + i] = off + frand(-spread, spread);
            if (len[r] > 2 && c % 7 == 0) x0[(size_t)r * ld + 1] = -INFINITY; /* a masked logit */
        }
        CASE("softmax rows=%d cols=%d ld=%d len=%s", rows, cols, ld, masked ? "per row" : "all");
        memcpy(x, x0, (size_t)rows * ld * sizeof(float)); /* entries past len are poison: must become 0 */
        softmax_rows(x, rows, cols, ld, masked ? len : NULL);
        for (int r = 0; r < rows; r++) {
            const float *xr = x0 + (size_t)r * ld;
            double m = -INFINITY, lo = INFINITY, s = 0;
            for (int i = 0; i < len[r]; i++) {
                m = xr[i] > m ? xr[i] : m;
                if (isfinite(xr[i])) lo = xr[i] < lo ? xr[i] : lo;
            }
            for (int i = 0; i < len[r]; i++) s += exp(xr[i] - m);
            const double rel = gam(len[r] + 2) + 6e-7 + 2 * U * (m - lo);
            for (int i = 0; i < cols; i++) {
                const long idx = (long)r * ld + i;
                if (i < len[r]) {
                    const double ref = exp(xr[i] - m) / s;
                    near(&t, x[idx], ref, rel * ref + 1e-37, idx);
                } else {
                    same_bits(&t, x[idx], 0.0f, idx);
                }
            }
            for (int i = cols; i < ld; i++) untouched(&t, x[(size_t)r * ld + i], (long)r * ld + i);
        }
        free(x), free(x0), free(len);
    }
    report(&t);
}

/* ------------------------------------------------------------------ attention */

/* One attention_batch case against softmax(q kᵀ·scale, masked) v in double.
 * Bound per output (i, c): scores carry dS <= gamma(dh + 2)·scale·Σ|q k|
 * (plus the alpha rounding, u·|S|), which moves each probability by 2·dS
 * relatively; the softmax itself adds its own relative bound (see softmax);
 * the float32 sum Σ_j p_j v_jc adds gamma(Tk + 1). All of it scales with
 * Σ_j p_j·|v_jc|. */
static void attention_case(tally *t, int B, int H, int dh, int Tq, int Tk, int causal, int fused) {
    CASE("attention B=%d H=%d dh=%d Tq=%d Tk=%d causal=%d fused=%d", B, H, dh, Tq, Tk, causal, fused);
    const int D = H * dh;
    attention_shape s = {Tq, Tk, H, dh, 0, 0, 0, 0, 1.0f / sqrtf((float)dh), causal};
    float *qbuf, *kbuf, *vbuf, *qkv = NULL, *sep = NULL;
    if (fused) { /* one (T, 3D) buffer, the layout of a fused qkv projection */
        s.ldq = s.ldk = s.ldv = 3 * D;
        qkv = fmalloc((size_t)B * Tk * 3 * D);
        fill(qkv, (size_t)B * Tk * 3 * D, -1.5f, 1.5f);
        qbuf = qkv, kbuf = qkv + D, vbuf = qkv + 2 * D;
    } else { /* separate buffers with padded rows (a KV cache) */
        s.ldq = D + 1, s.ldk = D + 3, s.ldv = D + 2;
        const size_t nq = (size_t)B * Tq * s.ldq, nk = (size_t)B * Tk * s.ldk, nv = (size_t)B * Tk * s.ldv;
        sep = fmalloc(nq + nk + nv);
        fill(sep, nq + nk + nv, -1.5f, 1.5f);
        qbuf = sep, kbuf = sep + nq, vbuf = sep + nq + nk;
    }
    s.ldo = D + 2;
    const size_t no = (size_t)B * Tq * s.ldo;
    float *out = fmalloc(no);
    poison(out, no);
    int st = B == 1 && (Tq & 1) ? attention_forward(&s, out, qbuf, kbuf, vbuf)
                                : attention_batch(&s, B, out, qbuf, kbuf, vbuf);
    CHECK(st == 0);
    double *S = xmalloc((size_t)Tk * sizeof(double)), *dS = xmalloc((size_t)Tk * sizeof(double));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < Tq; i++) {
                const float *q = qbuf + ((size_t)b * Tq + i) * s.ldq + (size_t)h * dh;
                const int nvis = causal ? i + (Tk - Tq) + 1 : Tk;
                double m = -INFINITY, lo = INFINITY, sum = 0, dmax = 0;
                for (int j = 0; j < nvis; j++) {
                    const float *k = kbuf + ((size_t)b * Tk + j) * s.ldk + (size_t)h * dh;
                    double d = 0, mag = 0;
                    for (int c = 0; c < dh; c++) d += (double)q[c] * k[c], mag += fabs((double)q[c] * k[c]);
                    S[j] = d * s.scale;
                    dS[j] = gam(dh + 2) * mag * s.scale + U * fabs(S[j]);
                    m = S[j] > m ? S[j] : m, lo = S[j] < lo ? S[j] : lo;
                    dmax = dS[j] > dmax ? dS[j] : dmax;
                }
                for (int j = 0; j < nvis; j++) sum += exp(S[j] - m);
                const double rel = 2 * dmax + gam(nvis + 2) + 6e-7 + 2 * U * (m - lo) + gam(nvis + 1);
                float *o = out + ((size_t)b * Tq + i) * s.ldo + (size_t)h * dh;
                for (int c = 0; c < dh; c++) {
                    double ref = 0, mag = 0;
                    for (int j = 0; j < nvis; j++) {
                        const double p = exp(S[j] - m) / sum, v = vbuf[((size_t)b * Tk + j) * s.ldv + (size_t)h * dh + c];
                        ref += p * v, mag += p * fabs(v);
                    }
                    near(t, o[c], ref, rel * mag + 1e-30, (long)(o + c - out));
                }
            }
    for (int r = 0; r < B * Tq; r++)
        for (int c = D; c < s.ldo; c++) untouched(t, out[(size_t)r * s.ldo + c], (long)r * s.ldo + c);
    free(S), free(dS), free(out), free(qkv), free(sep);
}

TEST(attention) {
    seed(11);
    tally t = {.name = "attention"};
    const int dhs[] = {1, 3, 8, 9, 17, 64};
    int c = 0;
    for (size_t di = 0; di < sizeof dhs / sizeof *dhs; di++)
        for (int H = 1; H <= 3; H++, c++) {
            const int dh = dhs[di], B = 1 + c % 3, T = ODD[irand(6)];
            attention_case(&t, B, H, dh, T, T, 0, c & 1);            /* encoder, bidirectional */
            attention_case(&t, B, H, dh, T, T, 1, c & 1);            /* causal prefill */
            attention_case(&t, B, H, dh, 1, T + 4, 1, 0);            /* decode step on a KV cache */
            attention_case(&t, B, H, dh, 3, T + 3, 1, 0);            /* a few new tokens on a KV cache */
            attention_case(&t, 1, H, dh, 2 + c % 5, 9 + c % 7, 0, 0); /* cross lengths, no mask */
        }
    attention_case(&t, 2, 4, 64, 50, 50, 1, 1); /* work > 1e6: heads split over threads */
    attention_case(&t, 1, 16, 64, 1, 1031, 1, 0); /* decode, Tk·D > 1e6: cached rows split over threads */
    attention_case(&t, 1, 3, 64, 1, 1, 1, 0);     /* decode on a single cached row */
    report(&t);
}

/* attention_forward_f16kv = attention_forward on the widened K and V, bit
 * for bit (padded KV-cache rows, decode and prefill, several heads, and a
 * case large enough to split heads over threads). */
TEST(attention_f16kv) {
    seed(12);
    tally t = {.name = "attention_f16kv"};
    const int cases[][5] = {{1, 8, 1, 9, 1}, {3, 17, 1, 20, 1}, {2, 64, 5, 5, 1}, {4, 64, 3, 40, 1},
                            {2, 9, 4, 6, 0},  {8, 64, 60, 60, 1}, {16, 64, 1, 1031, 1}};
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        const int H = cases[ci][0], dh = cases[ci][1], Tq = cases[ci][2], Tk = cases[ci][3], D = H * dh;
        CASE("attention_f16kv H=%d dh=%d Tq=%d Tk=%d", H, dh, Tq, Tk);
        attention_shape s = {Tq, Tk, H, dh, D + 1, D + 3, D + 2, D + 2, 1.0f / sqrtf((float)dh), cases[ci][4]};
        const size_t nq = (size_t)Tq * s.ldq, nk = (size_t)Tk * s.ldk, nv = (size_t)Tk * s.ldv, no = (size_t)Tq * s.ldo;
        float *q = fmalloc(nq), *k = fmalloc(nk), *v = fmalloc(nv), *o1 = fmalloc(no), *o2 = fmalloc(no);
        uint16_t *kh = xmalloc(nk * 2), *vh = xmalloc(nv * 2);
        fill(q, nq, -1.5f, 1.5f), fill(k, nk, -1.5f, 1.5f), fill(v, nv, -1.5f, 1.5f);
        f32_to_f16_n(kh, k, nk), f32_to_f16_n(vh, v, nv);
        f16_to_f32_n(k, kh, nk), f16_to_f32_n(v, vh, nv);
        poison(o1, no), poison(o2, no);
        CHECK(attention_forward(&s, o1, q, k, v) == 0);
        CHECK(attention_forward_f16kv(&s, o2, q, kh, vh) == 0);
        for (size_t i = 0; i < no; i++) same_bits(&t, o2[i], o1[i], (long)i);
        free(q), free(k), free(v), free(o1), free(o2), free(kh), free(vh);
    }
    report(&t);
}

/* ------------------------------------------------------------------ rope */

TEST(rope) {
    seed(12);
    tally tt = {.name = "rope_table"}, tx = {.name = "rope_table exact"}, ta = {.name = "rope_apply"};
    const int rs[] = {2, 4, 6, 16, 32, 64, 80};
    const int pos0s[] = {0, 1, 17, 4095, 100000};
    const float bases[] = {10000.0f, 500000.0f, 1e6f};
    for (size_t ri = 0; ri < sizeof rs / sizeof *rs; ri++)
        for (size_t pi = 0; pi < sizeof pos0s / sizeof *pos0s; pi++) {
            const int r = rs[ri], pos0 = pos0s[pi], T = 1 + irand(7), h = r / 2;
            const float base = bases[(ri + pi) % 3];
            CASE("rope_table r=%d pos0=%d T=%d base=%g", r, pos0, T, base);
            float *cs = fmalloc((size_t)T * r + 8);
            poison(cs, (size_t)T * r + 8);
            rope_table(cs, pos0, T, r, base);
            for (int t = 0; t < T; t++)
                for (int i = 0; i < h; i++) {
                    /* rope.h's contract: inv_freq and θ rounded to float32 as
                     * the upstream float32 caches round them, cos/sin rounded once */
                    const float inv = 1.0f / powf(base, (float)(2 * i) / (float)r);
                    const float th = (float)(pos0 + t) * inv;
                    same_bits(&tt, cs[(size_t)t * r + i], (float)cos((double)th), (long)t * r + i);
                    same_bits(&tt, cs[(size_t)t * r + h + i], (float)sin((double)th), (long)t * r + h + i);
                    /* and the exact angle: the float32 exponent 2i/r is off
                     * by <= u·e, which moves base^e by ln(base)·u·e
                     * relatively; powf, the reciprocal and the product add
                     * ~3u: so cos/sin move by at most (4 + ln(base)·e)·u·θ,
                     * plus their own rounding */
                    const double e = 2.0 * i / r, the = (pos0 + t) / pow((double)base, e);
                    const double tol = (4 + log(base) * e) * U * the + U;
                    near(&tx, cs[(size_t)t * r + i], cos(the), tol, (long)t * r + i);
                    near(&tx, cs[(size_t)t * r + h + i], sin(the), tol, (long)t * r + h + i);
                }
            for (int i = T * r; i < T * r + 8; i++) untouched(&tt, cs[i], i);
            free(cs);
        }
    /* apply: rotated pairs within 2u·(|a c| + |b s|) (two products and their
     * sum in float32); the dims past r and the row padding bit-identical */
    const int hds[][2] = {{2, 2}, {8, 8}, {9, 8}, {9, 4}, {16, 6}, {64, 64}, {80, 32}, {33, 32}};
    for (size_t k = 0; k < sizeof hds / sizeof *hds; k++)
        for (int nh = 1; nh <= 3; nh++) {
            const int hd = hds[k][0], r = hds[k][1], h = r / 2, T = 1 + irand(5), pos0 = 1 + irand(3000);
            const int ld = nh * hd + irand(4);
            CASE("rope_apply heads=%d head_dim=%d r=%d T=%d ld=%d pos0=%d", nh, hd, r, T, ld, pos0);
            float *cs = fmalloc((size_t)T * r), *x = fmalloc((size_t)T * ld), *x0 = fmalloc((size_t)T * ld);
            rope_table(cs, pos0, T, r, 10000.0f);
            fill(x0, (size_t)T * ld, -2.0f, 2.0f);
            for (int t = 0; t < T; t++)
                for (int c = nh * hd; c < ld; c++) x0[(size_t)t * ld + c] = bitsf(POISON_BITS);
            memcpy(x, x0, (size_t)T * ld * sizeof(float));
            rope_apply(x, ld, T, nh, hd, r, cs);
            for (int t = 0; t < T; t++) {
                const float *c = cs + (size_t)t * r, *sn = c + h;
                for (int hh = 0; hh < nh; hh++) {
                    const float *v0 = x0 + (size_t)t * ld + (size_t)hh * hd;
                    const float *v = x + (size_t)t * ld + (size_t)hh * hd;
                    const long base_i = (long)(v - x);
                    for (int i = 0; i < h; i++) {
                        const double a = v0[i], b = v0[i + h];
                        const double tol = 2 * U * (fabs(a * c[i]) + fabs(b * sn[i])) + 2 * U * (fabs(b * c[i]) + fabs(a * sn[i]));
                        near(&ta, v[i], a * c[i] - b * sn[i], tol, base_i + i);
                        near(&ta, v[i + h], b * c[i] + a * sn[i], tol, base_i + i + h);
                    }
                    for (int i = r; i < hd; i++) same_bits(&ta, v[i], v0[i], base_i + i);
                }
                for (int cc = nh * hd; cc < ld; cc++) untouched(&ta, x[(size_t)t * ld + cc], (long)t * ld + cc);
            }
            free(cs), free(x), free(x0);
        }
    report(&tt);
    report(&tx);
    report(&ta);
}

/* ------------------------------------------------------------------ topk */

static int ref_entry_cmp(const void *a, const void *b) { /* best first: score down, row up */
    const topk_entry *x = a, *y = b;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    return (x->r > y->r) - (x->r < y->r);
}

TEST(topk) {
    seed(13);
    tally t = {.name = "topk"};
    /* the comparator itself */
    topk_entry e1 = {1.0f, 5}, e2 = {1.0f, 6}, e3 = {2.0f, 9};
    CHECK(topk_entry_cmp_desc(&e1, &e2) < 0 && topk_entry_cmp_desc(&e2, &e1) > 0);
    CHECK(topk_entry_cmp_desc(&e3, &e1) < 0 && topk_entry_cmp_desc(&e1, &e3) > 0);
    CHECK(topk_entry_cmp_desc(&e1, &e1) == 0);
    CHECK(topk_worse(e2, e1) && !topk_worse(e1, e2) && topk_worse(e1, e3) && !topk_worse(e1, e1));

    const int ns[] = {0, 1, 2, 5, 17, 100, 1000};
    const int ks[] = {1, 2, 3, 4, 5, 7, 8, 16, 33, 64, 2000};
    topk_entry *all = xmalloc(1000 * sizeof *all), *h = xmalloc(2000 * sizeof *h);
    for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++)
        for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
            for (int mode = 0; mode < 3; mode++) {
                const int n = ns[ni], k = ks[ki];
                /* rows: distinct, past 2^32, in random order; scores: few
                 * distinct values (many ties), continuous, or all equal */
                for (int i = 0; i < n; i++) {
                    all[i].r = ((int64_t)1 << 33) + 3 * (int64_t)i;
                    all[i].s = mode == 0 ? (float)irand(5) : mode == 1 ? frand(-1, 1) : 0.5f;
                }
                for (int i = n - 1; i > 0; i--) {
                    int j = irand(i + 1);
                    topk_entry tmp = all[i];
                    all[i] = all[j], all[j] = tmp;
                }
                for (int filtered = 0; filtered < 2; filtered++) {
                    CASE("topk n=%d k=%d mode %d %s", n, k, mode, filtered ? "rows in order, pre-filtered" : "every push");
                    int len = 0;
                    for (int i = 0; i < n; i++) {
                        topk_entry e = all[i];
                        /* pre-filtered as the scan does it (topk.h), which
                         * relies on rows arriving in ascending order */
                        if (filtered) e.r = ((int64_t)1 << 33) + 3 * (int64_t)i;
                        if (!filtered || len < k || e.s > h[0].s) topk_push(h, &len, k, e.s, e.r);
                        /* the heap property: no entry worse than its parent */
                        if (n <= 100 || i % 97 == 0)
                            for (int j = 1; j < len; j++) {
                                t.n++;
                                if (topk_worse(h[j], h[(j - 1) / 2]))
                                    fail_at(&t, "after push %d: entry %d worse than its parent", i, j);
                            }
                    }
                    t.n++;
                    if (len != (n < k ? n : k)) fail_at(&t, "kept %d, want %d", len, n < k ? n : k);
                    qsort(h, len, sizeof *h, topk_entry_cmp_desc);
                    topk_entry *ref = xmalloc((n ? n : 1) * sizeof *ref);
                    memcpy(ref, all, n * sizeof *ref);
                    if (filtered)
                        for (int i = 0; i < n; i++) ref[i].r = ((int64_t)1 << 33) + 3 * (int64_t)i;
                    qsort(ref, n, sizeof *ref, ref_entry_cmp);
                    for (int i = 0; i < len && i < n; i++) {
                        t.n++;
                        if (h[i].s != ref[i].s || h[i].r != ref[i].r)
                            fail_at(&t, "rank %d: (%g, %lld), want (%g, %lld)", i, h[i].s, (long long)h[i].r,
                                    ref[i].s, (long long)ref[i].r);
                    }
                    free(ref);
                }
            }
    report(&t);
    free(all), free(h);
}

/* ------------------------------------------------------------------ main */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------------ qgemm */

/* Every path this CPU runs (scalar, AVX2, AVX-512) against references here.
 * Q8, exact: block scales that are powers of two, integer biases and
 * accumulators, and |y| < 2^24, so every float sum is exact whatever its
 * order: each path must give the reference's bits. Q8, bounded: random
 * scales; the integer dots are exact and each block's is scaled whole, so
 * the float sum has nb terms plus the rounding of sx·sw, bias and
 * accumulator (the bound allows 8·nb, as a path scaling lane partials
 * would need): within gamma(8·nb + 4)·(Σ_blk |sx·sw|·Σ_i |x_i·w_i| + |b| +
 * |y|). The weights go through qgemm_q8_pack_rows in two calls, and
 * unpacking gives them back. BF16:
 * products of bfloat16 values are exact in float32, the sum of K of them
 * plus bias and accumulator is within gamma(K + 3)·Σ|terms|. Rows of y past
 * N (ldy > N) are poisoned and must stay so. */
static void qgemm_case(tally *t, qgemm_isa isa, int M, int N, int kp, int exact, int acc, int bias) {
    const int nb = kp / 32, ldy = N + 3;
    int8_t *xq = xmalloc((size_t)M * kp), *wq = xmalloc((size_t)N * kp);
    float *xs = fmalloc((size_t)M * nb), *ws = fmalloc((size_t)N * nb), *b = fmalloc(N);
    float *y = fmalloc((size_t)M * ldy), *y0 = fmalloc((size_t)M * ldy);
    for (size_t i = 0; i < (size_t)M * kp; i++) xq[i] = (int8_t)(irand(255) - 127);
    for (size_t i = 0; i < (size_t)N * kp; i++) wq[i] = (int8_t)(irand(255) - 127);
    if (M > 1) memset(xq + kp, 127, kp); /* extremes: the int16 pair limit of maddubs */
    if (N > 1) memset(wq + kp, (int8_t)-127, kp);
    for (size_t i = 0; i < (size_t)M * nb; i++) xs[i] = exact ? ldexpf(1.0f, irand(3) - 1) : frand(0.0f, 0.02f);
    for (size_t i = 0; i < (size_t)N * nb; i++) ws[i] = exact ? ldexpf(1.0f, irand(3) - 1) : frand(0.0f, 0.02f);
    for (int n = 0; n < N; n++) b[n] = exact ? (float)(irand(2001) - 1000) : frand(-1.0f, 1.0f);
    poison(y, (size_t)M * ldy);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) y[(size_t)m * ldy + n] = exact ? (float)(irand(2001) - 1000) : frand(-1, 1);
    memcpy(y0, y, (size_t)M * ldy * sizeof(float));
    CASE("qgemm_q8 %s M=%d N=%d kp=%d exact=%d acc=%d bias=%d", qgemm_isa_name(isa), M, N, kp, exact, acc, bias);
    /* packed in two calls (rows [0, h) and [h, N)), as threads may; poisoned
     * first, so the padding rows must be written by the pack */
    const size_t pb = qgemm_q8_packed_bytes(N, kp);
    uint8_t *wp = xmalloc(pb);
    memset(wp, 0xA5, pb);
    const int h = N / 2;
    qgemm_q8_pack_rows(wp, N, kp, 0, h, wq, ws);
    qgemm_q8_pack_rows(wp, N, kp, h, N - h, wq + (size_t)h * kp, ws + (size_t)h * nb);
    {
        int8_t *q = xmalloc((size_t)kp);
        float *sc = fmalloc(nb), *rf = fmalloc(kp);
        for (int n = 0; n < N; n++) { /* unpack and dequantise give the rows back */
            qgemm_q8_unpack_row(wp, kp, n, q, sc);
            qgemm_q8_row_to_f32(rf, wp, kp, n, kp);
            for (int k = 0; k < kp; k++) {
                t->n++;
                if (q[k] != wq[(size_t)n * kp + k]) fail_at(t, "unpacked weight [%d,%d]", n, k);
                same_bits(t, rf[k], (float)wq[(size_t)n * kp + k] * ws[(size_t)n * nb + k / 32], k);
            }
            for (int k = 0; k < nb; k++) same_bits(t, sc[k], ws[(size_t)n * nb + k], k);
        }
        free(q), free(sc), free(rf);
    }
    CHECK(qgemm_q8(isa, y, ldy, xq, xs, wp, bias ? b : NULL, M, N, kp, acc) == 0);
    for (int m = 0; m < M; m++) {
        for (int n = 0; n < N; n++) {
            double ref = 0, mag = 0;
            for (int k = 0; k < nb; k++) {
                long d = 0, ad = 0;
                for (int i = 0; i < 32; i++) {
                    const long p = (long)xq[(size_t)m * kp + k * 32 + i] * wq[(size_t)n * kp + k * 32 + i];
                    d += p, ad += labs(p);
                }
                const double s = (double)xs[(size_t)m * nb + k] * ws[(size_t)n * nb + k];
                ref += s * (double)d, mag += fabs(s) * (double)ad;
            }
            if (bias) ref += b[n], mag += fabs(b[n]);
            if (acc) ref += y0[(size_t)m * ldy + n], mag += fabs(y0[(size_t)m * ldy + n]);
            const float got = y[(size_t)m * ldy + n];
            if (exact) same_bits(t, got, (float)ref, (long)m * ldy + n);
            else near(t, got, ref, gam(8 * nb + 4) * mag, (long)m * ldy + n);
        }
        for (int n = N; n < ldy; n++) untouched(t, y[(size_t)m * ldy + n], (long)m * ldy + n);
    }
    free(xq), free(wq), free(wp), free(xs), free(ws), free(b), free(y), free(y0);
}

static void qgemm_bf16_case(tally *t, qgemm_isa isa, int M, int N, int K, int acc, int bias) {
    const int ldy = N + 2, ldx = K + 5;
    uint16_t *x = xmalloc((size_t)M * ldx * 2);
    uint8_t *wmem = xmalloc((size_t)N * K * 2 + 1), *w = wmem + 1; /* odd address: any alignment */
    float *b = fmalloc(N), *y = fmalloc((size_t)M * ldy), *y0 = fmalloc((size_t)M * ldy);
    for (size_t i = 0; i < (size_t)M * ldx; i++) x[i] = f32_to_bf16(frand(-2, 2));
    for (size_t i = 0; i < (size_t)N * K; i++) {
        uint16_t h = f32_to_bf16(frand(-0.1f, 0.1f));
        memcpy(w + 2 * i, &h, 2);
    }
    fill(b, N, -1, 1);
    poison(y, (size_t)M * ldy);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) y[(size_t)m * ldy + n] = frand(-1, 1);
    memcpy(y0, y, (size_t)M * ldy * sizeof(float));
    CASE("qgemm_bf16 %s M=%d N=%d K=%d acc=%d bias=%d", qgemm_isa_name(isa), M, N, K, acc, bias);
    qgemm_bf16(isa, y, ldy, x, ldx, w, bias ? b : NULL, M, N, K, acc);
    for (int m = 0; m < M; m++) {
        for (int n = 0; n < N; n++) {
            double ref = 0, mag = 0;
            for (int k = 0; k < K; k++) {
                uint16_t h;
                memcpy(&h, w + 2 * ((size_t)n * K + k), 2);
                const double p = (double)bf16_to_f32(x[(size_t)m * ldx + k]) * bf16_to_f32(h);
                ref += p, mag += fabs(p);
            }
            if (bias) ref += b[n], mag += fabs(b[n]);
            if (acc) ref += y0[(size_t)m * ldy + n], mag += fabs(y0[(size_t)m * ldy + n]);
            near(t, y[(size_t)m * ldy + n], ref, gam(K + 3) * mag, (long)m * ldy + n);
        }
        for (int n = N; n < ldy; n++) untouched(t, y[(size_t)m * ldy + n], (long)m * ldy + n);
    }
    free(x), free(wmem), free(b), free(y), free(y0);
}

TEST(qgemm) {
    seed(19);
    const int Ms[] = {1, 2, 3, 4, 5, 9};
    const int Ns[] = {1, 3, 4, 5, 17, 64, 65, 130};
    const int Ks[] = {32, 64, 96, 256};
    printf("  qgemm best paths here: q8 %s, bf16 %s\n", qgemm_isa_name(qgemm_q8_best()),
           qgemm_isa_name(qgemm_bf16_best()));
    for (int isa = QGEMM_SCALAR; isa <= QGEMM_AVX512; isa++) {
        char nq[64], nbf[64];
        snprintf(nq, sizeof nq, "qgemm_q8 %s", qgemm_isa_name(isa));
        snprintf(nbf, sizeof nbf, "qgemm_bf16 %s", qgemm_isa_name(isa));
        tally tq = {.name = nq}, tb = {.name = nbf};
        if (qgemm_supported(isa, 0)) {
            for (int mi = 0; mi < 6; mi++)
                for (int ni = 0; ni < 8; ni++)
                    for (int ki = 0; ki < 4; ki++) {
                        const int v = irand(4);
                        qgemm_case(&tq, isa, Ms[mi], Ns[ni], Ks[ki], 1, v & 1, v >> 1);
                        qgemm_case(&tq, isa, Ms[mi], Ns[ni], Ks[ki], 0, v >> 1, v & 1);
                    }
            qgemm_case(&tq, isa, 37, 300, 2048, 0, 0, 1); /* threads, many chunks */
            report(&tq);
        } else {
            printf("  %-22s not run: this CPU or build lacks it\n", nq);
        }
        if (qgemm_supported(isa, 1)) {
            const int Kb[] = {1, 2, 7, 31, 32, 33, 64, 65, 200};
            for (int mi = 0; mi < 6; mi++)
                for (int ni = 0; ni < 8; ni++)
                    for (int ki = 0; ki < 9; ki++) qgemm_bf16_case(&tb, isa, Ms[mi], Ns[ni], Kb[ki], irand(2), irand(2));
            qgemm_bf16_case(&tb, isa, 37, 300, 2048, 0, 1);
            report(&tb);
        } else {
            printf("  %-22s not run: %s\n", nbf, isa == QGEMM_AVX2 ? "no such path" : "this CPU or build lacks it");
        }
    }
    /* several products in one call (qgemm_*_n, linear_forward_n): the bits of
     * one call each, for every path, M = 1 (decode) and M = 6 (prefill) */
    tally tn = {.name = "qgemm_*_n / linear_forward_n"};
    for (int isa = QGEMM_SCALAR; isa <= QGEMM_AVX512; isa++)
        for (int M = 1; M <= 6; M += 5) {
            const int K = 96, Ns[3] = {70, 16, 33}, ld = 130;
            float *x = fmalloc((size_t)M * K), *y1 = fmalloc((size_t)M * ld), *y2 = fmalloc((size_t)M * ld);
            float *b[3];
            linear_w W[3], Q[3];
            const linear_w *qw[3];
            uint16_t *wb[3];
            fill(x, (size_t)M * K, -1, 1);
            for (int i = 0; i < 3; i++) {
                float *wf = fmalloc((size_t)Ns[i] * K);
                fill(wf, (size_t)Ns[i] * K, -1, 1);
                wb[i] = xmalloc((size_t)Ns[i] * K * 2);
                for (size_t j = 0; j < (size_t)Ns[i] * K; j++) wb[i][j] = f32_to_bf16(wf[j]);
                W[i] = linear_view(LINEAR_BF16, wb[i], Ns[i], K);
                CHECK(linear_quantize_q8(&Q[i], &W[i]) == 0);
                qw[i] = &Q[i];
                b[i] = fmalloc(Ns[i]);
                fill(b[i], Ns[i], -1, 1);
                free(wf);
            }
            float *ys2[3] = {y2, y2 + 70, y2 + 86};
            const int lds[3] = {ld, ld, ld};
            const float *bs[3] = {b[0], NULL, b[2]};
            for (int bf = 0; bf < 2; bf++) {
                if (!qgemm_supported((qgemm_isa)isa, bf)) continue;
                CASE("%s_n %s M=%d", bf ? "qgemm_bf16" : "qgemm_q8", qgemm_isa_name(isa), M);
                poison(y1, (size_t)M * ld), poison(y2, (size_t)M * ld);
                if (bf) {
                    uint16_t *xb = xmalloc((size_t)M * K * 2);
                    qgemm_f32_to_bf16(xb, x, (size_t)M * K);
                    const void *ws[3] = {wb[0], wb[1], wb[2]};
                    for (int i = 0; i < 3; i++) qgemm_bf16((qgemm_isa)isa, ys2[i] - y2 + y1, ld, xb, K, ws[i], bs[i], M, Ns[i], K, 0);
                    CHECK(qgemm_bf16_n((qgemm_isa)isa, 3, ys2, lds, xb, K, ws, bs, Ns, M, K, 0) == 0);
                    free(xb);
                } else {
                    const int rl = quant_q8_row_len(K);
                    int8_t *xq = xmalloc((size_t)M * rl);
                    float *xs = fmalloc((size_t)M * rl / 32);
                    for (int m = 0; m < M; m++) quant_q8_row(xq + (size_t)m * rl, xs + (size_t)m * rl / 32, x + (size_t)m * K, K);
                    const void *ws[3] = {Q[0].data, Q[1].data, Q[2].data};
                    for (int i = 0; i < 3; i++)
                        CHECK(qgemm_q8((qgemm_isa)isa, ys2[i] - y2 + y1, ld, xq, xs, ws[i], bs[i], M, Ns[i], rl, 0) == 0);
                    CHECK(qgemm_q8_n((qgemm_isa)isa, 3, ys2, lds, xq, xs, ws, bs, Ns, M, rl, 0) == 0);
                    free(xq), free(xs);
                }
                for (size_t j = 0; j < (size_t)M * ld; j++) same_bits(&tn, y2[j], y1[j], (long)j);
            }
            if (isa == QGEMM_SCALAR) { /* linear_forward_n against linear_forward, Q8 weights */
                CASE("linear_forward_n Q8 M=%d", M);
                poison(y1, (size_t)M * ld), poison(y2, (size_t)M * ld);
                for (int i = 0; i < 3; i++) CHECK(linear_forward(ys2[i] - y2 + y1, ld, x, K, qw[i], bs[i], M, 0) == 0);
                CHECK(linear_forward_n(3, ys2, lds, x, K, qw, bs, M) == 0);
                for (size_t j = 0; j < (size_t)M * ld; j++) same_bits(&tn, y2[j], y1[j], (long)j);
            }
            for (int i = 0; i < 3; i++) linear_release(&Q[i]), free(wb[i]), free(b[i]);
            free(x), free(y1), free(y2);
        }
    report(&tn);
    /* activations to bfloat16: the scalar f32_to_bf16's bits, NaN and ties included */
    tally tc = {.name = "qgemm_f32_to_bf16"};
    float src[203];
    uint16_t dst[203];
    for (int i = 0; i < 203; i++) src[i] = bitsf((uint32_t)rnd64());
    src[7] = bitsf(0x3f808000u), src[8] = bitsf(0x3f818000u), src[9] = INFINITY, src[10] = -0.0f;
    src[150] = bitsf(0x7fa00001u);
    CASE("qgemm_f32_to_bf16");
    qgemm_f32_to_bf16(dst, src, 203);
    for (int i = 0; i < 203; i++) {
        tc.n++;
        if (dst[i] != f32_to_bf16(src[i])) fail_at(&tc, "[%d] %04x, want %04x", i, dst[i], f32_to_bf16(src[i]));
    }
    report(&tc);
}

int main(void) {
    const double t0 = now();
    printf("SIMD paths compiled in:%s%s%s%s\n",
#if defined(__AVX2__)
           " AVX2",
#else
           "",
#endif
#if defined(__FMA__)
           " FMA",
#else
           "",
#endif
#if defined(__F16C__)
           " F16C",
#else
           "",
#endif
#if !defined(__AVX2__) && !defined(__FMA__) && !defined(__F16C__)
           " none (scalar fallbacks)"
#else
           ""
#endif
    );
    RUN(half_scalar);
    RUN(half_bulk);
    RUN(half_narrow);
    RUN(matmul);
    RUN(gemm_small);
    RUN(quant);
    RUN(linear);
    RUN(qgemm);
    RUN(scan);
    RUN(norm);
    RUN(act);
    RUN(softmax);
    RUN(attention);
    RUN(attention_f16kv);
    RUN(rope);
    RUN(topk);
    printf("%.2f s\n", now() - t0);
    return test_summary();
}
