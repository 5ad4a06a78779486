/* model/text/text_clean.c — see text_clean.h.
 *
 * The text is worked on as an array of code points (cpbuf); every fixer is a
 * pass in → out over two buffers that are swapped, so a clean-up costs a few
 * linear passes and no per-character allocation.
 */
#include "text_clean.h"

#include "status.h"

#include <utf8proc.h>

#include <stdlib.h>
#include <string.h>

static int utf8_put(uint32_t cp, char *out) {
    return (int)utf8proc_encode_char((utf8proc_int32_t)cp, (utf8proc_uint8_t *)out);
}

/* ------------------------------------------------------------ code point buffers */

typedef struct {
    uint32_t *v;
    size_t n, cap;
} cpbuf;

static int cp_reserve(cpbuf *b, size_t extra) {
    if (b->n + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra) cap *= 2;
    uint32_t *v = realloc(b->v, cap * sizeof *v);
    if (!v) return -1;
    b->v = v;
    b->cap = cap;
    return 0;
}

static inline int cp_push(cpbuf *b, uint32_t c) {
    if (b->n == b->cap && cp_reserve(b, 1)) return -1;
    b->v[b->n++] = c;
    return 0;
}

static int cp_push_str(cpbuf *b, const uint32_t *s, size_t n) {
    if (n == 0) return 0;
    if (cp_reserve(b, n)) return -1;
    memcpy(b->v + b->n, s, n * sizeof *s);
    b->n += n;
    return 0;
}

static void cp_swap(cpbuf *a, cpbuf *b) {
    cpbuf t = *a;
    *a = *b;
    *b = t;
}

/* UTF-8 of a code point buffer (malloc'd, NUL-terminated). */
static char *cp_to_utf8(const cpbuf *b, size_t *len) {
    char *s = malloc(b->n * 4 + 1);
    if (!s) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < b->n; i++) k += (size_t)utf8_put(b->v[i], s + k);
    s[k] = 0;
    if (len) *len = k;
    return s;
}

/* Decode UTF-8 into out; -2 for invalid UTF-8 (offset in *bad). */
static int utf8_to_cp(const uint8_t *s, size_t n, cpbuf *out, size_t *bad) {
    out->n = 0;
    if (cp_reserve(out, n + 1)) return -1;
    for (size_t k = 0; k < n;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t step = utf8proc_iterate(s + k, (utf8proc_ssize_t)(n - k), &cp);
        if (step <= 0 || cp < 0) { *bad = k; return -2; }
        out->v[out->n++] = (uint32_t)cp;
        k += (size_t)step;
    }
    return 0;
}

static int cp_equal(const cpbuf *a, const cpbuf *b) {
    return a->n == b->n && (a->n == 0 || memcmp(a->v, b->v, a->n * sizeof *a->v) == 0);
}

/* ------------------------------------------------------------ tables */

