/* model/text/bert_tokenizer.c — BERT WordPiece (see bert_tokenizer.h). */
#include "bert_tokenizer.h"
#include "file.h"
#include "jsonx.h"
#include "status.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <utf8proc.h>
#include <xxhash.h>

#define MAX_WORD_CHARS 100

struct bert_tokenizer {
    char    *blob;          /* every token, NUL-terminated, back to back */
    size_t  *off;           /* (n) offset of token id in blob */
    uint32_t *len;          /* (n) its length in bytes */
    int32_t  n;
    int32_t *slots;         /* (cap) hash table of ids, -1 = empty */
    size_t   cap;
    int32_t  cls, sep, unk;
    int32_t  special[5];    /* [PAD] [UNK] [CLS] [SEP] [MASK] or -1 */
    int      lower, strip_accents, chinese;
};

static const char *SPECIAL[5] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};

/* ------------------------------------------------------------- vocabulary */

static int32_t find(const bert_tokenizer *t, const char *s, size_t n) {
    size_t h = (size_t)XXH3_64bits(s, n) & (t->cap - 1);
    for (;; h = (h + 1) & (t->cap - 1)) {
        int32_t id = t->slots[h];
        if (id < 0) return -1;
        if (t->len[id] == n && !memcmp(t->blob + t->off[id], s, n)) return id;
    }
}

/* Insert id; a token already present takes the later id (Python dict). */
static void insert(bert_tokenizer *t, int32_t id) {
    const char *s = t->blob + t->off[id];
    size_t n = t->len[id];
    size_t h = (size_t)XXH3_64bits(s, n) & (t->cap - 1);
    for (;; h = (h + 1) & (t->cap - 1)) {
        int32_t o = t->slots[h];
        if (o < 0 || (t->len[o] == n && !memcmp(t->blob + t->off[o], s, n))) {
            t->slots[h] = id;
            return;
        }
    }
}

void bert_tokenizer_free(bert_tokenizer *t) {
    if (!t) return;
    free(t->blob);
    free(t->off);
    free(t->len);
    free(t->slots);
    free(t);
}

int bert_tokenizer_load_vocab(const char *path, bert_tokenizer **out) {
    *out = NULL;
    uint8_t *buf;
    size_t n;
    int st = file_read(path, (size_t)1 << 28, &buf, &n);
    if (st) return st;
    bert_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        free(buf);
        return status_fail(ST_NOMEM, "out of memory");
    }
    t->lower = 1, t->strip_accents = -1, t->chinese = 1;
    /* lines: universal newlines (\n, \r\n, \r), as Python's text mode */
    size_t lines = 0;
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '\n' || (buf[i] == '\r' && (i + 1 >= n || buf[i + 1] != '\n'))) lines++;
    if (n && buf[n - 1] != '\n' && buf[n - 1] != '\r') lines++;
    if (lines == 0 || lines > INT32_MAX / 2) {
        st = status_fail(ST_FORMAT, "%s: empty vocabulary", path);
        goto fail;
    }
    t->blob = malloc(n + lines + 1);
    t->off = malloc(lines * sizeof *t->off);
    t->len = malloc(lines * sizeof *t->len);
    for (t->cap = 16; t->cap < 2 * lines; t->cap *= 2) {}
    t->slots = malloc(t->cap * sizeof *t->slots);
    if (!t->blob || !t->off || !t->len || !t->slots) {
        st = status_fail(ST_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    memset(t->slots, 0xff, t->cap * sizeof *t->slots);
    size_t w = 0, i = 0;
    while (i < n && t->n < (int32_t)lines) {
        size_t j = i;
        while (j < n && buf[j] != '\n' && buf[j] != '\r') j++;
        if (utf8proc_decompose((const utf8proc_uint8_t *)buf + i, (utf8proc_ssize_t)(j - i), NULL, 0, 0) < 0) {
            st = status_fail(ST_FORMAT, "%s:%d: not valid UTF-8", path, t->n + 1);
            goto fail;
        }
        memcpy(t->blob + w, buf + i, j - i);
        t->off[t->n] = w, t->len[t->n] = (uint32_t)(j - i);
        w += j - i;
        t->blob[w++] = 0;
        insert(t, t->n);
        t->n++;
        if (j < n && buf[j] == '\r' && j + 1 < n && buf[j + 1] == '\n') j++;
        i = j + 1;
    }
    for (int k = 0; k < 5; k++) t->special[k] = find(t, SPECIAL[k], strlen(SPECIAL[k]));
    t->unk = t->special[1], t->cls = t->special[2], t->sep = t->special[3];
    if (t->cls < 0 || t->sep < 0 || t->unk < 0) {
        st = status_fail(ST_FORMAT, "%s: the vocabulary lacks [CLS], [SEP] or [UNK] (not a BERT vocab.txt?)", path);
        goto fail;
    }
    free(buf);
    *out = t;
    return ST_OK;
fail:
    free(buf);
    bert_tokenizer_free(t);
    return st;
}

int bert_tokenizer_load(const char *dir, bert_tokenizer **out) {
    char path[4096];
    int st = file_join(path, sizeof path, dir, "vocab.txt");
    if (st || (st = bert_tokenizer_load_vocab(path, out))) return st;
    if (file_join(path, sizeof path, dir, "tokenizer_config.json") == ST_OK && access(path, F_OK) == 0) {
        json_t *c;
        if ((st = jsonx_load(path, &c))) {
            bert_tokenizer_free(*out);
            *out = NULL;
            return st;
        }
        json_t *v = json_object_get(c, "do_lower_case");
        if (json_is_boolean(v)) (*out)->lower = json_is_true(v);
        v = json_object_get(c, "strip_accents");
        if (json_is_boolean(v)) (*out)->strip_accents = json_is_true(v);
        v = json_object_get(c, "tokenize_chinese_chars");
        if (json_is_boolean(v)) (*out)->chinese = json_is_true(v);
        json_decref(c);
    }
    return ST_OK;
}

const char *bert_tokenizer_token(const bert_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n ? t->blob + t->off[id] : NULL;
}

int32_t bert_tokenizer_size(const bert_tokenizer *t) { return t->n; }

/* ------------------------------------------------------------ characters */

typedef struct {
    int32_t *c;
    size_t   n, cap;
} cps;

static int push(cps *a, int32_t c) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 64;
        int32_t *p = realloc(a->c, cap * sizeof *p);
        if (!p) return status_fail(ST_NOMEM, "out of memory");
        a->c = p, a->cap = cap;
    }
    a->c[a->n++] = c;
    return ST_OK;
}

