/* model/clip_tokenizer.c — see clip_tokenizer.h. The clean-up before the
 * regex is text_clean.c.
 *
 * Layout of the loaded tokenizer:
 *   tokens[id] / token_len[id]   the vocab.json keys, in one blob;
 *   vocab hash (open addressing)  token string → id;
 *   pair hash (open addressing)   (left id, right id) → (rank, merged id);
 *   byte_id[b] / byte_end_id[b]   the initial symbol of byte b, and of b as the
 *                                 last symbol of a word ("…</w>");
 *   re                            the compiled pre-tokenisation regex.
 * All of it is read-only after clip_tokenizer_load.
 *
 * BPE works on ids, not strings: every symbol is a vocab entry (the 512 byte
 * symbols, and every merge result is checked to be in the vocab at load), so
 * merging (a, b) is a table lookup. A word is a linked list of symbols and a
 * min-heap of (rank, position) candidate pairs. One "round" of the reference
 * loop (merge every occurrence of the lowest-ranked pair, left to right)
 * is: pop every heap entry of the lowest rank, sort them by position, merge
 * those still valid. Pairs created during a round enter the heap for later
 * rounds, exactly as the reference recomputes its pairs between rounds.
 * Cost O(n log n) per word instead of O(n^2).
 */
#include "clip_tokenizer.h"

#include "file.h"
#include "jsonx.h"
#include "status.h"
#include "text_clean.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>
#include <xxhash.h>

#include <stdlib.h>
#include <string.h>

#define SOT_STRING "<|startoftext|>"
#define EOT_STRING "<|endoftext|>"
#define END_SUFFIX "</w>"

/* ------------------------------------------------------------ structures */

struct clip_tokenizer {
    int32_t   n_vocab;
    char     *blob;        /* every token string, NUL-terminated, back to back */
    char    **tokens;      /* (n_vocab) pointers into blob */
    uint32_t *token_len;   /* (n_vocab) */
    int32_t  *vocab_slots; /* (vocab_cap) id or -1 */
    uint32_t  vocab_cap;   /* power of two */

    uint64_t *pair_keys;   /* (pair_cap) left<<32 | right, or UINT64_MAX */
    int32_t  *pair_rank;   /* (pair_cap) */
    int32_t  *pair_merged; /* (pair_cap) */
    uint32_t  pair_cap;
    int32_t   n_merges;

    int32_t   byte_id[256];
    int32_t   byte_end_id[256];
    int32_t   sot, eot;
    uint8_t   byte_decoder[512]; /* code point (< 512) → byte */
    pcre2_code *re;
};

/* ------------------------------------------------------------ byte map */

/* GPT-2 bytes_to_unicode: printable Latin-1 bytes map to themselves, the
 * other 68 bytes, in byte order, to 256, 257, ... */
static void bytes_to_unicode(uint32_t map[256]) {
    int n = 0;
    for (int i = 0; i < 256; i++) {
        int keep = (i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174 && i <= 255);
        map[i] = keep ? (uint32_t)i : (uint32_t)(256 + n++);
    }
}

static int utf8_put(uint32_t cp, char *out) {
    return (int)utf8proc_encode_char((utf8proc_int32_t)cp, (utf8proc_uint8_t *)out);
}

/* ------------------------------------------------------------ hashing */

