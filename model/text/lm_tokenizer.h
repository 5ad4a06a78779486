/* model/text/lm_tokenizer.h — the language-model tokenizers of MoE-LLaVA and
 * LLaMA-2.
 *
 * One API over the two byte-level BPE families the MoE-LLaVA chat models use
 * (docs/model-spec.md §B6) and SentencePiece (LLaMA-2's `tokenizer.model`,
 * back end model/text/sentencepiece.c over Debian's libsentencepiece, see
 * spm.h for why; picked when the directory has tokenizer.model and no
 * .tiktoken file). SentencePiece encoding is the library's Encode of the
 * whole text (dummy-prefix ▁, spaces → ▁, score-ordered BPE merges, byte
 * fallback <0xXX>, unk): steps 2-5 below do not apply, no special token is
 * split out of the text (a literal "<s>" is text, as upstream), and BOS is
 * never added (lm_tokenizer_bos gives its id). Decoding maps ▁ to a space
 * and byte pieces to their byte; the first normal piece of a stream loses
 * its leading space (the dummy prefix), as SentencePiece's Decode does.
 * The byte-level families:
 *   - tiktoken (`arcade100k.tiktoken` for StableLM-2, `qwen.tiktoken` for
 *     Qwen-1): back end in model/text/tiktoken.c;
 *   - GPT-2 byte-level BPE (`vocab.json` + `merges.txt` + `added_tokens.json`
 *     for Phi-2): back end in model/text/gpt2bpe.c.
 * Both load into the shared BPE engine (bpe.h: BPE_TIKTOKEN / BPE_GPT2).
 *
 *     lm_tokenizer *tok;
 *     if (lm_tokenizer_load("models/MoE-LLaVA-Qwen-1.8B-4e", &tok)) {
 *         fprintf(stderr, "seer: %s\n", status_message()); return 1;
 *     }
 *     int32_t *ids; int n;
 *     if (lm_tokenizer_encode(tok, "USER: hi<|endoftext|>", &ids, &n) == 0) {
 *         lm_detok *d = lm_detok_new(tok);
 *         char buf[4096]; size_t len;
 *         for (int i = 0; i < n; i++)
 *             if (lm_detok_push(d, ids[i], buf, sizeof buf, &len) == 0) fwrite(buf, 1, len, stdout);
 *         if (lm_detok_flush(d, buf, sizeof buf, &len) == 0) fwrite(buf, 1, len, stdout);
 *         lm_detok_free(d);
 *         free(ids);
 *     }
 *     lm_tokenizer_free(tok);
 *
 * Format detection (lm_tokenizer_load): `arcade100k.tiktoken` → Arcade100k
 * specials; `qwen.tiktoken` → Qwen specials; when both are present the
 * config.json `model_type` (moe_llava_stablelm / moe_llava_qwen, or any
 * model_type containing "stablelm" / "qwen") decides; otherwise
 * `tokenizer.model` → SentencePiece; otherwise `vocab.json` + `merges.txt`
 * → GPT-2 BPE.
 *
 * Encoding pipeline (lm_tokenizer_encode):
 *   1. the text must be valid UTF-8 (ST_ARG otherwise: none of the Python
 *      references can receive invalid UTF-8, so there is nothing to mimic);
 *   2. tiktoken only: NFC normalisation (utf8proc), as Qwen/Arcade100k's
 *      `tokenize` does; GPT-2 does not normalise;
 *   3. special / added tokens are split out first, leftmost-longest match
 *      (tiktoken allowed_special="all"; HF's added-token trie). Every added
 *      token of a GPT-2 directory is matched, whitespace runs such as Phi-2's
 *      included; lstrip/rstrip/single_word flags are not implemented;
 *   4. each stretch between specials is cut by the pre-tokenisation regex
 *      (PCRE2, UTF + UCP; `\s` is spelled as the Unicode White_Space class
 *      so that it equals Rust/Python `\s`):
 *        tiktoken: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|
 *                   ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *        GPT-2:    's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   5. BPE on the piece's bytes (bpe_encode): repeatedly merge the adjacent
 *      pair of lowest rank (leftmost on ties). tiktoken: rank = rank of the
 *      concatenated bytes, and a piece that is itself a token is emitted
 *      whole; GPT-2: rank = line of the pair in merges.txt.
 * No BOS/EOS is added (none of these tokenizers adds one).
 *
 * Decoding: a token's piece is its raw bytes (specials: their text). Bytes
 * that are not valid UTF-8 become U+FFFD, one per maximal invalid subpart
 * (Python's errors="replace"); a partial character left before a special
 * token or at the end is replaced the same way.
 *
 * Ownership and thread-safety: the tokenizer owns its BPE engine (every
 * token's bytes, the index, the merges), its special-token table and its
 * compiled regex, and is immutable after load; any number of threads may
 * encode/decode with one tokenizer at once (encode allocates its scratch
 * per call). Pieces returned by lm_tokenizer_piece live as long as the
 * tokenizer. An lm_detok belongs to one thread (one stream) and must not
 * outlive its tokenizer.
 */