/* White_Space (what \s matches in the `regex` module the reference uses). */
static int is_ws(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

/* windows-1252 for 0x80..0x9F; its five holes map to themselves (Python's
 * html._invalid_charrefs and ftfy's sloppy-windows-1252 agree on this). */
static const uint16_t CP1252_C1[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
    0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

/* ------------------------------------------------------------ HTML entities */

/* Names of U+00A0..U+00FF: these are also html5's no-semicolon "legacy"
 * names (with amp, lt, gt, quot and a few upper-case forms). */
static const char *const LATIN1_NAMES[96] = {
    "nbsp", "iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect",
    "uml", "copy", "ordf", "laquo", "not", "shy", "reg", "macr",
    "deg", "plusmn", "sup2", "sup3", "acute", "micro", "para", "middot",
    "cedil", "sup1", "ordm", "raquo", "frac14", "frac12", "frac34", "iquest",
    "Agrave", "Aacute", "Acirc", "Atilde", "Auml", "Aring", "AElig", "Ccedil",
    "Egrave", "Eacute", "Ecirc", "Euml", "Igrave", "Iacute", "Icirc", "Iuml",
    "ETH", "Ntilde", "Ograve", "Oacute", "Ocirc", "Otilde", "Ouml", "times",
    "Oslash", "Ugrave", "Uacute", "Ucirc", "Uuml", "Yacute", "THORN", "szlig",
    "agrave", "aacute", "acirc", "atilde", "auml", "aring", "aelig", "ccedil",
    "egrave", "eacute", "ecirc", "euml", "igrave", "iacute", "icirc", "iuml",
    "eth", "ntilde", "ograve", "oacute", "ocirc", "otilde", "ouml", "divide",
    "oslash", "ugrave", "uacute", "ucirc", "uuml", "yacute", "thorn", "yuml",
};

typedef struct {
    const char *name;
    uint32_t cp;
    int legacy; /* also valid without the ';' */
} entity;

static const entity ENTITIES[] = {
    {"amp", '&', 1}, {"lt", '<', 1}, {"gt", '>', 1}, {"quot", '"', 1},
    {"AMP", '&', 1}, {"LT", '<', 1}, {"GT", '>', 1}, {"QUOT", '"', 1},
    {"COPY", 0xA9, 1}, {"REG", 0xAE, 1},
    {"apos", '\'', 0}, {"Tab", 0x09, 0}, {"NewLine", 0x0A, 0}, {"excl", '!', 0},
    {"num", '#', 0}, {"dollar", '$', 0}, {"percnt", '%', 0}, {"lpar", '(', 0},
    {"rpar", ')', 0}, {"ast", '*', 0}, {"plus", '+', 0}, {"comma", ',', 0},
    {"period", '.', 0}, {"sol", '/', 0}, {"colon", ':', 0}, {"semi", ';', 0},
    {"equals", '=', 0}, {"quest", '?', 0}, {"commat", '@', 0}, {"lsqb", '[', 0},
    {"bsol", '\\', 0}, {"rsqb", ']', 0}, {"Hat", '^', 0}, {"lowbar", '_', 0},
    {"grave", '`', 0}, {"lcub", '{', 0}, {"verbar", '|', 0}, {"rcub", '}', 0},
    {"OElig", 0x152, 0}, {"oelig", 0x153, 0}, {"Scaron", 0x160, 0}, {"scaron", 0x161, 0},
    {"Yuml", 0x178, 0}, {"fnof", 0x192, 0}, {"circ", 0x2C6, 0}, {"tilde", 0x2DC, 0},
    {"ensp", 0x2002, 0}, {"emsp", 0x2003, 0}, {"thinsp", 0x2009, 0}, {"zwnj", 0x200C, 0},
    {"zwj", 0x200D, 0}, {"lrm", 0x200E, 0}, {"rlm", 0x200F, 0}, {"ndash", 0x2013, 0},
    {"mdash", 0x2014, 0}, {"lsquo", 0x2018, 0}, {"rsquo", 0x2019, 0}, {"sbquo", 0x201A, 0},
    {"ldquo", 0x201C, 0}, {"rdquo", 0x201D, 0}, {"bdquo", 0x201E, 0}, {"dagger", 0x2020, 0},
    {"Dagger", 0x2021, 0}, {"bull", 0x2022, 0}, {"hellip", 0x2026, 0}, {"permil", 0x2030, 0},
    {"prime", 0x2032, 0}, {"Prime", 0x2033, 0}, {"lsaquo", 0x2039, 0}, {"rsaquo", 0x203A, 0},
    {"oline", 0x203E, 0}, {"frasl", 0x2044, 0}, {"euro", 0x20AC, 0}, {"trade", 0x2122, 0},
    {"larr", 0x2190, 0}, {"uarr", 0x2191, 0}, {"rarr", 0x2192, 0}, {"darr", 0x2193, 0},
    {"harr", 0x2194, 0}, {"minus", 0x2212, 0}, {"infin", 0x221E, 0}, {"ne", 0x2260, 0},
    {"le", 0x2264, 0}, {"ge", 0x2265, 0}, {"spades", 0x2660, 0}, {"clubs", 0x2663, 0},
    {"hearts", 0x2665, 0}, {"diams", 0x2666, 0}, {"sigmaf", 0x3C2, 0},
};

static const char *const GREEK_NAMES[25] = {
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota",
    "kappa", "lambda", "mu", "nu", "xi", "omicron", "pi", "rho", NULL /* final sigma */,
    "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega",
};

static int name_eq(const uint32_t *s, size_t n, const char *name) {
    size_t i = 0;
    for (; i < n; i++)
        if (!name[i] || (uint32_t)(unsigned char)name[i] != s[i]) return 0;
    return name[i] == 0;
}

/* Code point of an entity name (no '&', no ';'), or 0. legacy_only: accept
 * only names html5 also knows without the semicolon. */
static uint32_t entity_lookup(const uint32_t *s, size_t n, int legacy_only) {
    if (n < 2 || n > 8) return 0;
    for (int i = 0; i < 96; i++)
        if (name_eq(s, n, LATIN1_NAMES[i])) return 0xA0 + (uint32_t)i;
    for (size_t i = 0; i < sizeof ENTITIES / sizeof ENTITIES[0]; i++)
        if ((!legacy_only || ENTITIES[i].legacy) && name_eq(s, n, ENTITIES[i].name)) return ENTITIES[i].cp;
    if (legacy_only) return 0;
    for (int i = 0; i < 25; i++) {
        if (!GREEK_NAMES[i]) continue;
        if (name_eq(s, n, GREEK_NAMES[i])) return 0x3B1 + (uint32_t)i;
        /* capitalised: first letter upper-case */
        if (s[0] == (uint32_t)(GREEK_NAMES[i][0] - 32) && name_eq(s + 1, n - 1, GREEK_NAMES[i] + 1))
            return 0x391 + (uint32_t)i;
    }
    return 0;
}

static int is_ascii_digit(uint32_t c) { return c >= '0' && c <= '9'; }
static int is_hex_digit(uint32_t c) {
    return is_ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
static uint32_t hex_val(uint32_t c) {
    return is_ascii_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* Python html.unescape's numeric reference rules. Returns the code point
 * to emit, or UINT32_MAX for "emit nothing". */
static uint32_t charref_value(uint64_t num) {
    if (num == 0) return 0xFFFD;
    if (num == 0x0D) return 0x0D;
    if (num >= 0x80 && num <= 0x9F) return CP1252_C1[num - 0x80];
    if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) return 0xFFFD;
    if ((num >= 0x01 && num <= 0x08) || num == 0x0B || (num >= 0x0E && num <= 0x1F) ||
        (num >= 0x7F && num <= 0x9F) || (num >= 0xFDD0 && num <= 0xFDEF) ||
        (num & 0xFFFE) == 0xFFFE)
        return UINT32_MAX;
    return (uint32_t)num;
}

/* Try to decode a numeric reference at in[i] == '&', in[i+1] == '#'.
 * need_semi: ftfy's form (the ';' is required). Returns the consumed length
 * (0 = not a reference) and appends the replacement to out. */
static size_t unescape_numeric(const uint32_t *in, size_t n, size_t i, int need_semi, cpbuf *out, int *err) {
    size_t j = i + 2;
    int hex = 0;
    if (j < n && (in[j] == 'x' || in[j] == 'X')) { hex = 1; j++; }
    size_t d0 = j;
    uint64_t num = 0;
    while (j < n && (hex ? is_hex_digit(in[j]) : is_ascii_digit(in[j]))) {
        if (num <= 0xFFFFFFFFull) num = num * (hex ? 16 : 10) + (hex ? hex_val(in[j]) : in[j] - '0');
        j++;
    }
    if (j == d0) return 0;
    int semi = j < n && in[j] == ';';
    if (need_semi) {
        /* ftfy: &#?[0-9A-Za-z]{1,24}; — at most 24 chars after '&', then ';' */
        if (!semi || j - (i + 2) > 24) return 0;
    }
    if (semi) j++;
    uint32_t v = charref_value(num);
    if (v != UINT32_MAX && cp_push(out, v)) *err = 1;
    return j - i;
}

/* One pass of entity decoding over in → out.
 *   ftfy_mode = 0: Python html.unescape (named refs with or without ';',
 *                  longest legacy prefix, numeric refs with optional ';');
 *   ftfy_mode = 1: ftfy's unescape_html (only "&name;" / "&#...;"). */
static int html_unescape(const cpbuf *in, cpbuf *out, int ftfy_mode) {
    const uint32_t *s = in->v;
    size_t n = in->n;
    int err = 0;
    out->n = 0;
    if (cp_reserve(out, n)) return -1;
    for (size_t i = 0; i < n && !err;) {
        if (s[i] != '&' || i + 1 >= n) {
            if (cp_push(out, s[i])) return -1;
            i++;
            continue;
        }
        if (s[i + 1] == '#') {
            size_t used = unescape_numeric(s, n, i, ftfy_mode, out, &err);
            if (used) { i += used; continue; }
            if (cp_push(out, s[i])) return -1;
            i++;
            continue;
        }
        /* named: a run of name characters */
        size_t j = i + 1;
        if (ftfy_mode) {
            while (j < n && j - (i + 1) < 24 && s[j] < 128 &&
                   (is_ascii_digit(s[j]) || ((s[j] | 0x20) >= 'a' && (s[j] | 0x20) <= 'z')))
                j++;
            if (j > i + 1 && j < n && s[j] == ';') {
                uint32_t v = entity_lookup(s + i + 1, j - i - 1, 0);
                if (v) {
                    if (cp_push(out, v)) return -1;
                    i = j + 1;
                    continue;
                }
            }
        } else {
            while (j < n && j - (i + 1) < 32 && s[j] != '\t' && s[j] != '\n' && s[j] != '\f' &&
                   s[j] != ' ' && s[j] != '<' && s[j] != '&' && s[j] != '#' && s[j] != ';')
                j++;
            size_t name_len = j - (i + 1);
            int semi = j < n && s[j] == ';';
            if (name_len > 0) {
                uint32_t v = semi ? entity_lookup(s + i + 1, name_len, 0) : entity_lookup(s + i + 1, name_len, 1);
                if (v) {
                    if (cp_push(out, v)) return -1;
                    i = j + (semi ? 1 : 0);
                    continue;
                }
                /* html.unescape: the longest legacy name that is a proper
                 * prefix of the match; the rest stays text (it holds no '&'). */
                size_t x = semi ? name_len : name_len - 1;
                for (; x >= 2; x--)
                    if ((v = entity_lookup(s + i + 1, x, 1)) != 0) break;
                if (v) {
                    if (cp_push(out, v)) return -1;
                    i = i + 1 + x;
                    continue;
                }
            }
        }
        if (cp_push(out, s[i])) return -1;
        i++;
    }
    return err ? -1 : 0;
}

/* ------------------------------------------------------------ ftfy fixers */

static int fix_c1_controls(const cpbuf *in, cpbuf *out) {
    out->n = 0;
    if (cp_reserve(out, in->n)) return -1;
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->v[i];
        out->v[out->n++] = (c >= 0x80 && c <= 0x9F) ? CP1252_C1[c - 0x80] : c;
    }
    return 0;
}

static int fix_latin_ligatures(const cpbuf *in, cpbuf *out) {
    static const struct { uint32_t cp; uint32_t to[3]; } LIG[] = {
        {0x0132, {'I', 'J'}}, {0x0133, {'i', 'j'}}, {0x0149, {0x02BC, 'n'}},
        {0x01C4, {'D', 0x017D}}, {0x01C5, {'D', 0x017E}}, {0x01C6, {'d', 0x017E}},
        {0x01C7, {'L', 'J'}}, {0x01C8, {'L', 'j'}}, {0x01C9, {'l', 'j'}},
        {0x01CA, {'N', 'J'}}, {0x01CB, {'N', 'j'}}, {0x01CC, {'n', 'j'}},
        {0x01F1, {'D', 'Z'}}, {0x01F2, {'D', 'z'}}, {0x01F3, {'d', 'z'}},
        {0xFB00, {'f', 'f'}}, {0xFB01, {'f', 'i'}}, {0xFB02, {'f', 'l'}},
        {0xFB03, {'f', 'f', 'i'}}, {0xFB04, {'f', 'f', 'l'}}, {0xFB05, {0x017F, 't'}},
        {0xFB06, {'s', 't'}},
    };
    out->n = 0;
    if (cp_reserve(out, in->n)) return -1;
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->v[i];
        int done = 0;
        if ((c >= 0x0132 && c <= 0x01F3) || (c >= 0xFB00 && c <= 0xFB06)) {
            for (size_t k = 0; k < sizeof LIG / sizeof LIG[0]; k++) {
                if (LIG[k].cp != c) continue;
                size_t len = LIG[k].to[2] ? 3 : 2;
                if (cp_push_str(out, LIG[k].to, len)) return -1;
                done = 1;
                break;
            }
        }
        if (!done && cp_push(out, c)) return -1;
    }
    return 0;
}

/* NFKC of one code point into out. */
static int push_nfkc(cpbuf *out, uint32_t c) {
    char in8[8];
    int l = utf8_put(c, in8);
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)in8, l, &dst,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
    if (m < 0) return cp_push(out, c);
    int rc = 0;
    for (utf8proc_ssize_t k = 0; k < m && !rc;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t step = utf8proc_iterate(dst + k, m - k, &cp);
        if (step <= 0) break;
        rc = cp_push(out, (uint32_t)cp);
        k += step;
    }
    free(dst);
    return rc;
}

