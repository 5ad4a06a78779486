/* model/lm_tokenizer_internal.h — shared by lm_tokenizer.c and its two back
 * ends (tiktoken.c, gpt2bpe.c). Internal header, not part of the API.
 *
 * A back end's loader fills the vocabulary with lm_tok_set_piece /
 * lm_tok_add_special and the GPT-2 pair table, then lm_tok_finish indexes
 * it, checks it and compiles the regex. Everything is read-only afterwards.
 */
#ifndef SEER_LM_TOKENIZER_INTERNAL_H
#define SEER_LM_TOKENIZER_INTERNAL_H

#include "lm_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

enum { LM_TOK_ARCADE = 1, LM_TOK_QWEN = 2, LM_TOK_GPT2 = 3 };

#define LM_TOK_NO_PIECE UINT32_MAX /* piece_len of an unassigned id */

typedef struct {
    char    *text;  /* NUL-terminated, malloc'd */
    uint32_t len;
    int32_t  id;
} lm_special;

struct lm_tokenizer {
    int       kind;        /* LM_TOK_* */
    int32_t   n_vocab;     /* len(tokenizer) = highest id + 1 */
    int32_t   vocab_cap;   /* allocated entries of piece_off/piece_len */
    uint8_t  *blob;        /* piece bytes back to back */
    size_t    blob_len, blob_cap;
    uint64_t *piece_off;   /* (vocab_cap) offset in blob */
    uint32_t *piece_len;   /* (vocab_cap) or LM_TOK_NO_PIECE */
    uint8_t  *is_special;  /* (vocab_cap) 1 for special / added tokens */
    size_t    max_piece;

    int32_t  *slots;       /* (slot_cap) ordinary token bytes → id, -1 empty */
    uint32_t  slot_cap;    /* power of two */

    /* GPT-2 only: (left id, right id) → (rank, merged id) */
    uint64_t *pair_keys;   /* (pair_cap) left<<32 | right, UINT64_MAX empty */
    int32_t  *pair_rank, *pair_merged;
    uint32_t  pair_cap;

    int32_t   byte_id[256];
    lm_special *specials;  /* sorted by (first byte, length descending) */
    int       n_specials, specials_cap;
    int       special_first[257]; /* specials with first byte b: [first[b], first[b+1]) */
    int32_t   eos;
    int       nfc;         /* normalise to NFC before encoding */
    int       whole_piece; /* emit a piece that is a token whole (tiktoken) */
    pcre2_code *re;
};

/* Make room for ids < n (grows piece tables, new entries unassigned). */
int lm_tok_reserve(lm_tokenizer *t, int32_t n);

/* Assign bytes to id (an ordinary, BPE-reachable token). ST_FORMAT when the
 * id is already assigned; `where` names the file for the message. */
int lm_tok_set_piece(lm_tokenizer *t, int32_t id, const uint8_t *bytes, size_t len, const char *where);

/* Register a special / added token. If the id already holds the same bytes
 * as an ordinary token it becomes special; different bytes → ST_FORMAT. */
int lm_tok_add_special(lm_tokenizer *t, const char *text, int32_t id, const char *where);

/* The id of ordinary token bytes, or -1 (valid once lm_tok_index ran). */
int32_t lm_tok_find(const lm_tokenizer *t, const uint8_t *bytes, size_t len);

/* Build the bytes → id index; ST_FORMAT on duplicate bytes or a missing
 * byte token. Called by lm_tok_finish, or earlier by a back end that needs
 * lm_tok_find while loading (then lm_tok_finish does not redo it). */
int lm_tok_index(lm_tokenizer *t, const char *where);

/* Index (if not done), sort the specials, compile the regex, find eos. */
int lm_tok_finish(lm_tokenizer *t, const char *where);

/* Slot of a pair key (left id << 32 | right id) in the pair table, or of the
 * empty slot where it goes. */
uint32_t lm_tok_pair_slot(const lm_tokenizer *t, uint64_t key);

/* Back ends (file name = prefix). `path`: the .tiktoken file; `dir`: the
 * directory holding vocab.json + merges.txt. They fill a calloc'd t. */
int tiktoken_load(lm_tokenizer *t, const char *path, int kind);
int gpt2bpe_load(lm_tokenizer *t, const char *dir);

#endif
