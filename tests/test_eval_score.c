/* tests/test_eval_score.c — the evaluation scores on hand-made cases whose right
 * answers are worked out by hand: the VQA answer normalisation (with the
 * official script's quirks), VQAv2 soft accuracy, GQA exact match, POPE
 * parsing and metrics, the retrieval protocol's ranks, caption readers,
 * question readers, the eval loop (resume, torn lines, failures, rescore)
 * and the router report. Needs nothing from ../shared. */
#include "captions.h"
#include "eval_questions.h"
#include "eval_retrieval.h"
#include "eval_run.h"
#include "pope_score.h"
#include "router_report.h"
#include "status.h"
#include "test.h"
#include "vqa_score.h"

#include <unistd.h>

static char tmpdir[256];

static void write_file(const char *name, const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
}

static const char *tpath(const char *name) {
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}

/* ---------------------------------------------------------------- VQA normalisation */

static void check_norm(const char *in, const char *want, int line) {
    char *out = NULL;
    int rc = vqa_normalize_answer(in, &out);
    if (rc || !out || strcmp(out, want)) {
        test_failed_checks++, test_cur_failed = 1;
        printf("  line %d: normalise(\"%s\") = \"%s\", want \"%s\"\n", line, in, out ? out : "(null)", want);
    }
    free(out);
}
#define NORM(in, want) check_norm(in, want, __LINE__)

static void check_punct(const char *in, const char *want, int line) {
    char *out = NULL;
    int rc = vqa_process_punctuation(in, &out);
    if (rc || !out || strcmp(out, want)) {
        test_failed_checks++, test_cur_failed = 1;
        printf("  line %d: punctuation(\"%s\") = \"%s\", want \"%s\"\n", line, in, out ? out : "(null)", want);
    }
    free(out);
}
#define PUNCT(in, want) check_punct(in, want, __LINE__)

TEST(vqa_normalisation) {
    NORM("Two.", "2");                 /* period stripped, lower-cased, number word */
    NORM("ten", "10");
    NORM("none", "0");
    NORM("The dog", "dog");            /* articles dropped */
    NORM("a red ball", "red ball");
    NORM("an apple", "apple");
    NORM("  Yes\n", "yes");            /* strip, newline → space */
    NORM("yes\tsir", "yes sir");
    NORM("3.5", "3.5");                /* a period before a digit stays */
    NORM("5.", "5");                   /* after a digit it goes: the look-ahead quirk */
    NORM("a.b.c", "abc");
    NORM("1,000", "1000");             /* digit,digit: punctuation deleted, not spaced */
    NORM("yes, it is", "yes it is");   /* ", " → deleted */
    NORM("black/white", "black white");/* no space around: replaced by a space */
    NORM("red , blue", "red blue");
    NORM("(red)", "red");
    NORM("hello?", "hello");
    NORM("hot-dog", "hot-dog");        /* '-' is not in the list */
    NORM("wow!", "wow!");              /* neither is '!' */
    NORM("isn't", "isn t");            /* the ASCII apostrophe becomes a space */
    NORM("dont", "don\u2019t");        /* contraction map, curly apostrophe */
    NORM("whats up", "what\u2019s up");
    NORM("weve", "we've");             /* one of the ASCII-apostrophe values */
    NORM("Dont", "don\u2019t");        /* lower-cased first */
    NORM("1,2 (a)", "12");             /* digit,digit anywhere: ALL listed punctuation deleted */
    NORM("the the", "");
    NORM("", "");
    NORM("ÉCOLE", "école");            /* Unicode lower-casing */
    NORM("One two three", "1 2 3");
    NORM("one.", "1");
    NORM("it's", "it s");
    /* 40 periods: re.UNICODE (32) is the script's sub() count, so 8 stay */
    NORM("........................................", "........");
    PUNCT("a;b", "a b");
    PUNCT("a; b", "a b");              /* "; " → deleted → "a b" */
    PUNCT("x=1", "x 1");
    PUNCT("x = 1", "x  1");            /* deleted, both spaces stay */
    PUNCT("Yes.", "Yes");              /* no lower-casing in this step */
    PUNCT("2,5 apples; 3", "25 apples 3");
    char *o = NULL;
    CHECK(vqa_process_digit_article("A Couple Of   Dogs", &o) == 0 && !strcmp(o, "couple of dogs"));
    free(o);
    CHECK(vqa_process_digit_article("Im", &o) == 0 && !strcmp(o, "im")); /* "Im" key can never match */
    free(o);
}

