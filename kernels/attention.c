/* kernels/attention.c — see attention.h. Per (sequence, head): S = q kᵀ·scale
 * (one small sgemm), masked softmax, out = S v (second sgemm). With F16 K/V
 * the head's rows are first widened into a per-thread (Tk, dh) buffer. OpenBLAS runs
 * single-threaded inside our OpenMP region, so the two cores split heads. */
#include "attention.h"
#include "half.h"
#include "matmul.h"
#include "softmax.h"
#include "status.h"

#include <omp.h>
#include <stdlib.h>

static void attention_head(const attention_shape *s, int h, float *out, const float *q, const float *k,
                           const float *v, float *S, int *len) {
    const int off = h * s->dh;
    matmul_strided(S, s->Tk, q + off, s->ldq, k + off, s->ldk, s->Tq, s->Tk, s->dh, s->scale, 1);
    if (s->causal) {
        int shift = s->Tk - s->Tq;
        for (int i = 0; i < s->Tq; i++) len[i] = i + shift + 1 < s->Tk ? i + shift + 1 : s->Tk;
        softmax_rows(S, s->Tq, s->Tk, s->Tk, len);
    } else {
        softmax_rows(S, s->Tq, s->Tk, s->Tk, NULL);
    }
    matmul_strided(out + off, s->ldo, S, s->Tk, v + off, s->ldv, s->Tq, s->dh, s->Tk, 1.0f, 0);
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
    matmul_strided(S, s->Tk, q + off, s->ldq, kw, s->dh, s->Tq, s->Tk, s->dh, s->scale, 1);
    if (s->causal) {
        int shift = s->Tk - s->Tq;
        for (int i = 0; i < s->Tq; i++) len[i] = i + shift + 1 < s->Tk ? i + shift + 1 : s->Tk;
        softmax_rows(S, s->Tq, s->Tk, s->Tk, len);
    } else {
        softmax_rows(S, s->Tq, s->Tk, s->Tk, NULL);
    }
    matmul_strided(out + off, s->ldo, S, s->Tk, vw, s->dh, s->Tq, s->dh, s->Tk, 1.0f, 0);
}

static int attention_run(const attention_shape *s, int B, float *out, const float *q, const void *k, const void *v,
                         int f16) {
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
