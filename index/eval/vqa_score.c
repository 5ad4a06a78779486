/* model/vqa_score.c — VQAv2 soft accuracy, the official answer normalisation
 * and the GQA exact match. The rules (and the quirks kept) are in
 * vqa_score.h. */
#include "vqa_score.h"
#include "status.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ---------------------------------------------------------------- tables */

/* Characters processPunctuation handles, in the script's order. */
static const char PUNCT[] = ";:/'[]\"()=+\\_><@`,?";

/* Number words → digits (manualMap). */
static const char *const NUMBER_WORDS[][2] = {
    {"none", "0"}, {"zero", "0"}, {"one", "1"}, {"two", "2"}, {"three", "3"},  {"four", "4"},
    {"five", "5"}, {"six", "6"},  {"seven", "7"}, {"eight", "8"}, {"nine", "9"}, {"ten", "10"},
};

static const char *const ARTICLES[] = {"a", "an", "the"};

/* Apostrophe-less contractions → the script's spelling (U+2019 is written
 * ’; a few values carry an ASCII apostrophe, as in the script). Keys with a
 * capital or an apostrophe can never match a normalised answer (lower-cased,
 * ASCII apostrophes removed) but are kept so the table is the script's. */
static const char *const CONTRACTIONS[][2] = {
    {"aint", "ain't"}, {"arent", "aren't"}, {"cant", "can't"}, {"couldve", "could've"},
    {"couldnt", "couldn't"}, {"couldn'tve", "couldn’t’ve"}, {"couldnt’ve", "couldn’t’ve"},
    {"didnt", "didn’t"}, {"doesnt", "doesn’t"}, {"dont", "don’t"}, {"hadnt", "hadn’t"},
    {"hadnt’ve", "hadn’t’ve"}, {"hadn'tve", "hadn’t’ve"}, {"hasnt", "hasn’t"}, {"havent", "haven’t"},
    {"hed", "he’d"}, {"hed’ve", "he’d’ve"}, {"he’dve", "he’d’ve"}, {"hes", "he’s"}, {"howd", "how’d"},
    {"howll", "how’ll"}, {"hows", "how’s"}, {"Id’ve", "I’d’ve"}, {"I’dve", "I’d’ve"}, {"Im", "I’m"},
    {"Ive", "I’ve"}, {"isnt", "isn’t"}, {"itd", "it’d"}, {"itd’ve", "it’d’ve"}, {"it’dve", "it’d’ve"},
    {"itll", "it’ll"}, {"let’s", "let’s"}, {"maam", "ma’am"}, {"mightnt", "mightn’t"},
    {"mightnt’ve", "mightn’t’ve"}, {"mightn’tve", "mightn’t’ve"}, {"mightve", "might’ve"},
    {"mustnt", "mustn’t"}, {"mustve", "must’ve"}, {"neednt", "needn’t"}, {"notve", "not’ve"},
    {"oclock", "o’clock"}, {"oughtnt", "oughtn’t"}, {"ow’s’at", "’ow’s’at"}, {"’ows’at", "’ow’s’at"},
    {"’ow’sat", "’ow’s’at"}, {"shant", "shan’t"}, {"shed’ve", "she’d’ve"}, {"she’dve", "she’d’ve"},
    {"she’s", "she’s"}, {"shouldve", "should’ve"}, {"shouldnt", "shouldn’t"},
    {"shouldnt’ve", "shouldn’t’ve"}, {"shouldn’tve", "shouldn’t’ve"}, {"somebody’d", "somebodyd"},
    {"somebodyd’ve", "somebody’d’ve"}, {"somebody’dve", "somebody’d’ve"}, {"somebodyll", "somebody’ll"},
    {"somebodys", "somebody’s"}, {"someoned", "someone’d"}, {"someoned’ve", "someone’d’ve"},
    {"someone’dve", "someone’d’ve"}, {"someonell", "someone’ll"}, {"someones", "someone’s"},
    {"somethingd", "something’d"}, {"somethingd’ve", "something’d’ve"},
    {"something’dve", "something’d’ve"}, {"somethingll", "something’ll"}, {"thats", "that’s"},
    {"thered", "there’d"}, {"thered’ve", "there’d’ve"}, {"there’dve", "there’d’ve"},
    {"therere", "there’re"}, {"theres", "there’s"}, {"theyd", "they’d"}, {"theyd’ve", "they’d’ve"},
    {"they’dve", "they’d’ve"}, {"theyll", "they’ll"}, {"theyre", "they’re"}, {"theyve", "they’ve"},
    {"twas", "’twas"}, {"wasnt", "wasn’t"}, {"wed’ve", "we’d’ve"}, {"we’dve", "we’d’ve"},
    {"weve", "we've"}, {"werent", "weren’t"}, {"whatll", "what’ll"}, {"whatre", "what’re"},
    {"whats", "what’s"}, {"whatve", "what’ve"}, {"whens", "when’s"}, {"whered", "where’d"},
    {"wheres", "where's"}, {"whereve", "where’ve"}, {"whod", "who’d"}, {"whod’ve", "who’d’ve"},
    {"who’dve", "who’d’ve"}, {"wholl", "who’ll"}, {"whos", "who’s"}, {"whove", "who've"},
    {"whyll", "why’ll"}, {"whyre", "why’re"}, {"whys", "why’s"}, {"wont", "won’t"},
    {"wouldve", "would’ve"}, {"wouldnt", "wouldn’t"}, {"wouldnt’ve", "wouldn’t’ve"},
    {"wouldn’tve", "wouldn’t’ve"}, {"yall", "y’all"}, {"yall’ll", "y’all’ll"}, {"y’allll", "y’all’ll"},
    {"yall’d’ve", "y’all’d’ve"}, {"y’alld’ve", "y’all’d’ve"}, {"y’all’dve", "y’all’d’ve"},
    {"youd", "you’d"}, {"youd’ve", "you’d’ve"}, {"you’dve", "you’d’ve"}, {"youll", "you’ll"},
    {"youre", "you’re"}, {"youve", "you’ve"},
};