TEST(vqa_soft_accuracy) {
    double acc = -1;
    const char *two[10] = {"2", "2", "2", "2", "2", "2", "2", "2", "2", "2"};
    CHECK(vqa_accuracy("two", two, 10, &acc) == 0);
    CHECK_NEAR(acc, 1.0, 1e-12);
    CHECK(vqa_accuracy("Two.", two, 10, &acc) == 0);
    CHECK_NEAR(acc, 1.0, 1e-12);
    CHECK(vqa_accuracy("3", two, 10, &acc) == 0);
    CHECK_NEAR(acc, 0.0, 1e-12);
    /* 3 humans said yes, 7 no: yes-humans left out see 2 → 2/3; others see 3 → 1 */
    const char *y3[10] = {"yes", "yes", "yes", "no", "no", "no", "no", "no", "no", "no"};
    CHECK(vqa_accuracy("yes", y3, 10, &acc) == 0);
    CHECK_NEAR(acc, (3 * (2.0 / 3) + 7 * 1.0) / 10, 1e-12);
    CHECK(vqa_accuracy("no", y3, 10, &acc) == 0);
    CHECK_NEAR(acc, 1.0, 1e-12); /* 7 >= 3 + 1 */
    /* 1 human: 0 for that subset, 1/3 for the 9 others */
    const char *y1[10] = {"yes", "no", "no", "no", "no", "no", "no", "no", "no", "no"};
    CHECK(vqa_accuracy("yes", y1, 10, &acc) == 0);
    CHECK_NEAR(acc, 0.3, 1e-12);
    /* 2 humans: 1/3 for theirs, 2/3 for the 8 others */
    const char *y2[10] = {"yes", "yes", "no", "no", "no", "no", "no", "no", "no", "no"};
    CHECK(vqa_accuracy("yes", y2, 10, &acc) == 0);
    CHECK_NEAR(acc, (2 * (1.0 / 3) + 8 * (2.0 / 3)) / 10, 1e-12);
    /* 4 humans: every subset keeps >= 3 */
    const char *y4[10] = {"cat", "cat", "cat", "cat", "dog", "dog", "dog", "dog", "dog", "dog"};
    CHECK(vqa_accuracy("a cat", y4, 10, &acc) == 0);
    CHECK_NEAR(acc, 1.0, 1e-12);
    /* ground truths get punctuation processing when they disagree... */
    const char *gp[10] = {"yes.", "yes.", "yes.", "no", "no", "no", "no", "no", "no", "no"};
    CHECK(vqa_accuracy("Yes", gp, 10, &acc) == 0);
    CHECK_NEAR(acc, 0.9, 1e-12);
    /* ...but no lower-casing: a capitalised human answer never matches */
    const char *cap[10] = {"Yes", "Yes", "Yes", "no", "no", "no", "no", "no", "no", "no"};
    CHECK(vqa_accuracy("yes", cap, 10, &acc) == 0);
    CHECK_NEAR(acc, 0.0, 1e-12);
    /* ...and none at all when they agree: a unanimous "yes." never matches */
    const char *un[3] = {"yes.", "yes.", "yes."};
    CHECK(vqa_accuracy("yes", un, 3, &acc) == 0);
    CHECK_NEAR(acc, 0.0, 1e-12);
    CHECK(vqa_accuracy("x", two, 0, &acc) == ST_ARG);
}

TEST(gqa_and_prompt) {
    CHECK(gqa_exact_match("Yes.", "yes") == 1);
    CHECK(gqa_exact_match(" Left ", "left") == 1);
    CHECK(gqa_exact_match("left side", "left") == 0);
    CHECK(gqa_exact_match("the table", "table") == 0); /* no article removal in GQA */
    CHECK(gqa_exact_match("", "") == 1);
    char *p = NULL;
    CHECK(vqa_prompt("What is it?", &p) == 0 && !strcmp(p, "What is it?\nAnswer the question using a single word or phrase."));
    char *q = NULL;
    CHECK(vqa_prompt(p, &q) == 0 && !strcmp(p, q)); /* already there: unchanged */
    free(p), free(q);
}

