/* model/text/lm_tokenizer.c — see lm_tokenizer.h; back ends in tiktoken.c and
 * gpt2bpe.c, shared structure in lm_tokenizer_internal.h.
 *
 * Every token is kept as its raw bytes in the tokenizer's BPE engine
 * (bpe.h), so both back ends share the engine's index and merge loop and
 * this file's special-token splitter, regex driver and decoder. BPE of one
 * regex piece is bpe_encode:
 *   tiktoken (BPE_TIKTOKEN): rank(a, b) = rank of the concatenated bytes
 *            (= its id), and a piece that is a token is emitted whole;
 *   GPT-2 (BPE_GPT2):        rank(a, b) = merges.txt line of (id a, id b).
 * Both merge the lowest rank first, leftmost on ties, one pair at a time:
 * tiktoken's byte_pair_merge and HF tokenizers' merge order.
 */
#include "lm_tokenizer_internal.h"
#include "spm.h"

#include "file.h"
#include "jsonx.h"
#include "status.h"

#include <utf8proc.h>

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ UTF-8 */

/* Classify the bytes at s[0..n), n >= 1:
 *   1: a valid character of *used bytes;
 *   0: invalid; *used = the maximal subpart (>= 1) to replace by one U+FFFD;
 *  -1: a valid but incomplete prefix of all n bytes (more may complete it). */
