/* model/text/bpe.c — see bpe.h.
 *
 * Layout:
 *   blob / piece_off / piece_len   every token's bytes, each followed by a
 *                                  NUL, back to back (NO_PIECE: unassigned);
 *   slots (open addressing, XXH3)  token bytes → id;
 *   pair_* (open addressing)       left << 32 | right → (rank, merged id);
 *   byte_id / byte_end_id          the first symbol of each byte, and of a
 *                                  byte that ends a word (BPE_CLIP "…</w>").
 *
 * The merge loop works on one word's bytes w[0..L). Every byte starts as a
 * symbol; a symbol is named by the offset of its first byte and kept in a
 * linked list (next/prev by offset, next of the last = L) with its token id.
 * A min-heap holds candidate merges ordered by (rank, left offset): the
 * lowest rank first, leftmost on ties. A candidate remembers the offsets of
 * the right symbol and of the symbol after it when it was pushed; once
 * either symbol has changed it is stale and skipped. Merging a candidate
 * pushes the two pairs it makes with its neighbours. BPE_CLIP pops every
 * candidate of the lowest rank as one round before looking at the pairs
 * that round made, the others pop one at a time. At most L - 1 candidates
 * start and each merge pushes two, so the heap never holds more than 3L.
 * O(L log L) per word.
 */
#include "bpe.h"

#include "file.h"
#include "status.h"

#include <utf8proc.h>
#include <xxhash.h>

#include <stdlib.h>
#include <string.h>

#define END_SUFFIX "</w>"
#define NO_PIECE UINT32_MAX      /* piece_len of an unassigned id */
#define NO_PAIR UINT64_MAX       /* an empty pair slot */
#define MAX_PIECE (1u << 20)
#define MAX_WORD ((size_t)1 << 29)

struct bpe {
    bpe_kind  kind;
    int32_t   n_vocab;     /* highest assigned id + 1 */
    int32_t   vocab_cap;   /* entries of piece_off / piece_len */
    char     *blob;        /* pieces, each NUL-terminated */
    size_t    blob_len, blob_cap;
    uint64_t *piece_off;   /* (vocab_cap) offset in blob */
    uint32_t *piece_len;   /* (vocab_cap) or NO_PIECE */

    int32_t  *slots;       /* (slot_cap) id or -1; NULL until bpe_index */
    uint32_t  slot_cap;    /* power of two */

    uint64_t *pair_keys;   /* (pair_cap) left << 32 | right, or NO_PAIR */
    int32_t  *pair_rank;   /* (pair_cap) */
    int32_t  *pair_merged; /* (pair_cap) */
    uint32_t  pair_cap;    /* power of two, or 0 */
    uint32_t  n_pairs;

    int32_t   byte_id[256];
    int32_t   byte_end_id[256]; /* = byte_id except for BPE_CLIP */
};

typedef struct {
    int32_t rank;
    int32_t pos;    /* left symbol's offset */
    int32_t right;  /* right symbol's offset when pushed */
    int32_t end;    /* offset after the right symbol when pushed */
    int32_t merged;
} cand;

struct bpe_work {
    int32_t *id, *next, *prev; /* (cap + 1) by byte offset; id[0..n) is the output */
    cand    *heap, *batch;     /* (3 * (cap + 1)) each */
    size_t   cap;
};

/* ------------------------------------------------------------ byte map */

static int byte_kept(uint32_t b) {
    return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
}

uint32_t bpe_byte_to_unicode(uint8_t byte) {
    uint32_t b = byte;
    if (byte_kept(b)) return b;
    /* the 68 others in order: 0..32, 127..160, 173 */
    if (b <= 32) return 256 + b;
    if (b <= 160) return 256 + 33 + (b - 127);
    return 256 + 67; /* 173 */
}

int bpe_unicode_to_byte(uint32_t cp) {
    if (cp < 256) return byte_kept(cp) ? (int)cp : -1;
    if (cp < 256 + 33) return (int)(cp - 256);
    if (cp < 256 + 67) return (int)(cp - 256 - 33 + 127);
    if (cp == 256 + 67) return 173;
    return -1;
}