/* ---------------------------------------------------------------- POPE */

TEST(pope) {
    CHECK(pope_parse_answer("Yes") == 1);
    CHECK(pope_parse_answer("yes") == 1);
    CHECK(pope_parse_answer("No") == 0);
    CHECK(pope_parse_answer("no") == 0);
    CHECK(pope_parse_answer("No, there is no dog.") == 0);
    CHECK(pope_parse_answer("There is not a dog") == 0);
    CHECK(pope_parse_answer("I see no cat") == 0);
    CHECK(pope_parse_answer("no,") == 0);            /* commas deleted first */
    CHECK(pope_parse_answer("Yes. No.") == 1);       /* only the first sentence */
    CHECK(pope_parse_answer("Yes, not really.") == 0);
    CHECK(pope_parse_answer("NO") == 1);             /* the rule is case-sensitive */
    CHECK(pope_parse_answer("Not") == 1);
    CHECK(pope_parse_answer("Nope") == 1);
    CHECK(pope_parse_answer("No!") == 1);
    CHECK(pope_parse_answer("") == 1);
    CHECK(pope_parse_answer("nothing") == 1);
    CHECK(pope_parse_answer("\nNo") == 1);           /* split on ' ' only */
    CHECK(pope_parse_label("no") == 0 && pope_parse_label("yes") == 1 && pope_parse_label("No") == 1);
    pope_counts c = {0};
    for (int i = 0; i < 3; i++) pope_counts_add(&c, 1, 1);
    pope_counts_add(&c, 1, 0);
    for (int i = 0; i < 4; i++) pope_counts_add(&c, 0, 0);
    for (int i = 0; i < 2; i++) pope_counts_add(&c, 0, 1);
    CHECK(c.tp == 3 && c.fp == 1 && c.tn == 4 && c.fn == 2);
    pope_metrics m;
    pope_metrics_compute(&c, &m);
    CHECK(m.n == 10);
    CHECK_NEAR(m.accuracy, 0.7, 1e-12);
    CHECK_NEAR(m.precision, 0.75, 1e-12);
    CHECK_NEAR(m.recall, 0.6, 1e-12);
    CHECK_NEAR(m.f1, 2 * 0.75 * 0.6 / 1.35, 1e-12);
    CHECK_NEAR(m.yes_ratio, 0.4, 1e-12);
    pope_counts z = {0, 0, 5, 0}; /* never says yes: no division by zero */
    pope_metrics_compute(&z, &m);
    CHECK(m.precision == 0 && m.recall == 0 && m.f1 == 0 && m.accuracy == 1 && m.yes_ratio == 0);
}

/* ---------------------------------------------------------------- retrieval */

TEST(retrieval_ranks) {
    /* images e0, e1, e2 (the first not unit length: normalised inside) */
    const float img[9] = {2, 0, 0, 0, 1, 0, 0, 0, 1};
    const float txt[15] = {
        1, 0.1f, 0,  /* c0 → img0: rank 1 */
        0.2f, 1, 0,  /* c1 → img0: img1 first, rank 2 */
        0, 0, 1,     /* c2 → img1: img2 first, img0 ties at 0 with a lower index: rank 3 */
        0, 0, 1,     /* c3 → img2: rank 1 */
        0, 1, 0.5f,  /* c4 → img1: rank 1 */
    };
    const size_t of[5] = {0, 0, 1, 2, 1};
    eval_retrieval_result r;
    CHECK(eval_retrieval_score(txt, 5, img, 3, 3, of, &r) == 0);
    CHECK(r.t2i.n_queries == 5 && r.i2t.n_queries == 3);
    CHECK_NEAR(r.t2i.r1, 0.6, 1e-12);
    CHECK_NEAR(r.t2i.r5, 1.0, 1e-12);
    CHECK_NEAR(r.t2i.r10, 1.0, 1e-12);
    CHECK_NEAR(r.t2i.mean_rank, 1.6, 1e-12);
    CHECK_NEAR(r.t2i.median_rank, 1.0, 1e-12);
    /* img0: c0 first → 1. img1: its best caption c4 is behind c1 → 2.
     * img2: c3 ties with c2 (lower index) → 2. */
    CHECK_NEAR(r.i2t.r1, 1.0 / 3, 1e-12);
    CHECK_NEAR(r.i2t.r5, 1.0, 1e-12);
    CHECK_NEAR(r.i2t.mean_rank, 5.0 / 3, 1e-12);
    CHECK_NEAR(r.i2t.median_rank, 2.0, 1e-12);
    const size_t bad[5] = {0, 0, 0, 0, 0}; /* images 1, 2 without a caption */
    CHECK(eval_retrieval_score(txt, 5, img, 3, 3, bad, &r) == ST_ARG);
}

