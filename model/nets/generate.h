/* model/generate.h — text generation on an lm_model: greedy, sampling
 * (temperature / top-k / top-p with a seed) and beam search, with a
 * streaming callback, stop on the end-of-text token and on stop strings.
 *
 *     gen_opts o = gen_opts_default();
 *     o.max_tokens = 128; o.sampling.temperature = 0.2f; o.on_text = print_chunk;
 *     gen_result r;
 *     if (generate(m, s, tok, prompt_ids, n_prompt, &o, &r)) die(status_message());
 *     puts(r.text);
 *     gen_result_release(&r);
 *
 * The state s may already hold context (a conversation so far, spliced image
 * features): generate_continue() starts from the logits of the last prefilled
 * position instead of prefilling ids itself.
 *
 * Streaming: on_text receives UTF-8 chunks that never split a character, as
 * tokens are chosen (greedy and sampling). Beam search cannot know its answer
 * before the end, so it calls on_text once with the whole answer.
 * Stop strings: generation stops at the first occurrence; the returned text
 * and the streamed chunks stop before it (chunks are held back while they
 * could be the start of a stop string).
 *
 * Router statistics: generated tokens are counted as LM_TOK_GEN in the state.
 * After beam search the state holds one beam's cache, not necessarily the
 * returned answer's: truncate it to the prompt and feed the answer again to
 * continue a conversation. Greedy and sampling leave the answer in the cache
 * (all but the last token, which was never fed).
 */
#ifndef SEER_GENERATE_H
#define SEER_GENERATE_H

#include "lm.h"
#include "lm_tokenizer.h"
#include "sampler.h"

typedef enum { GEN_STOP_EOS = 1, GEN_STOP_STRING = 2, GEN_STOP_LENGTH = 3, GEN_STOP_CANCELLED = 4, GEN_STOP_CONTEXT = 5 } gen_stop;

typedef struct {
    int            max_tokens;     /* new tokens at most (default 512) */
    sampler_params sampling;       /* temperature 0 = greedy */
    int            num_beams;      /* 1 = no beam search */
    float          length_penalty; /* beam score = sum logprob / len^length_penalty (default 1) */
    const char *const *stop;       /* stop strings (may be NULL) */
    int            n_stop;
    int            vocab_limit;    /* 0 = lm_tokenizer_size (len(tokenizer)) */
    /* Called with each new chunk of text; return nonzero to stop (cancel). */
    int          (*on_text)(const char *text, size_t len, void *ctx);
    void          *ctx;
    volatile int  *cancel;         /* checked before every token */
} gen_opts;

gen_opts gen_opts_default(void);

typedef struct {
    int32_t *ids;     /* (n) generated ids, stop token excluded */
    int      n;
    char    *text;    /* decoded, stop string excluded; NUL-terminated */
    gen_stop stop;
    double   t_prefill, t_decode; /* seconds */
} gen_result;

void gen_result_release(gen_result *r);

/* Prefill prompt ids (kinds: all text) into s, then generate. */
int generate(const lm_model *m, lm_state *s, const lm_tokenizer *tok, const int32_t *prompt, int n_prompt,
             const gen_opts *o, gen_result *r);

/* Generate after the caller prefilled s; logits (lm_vocab) are those of the
 * last prefilled position. */
int generate_continue(const lm_model *m, lm_state *s, const lm_tokenizer *tok, const float *logits,
                      const gen_opts *o, gen_result *r);

#endif