static uint32_t pow2_at_least(uint64_t n) {
    uint32_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

static uint64_t mix64(uint64_t x) {
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27; x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static int32_t vocab_find(const clip_tokenizer *t, const char *s, size_t len) {
    uint32_t mask = t->vocab_cap - 1;
    uint32_t h = (uint32_t)XXH3_64bits(s, len) & mask;
    for (;;) {
        int32_t id = t->vocab_slots[h];
        if (id < 0) return -1;
        if (t->token_len[id] == len && memcmp(t->tokens[id], s, len) == 0) return id;
        h = (h + 1) & mask;
    }
}

/* Insert id; returns the id already holding that string, or -1. */
static int32_t vocab_insert(clip_tokenizer *t, int32_t id) {
    uint32_t mask = t->vocab_cap - 1;
    uint32_t h = (uint32_t)XXH3_64bits(t->tokens[id], t->token_len[id]) & mask;
    for (;;) {
        int32_t cur = t->vocab_slots[h];
        if (cur < 0) { t->vocab_slots[h] = id; return -1; }
        if (t->token_len[cur] == t->token_len[id] &&
            memcmp(t->tokens[cur], t->tokens[id], t->token_len[id]) == 0) return cur;
        h = (h + 1) & mask;
    }
}

static inline uint64_t pair_key(int32_t a, int32_t b) {
    return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
}

/* Slot of key, or of the empty slot where it would go. */
static uint32_t pair_slot(const clip_tokenizer *t, uint64_t key) {
    uint32_t mask = t->pair_cap - 1;
    uint32_t h = (uint32_t)mix64(key) & mask;
    while (t->pair_keys[h] != UINT64_MAX && t->pair_keys[h] != key) h = (h + 1) & mask;
    return h;
}

/* Rank of the pair (a, b) and its merged id, or -1. */
static inline int32_t pair_lookup(const clip_tokenizer *t, int32_t a, int32_t b, int32_t *merged) {
    uint32_t s = pair_slot(t, pair_key(a, b));
    if (t->pair_keys[s] == UINT64_MAX) return -1;
    *merged = t->pair_merged[s];
    return t->pair_rank[s];
}

/* ------------------------------------------------------------ loading */

void clip_tokenizer_free(clip_tokenizer *tok) {
    if (!tok) return;
    free(tok->blob);
    free(tok->tokens);
    free(tok->token_len);
    free(tok->vocab_slots);
    free(tok->pair_keys);
    free(tok->pair_rank);
    free(tok->pair_merged);
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
    t->n_vocab = (int32_t)n;
    t->blob = malloc(blob_size);
    t->tokens = calloc(n, sizeof *t->tokens);
    t->token_len = calloc(n, sizeof *t->token_len);
    t->vocab_cap = pow2_at_least(2 * (uint64_t)n);
    t->vocab_slots = malloc(t->vocab_cap * sizeof *t->vocab_slots);
    if (!t->blob || !t->tokens || !t->token_len || !t->vocab_slots) {
        json_decref(root);
        return status_fail(ST_NOMEM, "%s: out of memory for %zu tokens", path, n);
    }
    memset(t->vocab_slots, 0xff, t->vocab_cap * sizeof *t->vocab_slots);
    char *p = t->blob;
    json_object_foreach(root, key, val) {
        json_int_t id = json_integer_value(val);
        if (id < 0 || (size_t)id >= n) {
            st = status_fail(ST_FORMAT, "%s: token \"%s\" has id %lld, outside 0..%zu (ids must be dense)",
                             path, key, (long long)id, n - 1);
            break;
        }
        if (t->tokens[id]) {
            st = status_fail(ST_FORMAT, "%s: id %lld is used by both \"%s\" and \"%s\"",
                             path, (long long)id, t->tokens[id], key);
            break;
        }
        size_t len = strlen(key);
        memcpy(p, key, len + 1);
        t->tokens[id] = p;
        t->token_len[id] = (uint32_t)len;
        p += len + 1;
        /* jansson rejects duplicate keys only with a flag; two equal keys
         * would already have failed the dense-id check or land here. */
        int32_t dup = vocab_insert(t, (int32_t)id);
        if (dup >= 0) {
            st = status_fail(ST_FORMAT, "%s: token \"%s\" appears twice", path, key);
            break;
        }
    }
    json_decref(root);
    if (st) return st;

    /* The 512 initial symbols and the special tokens. */
    uint32_t b2u[256];
    bytes_to_unicode(b2u);
    for (int b = 0; b < 256; b++) {
        char s[8];
        int len = utf8_put(b2u[b], s);
        t->byte_decoder[b2u[b]] = (uint8_t)b;
        t->byte_id[b] = vocab_find(t, s, (size_t)len);
        memcpy(s + len, END_SUFFIX, 4);
        t->byte_end_id[b] = vocab_find(t, s, (size_t)len + 4);
        if (t->byte_id[b] < 0 || t->byte_end_id[b] < 0) {
            s[len + 4] = 0;
            return status_fail(ST_FORMAT, "%s: byte symbol \"%s\" (byte 0x%02x) is missing: not a CLIP byte-level BPE vocabulary",
                               path, s, b);
        }
    }
    t->sot = vocab_find(t, SOT_STRING, strlen(SOT_STRING));
    t->eot = vocab_find(t, EOT_STRING, strlen(EOT_STRING));
    if (t->sot < 0 || t->eot < 0)
        return status_fail(ST_FORMAT, "%s: %s is missing", path, t->sot < 0 ? SOT_STRING : EOT_STRING);
    return ST_OK;
}

static int load_merges(clip_tokenizer *t, const char *path) {
    uint8_t *buf = NULL;
    size_t len = 0;
    if (!file_is_regular(path)) return status_fail(ST_NOT_FOUND, "%s: no such file", path);
    int st = file_read(path, (size_t)1 << 30, &buf, &len);
    if (st) return st;

    /* Count lines for the table size. */
    size_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += buf[i] == '\n';
    t->pair_cap = pow2_at_least(2 * (uint64_t)lines);
    t->pair_keys = malloc(t->pair_cap * sizeof *t->pair_keys);
    t->pair_rank = malloc(t->pair_cap * sizeof *t->pair_rank);
    t->pair_merged = malloc(t->pair_cap * sizeof *t->pair_merged);
    if (!t->pair_keys || !t->pair_rank || !t->pair_merged) {
        free(buf);
        return status_fail(ST_NOMEM, "%s: out of memory", path);
    }
    memset(t->pair_keys, 0xff, t->pair_cap * sizeof *t->pair_keys);

    /* Trailing blank lines are ignored (the reference strips the file);
     * a blank line before the last merge is an error. */
    size_t end = len;
    while (end > 0 && (buf[end - 1] == '\n' || buf[end - 1] == '\r' || buf[end - 1] == ' ')) end--;

    char *cat = NULL;
    size_t cat_cap = 0;
    int32_t rank = 0;
    size_t pos = 0;
    for (size_t lineno = 1; pos < end; lineno++) {
        size_t nl = pos;
        while (nl < end && buf[nl] != '\n') nl++;
        size_t a = pos, e = nl;
        pos = nl + 1;
        if (e > a && buf[e - 1] == '\r') e--;
        if (lineno == 1 && e - a >= 1 && buf[a] == '#') continue; /* "#version: 0.2" */
        /* exactly two non-empty parts separated by one space */
        size_t sp = a;
        while (sp < e && buf[sp] != ' ') sp++;
        if (sp == a || sp >= e - 1 || memchr(buf + sp + 1, ' ', e - sp - 1)) {
            st = status_fail(ST_FORMAT, "%s:%zu: expected \"left right\" (two symbols, one space), got \"%.*s\"",
                             path, lineno, (int)(e - a > 80 ? 80 : e - a), (const char *)buf + a);
            break;
        }
        size_t la = sp - a, lb = e - sp - 1;
        int32_t ia = vocab_find(t, (const char *)buf + a, la);
        int32_t ib = vocab_find(t, (const char *)buf + sp + 1, lb);
        if (ia < 0 || ib < 0) {
            st = status_fail(ST_FORMAT, "%s:%zu: symbol \"%.*s\" is not in vocab.json", path, lineno,
                             ia < 0 ? (int)la : (int)lb, (const char *)buf + (ia < 0 ? a : sp + 1));
            break;
        }
        if (la + lb > cat_cap) {
            cat_cap = 2 * (la + lb);
            char *nc = realloc(cat, cat_cap);
            if (!nc) { st = status_fail(ST_NOMEM, "%s: out of memory", path); break; }
            cat = nc;
        }
        memcpy(cat, buf + a, la);
        memcpy(cat + la, buf + sp + 1, lb);
        int32_t im = vocab_find(t, cat, la + lb);
        if (im < 0) {
            st = status_fail(ST_FORMAT, "%s:%zu: merge result \"%.*s\" is not in vocab.json", path, lineno,
                             (int)(la + lb), cat);
            break;
        }
        /* A repeated pair keeps its last rank, like dict(zip(merges, range())). */
        uint32_t s = pair_slot(t, pair_key(ia, ib));
        t->pair_keys[s] = pair_key(ia, ib);
        t->pair_rank[s] = rank++;
        t->pair_merged[s] = im;
    }
    t->n_merges = rank;
    free(cat);
    free(buf);
    if (!st && rank == 0) st = status_fail(ST_FORMAT, "%s: no merges", path);
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
    int st = file_join(path, sizeof path, dir, "vocab.json");
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
    if (!tok || id < 0 || id >= tok->n_vocab) return NULL;
    return tok->tokens[id];
}

int32_t clip_tokenizer_id(const clip_tokenizer *tok, const char *token) {
    if (!tok || !token) return -1;
    return vocab_find(tok, token, strlen(token));
}

int32_t clip_tokenizer_vocab_size(const clip_tokenizer *tok) { return tok ? tok->n_vocab : 0; }
int32_t clip_tokenizer_sot(const clip_tokenizer *tok) { return tok ? tok->sot : -1; }
int32_t clip_tokenizer_eot(const clip_tokenizer *tok) { return tok ? tok->eot : -1; }

/* ------------------------------------------------------------ text clean-up */

int clip_tokenizer_clean(const char *text, char **out) {
    int st = text_clean(text, out, NULL);
    return st ? status_wrap(st, "clip tokenizer") : ST_OK;
}

/* ------------------------------------------------------------ BPE */

typedef struct {
    int32_t rank;
    int32_t pos;   /* left symbol's index */
    int32_t left;  /* ids when the pair was formed, to detect stale entries */
    int32_t right;
} cand;

typedef struct {
    int32_t *id, *next, *prev; /* (len) the word as a linked list */
    cand *heap, *batch;        /* (3*len) each: every merge pushes at most 2 pairs */
    size_t cap;
} bpe_scratch;

static int scratch_reserve(bpe_scratch *s, size_t len) {
    if (len <= s->cap) return 0;
    size_t cap = len < 64 ? 64 : len;
    free(s->id); free(s->next); free(s->prev); free(s->heap); free(s->batch);
    s->id = malloc(cap * sizeof *s->id);
    s->next = malloc(cap * sizeof *s->next);
    s->prev = malloc(cap * sizeof *s->prev);
    s->heap = malloc(3 * cap * sizeof *s->heap);
    s->batch = malloc(3 * cap * sizeof *s->batch);
    s->cap = (s->id && s->next && s->prev && s->heap && s->batch) ? cap : 0;
    return s->cap ? 0 : -1;
}

static inline int cand_less(const cand *a, const cand *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(cand *h, size_t *n, cand c) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_less(&c, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = c;
}

static cand heap_pop(cand *h, size_t *n) {
    cand top = h[0];
    cand last = h[--*n];
    size_t i = 0, m = *n;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, s = i;
        const cand *best = &last;
        if (l < m && cand_less(&h[l], best)) { s = l; best = &h[l]; }
        if (r < m && cand_less(&h[r], best)) { s = r; }
        if (s == i) break;
        h[i] = h[s];
        i = s;
    }
    if (m) h[i] = last;
    return top;
}

static void push_pair(const clip_tokenizer *t, bpe_scratch *s, size_t *hn, int32_t pos) {
    int32_t nx = s->next[pos];
    if (nx < 0) return;
    int32_t merged;
    int32_t rank = pair_lookup(t, s->id[pos], s->id[nx], &merged);
    if (rank < 0) return;
    cand c = {rank, pos, s->id[pos], s->id[nx]};
    heap_push(s->heap, hn, c);
}

/* BPE of one pre-token (raw UTF-8 bytes). Appends ids to out (stops at
 * room). Returns the number appended, or -1 on allocation failure. */
static int bpe_word(const clip_tokenizer *t, const uint8_t *w, size_t len, bpe_scratch *s,
                    int32_t *out, int room) {
    if (len == 0 || room <= 0) return 0;
    if (scratch_reserve(s, len)) return -1;
    for (size_t i = 0; i < len; i++) {
        s->id[i] = i + 1 == len ? t->byte_end_id[w[i]] : t->byte_id[w[i]];
        s->next[i] = i + 1 < len ? (int32_t)(i + 1) : -1;
        s->prev[i] = (int32_t)i - 1;
    }
    size_t hn = 0;
    for (size_t i = 0; i + 1 < len; i++) push_pair(t, s, &hn, (int32_t)i);

    while (hn > 0) {
        /* one round: every entry of the lowest rank, by position */
        int32_t rank = s->heap[0].rank;
        size_t nb = 0;
        while (hn > 0 && s->heap[0].rank == rank) s->batch[nb++] = heap_pop(s->heap, &hn);
        /* the heap orders equal ranks by position already: batch is sorted */
        for (size_t k = 0; k < nb; k++) {
            cand c = s->batch[k];
            int32_t a = c.pos;
            if (s->id[a] != c.left) continue;            /* left symbol changed or died */
            int32_t b = s->next[a];
            if (b < 0 || s->id[b] != c.right) continue;  /* right symbol changed */
            int32_t merged;
            if (pair_lookup(t, c.left, c.right, &merged) < 0) continue;
            s->id[a] = merged;
            s->id[b] = -1;                                /* dead */
            s->next[a] = s->next[b];
            if (s->next[b] >= 0) s->prev[s->next[b]] = a;
            if (s->prev[a] >= 0) push_pair(t, s, &hn, s->prev[a]);
            push_pair(t, s, &hn, a);
        }
    }
    int n = 0;
    for (int32_t i = 0; i >= 0 && n < room; i = s->next[i]) out[n++] = s->id[i];
    return n;
}

int clip_tokenizer_encode(const clip_tokenizer *tok, const char *text, int32_t *ids, int max_ids, int *n_ids) {
    if (n_ids) *n_ids = 0;
    if (!tok || !text || !ids || !n_ids) return status_fail(ST_ARG, "clip_tokenizer_encode: NULL argument");
    if (max_ids < 2) return status_fail(ST_ARG, "clip_tokenizer_encode: max_ids %d < 2", max_ids);

    char *clean = NULL;
    int st = clip_tokenizer_clean(text, &clean);
    if (st) return st;

    pcre2_match_data *md = pcre2_match_data_create_from_pattern(tok->re, NULL);
    bpe_scratch sc = {0};
    if (!md) {
        free(clean);
        return status_fail(ST_NOMEM, "clip tokenizer: out of memory");
    }
    int n = 0;
    ids[n++] = tok->sot;
    int limit = max_ids - 1; /* content ids end before the last slot */
    size_t len = strlen(clean);
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
            int got = bpe_word(tok, (const uint8_t *)w, wl, &sc, ids + n, limit - n);
            if (got < 0) { st = status_fail(ST_NOMEM, "clip tokenizer: out of memory"); break; }
            n += got;
        }
    }
    ids[n++] = tok->eot;
    *n_ids = st ? 0 : n;

    pcre2_match_data_free(md);
    free(sc.id); free(sc.next); free(sc.prev); free(sc.heap); free(sc.batch);
    free(clean);
    return st;
}