TEST(retrieval_big_blocks) {
    /* more rows than a block, identity-like: every query finds its own item
     * first; then a reversed assignment puts every truth last but one. */
    enum { N = 600, D = 8 };
    float *img = calloc(N * D, sizeof *img), *txt = calloc(N * D, sizeof *txt);
    size_t *of = malloc(N * sizeof *of);
    for (int i = 0; i < N; i++) {
        float a = 6.2831853f * i / N;
        img[i * D] = cosf(a), img[i * D + 1] = sinf(a);
        txt[i * D] = cosf(a), txt[i * D + 1] = sinf(a);
        of[i] = (size_t)i;
    }
    eval_retrieval_result r;
    CHECK(eval_retrieval_score(txt, N, img, N, D, of, &r) == 0);
    CHECK_NEAR(r.t2i.r1, 1.0, 1e-12);
    CHECK_NEAR(r.i2t.r1, 1.0, 1e-12);
    for (int i = 0; i < N; i++) of[i] = (size_t)((i + N / 2) % N); /* the opposite point: last */
    CHECK(eval_retrieval_score(txt, N, img, N, D, of, &r) == 0);
    CHECK_NEAR(r.t2i.r10, 0.0, 1e-12);
    CHECK_NEAR(r.t2i.mean_rank, N, 1e-9);
    free(img), free(txt), free(of);
}

/* Several vectors per image: the protocol on the max over each image's
 * vectors equals a brute-force computation (in double) of the same ranks,
 * over more images than a block; and one vector per image (n_vec = 1) gives
 * eval_retrieval_score's result. */
TEST(retrieval_multi_vector) {
    enum { NI = 150, NV = 4, D = 8, NT = 300 };
    float *img = malloc(NI * NV * D * sizeof *img), *txt = malloc(NT * D * sizeof *txt);
    size_t of[NT];
    uint64_t r = 12345;
    for (int i = 0; i < NI * NV * D; i++) { r = r * 6364136223846793005ull + 1442695040888963407ull; img[i] = (float)((r >> 40) % 2001) / 1000.0f - 1; }
    for (int i = 0; i < NT * D; i++) { r = r * 6364136223846793005ull + 1442695040888963407ull; txt[i] = (float)((r >> 40) % 2001) / 1000.0f - 1; }
    for (int c = 0; c < NT; c++) of[c] = (size_t)(c % NI);
    /* brute force: S[c][i] = max_q cos(t_c, v_iq) */
    static double S[NT][NI];
    for (int c = 0; c < NT; c++)
        for (int i = 0; i < NI; i++) {
            double best = -1e30, tn = 0;
            for (int d = 0; d < D; d++) tn += (double)txt[c * D + d] * txt[c * D + d];
            for (int q = 0; q < NV; q++) {
                const float *v = img + (i * NV + q) * D;
                double dot = 0, vn = 0;
                for (int d = 0; d < D; d++) dot += (double)v[d] * txt[c * D + d], vn += (double)v[d] * v[d];
                dot /= sqrt(tn * vn);
                if (dot > best) best = dot;
            }
            S[c][i] = best;
        }
    double t_r1 = 0, t_mean = 0, i_r5 = 0, i_mean = 0;
    for (int c = 0; c < NT; c++) {
        int rank = 1;
        for (int i = 0; i < NI; i++) rank += S[c][i] > S[c][of[c]];
        t_r1 += rank <= 1, t_mean += rank;
    }
    for (int i = 0; i < NI; i++) {
        int best = -1;
        for (int c = 0; c < NT; c++)
            if (of[c] == (size_t)i && (best < 0 || S[c][i] > S[best][i])) best = c;
        int rank = 1;
        for (int c = 0; c < NT; c++) rank += S[c][i] > S[best][i];
        i_r5 += rank <= 5, i_mean += rank;
    }
    eval_retrieval_result res;
    CHECK_MSG(eval_retrieval_score_multi(txt, NT, img, NI, NV, D, of, &res) == 0, "%s", status_message());
    CHECK_NEAR(res.t2i.r1, t_r1 / NT, 1e-12);
    CHECK_NEAR(res.t2i.mean_rank, t_mean / NT, 1e-9);
    CHECK_NEAR(res.i2t.r5, i_r5 / NI, 1e-12);
    CHECK_NEAR(res.i2t.mean_rank, i_mean / NI, 1e-9);
    CHECK(res.t2i.mean_rank > 1.5);   /* random data: the ranks are not all trivially 1 */
    eval_retrieval_result one, multi1;
    CHECK(eval_retrieval_score(txt, NT, img, NI, D, of, &one) == 0);
    CHECK(eval_retrieval_score_multi(txt, NT, img, NI, 1, D, of, &multi1) == 0);
    CHECK(memcmp(&one, &multi1, sizeof one) == 0);
    free(img), free(txt);
}

