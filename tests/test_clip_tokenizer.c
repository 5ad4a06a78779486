/* tests/test_clip_tokenizer.c — model/text/clip_tokenizer (the real CLIP BPE
 * vocabulary of models/demo/clip) against golden ids: tests/data/clip/golden.json
 * (32-token context) and tests/data/clip_tokenizer_ref.json, and, when
 * ../shared is present, its CLIP fixtures' ids (openai simple_tokenizer);
 * docs/model-spec.md §D4, and edge cases. */
#include "test.h"

#include "clip_tokenizer.h"
#include "jsonx.h"
#include "status.h"

#include <dirent.h>
#include <pthread.h>
#include <unistd.h>

static const char *shared;
static clip_tokenizer *tok; /* models/demo/clip's vocab (the full CLIP BPE) */

static int ids_equal(const int32_t *a, int na, const int32_t *b, int nb) {
    if (na != nb) return 0;
    for (int i = 0; i < na; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

static void print_ids(const char *what, const int32_t *ids, int n) {
    printf("    %s:", what);
    for (int i = 0; i < n; i++) printf(" %d", ids[i]);
    printf("\n");
}

/* Encode text with a context of ctx ids and compare with expected (n ids). */
static int expect_ids_ctx(const clip_tokenizer *t, const char *text, int ctx, const int32_t *want, int n_want) {
    int32_t ids[CLIP_TOKENIZER_CONTEXT];
    int n = -1;
    int st = clip_tokenizer_encode(t, text, ids, ctx, &n);
    if (st) {
        printf("    encode(\"%s\"): %s\n", text, status_message());
        return 0;
    }
    if (!ids_equal(ids, n, want, n_want)) {
        printf("    text \"%s\"\n", text);
        print_ids("got ", ids, n);
        print_ids("want", want, n_want);
        return 0;
    }
    return 1;
}

static int expect_ids(const clip_tokenizer *t, const char *text, const int32_t *want, int n_want) {
    return expect_ids_ctx(t, text, CLIP_TOKENIZER_CONTEXT, want, n_want);
}

#define EXPECT(text, ...)                                                       \
    do {                                                                        \
        const int32_t want_[] = {__VA_ARGS__};                           \
        CHECK_MSG(expect_ids(tok, text, want_, (int)(sizeof want_ / sizeof want_[0])), "%s", text); \
    } while (0)

/* ------------------------------------------------------------ golden.json */

/* The ids of golden (a golden.json: texts[] with text and ids) from the
 * tokenizer of mdir with a context of ctx; returns the number of texts. */
static int check_golden_ids(const char *mdir, const char *golden, int ctx) {
    json_t *g = NULL;
    CHECK_MSG(jsonx_load(golden, &g) == 0, "%s", status_message());
    if (!g) return 0;
    clip_tokenizer *t = NULL;
    int st = clip_tokenizer_load(mdir, &t), n_texts = 0;
    CHECK_MSG(st == 0, "%s", status_message());
    json_t *texts = json_object_get(g, "texts");
    CHECK(json_is_array(texts) && json_array_size(texts) > 0);
    size_t i;
    json_t *item;
    json_array_foreach(texts, i, item) {
        const char *text = json_string_value(json_object_get(item, "text"));
        json_t *jids = json_object_get(item, "ids");
        CHECK(text && json_is_array(jids));
        if (!t || !text || !jids) continue;
        int32_t want[CLIP_TOKENIZER_CONTEXT];
        int nw = (int)json_array_size(jids);
        CHECK(nw <= ctx);
        if (nw > ctx) continue;
        for (int k = 0; k < nw; k++) want[k] = (int32_t)json_integer_value(json_array_get(jids, k));
        CHECK_MSG(expect_ids_ctx(t, text, ctx, want, nw), "%s: \"%s\"", golden, text);
        n_texts++;
    }
    clip_tokenizer_free(t);
    json_decref(g);
    return n_texts;
}

/* tests/data/clip/golden.json (tests/reference/clip_ref.py): the demo CLIP's
 * 32-token context, one text truncated. */
TEST(golden_demo) {
    char mdir[1024], golden[1100];
    snprintf(mdir, sizeof mdir, "%s/models/demo/clip", test_source());
    snprintf(golden, sizeof golden, "%s/tests/data/clip/golden.json", test_source());
    int n = check_golden_ids(mdir, golden, 32);
    CHECK(n >= 5);
}

/* ../shared's fixtures (openai simple_tokenizer ids), 77-token context. */
TEST(golden_all_fixtures) {
    char dir[1024], path[1400];
    snprintf(dir, sizeof dir, "%s/fixtures/clip", shared);
    DIR *d = opendir(dir);
    CHECK_MSG(d != NULL, "%s missing", dir);
    if (!d) return;
    int n_dirs = 0, n_texts = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s/golden.json", dir, e->d_name);
        if (access(path, R_OK) != 0) continue;
        char mdir[1400];
        snprintf(mdir, sizeof mdir, "%s/%s", dir, e->d_name);
        n_texts += check_golden_ids(mdir, path, CLIP_TOKENIZER_CONTEXT);
        n_dirs++;
    }
    closedir(d);
    printf("    %d fixture dirs, %d texts\n", n_dirs, n_texts);
    CHECK(n_dirs >= 1);
}

/* ------------------------------------------------------------ Python reference */

/* tests/data/clip_tokenizer_ref.json, written by tests/reference/clip_tokenizer_ref.py
 * (a plain-Python simple_tokenizer: `regex`, html.unescape, str.lower,
 * round-based BPE): scripts, emoji, entities, contractions, truncation,
 * and 120 random mixed-script strings. */
TEST(python_reference) {
    char path[1024];
    const char *other = getenv("SEER_CLIP_TOK_REF"); /* e.g. the --all output */
    if (other) snprintf(path, sizeof path, "%s", other);
    else snprintf(path, sizeof path, "%s/tests/data/clip_tokenizer_ref.json", test_source());
    json_t *g = NULL;
    CHECK_MSG(jsonx_load(path, &g) == 0, "%s", status_message());
    if (!g) return;
    json_t *texts = json_object_get(g, "texts");
    CHECK(json_array_size(texts) > 100);
    size_t i;
    json_t *item;
    int n_bad = 0;
    json_array_foreach(texts, i, item) {
        const char *text = json_string_value(json_object_get(item, "text"));
        json_t *jids = json_object_get(item, "ids");
        int32_t want[CLIP_TOKENIZER_CONTEXT];
        int nw = (int)json_array_size(jids);
        CHECK(text && nw >= 2 && nw <= CLIP_TOKENIZER_CONTEXT);
        if (!text || nw < 2 || nw > CLIP_TOKENIZER_CONTEXT) continue;
        for (int k = 0; k < nw; k++) want[k] = (int32_t)json_integer_value(json_array_get(jids, k));
        if (!expect_ids(tok, text, want, nw) && ++n_bad > 20) break;
    }
    CHECK_MSG(n_bad == 0, "%d of %zu texts differ (%s)", n_bad, json_array_size(texts), path);
    printf("    %zu texts from %s\n", json_array_size(texts), path);
    json_decref(g);
}

/* --------------------------------------------------- docs/model-spec.md §D4 */

TEST(spec_d4_vectors) {
    EXPECT("a diagram", 49406, 320, 22697, 49407);
    EXPECT("a dog", 49406, 320, 1929, 49407);
    EXPECT("a cat", 49406, 320, 2368, 49407);
    EXPECT("a photo of a cat", 49406, 320, 1125, 539, 320, 2368, 49407);
    EXPECT("a photo of a dog", 49406, 320, 1125, 539, 320, 1929, 49407);
    EXPECT("Hello, World!", 49406, 3306, 267, 1002, 256, 49407);
    EXPECT("  The quick   brown FOX jumped over 2 lazy dogs.  ",
           49406, 518, 3712, 2866, 3240, 16901, 962, 273, 10753, 3255, 269, 49407);
    EXPECT("it's a test's case", 49406, 585, 568, 320, 1628, 568, 2068, 49407);
    EXPECT("CLIP is great!!!", 49406, 9289, 533, 830, 995, 49407);
    EXPECT("a photo of a 12345 cat", 49406, 320, 1125, 539, 320, 272, 273, 274, 275, 276, 2368, 49407);
    EXPECT("hello\tworld\n", 49406, 3306, 1002, 49407);
    EXPECT("na\xc3\xafve caf\xc3\xa9", 49406, 1097, 35689, 563, 15304, 49407);
    EXPECT("I'll", 49406, 328, 1342, 49407);
    EXPECT("This is a photo of cat.", 49406, 589, 533, 320, 1125, 539, 2368, 269, 49407);
    EXPECT("This is a photo of plane.", 49406, 589, 533, 320, 1125, 539, 5363, 269, 49407);
    EXPECT("This is a photo of remote.", 49406, 589, 533, 320, 1125, 539, 9687, 269, 49407);
}

TEST(spec_vocab_layout) {
    CHECK(clip_tokenizer_vocab_size(tok) == 49408);
    CHECK(clip_tokenizer_sot(tok) == 49406);
    CHECK(clip_tokenizer_eot(tok) == 49407);
    CHECK(strcmp(clip_tokenizer_token(tok, 0), "!") == 0);
    CHECK(strcmp(clip_tokenizer_token(tok, 64), "a") == 0);
    CHECK(strcmp(clip_tokenizer_token(tok, 320), "a</w>") == 0);
    CHECK(strcmp(clip_tokenizer_token(tok, 49406), "<|startoftext|>") == 0);
    CHECK(strcmp(clip_tokenizer_token(tok, 49407), "<|endoftext|>") == 0);
    CHECK(clip_tokenizer_token(tok, 49408) == NULL);
    CHECK(clip_tokenizer_token(tok, -1) == NULL);
    CHECK(clip_tokenizer_id(tok, "a</w>") == 320);
    CHECK(clip_tokenizer_id(tok, "no such token") == -1);
    CHECK(clip_tokenizer_id(tok, "\xc4\xa0") >= 0); /* U+0120, the space byte */
}

/* ------------------------------------------------------------ edge cases */

TEST(empty_and_blank) {
    EXPECT("", 49406, 49407);
    EXPECT("   \t\n  \xc2\xa0 \xe3\x80\x80", 49406, 49407);
    EXPECT("\xe2\x80\x8b\xef\xbb\xbf", 49406, 9844, 49407); /* ZWSP kept (not \s), BOM removed by ftfy */
}

TEST(truncation) {
    char text[4000] = "";
    for (int i = 0; i < 500; i++) strcat(text, "a ");
    int32_t ids[CLIP_TOKENIZER_CONTEXT];
    int n = 0;
    CHECK(clip_tokenizer_encode(tok, text, ids, 77, &n) == 0);
    CHECK(n == 77);
    CHECK(ids[0] == 49406);
    CHECK(ids[76] == 49407);
    int all_a = 1;
    for (int i = 1; i < 76; i++) all_a &= ids[i] == 320;
    CHECK(all_a);

    /* exactly 75 content ids fits without truncation; 76 loses the last */
    text[0] = 0;
    for (int i = 0; i < 75; i++) strcat(text, "a ");
    CHECK(clip_tokenizer_encode(tok, text, ids, 77, &n) == 0);
    CHECK(n == 77 && ids[75] == 320 && ids[76] == 49407);
    strcat(text, "cat");
    CHECK(clip_tokenizer_encode(tok, text, ids, 77, &n) == 0);
    CHECK(n == 77 && ids[75] == 320 && ids[76] == 49407);

    /* small max_ids */
    CHECK(clip_tokenizer_encode(tok, "a photo of a cat", ids, 4, &n) == 0);
    CHECK(n == 4 && ids[0] == 49406 && ids[1] == 320 && ids[2] == 1125 && ids[3] == 49407);
    CHECK(clip_tokenizer_encode(tok, "a photo of a cat", ids, 2, &n) == 0);
    CHECK(n == 2 && ids[0] == 49406 && ids[1] == 49407);
    CHECK(clip_tokenizer_encode(tok, "a", ids, 1, &n) == ST_ARG);
    CHECK(clip_tokenizer_encode(tok, NULL, ids, 77, &n) == ST_ARG);
}

TEST(huge_inputs) {
    /* one 300k-letter word and 300k digits: BPE is O(n log n), and the
     * digits stop after 75 ids */
    size_t len = 300000;
    char *s = malloc(len + 1);
    for (size_t i = 0; i < len; i++) s[i] = "abcdefghij"[(i * 7 + i / 13) % 10];
    s[len] = 0;
    int32_t ids[CLIP_TOKENIZER_CONTEXT];
    int n = 0;
    CHECK(clip_tokenizer_encode(tok, s, ids, 77, &n) == 0);
    CHECK(n == 77 && ids[76] == 49407);
    for (size_t i = 0; i < len; i++) s[i] = '7';
    CHECK(clip_tokenizer_encode(tok, s, ids, 77, &n) == 0);
    CHECK(n == 77 && ids[1] == clip_tokenizer_id(tok, "7</w>") && ids[76] == 49407);
    free(s);
}

TEST(special_tokens_in_text) {
    int32_t a = clip_tokenizer_id(tok, "a</w>"), b = clip_tokenizer_id(tok, "b</w>");
    CHECK(a == 320 && b > 0);
    EXPECT("a <|endoftext|> b <|startoftext|>", 49406, 320, 49407, b, 49406, 49407);
    EXPECT("a<|endoftext|>b", 49406, 320, 49407, b, 49407);
    EXPECT("<|ENDOFTEXT|>", 49406, 49407, 49407); /* lower-cased first */
    /* an incomplete special string is ordinary punctuation + letters */
    int32_t ids[CLIP_TOKENIZER_CONTEXT];
    int n = 0;
    CHECK(clip_tokenizer_encode(tok, "<|endoftext", ids, 77, &n) == 0);
    int has_special = 0;
    for (int i = 1; i < n - 1; i++) has_special |= ids[i] >= 49406;
    CHECK(!has_special && n > 3);
}

/* Encode, check every id has a token string, and that decoding the content
 * ids gives the cleaned text back (words separated by single spaces). */
static int roundtrip(const char *text, const char *want_decoded) {
    int32_t ids[CLIP_TOKENIZER_CONTEXT];
    int n = 0;
    if (clip_tokenizer_encode(tok, text, ids, 77, &n)) {
        printf("    %s\n", status_message());
        return 0;
    }
    for (int i = 0; i < n; i++)
        if (!clip_tokenizer_token(tok, ids[i])) return 0;
    char *dec = NULL;
    if (clip_tokenizer_decode(tok, ids + 1, n - 2, &dec)) return 0;
    int ok = strcmp(dec, want_decoded) == 0;
    if (!ok) printf("    decoded \"%s\", want \"%s\"\n", dec, want_decoded);
    free(dec);
    return ok;
}

TEST(unicode_roundtrip) {
    CHECK(roundtrip("h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x99\x82 na\xc3\xafve \xc3\xb1" "and\xc3\xba",
                    "h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x99\x82 na\xc3\xafve \xc3\xb1" "and\xc3\xba "));
    /* CJK run is one \p{L}+ piece; emoji sequence with ZWJ is one symbol run */
    CHECK(roundtrip("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe3\x83\x86\xe3\x82\xad\xe3\x82\xb9\xe3\x83\x88",
                    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe3\x83\x86\xe3\x82\xad\xe3\x82\xb9\xe3\x83\x88 "));
    CHECK(roundtrip("\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7 \xf0\x9f\x87\xab\xf0\x9f\x87\xb7",
                    "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7 \xf0\x9f\x87\xab\xf0\x9f\x87\xb7 "));
    /* upper case accents are lower-cased, decomposed input is composed */
    CHECK(roundtrip("\xc3\x89T\xc3\x89 cafe\xcc\x81", "\xc3\xa9t\xc3\xa9 caf\xc3\xa9 "));
    /* Arabic, Devanagari (combining marks are \p{M}, so they split words) */
    int32_t ids[CLIP_TOKENIZER_CONTEXT];
    int n = 0;
    CHECK(clip_tokenizer_encode(tok, "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7 \xe0\xa4\xa8\xe0\xa4\xae\xe0\xa4\xb8\xe0\xa5\x8d\xe0\xa4\xa4\xe0\xa5\x87", ids, 77, &n) == 0);
    CHECK(n > 2 && ids[n - 1] == 49407);
    /* invalid UTF-8 is an argument error, not a crash */
    CHECK(clip_tokenizer_encode(tok, "abc\xff", ids, 77, &n) == ST_ARG);
    CHECK(clip_tokenizer_encode(tok, "\xc3", ids, 77, &n) == ST_ARG);
}

static int same_ids(const char *x, const char *y) {
    int32_t a[CLIP_TOKENIZER_CONTEXT], b[CLIP_TOKENIZER_CONTEXT];
    int na = 0, nb = 0;
    if (clip_tokenizer_encode(tok, x, a, 77, &na) || clip_tokenizer_encode(tok, y, b, 77, &nb)) return 0;
    if (!ids_equal(a, na, b, nb)) {
        printf("    \"%s\" vs \"%s\"\n", x, y);
        print_ids("a", a, na);
        print_ids("b", b, nb);
        return 0;
    }
    return 1;
}

TEST(curly_quotes_like_straight) {
    CHECK(same_ids("it\xe2\x80\x99s a \xe2\x80\x9ctest\xe2\x80\x9d", "it's a \"test\""));
    CHECK(same_ids("\xe2\x80\x98quoted\xe2\x80\x99 I\xe2\x80\x99ll", "'quoted' I'll"));
    CHECK(same_ids("\xe2\x80\x9eLow\xe2\x80\x9f \xca\xbcx", "\"low\" 'x"));
    EXPECT("it\xe2\x80\x99s a test\xe2\x80\x99s case", 49406, 585, 568, 320, 1628, 568, 2068, 49407);
}

static int cleans_to(const char *in, const char *want) {
    char *out = NULL;
    if (clip_tokenizer_clean(in, &out)) {
        printf("    %s\n", status_message());
        return 0;
    }
    int ok = strcmp(out, want) == 0;
    if (!ok) printf("    clean(\"%s\") = \"%s\", want \"%s\"\n", in, out, want);
    free(out);
    return ok;
}

TEST(clean_text) {
    CHECK(cleans_to("  Hello,\t\tWORLD \n", "hello, world"));
    /* html.unescape twice (plus ftfy's own unescape when there is no '<') */
    CHECK(cleans_to("fish &amp; chips", "fish & chips"));
    CHECK(cleans_to("&lt;b&gt; &quot;x&quot; &#39;y&#39; &#65;&#x42;&#X63;", "<b> \"x\" 'y' abc"));
    CHECK(cleans_to("&amp;amp;amp;amp;", "&"));                 /* ftfy loops to a fixed point */
    CHECK(cleans_to("<b>&amp;amp;amp;</b>", "<b>&amp;</b>"));   /* '<' turns ftfy's off: two levels */
    CHECK(cleans_to("caf&eacute; &copy 2024 &notanentity;", "caf\xc3\xa9 \xc2\xa9 2024 \xc2\xac" "anentity;"));
    CHECK(cleans_to("&#0; &#x110000; &#128; &#1;x", "\xef\xbf\xbd \xef\xbf\xbd \xe2\x82\xac x"));
    CHECK(cleans_to("&hellip;&mdash;&nbsp;end", "\xe2\x80\xa6\xe2\x80\x94 end"));
    /* ftfy: ligatures, full width, C1 controls, terminal escapes, control chars */
    CHECK(cleans_to("\xef\xac\x81ne \xef\xac\x82ow", "fine flow"));
    CHECK(cleans_to("\xef\xbc\xa8\xef\xbd\x85\xef\xbd\x8c\xef\xbd\x8c\xef\xbd\x8f\xe3\x80\x80\xef\xbc\x91", "hello 1"));
    CHECK(cleans_to("price \xc2\x80" "5", "price \xe2\x82\xac" "5"));
    CHECK(cleans_to("a\xc2\x85" "b", "a\xe2\x80\xa6" "b")); /* C1 fix runs before line breaks */
    CHECK(cleans_to("a\xe2\x80\xa8" "b\r\nc", "a b c"));
    CHECK(cleans_to("\x1b[31mred\x1b[0m text", "red text"));
    CHECK(cleans_to("a\x01" "b\x7f" "c\xef\xbb\xbf" "d", "abcd"));
    /* NFC and Python's full lower-casing */
    CHECK(cleans_to("e\xcc\x81", "\xc3\xa9"));
    CHECK(cleans_to("\xce\x9f\xce\x94\xce\x9f\xce\xa3 \xce\xa3", "\xce\xbf\xce\xb4\xce\xbf\xcf\x82 \xcf\x83"));
    CHECK(cleans_to("\xc4\xb0stanbul", "i\xcc\x87stanbul"));
    CHECK(cleans_to("STRASSE \xc3\x9f \xe1\xba\x9e", "strasse \xc3\x9f \xc3\x9f"));
    char *out = NULL;
    CHECK(clip_tokenizer_clean("\xed\xa0\x80", &out) == ST_ARG); /* a surrogate in UTF-8 */
    CHECK(out == NULL);
}

/* ------------------------------------------------------------ threads */

typedef struct { int ok; } thread_arg;

static void *thread_main(void *p) {
    thread_arg *a = p;
    static const int32_t want[] = {49406, 320, 1125, 539, 320, 2368, 49407};
    a->ok = 1;
    for (int i = 0; i < 300; i++) {
        int32_t ids[CLIP_TOKENIZER_CONTEXT];
        int n = 0;
        if (clip_tokenizer_encode(tok, "a photo of a cat", ids, 77, &n) || !ids_equal(ids, n, want, 7)) a->ok = 0;
        if (clip_tokenizer_encode(tok, "\xe2\x80\x9cx\xe2\x80\x9d \xc3\xa9t\xc3\xa9 \xf0\x9f\x99\x82", ids, 77, &n)) a->ok = 0;
        if (clip_tokenizer_encode(tok, "abc\xff", ids, 77, &n) != ST_ARG) a->ok = 0;
    }
    return NULL;
}

TEST(shared_across_threads) {
    pthread_t th[4];
    thread_arg args[4];
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, thread_main, &args[i]);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(args[i].ok);
    }
}

/* ------------------------------------------------------------ file validation */

static char tmpdir[256];

static void write_file(const char *name, const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    fputs(text, f);
    fclose(f);
}

/* A tiny byte-level vocabulary: the 512 byte symbols, a few merges, the
 * two special tokens. */
static void write_tiny_vocab(const char *extra_merges_vocab) {
    uint32_t map[256];
    int n = 0;
    for (int i = 0; i < 256; i++) {
        int keep = (i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174 && i <= 255);
        map[i] = keep ? (uint32_t)i : (uint32_t)(256 + n++);
    }
    json_t *v = json_object();
    int id = 0;
    char s[16];
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < 256; i++) {
            uint32_t c = map[i];
            int l = c < 0x80 ? (s[0] = (char)c, 1) : (s[0] = (char)(0xC0 | (c >> 6)), s[1] = (char)(0x80 | (c & 0x3F)), 2);
            s[l] = 0;
            if (pass) strcat(s, "</w>");
            json_object_set_new(v, s, json_integer(id++));
        }
    json_object_set_new(v, "ca", json_integer(id++));
    json_object_set_new(v, "cat</w>", json_integer(id++));
    if (extra_merges_vocab) json_object_set_new(v, extra_merges_vocab, json_integer(id++));
    json_object_set_new(v, "<|startoftext|>", json_integer(id++));
    json_object_set_new(v, "<|endoftext|>", json_integer(id++));
    char p[512];
    snprintf(p, sizeof p, "%s/vocab.json", tmpdir);
    json_dump_file(v, p, 0);
    json_decref(v);
}