long bpe_symbols_to_bytes(const char *s, size_t n, uint8_t *out) {
    /* Every symbol is below U+0144, so one or two UTF-8 bytes; anything
     * longer, or not UTF-8, is outside the map. */
    const uint8_t *p = (const uint8_t *)s;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp = p[i];
        if (cp >= 0x80) {
            if (cp < 0xC2 || cp > 0xDF || i + 1 >= n || (p[i + 1] & 0xC0) != 0x80) return -1;
            cp = (cp & 0x1F) << 6 | (p[i + 1] & 0x3F);
            i += 2;
        } else {
            i++;
        }
        int b = bpe_unicode_to_byte(cp);
        if (b < 0) return -1;
        out[k++] = (uint8_t)b;
    }
    return (long)k;
}

/* ------------------------------------------------------------ engine */

int bpe_new(bpe_kind kind, bpe **out) {
    *out = NULL;
    if (kind != BPE_CLIP && kind != BPE_GPT2 && kind != BPE_TIKTOKEN)
        return status_fail(ST_ARG, "bpe_new: unknown kind %d", (int)kind);
    bpe *b = calloc(1, sizeof *b);
    if (!b) return status_fail(ST_NOMEM, "bpe: out of memory");
    b->kind = kind;
    for (int i = 0; i < 256; i++) b->byte_id[i] = b->byte_end_id[i] = -1;
    *out = b;
    return ST_OK;
}

void bpe_free(bpe *b) {
    if (!b) return;
    free(b->blob);
    free(b->piece_off);
    free(b->piece_len);
    free(b->slots);
    free(b->pair_keys);
    free(b->pair_rank);
    free(b->pair_merged);
    free(b);
}

/* ------------------------------------------------------------ vocabulary */