/* ---------------------------------------------------------------- caption files */

TEST(captions_csv_tsv_coco) {
    write_file("c.csv", "image,caption\n"
                        "a.jpg,A dog runs .\n"
                        "a.jpg,\"A dog, running\"\n"
                        "b.jpg,two, commas, unquoted\n"
                        "\n"
                        "b.jpg,\"say \"\"hi\"\"\nnext line\"\r\n");
    captions c;
    CHECK(captions_load(tpath("c.csv"), &c) == 0);
    CHECK(c.n_images == 2 && c.n_captions == 4);
    if (c.n_captions == 4) {
        CHECK(!strcmp(c.images[0], "a.jpg") && !strcmp(c.images[1], "b.jpg"));
        CHECK(!strcmp(c.texts[1], "A dog, running"));
        CHECK(!strcmp(c.texts[2], "two, commas, unquoted"));
        CHECK(!strcmp(c.texts[3], "say \"hi\"\nnext line"));
        CHECK(c.image_of[0] == 0 && c.image_of[1] == 0 && c.image_of[2] == 1 && c.image_of[3] == 1);
    }
    captions_release(&c);
    write_file("c.tsv", "id\tcaption\timage\n1\tA cat, sitting\tx.jpg\n2\tA cat\tx.jpg\n3\tcar\ty.png\n");
    CHECK(captions_load(tpath("c.tsv"), &c) == 0);
    CHECK(c.n_images == 2 && c.n_captions == 3 && !strcmp(c.texts[0], "A cat, sitting") && !strcmp(c.images[1], "y.png"));
    captions_release(&c);
    write_file("c.json", "{\"images\": [{\"id\": 7, \"file_name\": \"7.jpg\"}, {\"id\": 3, \"file_name\": \"3.jpg\"},"
                         " {\"id\": 9, \"file_name\": \"nocap.jpg\"}],"
                         " \"annotations\": [{\"image_id\": 3, \"caption\": \"three\"}, {\"image_id\": 7, \"caption\": \"seven\"},"
                         " {\"image_id\": 3, \"caption\": \"tres\"}]}");
    CHECK(captions_load(tpath("c.json"), &c) == 0);
    CHECK(c.n_images == 2 && c.n_captions == 3); /* nocap.jpg dropped */
    if (c.n_captions == 3) {
        CHECK(!strcmp(c.images[0], "7.jpg") && !strcmp(c.images[1], "3.jpg"));
        CHECK(c.image_of[0] == 1 && c.image_of[1] == 0 && c.image_of[2] == 1);
    }
    unsigned char keep[2] = {0, 1};
    CHECK(captions_filter(&c, keep) == 0 && c.n_images == 1 && c.n_captions == 2 && c.image_of[1] == 0 &&
          !strcmp(c.texts[1], "tres"));
    captions_release(&c);
    write_file("bad1.csv", "file,text\na,b\n");
    CHECK(captions_load(tpath("bad1.csv"), &c) == ST_FORMAT);
    write_file("bad2.csv", "image,caption\na.jpg,\"unterminated\n");
    CHECK(captions_load(tpath("bad2.csv"), &c) == ST_FORMAT);
    write_file("bad3.json", "{\"images\": [], \"annotations\": [{\"image_id\": 1, \"caption\": \"x\"}]}");
    CHECK(captions_load(tpath("bad3.json"), &c) == ST_FORMAT);
    CHECK(captions_load(tpath("absent.csv"), &c) != 0);
}

