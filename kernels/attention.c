/* kernels/attention.c — see attention.h. Per (sequence, head): S = q kᵀ·scale
 * (one small sgemm), masked softmax, out = S v (second sgemm); one query
 * row (decode) is done all heads at once (attention_decode). With F16 K/V
 * the head's rows are first widened into a per-thread (Tk, dh) buffer. OpenBLAS runs
 * single-threaded inside our OpenMP region, so the two cores split heads. */
#include "attention.h"
#include "half.h"
#include "matmul.h"
#include "softmax.h"
#include "status.h"

#include <omp.h>
#include <stdlib.h>

/* One head: S = q kᵀ·scale, masked softmax, out = S v, with q, k, v, out
 * already at the head's columns (k and v with row strides ldk, ldv). */
static void head_core(const attention_shape *s, float *out, const float *q, const float *k, int ldk, const float *v,
                      int ldv, float *S, int *len) {
    matmul_strided(S, s->Tk, q, s->ldq, k, ldk, s->Tq, s->Tk, s->dh, s->scale, 1);
    if (s->causal) {
        int shift = s->Tk - s->Tq;
        for (int i = 0; i < s->Tq; i++) len[i] = i + shift + 1 < s->Tk ? i + shift + 1 : s->Tk;
        softmax_rows(S, s->Tq, s->Tk, s->Tk, len);
    } else {
        softmax_rows(S, s->Tq, s->Tk, s->Tk, NULL);
    }
    matmul_strided(out, s->ldo, S, s->Tk, v, ldv, s->Tq, s->dh, s->Tk, 1.0f, 0);
}

static void attention_head(const attention_shape *s, int h, float *out, const float *q, const float *k,
                           const float *v, float *S, int *len) {
    const size_t off = (size_t)h * s->dh;
    head_core(s, out + off, q + off, k + off, s->ldk, v + off, s->ldv, S, len);
}

/* k and v IEEE half (ldk, ldv in halves): head h's dh columns of the Tk
 * rows are widened into kw, vw (Tk, dh), per-thread and small enough to stay
 * in cache, then the float32 head runs on them. */
static void attention_head_f16(const attention_shape *s, int h, float *out, const float *q, const uint16_t *k,
                               const uint16_t *v, float *S, int *len, float *kw, float *vw) {
    const size_t off = (size_t)h * s->dh;
    for (int j = 0; j < s->Tk; j++) {
        f16_to_f32_n(kw + (size_t)j * s->dh, k + (size_t)j * s->ldk + off, (size_t)s->dh);
        f16_to_f32_n(vw + (size_t)j * s->dh, v + (size_t)j * s->ldv + off, (size_t)s->dh);
    }
    head_core(s, out + off, q + off, kw, s->dh, vw, s->dh, S, len);
}

/* One query row (decode), all heads at once, cached rows outer: each
 * thread takes a contiguous range of the Tk cached rows and reads them
 * whole, K for the scores and then V for its share of the output, so each
 * thread reads one sequential stream. (Head by head, each head's dh floats
 * of every row were a strided walk that no prefetcher follows; splitting
 * heads between threads, each reading half of every row, ran slower on two
 * threads than on one.) Each thread's V share goes to its own partial row,
 * summed at the end in thread order, so a result depends on the thread
 * count but not on timing. F16 rows are widened row by row into a per-thread
 * buffer, with per head the same arithmetic as float32 rows. Causal masking
 * keeps every key for the last query, so none is applied. */
/* Cached row j of K or V (row stride ld) as float32: in place for float32
 * rows, widened into buf for F16 ones. */
static const float *cached_row(const void *base, int j, int ld, int D, int f16, float *buf) {
    if (!f16) return (const float *)base + (size_t)j * ld;
    f16_to_f32_n(buf, (const uint16_t *)base + (size_t)j * ld, (size_t)D);
    return buf;
}

