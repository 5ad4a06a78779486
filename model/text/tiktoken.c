/* model/text/tiktoken.c — the tiktoken back end of lm_tokenizer (Arcade100k
 * for StableLM-2, qwen.tiktoken for Qwen-1). Internal; see lm_tokenizer.h.
 * It reads the file into the tokenizer's BPE_TIKTOKEN engine (bpe.h), which
 * merges by the rank of the concatenated bytes; there is no merge table.
 *
 * File format (tiktoken's load_tiktoken_bpe): one token per line,
 *     <base64 of the token bytes> <rank>\n
 * blank lines skipped; the rank is the token id and its BPE merge priority.
 * The special tokens are not in the file: each model's Python tokenizer
 * hard-codes them (tables below, written from the upstream descriptions:
 * stabilityai tokenization_arcade100k.py, Qwen tokenization_qwen.py).
 */
#include "lm_tokenizer_internal.h"

#include "file.h"
#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ special tables */

/* Arcade100k: ids 100257.. in this order (100256 is unassigned, as in
 * cl100k_base; len(tokenizer) = 100289). */
static const char *const ARCADE_SPECIALS[] = {
    "<|endoftext|>",
    /* fill-in-the-middle */
    "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    /* StarCoder code tokens */
    "<gh_stars>", "<filename>", "<issue_start>", "<issue_comment>", "<issue_closed>",
    "<jupyter_start>", "<jupyter_text>", "<jupyter_code>", "<jupyter_output>", "<empty_output>",
    "<commit_before>", "<commit_msg>", "<commit_after>", "<reponame>",
    "<|endofprompt|>",
    "<|im_start|>", "<|im_end|>",
    "<|pause|>",
    "<|reg0|>", "<|reg1|>", "<|reg2|>", "<|reg3|>", "<|reg4|>", "<|reg5|>", "<|reg6|>", "<|reg7|>",
    "<|extra0|>",
};
#define ARCADE_START 100257

/* Qwen-1: <|endoftext|>, <|im_start|>, <|im_end|>, then <|extra_0|> ..
 * <|extra_204|>, ids 151643.. (len(tokenizer) = 151851). */
#define QWEN_START  151643
#define QWEN_EXTRAS 205

/* ------------------------------------------------------------ base64 */

static inline int b64_value(uint8_t c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decode s[0..n) (standard base64, '=' padding required) into out; returns
 * the byte count, or -1 when malformed. out has room for n*3/4 bytes. */
static long b64_decode(const uint8_t *s, size_t n, uint8_t *out) {
    if (n == 0 || n % 4) return -1;
    size_t pad = s[n - 1] == '=' ? (s[n - 2] == '=' ? 2 : 1) : 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = 0;
        for (size_t j = 0; j < 4; j++) {
            int d = i + j >= n - pad ? 0 : b64_value(s[i + j]);
            if (d < 0) return -1;
            v = v << 6 | (uint32_t)d;
        }
        out[k++] = (uint8_t)(v >> 16);
        if (i + 4 < n || pad < 2) out[k++] = (uint8_t)(v >> 8);
        if (i + 4 < n || pad < 1) out[k++] = (uint8_t)v;
    }
    return (long)k;
}

/* ------------------------------------------------------------ load */

static int add_specials(lm_tokenizer *t, int kind, const char *path) {
    int st = ST_OK;
    if (kind == LM_TOK_ARCADE) {
        int n = (int)(sizeof ARCADE_SPECIALS / sizeof ARCADE_SPECIALS[0]);
        for (int i = 0; !st && i < n; i++) st = lm_tok_add_special(t, ARCADE_SPECIALS[i], ARCADE_START + i, path);
    } else {
        static const char *const FIRST[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
        for (int i = 0; !st && i < 3; i++) st = lm_tok_add_special(t, FIRST[i], QWEN_START + i, path);
        char name[32];
        for (int i = 0; !st && i < QWEN_EXTRAS; i++) {
            snprintf(name, sizeof name, "<|extra_%d|>", i);
            st = lm_tok_add_special(t, name, QWEN_START + 3 + i, path);
        }
    }
    if (st == ST_FORMAT) /* a ranked token already holds a special's id */
        return status_wrap(ST_FORMAT, "%s: the ranks collide with the %s special tokens", path,
                           kind == LM_TOK_ARCADE ? "Arcade100k" : "Qwen");
    return st;
}

int tiktoken_load(lm_tokenizer *t, const char *path, int kind) {
    uint8_t *buf = NULL;
    size_t len = 0;
    int st = file_read(path, (size_t)1 << 30, &buf, &len);
    if (st) return st;

    size_t lines = 1;
    for (const uint8_t *p = buf, *e = buf + len; (p = memchr(p, '\n', (size_t)(e - p))); p++) lines++;
    if ((st = lm_tok_reserve(t, (int32_t)(lines < (1u << 27) ? lines + 512 : 1u << 27)))) goto out;
    /* base64 is longer than its bytes, even with a NUL after each token */
    if ((st = bpe_reserve(t->bpe, 0, len + 4096))) goto out;

    uint8_t tok[1024];
    size_t pos = 0, lineno = 0, n_tokens = 0;
    while (pos < len) {
        lineno++;
        const uint8_t *line = buf + pos;
        const uint8_t *nl = memchr(line, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - line) : len - pos;
        pos += ll + 1;
        if (ll && line[ll - 1] == '\r') ll--;
        if (ll == 0) continue;
        const uint8_t *sp = memchr(line, ' ', ll);
        if (!sp || sp == line || (size_t)(sp - line) + 1 >= ll) {
            st = status_fail(ST_FORMAT, "%s:%zu: expected \"<base64> <rank>\", got \"%.*s\"", path, lineno,
                             (int)(ll > 60 ? 60 : ll), (const char *)line);
            goto out;
        }
        size_t bl = (size_t)(sp - line);
        long nb = bl <= 4 * sizeof tok / 3 ? b64_decode(line, bl, tok) : -1;
        if (nb <= 0) {
            st = status_fail(ST_FORMAT, "%s:%zu: malformed base64 \"%.*s\"", path, lineno,
                             (int)(bl > 60 ? 60 : bl), (const char *)line);
            goto out;
        }
        long rank = 0;
        const uint8_t *r = sp + 1, *re = line + ll;
        for (; r < re && *r >= '0' && *r <= '9' && rank < (1L << 28); r++) rank = rank * 10 + (*r - '0');
        if (r != re || rank >= (1L << 28)) {
            st = status_fail(ST_FORMAT, "%s:%zu: malformed rank \"%.*s\"", path, lineno,
                             (int)(re - sp - 1 > 20 ? 20 : re - sp - 1), (const char *)sp + 1);
            goto out;
        }
        if ((st = lm_tok_set_piece(t, (int32_t)rank, tok, (size_t)nb, path))) {
            status_wrap(st, "%s:%zu", path, lineno);
            goto out;
        }
        n_tokens++;
    }
    if (n_tokens == 0) { st = status_fail(ST_FORMAT, "%s: no tokens", path); goto out; }
    if ((st = add_specials(t, kind, path))) goto out;
    t->nfc = 1;
    st = lm_tok_finish(t, path);
out:
    free(buf);
    return st;
}