#define COUNT(a) (sizeof(a) / sizeof *(a))
#define PERIOD_STRIP_MAX 32 /* re.UNICODE passed as sub()'s count */

/* ---------------------------------------------------------------- punctuation */

static int has_digit_comma_digit(const char *s) {
    for (size_t i = 0; s[i]; i++)
        if (s[i] == ',' && i > 0 && isdigit((unsigned char)s[i - 1]) && isdigit((unsigned char)s[i + 1])) return 1;
    return 0;
}

static int has_pair(const char *s, char p) {
    for (size_t i = 0; s[i]; i++)
        if (s[i] == p && ((s[i + 1] == ' ') || (i > 0 && s[i - 1] == ' '))) return 1;
    return 0;
}

int vqa_process_punctuation(const char *in, char **out) {
    size_t n = strlen(in);
    char *a = malloc(n + 1), *b = malloc(n + 1);
    if (!a || !b) {
        free(a), free(b);
        return status_fail(ST_NOMEM, "vqa: out of memory");
    }
    memcpy(a, in, n + 1);
    int digit_comma = has_digit_comma_digit(in);
    for (const char *p = PUNCT; *p; p++) {
        int drop = digit_comma || has_pair(in, *p); /* decided on the original text */
        size_t j = 0;
        for (size_t i = 0; a[i]; i++) {
            if (a[i] != *p) b[j++] = a[i];
            else if (!drop) b[j++] = ' ';
        }
        b[j] = 0;
        char *t = a;
        a = b, b = t;
    }
    /* periodStrip: a period not followed by a digit, at most 32 of them */
    size_t j = 0;
    int stripped = 0;
    for (size_t i = 0; a[i]; i++) {
        if (a[i] == '.' && !isdigit((unsigned char)a[i + 1]) && stripped < PERIOD_STRIP_MAX) {
            stripped++;
            continue;
        }
        b[j++] = a[i];
    }
    b[j] = 0;
    free(a);
    *out = b;
    return ST_OK;
}

/* ---------------------------------------------------------------- digits, articles */

/* Python's str.lower() for the simple (one-to-one) case mappings. */
static int lower_utf8(const char *in, char **out) {
    size_t n = strlen(in);
    char *o = malloc(4 * n + 1); /* a code point grows at most to 4 bytes */
    if (!o) return status_fail(ST_NOMEM, "vqa: out of memory");
    size_t i = 0, j = 0;
    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)in + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0) { /* invalid byte: keep it as it is */
            o[j++] = in[i++];
            continue;
        }
        j += (size_t)utf8proc_encode_char(utf8proc_tolower(cp), (utf8proc_uint8_t *)o + j);
        i += (size_t)k;
    }
    o[j] = 0;
    *out = o;
    return ST_OK;
}

static const char *map_word(const char *const (*table)[2], size_t n, const char *w) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(table[i][0], w)) return table[i][1];
    return w;
}