static int attention_decode(const attention_shape *s, float *out, const float *q, const void *k, const void *v,
                            int f16) {
    const int H = s->H, dh = s->dh, Tk = s->Tk, D = H * dh;
    const double work = (double)Tk * D;
    int nthreads = (omp_in_parallel() || work < 1e6) ? 1 : omp_get_max_threads();
    if (nthreads > Tk) nthreads = Tk;
    const size_t wide = f16 ? (size_t)D : 0;  /* one widened row per thread */
    /* S (H, Tk), then per thread: its partial output (D, thread 0 uses out) and widened row */
    const size_t per = (size_t)D + wide;
    float *S = malloc(((size_t)H * Tk + per * (size_t)nthreads) * sizeof(float));
    if (!S) return status_fail(ST_NOMEM, "attention: cannot allocate %d x %d scores", H, Tk);
    #pragma omp parallel num_threads(nthreads) if (nthreads > 1)
    {
        const int t = omp_get_thread_num(), T = omp_get_num_threads();
        const int j0 = (int)((long)Tk * t / T), j1 = (int)((long)Tk * (t + 1) / T);
        float *part = S + (size_t)H * Tk + per * (size_t)t, *buf = part + D;
        for (int j = j0; j < j1; j++) {
            const float *kj = cached_row(k, j, s->ldk, D, f16, buf);
            for (int h = 0; h < H; h++) {
                const float *qh = q + (size_t)h * dh, *kh = kj + (size_t)h * dh;
                float a = 0.0f;
                #pragma omp simd reduction(+ : a)
                for (int d = 0; d < dh; d++) a += qh[d] * kh[d];
                S[(size_t)h * Tk + j] = s->scale * a;
            }
        }
        #pragma omp barrier
        const int h0 = H * t / T, h1 = H * (t + 1) / T;
        if (h1 > h0) softmax_rows(S + (size_t)h0 * Tk, h1 - h0, Tk, Tk, NULL);
        #pragma omp barrier
        float *o = t == 0 ? out : part;
        for (int d = 0; d < D; d++) o[d] = 0.0f;
        for (int j = j0; j < j1; j++) {
            const float *vj = cached_row(v, j, s->ldv, D, f16, buf);
            for (int h = 0; h < H; h++) {
                const float p = S[(size_t)h * Tk + j], *vh = vj + (size_t)h * dh;
                float *oh = o + (size_t)h * dh;
                #pragma omp simd
                for (int d = 0; d < dh; d++) oh[d] += p * vh[d];
            }
        }
        #pragma omp barrier
        /* out += the other threads' partial rows, in thread order */
        const int d0 = (int)((long)D * t / T), d1 = (int)((long)D * (t + 1) / T);
        for (int u = 1; u < T; u++) {
            const float *pu = S + (size_t)H * Tk + per * (size_t)u;
            for (int d = d0; d < d1; d++) out[d] += pu[d];
        }
    }
    free(S);
    return ST_OK;
}

static int attention_run(const attention_shape *s, int B, float *out, const float *q, const void *k, const void *v,
                         int f16) {
    if (s->Tq == 1 && B == 1) return attention_decode(s, out, q, k, v, f16);
    /* Small problems (a text query) stay on one thread: a parallel region
     * costs more than the work, and far more when the cores are shared. */
    const double work = (double)B * s->H * s->Tq * s->Tk * s->dh;
    const int nthreads = (omp_in_parallel() || work < 1e6) ? 1 : omp_get_max_threads();
    const size_t kvw = f16 ? 2 * (size_t)s->Tk * s->dh : 0; /* widened K and V of one head */
    const size_t per = (size_t)s->Tq * s->Tk + kvw;
    float *scratch = malloc(per * (size_t)nthreads * sizeof(float));
    int *lens = malloc((size_t)s->Tq * (size_t)nthreads * sizeof(int));
    if (!scratch || !lens) {
        free(scratch);
        free(lens);
        return status_fail(ST_NOMEM, "attention: cannot allocate %zu score floats", per * nthreads);
    }
    const long jobs = (long)B * s->H;
    #pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads) if (nthreads > 1 && jobs > 1)
    for (long j = 0; j < jobs; j++) {
        const int t = omp_get_thread_num();
        const int b = (int)(j / s->H), h = (int)(j % s->H);
        float *sc = scratch + per * (size_t)t;
        if (f16)
            attention_head_f16(s, h, out + (size_t)b * s->Tq * s->ldo, q + (size_t)b * s->Tq * s->ldq,
                               (const uint16_t *)k + (size_t)b * s->Tk * s->ldk,
                               (const uint16_t *)v + (size_t)b * s->Tk * s->ldv, sc, lens + (size_t)s->Tq * t,
                               sc + (size_t)s->Tq * s->Tk, sc + (size_t)s->Tq * s->Tk + (size_t)s->Tk * s->dh);
        else
            attention_head(s, h, out + (size_t)b * s->Tq * s->ldo, q + (size_t)b * s->Tq * s->ldq,
                           (const float *)k + (size_t)b * s->Tk * s->ldk, (const float *)v + (size_t)b * s->Tk * s->ldv,
                           sc, lens + (size_t)s->Tq * t);
    }
    free(scratch);
    free(lens);
    return ST_OK;
}

int attention_batch(const attention_shape *s, int B, float *out, const float *q, const float *k,
                    const float *v) {
    return attention_run(s, B, out, q, k, v, 0);
}

int attention_forward(const attention_shape *s, float *out, const float *q, const float *k, const float *v) {
    return attention_run(s, 1, out, q, k, v, 0);
}

int attention_forward_f16kv(const attention_shape *s, float *out, const float *q, const uint16_t *k,
                            const uint16_t *v) {
    return attention_run(s, 1, out, q, k, v, 1);
}