static int load_tmp(clip_tokenizer **t) {
    *t = NULL;
    return clip_tokenizer_load(tmpdir, t);
}

TEST(file_validation) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/seer_tok_XXXXXX");
    CHECK(mkdtemp(tmpdir) != NULL);
    clip_tokenizer *t = NULL;

    /* missing files */
    int st = load_tmp(&t);
    CHECK(st == ST_NOT_FOUND && strstr(status_message(), "vocab.json"));
    write_tiny_vocab(NULL);
    st = load_tmp(&t);
    CHECK(st == ST_NOT_FOUND && strstr(status_message(), "merges.txt"));

    /* a good tiny model */
    write_file("merges.txt", "#version: 0.2\nc a\nca t</w>\n\n");
    st = load_tmp(&t);
    CHECK_MSG(st == 0, "%s", status_message());
    if (t) {
        int32_t ids[8];
        int n = 0;
        CHECK(clip_tokenizer_encode(t, "Cat", ids, 8, &n) == 0);
        CHECK(n == 3 && ids[0] == clip_tokenizer_sot(t) && ids[1] == 513 && ids[2] == clip_tokenizer_eot(t));
        CHECK(clip_tokenizer_sot(t) == 514 && clip_tokenizer_eot(t) == 515);
        clip_tokenizer_free(t);
    }

    /* malformed merges lines, with file and line in the message */
    write_file("merges.txt", "#version: 0.2\nc a\nca  t</w>\n");
    st = load_tmp(&t);
    CHECK_MSG(st == ST_FORMAT && strstr(status_message(), "merges.txt:3"), "%s", status_message());
    write_file("merges.txt", "#version: 0.2\nc a\ncat\n");
    st = load_tmp(&t);
    CHECK_MSG(st == ST_FORMAT && strstr(status_message(), "merges.txt:3"), "%s", status_message());
    write_file("merges.txt", "#version: 0.2\n\nc a\n");
    st = load_tmp(&t);
    CHECK_MSG(st == ST_FORMAT && strstr(status_message(), "merges.txt:2"), "%s", status_message());
    /* merge result absent from the vocab */
    write_file("merges.txt", "#version: 0.2\nc a\nt s\n");
    st = load_tmp(&t);
    CHECK_MSG(st == ST_FORMAT && strstr(status_message(), "merges.txt:3") && strstr(status_message(), "\"ts\""),
              "%s", status_message());
    /* merge part absent from the vocab */
    write_file("merges.txt", "#version: 0.2\nc a\nxyz a\n");
    st = load_tmp(&t);
    CHECK_MSG(st == ST_FORMAT && strstr(status_message(), "merges.txt:3") && strstr(status_message(), "xyz"),
              "%s", status_message());
    /* an empty merges file */
    write_file("merges.txt", "#version: 0.2\n");
    st = load_tmp(&t);
    CHECK(st == ST_FORMAT && strstr(status_message(), "merges.txt"));

    /* malformed vocab.json */
    write_file("merges.txt", "#version: 0.2\nc a\n");
    write_file("vocab.json", "{\"a\": 0,\n \"b\": }");
    st = load_tmp(&t);
    CHECK_MSG(st == ST_FORMAT && strstr(status_message(), "vocab.json:2"), "%s", status_message());
    write_file("vocab.json", "[1, 2]");
    st = load_tmp(&t);
    CHECK(st == ST_FORMAT && strstr(status_message(), "vocab.json"));
    write_file("vocab.json", "{\"a\": \"x\"}");
    st = load_tmp(&t);
    CHECK(st == ST_FORMAT && strstr(status_message(), "vocab.json"));
    write_file("vocab.json", "{\"a\": 0, \"b\": 0}");
    st = load_tmp(&t);
    CHECK(st == ST_FORMAT && strstr(status_message(), "vocab.json"));
    write_file("vocab.json", "{\"a\": 0, \"b\": 7}");
    st = load_tmp(&t);
    CHECK(st == ST_FORMAT && strstr(status_message(), "vocab.json"));
    write_file("vocab.json", "{\"a\": 0, \"b\": 1}"); /* not byte-level */
    st = load_tmp(&t);
    CHECK(st == ST_FORMAT && strstr(status_message(), "byte symbol"));
    CHECK(t == NULL);

    char p[512];
    snprintf(p, sizeof p, "%s/vocab.json", tmpdir);
    unlink(p);
    snprintf(p, sizeof p, "%s/merges.txt", tmpdir);
    unlink(p);
    rmdir(tmpdir);
}

TEST(decode) {
    static const int32_t ids[] = {49406, 320, 1125, 539, 320, 2368, 269, 49407};
    char *s = NULL;
    CHECK(clip_tokenizer_decode(tok, ids, 8, &s) == 0);
    CHECK(s && strcmp(s, "<|startoftext|>a photo of a cat . <|endoftext|>") == 0);
    free(s);
}

int main(void) {
    shared = test_shared_opt();
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/models/demo/clip", test_source());
    int st = clip_tokenizer_load(dir, &tok);
    if (st) {
        printf("load %s: %s\n", dir, status_message());
        return 1;
    }
    RUN(spec_vocab_layout);
    RUN(golden_demo);
    if (shared) RUN(golden_all_fixtures);
    RUN(spec_d4_vectors);
    RUN(python_reference);
    RUN(empty_and_blank);
    RUN(truncation);
    RUN(huge_inputs);
    RUN(special_tokens_in_text);
    RUN(unicode_roundtrip);
    RUN(curly_quotes_like_straight);
    RUN(clean_text);
    RUN(shared_across_threads);
    RUN(file_validation);
    RUN(decode);
    clip_tokenizer_free(tok);
    return test_summary();
}
