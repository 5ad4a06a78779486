/* model/clip_tokenizer.h — the CLIP byte-level BPE text tokenizer.
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
 *   1. clean-up (clip_tokenizer_clean): a subset of ftfy.fix_text (below),
 *      html.unescape twice, strip, collapse whitespace runs to one ' ', strip,
 *      full Unicode lower-casing (Python str.lower());
 *   2. pre-tokenisation with the CLIP regex (PCRE2, UTF + UCP, caseless):
 *      <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
 *      with \s spelled out as Unicode White_Space (PCRE2 also counts U+180E)
 *      and U+0345 dropped like a space (what Python's `regex` does with it
 *      under IGNORECASE); every assigned code point was checked against the
 *      Python reference (tests/reference/clip_tokenizer_ref.py --all);
 *   3. each piece: its UTF-8 bytes through the GPT-2 byte→unicode map, "</w>"
 *      on the last symbol, then BPE (lowest-rank pair first, every occurrence
 *      of it left to right, until no ranked pair is left); the two special
 *      strings map straight to their ids;
 *   4. [sot] + ids + [eot], cut to max_ids with the last id forced to eot.
 *
 * The ftfy subset implemented (ftfy 6 defaults, looped to a fixed point like
 * fix_and_explain): unescape_html in "auto" mode (only when the text has no
 * '<'; entities must end in ';'), fix_c1_controls (U+0080..U+009F read as
 * windows-1252), fix_latin_ligatures, fix_character_width (U+FF01..U+FFEF
 * to their NFKC form, U+3000 to ' '), uncurl_quotes (U+02BC, U+2018..U+201B
 * to '\'', U+201C..U+201F to '"'), fix_line_breaks, remove_terminal_escapes,
 * remove_control_chars and NFC normalisation.
 *
 * NOT reproduced (text hitting these may tokenise differently from openai):
 *   - fix_encoding: no mojibake repair ("cafÃ©" stays "cafÃ©", ftfy makes it
 *     "café"), and none of its sub-steps restore_byte_a0,
 *     replace_lossy_sequences, decode_inconsistent_utf8;
 *   - fix_surrogates: not needed, valid UTF-8 cannot hold surrogates;
 *   - ftfy's per-line segmentation and max_decode_length (the whole text is
 *     fixed as one segment; no difference known for the steps above);
 *   - HTML entities: a built-in table (all Latin-1 names, the HTML4 quotes,
 *     dashes, arrows, currency, OElig/Scaron/... and a few others) rather
 *     than Python's full 2,231-entry html5 table; a name outside the table is
 *     left as written (or, like html.unescape, its longest Latin-1 "legacy"
 *     prefix is decoded). ftfy's upper-case variants ("&EACUTE;") are not
 *     recognised. Numeric references follow html.unescape exactly
 *     (windows-1252 for 0x80..0x9F, U+FFFD for 0/surrogates/out of range,
 *     the "invalid" control code points removed).
 *   - Lower-casing is utf8proc's simple mapping plus the two context-free
 *     and Final_Sigma rules Python applies (U+0130 → "i\u0307", Σ → ς at a
 *     word end); Unicode versions of utf8proc and of Python may differ.
 * Input must be valid UTF-8 (ST_ARG otherwise); Python would never see such
 * a string.
 *
 * Ownership and thread-safety: the tokenizer is immutable after load; any
 * number of threads may call encode/clean/token on one tokenizer at once
 * (encode allocates its scratch per call). Strings returned by
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

/* Step 1 alone: the cleaned, lower-cased text as a malloc'd NUL-terminated
 * UTF-8 string in *out (caller frees). Needs no tokenizer. ST_ARG for
 * invalid UTF-8. */
int  clip_tokenizer_clean(const char *text, char **out);

/* Decode ids back to text the way simple_tokenizer.decode does: concatenate
 * the token strings, map the symbols back to bytes, turn each "</w>" into a
 * space. Special tokens are written as their strings; unknown ids are
 * skipped. *out is malloc'd (caller frees). Byte sequences that are not valid
 * UTF-8 are copied as they are. */
int  clip_tokenizer_decode(const clip_tokenizer *tok, const int32_t *ids, int n_ids, char **out);

#endif