/* ---------------------------------------------------------------- questions + run */

TEST(questions_formats) {
    write_file("v.json", "{\"data_subtype\": \"val2014\", \"questions\": [{\"question_id\": 5, \"image_id\": 139, "
                         "\"question\": \"How many?\"}, {\"question_id\": 6, \"image_id\": 139, \"question\": \"What?\"}]}");
    write_file("v_ann.json", "{\"annotations\": [{\"question_id\": 5, \"answers\": [{\"answer\": \"2\", \"answer_id\": 1},"
                             " {\"answer\": \"two\", \"answer_id\": 2}]}, {\"question_id\": 99, \"answers\": []}]}");
    eval_questions qs;
    CHECK(eval_questions_load(tpath("v.json"), tpath("v_ann.json"), &qs) == 0);
    CHECK(qs.n == 2);
    if (qs.n == 2) {
        CHECK(!strcmp(qs.q[0].id, "5") && qs.q[0].id_is_int);
        CHECK(!strcmp(qs.q[0].image, "000000000139.jpg") && !strcmp(qs.q[0].image_alt, "COCO_val2014_000000000139.jpg"));
        CHECK(qs.q[0].gt == EVAL_GT_VQA && qs.q[0].n_answers == 2 && !strcmp(qs.q[0].answers[1], "two"));
        CHECK(qs.q[1].gt == EVAL_GT_NONE);
    }
    eval_questions_release(&qs);
    write_file("p.jsonl", "{\"question_id\": \"a\", \"image\": \"x.jpg\", \"text\": \"Is there a dog?\", \"label\": \"yes\", "
                          "\"category\": \"random\"}\n\n"
                          "{\"question_id\": \"b\", \"image\": \"x.jpg\", \"question\": \"Color?\", \"answer\": \"red\"}\n");
    CHECK(eval_questions_load(tpath("p.jsonl"), NULL, &qs) == 0);
    CHECK(qs.n == 2 && qs.q[0].gt == EVAL_GT_POPE && !strcmp(qs.q[0].category, "random") && qs.q[1].gt == EVAL_GT_EXACT &&
          !strcmp(qs.q[1].question, "Color?") && !qs.q[0].id_is_int);
    eval_questions_release(&qs);
    write_file("dup.jsonl", "{\"question_id\": 1, \"image\": \"x.jpg\", \"text\": \"q\"}\n"
                            "{\"question_id\": 1, \"image\": \"x.jpg\", \"text\": \"q\"}\n");
    CHECK(eval_questions_load(tpath("dup.jsonl"), NULL, &qs) == ST_FORMAT);
    write_file("broken.jsonl", "{\"question_id\": 1, \"image\": \"x.jpg\", \"text\": \"q\"}\n{oops\n");
    CHECK(eval_questions_load(tpath("broken.jsonl"), NULL, &qs) == ST_FORMAT);
}

/* A fake model: answers from the prompt, fails on request, gives router counts. */
static int fake_calls;
static int fake_answer(void *ctx, const char *image_path, const char *prompt, char **answer, json_t **router) {
    fake_calls++;
    if (strstr(prompt, "FAIL")) return status_fail(ST_FORMAT, "fake failure");
    *answer = strdup(strstr(prompt, "dog") ? "Yes" : strstr(prompt, "cat") ? "No, there is not." : "Two.");
    *router = json_pack("{s:[i,i], s:i, s:[[i,i],[i,i]], s:[[i,i],[i,i]], s:[[i,i],[i,i]]}", "layers", 0, 2, "experts", 2,
                        "text", 1, 1, 2, 0, "image", 3, 1, 0, 4, "generated", 0, 0, 0, 0);
    return ST_OK;
}

static int n_errors;
static void on_error(const eval_question *q, const char *reason, void *ctx) { n_errors++; }

