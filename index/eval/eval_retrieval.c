/* index/eval_retrieval.c — Recall@K / mean / median rank of the standard
 * retrieval protocol (eval_retrieval.h) on blocked BLAS products. */
#include "eval_retrieval.h"
#include "status.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A normalised copy of (n, dim). */
static float *normalised(const float *x, size_t n, int dim) {
    float *y = malloc((n ? n : 1) * (size_t)dim * sizeof *y);
    if (!y) return NULL;
    for (size_t i = 0; i < n; i++) {
        const float *a = x + i * dim;
        double s = 0;
        for (int d = 0; d < dim; d++) s += (double)a[d] * a[d];
        float inv = s > 0 ? (float)(1.0 / sqrt(s)) : 0.0f;
        for (int d = 0; d < dim; d++) y[i * dim + d] = a[d] * inv;
    }
    return y;
}

static int cmp_size(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

static void summarise(size_t *ranks, size_t n, eval_recall *r) {
    memset(r, 0, sizeof *r);
    r->n_queries = n;
    if (!n) return;
    size_t h1 = 0, h5 = 0, h10 = 0;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        h1 += ranks[i] <= 1;
        h5 += ranks[i] <= 5;
        h10 += ranks[i] <= 10;
        sum += (double)ranks[i];
    }
    r->r1 = (double)h1 / n;
    r->r5 = (double)h5 / n;
    r->r10 = (double)h10 / n;
    r->mean_rank = sum / n;
    qsort(ranks, n, sizeof *ranks, cmp_size);
    r->median_rank = n % 2 ? (double)ranks[n / 2] : 0.5 * ((double)ranks[n / 2 - 1] + (double)ranks[n / 2]);
}

/* 1 + how many of row[0..n) beat row[target] (ties: lower index first). */
static size_t rank_in_row(const float *row, size_t n, size_t target) {
    float s = row[target];
    size_t r = 1;
    for (size_t j = 0; j < n; j++) r += row[j] > s || (row[j] == s && j < target);
    return r;
}

/* rows groups of g consecutive columns: out[r][i] = max(in[r][i*g .. i*g+g))
 * for row-major in (rows, n*g) → out (rows, n); in place is fine. */
static void group_max_cols(const float *in, size_t rows, size_t n, int g, float *out) {
    for (size_t r = 0; r < rows; r++)
        for (size_t i = 0; i < n; i++) {
            const float *a = in + (r * n + i) * (size_t)g;
            float m = a[0];
            for (int j = 1; j < g; j++) m = a[j] > m ? a[j] : m;
            out[r * n + i] = m;
        }
}

/* rows of g consecutive rows: out[i][c] = max over in[i*g .. i*g+g)[c], in
 * (n*g, cols) → out (n, cols); in place is fine. */
static void group_max_rows(const float *in, size_t n, int g, size_t cols, float *out) {
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < cols; c++) {
            float m = in[i * (size_t)g * cols + c];
            for (int j = 1; j < g; j++) {
                float v = in[(i * (size_t)g + (size_t)j) * cols + c];
                m = v > m ? v : m;
            }
            out[i * cols + c] = m;
        }
}

int eval_retrieval_score(const float *text, size_t nt, const float *img, size_t ni, int dim,
                         const size_t *image_of, eval_retrieval_result *out) {
    return eval_retrieval_score_multi(text, nt, img, ni, 1, dim, image_of, out);
}

int eval_retrieval_score_multi(const float *text, size_t nt, const float *img, size_t ni, int nv, int dim,
                               const size_t *image_of, eval_retrieval_result *out) {
    memset(out, 0, sizeof *out);
    if (!nt || !ni || dim < 1 || nv < 1)
        return status_fail(ST_ARG, "retrieval: nothing to score (%zu captions, %zu images)", nt, ni);
    /* captions of each image, as a CSR list */
    size_t *start = calloc(ni + 1, sizeof *start), *list = malloc(nt * sizeof *list);
    size_t *t2i = malloc(nt * sizeof *t2i), *i2t = malloc(ni * sizeof *i2t);
    float *TX = normalised(text, nt, dim), *IM = normalised(img, ni * (size_t)nv, dim);
    /* a block of bmax captions (or images) scores bmax * nv * max(nt, ni) floats */
    size_t bmax = nv < EVAL_RETRIEVAL_BLOCK ? EVAL_RETRIEVAL_BLOCK / (size_t)nv : 1;
    float *S = malloc(bmax * (size_t)nv * (nt > ni ? nt : ni) * sizeof *S);
    int rc = ST_OK;
    if (!start || !list || !t2i || !i2t || !TX || !IM || !S) {
        rc = status_fail(ST_NOMEM, "retrieval: out of memory (%zu captions x %zu images)", nt, ni);
        goto out;
    }
    for (size_t c = 0; c < nt; c++) {
        if (image_of[c] >= ni) {
            rc = status_fail(ST_ARG, "retrieval: caption %zu names image %zu of %zu", c, image_of[c], ni);
            goto out;
        }
        start[image_of[c] + 1]++;
    }
    for (size_t i = 0; i < ni; i++) {
        if (!start[i + 1]) {
            rc = status_fail(ST_ARG, "retrieval: image %zu has no caption", i);
            goto out;
        }
        start[i + 1] += start[i];
    }
    {
        size_t *fill = calloc(ni, sizeof *fill);
        if (!fill) {
            rc = status_fail(ST_NOMEM, "retrieval: out of memory");
            goto out;
        }
        for (size_t c = 0; c < nt; c++) list[start[image_of[c]] + fill[image_of[c]]++] = c;
        free(fill);
    }
    /* text → image: S = T[block] · I^T */
    for (size_t c0 = 0; c0 < nt; c0 += bmax) {
        size_t b = nt - c0 < bmax ? nt - c0 : bmax;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)b, (int)(ni * (size_t)nv), dim, 1.0f, TX + c0 * dim,
                    dim, IM, dim, 0.0f, S, (int)(ni * (size_t)nv));
        if (nv > 1) group_max_cols(S, b, ni, nv, S);
        for (size_t k = 0; k < b; k++) t2i[c0 + k] = rank_in_row(S + k * ni, ni, image_of[c0 + k]);
    }
    /* image → text: S = I[block] · T^T; the best-ranked relevant caption */
    for (size_t i0 = 0; i0 < ni; i0 += bmax) {
        size_t b = ni - i0 < bmax ? ni - i0 : bmax;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(b * (size_t)nv), (int)nt, dim, 1.0f,
                    IM + i0 * (size_t)nv * dim, dim, TX, dim, 0.0f, S, (int)nt);
        if (nv > 1) group_max_rows(S, b, nv, nt, S);
        for (size_t k = 0; k < b; k++) {
            const float *row = S + k * nt;
            size_t i = i0 + k, best = list[start[i]]; /* the relevant caption ranked first */
            for (size_t p = start[i] + 1; p < start[i + 1]; p++) {
                size_t c = list[p];
                if (row[c] > row[best] || (row[c] == row[best] && c < best)) best = c;
            }
            i2t[i] = rank_in_row(row, nt, best);
        }
    }
    summarise(t2i, nt, &out->t2i);
    summarise(i2t, ni, &out->i2t);
    out->n_images = ni;
    out->n_captions = nt;
out:
    free(start), free(list), free(t2i), free(i2t), free(TX), free(IM), free(S);
    return rc;
}