/* Python str.lower() of one character appended to a. */
static int push_lower(cps *a, int32_t c) {
    if (c == 0x130) return push(a, 'i') || push(a, 0x307);
    return push(a, utf8proc_tolower(c));
}

static int is_cat_c(int32_t c) {
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_CN: case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS: case UTF8PROC_CATEGORY_CO:
        return 1;
    default:
        return 0;
    }
}

/* transformers' _is_whitespace */
static int bert_space(int32_t c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || utf8proc_category(c) == UTF8PROC_CATEGORY_ZS;
}

/* Python str.isspace() (what str.split() splits on) */
static int py_space(int32_t c) {
    return (c >= 0x9 && c <= 0xd) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f ||
           c == 0x3000;
}

static int is_cjk(int32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static int is_punct(int32_t c) {
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return 1;
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS: case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF: case UTF8PROC_CATEGORY_PO:
        return 1;
    default:
        return 0;
    }
}

/* UTF-8 of a[0..n) into buf (4n + 1 bytes), NUL-terminated; returns length. */
static size_t to_utf8(const int32_t *a, size_t n, char *buf) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += (size_t)utf8proc_encode_char(a[i], (utf8proc_uint8_t *)buf + k);
    buf[k] = 0;
    return k;
}

/* Normalise a[0..n) (NFC or NFD) into out (replacing its contents). */
static int normalize(const int32_t *a, size_t n, int nfd, cps *out) {
    char *u = malloc(4 * n + 1);
    if (!u) return status_fail(ST_NOMEM, "out of memory");
    to_utf8(a, n, u);
    utf8proc_uint8_t *r = nfd ? utf8proc_NFD((utf8proc_uint8_t *)u) : utf8proc_NFC((utf8proc_uint8_t *)u);
    free(u);
    if (!r) return status_fail(ST_NOMEM, "out of memory");
    out->n = 0;
    int st = ST_OK;
    for (const utf8proc_uint8_t *p = r; *p && !st;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(p, -1, &c);
        if (k <= 0) break;
        st = push(out, c);
        p += k;
    }
    free(r);
    return st;
}

/* ------------------------------------------------------------- encoding */

typedef struct {
    const bert_tokenizer *t;
    int32_t *ids;
    int      max_pieces, n, n_full;
    char    *buf;     /* scratch for WordPiece lookups: 4 * MAX_WORD_CHARS + 3 */
} emit;

static void emit_id(emit *e, int32_t id) {
    if (e->n < e->max_pieces) e->ids[1 + e->n++] = id;
    e->n_full++;
}

/* WordPiece of one word a[0..n). */
static void wordpiece(emit *e, const int32_t *a, size_t n) {
    if (n == 0) return;
    if (n > MAX_WORD_CHARS) {
        emit_id(e, e->t->unk);
        return;
    }
    int32_t found[MAX_WORD_CHARS];
    int nf = 0;
    for (size_t start = 0; start < n;) {
        int32_t id = -1;
        size_t end = n;
        for (; end > start; end--) {
            size_t k = 0;
            if (start > 0) e->buf[0] = '#', e->buf[1] = '#', k = 2;
            k += to_utf8(a + start, end - start, e->buf + k);
            if ((id = find(e->t, e->buf, k)) >= 0) break;
        }
        if (id < 0) {
            emit_id(e, e->t->unk);
            return;
        }
        found[nf++] = id;
        start = end;
    }
    for (int i = 0; i < nf; i++) emit_id(e, found[i]);
}

