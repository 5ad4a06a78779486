/* model/text/gpt2bpe.c — the GPT-2 byte-level BPE back end of lm_tokenizer
 * (Phi-2 / CodeGen). Internal; see lm_tokenizer.h. It reads the files into
 * the tokenizer's BPE_GPT2 engine (bpe.h): tokens as raw bytes, merges as
 * (left id, right id) → (rank, merged id).
 *
 * Files of a Hugging Face model directory:
 *   vocab.json            {"token": id}; tokens are written through GPT-2's
 *                         bytes_to_unicode map (byte b ↔ one code point <
 *                         324) and are mapped back to raw bytes here;
 *   merges.txt            "left right" per line, rank = line order (an
 *                         optional "#version" first line is skipped);
 *   added_tokens.json     {"text": id} (optional): split out before BPE;
 *   tokenizer_config.json "added_tokens_decoder" {"id": {"content": ...}}
 *                         (optional): added tokens too;
 *   special_tokens_map.json (optional): bos/eos/unk/pad/additional strings
 *                         that are in the vocabulary become split-out tokens.
 * <|endoftext|> is always treated as a special token.
 */
#include "lm_tokenizer_internal.h"

#include "file.h"
#include "jsonx.h"
#include "status.h"

#include <utf8proc.h>

#include <stdlib.h>
#include <string.h>

/* Map a vocab.json token back to bytes; returns the length or -1 when a
 * character is outside the byte map. out has room for strlen(s). */
static long unmap_token(const char *s, uint8_t *out) {
    return bpe_symbols_to_bytes(s, strlen(s), out);
}

static int load_json_if_present(const char *dir, const char *name, char *path, size_t cap, json_t **out) {
    *out = NULL;
    int st = file_join(path, cap, dir, name);
    if (st || !file_is_regular(path)) return st;
    return jsonx_load(path, out);
}

/* Added tokens from added_tokens.json and tokenizer_config.json. */
static int add_added_tokens(lm_tokenizer *t, const char *dir) {
    char path[4096];
    json_t *root;
    int st = load_json_if_present(dir, "added_tokens.json", path, sizeof path, &root);
    if (st) return st;
    if (root) {
        const char *key;
        json_t *val;
        if (!json_is_object(root)) st = status_fail(ST_FORMAT, "%s: expected a JSON object of token → id", path);
        json_object_foreach(root, key, val) {
            if (st) break;
            if (!json_is_integer(val) || json_integer_value(val) < 0 || json_integer_value(val) >= (1 << 28))
                st = status_fail(ST_FORMAT, "%s: the id of \"%s\" is not an integer in 0..2^28", path, key);
            else
                st = lm_tok_add_special(t, key, (int32_t)json_integer_value(val), path);
        }
        json_decref(root);
        if (st) return st;
    }
    if ((st = load_json_if_present(dir, "tokenizer_config.json", path, sizeof path, &root))) return st;
    if (root) {
        json_t *dec = json_object_get(root, "added_tokens_decoder");
        const char *key;
        json_t *val;
        if (json_is_object(dec)) {
            json_object_foreach(dec, key, val) {
                const char *content = json_string_value(json_object_get(val, "content"));
                char *end;
                long id = strtol(key, &end, 10);
                if (!content || *end || id < 0 || id >= (1 << 28)) {
                    st = status_fail(ST_FORMAT, "%s: added_tokens_decoder entry \"%s\" is not {id: {\"content\": ...}}",
                                     path, key);
                    break;
                }
                if ((st = lm_tok_add_special(t, content, (int32_t)id, path))) break;
            }
        }
        json_decref(root);
    }
    return st;
}

/* The ordinary token whose bytes are text, or -1 (a linear scan: used for
 * the handful of special_tokens_map.json strings before the index exists). */
static int32_t find_linear(const lm_tokenizer *t, const char *text) {
    size_t len = strlen(text);
    for (int32_t id = 0; id < lm_tokenizer_size(t); id++) {
        size_t pl;
        const char *p = t->is_special[id] ? NULL : lm_tokenizer_piece(t, id, &pl);
        if (p && pl == len && memcmp(p, text, len) == 0) return id;
    }
    return -1;
}

/* Strings of special_tokens_map.json that are vocabulary tokens, and
 * <|endoftext|>, become split-out tokens. */
static int add_mapped_specials(lm_tokenizer *t, const char *dir) {
    char path[4096];
    json_t *root;
    int st = load_json_if_present(dir, "special_tokens_map.json", path, sizeof path, &root);
    if (st) return st;
    if (root) {
        const char *key;
        json_t *val;
        json_object_foreach(root, key, val) {
            json_t *items = json_is_array(val) ? val : NULL;
            size_t n = items ? json_array_size(items) : 1;
            for (size_t i = 0; !st && i < n; i++) {
                json_t *v = items ? json_array_get(items, i) : val;
                const char *text = json_is_string(v) ? json_string_value(v) : json_string_value(json_object_get(v, "content"));
                if (!text || !text[0] || lm_tokenizer_special(t, text) >= 0) continue;
                int32_t id = find_linear(t, text);
                if (id >= 0) st = lm_tok_add_special(t, text, id, path);
            }
            if (st) break;
        }
        json_decref(root);
    }
    if (!st && lm_tokenizer_special(t, "<|endoftext|>") < 0) {
        int32_t id = find_linear(t, "<|endoftext|>");
        if (id >= 0) st = lm_tok_add_special(t, "<|endoftext|>", id, dir);
    }
    return st;
}

