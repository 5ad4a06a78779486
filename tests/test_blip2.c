/* tests/test_blip2.c — BLIP-2 retrieval (model/nets/blip2, model/text/
 * bert_tokenizer, the BLIP image processor, model/pipeline/embed) against
 * reference outputs:
 *   - tests/data/blip2-tiny/golden.json: a tiny random checkpoint written by
 *     tests/reference/blip2_ref.py (a plain-PyTorch restatement of
 *     transformers' Blip2ForImageTextRetrieval, BertTokenizer and
 *     BlipImageProcessor), on the repository's images; always run;
 *   - $SEER_SHARED/fixtures/blip2 when present (the upstream transformers
 *     code in float64, see its README): the same checks, with the JPEG held
 *     to cosine > 0.999 (another decoder) instead of exact values. */
#include "test.h"

#include "bert_tokenizer.h"
#include "blip2.h"
#include "embed.h"
#include "image.h"
#include "jsonx.h"
#include "preprocess.h"
#include "status.h"

#include <math.h>
#include <unistd.h>

static double num(json_t *a, size_t i) { return json_number_value(json_array_get(a, i)); }

static double max_abs(const float *a, json_t *ref, int n) {
    double m = 0;
    if ((int)json_array_size(ref) != n) return INFINITY;
    for (int i = 0; i < n; i++) {
        double d = fabs(a[i] - num(ref, (size_t)i));
        if (!(d <= m)) m = d;
    }
    return m;
}

/* A JSON matrix (rows of numbers) flattened, compared to a. */
static double max_abs2(const float *a, json_t *ref, int rows, int cols) {
    double m = 0;
    if ((int)json_array_size(ref) != rows) return INFINITY;
    for (int r = 0; r < rows; r++) {
        double d = max_abs(a + (size_t)r * cols, json_array_get(ref, (size_t)r), cols);
        if (!(d <= m)) m = d;
    }
    return m;
}

static double cosine2(const float *a, json_t *ref, int rows, int cols) {
    double ab = 0, aa = 0, bb = 0;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            double b = num(json_array_get(ref, (size_t)r), (size_t)c), x = a[(size_t)r * cols + c];
            ab += x * b, aa += x * x, bb += b * b;
        }
    return ab / sqrt(aa * bb);
}

static int ids_equal(const int32_t *ids, int n, json_t *ref) {
    if ((int)json_array_size(ref) != n) return 0;
    for (int i = 0; i < n; i++)
        if (ids[i] != (int32_t)json_integer_value(json_array_get(ref, (size_t)i))) return 0;
    return 1;
}

