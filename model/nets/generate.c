/* model/generate.c — see generate.h. */
#include "generate.h"
#include "status.h"
#include "timer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

gen_opts gen_opts_default(void) {
    gen_opts o;
    memset(&o, 0, sizeof o);
    o.max_tokens = 512;
    o.sampling = sampler_params_default();
    o.num_beams = 1;
    o.length_penalty = 1.0f;
    return o;
}

void gen_result_release(gen_result *r) {
    free(r->ids);
    free(r->text);
    memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------ text buffer */

typedef struct {
    char  *s;
    size_t len, cap;
    size_t emitted;   /* bytes already passed to on_text */
} tbuf;

static int tbuf_add(tbuf *b, const char *p, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *q = realloc(b->s, cap);
        if (!q) return status_fail(ST_NOMEM, "generate: out of memory");
        b->s = q, b->cap = cap;
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = 0;
    return ST_OK;
}

/* Earliest stop string occurrence at or after `from`, or -1. */
static long find_stop(const tbuf *b, const gen_opts *o, size_t from) {
    long best = -1;
    for (int i = 0; i < o->n_stop; i++) {
        if (!o->stop[i] || !o->stop[i][0]) continue;
        const char *p = b->len ? strstr(b->s + from, o->stop[i]) : NULL;
        if (p && (best < 0 || p - b->s < best)) best = p - b->s;
    }
    return best;
}

/* How many trailing bytes could be the beginning of a stop string. */
static size_t held_back(const tbuf *b, const gen_opts *o) {
    size_t hold = 0;
    for (int i = 0; i < o->n_stop; i++) {
        const char *st = o->stop[i];
        size_t sl = st ? strlen(st) : 0;
        for (size_t k = sl ? sl - 1 : 0; k > hold; k--)
            if (k <= b->len && !memcmp(b->s + b->len - k, st, k)) {
                hold = k;
                break;
            }
    }
    return hold;
}

/* Pass text[emitted, upto) to on_text; nonzero when the callback asks to stop. */
static int emit(tbuf *b, const gen_opts *o, size_t upto) {
    if (upto <= b->emitted) return 0;
    int stop = o->on_text ? o->on_text(b->s + b->emitted, upto - b->emitted, o->ctx) : 0;
    b->emitted = upto;
    return stop;
}

/* ---------------------------------------------------- greedy and sampling */

static int gen_sample(const lm_model *m, lm_state *s, const lm_tokenizer *tok, const float *logits0,
                      const gen_opts *o, gen_result *r, int V) {
    const int vocab = lm_vocab(m);
    const int32_t eos = lm_tokenizer_eos(tok);
    float *logits = malloc((size_t)vocab * sizeof *logits);
    sampler *sp = sampler_new(&o->sampling, V);
    lm_detok *dt = lm_detok_new(tok);
    r->ids = malloc(((size_t)o->max_tokens + 1) * sizeof *r->ids);
    tbuf b = {0};
    int st = (!logits || !sp || !dt || !r->ids) ? status_fail(ST_NOMEM, "generate: out of memory") : ST_OK;
    if (!st) memcpy(logits, logits0, (size_t)vocab * sizeof *logits);
    char chunk[1024];
    const uint8_t kind = LM_TOK_GEN;
    double t0 = timer_now();
    r->stop = GEN_STOP_LENGTH;
    for (int step = 0; !st && step < o->max_tokens; step++) {
        if (o->cancel && *o->cancel) {
            r->stop = GEN_STOP_CANCELLED;
            break;
        }
        int32_t id = sampler_sample(sp, logits, V);
        if (id == eos) {
            r->stop = GEN_STOP_EOS;
            break;
        }
        r->ids[r->n++] = id;
        size_t n = 0;
        if ((st = lm_detok_push(dt, id, chunk, sizeof chunk, &n)) || (st = tbuf_add(&b, chunk, n))) break;
        size_t from = b.emitted > 64 ? b.emitted - 64 : 0;
        long at = find_stop(&b, o, from);
        if (at >= 0) {
            b.len = (size_t)at;
            b.s[b.len] = 0;
            emit(&b, o, b.len);
            r->stop = GEN_STOP_STRING;
            break;
        }
        if (emit(&b, o, b.len - held_back(&b, o))) {
            r->stop = GEN_STOP_CANCELLED;
            break;
        }
        if (step + 1 == o->max_tokens) break;
        if (lm_state_pos(s) >= lm_state_capacity(s)) { /* the context is full: id cannot be fed */
            r->stop = GEN_STOP_CONTEXT;
            break;
        }
        if ((st = lm_forward(m, s, &id, NULL, 1, &kind, logits))) break;
    }
    if (!st && r->stop != GEN_STOP_STRING) {
        size_t n = 0;
        st = lm_detok_flush(dt, chunk, sizeof chunk, &n);
        if (!st) st = tbuf_add(&b, chunk, n);
        if (!st) emit(&b, o, b.len);
    }
    r->t_decode = timer_now() - t0;
    if (!st && !b.s) st = tbuf_add(&b, "", 0);
    r->text = b.s;
    free(logits);
    sampler_free(sp);
    lm_detok_free(dt);
    return st;
}

/* ------------------------------------------------------------ beam search */

typedef struct {
    float    score;   /* running sum of log-probabilities */
    int      beam;    /* source beam */
    int32_t  token;
} cand;

typedef struct {
    int32_t *ids;     /* (max_tokens) */
    int      n;
    float    score;   /* normalised */
} hyp;

static int cand_desc(const void *a, const void *b) {
    float x = ((const cand *)a)->score, y = ((const cand *)b)->score;
    return x < y ? 1 : x > y ? -1 : 0;
}

static float normalise(float sum, int len, float lp) { return sum / powf((float)(len > 0 ? len : 1), lp); }

/* Offer a hypothesis (the first len tokens of ids, normalised score) to the
 * B best finished ones, kept sorted best first in fin[0 .. *n_fin). */
static int hyp_offer(hyp *fin, int *n_fin, int B, const int32_t *ids, int len, float score) {
    if (*n_fin == B && score <= fin[B - 1].score) return ST_OK;
    hyp h = {malloc(((size_t)len + 1) * sizeof *h.ids), len, score};
    if (!h.ids) return status_fail(ST_NOMEM, "beam search: out of memory");
    memcpy(h.ids, ids, (size_t)len * sizeof *h.ids);
    int j = *n_fin < B ? (*n_fin)++ : B - 1;
    free(fin[j].ids);
    while (j > 0 && fin[j - 1].score < h.score) {
        fin[j] = fin[j - 1];
        j--;
    }
    fin[j] = h;
    return ST_OK;
}

static int gen_beams(const lm_model *m, lm_state *s0, const lm_tokenizer *tok, const float *logits0,
                     const gen_opts *o, gen_result *r, int V) {
    const int B = o->num_beams, vocab = lm_vocab(m);
    /* T - 1 tokens are fed after the prompt: s0 (which may end up holding
     * any beam) must have room for them. */
    const int room = lm_state_capacity(s0) - lm_state_pos(s0) + 1;
    const int T = o->max_tokens < room ? o->max_tokens : room;
    if (T <= 0) {
        r->ids = malloc(sizeof *r->ids);
        r->text = strdup("");
        r->stop = GEN_STOP_CONTEXT;
        return r->ids && r->text ? ST_OK : status_fail(ST_NOMEM, "beam search: out of memory");
    }
    int done = 0;
    const int32_t eos = lm_tokenizer_eos(tok);
    const uint8_t kind = LM_TOK_GEN;
    int st = ST_OK;
    lm_state **S = calloc((size_t)B, sizeof *S), **S2 = calloc((size_t)B, sizeof *S2);
    float *logits = malloc((size_t)B * vocab * sizeof(float)), *lp = malloc((size_t)vocab * sizeof(float));
    int32_t *toks = malloc((size_t)B * T * sizeof *toks), *toks2 = malloc((size_t)B * T * sizeof *toks2);
    float *score = malloc((size_t)B * sizeof *score);
    cand *cands = malloc((size_t)2 * B * sizeof *cands), *next = malloc((size_t)B * sizeof *next);
    hyp *fin = calloc((size_t)B + 1, sizeof *fin);
    int n_fin = 0, n_live = 1, cur = 0;
    if (!S || !S2 || !logits || !lp || !toks || !toks2 || !score || !cands || !next || !fin) {
        st = status_fail(ST_NOMEM, "beam search: out of memory");
        goto out;
    }
    S[0] = s0;
    const int max_ctx = lm_state_pos(s0) + T + 1;
    for (int b = 1; b < B && !st; b++)
        if (!(S[b] = lm_state_new(m, max_ctx))) st = status_fail(ST_NOMEM, "beam search: cannot allocate beam %d", b);
    for (int b = 0; b < B && !st; b++)
        if (!(S2[b] = lm_state_new(m, max_ctx))) st = status_fail(ST_NOMEM, "beam search: cannot allocate beam %d", b);
    if (st) goto out;
    memcpy(logits, logits0, (size_t)vocab * sizeof(float));
    score[0] = 0.0f;
    double t0 = timer_now();
    r->stop = GEN_STOP_LENGTH;
    for (cur = 0; cur < T; cur++) {
        if (o->cancel && *o->cancel) {
            r->stop = GEN_STOP_CANCELLED;
            break;
        }
        /* Top 2B continuations over all live beams. */
        int nc = 0;
        for (int b = 0; b < n_live; b++) {
            sampler_log_softmax(logits + (size_t)b * vocab, V, lp);
            for (int v = 0; v < V; v++) {
                float sc = lp[v] + score[b];
                if (nc < 2 * B) {
                    cands[nc++] = (cand){sc, b, v};
                    if (nc == 2 * B) qsort(cands, (size_t)nc, sizeof *cands, cand_desc);
                } else if (sc > cands[nc - 1].score) {
                    int i = nc - 1;
                    while (i > 0 && cands[i - 1].score < sc) {
                        cands[i] = cands[i - 1];
                        i--;
                    }
                    cands[i] = (cand){sc, b, v};
                }
            }
        }
        if (nc < 2 * B) qsort(cands, (size_t)nc, sizeof *cands, cand_desc);
        /* Finished hypotheses from end tokens ranked within the first B;
         * the rest continue (HF BeamSearchScorer.process). transformers 4.37
         * scores an ended hypothesis by generated_len = cur_len, which
         * counts the end token: cur + 1. */
        int nn = 0;
        for (int i = 0; i < nc && nn < B; i++) {
            if (cands[i].token == eos) {
                if (i >= B) continue;
                if ((st = hyp_offer(fin, &n_fin, B, toks + (size_t)cands[i].beam * T, cur,
                                    normalise(cands[i].score, cur + 1, o->length_penalty))))
                    goto out;
            } else {
                next[nn++] = cands[i];
            }
        }
        /* Done when the best of all 2B candidates (end tokens included, as
         * BeamHypotheses.is_done is given next_scores.max()) cannot beat the
         * worst finished hypothesis. The running beams are then not added. */
        if (n_fin == B && normalise(cands[0].score, cur + 1, o->length_penalty) <= fin[B - 1].score) {
            r->stop = GEN_STOP_EOS;
            done = 1;
            break;
        }
        if (nn == 0) break;
        /* New beam i continues old beam next[i].beam: copy its state and tokens. */
        for (int i = 0; i < nn && !st; i++) {
            st = lm_state_copy(S2[i], S[next[i].beam]);
            memcpy(toks2 + (size_t)i * T, toks + (size_t)next[i].beam * T, (size_t)cur * sizeof *toks);
            toks2[(size_t)i * T + cur] = next[i].token;
            score[i] = next[i].score;
        }
        if (st) goto out;
        for (int i = 0; i < nn; i++) {
            lm_state *t = S[i];
            S[i] = S2[i], S2[i] = t;
        }
        int32_t *tt = toks;
        toks = toks2, toks2 = tt;
        n_live = nn;
        if (cur + 1 == T) {
            cur++;
            break;
        }
        for (int i = 0; i < n_live && !st; i++)
            st = lm_forward(m, S[i], &next[i].token, NULL, 1, &kind, logits + (size_t)i * vocab);
        if (st) goto out;
    }
    /* Running beams join the finished ones (HF finalize), unless done. */
    if (!done && T < o->max_tokens && cur == T) r->stop = GEN_STOP_CONTEXT;
    for (int b = 0; !done && b < n_live; b++)
        if ((st = hyp_offer(fin, &n_fin, B, toks + (size_t)b * T, cur, normalise(score[b], cur, o->length_penalty))))
            goto out;
    r->t_decode = timer_now() - t0;
    /* The best hypothesis; its KV state is not kept (s0 holds one beam's). */
    if (n_fin) {
        r->ids = fin[0].ids;
        r->n = fin[0].n;
        fin[0].ids = NULL;
    } else {
        r->ids = malloc(sizeof *r->ids);
    }
    char *text = NULL;
    if ((st = lm_tokenizer_decode(tok, r->ids, r->n, &text))) goto out;
    long at = -1;
    tbuf b = {text, strlen(text), strlen(text) + 1, 0};
    if ((at = find_stop(&b, o, 0)) >= 0) {
        text[at] = 0;
        r->stop = GEN_STOP_STRING;
    }
    r->text = text;
    if (o->on_text && text[0]) o->on_text(text, strlen(text), o->ctx);
out:
    /* Every state pointer sits once in S or S2; s0 is the caller's. */
    for (int b = 0; S && b < B; b++)
        if (S[b] && S[b] != s0) lm_state_free(S[b]);
    for (int b = 0; S2 && b < B; b++)
        if (S2[b] && S2[b] != s0) lm_state_free(S2[b]);
    for (int i = 0; fin && i <= B; i++) free(fin[i].ids);
    free(S), free(S2), free(logits), free(lp), free(toks), free(toks2), free(score), free(cands), free(next), free(fin);
    return st;
}

/* --------------------------------------------------------------- entry */

int generate_continue(const lm_model *m, lm_state *s, const lm_tokenizer *tok, const float *logits,
                      const gen_opts *o, gen_result *r) {
    memset(r, 0, sizeof *r);
    if (o->max_tokens <= 0 || o->num_beams <= 0 || o->num_beams > 16)
        return status_fail(ST_ARG, "generate: max_tokens must be > 0 and num_beams in 1..16");
    int V = o->vocab_limit > 0 ? o->vocab_limit : lm_tokenizer_size(tok);
    if (V > lm_vocab(m)) V = lm_vocab(m);
    int st = o->num_beams > 1 ? gen_beams(m, s, tok, logits, o, r, V) : gen_sample(m, s, tok, logits, o, r, V);
    if (st) gen_result_release(r);
    return st;
}

int generate(const lm_model *m, lm_state *s, const lm_tokenizer *tok, const int32_t *prompt, int n_prompt,
             const gen_opts *o, gen_result *r) {
    memset(r, 0, sizeof *r);
    if (n_prompt <= 0) return status_fail(ST_ARG, "generate: empty prompt");
    float *logits = malloc((size_t)lm_vocab(m) * sizeof *logits);
    if (!logits) return status_fail(ST_NOMEM, "generate: out of memory");
    double t0 = timer_now();
    int st = lm_forward(m, s, prompt, NULL, n_prompt, NULL, logits);
    double tp = timer_now() - t0;
    if (!st) st = generate_continue(m, s, tok, logits, o, r);
    r->t_prefill = tp;
    free(logits);
    return st;
}