static int utf8_class(const uint8_t *s, size_t n, size_t *used) {
    uint8_t c = s[0];
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c < 0x80) { *used = 1; return 1; }
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c >= 0xE0 && c <= 0xEF) { need = 2; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
    else if (c >= 0xF0 && c <= 0xF4) { need = 3; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
    else { *used = 1; return 0; }
    size_t k = 1;
    for (; k <= need; k++) {
        if (k >= n) { *used = n; return -1; }
        uint8_t b = s[k];
        uint8_t l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
        if (b < l || b > h) { *used = k; return 0; }
    }
    *used = need + 1;
    return 1;
}

static int utf8_valid(const uint8_t *s, size_t n, size_t *bad_at) {
    for (size_t i = 0; i < n;) {
        size_t used;
        if (utf8_class(s + i, n - i, &used) != 1) { *bad_at = i; return 0; }
        i += used;
    }
    return 1;
}

/* ------------------------------------------------------------ vocabulary */

int lm_tok_reserve(lm_tokenizer *t, int32_t n) {
    int st = bpe_reserve(t->bpe, n, 0);
    if (st || n <= t->special_cap) return st;
    int32_t cap = t->special_cap ? t->special_cap : 1024;
    while (cap < n) cap = cap > BPE_MAX_IDS / 2 ? BPE_MAX_IDS : 2 * cap;
    uint8_t *sp = realloc(t->is_special, (size_t)cap);
    if (!sp) return status_fail(ST_NOMEM, "lm tokenizer: out of memory for %d tokens", (int)cap);
    memset(sp + t->special_cap, 0, (size_t)(cap - t->special_cap));
    t->is_special = sp;
    t->special_cap = cap;
    return ST_OK;
}

int lm_tok_set_piece(lm_tokenizer *t, int32_t id, const uint8_t *bytes, size_t len, const char *where) {
    if (id < 0 || id >= BPE_MAX_IDS) return status_fail(ST_FORMAT, "%s: token id %d out of range", where, (int)id);
    int st = id < t->special_cap ? ST_OK : lm_tok_reserve(t, id + 1);
    if (!st) st = bpe_set(t->bpe, id, bytes, len, where);
    if (st) return st;
    if (len > t->max_piece) t->max_piece = len;
    return ST_OK;
}

int lm_tok_index(lm_tokenizer *t, const char *where) {
    if (bpe_indexed(t->bpe)) return ST_OK;
    return bpe_index(t->bpe, t->is_special, where);
}

int lm_tok_add_special(lm_tokenizer *t, const char *text, int32_t id, const char *where) {
    size_t len = strlen(text);
    if (len == 0) return status_fail(ST_FORMAT, "%s: empty special token (id %d)", where, (int)id);
    for (int i = 0; i < t->n_specials; i++) {
        if (t->specials[i].len == len && memcmp(t->specials[i].text, text, len) == 0) {
            if (t->specials[i].id == id) return ST_OK; /* listed twice, same id */
            return status_fail(ST_FORMAT, "%s: special token \"%s\" has ids %d and %d", where, text,
                               (int)t->specials[i].id, (int)id);
        }
    }
    if (id < 0) return status_fail(ST_FORMAT, "%s: special token \"%s\" has id %d", where, text, (int)id);
    int st = lm_tok_reserve(t, id + 1);
    if (st) return st;
    size_t pl;
    const char *piece = bpe_piece(t->bpe, id, &pl);
    if (piece) {
        if (pl != len || memcmp(piece, text, len) != 0)
            return status_fail(ST_FORMAT, "%s: special token \"%s\" has id %d, which is already another token",
                               where, text, (int)id);
        if (bpe_indexed(t->bpe)) return status_fail(ST_INTERNAL, "lm tokenizer: special added after indexing");
    } else if ((st = lm_tok_set_piece(t, id, (const uint8_t *)text, len, where))) {
        return st;
    }
    t->is_special[id] = 1;
    if (t->n_specials == t->specials_cap) {
        int cap = t->specials_cap ? 2 * t->specials_cap : 64;
        lm_special *s = realloc(t->specials, (size_t)cap * sizeof *s);
        if (!s) return status_fail(ST_NOMEM, "lm tokenizer: out of memory");
        t->specials = s;
        t->specials_cap = cap;
    }
    char *copy = strdup(text);
    if (!copy) return status_fail(ST_NOMEM, "lm tokenizer: out of memory");
    t->specials[t->n_specials++] = (lm_special){copy, (uint32_t)len, id};
    return ST_OK;
}

static int special_cmp(const void *a, const void *b) {
    const lm_special *x = a, *y = b;
    uint8_t fx = (uint8_t)x->text[0], fy = (uint8_t)y->text[0];
    if (fx != fy) return fx < fy ? -1 : 1;
    if (x->len != y->len) return x->len > y->len ? -1 : 1; /* longest first */
    return strcmp(x->text, y->text);
}

/* `\s` written out as Unicode White_Space (Rust regex / Python `\s`); PCRE2's
 * UCP `\s` lacks U+0085. */
#define WS "\\t\\n\\x{0B}\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"

static const char TIKTOKEN_PATTERN[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^" WS "\\p{L}\\p{N}]+[\\r\\n]*"
    "|[" WS "]*[\\r\\n]+|[" WS "]+(?![^" WS "])|[" WS "]+";

static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS "\\p{L}\\p{N}]+|[" WS "]+(?![^" WS "])|[" WS "]+";

int lm_tok_finish(lm_tokenizer *t, const char *where) {
    int st = lm_tok_index(t, where);
    if (st) return st;
    qsort(t->specials, (size_t)t->n_specials, sizeof *t->specials, special_cmp);
    int k = 0;
    for (int b = 0; b <= 256; b++) {
        while (k < t->n_specials && (uint8_t)t->specials[k].text[0] < b) k++;
        t->special_first[b] = k;
    }
    t->eos = lm_tokenizer_special(t, "<|endoftext|>");
    if (t->eos < 0) return status_fail(ST_FORMAT, "%s: no <|endoftext|> token", where);

    int err;
    PCRE2_SIZE off;
    const char *pat = t->kind == LM_TOK_GPT2 ? GPT2_PATTERN : TIKTOKEN_PATTERN;
    t->re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &off, NULL);
    if (!t->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return status_fail(ST_INTERNAL, "lm tokenizer: regex at offset %zu: %s", (size_t)off, (char *)msg);
    }
    (void)pcre2_jit_compile(t->re, PCRE2_JIT_COMPLETE); /* optional speed-up */
    return ST_OK;
}

/* ------------------------------------------------------------ load / free */