TEST(run_resume_rescore) {
    write_file("img.jpg", "not decoded by the fake");
    write_file("q.jsonl",
               "{\"question_id\": 1, \"image\": \"img.jpg\", \"text\": \"How many?\", \"answers\": [\"2\",\"2\",\"2\",\"3\"]}\n"
               "{\"question_id\": 2, \"image\": \"img.jpg\", \"text\": \"Is there a dog?\", \"label\": \"yes\", \"category\": \"random\"}\n"
               "{\"question_id\": 3, \"image\": \"img.jpg\", \"text\": \"Is there a cat?\", \"label\": \"yes\", \"category\": \"popular\"}\n"
               "{\"question_id\": 4, \"image\": \"missing.jpg\", \"text\": \"Is there a dog?\", \"label\": \"no\", \"category\": \"random\"}\n"
               "{\"question_id\": 5, \"image\": \"img.jpg\", \"text\": \"FAIL\", \"answer\": \"x\"}\n"
               "{\"question_id\": 6, \"image\": \"img.jpg\", \"text\": \"Count?\", \"answer\": \"two\"}\n");
    eval_questions qs;
    CHECK(eval_questions_load(tpath("q.jsonl"), NULL, &qs) == 0);
    unlink(tpath("preds.jsonl"));
    eval_run_opts o;
    eval_run_opts_default(&o);
    o.images_dir = tmpdir;
    o.preds_path = tpath("preds.jsonl");
    o.answer = fake_answer;
    o.on_error = on_error;
    eval_run_result r;
    fake_calls = n_errors = 0;
    CHECK(eval_run(&qs, &o, &r) == 0);
    CHECK(r.n_questions == 6 && r.n_asked == 4 && r.n_failed == 2 && n_errors == 2 && r.n_predicted == 4);
    CHECK(fake_calls == 5); /* the missing image never reaches the model */
    CHECK(r.n_vqa == 1);
    /* "Two." → "2", said by 3 of 4: the 3 subsets without a "2"-human have 2
     * matches (2/3), the one without the "3"-human has 3 (1) → 0.75 */
    CHECK_NEAR(r.vqa_accuracy, 0.75, 1e-12);
    CHECK(r.n_exact == 1);
    CHECK_NEAR(r.exact_accuracy, 1.0, 1e-12); /* "Two." → "two": trailing period, lower case */
    CHECK(r.n_pope_splits == 3 && !strcmp(r.pope[0].name, "all") && r.pope[0].m.n == 2);
    if (r.n_pope_splits == 3) {
        CHECK_NEAR(r.pope[0].m.accuracy, 0.5, 1e-12);
        CHECK(!strcmp(r.pope[1].name, "random") && r.pope[1].c.tp == 1);
        CHECK(!strcmp(r.pope[2].name, "popular") && r.pope[2].c.fn == 1);
    }
    CHECK(r.router.n_layers == 2 && r.router.n_experts == 2 && r.router.n_answers == 4);
    if (r.router.n_layers == 2) CHECK(r.router.counts[(0 * 2 + 0) * 3 + 1] == 12); /* image, layer 0, expert 0: 3 x 4 */
    eval_run_result_release(&r);
    /* resume: only the failed ones are asked again; a torn line is skipped */
    FILE *f = fopen(tpath("preds.jsonl"), "a");
    fputs("{\"question_id\": 5, \"te", f);
    fclose(f);
    fake_calls = 0;
    CHECK(eval_run(&qs, &o, &r) == 0);
    CHECK(r.n_resumed == 4 && r.n_asked == 0 && r.n_failed == 2 && fake_calls == 1 && r.n_bad_lines == 1);
    eval_run_result_release(&r);
    /* the file is still line-clean after the torn line: a new answer lands on its own line */
    qs.q[4].question[0] = 'f'; /* "fAIL": answers now */
    fake_calls = 0;
    CHECK(eval_run(&qs, &o, &r) == 0);
    CHECK(r.n_asked == 1 && r.n_predicted == 5 && r.n_bad_lines == 1);
    eval_run_result_release(&r);
    /* rescore: nothing asked */
    o.rescore = 1;
    fake_calls = 0;
    CHECK(eval_run(&qs, &o, &r) == 0);
    CHECK(fake_calls == 0 && r.n_predicted == 5 && r.n_exact == 2);
    eval_run_result_release(&r);
    /* limit */
    o.rescore = 0;
    o.limit = 2;
    CHECK(eval_run(&qs, &o, &r) == 0);
    CHECK(r.n_questions == 2 && r.n_predicted == 2);
    eval_run_result_release(&r);
    router_stats rs = {0};
    size_t lines = 0;
    CHECK(eval_run_preds_router(tpath("preds.jsonl"), &rs, &lines) == 0 && lines == 5 && rs.n_answers == 5);
    router_stats_release(&rs);
    eval_questions_release(&qs);
}

