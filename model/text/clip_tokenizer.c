/* model/text/clip_tokenizer.c — see clip_tokenizer.h.
 *
 * The tokenizer is a BPE_CLIP engine (bpe.h: the vocab.json strings, the
 * merges.txt ranks, the byte symbols and the merge loop), the two special
 * ids and the compiled pre-tokenisation regex; all of it is read-only after
 * clip_tokenizer_load. What is CLIP-specific lives here: reading and
 * checking the two files, the regex, the special strings in the text, the
 * [sot] .. [eot] frame with truncation, and decoding. The clean-up before
 * the regex is text_clean.c.
 */
#include "clip_tokenizer.h"

#include "bpe.h"
#include "file.h"
#include "jsonx.h"
#include "status.h"
#include "text_clean.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include <stdlib.h>
#include <string.h>

#define SOT_STRING "<|startoftext|>"
#define EOT_STRING "<|endoftext|>"
#define END_SUFFIX "</w>"

struct clip_tokenizer {
    bpe        *bpe;       /* owned: vocabulary, merges, byte symbols */
    int32_t     sot, eot;
    pcre2_code *re;        /* owned */
};

/* ------------------------------------------------------------ loading */

void clip_tokenizer_free(clip_tokenizer *tok) {
    if (!tok) return;
    bpe_free(tok->bpe);
    if (tok->re) pcre2_code_free(tok->re);
    free(tok);
}

static int load_vocab(clip_tokenizer *t, const char *path) {
    json_t *root = NULL;
    int st = jsonx_load(path, &root);
    if (st) return st;
    if (!json_is_object(root)) {
        json_decref(root);
        return status_fail(ST_FORMAT, "%s: expected a JSON object of token → id", path);
    }
    size_t n = json_object_size(root);
    if (n == 0 || n > (1u << 24)) {
        json_decref(root);
        return status_fail(ST_FORMAT, "%s: %zu tokens (expected 1 .. 16M)", path, n);
    }
    size_t blob_size = 0;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (!json_is_integer(val)) {
            st = status_fail(ST_FORMAT, "%s: the id of token \"%s\" is not an integer", path, key);
            json_decref(root);
            return st;
        }
        blob_size += strlen(key) + 1;
    }
    if ((st = bpe_reserve(t->bpe, (int32_t)n, blob_size))) {
        json_decref(root);
        return st;
    }
    json_object_foreach(root, key, val) {
        json_int_t id = json_integer_value(val);
        if (id < 0 || (size_t)id >= n) {
            st = status_fail(ST_FORMAT, "%s: token \"%s\" has id %lld, outside 0..%zu (ids must be dense)",
                             path, key, (long long)id, n - 1);
            break;
        }
        const char *other = bpe_piece(t->bpe, (int32_t)id, NULL);
        if (other) {
            st = status_fail(ST_FORMAT, "%s: id %lld is used by both \"%s\" and \"%s\"",
                             path, (long long)id, other, key);
            break;
        }
        if ((st = bpe_set(t->bpe, (int32_t)id, key, strlen(key), path))) break;
    }
    json_decref(root);
    /* n distinct ids below n: every id is assigned. Two equal strings (jansson
     * rejects duplicate keys only with a flag) fail in bpe_index, and so does
     * a vocabulary without the 512 byte symbols. */
    if (!st) st = bpe_index(t->bpe, NULL, path);
    if (st) return st;
    t->sot = bpe_find(t->bpe, SOT_STRING, strlen(SOT_STRING));
    t->eot = bpe_find(t->bpe, EOT_STRING, strlen(EOT_STRING));
    if (t->sot < 0 || t->eot < 0)
        return status_fail(ST_FORMAT, "%s: %s is missing", path, t->sot < 0 ? SOT_STRING : EOT_STRING);
    return ST_OK;
}

/* merges.txt parts are vocabulary strings as they are; the merged symbol is
 * their concatenation. A repeated pair keeps its last rank (BPE_CLIP), like
 * dict(zip(merges, range())). */
typedef struct {
    const bpe *b;
    char      *cat;          /* scratch for the concatenation */
    size_t     cat_cap;
} clip_merges;