static int fix_character_width(const cpbuf *in, cpbuf *out) {
    out->n = 0;
    if (cp_reserve(out, in->n)) return -1;
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->v[i];
        int rc;
        if (c == 0x3000) rc = cp_push(out, ' ');
        else if (c >= 0xFF01 && c <= 0xFFEF) rc = push_nfkc(out, c);
        else rc = cp_push(out, c);
        if (rc) return -1;
    }
    return 0;
}

static int uncurl_quotes(const cpbuf *in, cpbuf *out) {
    out->n = 0;
    if (cp_reserve(out, in->n)) return -1;
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->v[i];
        if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) c = '\'';
        else if (c >= 0x201C && c <= 0x201F) c = '"';
        out->v[out->n++] = c;
    }
    return 0;
}

static int fix_line_breaks(const cpbuf *in, cpbuf *out) {
    out->n = 0;
    if (cp_reserve(out, in->n)) return -1;
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->v[i];
        if (c == '\r') {
            if (i + 1 < in->n && in->v[i + 1] == '\n') i++;
            c = '\n';
        } else if (c == 0x2028 || c == 0x2029 || c == 0x85) {
            c = '\n';
        }
        out->v[out->n++] = c;
    }
    return 0;
}

/* "\033[" (digits | ';')* letter — Python's \d is any Unicode decimal digit. */
static int remove_terminal_escapes(const cpbuf *in, cpbuf *out) {
    out->n = 0;
    if (cp_reserve(out, in->n)) return -1;
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->v[i];
        if (c == 0x1B && i + 1 < in->n && in->v[i + 1] == '[') {
            size_t j = i + 2;
            while (j < in->n && (in->v[j] == ';' ||
                                 utf8proc_category((utf8proc_int32_t)in->v[j]) == UTF8PROC_CATEGORY_ND))
                j++;
            if (j < in->n && in->v[j] < 128 && ((in->v[j] | 0x20) >= 'a' && (in->v[j] | 0x20) <= 'z')) {
                i = j;
                continue;
            }
        }
        out->v[out->n++] = c;
    }
    return 0;
}