/* ------------------------------------------------------------ decode */

int clip_tokenizer_decode(const clip_tokenizer *tok, const int32_t *ids, int n_ids, char **out) {
    *out = NULL;
    if (!tok || (!ids && n_ids > 0) || n_ids < 0) return status_fail(ST_ARG, "clip_tokenizer_decode: bad argument");
    size_t cap = 1;
    for (int i = 0; i < n_ids; i++)
        if (ids[i] >= 0 && ids[i] < tok->n_vocab) cap += tok->token_len[ids[i]];
    char *s = malloc(cap);
    if (!s) return status_fail(ST_NOMEM, "clip tokenizer: out of memory");
    size_t k = 0;
    for (int i = 0; i < n_ids; i++) {
        if (ids[i] < 0 || ids[i] >= tok->n_vocab) continue;
        const uint8_t *p = (const uint8_t *)tok->tokens[ids[i]];
        size_t l = tok->token_len[ids[i]];
        for (size_t j = 0; j < l;) {
            utf8proc_int32_t cp;
            utf8proc_ssize_t step = utf8proc_iterate(p + j, (utf8proc_ssize_t)(l - j), &cp);
            if (step <= 0) break;
            j += (size_t)step;
            s[k++] = cp >= 0 && cp < 512 ? (char)tok->byte_decoder[cp] : '?';
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