/* ---------------------------------------------------------------- router report */

TEST(router_report) {
    router_stats rs;
    const int ids[2] = {1, 3};
    CHECK(router_stats_init(&rs, 2, 4, ids) == 0);
    /* layer 0: text all on experts 0,1; image spread evenly. layer 1: empty image. */
    uint32_t c[2 * 4 * 3] = {0};
    for (int e = 0; e < 4; e++) c[(0 * 4 + e) * 3 + 1] = 5;
    c[(0 * 4 + 0) * 3 + 0] = 6, c[(0 * 4 + 1) * 3 + 0] = 6;
    c[(0 * 4 + 0) * 3 + 2] = 2, c[(0 * 4 + 1) * 3 + 2] = 2;
    c[(1 * 4 + 2) * 3 + 0] = 8, c[(1 * 4 + 3) * 3 + 0] = 8;
    CHECK(router_stats_add(&rs, c, 24) == 0);
    CHECK(router_stats_add(&rs, c, 23) == ST_MISMATCH);
    json_t *t = router_stats_json(&rs);
    json_t *load = json_object_get(t, "load");
    CHECK_NEAR(json_real_value(json_array_get(json_array_get(json_object_get(load, "image"), 0), 2)), 0.25, 1e-12);
    CHECK_NEAR(json_real_value(json_array_get(json_array_get(json_object_get(load, "text"), 0), 0)), 0.5, 1e-12);
    CHECK(json_is_null(json_array_get(json_array_get(json_object_get(load, "image"), 1), 0))); /* nothing routed */
    /* expert 0, layer 0: 5 image of 5 + 8 text → 5/13 */
    CHECK_NEAR(json_real_value(json_array_get(json_array_get(json_object_get(t, "image_share"), 0), 0)), 5.0 / 13, 1e-12);
    CHECK_NEAR(json_real_value(json_array_get(json_object_get(t, "layer_image_share"), 0)), 20.0 / 36, 1e-12);
    /* JSON round trip */
    router_stats rs2 = {0};
    CHECK(router_stats_add_json(&rs2, t) == 0);
    CHECK(rs2.n_layers == 2 && rs2.layer_ids[1] == 3 && !memcmp(rs2.counts, rs.counts, 24 * sizeof *rs.counts));
    router_stats_release(&rs2);
    json_decref(t);
    char *svg = NULL;
    size_t len = 0;
    CHECK(router_svg_load(&rs, "load <&> \"test\"", &svg, &len) == 0);
    CHECK(svg && len == strlen(svg) && !strncmp(svg, "<svg", 4) && strstr(svg, "</svg>\n") &&
          strstr(svg, "load &lt;&amp;&gt; &quot;test&quot;") && strstr(svg, "layer 3") && strstr(svg, "E4"));
    free(svg);
    CHECK(router_svg_modality(&rs, NULL, &svg, &len) == 0);
    CHECK(svg && strstr(svg, "expert 4") && strstr(svg, "image 38.5%"));
    free(svg);
    router_stats_release(&rs);
    router_stats empty = {0};
    CHECK(router_svg_load(&empty, NULL, &svg, &len) == ST_ARG);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/seer_eval_score_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    RUN(vqa_normalisation);
    RUN(vqa_soft_accuracy);
    RUN(gqa_and_prompt);
    RUN(pope);
    RUN(retrieval_ranks);
    RUN(retrieval_big_blocks);
    RUN(retrieval_multi_vector);
    RUN(captions_csv_tsv_coco);
    RUN(questions_formats);
    RUN(run_resume_rescore);
    RUN(router_report);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd)) return 1;
    return test_summary();
}