static int remove_control_chars(const cpbuf *in, cpbuf *out) {
    out->n = 0;
    if (cp_reserve(out, in->n)) return -1;
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->v[i];
        if (c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
            (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC))
            continue;
        out->v[out->n++] = c;
    }
    return 0;
}

static int nfc(const cpbuf *in, cpbuf *out) {
    size_t len;
    char *s = cp_to_utf8(in, &len);
    if (!s) return -1;
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &dst,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    free(s);
    if (m < 0) return -1;
    size_t bad;
    int rc = utf8_to_cp(dst, (size_t)m, out, &bad);
    free(dst);
    return rc ? -1 : 0;
}

/* ------------------------------------------------------------ lower-casing */

/* Python's cased / case-ignorable, close enough for the Final_Sigma rule. */
static int is_cased(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT;
}
static int is_case_ignorable(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    if (k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_ME || k == UTF8PROC_CATEGORY_CF ||
        k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_SK)
        return 1;
    return c == '\'' || c == '.' || c == ':' || c == '^' || c == '`' || c == 0xB7 ||
           c == 0x2018 || c == 0x2019 || c == 0x2024 || c == 0x2027 || c == 0xFE13 ||
           c == 0xFE52 || c == 0xFE55 || c == 0xFF07 || c == 0xFF0E || c == 0xFF1A;
}

