/* model/text/sentencepiece.c — the SentencePiece back end of lm_tokenizer
 * (LLaMA-2's tokenizer.model; see lm_tokenizer.h and spm.h for why the
 * encoding itself is Debian's libsentencepiece).
 *
 * Encoding goes through the library (spm_encode). What is built here is the
 * decode side in the shape the rest of lm_tokenizer expects: every id's
 * surface bytes in the BPE engine's piece table (never indexed: nothing
 * merges through it), so lm_tokenizer_piece and the streaming detokenizer
 * work as for the byte-level families:
 *   normal / user-defined / unused pieces: the text with U+2581 → ' ';
 *   byte pieces <0xXX>: that one byte (so multi-byte characters split over
 *     byte-fallback pieces are reassembled by the detokenizer's UTF-8 logic);
 *   control pieces (<s>, </s>): specials, their text as stored;
 *   the unknown piece: " \u2047 ", SentencePiece's decoded form.
 * dummy_ws marks normal pieces: the detokenizer drops the leading space of
 * the first such piece of a stream (the dummy prefix), as
 * SentencePieceProcessor::Decode and HF LlamaTokenizer.decode do.
 */
#include "lm_tokenizer_internal.h"
#include "spm.h"
#include "status.h"

#include <stdlib.h>
#include <string.h>

static const char SPACE_SYM[] = "\xE2\x96\x81"; /* U+2581 */

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int sentencepiece_load(lm_tokenizer *t, const char *path) {
    int st = spm_open(path, &t->spm);
    if (st) return st;
    const int n = spm_size(t->spm);
    if (n <= 0) return status_fail(ST_FORMAT, "%s: no pieces", path);
    if ((st = lm_tok_reserve(t, n))) return st;
    t->dummy_ws = calloc((size_t)n, 1);
    if (!t->dummy_ws) return status_fail(ST_NOMEM, "%s: out of memory", path);
    char *buf = NULL;
    size_t cap = 0;
    for (int32_t id = 0; id < n && !st; id++) {
        size_t len;
        const char *p = spm_piece(t->spm, id, &len);
        const spm_type ty = spm_piece_type(t->spm, id);
        if (ty == SPM_CONTROL) {
            st = lm_tok_add_special(t, p, id, path);
            continue;
        }
        if (len + 8 > cap) {
            cap = 2 * (len + 8);
            char *b = realloc(buf, cap);
            if (!b) {
                st = status_fail(ST_NOMEM, "%s: out of memory", path);
                break;
            }
            buf = b;
        }
        size_t k = 0;
        if (ty == SPM_UNKNOWN) {
            memcpy(buf, " \xE2\x81\x87 ", 5);
            k = 5;
        } else if (ty == SPM_BYTE) {
            int hi = len == 6 ? hexval(p[3]) : -1, lo = len == 6 ? hexval(p[4]) : -1;
            if (hi < 0 || lo < 0 || memcmp(p, "<0x", 3) || p[5] != '>')
                st = status_fail(ST_FORMAT, "%s: byte piece %d is \"%.*s\", not <0xXX>", path, (int)id, (int)len, p);
            buf[k++] = (char)(hi * 16 + lo);
        } else {
            for (size_t i = 0; i < len;) {
                if (i + 3 <= len && !memcmp(p + i, SPACE_SYM, 3)) buf[k++] = ' ', i += 3;
                else buf[k++] = p[i++];
            }
            t->dummy_ws[id] = 1;
        }
        if (!st && k == 0) st = status_fail(ST_FORMAT, "%s: piece %d is empty", path, (int)id);
        if (!st) st = lm_tok_set_piece(t, id, (const uint8_t *)buf, k, path);
        if (!st && k > t->max_piece) t->max_piece = k;
    }
    free(buf);
    if (st) return st;
    for (int i = 0; i < t->n_specials; i++)
        if (t->specials[i].len > t->max_piece) t->max_piece = t->specials[i].len;
    t->bos = spm_bos(t->spm);
    t->eos = spm_eos(t->spm);
    if (t->eos < 0) return status_fail(ST_FORMAT, "%s: the model has no end-of-sequence piece", path);
    return ST_OK;
}