static uint32_t pow2_at_least(uint64_t n) {
    uint32_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

static int grow_blob(bpe *b, size_t need) {
    if (need <= b->blob_cap) return ST_OK;
    size_t cap = b->blob_cap ? b->blob_cap : 65536;
    while (cap < need) cap *= 2;
    char *p = realloc(b->blob, cap);
    if (!p) return status_fail(ST_NOMEM, "bpe: out of memory for %zu bytes of tokens", need);
    b->blob = p;
    b->blob_cap = cap;
    return ST_OK;
}

int bpe_reserve(bpe *b, int32_t n_ids, size_t n_bytes) {
    if (n_bytes && grow_blob(b, b->blob_len + n_bytes)) return ST_NOMEM;
    if (n_ids <= b->vocab_cap) return ST_OK;
    int32_t cap = b->vocab_cap ? b->vocab_cap : 1024;
    while (cap < n_ids) cap = cap > BPE_MAX_IDS / 2 ? BPE_MAX_IDS : 2 * cap;
    uint64_t *off = realloc(b->piece_off, (size_t)cap * sizeof *off);
    if (off) b->piece_off = off;
    uint32_t *len = realloc(b->piece_len, (size_t)cap * sizeof *len);
    if (len) b->piece_len = len;
    if (!off || !len) return status_fail(ST_NOMEM, "bpe: out of memory for %d tokens", (int)cap);
    for (int32_t i = b->vocab_cap; i < cap; i++) b->piece_len[i] = NO_PIECE;
    b->vocab_cap = cap;
    return ST_OK;
}

int bpe_set(bpe *b, int32_t id, const void *bytes, size_t len, const char *where) {
    if (b->slots) return status_fail(ST_INTERNAL, "bpe: token %d added after indexing", (int)id);
    if (id < 0 || id >= BPE_MAX_IDS) return status_fail(ST_FORMAT, "%s: token id %d out of range", where, (int)id);
    if (len == 0 || len > MAX_PIECE) return status_fail(ST_FORMAT, "%s: token %d has %zu bytes", where, (int)id, len);
    int st;
    if (id >= b->vocab_cap && (st = bpe_reserve(b, id + 1, 0))) return st;
    if (b->piece_len[id] != NO_PIECE) return status_fail(ST_FORMAT, "%s: token id %d is assigned twice", where, (int)id);
    if (b->blob_len + len + 1 > b->blob_cap && (st = grow_blob(b, b->blob_len + len + 1))) return st;
    memcpy(b->blob + b->blob_len, bytes, len);
    b->blob[b->blob_len + len] = 0;
    b->piece_off[id] = b->blob_len;
    b->piece_len[id] = (uint32_t)len;
    b->blob_len += len + 1;
    if (id >= b->n_vocab) b->n_vocab = id + 1;
    return ST_OK;
}

const char *bpe_piece(const bpe *b, int32_t id, size_t *len) {
    if (len) *len = 0;
    if (!b || id < 0 || id >= b->n_vocab || b->piece_len[id] == NO_PIECE) return NULL;
    if (len) *len = b->piece_len[id];
    return b->blob + b->piece_off[id];
}

int32_t bpe_size(const bpe *b) { return b ? b->n_vocab : 0; }

int bpe_indexed(const bpe *b) { return b && b->slots != NULL; }

static inline int32_t find(const bpe *b, const void *bytes, size_t len) {
    uint32_t mask = b->slot_cap - 1;
    uint32_t h = (uint32_t)XXH3_64bits(bytes, len) & mask;
    for (;;) {
        int32_t id = b->slots[h];
        if (id < 0) return -1;
        if (b->piece_len[id] == len && memcmp(b->blob + b->piece_off[id], bytes, len) == 0) return id;
        h = (h + 1) & mask;
    }
}

int32_t bpe_find(const bpe *b, const void *bytes, size_t len) {
    if (!b || !b->slots) return -1;
    return find(b, bytes, len);
}

static int index_byte_symbols(bpe *b, const char *where) {
    for (int c = 0; c < 256; c++) {
        if (b->kind != BPE_CLIP) {
            uint8_t byte = (uint8_t)c;
            b->byte_id[c] = b->byte_end_id[c] = find(b, &byte, 1);
            if (b->byte_id[c] < 0)
                return status_fail(ST_FORMAT, "%s: no token for byte 0x%02x: not a byte-level BPE vocabulary", where, c);
            continue;
        }
        char s[16];
        int len = (int)utf8proc_encode_char((utf8proc_int32_t)bpe_byte_to_unicode((uint8_t)c), (utf8proc_uint8_t *)s);
        b->byte_id[c] = find(b, s, (size_t)len);
        memcpy(s + len, END_SUFFIX, 4);
        b->byte_end_id[c] = find(b, s, (size_t)len + 4);
        if (b->byte_id[c] < 0 || b->byte_end_id[c] < 0) {
            s[len + (b->byte_id[c] < 0 ? 0 : 4)] = 0;
            return status_fail(ST_FORMAT, "%s: byte symbol \"%s\" (byte 0x%02x) is missing: not a CLIP byte-level BPE vocabulary",
                               where, s, c);
        }
    }
    return ST_OK;
}

int bpe_index(bpe *b, const uint8_t *skip, const char *where) {
    if (b->slots) return status_fail(ST_INTERNAL, "bpe: indexed twice");
    uint64_t count = 0;
    for (int32_t id = 0; id < b->n_vocab; id++) count += b->piece_len[id] != NO_PIECE && !(skip && skip[id]);
    uint32_t cap = pow2_at_least(2 * count + 2);
    int32_t *slots = malloc(cap * sizeof *slots);
    if (!slots) return status_fail(ST_NOMEM, "bpe: out of memory for the index of %llu tokens", (unsigned long long)count);
    memset(slots, 0xff, cap * sizeof *slots);
    uint32_t mask = cap - 1;
    for (int32_t id = 0; id < b->n_vocab; id++) {
        if (b->piece_len[id] == NO_PIECE || (skip && skip[id])) continue;
        const char *p = b->blob + b->piece_off[id];
        uint32_t len = b->piece_len[id];
        uint32_t h = (uint32_t)XXH3_64bits(p, len) & mask;
        for (;;) {
            int32_t cur = slots[h];
            if (cur < 0) { slots[h] = id; break; }
            if (b->piece_len[cur] == len && memcmp(b->blob + b->piece_off[cur], p, len) == 0) {
                free(slots);
                return status_fail(ST_FORMAT, "%s: tokens %d and %d have the same bytes", where, (int)cur, (int)id);
            }
            h = (h + 1) & mask;
        }
    }
    b->slots = slots;
    b->slot_cap = cap;
    int st = index_byte_symbols(b, where);
    if (st) {
        free(b->slots);
        b->slots = NULL;
    }
    return st;
}

/* ------------------------------------------------------------ merges */

static inline uint64_t pair_key(int32_t a, int32_t b) {
    return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
}

/* Slot of key, or of the empty slot where it goes (pair_cap > 0). */
static inline uint32_t pair_slot(const uint64_t *keys, uint32_t cap, uint64_t key) {
    uint32_t mask = cap - 1;
    uint64_t x = key;
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27; x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    uint32_t h = (uint32_t)x & mask;
    while (keys[h] != NO_PAIR && keys[h] != key) h = (h + 1) & mask;
    return h;
}

/* Rehash into a table of cap slots (a power of two above 2 * n_pairs). */
static int pairs_resize(bpe *b, uint32_t cap) {
    uint64_t *keys = malloc(cap * sizeof *keys);
    int32_t *rank = malloc(cap * sizeof *rank);
    int32_t *merged = malloc(cap * sizeof *merged);
    if (!keys || !rank || !merged) {
        free(keys); free(rank); free(merged);
        return status_fail(ST_NOMEM, "bpe: out of memory for %u merges", cap / 2);
    }
    memset(keys, 0xff, cap * sizeof *keys);
    for (uint32_t i = 0; i < b->pair_cap; i++) {
        if (b->pair_keys[i] == NO_PAIR) continue;
        uint32_t s = pair_slot(keys, cap, b->pair_keys[i]);
        keys[s] = b->pair_keys[i];
        rank[s] = b->pair_rank[i];
        merged[s] = b->pair_merged[i];
    }
    free(b->pair_keys); free(b->pair_rank); free(b->pair_merged);
    b->pair_keys = keys;
    b->pair_rank = rank;
    b->pair_merged = merged;
    b->pair_cap = cap;
    return ST_OK;
}

int bpe_pairs_reserve(bpe *b, size_t n) {
    if (n > (1u << 30)) return status_fail(ST_NOMEM, "bpe: %zu merges", n);
    uint32_t cap = pow2_at_least(2 * (uint64_t)n);
    return cap > b->pair_cap ? pairs_resize(b, cap) : ST_OK;
}

int bpe_pair_add(bpe *b, int32_t left, int32_t right, int32_t merged, int32_t rank) {
    if (b->kind == BPE_TIKTOKEN) return status_fail(ST_ARG, "bpe: a tiktoken engine has no merge table");
    if (left < 0 || right < 0 || merged < 0 || rank < 0)
        return status_fail(ST_ARG, "bpe_pair_add: negative id or rank (%d %d → %d, rank %d)",
                           (int)left, (int)right, (int)merged, (int)rank);
    if (2 * ((uint64_t)b->n_pairs + 1) > b->pair_cap) {
        int st = bpe_pairs_reserve(b, b->pair_cap ? b->pair_cap : 8);
        if (st) return st;
    }
    uint64_t key = pair_key(left, right);
    uint32_t s = pair_slot(b->pair_keys, b->pair_cap, key);
    if (b->pair_keys[s] == NO_PAIR) {
        b->pair_keys[s] = key;
        b->n_pairs++;
    } else if (b->kind == BPE_GPT2) {
        return ST_OK; /* the first rank wins */
    }
    b->pair_rank[s] = rank;
    b->pair_merged[s] = merged;
    return ST_OK;
}

static inline int32_t pair_lookup(const bpe *b, int32_t left, int32_t right, int32_t *merged) {
    if (!b->pair_cap) return -1;
    uint32_t s = pair_slot(b->pair_keys, b->pair_cap, pair_key(left, right));
    if (b->pair_keys[s] == NO_PAIR) return -1;
    *merged = b->pair_merged[s];
    return b->pair_rank[s];
}

int32_t bpe_pair_rank(const bpe *b, int32_t left, int32_t right, int32_t *merged) {
    int32_t m = -1, rank = -1;
    if (b->kind != BPE_TIKTOKEN) {
        rank = pair_lookup(b, left, right, &m);
    } else if (b->slots) {
        size_t la, lb;
        const char *pa = bpe_piece(b, left, &la), *pb = bpe_piece(b, right, &lb);
        char small[512], *cat = la + lb <= sizeof small ? small : malloc(la + lb);
        if (pa && pb && cat) {
            memcpy(cat, pa, la);
            memcpy(cat + la, pb, lb);
            rank = m = find(b, cat, la + lb);
        }
        if (cat != small) free(cat);
    }
    if (merged) *merged = rank < 0 ? -1 : m;
    return rank;
}

/* ------------------------------------------------------------ encoding */

bpe_work *bpe_work_new(void) { return calloc(1, sizeof(bpe_work)); }

void bpe_work_free(bpe_work *w) {
    if (!w) return;
    free(w->id); free(w->next); free(w->prev); free(w->heap); free(w->batch);
    free(w);
}

static int work_reserve(bpe_work *w, size_t len) {
    if (len <= w->cap) return ST_OK;
    size_t cap = len < 256 ? 256 : len;
    free(w->id); free(w->next); free(w->prev); free(w->heap); free(w->batch);
    w->id = malloc((cap + 1) * sizeof *w->id);
    w->next = malloc((cap + 1) * sizeof *w->next);
    w->prev = malloc((cap + 1) * sizeof *w->prev);
    w->heap = malloc(3 * (cap + 1) * sizeof *w->heap);
    w->batch = malloc(3 * (cap + 1) * sizeof *w->batch);
    w->cap = (w->id && w->next && w->prev && w->heap && w->batch) ? cap : 0;
    return w->cap ? ST_OK : status_fail(ST_NOMEM, "bpe: out of memory for a word of %zu bytes", len);
}

static inline int cand_less(const cand *a, const cand *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static inline void heap_push(cand *h, size_t *n, cand c) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_less(&c, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = c;
}

static inline cand heap_pop(cand *h, size_t *n) {
    cand top = h[0];
    cand last = h[--*n];
    size_t i = 0, m = *n;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, c = i;
        const cand *best = &last;
        if (l < m && cand_less(&h[l], best)) { c = l; best = &h[l]; }
        if (r < m && cand_less(&h[r], best)) c = r;
        if (c == i) break;
        h[i] = h[c];
        i = c;
    }
    if (m) h[i] = last;
    return top;
}

/* Push the candidate merge of the symbol at a with its right neighbour. */
static inline void push_pair(const bpe *b, bpe_work *w, size_t *hn, const uint8_t *word, int32_t len, int32_t a) {
    int32_t r = w->next[a];
    if (r >= len) return;
    int32_t e = w->next[r];
    cand c = {0, a, r, e, -1};
    if (b->kind == BPE_TIKTOKEN) {
        int32_t id = find(b, word + a, (size_t)(e - a));
        if (id < 0) return;
        c.rank = c.merged = id;
    } else if ((c.rank = pair_lookup(b, w->id[a], w->id[r], &c.merged)) < 0) {
        return;
    }
    heap_push(w->heap, hn, c);
}

/* Merge candidate c unless it is stale, and push the new neighbour pairs. */
static inline void merge(const bpe *b, bpe_work *w, size_t *hn, const uint8_t *word, int32_t L, cand c) {
    int32_t a = c.pos, r = c.right;
    if (w->id[a] < 0 || w->next[a] != r || w->id[r] < 0 || w->next[r] != c.end) return; /* stale */
    w->id[a] = c.merged;
    w->id[r] = -1;
    w->next[a] = c.end;
    if (c.end < L) w->prev[c.end] = a;
    if (w->prev[a] >= 0) push_pair(b, w, hn, word, L, w->prev[a]);
    push_pair(b, w, hn, word, L, a);
}

int bpe_encode(const bpe *b, bpe_work *w, const uint8_t *word, size_t len, const int32_t **ids, size_t *n) {
    if (n) *n = 0;
    if (ids) *ids = NULL;
    if (!b || !w || !ids || !n || (!word && len)) return status_fail(ST_ARG, "bpe_encode: NULL argument");
    if (!b->slots) return status_fail(ST_ARG, "bpe_encode: the vocabulary is not indexed");
    if (len > MAX_WORD) return status_fail(ST_TOO_LARGE, "bpe: a word of %zu bytes", len);
    if (len == 0) return ST_OK;
    int st = work_reserve(w, len);
    if (st) return st;
    *ids = w->id;
    if (b->kind == BPE_TIKTOKEN) {
        int32_t whole = find(b, word, len);
        if (whole >= 0) {
            w->id[0] = whole;
            *n = 1;
            return ST_OK;
        }
    }
    int32_t L = (int32_t)len;
    for (int32_t i = 0; i < L; i++) {
        w->id[i] = i + 1 == L ? b->byte_end_id[word[i]] : b->byte_id[word[i]];
        w->next[i] = i + 1;
        w->prev[i] = i - 1;
    }
    size_t hn = 0;
    for (int32_t i = 0; i + 1 < L; i++) push_pair(b, w, &hn, word, L, i);
    if (b->kind != BPE_CLIP) {
        while (hn > 0) merge(b, w, &hn, word, L, heap_pop(w->heap, &hn));
    } else {
        while (hn > 0) {
            /* one round: every candidate of the lowest rank; the heap orders
             * equal ranks by offset, so the batch runs left to right */
            int32_t rank = w->heap[0].rank;
            size_t nb = 0;
            while (hn > 0 && w->heap[0].rank == rank) w->batch[nb++] = heap_pop(w->heap, &hn);
            for (size_t k = 0; k < nb; k++) merge(b, w, &hn, word, L, w->batch[k]);
        }
    }
    /* compact the surviving symbols into id[0..k): k <= i throughout */
    size_t k = 0;
    for (int32_t i = 0; i < L; i = w->next[i]) w->id[k++] = w->id[i];
    *n = k;
    return ST_OK;
}

int bpe_merges_load(bpe *b, const char *path, const char *header, bpe_merge_ids_fn ids, void *ctx) {
    uint8_t *buf = NULL;
    size_t len = 0;
    if (!file_is_regular(path)) return status_fail(ST_NOT_FOUND, "%s: no such file", path);
    int st = file_read(path, (size_t)1 << 30, &buf, &len);
    if (st) return st;
    size_t lines = 1;   /* for the table size */
    for (size_t i = 0; i < len; i++) lines += buf[i] == '\n';
    if ((st = bpe_pairs_reserve(b, lines))) {
        free(buf);
        return st;
    }
    /* Trailing blank lines are ignored (the references strip the file); a
     * blank line before the last merge is an error. */
    size_t end = len;
    while (end > 0 && (buf[end - 1] == '\n' || buf[end - 1] == '\r' || buf[end - 1] == ' ')) end--;
    const size_t hl = strlen(header);
    int32_t rank = 0;
    size_t pos = 0;
    for (size_t lineno = 1; pos < end; lineno++) {
        size_t a = pos, e = pos;
        while (e < end && buf[e] != '\n') e++;
        pos = e + 1;
        if (e > a && buf[e - 1] == '\r') e--;
        if (lineno == 1 && e - a >= hl && memcmp(buf + a, header, hl) == 0) continue;
        size_t sp = a;
        while (sp < e && buf[sp] != ' ') sp++;
        if (sp == a || sp + 1 >= e || memchr(buf + sp + 1, ' ', e - sp - 1)) {
            st = status_fail(ST_FORMAT, "%s:%zu: expected \"left right\" (two symbols, one space), got \"%.*s\"",
                             path, lineno, (int)(e - a > 80 ? 80 : e - a), (const char *)buf + a);
            break;
        }
        int32_t ia, ib, im;
        if ((st = ids(ctx, path, lineno, (const char *)buf + a, sp - a, (const char *)buf + sp + 1, e - sp - 1, &ia,
                      &ib, &im)))
            break;
        if ((st = bpe_pair_add(b, ia, ib, im, rank++))) break;
    }
    free(buf);
    if (!st && rank == 0) st = status_fail(ST_FORMAT, "%s: no merges", path);
    return st;
}