int vqa_process_digit_article(const char *in, char **out) {
    char *low;
    int rc = lower_utf8(in, &low);
    if (rc) return rc;
    size_t cap = 4 * strlen(low) + 16; /* a contraction at most ~3x a word, plus spaces */
    char *o = malloc(cap);
    if (!o) {
        free(low);
        return status_fail(ST_NOMEM, "vqa: out of memory");
    }
    size_t j = 0;
    for (char *save = NULL, *w = strtok_r(low, " \t\n\r\f\v", &save); w; w = strtok_r(NULL, " \t\n\r\f\v", &save)) {
        const char *m = map_word(NUMBER_WORDS, COUNT(NUMBER_WORDS), w);
        int article = 0;
        for (size_t a = 0; a < COUNT(ARTICLES); a++) article |= !strcmp(m, ARTICLES[a]);
        if (article) continue;
        m = map_word(CONTRACTIONS, COUNT(CONTRACTIONS), m);
        size_t len = strlen(m);
        if (j + len + 2 > cap) {
            cap = 2 * (j + len + 2);
            char *t = realloc(o, cap);
            if (!t) {
                free(o), free(low);
                return status_fail(ST_NOMEM, "vqa: out of memory");
            }
            o = t;
        }
        if (j) o[j++] = ' ';
        memcpy(o + j, m, len);
        j += len;
    }
    o[j] = 0;
    free(low);
    *out = o;
    return ST_OK;
}

/* ---------------------------------------------------------------- whole answers */

static char *strip_dup(const char *s, int ws_to_space) {
    size_t n = strlen(s);
    char *o = malloc(n + 1);
    if (!o) return NULL;
    for (size_t i = 0; i <= n; i++) o[i] = ws_to_space && (s[i] == '\n' || s[i] == '\t') ? ' ' : s[i];
    size_t b = 0, e = n;
    while (b < e && isspace((unsigned char)o[b])) b++;
    while (e > b && isspace((unsigned char)o[e - 1])) e--;
    memmove(o, o + b, e - b);
    o[e - b] = 0;
    return o;
}

int vqa_normalize_answer(const char *in, char **out) {
    char *s = strip_dup(in, 1), *p;
    if (!s) return status_fail(ST_NOMEM, "vqa: out of memory");
    int rc = vqa_process_punctuation(s, &p);
    free(s);
    if (rc) return rc;
    rc = vqa_process_digit_article(p, out);
    free(p);
    return rc;
}

int vqa_accuracy(const char *pred, const char *const *gts, int n, double *acc) {
    if (n < 1) return status_fail(ST_ARG, "vqa_accuracy: no ground-truth answers");
    char *res;
    int rc = vqa_normalize_answer(pred, &res);
    if (rc) return rc;
    int unanimous = 1;
    for (int i = 1; i < n; i++) unanimous &= !strcmp(gts[i], gts[0]);
    char **g = calloc((size_t)n, sizeof *g);
    if (!g) {
        free(res);
        return status_fail(ST_NOMEM, "vqa: out of memory");
    }
    for (int i = 0; i < n && !rc; i++) {
        if (unanimous) {
            g[i] = strdup(gts[i]);
            if (!g[i]) rc = status_fail(ST_NOMEM, "vqa: out of memory");
        } else {
            rc = vqa_process_punctuation(gts[i], &g[i]);
        }
    }
    if (!rc) {
        int match = 0; /* how many humans gave exactly the normalised prediction */
        for (int i = 0; i < n; i++) match += !strcmp(g[i], res);
        double sum = 0;
        for (int i = 0; i < n; i++) { /* leave human i out */
            int others = match - !strcmp(g[i], res);
            sum += others >= 3 ? 1.0 : others / 3.0;
        }
        *acc = sum / n;
    }
    for (int i = 0; i < n; i++) free(g[i]);
    free(g);
    free(res);
    return rc;
}

int gqa_exact_match(const char *pred, const char *gold) {
    char *p = strip_dup(pred, 0), *g = strip_dup(gold, 0), *pl = NULL, *gl = NULL;
    int hit = 0;
    if (p && g) {
        size_t n = strlen(p);
        while (n && p[n - 1] == '.') p[--n] = 0;
        if (!lower_utf8(p, &pl) && !lower_utf8(g, &gl)) hit = !strcmp(pl, gl);
    }
    free(p), free(g), free(pl), free(gl);
    return hit;
}

int vqa_prompt(const char *question, char **out) {
    size_t n = strlen(question), k = strlen(VQA_SHORT_ANSWER_PROMPT);
    int has = n >= k && !strcmp(question + n - k, VQA_SHORT_ANSWER_PROMPT);
    char *o = malloc(n + (has ? 0 : k) + 1);
    if (!o) return status_fail(ST_NOMEM, "vqa: out of memory");
    memcpy(o, question, n);
    if (!has) memcpy(o + n, VQA_SHORT_ANSWER_PROMPT, k);
    o[n + (has ? 0 : k)] = 0;
    *out = o;
    return ST_OK;
}