static int clip_merge_ids(void *vctx, const char *path, size_t lineno, const char *l, size_t la, const char *r,
                          size_t lb, int32_t *ia, int32_t *ib, int32_t *im) {
    clip_merges *c = vctx;
    *ia = bpe_find(c->b, l, la);
    *ib = bpe_find(c->b, r, lb);
    if (*ia < 0 || *ib < 0)
        return status_fail(ST_FORMAT, "%s:%zu: symbol \"%.*s\" is not in vocab.json", path, lineno,
                           *ia < 0 ? (int)la : (int)lb, *ia < 0 ? l : r);
    if (la + lb > c->cat_cap) {
        char *nc = realloc(c->cat, 2 * (la + lb));
        if (!nc) return status_fail(ST_NOMEM, "%s: out of memory", path);
        c->cat = nc, c->cat_cap = 2 * (la + lb);
    }
    memcpy(c->cat, l, la);
    memcpy(c->cat + la, r, lb);
    *im = bpe_find(c->b, c->cat, la + lb);
    if (*im < 0)
        return status_fail(ST_FORMAT, "%s:%zu: merge result \"%.*s\" is not in vocab.json", path, lineno,
                           (int)(la + lb), c->cat);
    return ST_OK;
}

static int load_merges(clip_tokenizer *t, const char *path) {
    clip_merges c = {t->bpe, NULL, 0};
    int st = bpe_merges_load(t->bpe, path, "#", clip_merge_ids, &c);   /* "#version: 0.2" */
    free(c.cat);
    return st;
}

/* The CLIP pattern, written so PCRE2 (UTF, UCP, CASELESS) splits exactly as
 * the `regex` module does in the reference. Two corrections, both found by
 * comparing every assigned code point against a Python run:
 *   - \s is spelled out as the White_Space list the `regex` module uses:
 *     PCRE2's \s still counts U+180E (MONGOLIAN VOWEL SEPARATOR, a space
 *     before Unicode 6.3) as white space;
 *   - under IGNORECASE the `regex` module lets U+0345 (COMBINING GREEK
 *     YPOGEGRAMMENI, which case-folds to the letter iota) match neither
 *     [\p{L}]+ nor the punctuation class, so the reference drops it like a
 *     space; it is excluded from the punctuation class here too. */
static const char CLIP_PATTERN[] =
    "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|"
    "[^\\t-\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"
    "\\p{L}\\p{N}\\x{345}]+";

int clip_tokenizer_load(const char *dir, clip_tokenizer **out) {
    *out = NULL;
    if (!dir) return status_fail(ST_ARG, "clip tokenizer: no model directory");
    char path[4096];
    clip_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return status_fail(ST_NOMEM, "clip tokenizer: out of memory");
    int st = bpe_new(BPE_CLIP, &t->bpe);
    if (!st) st = file_join(path, sizeof path, dir, "vocab.json");
    if (!st && !file_is_regular(path)) st = status_fail(ST_NOT_FOUND, "%s: no such file", path);
    if (!st) st = load_vocab(t, path);
    if (!st) st = file_join(path, sizeof path, dir, "merges.txt");
    if (!st) st = load_merges(t, path);
    if (!st) {
        int err;
        PCRE2_SIZE off;
        t->re = pcre2_compile((PCRE2_SPTR)CLIP_PATTERN, PCRE2_ZERO_TERMINATED,
                              PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS, &err, &off, NULL);
        if (!t->re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof msg);
            st = status_fail(ST_INTERNAL, "clip tokenizer: regex at offset %zu: %s", (size_t)off, (char *)msg);
        } else {
            (void)pcre2_jit_compile(t->re, PCRE2_JIT_COMPLETE); /* optional speed-up */
        }
    }
    if (st) {
        clip_tokenizer_free(t);
        return st;
    }
    *out = t;
    return ST_OK;
}

/* ------------------------------------------------------------ accessors */

const char *clip_tokenizer_token(const clip_tokenizer *tok, int32_t id) {
    return tok ? bpe_piece(tok->bpe, id, NULL) : NULL;
}

int32_t clip_tokenizer_id(const clip_tokenizer *tok, const char *token) {
    if (!tok || !token) return -1;
    return bpe_find(tok->bpe, token, strlen(token));
}

int32_t clip_tokenizer_vocab_size(const clip_tokenizer *tok) { return tok ? bpe_size(tok->bpe) : 0; }
int32_t clip_tokenizer_sot(const clip_tokenizer *tok) { return tok ? tok->sot : -1; }
int32_t clip_tokenizer_eot(const clip_tokenizer *tok) { return tok ? tok->eot : -1; }

