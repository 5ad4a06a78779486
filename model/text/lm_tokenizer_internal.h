/* model/text/lm_tokenizer_internal.h — shared by lm_tokenizer.c and its
 * back ends (tiktoken.c, gpt2bpe.c, sentencepiece.c). Internal header, not
 * part of the API.
 *
 * The vocabulary, its index, the GPT-2 merge table and the merge loop are a
 * BPE engine (bpe.h) that the tokenizer owns: BPE_TIKTOKEN for the
 * .tiktoken files, BPE_GPT2 for vocab.json + merges.txt. Every token is kept
 * as its raw bytes (GPT-2's byte→unicode symbols are mapped back at load);
 * special / added tokens are in the engine's vocabulary too (so ids map to
 * pieces) but are left out of its index, so BPE never produces them.
 *
 * A back end's loader fills the vocabulary with lm_tok_set_piece /
 * lm_tok_add_special and the GPT-2 merges with bpe_pair_add, then
 * lm_tok_finish indexes it, checks it and compiles the regex. Everything is
 * read-only afterwards.
 */
#ifndef SEER_LM_TOKENIZER_INTERNAL_H
#define SEER_LM_TOKENIZER_INTERNAL_H

#include "lm_tokenizer.h"

#include "bpe.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

typedef enum { LM_TOK_ARCADE = 1, LM_TOK_QWEN = 2, LM_TOK_GPT2 = 3, LM_TOK_SPM = 4 } lm_tokenizer_family;

struct spm;

typedef struct {
    char    *text;  /* NUL-terminated, malloc'd */
    uint32_t len;
    int32_t  id;
} lm_special;

struct lm_tokenizer {
    lm_tokenizer_family kind;
    bpe      *bpe;         /* owned: every token's bytes, the index, the merges */
    uint8_t  *is_special;  /* (special_cap) 1 for special / added tokens */
    int32_t   special_cap; /* >= bpe_size(bpe) */
    size_t    max_piece;

    lm_special *specials;  /* sorted by (first byte, length descending) */
    int       n_specials, specials_cap;
    int       special_first[257]; /* specials with first byte b: [first[b], first[b+1]) */
    int32_t   eos;
    int       nfc;         /* normalise to NFC before encoding */
    pcre2_code *re;        /* owned; NULL for LM_TOK_SPM */
    int32_t   bos;         /* LM_TOK_SPM: <s>; -1 for the byte-level BPE families */
    struct spm *spm;       /* LM_TOK_SPM: the library's processor (owned); encodes */
    uint8_t  *dummy_ws;    /* LM_TOK_SPM (bpe_size): 1 for a normal piece, whose leading
                              space is SentencePiece's dummy prefix at the start of a decode */
};

/* Make room for ids < n (the engine's tables and is_special; new ids are
 * unassigned and not special). */
int lm_tok_reserve(lm_tokenizer *t, int32_t n);

/* Assign bytes to id (bpe_set; an ordinary, BPE-reachable token unless
 * lm_tok_add_special marks it). ST_FORMAT when the id is already assigned;
 * `where` names the file for the message. */
int lm_tok_set_piece(lm_tokenizer *t, int32_t id, const uint8_t *bytes, size_t len, const char *where);

/* Register a special / added token. If the id already holds the same bytes
 * as an ordinary token it becomes special; different bytes → ST_FORMAT. */
int lm_tok_add_special(lm_tokenizer *t, const char *text, int32_t id, const char *where);

/* Index the ordinary tokens (bpe_index, specials skipped); ST_FORMAT on
 * duplicate bytes or a missing byte token. Called by lm_tok_finish, or
 * earlier by a back end that needs bpe_find while loading (then
 * lm_tok_finish does not redo it). */
int lm_tok_index(lm_tokenizer *t, const char *where);

/* Index (if not done), sort the specials, compile the regex, find eos. */
int lm_tok_finish(lm_tokenizer *t, const char *where);

/* Back ends (file name = prefix). `path`: the .tiktoken file; `dir`: the
 * directory holding vocab.json + merges.txt. They fill a calloc'd t whose
 * t->bpe is a new engine of the matching kind. */
int tiktoken_load(lm_tokenizer *t, const char *path, int kind);
int gpt2bpe_load(lm_tokenizer *t, const char *dir);
/* `path`: a SentencePiece tokenizer.model (LLaMA-2): t->spm, the piece
 * table (surface bytes: U+2581 → space, <0xXX> → the byte), specials
 * (control pieces), bos/eos. Does not call lm_tok_finish (no regex). */
int sentencepiece_load(lm_tokenizer *t, const char *path);

#endif
