/* model/sampler.h — choosing the next token from logits.
 *
 * Hugging Face generate() semantics (transformers 4.37 warpers, in its order):
 * temperature, then top-k, then top-p (nucleus, the smallest set whose
 * probability reaches top_p, at least one token), then a draw from the
 * renormalised distribution. temperature <= 0 is greedy (argmax, first index
 * on ties, as torch.argmax). Only logits[0 .. n) are considered: pass
 * len(tokenizer) when the checkpoint's vocabulary is larger
 * (docs/model-spec.md §0 gotcha 10).
 *
 * Ownership: a sampler owns its scratch; one thread at a time.
 */
#ifndef SEER_SAMPLER_H
#define SEER_SAMPLER_H

#include <stdint.h>

typedef struct {
    float    temperature;  /* 0 = greedy */
    int      top_k;        /* 0 = off */
    float    top_p;        /* 1 = off */
    uint64_t seed;
} sampler_params;

sampler_params sampler_params_default(void);  /* greedy, top_k 0, top_p 1, seed 0 */

typedef struct sampler sampler;

sampler *sampler_new(const sampler_params *p, int n_vocab);
void     sampler_free(sampler *s);

/* The next token from logits (n entries; n <= the n_vocab given at new). */
int32_t  sampler_sample(sampler *s, const float *logits, int n);

/* Greedy choice, and log-softmax into out (n), for beam search. */
int32_t  sampler_argmax(const float *logits, int n);
void     sampler_log_softmax(const float *logits, int n, float *out);

/* A uniform double in [0, 1) from the sampler's generator. */
double   sampler_uniform(sampler *s);

#endif
