/* model/text/bpe.h — the byte-pair-encoding engine behind every tokenizer.
 *
 * One engine holds what the CLIP tokenizer (clip_tokenizer.c) and the LM
 * tokenizers (lm_tokenizer.c with tiktoken.c / gpt2bpe.c) share: the
 * vocabulary (id ↔ token bytes, with a hash index), the merge table
 * ((left id, right id) → (rank, merged id)), the byte → first-symbol ids,
 * GPT-2's byte ↔ unicode map, and the priority-queue merge loop. What stays
 * with each tokenizer is everything around it: file formats, text clean-up
 * or normalisation, special tokens and the pre-tokenisation regex; the
 * engine only ever sees one pre-token ("word") at a time.
 *
 * Back ends (bpe_kind), fixed when the engine is made:
 *   BPE_CLIP      openai/CLIP simple_tokenizer. Tokens are stored as their
 *                 vocab.json strings (bytes written through GPT-2's byte →
 *                 unicode map); a word's last symbol is the byte's "…</w>"
 *                 token. Merging runs in rounds like the reference: every
 *                 occurrence of the lowest-ranked pair, left to right, then
 *                 the pairs that round created. A pair listed twice keeps its
 *                 last rank (Python's dict(zip(merges, range(...)))).
 *   BPE_GPT2      GPT-2 byte-level BPE as Hugging Face tokenizers runs it.
 *                 Tokens are raw bytes; rank = merges.txt line; merging takes
 *                 the lowest-ranked pair, leftmost on ties, one at a time. A
 *                 pair listed twice keeps its first rank.
 *   BPE_TIKTOKEN  tiktoken's byte_pair_merge. Tokens are raw bytes and the
 *                 rank of a pair is the rank (= id) of its concatenated bytes;
 *                 no merge table. A word that is itself a token is emitted
 *                 whole without merging.
 * For merge lists made by BPE training (every merge's parts made by earlier
 * merges) the round and one-at-a-time orders give the same result.
 *
 * Building (single-threaded, by a tokenizer's loader):
 *     bpe *b;  bpe_new(BPE_GPT2, &b);
 *     bpe_set(b, id, bytes, len, path);         for every token
 *     bpe_index(b, skip, path);                 hash index + byte symbols
 *     bpe_pair_add(b, left, right, merged, rank);  merge lists only
 * Encoding (any number of threads, one bpe_work each):
 *     bpe_work *w = bpe_work_new();
 *     const int32_t *ids; size_t n;
 *     bpe_encode(b, w, word, len, &ids, &n);    ids valid until w's next use
 *     bpe_work_free(w);
 *
 * Ownership and lifetimes: a bpe owns its copies of every token and table;
 * the tokenizer that made it owns it and frees it with bpe_free. After
 * loading it is read-only, so it may be shared by threads. A bpe_work is
 * scratch memory for one thread; the ids bpe_encode returns live in it until
 * its next bpe_encode or bpe_work_free. Pieces returned by bpe_piece live as
 * long as the bpe, but only once loading is done: bpe_set may move them.
 */
#ifndef SEER_BPE_H
#define SEER_BPE_H

#include <stddef.h>
#include <stdint.h>

typedef enum { BPE_CLIP = 1, BPE_GPT2 = 2, BPE_TIKTOKEN = 3 } bpe_kind;

typedef struct bpe bpe;
typedef struct bpe_work bpe_work;

/* The largest token id bpe_set accepts, plus one. */
#define BPE_MAX_IDS (1 << 28)

/* ------------------------------------------------------------ engine */

/* A new, empty engine of one kind in *out (caller frees with bpe_free).
 * ST_ARG for an unknown kind, ST_NOMEM. */
int  bpe_new(bpe_kind kind, bpe **out);

/* Free an engine and everything it owns; NULL is allowed. */
void bpe_free(bpe *b);

/* ------------------------------------------------------------ vocabulary */

/* Room for ids < n_ids and n_bytes of token text (a hint: bpe_set grows the
 * tables as needed). ST_NOMEM. */
int  bpe_reserve(bpe *b, int32_t n_ids, size_t n_bytes);

/* Assign the bytes of token id (copied; 1 .. 2^20 bytes, id < BPE_MAX_IDS).
 * ST_FORMAT when the id already has a token or is out of range; `where`
 * (a file name) starts the message. Not allowed after bpe_index (ST_INTERNAL). */
int  bpe_set(bpe *b, int32_t id, const void *bytes, size_t len, const char *where);