void lm_tokenizer_free(lm_tokenizer *t) {
    if (!t) return;
    bpe_free(t->bpe);
    spm_close(t->spm);
    free(t->dummy_ws);
    free(t->is_special);
    for (int i = 0; i < t->n_specials; i++) free(t->specials[i].text);
    free(t->specials);
    if (t->re) pcre2_code_free(t->re);
    free(t);
}

/* model_type from config.json: LM_TOK_ARCADE / LM_TOK_QWEN / 0 (unknown). */
static int config_kind(const char *dir) {
    char path[4096];
    if (file_join(path, sizeof path, dir, "config.json") || !file_is_regular(path)) return 0;
    json_t *root = NULL;
    if (jsonx_load(path, &root)) { status_clear(); return 0; }
    const char *mt = jsonx_str(root, "model_type", "");
    int kind = strstr(mt, "stablelm") ? LM_TOK_ARCADE : strstr(mt, "qwen") ? LM_TOK_QWEN : 0;
    json_decref(root);
    return kind;
}

int lm_tokenizer_load(const char *model_dir, lm_tokenizer **out) {
    if (out) *out = NULL;
    if (!model_dir || !out) return status_fail(ST_ARG, "lm_tokenizer_load: NULL argument");
    char arcade[4096], qwen[4096], vocab[4096], merges[4096], spmodel[4096];
    if (file_join(spmodel, sizeof spmodel, model_dir, "tokenizer.model") ||
        file_join(arcade, sizeof arcade, model_dir, "arcade100k.tiktoken") ||
        file_join(qwen, sizeof qwen, model_dir, "qwen.tiktoken") ||
        file_join(vocab, sizeof vocab, model_dir, "vocab.json") ||
        file_join(merges, sizeof merges, model_dir, "merges.txt"))
        return status_fail(ST_ARG, "lm tokenizer: directory name too long: %s", model_dir);
    int has_arcade = file_is_regular(arcade), has_qwen = file_is_regular(qwen);
    int kind = 0;
    if (has_arcade && has_qwen) {
        kind = config_kind(model_dir);
        if (!kind)
            return status_fail(ST_FORMAT, "%s: both arcade100k.tiktoken and qwen.tiktoken, and config.json "
                               "model_type names neither stablelm nor qwen", model_dir);
    } else if (has_arcade) {
        kind = LM_TOK_ARCADE;
    } else if (has_qwen) {
        kind = LM_TOK_QWEN;
    } else if (file_is_regular(spmodel)) {
        kind = LM_TOK_SPM;
    } else if (file_is_regular(vocab) || file_is_regular(merges)) {
        kind = LM_TOK_GPT2;
    } else {
        return status_fail(ST_NOT_FOUND, "%s: no tokenizer (looked for arcade100k.tiktoken, qwen.tiktoken, "
                           "tokenizer.model, vocab.json + merges.txt)", model_dir);
    }
    lm_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return status_fail(ST_NOMEM, "lm tokenizer: out of memory");
    t->kind = kind;
    t->bos = -1;
    /* the SentencePiece back end only uses the engine as its piece table */
    int st = bpe_new(kind == LM_TOK_GPT2 ? BPE_GPT2 : BPE_TIKTOKEN, &t->bpe);
    if (!st) st = kind == LM_TOK_SPM    ? sentencepiece_load(t, spmodel)
                  : kind == LM_TOK_GPT2 ? gpt2bpe_load(t, model_dir)
                                        : tiktoken_load(t, kind == LM_TOK_ARCADE ? arcade : qwen, kind);
    if (st) {
        lm_tokenizer_free(t);
        return st;
    }
    *out = t;
    return ST_OK;
}

/* ------------------------------------------------------------ accessors */

const char *lm_tokenizer_piece(const lm_tokenizer *t, int32_t id, size_t *len) {
    if (len) *len = 0;
    return t ? bpe_piece(t->bpe, id, len) : NULL;
}