/* One whitespace-delimited word of a segment: lower + strip accents, split
 * on punctuation, WordPiece each part. */
static int word(emit *e, const int32_t *a, size_t n, cps *w1, cps *w2) {
    const bert_tokenizer *t = e->t;
    int st = ST_OK;
    w1->n = 0;
    for (size_t i = 0; i < n && !st; i++) st = t->lower ? push_lower(w1, a[i]) : push(w1, a[i]);
    if (st) return st;
    if ((t->lower && t->strip_accents != 0) || t->strip_accents == 1) {
        if ((st = normalize(w1->c, w1->n, 1, w2))) return st;
        w1->n = 0;
        for (size_t i = 0; i < w2->n && !st; i++)
            if (utf8proc_category(w2->c[i]) != UTF8PROC_CATEGORY_MN) st = push(w1, w2->c[i]);
        if (st) return st;
    }
    size_t s = 0;
    for (size_t i = 0; i < w1->n; i++)
        if (is_punct(w1->c[i])) {
            wordpiece(e, w1->c + s, i - s);
            wordpiece(e, w1->c + i, 1);
            s = i + 1;
        }
    wordpiece(e, w1->c + s, w1->n - s);
    return ST_OK;
}

/* A segment between special tokens (already lower-cased per character). */
static int segment(emit *e, const int32_t *a, size_t n, cps *s1, cps *s2, cps *w1, cps *w2) {
    int st = ST_OK;
    s1->n = 0;
    for (size_t i = 0; i < n && !st; i++) {
        int32_t c = a[i];
        if (c == 0 || c == 0xFFFD || (c != '\t' && c != '\n' && c != '\r' && is_cat_c(c))) continue;
        if (bert_space(c)) st = push(s1, ' ');
        else if (e->t->chinese && is_cjk(c)) st = push(s1, ' ') || push(s1, c) || push(s1, ' ');
        else st = push(s1, c);
    }
    if (st || (st = normalize(s1->c, s1->n, 0, s2))) return st;
    size_t i = 0;
    while (i < s2->n && !st) {
        while (i < s2->n && py_space(s2->c[i])) i++;
        size_t j = i;
        while (j < s2->n && !py_space(s2->c[j])) j++;
        if (j > i) st = word(e, s2->c + i, j - i, w1, w2);
        i = j;
    }
    return st;
}

/* Length of the special token starting at a[i] (0: none); its id in *id. */
static size_t special_at(const bert_tokenizer *t, const int32_t *a, size_t n, size_t i, int32_t *id) {
    if (a[i] != '[') return 0;
    for (int k = 0; k < 5; k++) {
        size_t L = strlen(SPECIAL[k]);
        if (t->special[k] < 0 || i + L > n) continue;
        size_t j = 0;
        while (j < L && a[i + j] == (unsigned char)SPECIAL[k][j]) j++;
        if (j == L) {
            *id = t->special[k];
            return L;
        }
    }
    return 0;
}

int bert_tokenizer_encode(const bert_tokenizer *t, const char *text, int32_t *ids, int max_ids, int *n,
                          int *n_full) {
    *n = 0;
    if (!text) return status_fail(ST_ARG, "bert tokenizer: NULL text");
    if (max_ids < 2) return status_fail(ST_ARG, "bert tokenizer: room for %d ids (at least 2 needed)", max_ids);
    cps all = {0}, seg = {0}, s1 = {0}, s2 = {0}, w1 = {0}, w2 = {0};
    int st = ST_OK;
    size_t len = strlen(text);
    for (size_t p = 0; p < len && !st;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)text + p, (utf8proc_ssize_t)(len - p), &c);
        if (k <= 0) {
            st = status_fail(ST_ARG, "text is not valid UTF-8 (byte %zu)", p);
            break;
        }
        st = push(&all, c);
        p += (size_t)k;
    }
    emit e = {t, ids, max_ids - 2, 0, 0, malloc(4 * MAX_WORD_CHARS + 3)};
    if (!st && !e.buf) st = status_fail(ST_NOMEM, "out of memory");
    for (size_t i = 0; i < all.n && !st;) {
        int32_t sid;
        size_t L = special_at(t, all.c, all.n, i, &sid);
        if (L) {
            emit_id(&e, sid);
            i += L;
            continue;
        }
        seg.n = 0;
        for (; i < all.n && !special_at(t, all.c, all.n, i, &sid) && !st; i++)
            st = t->lower ? push_lower(&seg, all.c[i]) : push(&seg, all.c[i]);
        if (!st) st = segment(&e, seg.c, seg.n, &s1, &s2, &w1, &w2);
    }
    if (!st) {
        ids[0] = t->cls;
        ids[1 + e.n] = t->sep;
        *n = e.n + 2;
        if (n_full) *n_full = e.n_full + 2;
    }
    free(e.buf);
    free(all.c), free(seg.c), free(s1.c), free(s2.c), free(w1.c), free(w2.c);
    return st;
}