/* The bytes of token id, NUL-terminated, *len (may be NULL) bytes long, or
 * NULL for an id out of range or never assigned. */
const char *bpe_piece(const bpe *b, int32_t id, size_t *len);

/* Highest assigned id + 1. */
int32_t bpe_size(const bpe *b);

/* Build the bytes → id index over every assigned id except those with
 * skip[id] != 0 (skip may be NULL; else it has bpe_size(b) entries), then
 * find each byte's first symbol: BPE_CLIP the byte's unicode character and
 * that character + "</w>" (for a word's last byte), the others the one-byte
 * token. ST_FORMAT when two indexed ids have the same bytes or a byte symbol
 * is missing (message starts with `where`); ST_NOMEM. */
int  bpe_index(bpe *b, const uint8_t *skip, const char *where);

/* 1 once bpe_index succeeded. */
int  bpe_indexed(const bpe *b);

/* The indexed id of token bytes, or -1 (also -1 before bpe_index). */
int32_t bpe_find(const bpe *b, const void *bytes, size_t len);

/* ------------------------------------------------------------ merges */

/* Room for n merges without growing the table (a hint). ST_NOMEM. */
int  bpe_pairs_reserve(bpe *b, size_t n);

/* Record that (left, right) merges into `merged` with priority `rank`
 * (lower merges first). A pair added twice keeps its last rank for BPE_CLIP
 * and its first for BPE_GPT2. ST_ARG for BPE_TIKTOKEN (it has no table) or
 * an id out of range; ST_NOMEM. */
int  bpe_pair_add(bpe *b, int32_t left, int32_t right, int32_t merged, int32_t rank);

/* Read a merges.txt into b: one "left right" pair per line (two non-empty
 * parts, one space), ranked in file order; a first line starting with
 * `header` (e.g. "#version") is skipped; trailing blank lines are ignored.
 * For each pair, ids() turns the two parts (as written in the file, not
 * NUL-terminated) into the left, right and merged ids, or returns an
 * ST_FORMAT status naming what is missing (path and line are given for the
 * message). ST_NOT_FOUND without the file, ST_FORMAT for a malformed line or
 * a file with no merges, ST_NOMEM. */
typedef int (*bpe_merge_ids_fn)(void *ctx, const char *path, size_t lineno, const char *left, size_t la,
                                const char *right, size_t lb, int32_t *ia, int32_t *ib, int32_t *im);
int  bpe_merges_load(bpe *b, const char *path, const char *header, bpe_merge_ids_fn ids, void *ctx);

/* The rank of the pair (left, right) and in *merged (may be NULL) its
 * merged id, or -1 when the pair does not merge. BPE_TIKTOKEN: the id of
 * the two pieces' concatenated bytes. */
int32_t bpe_pair_rank(const bpe *b, int32_t left, int32_t right, int32_t *merged);

/* ------------------------------------------------------------ encoding */

/* Scratch memory for bpe_encode; NULL when out of memory. */
bpe_work *bpe_work_new(void);
void bpe_work_free(bpe_work *w);

/* BPE of one word: its raw bytes word[0..len) (UTF-8 text for every back
 * end; BPE_CLIP maps the bytes itself). *ids points at *n ids inside w,
 * valid until w is used again; len 0 gives *n = 0. Needs bpe_index.
 * ST_NOMEM (or ST_TOO_LARGE beyond 2^29 bytes); ST_ARG for NULL arguments
 * or an engine not indexed. Thread-safe with one w per thread. */
int  bpe_encode(const bpe *b, bpe_work *w, const uint8_t *word, size_t len, const int32_t **ids, size_t *n);

/* ------------------------------------------------------------ byte map */

/* GPT-2 bytes_to_unicode: the printable Latin-1 bytes (33..126, 161..172,
 * 174..255) map to themselves, the other 68 bytes, in byte order, to
 * U+0100 .. U+0143. */
uint32_t bpe_byte_to_unicode(uint8_t byte);

/* The inverse: the byte whose symbol is code point cp, or -1. */
int  bpe_unicode_to_byte(uint32_t cp);

/* Map a byte-level token string s[0..n) (UTF-8 of mapped symbols) back to
 * raw bytes in out (room for n bytes). Returns the byte count, or -1 when s
 * is not valid UTF-8 or holds a character outside the map. */
long bpe_symbols_to_bytes(const char *s, size_t n, uint8_t *out);

#endif