/* The model in dir against golden; images named relative to inputs. */
static void check_golden(const char *dir, const char *golden, const char *inputs) {
    json_t *g;
    if (jsonx_load(golden, &g)) {
        CHECK_MSG(0, "%s", status_message());
        return;
    }
    printf("  %s\n", golden);
    blip2_model *m = NULL;
    bert_tokenizer *tok = NULL;
    preprocess_cfg pre;
    int st = blip2_load(dir, &m);
    CHECK_MSG(st == 0, "%s", status_message());
    if (!st) st = bert_tokenizer_load(dir, &tok);
    CHECK_MSG(st == 0, "%s", status_message());
    if (!st) st = preprocess_load(dir, &pre);
    CHECK_MSG(st == 0, "%s", status_message());
    if (st) {
        blip2_free(m);
        bert_tokenizer_free(tok);
        json_decref(g);
        return;
    }
    int ph, pw;
    preprocess_out_size(&pre, &ph, &pw);
    CHECK(ph == m->image_size && pw == m->image_size);
    const int maxlen = (int)jsonx_int(g, "max_text_length", 35);

    /* tokenizer: untruncated ids of every string, exact */
    json_t *tk = json_object_get(g, "tokenizer");
    for (size_t i = 0; i < json_array_size(tk); i++) {
        json_t *c = json_array_get(tk, i);
        int32_t ids[1024];
        int n = 0;
        st = bert_tokenizer_encode(tok, jsonx_str(c, "text", ""), ids, 1024, &n, NULL);
        CHECK_MSG(st == 0 && ids_equal(ids, n, json_object_get(c, "ids")), "tokenizer: \"%s\"",
                  jsonx_str(c, "text", ""));
    }

    const int ni = (int)json_array_size(json_object_get(g, "images"));
    const int nt = (int)json_array_size(json_object_get(g, "texts"));
    const int E = m->embed_dim, nq = m->nq;
    const size_t rows_len = blip2_image_rows_len(m);
    float *rows = malloc((size_t)ni * rows_len * sizeof(float));
    float *feats = malloc((size_t)ni * nq * E * sizeof(float));
    float *Z = malloc((size_t)ni * nq * m->D * sizeof(float));
    float *tf = malloc((size_t)nt * E * sizeof(float));
    float *pix = malloc((size_t)3 * ph * pw * sizeof(float));
    int *exact = calloc((size_t)ni, sizeof(int));
    image_opts io = image_opts_default();
    io.exif_rotate = 0; /* PIL does not apply EXIF */
    for (int i = 0; i < ni; i++) {
        json_t *r = json_array_get(json_object_get(g, "images"), (size_t)i);
        const char *file = jsonx_str(r, "file", "");
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", inputs, file);
        image img = {0};
        st = image_load(path, &io, &img, NULL);
        if (!st) st = preprocess_image(&pre, &img, pix);
        image_release(&img);
        CHECK_MSG(st == 0, "%s: %s", path, status_message());
        if (st) continue;
        /* JPEG decoders differ (the reference used libjpeg-turbo): cosine only */
        exact[i] = !strstr(file, ".jpg") && !strstr(file, ".jpeg");
        double sum = 0, abs_sum = 0;
        for (int k = 0; k < 3 * ph * pw; k++) sum += pix[k], abs_sum += fabs(pix[k]);
        double ref_abs = jsonx_num(r, "pixel_abs_sum", 0);
        if (exact[i]) {
            CHECK_NEAR(sum, jsonx_num(r, "pixel_sum", 0), 1e-3 * ref_abs);
            CHECK_NEAR(abs_sum, ref_abs, 1e-3 * ref_abs);
            CHECK_MSG(max_abs(pix, json_object_get(r, "pixel_first8"), 8) < 1e-5, "%s pixel_first8", file);
        }
        float *ri = rows + (size_t)i * rows_len;
        st = blip2_vision(m, pix, 1, ri);
        CHECK_MSG(st == 0, "%s", status_message());
        double vs = 0;
        for (size_t k = 0; k < rows_len; k++) vs += ri[k];
        if (exact[i]) {
            CHECK_NEAR(vs, jsonx_num(r, "vision_last_hidden_sum", 0), 2e-3);
            double d = max_abs2(ri, json_object_get(r, "vision_last_hidden_rows0_2"), 2, m->Dv);
            CHECK_MSG(d < 2e-4, "%s vision rows 0-1: max |diff| %.3g", file, d);
        }
    }
    /* the query pass batched over all images */
    st = blip2_image_features(m, rows, ni, Z, feats);
    CHECK_MSG(st == 0, "%s", status_message());
    for (int i = 0; i < ni && !st; i++) {
        json_t *r = json_array_get(json_object_get(g, "images"), (size_t)i);
        const char *file = jsonx_str(r, "file", "");
        const float *zi = Z + (size_t)i * nq * m->D, *fi = feats + (size_t)i * nq * E;
        if (exact[i]) {
            double dz = max_abs2(zi, json_object_get(r, "query_output"), nq, m->D);
            double df = max_abs2(fi, json_object_get(r, "image_feats"), nq, E);
            CHECK_MSG(dz < 2e-5, "%s Z: max |diff| %.3g", file, dz);
            CHECK_MSG(df < 1e-5, "%s image_feats: max |diff| %.3g", file, df);
        } else {
            double cz = cosine2(zi, json_object_get(r, "query_output"), nq, m->D);
            double cf = cosine2(fi, json_object_get(r, "image_feats"), nq, E);
            CHECK_MSG(cz > 0.999 && cf > 0.999, "%s: cosine Z %.6f, feats %.6f", file, cz, cf);
        }
    }

    /* texts: tokenised here (truncated to max_text_length), then the text pass */
    int32_t (*tids)[512] = calloc((size_t)nt, sizeof *tids);
    int *tn = calloc((size_t)nt, sizeof(int));
    float *cls = malloc((size_t)m->D * sizeof(float));
    for (int t = 0; t < nt; t++) {
        json_t *r = json_array_get(json_object_get(g, "texts"), (size_t)t);
        int full = 0;
        st = bert_tokenizer_encode(tok, jsonx_str(r, "text", ""), tids[t], maxlen, &tn[t], &full);
        CHECK(st == 0 && full == (int)jsonx_int(r, "n_ids_untruncated", -1));
        CHECK_MSG(st == 0 && ids_equal(tids[t], tn[t], json_object_get(r, "ids")), "text %d ids", t);
        st = blip2_text_feature(m, tids[t], tn[t], cls, tf + (size_t)t * E);
        CHECK_MSG(st == 0, "%s", status_message());
        double dc = max_abs(cls, json_object_get(r, "text_cls_hidden"), m->D);
        double dt = max_abs(tf + (size_t)t * E, json_object_get(r, "text_feat"), E);
        CHECK_MSG(dc < 2e-5 && dt < 1e-5, "text %d: cls |diff| %.3g, feat |diff| %.3g", t, dc, dt);
    }

    /* ITC (max over queries) and ITM */
    json_t *itc = json_object_get(g, "itc"), *itl = json_object_get(g, "itm_logits"),
           *itp = json_object_get(g, "itm_prob");
    for (int i = 0; i < ni; i++)
        for (int t = 0; t < nt; t++) {
            float best = -INFINITY;
            for (int q = 0; q < nq; q++) {
                float s = 0;
                for (int k = 0; k < E; k++) s += feats[((size_t)i * nq + q) * E + k] * tf[(size_t)t * E + k];
                if (s > best) best = s;
            }
            float lg[2];
            st = blip2_itm(m, rows + (size_t)i * rows_len, tids[t], tn[t], lg);
            CHECK_MSG(st == 0, "%s", status_message());
            double ritc = num(json_array_get(itc, (size_t)i), (size_t)t);
            json_t *rl = json_array_get(json_array_get(itl, (size_t)i), (size_t)t);
            double rp = num(json_array_get(itp, (size_t)i), (size_t)t);
            /* a JPEG decoded by another decoder: only near (its features are held to cosine > 0.999) */
            double tol = exact[i] ? 1e-5 : 3e-2;
            CHECK_MSG(fabs(best - ritc) < tol, "itc[%d][%d] %.7f vs %.7f", i, t, best, ritc);
            CHECK_MSG(fabs(lg[0] - num(rl, 0)) < tol && fabs(lg[1] - num(rl, 1)) < tol,
                      "itm_logits[%d][%d] %.7f %.7f vs %.7f %.7f", i, t, lg[0], lg[1], num(rl, 0), num(rl, 1));
            CHECK_MSG(fabs(blip2_itm_prob(lg) - rp) < tol, "itm_prob[%d][%d]", i, t);
        }
    free(tids), free(tn), free(cls);
    free(rows), free(feats), free(Z), free(tf), free(pix), free(exact);
    blip2_free(m);
    bert_tokenizer_free(tok);
    json_decref(g);
}