#ifndef SEER_LM_TOKENIZER_H
#define SEER_LM_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct lm_tokenizer lm_tokenizer;

/* Load the tokenizer of a model directory (see detection above). Errors:
 * ST_NOT_FOUND when no known tokenizer file is present, ST_FORMAT (message
 * names file and line) for a malformed base64 line, rank, JSON, merge or a
 * vocabulary lacking one of the 256 byte tokens, ST_NOMEM. On success *out
 * belongs to the caller (lm_tokenizer_free). */
int  lm_tokenizer_load(const char *model_dir, lm_tokenizer **out);

/* Free a tokenizer; NULL is allowed. */
void lm_tokenizer_free(lm_tokenizer *t);

/* Encode UTF-8 text into *ids (malloc'd, caller frees; non-NULL even when
 * *n == 0). ST_ARG for NULL arguments or invalid UTF-8. */
int  lm_tokenizer_encode(const lm_tokenizer *t, const char *text, int32_t **ids, int *n);

/* The raw bytes of one token (specials: their text), *len bytes, not
 * NUL-terminated; NULL for an id out of range or not assigned (Arcade100k
 * has no token 100256). */
const char *lm_tokenizer_piece(const lm_tokenizer *t, int32_t id, size_t *len);

/* len(tokenizer): highest assigned id + 1 (100289 / 151851 / 50295). */
int  lm_tokenizer_size(const lm_tokenizer *t);

/* The id of <|endoftext|> (SentencePiece: </s>). */
int32_t lm_tokenizer_eos(const lm_tokenizer *t);

/* The id the model's prompts begin with (SentencePiece: <s>, 1 for
 * LLaMA-2), or -1 (the byte-level families add none). encode never adds
 * it: callers prepend it where the template's "<s>" stands. */
int32_t lm_tokenizer_bos(const lm_tokenizer *t);

/* The id of a special / added token given as its exact text, or -1. */
int32_t lm_tokenizer_special(const lm_tokenizer *t, const char *text);

/* The longest piece in bytes (sizes detokenizer buffers: a cap of
 * 3 * (lm_tokenizer_max_piece(t) + 4) + 1 is always enough for one push). */
size_t lm_tokenizer_max_piece(const lm_tokenizer *t);

/* "arcade100k", "qwen", "sentencepiece" or "gpt2". */
const char *lm_tokenizer_kind(const lm_tokenizer *t);

/* Streaming decoder: feed ids, get UTF-8 text that never splits a
 * character. Incomplete trailing bytes are held back until a later id
 * completes them; bytes that can no longer form a character (and, at flush
 * or before a special token, an incomplete tail) become U+FFFD.
 * push/flush write the new text to out[0..*len) followed by a NUL. When cap
 * is too small they return ST_TOO_LARGE, set *len to the cap needed and
 * leave the decoder unchanged. ST_ARG for an unknown id (nothing consumed).
 * lm_detok_new returns NULL when out of memory. */
typedef struct lm_detok lm_detok;
lm_detok *lm_detok_new(const lm_tokenizer *t);
int  lm_detok_push(lm_detok *d, int32_t id, char *out, size_t cap, size_t *len);
int  lm_detok_flush(lm_detok *d, char *out, size_t cap, size_t *len);
void lm_detok_free(lm_detok *d);

/* Whole decode (the streaming decoder run over ids, then flushed):
 * *text is malloc'd and NUL-terminated (caller frees). ST_ARG for an
 * unknown id. */
int  lm_tokenizer_decode(const lm_tokenizer *t, const int32_t *ids, int n, char **text);

#endif
