/* model/sampler.c — see sampler.h. */
#include "sampler.h"
#include "rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct sampler {
    sampler_params p;
    uint64_t rng;
    int n_vocab;
    int32_t *idx;   /* (n_vocab) candidate ids */
    float   *prob;  /* (n_vocab) */
};

sampler_params sampler_params_default(void) { return (sampler_params){0.0f, 0, 1.0f, 0}; }

sampler *sampler_new(const sampler_params *p, int n_vocab) {
    sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = *p;
    s->rng = p->seed * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL;
    s->n_vocab = n_vocab;
    s->idx = malloc((size_t)n_vocab * sizeof *s->idx);
    s->prob = malloc((size_t)n_vocab * sizeof *s->prob);
    if (!s->idx || !s->prob) {
        sampler_free(s);
        return NULL;
    }
    return s;
}

void sampler_free(sampler *s) {
    if (!s) return;
    free(s->idx);
    free(s->prob);
    free(s);
}

double sampler_uniform(sampler *s) { return rng_uniform(&s->rng); }

int32_t sampler_argmax(const float *logits, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (logits[i] > logits[best]) best = i;
    return best;
}

void sampler_log_softmax(const float *logits, int n, float *out) {
    float m = logits[0];
    for (int i = 1; i < n; i++) m = logits[i] > m ? logits[i] : m;
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += exp((double)logits[i] - m);
    float lse = m + (float)log(sum);
    for (int i = 0; i < n; i++) out[i] = logits[i] - lse;
}

/* Sort candidates by probability, descending (ties: lower id first). */
static int by_prob_desc(const void *a, const void *b, void *ctx) {
    const float *prob = ctx;
    int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    if (prob[i] != prob[j]) return prob[i] < prob[j] ? 1 : -1;
    return i - j;
}

/* Partial selection: move the k largest (by prob) to the front, unsorted. */
static void select_top(int32_t *idx, int n, int k, const float *prob) {
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        float pivot = prob[idx[(lo + hi) / 2]];
        int i = lo, j = hi;
        while (i <= j) {
            while (prob[idx[i]] > pivot) i++;
            while (prob[idx[j]] < pivot) j--;
            if (i <= j) {
                int32_t t = idx[i];
                idx[i++] = idx[j];
                idx[j--] = t;
            }
        }
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else break;
    }
}

int32_t sampler_sample(sampler *s, const float *logits, int n) {
    if (n > s->n_vocab) n = s->n_vocab;
    if (s->p.temperature <= 0.0f) return sampler_argmax(logits, n);
    /* softmax(logits / T) */
    const float inv_t = 1.0f / s->p.temperature;
    float m = logits[0];
    for (int i = 1; i < n; i++) m = logits[i] > m ? logits[i] : m;
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        s->prob[i] = expf((logits[i] - m) * inv_t);
        sum += s->prob[i];
        s->idx[i] = i;
    }
    int cand = n;
    /* top-k: keep the k most probable (ties at the boundary kept, as HF's
     * `logits < kth value` filter does). */
    if (s->p.top_k > 0 && s->p.top_k < n) {
        select_top(s->idx, n, s->p.top_k, s->prob);
        float kth = s->prob[s->idx[0]];
        for (int i = 1; i < s->p.top_k; i++) kth = s->prob[s->idx[i]] < kth ? s->prob[s->idx[i]] : kth;
        cand = 0;
        for (int i = 0; i < n; i++)
            if (s->prob[i] >= kth) s->idx[cand++] = i;
    }
    qsort_r(s->idx, (size_t)cand, sizeof *s->idx, by_prob_desc, s->prob);
    sum = 0.0;
    for (int i = 0; i < cand; i++) sum += s->prob[s->idx[i]];
    /* top-p: the smallest prefix reaching top_p of the (top-k) mass. */
    if (s->p.top_p < 1.0f) {
        double acc = 0.0, lim = s->p.top_p * sum;
        int keep = 0;
        while (keep < cand) {
            acc += s->prob[s->idx[keep++]];
            if (acc >= lim) break;
        }
        cand = keep;
        sum = acc;
    }
    double r = sampler_uniform(s) * sum, acc = 0.0;
    for (int i = 0; i < cand; i++) {
        acc += s->prob[s->idx[i]];
        if (r < acc) return s->idx[i];
    }
    return s->idx[cand - 1];
}