TEST(repo_golden) {
    char dir[1024], golden[1200], inputs[1200];
    snprintf(dir, sizeof dir, "%s/tests/data/blip2-tiny", test_source());
    snprintf(golden, sizeof golden, "%s/golden.json", dir);
    snprintf(inputs, sizeof inputs, "%s", test_source());
    check_golden(dir, golden, inputs);
}

TEST(shared_golden) {
    const char *s = test_shared_opt();
    if (!s) return;
    char dir[1024], golden[1200], inputs[1200];
    snprintf(dir, sizeof dir, "%s/fixtures/blip2/blip2-tiny-itm", s);
    snprintf(golden, sizeof golden, "%s/golden.json", dir);
    snprintf(inputs, sizeof inputs, "%s/fixtures/clip/inputs", s);
    check_golden(dir, golden, inputs);
}

/* Bad model files get a clear error, not a crash. */
static void write_file(const char *path, const char *bytes) {
    size_t n = strlen(bytes);
    FILE *f = fopen(path, "wb");
    if (f) fwrite(bytes, 1, n, f), fclose(f);
}

TEST(bad_vocab) {
    char dir[] = "/tmp/seer_blip2_XXXXXX", path[256];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    bert_tokenizer *t = NULL;
    write_file(path, "[PAD]\n[UNK]\nhello\n");
    CHECK(bert_tokenizer_load_vocab(path, &t) == ST_FORMAT && t == NULL);
    CHECK(strstr(status_message(), "[CLS]") != NULL);
    write_file(path, "[CLS]\n[SEP]\n[UNK]\n\xff\xfe\n");
    CHECK(bert_tokenizer_load_vocab(path, &t) == ST_FORMAT && t == NULL);
    CHECK(strstr(status_message(), ":4:") != NULL);
    /* CRLF and a lone CR end lines too (Python's universal newlines) */
    write_file(path, "[CLS]\r\n[SEP]\r[UNK]\nab\n##c");
    CHECK(bert_tokenizer_load_vocab(path, &t) == ST_OK && t);
    if (t) {
        int32_t ids[8];
        int n = 0, full = 0;
        CHECK(bert_tokenizer_size(t) == 5);
        CHECK(bert_tokenizer_encode(t, "AB abc x", ids, 8, &n, &full) == ST_OK);
        CHECK(n == 6 && ids[0] == 0 && ids[1] == 3 && ids[2] == 3 && ids[3] == 4 && ids[4] == 2 && ids[5] == 1);
        CHECK(bert_tokenizer_encode(t, "AB abc x", ids, 3, &n, &full) == ST_OK);
        CHECK(n == 3 && full == 6 && ids[1] == 3 && ids[2] == 1);
        CHECK(bert_tokenizer_encode(t, "bad \xc3(", ids, 8, &n, NULL) == ST_ARG);
        bert_tokenizer_free(t);
    }
    remove(path);
    /* not a BLIP-2 directory */
    snprintf(path, sizeof path, "%s/config.json", dir);
    write_file(path, "{\"model_type\": \"clip\"}");
    blip2_model *m = NULL;
    CHECK(blip2_load(dir, &m) == ST_UNSUPPORTED && m == NULL);
    CHECK(strstr(status_message(), "blip-2") != NULL);
    remove(path);
    rmdir(dir);
}

int main(void) {
    RUN(bad_vocab);
    RUN(repo_golden);
    RUN(shared_golden);
    return test_summary();
}
