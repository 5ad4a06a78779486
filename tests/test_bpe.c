/* tests/test_bpe.c — the BPE engine (model/text/bpe.h) on hand-made
 * vocabularies, each back end against results worked out by hand, then
 * against a plain O(n^2) re-statement of each reference algorithm on random
 * words and random merge lists (well-formed or not).
 *
 * Raw-byte vocabularies (BPE_GPT2, BPE_TIKTOKEN) give ids 0..255 to the
 * bytes and 256.. to longer tokens; CLIP vocabularies give 0..255 to the
 * byte symbols, 256..511 to the same symbols + "</w>", 512.. to the rest.
 */
#include "bpe.h"
#include "status.h"
#include "test.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ helpers */

/* UTF-8 of the symbol of byte b. */
static int sym(uint8_t b, char *out) {
    uint32_t cp = bpe_byte_to_unicode(b);
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

/* A raw-byte engine: ids 0..255 the bytes, 256 + i extra[i]. */
static bpe *make_raw(bpe_kind kind, const char *const *extra, int n_extra) {
    bpe *b = NULL;
    if (bpe_new(kind, &b)) return NULL;
    int st = 0;
    for (int i = 0; i < 256 && !st; i++) {
        uint8_t c = (uint8_t)i;
        st = bpe_set(b, i, &c, 1, "test");
    }
    for (int i = 0; i < n_extra && !st; i++) st = bpe_set(b, 256 + i, extra[i], strlen(extra[i]), "test");
    if (!st) st = bpe_index(b, NULL, "test");
    if (st) {
        printf("  make_raw: %s\n", status_message());
        bpe_free(b);
        return NULL;
    }
    return b;
}

/* A CLIP engine: the 512 byte symbols, then 512 + i extra[i] (symbol text). */
static bpe *make_clip(const char *const *extra, int n_extra) {
    bpe *b = NULL;
    if (bpe_new(BPE_CLIP, &b)) return NULL;
    int st = 0;
    for (int i = 0; i < 256 && !st; i++) {
        char s[8];
        int l = sym((uint8_t)i, s);
        st = bpe_set(b, i, s, (size_t)l, "test");
        memcpy(s + l, "</w>", 4);
        if (!st) st = bpe_set(b, 256 + i, s, (size_t)l + 4, "test");
    }
    for (int i = 0; i < n_extra && !st; i++) st = bpe_set(b, 512 + i, extra[i], strlen(extra[i]), "test");
    if (!st) st = bpe_index(b, NULL, "test");
    if (st) {
        printf("  make_clip: %s\n", status_message());
        bpe_free(b);
        return NULL;
    }
    return b;
}

static int32_t id_of(const bpe *b, const char *s) { return bpe_find(b, s, strlen(s)); }

/* Add the merge (left, right) → left+right, all given as token text. */
static int merge(bpe *b, const char *left, const char *right, int32_t rank) {
    char cat[64];
    snprintf(cat, sizeof cat, "%s%s", left, right);
    int32_t l = id_of(b, left), r = id_of(b, right), m = id_of(b, cat);
    if (l < 0 || r < 0 || m < 0) {
        printf("  merge %s + %s: not in the vocabulary\n", left, right);
        return -1;
    }
    return bpe_pair_add(b, l, r, m, rank);
}

/* Encode word and compare with the expected tokens (as text); NULL ends. */
static int encodes_to(const bpe *b, bpe_work *w, const char *word, const char *const *expect) {
    const int32_t *ids;
    size_t n;
    int st = bpe_encode(b, w, (const uint8_t *)word, strlen(word), &ids, &n);
    if (st) {
        printf("  encode \"%s\": %s\n", word, status_message());
        return 0;
    }
    size_t k = 0;
    int ok = 1;
    for (; expect[k]; k++)
        if (k >= n || ids[k] != id_of(b, expect[k])) ok = 0;
    if (k != n) ok = 0;
    if (!ok) {
        printf("  encode \"%s\" gave", word);
        for (size_t i = 0; i < n; i++) printf(" \"%s\"", bpe_piece(b, ids[i], NULL));
        printf(", expected");
        for (size_t i = 0; expect[i]; i++) printf(" \"%s\"", expect[i]);
        printf("\n");
    }
    return ok;
}

#define TOKS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NONE ((const char *const[]){NULL})

/* ------------------------------------------------------------ byte map */

TEST(byte_map) {
    CHECK(bpe_byte_to_unicode('a') == 'a');
    CHECK(bpe_byte_to_unicode('!') == '!' && bpe_byte_to_unicode('~') == '~');
    CHECK(bpe_byte_to_unicode(0) == 0x100);
    CHECK(bpe_byte_to_unicode(' ') == 0x120);  /* GPT-2's "Ġ" */
    CHECK(bpe_byte_to_unicode('\n') == 0x10A); /* "Ċ" */
    CHECK(bpe_byte_to_unicode(0x7F) == 0x121);
    CHECK(bpe_byte_to_unicode(0xA0) == 0x142);
    CHECK(bpe_byte_to_unicode(0xAD) == 0x143); /* the last one */
    CHECK(bpe_byte_to_unicode(0xA1) == 0xA1 && bpe_byte_to_unicode(0xFF) == 0xFF);
    int seen[324] = {0}, all = 1;
    for (int b = 0; b < 256; b++) {
        uint32_t cp = bpe_byte_to_unicode((uint8_t)b);
        if (cp >= 324 || seen[cp]++ || bpe_unicode_to_byte(cp) != b) all = 0;
    }
    CHECK(all);
    CHECK(bpe_unicode_to_byte(' ') == -1 && bpe_unicode_to_byte(0xAD) == -1);
    CHECK(bpe_unicode_to_byte(324) == -1 && bpe_unicode_to_byte(0x10FFFF) == -1);

    uint8_t out[16];
    CHECK(bpe_symbols_to_bytes("\xC4\xA0hi\xC4\x8A", 6, out) == 4 && memcmp(out, " hi\n", 4) == 0);
    CHECK(bpe_symbols_to_bytes("\xC3\x83\xC2\xA9", 4, out) == 2 && out[0] == 0xC3 && out[1] == 0xA9); /* "Ã©" */
    CHECK(bpe_symbols_to_bytes("", 0, out) == 0);
    CHECK(bpe_symbols_to_bytes("a b", 3, out) == -1);   /* a space is not a symbol */
    CHECK(bpe_symbols_to_bytes("\xC3", 1, out) == -1);  /* invalid UTF-8 */
    CHECK(bpe_symbols_to_bytes("\xC5\x84", 2, out) == -1); /* U+0144, past the map */
}

/* ------------------------------------------------------------ GPT-2 */

TEST(gpt2_merges) {
    bpe *b = make_raw(BPE_GPT2, TOKS("ab", "abc", "bc", "aa", "aaaa", "\xC3\xA9", "xyz", "aba", "xy", "xz", "xzx"), 11);
    CHECK(b != NULL);
    if (!b) return;
    CHECK(merge(b, "a", "b", 0) == 0);
    CHECK(merge(b, "ab", "c", 1) == 0);
    CHECK(merge(b, "b", "c", 2) == 0);
    CHECK(merge(b, "a", "a", 3) == 0);
    CHECK(merge(b, "aa", "aa", 4) == 0);
    CHECK(merge(b, "\xC3", "\xA9", 5) == 0);
    CHECK(merge(b, "ab", "a", 7) == 0);
    CHECK(merge(b, "x", "z", 8) == 0);
    CHECK(merge(b, "xz", "x", 3) == 0);     /* ill-formed on purpose: ranked before its part */
    bpe_work *w = bpe_work_new();
    CHECK(w != NULL);

    const int32_t *ids = NULL;
    size_t n = 99;
    CHECK(bpe_encode(b, w, (const uint8_t *)"", 0, &ids, &n) == 0 && n == 0);
    CHECK(encodes_to(b, w, "x", TOKS("x")));
    CHECK(encodes_to(b, w, "xyz", TOKS("x", "y", "z"))); /* a token, but no merges lead to it */
    CHECK(encodes_to(b, w, "abc", TOKS("abc")));         /* ab (0) first, then ab+c (1) */
    CHECK(encodes_to(b, w, "bcab", TOKS("bc", "ab")));
    CHECK(encodes_to(b, w, "aaa", TOKS("aa", "a")));     /* leftmost of equal ranks */
    CHECK(encodes_to(b, w, "aaaaa", TOKS("aaaa", "a"))); /* a a | a a | a, then aa+aa */
    CHECK(encodes_to(b, w, "\xC3\xA9\xC3\xA9\xFF", TOKS("\xC3\xA9", "\xC3\xA9", "\xFF")));
    CHECK(encodes_to(b, w, "\xA9\xC3", TOKS("\xA9", "\xC3")));
    /* ab@0 and ab@2 (rank 0) before ab+a (7) or ab+c (1) */
    CHECK(encodes_to(b, w, "ababc", TOKS("ab", "abc")));
    /* one pair at a time: xz@0, then xz+x (3) comes before xz@2 (8) */
    CHECK(encodes_to(b, w, "xzxzq", TOKS("xzx", "z", "q")));

    /* a repeated pair keeps its first rank */
    CHECK(merge(b, "x", "y", 9) == 0);
    CHECK(merge(b, "x", "y", 6) == 0);
    int32_t m = -1;
    CHECK(bpe_pair_rank(b, 'x', 'y', &m) == 9 && m == id_of(b, "xy"));
    CHECK(bpe_pair_rank(b, 'y', 'x', &m) == -1 && m == -1);
    CHECK(bpe_pair_rank(b, id_of(b, "ab"), 'c', &m) == 1 && m == id_of(b, "abc"));
    CHECK(bpe_pair_add(b, -1, 0, 0, 0) == ST_ARG);

    bpe_work_free(w);
    bpe_free(b);
}

/* ------------------------------------------------------------ tiktoken */

TEST(tiktoken_ranks) {
    /* ids (= ranks): 256 aba, 257 ab, 258 bc, 259 abc, 260 é, 261 aa, 262 aaaa, 263 xyz */
    bpe *b = make_raw(BPE_TIKTOKEN, TOKS("aba", "ab", "bc", "abc", "\xC3\xA9", "aa", "aaaa", "xyz"), 8);
    CHECK(b != NULL);
    if (!b) return;
    bpe_work *w = bpe_work_new();
    const int32_t *ids = NULL;
    size_t n = 99;
    CHECK(bpe_encode(b, w, (const uint8_t *)"", 0, &ids, &n) == 0 && n == 0);
    CHECK(encodes_to(b, w, "q", TOKS("q")));
    CHECK(encodes_to(b, w, "qrs", TOKS("q", "r", "s")));
    CHECK(encodes_to(b, w, "xyz", TOKS("xyz")));        /* a whole token: no merging needed */
    CHECK(encodes_to(b, w, "abcd", TOKS("abc", "d")));  /* ab 257 < bc 258: ab, then ab+c 259 */
    CHECK(encodes_to(b, w, "bcd", TOKS("bc", "d")));
    CHECK(encodes_to(b, w, "aaaa", TOKS("aaaa")));      /* whole */
    CHECK(encodes_to(b, w, "aaaaa", TOKS("aaaa", "a"))); /* aa@0, aa@2 (leftmost first), aa+aa */
    CHECK(encodes_to(b, w, "\xC3\xA9" "a\xC3\xA9", TOKS("\xC3\xA9", "a", "\xC3\xA9")));
    /* ab@0 first, then ab+a (256) beats ab@2 (257): one pair at a time */
    CHECK(encodes_to(b, w, "ababc", TOKS("aba", "bc")));

    int32_t m = -1;
    CHECK(bpe_pair_rank(b, 'a', 'b', &m) == 257 && m == 257);
    CHECK(bpe_pair_rank(b, 257, 'a', &m) == 256 && m == 256);
    CHECK(bpe_pair_rank(b, 'c', 'd', &m) == -1 && m == -1);
    CHECK(bpe_pair_add(b, 'a', 'b', 257, 0) == ST_ARG); /* no merge table */
    bpe_work_free(w);
    bpe_free(b);
}

/* ------------------------------------------------------------ CLIP */

TEST(clip_words) {
    /* "Ã©</w>" is é's two byte symbols with the end mark */
    bpe *b = make_clip(TOKS("ab", "aba", "ab</w>", "ca</w>", "aa", "aaaa</w>", "aa</w>", "\xC3\x83\xC2\xA9</w>",
                            "xyz</w>", "abab"), 10);
    CHECK(b != NULL);
    if (!b) return;
    CHECK(merge(b, "a", "b", 1) == 0);
    CHECK(merge(b, "ab", "a", 0) == 0);      /* ill-formed on purpose: ranked before its part */
    CHECK(merge(b, "a", "b</w>", 2) == 0);
    CHECK(merge(b, "c", "a</w>", 3) == 0);
    CHECK(merge(b, "a", "a", 4) == 0);
    CHECK(merge(b, "aa", "aa</w>", 5) == 0);
    CHECK(merge(b, "a", "a</w>", 6) == 0);
    CHECK(merge(b, "\xC3\x83", "\xC2\xA9</w>", 7) == 0);
    bpe_work *w = bpe_work_new();
    const int32_t *ids = NULL;
    size_t n = 99;
    CHECK(bpe_encode(b, w, (const uint8_t *)"", 0, &ids, &n) == 0 && n == 0);
    CHECK(encodes_to(b, w, "a", TOKS("a</w>")));
    CHECK(encodes_to(b, w, "xyz", TOKS("x", "y", "z</w>"))); /* "xyz</w>" exists, no merge reaches it */
    CHECK(encodes_to(b, w, "ca", TOKS("ca</w>")));
    CHECK(encodes_to(b, w, "ab", TOKS("ab</w>")));
    /* a round merges every (a, b) left to right before ab+a (0) is looked at */
    CHECK(encodes_to(b, w, "ababc", TOKS("ab", "ab", "c</w>")));
    CHECK(encodes_to(b, w, "abac", TOKS("aba", "c</w>")));
    CHECK(encodes_to(b, w, "aaaa", TOKS("aaaa</w>")));       /* aa, then aa + aa</w> */
    CHECK(encodes_to(b, w, "aaa", TOKS("aa", "a</w>")));     /* (a, a) beats (a, a</w>) */
    CHECK(encodes_to(b, w, "\xC3\xA9", TOKS("\xC3\x83\xC2\xA9</w>")));
    CHECK(encodes_to(b, w, "\xC3\xA9x", TOKS("\xC3\x83", "\xC2\xA9", "x</w>")));
    CHECK(encodes_to(b, w, " \x01", TOKS("\xC4\xA0", "\xC4\x81</w>"))); /* bytes outside printable Latin-1 */

    /* a repeated pair keeps its last rank */
    CHECK(merge(b, "a", "b", 9) == 0);
    int32_t m = -1;
    CHECK(bpe_pair_rank(b, 'a', 'b', &m) == 9 && m == id_of(b, "ab"));
    CHECK(strcmp(bpe_piece(b, 256 + 'a', NULL), "a</w>") == 0);
    bpe_work_free(w);
    bpe_free(b);
}

/* ------------------------------------------------------------ vocabulary */

TEST(vocabulary) {
    bpe *b = NULL;
    CHECK(bpe_new((bpe_kind)7, &b) == ST_ARG && b == NULL);
    CHECK(bpe_new(BPE_GPT2, &b) == 0);
    if (!b) return;
    uint8_t c = 'q';
    CHECK(bpe_set(b, 5, &c, 1, "v.json") == 0);
    CHECK(bpe_set(b, 5, "r", 1, "v.json") == ST_FORMAT && strstr(status_message(), "v.json"));
    CHECK(bpe_set(b, -1, "r", 1, "v.json") == ST_FORMAT);
    CHECK(bpe_set(b, BPE_MAX_IDS, "r", 1, "v.json") == ST_FORMAT);
    CHECK(bpe_set(b, 6, "", 0, "v.json") == ST_FORMAT);
    CHECK(bpe_size(b) == 6);
    size_t len = 9;
    CHECK(bpe_piece(b, 4, &len) == NULL && len == 0);
    CHECK(bpe_piece(b, 6, NULL) == NULL && bpe_piece(b, -1, NULL) == NULL);
    const char *p = bpe_piece(b, 5, &len);
    CHECK(p && len == 1 && p[0] == 'q' && p[1] == 0);
    CHECK(bpe_find(b, "q", 1) == -1); /* not indexed yet */
    const int32_t *ids;
    size_t n;
    bpe_work *w = bpe_work_new();
    CHECK(bpe_encode(b, w, (const uint8_t *)"q", 1, &ids, &n) == ST_ARG);
    /* a byte without a token */
    CHECK(bpe_index(b, NULL, "v.json") == ST_FORMAT && strstr(status_message(), "byte 0x00"));
    CHECK(!bpe_indexed(b));
    bpe_free(b);

    /* same bytes twice; a skipped (special) id may repeat an indexed one */
    b = make_raw(BPE_GPT2, TOKS("ab"), 1);
    CHECK(b && bpe_indexed(b));
    bpe_free(b);
    CHECK(bpe_new(BPE_TIKTOKEN, &b) == 0);
    for (int i = 0; i < 256; i++) {
        c = (uint8_t)i;
        bpe_set(b, i, &c, 1, "t");
    }
    bpe_set(b, 300, "<|end|>", 7, "t");
    bpe_set(b, 301, "<|end|>", 7, "t");
    CHECK(bpe_index(b, NULL, "t") == ST_FORMAT && strstr(status_message(), "same bytes"));
    uint8_t skip[302] = {0};
    skip[300] = 1;
    CHECK(bpe_index(b, skip, "t") == 0);
    CHECK(bpe_find(b, "<|end|>", 7) == 301);
    CHECK(bpe_piece(b, 300, NULL) && strcmp(bpe_piece(b, 300, NULL), "<|end|>") == 0);
    CHECK(bpe_size(b) == 302);
    CHECK(bpe_set(b, 302, "z", 1, "t") == ST_INTERNAL); /* after indexing */
    /* "<|end|>" is never produced by merging: the skipped id does not count */
    CHECK(bpe_encode(b, w, (const uint8_t *)"<|end|>", 7, &ids, &n) == 0 && n == 1 && ids[0] == 301);
    bpe_free(b);

    /* CLIP: the "</w>" symbols are required */
    CHECK(bpe_new(BPE_CLIP, &b) == 0);
    for (int i = 0; i < 256; i++) {
        char s[8];
        int l = sym((uint8_t)i, s);
        bpe_set(b, i, s, (size_t)l, "vocab.json");
    }
    CHECK(bpe_index(b, NULL, "vocab.json") == ST_FORMAT && strstr(status_message(), "byte symbol"));
    bpe_free(b);
    bpe_work_free(w);
}

TEST(long_word) {
    /* a 100k-byte word: the work area grows, and the result is exact */
    bpe *b = make_raw(BPE_GPT2, TOKS("ab", "abab"), 2);
    CHECK(b != NULL);
    if (!b) return;
    CHECK(merge(b, "a", "b", 0) == 0);
    CHECK(merge(b, "ab", "ab", 1) == 0);
    size_t len = 100001;
    uint8_t *word = malloc(len);
    for (size_t i = 0; i < len; i++) word[i] = i + 1 == len ? 'c' : (i % 2 ? 'b' : 'a');
    bpe_work *w = bpe_work_new();
    const int32_t *ids;
    size_t n = 0;
    CHECK(bpe_encode(b, w, word, len, &ids, &n) == 0);
    /* 50000 "ab" pair up left to right into 25000 "abab", then "c" */
    int ok = n == 25001 && ids[n - 1] == 'c';
    for (size_t i = 0; ok && i + 1 < n; i++) ok = ids[i] == id_of(b, "abab");
    CHECK(ok);
    /* the same work area, then a short word */
    CHECK(encodes_to(b, w, "abc", TOKS("ab", "c")));
    free(word);
    bpe_work_free(w);
    bpe_free(b);
}

/* ------------------------------------------------------------ random cross-check */

/* The reference algorithms, restated plainly (O(n^2)) on the test's own
 * merge list (no engine lookups). */
typedef struct {
    char    str[64][24];  /* token text of the extra tokens (raw bytes or CLIP symbols) */
    int     n_tok;
    int32_t ml[64], mr[64], mm[64], mrank[64]; /* merges: left, right, merged, rank */
    int     n_merge;
} model;

static unsigned rnd_state = 12345;
static unsigned rnd(unsigned n) {
    rnd_state = rnd_state * 1103515245u + 12345u;
    return (rnd_state >> 16) % n;
}

static int32_t naive_rank(const model *m, int32_t l, int32_t r, int32_t *merged) {
    for (int i = 0; i < m->n_merge; i++)
        if (m->ml[i] == l && m->mr[i] == r) { *merged = m->mm[i]; return m->mrank[i]; }
    return -1;
}

/* GPT-2 (HF): merge the lowest-ranked, leftmost pair, one at a time. */
static size_t naive_gpt2(const model *m, const uint8_t *w, size_t len, int32_t *s) {
    size_t n = len;
    for (size_t i = 0; i < len; i++) s[i] = w[i];
    for (;;) {
        size_t best = 0;
        int32_t best_rank = -1, best_m = -1, mg;
        for (size_t i = 0; i + 1 < n; i++) {
            int32_t r = naive_rank(m, s[i], s[i + 1], &mg);
            if (r >= 0 && (best_rank < 0 || r < best_rank)) { best = i; best_rank = r; best_m = mg; }
        }
        if (best_rank < 0) return n;
        s[best] = best_m;
        memmove(s + best + 1, s + best + 2, (n - best - 2) * sizeof *s);
        n--;
    }
}

/* tiktoken byte_pair_merge: rank = id of the concatenated bytes. */
static int32_t naive_tok_id(const bpe *b, const uint8_t *p, size_t len) {
    if (len == 1) return p[0];
    for (int32_t id = 256; id < bpe_size(b); id++) {
        size_t l;
        const char *q = bpe_piece(b, id, &l);
        if (q && l == len && memcmp(q, p, len) == 0) return id;
    }
    return -1;
}

static size_t naive_tiktoken(const bpe *b, const uint8_t *w, size_t len, int32_t *out) {
    int32_t whole = naive_tok_id(b, w, len);
    if (whole >= 0) { out[0] = whole; return 1; }
    size_t start[64], n = len;
    for (size_t i = 0; i <= len; i++) start[i] = i;
    for (;;) {
        size_t best = 0;
        int32_t best_rank = -1;
        for (size_t i = 0; i + 1 < n; i++) {
            int32_t r = naive_tok_id(b, w + start[i], start[i + 2] - start[i]);
            if (r >= 0 && (best_rank < 0 || r < best_rank)) { best = i; best_rank = r; }
        }
        if (best_rank < 0) break;
        memmove(start + best + 1, start + best + 2, (n - best - 1) * sizeof *start);
        n--;
    }
    for (size_t i = 0; i < n; i++) out[i] = naive_tok_id(b, w + start[i], start[i + 1] - start[i]);
    return n;
}

/* simple_tokenizer.bpe: the lowest-ranked pair, every occurrence left to right. */
static size_t naive_clip(const model *m, const uint8_t *w, size_t len, int32_t *s) {
    size_t n = len;
    for (size_t i = 0; i < len; i++) s[i] = i + 1 == len ? 256 + w[i] : w[i];
    int32_t tmp[64];
    for (;;) {
        int32_t best_rank = -1, first = -1, second = -1, merged = -1, mg;
        for (size_t i = 0; i + 1 < n; i++) {
            int32_t r = naive_rank(m, s[i], s[i + 1], &mg);
            if (r >= 0 && (best_rank < 0 || r < best_rank)) { best_rank = r; first = s[i]; second = s[i + 1]; merged = mg; }
        }
        if (best_rank < 0) return n;
        size_t k = 0;
        for (size_t i = 0; i < n;) {
            if (i + 1 < n && s[i] == first && s[i + 1] == second) { tmp[k++] = merged; i += 2; }
            else tmp[k++] = s[i++];
        }
        memcpy(s, tmp, k * sizeof *s);
        n = k;
    }
}

/* Random tokens over the bytes a, b, c, 0xC3, 0xA9 (CLIP: over their
 * symbols, optionally ending in "</w>"), built by concatenating earlier
 * ones; ranks in order (well-formed) or shuffled. */
static bpe *random_model(bpe_kind kind, model *m, int shuffled) {
    static const uint8_t ALPHA[5] = {'a', 'b', 'c', 0xC3, 0xA9};
    memset(m, 0, sizeof *m);
    bpe *b = NULL;
    if (bpe_new(kind, &b)) return NULL;
    int base = kind == BPE_CLIP ? 512 : 256;
    for (int i = 0; i < 256; i++) {
        char s[8];
        int l = kind == BPE_CLIP ? sym((uint8_t)i, s) : (s[0] = (char)i, 1);
        bpe_set(b, i, s, (size_t)l, "r");
        if (kind == BPE_CLIP) {
            memcpy(s + l, "</w>", 4);
            bpe_set(b, 256 + i, s, (size_t)l + 4, "r");
        }
    }
    /* candidate parts: the alphabet's byte ids (CLIP also their end forms) */
    int32_t parts[128];
    int n_parts = 0;
    for (int i = 0; i < 5; i++) {
        parts[n_parts++] = ALPHA[i];
        if (kind == BPE_CLIP) parts[n_parts++] = 256 + ALPHA[i];
    }
    int want = 12 + (int)rnd(30);
    for (int tries = 0; m->n_merge < want && tries < 2000; tries++) {
        int32_t l = parts[rnd((unsigned)n_parts)], r = parts[rnd((unsigned)n_parts)];
        const char *ls = l < base ? bpe_piece(b, l, NULL) : m->str[l - base];
        const char *rs = r < base ? bpe_piece(b, r, NULL) : m->str[r - base];
        if (kind == BPE_CLIP && strstr(ls, "</w>")) continue; /* only a word's last symbol ends in </w> */
        char cat[48];
        if (strlen(ls) + strlen(rs) >= sizeof m->str[0]) continue;
        snprintf(cat, sizeof cat, "%s%s", ls, rs);
        int dup = 0;
        for (int i = 0; i < m->n_merge; i++) dup |= m->ml[i] == l && m->mr[i] == r;
        if (dup) continue;
        int32_t merged = -1;
        for (int i = 0; i < m->n_tok; i++)
            if (strcmp(m->str[i], cat) == 0) merged = base + i;
        if (merged < 0) {
            if (m->n_tok == 64) break;
            merged = base + m->n_tok;
            strcpy(m->str[m->n_tok++], cat);
            parts[n_parts++] = merged;
        } else if (kind == BPE_TIKTOKEN) {
            continue; /* the same bytes: nothing new */
        }
        m->ml[m->n_merge] = l;
        m->mr[m->n_merge] = r;
        m->mm[m->n_merge] = merged;
        m->mrank[m->n_merge] = m->n_merge;
        m->n_merge++;
    }
    if (shuffled)
        for (int i = m->n_merge - 1; i > 0; i--) {
            int j = (int)rnd((unsigned)i + 1);
            int32_t t = m->mrank[i]; m->mrank[i] = m->mrank[j]; m->mrank[j] = t;
        }
    if (kind == BPE_TIKTOKEN) {
        /* rank = id: give the tokens ids in rank order (shuffled or not) */
        char strs[64][24];
        memcpy(strs, m->str, sizeof strs);
        for (int i = 0; i < m->n_merge; i++) strcpy(m->str[m->mrank[i]], strs[m->mm[i] - base]);
    }
    for (int i = 0; i < m->n_tok; i++) bpe_set(b, base + i, m->str[i], strlen(m->str[i]), "r");
    if (bpe_index(b, NULL, "r")) {
        printf("  random model: %s\n", status_message());
        bpe_free(b);
        return NULL;
    }
    if (kind != BPE_TIKTOKEN)
        for (int i = 0; i < m->n_merge; i++) bpe_pair_add(b, m->ml[i], m->mr[i], m->mm[i], m->mrank[i]);
    return b;
}

TEST(random_against_reference) {
    static const bpe_kind KINDS[3] = {BPE_GPT2, BPE_TIKTOKEN, BPE_CLIP};
    static const uint8_t ALPHA[5] = {'a', 'b', 'c', 0xC3, 0xA9};
    bpe_work *w = bpe_work_new();
    int words = 0, bad = 0;
    for (int k = 0; k < 3; k++) {
        for (int v = 0; v < 40; v++) {
            model m;
            bpe *b = random_model(KINDS[k], &m, v % 2);
            CHECK(b != NULL);
            if (!b) continue;
            for (int t = 0; t < 60; t++) {
                uint8_t word[40];
                size_t len = rnd(40);
                for (size_t i = 0; i < len; i++) word[i] = ALPHA[rnd(t % 3 ? 3 : 5)];
                int32_t ref[64];
                size_t nref = KINDS[k] == BPE_GPT2 ? naive_gpt2(&m, word, len, ref)
                            : KINDS[k] == BPE_CLIP ? naive_clip(&m, word, len, ref)
                                                   : naive_tiktoken(b, word, len, ref);
                const int32_t *ids;
                size_t n;
                int st = bpe_encode(b, w, word, len, &ids, &n);
                words++;
                if (st || n != nref || (n && memcmp(ids, ref, n * sizeof *ids) != 0)) {
                    if (bad++ < 5) {
                        printf("  kind %d model %d word", (int)KINDS[k], v);
                        for (size_t i = 0; i < len; i++) printf(" %02x", word[i]);
                        printf(": engine");
                        for (size_t i = 0; !st && i < n; i++) printf(" %d", (int)ids[i]);
                        printf(", reference");
                        for (size_t i = 0; i < nref; i++) printf(" %d", (int)ref[i]);
                        printf("\n");
                    }
                }
            }
            bpe_free(b);
        }
    }
    printf("    %d words, %d differ\n", words, bad);
    CHECK(bad == 0);
    bpe_work_free(w);
}

int main(void) {
    RUN(byte_map);
    RUN(gpt2_merges);
    RUN(tiktoken_ranks);
    RUN(clip_words);
    RUN(vocabulary);
    RUN(long_word);
    RUN(random_against_reference);
    return test_summary();
}