int lm_tokenizer_size(const lm_tokenizer *t) { return t ? bpe_size(t->bpe) : 0; }
int32_t lm_tokenizer_eos(const lm_tokenizer *t) { return t ? t->eos : -1; }
int32_t lm_tokenizer_bos(const lm_tokenizer *t) { return t ? t->bos : -1; }
size_t lm_tokenizer_max_piece(const lm_tokenizer *t) { return t ? t->max_piece : 0; }

const char *lm_tokenizer_kind(const lm_tokenizer *t) {
    if (!t) return "";
    return t->kind == LM_TOK_ARCADE ? "arcade100k" : t->kind == LM_TOK_QWEN ? "qwen"
           : t->kind == LM_TOK_SPM ? "sentencepiece" : "gpt2";
}

int32_t lm_tokenizer_special(const lm_tokenizer *t, const char *text) {
    if (!t || !text || !text[0]) return -1;
    size_t len = strlen(text);
    uint8_t b = (uint8_t)text[0];
    if (!t->re) { /* still loading: not sorted yet */
        for (int i = 0; i < t->n_specials; i++)
            if (t->specials[i].len == len && memcmp(t->specials[i].text, text, len) == 0) return t->specials[i].id;
        return -1;
    }
    for (int i = t->special_first[b]; i < t->special_first[b + 1]; i++)
        if (t->specials[i].len == len && memcmp(t->specials[i].text, text, len) == 0) return t->specials[i].id;
    return -1;
}

/* The longest special starting at s[0..n), or NULL. */
static const lm_special *special_at(const lm_tokenizer *t, const uint8_t *s, size_t n) {
    uint8_t b = s[0];
    for (int i = t->special_first[b]; i < t->special_first[b + 1]; i++) {
        const lm_special *sp = &t->specials[i];
        if (sp->len <= n && memcmp(sp->text, s, sp->len) == 0) return sp; /* longest first */
    }
    return NULL;
}

/* ------------------------------------------------------------ BPE */

typedef struct {
    bpe_work *work;
    int32_t  *ids;  /* output ids */
    size_t    n_ids, ids_cap;
} scratch;

static int emit(scratch *s, const int32_t *ids, size_t n) {
    if (s->n_ids + n > s->ids_cap) {
        size_t cap = s->ids_cap ? 2 * s->ids_cap : 256;
        while (cap < s->n_ids + n) cap *= 2;
        int32_t *p = realloc(s->ids, cap * sizeof *p);
        if (!p) return status_fail(ST_NOMEM, "lm tokenizer: out of memory");
        s->ids = p;
        s->ids_cap = cap;
    }
    memcpy(s->ids + s->n_ids, ids, n * sizeof *ids);
    s->n_ids += n;
    return ST_OK;
}

static int encode_piece(const lm_tokenizer *t, const uint8_t *w, size_t len, scratch *s) {
    const int32_t *ids;
    size_t n;
    int st = bpe_encode(t->bpe, s->work, w, len, &ids, &n);
    return st ? st : emit(s, ids, n);
}

