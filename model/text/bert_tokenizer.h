/* model/text/bert_tokenizer.h — the BERT WordPiece tokenizer (uncased), as
 * transformers' slow BertTokenizer runs it for BLIP-2's Q-Former.
 *
 *     bert_tokenizer *tok;
 *     if (bert_tokenizer_load("models/blip2-itm-vit-g", &tok)) die(status_message());
 *     int32_t ids[35]; int n;
 *     bert_tokenizer_encode(tok, "a photo of a cat", ids, 35, &n);
 *         // ids = 101 1037 6302 1997 1037 4937 102, n = 7
 *     bert_tokenizer_free(tok);
 *
 * Pipeline of bert_tokenizer_encode (tokenization_bert.py and
 * PreTrainedTokenizer.tokenize, v4.47):
 *   1. with do_lower_case, every character outside the special tokens
 *      [PAD] [UNK] [CLS] [SEP] [MASK] written in the text is lower-cased on
 *      its own (Python str.lower: simple mapping, U+0130 → "i\u0307");
 *   2. the text is split around those special tokens (each maps to its id);
 *      other added tokens ("[DEC]") are lower-cased by step 1 and so never
 *      match, as upstream;
 *   3. each other segment: drop U+0000, U+FFFD and every character of a
 *      category C* (tab, LF and CR excepted); turn whitespace (tab, LF, CR,
 *      Zs) into ' '; put spaces around CJK ideographs; NFC; split on Python
 *      whitespace; per word: lower-case again, and (unless strip_accents is
 *      false) NFD and drop Mn; split off every punctuation character (ASCII
 *      symbols and categories P*);
 *   4. WordPiece per word: greedy longest prefix in the vocabulary, "##" on
 *      continuations; a word longer than 100 code points, or one with an
 *      unmatched remainder, is one [UNK];
 *   5. [CLS] + pieces + [SEP]; past max_ids the pieces are cut (the right
 *      side) so that the ids end with [SEP], as truncation=True does.
 * Input must be valid UTF-8 (ST_ARG otherwise).
 *
 * vocab.txt: one token per line (universal newlines, as Python reads it),
 * id = line number from 0; a repeated token keeps its last line. It must
 * hold [CLS], [SEP] and [UNK]. tokenizer_config.json (optional) may set
 * do_lower_case (default true), strip_accents (null/true/false) and
 * tokenize_chinese_chars (default true).
 *
 * Ownership and thread-safety: immutable after load; any number of threads
 * may call encode/token on one tokenizer at once.
 */
#ifndef SEER_BERT_TOKENIZER_H
#define SEER_BERT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct bert_tokenizer bert_tokenizer;

/* Load dir/vocab.txt (+ dir/tokenizer_config.json when present).
 * ST_NOT_FOUND for a missing vocab.txt, ST_FORMAT (naming the file and line)
 * for invalid UTF-8 or a vocabulary lacking [CLS]/[SEP]/[UNK]. */
int  bert_tokenizer_load(const char *dir, bert_tokenizer **out);
/* Same from one vocabulary file, with the default (uncased) settings. */
int  bert_tokenizer_load_vocab(const char *path, bert_tokenizer **out);
void bert_tokenizer_free(bert_tokenizer *t);

/* text → ids ([CLS] .. [SEP], at most max_ids >= 2 of them), *n their count.
 * *n_full (may be NULL) gets the untruncated count. */
int bert_tokenizer_encode(const bert_tokenizer *t, const char *text, int32_t *ids, int max_ids, int *n,
                          int *n_full);

/* The token string of id (NULL when out of range); lives as long as t. */
const char *bert_tokenizer_token(const bert_tokenizer *t, int32_t id);
int32_t     bert_tokenizer_size(const bert_tokenizer *t);

#endif