int clip_tokenizer_clean(const char *text, char **out) {
    int st = text_clean(text, out, NULL);
    return st ? status_wrap(st, "clip tokenizer") : ST_OK;
}

/* ------------------------------------------------------------ encode */

int clip_tokenizer_encode(const clip_tokenizer *tok, const char *text, int32_t *ids, int max_ids, int *n_ids) {
    if (n_ids) *n_ids = 0;
    if (!tok || !text || !ids || !n_ids) return status_fail(ST_ARG, "clip_tokenizer_encode: NULL argument");
    if (max_ids < 2) return status_fail(ST_ARG, "clip_tokenizer_encode: max_ids %d < 2", max_ids);

    char *clean = NULL;
    size_t len = 0;
    int st = text_clean(text, &clean, &len);
    if (st) return status_wrap(st, "clip tokenizer");

    pcre2_match_data *md = pcre2_match_data_create_from_pattern(tok->re, NULL);
    bpe_work *work = bpe_work_new();
    if (!md || !work) {
        pcre2_match_data_free(md);
        bpe_work_free(work);
        free(clean);
        return status_fail(ST_NOMEM, "clip tokenizer: out of memory");
    }
    int n = 0;
    ids[n++] = tok->sot;
    int limit = max_ids - 1; /* content ids end before the last slot */
    PCRE2_SIZE off = 0;
    while (off < len && n < limit) {
        int rc = pcre2_match(tok->re, (PCRE2_SPTR)clean, len, off, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            st = status_fail(ST_INTERNAL, "clip tokenizer: regex match failed: %s", (char *)msg);
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t a = ov[0], b = ov[1];
        if (b <= a) { /* cannot happen: no alternative matches empty */
            st = status_fail(ST_INTERNAL, "clip tokenizer: empty regex match at %zu", a);
            break;
        }
        off = b;
        const char *w = clean + a;
        size_t wl = b - a;
        if (wl == strlen(SOT_STRING) && memcmp(w, SOT_STRING, wl) == 0) {
            ids[n++] = tok->sot;
        } else if (wl == strlen(EOT_STRING) && memcmp(w, EOT_STRING, wl) == 0) {
            ids[n++] = tok->eot;
        } else {
            const int32_t *got;
            size_t ng;
            if ((st = bpe_encode(tok->bpe, work, (const uint8_t *)w, wl, &got, &ng))) break;
            if (ng > (size_t)(limit - n)) ng = (size_t)(limit - n);
            memcpy(ids + n, got, ng * sizeof *got);
            n += (int)ng;
        }
    }
    ids[n++] = tok->eot;
    *n_ids = st ? 0 : n;

    pcre2_match_data_free(md);
    bpe_work_free(work);
    free(clean);
    return st;
}

/* ------------------------------------------------------------ decode */

int clip_tokenizer_decode(const clip_tokenizer *tok, const int32_t *ids, int n_ids, char **out) {
    *out = NULL;
    if (!tok || (!ids && n_ids > 0) || n_ids < 0) return status_fail(ST_ARG, "clip_tokenizer_decode: bad argument");
    size_t cap = 1, l;
    for (int i = 0; i < n_ids; i++)
        if (bpe_piece(tok->bpe, ids[i], &l)) cap += l;
    char *s = malloc(cap);
    if (!s) return status_fail(ST_NOMEM, "clip tokenizer: out of memory");
    size_t k = 0;
    for (int i = 0; i < n_ids; i++) {
        const uint8_t *p = (const uint8_t *)bpe_piece(tok->bpe, ids[i], &l);
        if (!p) continue;
        for (size_t j = 0; j < l;) {
            utf8proc_int32_t cp;
            utf8proc_ssize_t step = utf8proc_iterate(p + j, (utf8proc_ssize_t)(l - j), &cp);
            if (step <= 0) break;
            j += (size_t)step;
            int byte = cp >= 0 ? bpe_unicode_to_byte((uint32_t)cp) : -1;
            s[k++] = byte >= 0 ? (char)byte : '?';
        }
    }
    s[k] = 0;
    /* "</w>" → " " in place */
    size_t r = 0, wpos = 0;
    while (r < k) {
        if (r + 4 <= k && memcmp(s + r, END_SUFFIX, 4) == 0) { s[wpos++] = ' '; r += 4; }
        else s[wpos++] = s[r++];
    }
    s[wpos] = 0;
    *out = s;
    return ST_OK;
}