/* Regex + BPE over one stretch of text without specials. */
static int encode_ordinary(const lm_tokenizer *t, const uint8_t *text, size_t len, pcre2_match_data *md, scratch *s) {
    PCRE2_SIZE off = 0;
    while (off < len) {
        int rc = pcre2_match(t->re, (PCRE2_SPTR)text, len, off, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) /* cannot happen: some branch matches any character */
            return status_fail(ST_INTERNAL, "lm tokenizer: no regex match at byte %zu", (size_t)off);
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return status_fail(ST_INTERNAL, "lm tokenizer: regex match failed: %s", (char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (ov[1] <= ov[0] || ov[0] < off)
            return status_fail(ST_INTERNAL, "lm tokenizer: empty regex match at byte %zu", (size_t)ov[0]);
        int st = ST_OK;
        if (ov[0] > off) st = encode_piece(t, text + off, ov[0] - off, s); /* unmatched gap: cannot happen */
        if (!st) st = encode_piece(t, text + ov[0], ov[1] - ov[0], s);
        if (st) return st;
        off = ov[1];
    }
    return ST_OK;
}

int lm_tokenizer_encode(const lm_tokenizer *t, const char *text, int32_t **ids, int *n) {
    if (ids) *ids = NULL;
    if (n) *n = 0;
    if (!t || !text || !ids || !n) return status_fail(ST_ARG, "lm_tokenizer_encode: NULL argument");
    size_t len = strlen(text), bad;
    if (!utf8_valid((const uint8_t *)text, len, &bad))
        return status_fail(ST_ARG, "lm tokenizer: text is not valid UTF-8 (byte %zu)", bad);
    if (t->kind == LM_TOK_SPM) return spm_encode(t->spm, text, len, ids, n);   /* no special is split out */

    uint8_t *norm = NULL;
    const uint8_t *src = (const uint8_t *)text;
    if (t->nfc && len > 0) {
        norm = utf8proc_NFC((const utf8proc_uint8_t *)text);
        if (!norm) return status_fail(ST_NOMEM, "lm tokenizer: out of memory (NFC)");
        src = norm;
        len = strlen((const char *)norm);
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(t->re, NULL);
    scratch s = {bpe_work_new(), NULL, 0, 0};
    int st = md && s.work ? ST_OK : status_fail(ST_NOMEM, "lm tokenizer: out of memory");
    size_t start = 0;
    for (size_t i = 0; !st && i <= len; i++) {
        const lm_special *sp = i < len && t->special_first[src[i]] < t->special_first[src[i] + 1]
                                   ? special_at(t, src + i, len - i) : NULL;
        if (!sp && i < len) continue;
        if (i > start) st = encode_ordinary(t, src + start, i - start, md, &s);
        if (!st && sp) {
            st = emit(&s, &sp->id, 1);
            i += sp->len - 1;
            start = i + 1;
        }
    }
    if (!st && s.n_ids > (size_t)INT32_MAX) st = status_fail(ST_TOO_LARGE, "lm tokenizer: too many tokens");
    if (!st && !s.ids && !(s.ids = malloc(sizeof *s.ids))) st = status_fail(ST_NOMEM, "lm tokenizer: out of memory");
    pcre2_match_data_free(md);
    bpe_work_free(s.work);
    free(norm);
    if (st) {
        free(s.ids);
        return st;
    }
    *ids = s.ids;
    *n = (int)s.n_ids;
    return ST_OK;
}

/* ------------------------------------------------------------ decode */

struct lm_detok {
    const lm_tokenizer *t;
    int started;        /* SentencePiece: a normal piece was decoded (its dummy-prefix space dropped) */
    uint8_t pending[4]; /* a valid, incomplete UTF-8 prefix */
    size_t n_pending;
};

static const char REPLACEMENT[] = "\xEF\xBF\xBD";

lm_detok *lm_detok_new(const lm_tokenizer *t) {
    if (!t) return NULL;
    lm_detok *d = calloc(1, sizeof *d);
    if (d) d->t = t;
    return d;
}

void lm_detok_free(lm_detok *d) { free(d); }

/* Decode pending + bytes into out (NULL: count only). Returns the bytes
 * written; the new pending tail goes to tail/n_tail. */
static size_t detok_run(const uint8_t *pending, size_t np, const uint8_t *p, size_t n, int final,
                        char *out, uint8_t *tail, size_t *n_tail) {
    uint8_t buf[8];
    size_t k = 0;
    *n_tail = 0;
    /* Combine the pending prefix with just enough new bytes, then continue in p. */
    size_t i = 0;          /* position in the virtual stream pending ++ p */
    size_t total = np + n;
    while (i < total) {
        /* view up to 4 bytes at i */
        size_t m = 0;
        for (size_t j = i; j < total && m < 4; j++, m++) buf[m] = j < np ? pending[j] : p[j - np];
        size_t used;
        int c = utf8_class(buf, m, &used);
        if (c == -1 && !final) {
            memcpy(tail, buf, m);
            *n_tail = m;
            break;
        }
        if (c == 1) {
            if (out) memcpy(out + k, buf, used);
            k += used;
        } else {
            if (out) memcpy(out + k, REPLACEMENT, 3);
            k += 3;
        }
        i += used;
    }
    return k;
}

static int detok_emit(lm_detok *d, const uint8_t *p, size_t n, int final, const char *special, size_t special_len,
                      char *out, size_t cap, size_t *len) {
    uint8_t tail[4];
    size_t n_tail;
    int flush_first = special != NULL; /* a special ends the byte run */
    size_t need = detok_run(d->pending, d->n_pending, p, n, final || flush_first, NULL, tail, &n_tail) + special_len;
    if (len) *len = need + 1;
    if (!out || cap < need + 1) return status_fail(ST_TOO_LARGE, "lm detok: output needs %zu bytes, cap %zu", need + 1, cap);
    size_t k = detok_run(d->pending, d->n_pending, p, n, final || flush_first, out, tail, &n_tail);
    if (special_len) memcpy(out + k, special, special_len);
    k += special_len;
    out[k] = 0;
    memcpy(d->pending, tail, n_tail);
    d->n_pending = n_tail;
    if (len) *len = k;
    return ST_OK;
}

int lm_detok_push(lm_detok *d, int32_t id, char *out, size_t cap, size_t *len) {
    if (len) *len = 0;
    if (!d || !len) return status_fail(ST_ARG, "lm_detok_push: NULL argument");
    const lm_tokenizer *t = d->t;
    size_t plen;
    const char *piece = lm_tokenizer_piece(t, id, &plen);
    if (!piece) return status_fail(ST_ARG, "lm detok: unknown token id %d (size %d)", (int)id, lm_tokenizer_size(t));
    if (t->is_special[id]) return detok_emit(d, NULL, 0, 0, piece, plen, out, cap, len);
    int strip = 0;
    if (t->dummy_ws && !d->started) {
        /* SentencePiece decode: the first piece that is not a control piece
         * loses its leading space (the dummy prefix) when it is a normal one */
        strip = t->dummy_ws[id] && piece[0] == ' ';
    }
    int st = detok_emit(d, (const uint8_t *)piece + strip, plen - (size_t)strip, 0, NULL, 0, out, cap, len);
    if (!st) d->started = 1;
    return st;
}

int lm_detok_flush(lm_detok *d, char *out, size_t cap, size_t *len) {
    if (len) *len = 0;
    if (!d || !len) return status_fail(ST_ARG, "lm_detok_flush: NULL argument");
    return detok_emit(d, NULL, 0, 1, NULL, 0, out, cap, len);
}

int lm_tokenizer_decode(const lm_tokenizer *t, const int32_t *ids, int n, char **text) {
    if (text) *text = NULL;
    if (!t || !text || n < 0 || (n > 0 && !ids)) return status_fail(ST_ARG, "lm_tokenizer_decode: bad argument");
    size_t cap = 1;
    for (int i = 0; i < n; i++) {
        size_t pl;
        if (!lm_tokenizer_piece(t, ids[i], &pl))
            return status_fail(ST_ARG, "lm tokenizer: unknown token id %d at %d (size %d)", (int)ids[i], i, lm_tokenizer_size(t));
        cap += 3 * pl + 12; /* worst case: every byte a U+FFFD, plus a flushed tail */
    }
    cap += 12;
    char *s = malloc(cap);
    if (!s) return status_fail(ST_NOMEM, "lm tokenizer: out of memory");
    lm_detok d = {t, 0, {0}, 0};
    size_t k = 0, got;
    int st = ST_OK;
    for (int i = 0; !st && i < n; i++) {
        st = lm_detok_push(&d, ids[i], s + k, cap - k, &got);
        k += got;
    }
    if (!st) st = lm_detok_flush(&d, s + k, cap - k, &got);
    if (st) {
        free(s);
        return st;
    }
    k += got;
    s[k] = 0;
    *text = s;
    return ST_OK;
}