/* Python str.lower(): the simple lower-case mapping, plus U+0130 → i + U+0307
 * and the Final_Sigma rule. */
static int lower_full(const cpbuf *in, cpbuf *out) {
    out->n = 0;
    if (cp_reserve(out, in->n + 8)) return -1;
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->v[i];
        if (c == 0x130) {
            if (cp_push(out, 'i') || cp_push(out, 0x307)) return -1;
            continue;
        }
        if (c == 0x3A3) {
            /* final if preceded by a cased letter and not followed by one
             * (case-ignorable characters skipped both ways) */
            size_t j = i;
            int before = 0, after = 0;
            while (j > 0) {
                uint32_t p = in->v[--j];
                if (is_case_ignorable(p)) continue;
                before = is_cased(p);
                break;
            }
            for (j = i + 1; j < in->n; j++) {
                uint32_t q = in->v[j];
                if (is_case_ignorable(q)) continue;
                after = is_cased(q);
                break;
            }
            if (cp_push(out, before && !after ? 0x3C2 : 0x3C3)) return -1;
            continue;
        }
        if (cp_push(out, (uint32_t)utf8proc_tolower((utf8proc_int32_t)c))) return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ the pipeline */

typedef int (*cp_pass)(const cpbuf *, cpbuf *);

static int clean_cp(const char *text, cpbuf *cur) {
    cpbuf tmp = {0}, orig = {0};
    size_t n = strlen(text), bad = 0;
    int rc = utf8_to_cp((const uint8_t *)text, n, cur, &bad);
    if (rc == -2) return status_fail(ST_ARG, "text clean-up: text is not valid UTF-8 (byte %zu)", bad);
    if (rc) return status_fail(ST_NOMEM, "text clean-up: out of memory");
    int st = ST_OK;

    /* ftfy.fix_text: the fixers below, to a fixed point. */
    int unescape = !memchr(text, '<', n);
    static const cp_pass PASSES[] = {
        fix_c1_controls, fix_latin_ligatures, fix_character_width, uncurl_quotes,
        fix_line_breaks, remove_terminal_escapes, remove_control_chars, nfc,
    };
    for (int iter = 0; iter < 64; iter++) {
        orig.n = 0;
        if (cp_push_str(&orig, cur->v, cur->n)) goto nomem;
        if (unescape) {
            if (html_unescape(cur, &tmp, 1)) goto nomem;
            cp_swap(cur, &tmp);
        }
        for (size_t k = 0; k < sizeof PASSES / sizeof PASSES[0]; k++) {
            if (PASSES[k](cur, &tmp)) goto nomem;
            cp_swap(cur, &tmp);
        }
        if (cp_equal(cur, &orig)) break;
    }
    /* html.unescape(html.unescape(text)) */
    for (int k = 0; k < 2; k++) {
        if (html_unescape(cur, &tmp, 0)) goto nomem;
        cp_swap(cur, &tmp);
    }
    /* strip, collapse whitespace runs, strip */
    tmp.n = 0;
    if (cp_reserve(&tmp, cur->n)) goto nomem;
    for (size_t i = 0; i < cur->n; i++) {
        if (is_ws(cur->v[i])) {
            if (tmp.n && tmp.v[tmp.n - 1] != ' ') tmp.v[tmp.n++] = ' ';
        } else {
            tmp.v[tmp.n++] = cur->v[i];
        }
    }
    if (tmp.n && tmp.v[tmp.n - 1] == ' ') tmp.n--;
    if (lower_full(&tmp, cur)) goto nomem;
    goto done;
nomem:
    st = status_fail(ST_NOMEM, "text clean-up: out of memory");
done:
    free(tmp.v);
    free(orig.v);
    return st;
}

int text_clean(const char *text, char **out, size_t *len) {
    *out = NULL;
    if (len) *len = 0;
    if (!text) return status_fail(ST_ARG, "text clean-up: NULL text");
    cpbuf cur = {0};
    int st = clean_cp(text, &cur);
    if (!st) {
        *out = cp_to_utf8(&cur, len);
        if (!*out) st = status_fail(ST_NOMEM, "text clean-up: out of memory");
    }
    free(cur.v);
    return st;
}