/* ------------------------------------------------------------ vocab.json */

/* vocab.json is a flat {"token": id} object of ~50k entries; a dedicated
 * scanner reads it several times faster than a general JSON parser. */
typedef struct {
    const uint8_t *p, *end, *start;
    const char *path;
} scan;

static int scan_fail(const scan *s, const char *what) {
    size_t line = 1;
    for (const uint8_t *q = s->start; q < s->p && q < s->end; q++) line += *q == '\n';
    return status_fail(ST_FORMAT, "%s:%zu: malformed vocabulary JSON: %s", s->path, line, what);
}

static void skip_ws(scan *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t')) s->p++;
}

static int hex4(const uint8_t *p, uint32_t *v) {
    *v = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        *v = *v << 4 | (uint32_t)d;
    }
    return 0;
}

/* A JSON string at s->p (after skip_ws) into out (NUL-terminated, room for
 * the raw length + 1: escapes never expand). */
static int scan_string(scan *s, char *out, size_t *olen) {
    if (s->p >= s->end || *s->p != '"') return scan_fail(s, "expected a string");
    s->p++;
    size_t k = 0;
    while (s->p < s->end && *s->p != '"') {
        uint8_t c = *s->p++;
        if (c < 0x20) return scan_fail(s, "control character in a string");
        if (c != '\\') { out[k++] = (char)c; continue; }
        if (s->p >= s->end) break;
        c = *s->p++;
        switch (c) {
        case '"': case '\\': case '/': out[k++] = (char)c; break;
        case 'b': out[k++] = '\b'; break;
        case 'f': out[k++] = '\f'; break;
        case 'n': out[k++] = '\n'; break;
        case 'r': out[k++] = '\r'; break;
        case 't': out[k++] = '\t'; break;
        case 'u': {
            uint32_t cp, lo;
            if (s->end - s->p < 4 || hex4(s->p, &cp)) return scan_fail(s, "bad \\u escape");
            s->p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u' || hex4(s->p + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                    return scan_fail(s, "unpaired surrogate escape");
                s->p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return scan_fail(s, "unpaired surrogate escape");
            }
            if (cp == 0) return scan_fail(s, "NUL in a token");
            k += (size_t)utf8proc_encode_char((utf8proc_int32_t)cp, (utf8proc_uint8_t *)out + k);
            break;
        }
        default: return scan_fail(s, "bad escape");
        }
    }
    if (s->p >= s->end) return scan_fail(s, "unterminated string");
    s->p++;
    out[k] = 0;
    *olen = k;
    return ST_OK;
}

static int load_vocab(lm_tokenizer *t, const char *path) {
    uint8_t *buf = NULL;
    size_t len = 0;
    int st = file_read(path, (size_t)1 << 30, &buf, &len);
    if (st) return st;
    char *key = malloc(len + 1);
    uint8_t *bytes = malloc(len + 1);
    if (!key || !bytes) { st = status_fail(ST_NOMEM, "%s: out of memory", path); goto out; }
    scan s = {buf, buf + len, buf, path};
    if ((st = lm_tok_reserve(t, (int32_t)(len / 8 + 1024)))) goto out;
    skip_ws(&s);
    if (s.p >= s.end || *s.p != '{') { st = scan_fail(&s, "expected a JSON object of token → id"); goto out; }
    s.p++;
    skip_ws(&s);
    size_t count = 0;
    if (s.p < s.end && *s.p == '}') { s.p++; goto done; }
    for (;;) {
        size_t kl = 0;
        skip_ws(&s);
        if ((st = scan_string(&s, key, &kl))) goto out;
        skip_ws(&s);
        if (s.p >= s.end || *s.p != ':') { st = scan_fail(&s, "expected ':'"); goto out; }
        s.p++;
        skip_ws(&s);
        long id = 0;
        const uint8_t *d0 = s.p;
        while (s.p < s.end && *s.p >= '0' && *s.p <= '9' && id < (1L << 28)) id = id * 10 + (*s.p++ - '0');
        if (s.p == d0 || id >= (1L << 28) || (s.p < s.end && (*s.p == '.' || *s.p == 'e' || *s.p == 'E'))) {
            st = status_fail(ST_FORMAT, "%s: the id of token \"%s\" is not an integer in 0..2^28", path, key);
            goto out;
        }
        if (kl != strlen(key)) { st = scan_fail(&s, "NUL in a token"); goto out; }
        long nb = unmap_token(key, bytes);
        if (nb <= 0) {
            /* Not byte-level text: acceptable only for an added token. */
            if (lm_tokenizer_special(t, key) != (int32_t)id) {
                st = status_fail(ST_FORMAT, "%s: token \"%s\" (id %ld) is not byte-level BPE text and not an added token",
                                 path, key, id);
                goto out;
            }
        } else if (lm_tokenizer_piece(t, (int32_t)id, NULL) && t->is_special[id]) {
            size_t pl; /* already an added token: must be the same bytes */
            const char *p = lm_tokenizer_piece(t, (int32_t)id, &pl);
            if (pl != (size_t)nb || memcmp(p, bytes, pl) != 0) {
                st = status_fail(ST_FORMAT, "%s: id %ld is \"%s\" here but another added token", path, id, key);
                goto out;
            }
        } else if ((st = lm_tok_set_piece(t, (int32_t)id, bytes, (size_t)nb, path))) {
            goto out;
        }
        count++;
        skip_ws(&s);
        if (s.p < s.end && *s.p == ',') { s.p++; continue; }
        if (s.p < s.end && *s.p == '}') { s.p++; break; }
        st = scan_fail(&s, "expected ',' or '}'");
        goto out;
    }
done:
    skip_ws(&s);
    if (s.p != s.end) st = scan_fail(&s, "trailing data after the object");
    else if (count == 0) st = status_fail(ST_FORMAT, "%s: no tokens", path);
out:
    free(key);
    free(bytes);
    free(buf);
    return st;
}

