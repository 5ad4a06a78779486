/* model/text/clip_tokenizer.h — the CLIP byte-level BPE text tokenizer.
 *
 * Reproduces openai/CLIP `simple_tokenizer.py` + `clip.tokenize(truncate=True)`
 * (docs/model-spec.md §A5) from a Hugging Face CLIP model directory's `vocab.json` and
 * `merges.txt`:
 *
 *     clip_tokenizer *tok;
 *     if (clip_tokenizer_load("models/clip-vit-base-patch32", &tok)) {
 *         fprintf(stderr, "seer: %s\n", status_message()); return 1;
 *     }
 *     int32_t ids[77]; int n;
 *     if (clip_tokenizer_encode(tok, "a photo of a cat", ids, 77, &n) == 0)
 *         ;   // ids = 49406 320 1125 539 320 2368 49407, n = 7
 *     clip_tokenizer_free(tok);
 *
 * Pipeline of clip_tokenizer_encode:
 *   1. clean-up (text_clean.h, also clip_tokenizer_clean): a subset of
 *      ftfy.fix_text, html.unescape twice, strip, collapse whitespace runs to
 *      one ' ', strip, full Unicode lower-casing (Python str.lower()); what
 *      of ftfy is and is not reproduced is listed in text_clean.h;
 *   2. pre-tokenisation with the CLIP regex (PCRE2, UTF + UCP, caseless):
 *      <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
 *      with \s spelled out as Unicode White_Space (PCRE2 also counts U+180E)
 *      and U+0345 dropped like a space (what Python's `regex` does with it
 *      under IGNORECASE); every assigned code point was checked against the
 *      Python reference (tests/reference/clip_tokenizer_ref.py --all);
 *   3. each piece: BPE by the shared engine (bpe.h, back end BPE_CLIP): its
 *      UTF-8 bytes through the GPT-2 byte→unicode map, "</w>" on the last
 *      symbol, then lowest-rank pair first, every occurrence of it left to
 *      right, until no ranked pair is left; the two special strings map
 *      straight to their ids;
 *   4. [sot] + ids + [eot], cut to max_ids with the last id forced to eot.
 * Input must be valid UTF-8 (ST_ARG otherwise); Python would never see such
 * a string.
 *
 * Ownership and thread-safety: a clip_tokenizer owns its BPE engine (the
 * vocabulary and merges) and its compiled regex, and is immutable after
 * load; any number of threads may call encode/clean/token on one tokenizer
 * at once (encode allocates its scratch per call). Strings returned by
 * clip_tokenizer_token live as long as the tokenizer.
 */
#ifndef SEER_CLIP_TOKENIZER_H
#define SEER_CLIP_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct clip_tokenizer clip_tokenizer;

/* The context length of every released CLIP model. */
#define CLIP_TOKENIZER_CONTEXT 77

/* Load vocab.json + merges.txt from a Hugging Face CLIP model directory.
 * Validates both files: ST_NOT_FOUND for a missing file, ST_FORMAT (message
 * names the file and line) for malformed JSON, non-integer or duplicate ids,
 * a merges line that is not "a b", a merge whose parts or result are not in
 * the vocabulary, or a vocabulary lacking the 512 byte symbols or the
 * <|startoftext|>/<|endoftext|> tokens. On success *out is owned by the
 * caller (clip_tokenizer_free). */
int  clip_tokenizer_load(const char *dir, clip_tokenizer **out);

/* Free a tokenizer; NULL is allowed. */
void clip_tokenizer_free(clip_tokenizer *tok);

/* Encode text as [49406, ..., 49407]; at most max_ids ids (77 for CLIP): when
 * longer, keep the first max_ids and force the last to the end token.
 * Writes *n_ids. ids has room for max_ids (>= 2, else ST_ARG). Thread-safe on
 * a shared tokenizer. ST_ARG for NULL or invalid-UTF-8 text. Stops BPE once
 * max_ids ids are known, so a huge text costs only its clean-up. */
int  clip_tokenizer_encode(const clip_tokenizer *tok, const char *text, int32_t *ids, int max_ids, int *n_ids);

/* The token string of an id (byte-level symbols, "</w>" suffix), or NULL. */
const char *clip_tokenizer_token(const clip_tokenizer *tok, int32_t id);

/* The id of a token string (as clip_tokenizer_token returns it), or -1. */
int32_t clip_tokenizer_id(const clip_tokenizer *tok, const char *token);

/* Number of ids (49408 for CLIP). */
int32_t clip_tokenizer_vocab_size(const clip_tokenizer *tok);

int32_t clip_tokenizer_sot(const clip_tokenizer *tok);  /* 49406 (-1 for NULL) */
int32_t clip_tokenizer_eot(const clip_tokenizer *tok);  /* 49407 (-1 for NULL) */

/* Step 1 alone (text_clean with this tokenizer's message prefix): the
 * cleaned, lower-cased text as a malloc'd NUL-terminated UTF-8 string in
 * *out (caller frees). Needs no tokenizer. ST_ARG for invalid UTF-8. */
int  clip_tokenizer_clean(const char *text, char **out);

/* Decode ids back to text the way simple_tokenizer.decode does: concatenate
 * the token strings, map the symbols back to bytes, turn each "</w>" into a
 * space. Special tokens are written as their strings; unknown ids are
 * skipped, and a character outside the byte map becomes '?'. *out is malloc'd (caller frees). Byte sequences that are not valid
 * UTF-8 are copied as they are. */
int  clip_tokenizer_decode(const clip_tokenizer *tok, const int32_t *ids, int n_ids, char **out);

#endif