/* ------------------------------------------------------------ merges.txt */

/* merges.txt parts are byte-level symbols: back to bytes, then their ids
 * and the concatenation's. A pair listed twice keeps its first rank
 * (BPE_GPT2), as in HF tokenizers. */
typedef struct {
    const bpe *b;
    char      *tmp;          /* (cap) a NUL-terminated copy of a part, or of both */
    uint8_t   *bytes;        /* (cap) the two parts' bytes, back to back (no more than their characters) */
    size_t     cap;
} gpt2_merges;

static int gpt2_merge_ids(void *vctx, const char *path, size_t lineno, const char *l, size_t la, const char *r,
                          size_t lb, int32_t *ia, int32_t *ib, int32_t *im) {
    gpt2_merges *c = vctx;
    if (la + lb + 1 > c->cap) {
        size_t cap = 2 * (la + lb + 1);
        char *t = realloc(c->tmp, cap);
        if (t) c->tmp = t;
        uint8_t *y = realloc(c->bytes, cap);
        if (y) c->bytes = y;
        if (!t || !y) return status_fail(ST_NOMEM, "%s: out of memory", path);
        c->cap = cap;
    }
    memcpy(c->tmp, l, la), c->tmp[la] = 0;
    long na = unmap_token(c->tmp, c->bytes);
    *ia = na > 0 ? bpe_find(c->b, c->bytes, (size_t)na) : -1;
    memcpy(c->tmp, r, lb), c->tmp[lb] = 0;
    long nb = unmap_token(c->tmp, c->bytes + (na > 0 ? na : 0));
    *ib = nb > 0 ? bpe_find(c->b, c->bytes + na, (size_t)nb) : -1;
    *im = *ia >= 0 && *ib >= 0 ? bpe_find(c->b, c->bytes, (size_t)(na + nb)) : -1;
    if (*ia >= 0 && *ib >= 0 && *im >= 0) return ST_OK;
    memcpy(c->tmp, l, la), memcpy(c->tmp + la, r, lb), c->tmp[la + lb] = 0;
    return status_fail(ST_FORMAT, "%s:%zu: \"%.*s\" is not in vocab.json", path, lineno,
                       *ia < 0 ? (int)la : *ib < 0 ? (int)lb : (int)(la + lb), *ia < 0 ? l : *ib < 0 ? r : c->tmp);
}

static int load_merges(lm_tokenizer *t, const char *path) {
    gpt2_merges c = {t->bpe, NULL, NULL, 0};
    int st = bpe_merges_load(t->bpe, path, "#version", gpt2_merge_ids, &c);
    free(c.tmp);
    free(c.bytes);
    return st;
}

int gpt2bpe_load(lm_tokenizer *t, const char *dir) {
    char vpath[4096], mpath[4096];
    int st = file_join(vpath, sizeof vpath, dir, "vocab.json");
    if (!st) st = file_join(mpath, sizeof mpath, dir, "merges.txt");
    if (st) return st;
    if (!file_is_regular(vpath)) return status_fail(ST_NOT_FOUND, "%s: no such file", vpath);
    if (!file_is_regular(mpath)) return status_fail(ST_NOT_FOUND, "%s: no such file", mpath);
    if ((st = add_added_tokens(t, dir))) return st;
    if ((st = load_vocab(t, vpath))) return st;
    if ((st = add_mapped_specials(t, dir))) return st;
    if ((st = lm_tok_index(t, vpath))) return st;
    if ((st = load_merges(t, mpath))) return st;
    return lm_tok_finish(t, vpath);
}
