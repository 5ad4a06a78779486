/* tests/test_clip.c — CLIP towers against reference outputs: image and text
 * embeddings, the penultimate-layer patch features and logits_per_image.
 *   - tests/data/clip/golden.json: the bundled demo CLIP (models/demo/clip,
 *     F16) by tests/reference/clip_ref.py (a plain-PyTorch HF CLIPModel
 *     forward), on PNG/JPEG inputs of the repository; always run;
 *   - ../shared/fixtures/clip when present (openai/CLIP code under PyTorch
 *     1.13, see its README): F32 and F16 checkpoints of both geometries. */
#include "test.h"

#include "embed.h"
#include "jsonx.h"
#include "status.h"

#include <dirent.h>
#include <math.h>

static char dirs[16][1024];
static int n_dirs;

static double cosine(const float *a, json_t *ref, int n) {
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++) {
        double b = json_number_value(json_array_get(ref, (size_t)i));
        ab += a[i] * b, aa += (double)a[i] * a[i], bb += b * b;
    }
    return ab / sqrt(aa * bb);
}

static double max_abs_diff(const float *a, json_t *ref, int n) {
    double m = 0;
    for (int i = 0; i < n; i++) {
        double d = fabs(a[i] - json_number_value(json_array_get(ref, (size_t)i)));
        if (d > m) m = d;
    }
    return m;
}

/* The model in dir against golden (its "file" entries are relative to inputs). */
static void check_golden(const char *dir, const char *golden, const char *inputs) {
    char path[2048];
    json_t *g;
    if (jsonx_load(golden, &g)) {
        CHECK_MSG(0, "%s", status_message());
        return;
    }
    embedder *e;
    int st = embedder_load(dir, EMBED_IMAGE | EMBED_TEXT, &e);
    CHECK_MSG(st == 0, "%s", status_message());
    if (st) {
        json_decref(g);
        return;
    }
    const int dim = e->dim;
    json_t *images = json_object_get(g, "images"), *texts = json_object_get(g, "texts");
    const int ni = (int)json_array_size(images), nt = (int)json_array_size(texts);
    float *ie = calloc((size_t)ni * dim, sizeof(float)), *te = calloc((size_t)nt * dim, sizeof(float));
    float *pix = malloc(embedder_pixels_len(e) * sizeof(float));
    image_opts io = image_opts_default();
    io.exif_rotate = 0; /* the reference (PIL) does not apply EXIF */
    for (int i = 0; i < ni; i++) {
        json_t *im = json_array_get(images, (size_t)i);
        const char *file = json_string_value(json_object_get(im, "file"));
        snprintf(path, sizeof path, "%s/%s", inputs, file);
        image img = {0};
        st = image_load(path, &io, &img, NULL);
        CHECK_MSG(st == 0, "%s", status_message());
        if (st) continue;
        CHECK(embedder_preprocess(e, &img, pix) == 0);
        image_release(&img);
        CHECK(embedder_images(e, pix, 1, ie + (size_t)i * dim) == 0);
        json_t *ref = json_object_get(im, "embedding");
        int is_jpeg = strstr(file, ".jpg") != NULL;
        if (is_jpeg) {
            double c = cosine(ie + (size_t)i * dim, ref, dim);
            CHECK_MSG(c > 0.999, "%s %s: cosine %.6f to the reference", dir, file, c);
        } else {
            double d = max_abs_diff(ie + (size_t)i * dim, ref, dim);
            CHECK_MSG(d <= 1e-4, "%s %s: max |diff| %.3g", dir, file, d);
        }
        /* Penultimate patch features: hidden_states[-2], CLS row dropped. */
        json_t *shape = json_object_get(im, "penultimate_patch_shape");
        if (shape) {
            const clip_model *m = e->clip;
            const int T = m->vision.n_pos, D = m->vision.enc.D;
            CHECK((int)json_integer_value(json_array_get(shape, 0)) == T - 1);
            CHECK((int)json_integer_value(json_array_get(shape, 1)) == D);
            float *h = malloc((size_t)T * D * sizeof(float));
            st = clip_vision_hidden(m, pix, 1, m->vision.enc.L - 1, h);
            CHECK_MSG(st == 0, "%s", status_message());
            json_t *rows = json_object_get(im, "penultimate_patch_rows0_2");
            double worst = 0, sum = 0;
            for (size_t r = 0; r < json_array_size(rows); r++) {
                double d = max_abs_diff(h + (r + 1) * D, json_array_get(rows, r), D);
                if (d > worst) worst = d;
            }
            for (size_t k = D; k < (size_t)T * D; k++) sum += h[k];
            double ref_sum = json_number_value(json_object_get(im, "penultimate_patch_sum"));
            CHECK_MSG(worst <= 1e-4, "%s penultimate rows: max |diff| %.3g", dir, worst);
            CHECK_MSG(fabs(sum - ref_sum) <= 1e-3 * (1 + fabs(ref_sum)) + 0.05, "%s penultimate sum %.6f vs %.6f",
                      dir, sum, ref_sum);
            free(h);
        }
    }
    for (int t = 0; t < nt; t++) {
        json_t *tx = json_array_get(texts, (size_t)t);
        st = embedder_text(e, json_string_value(json_object_get(tx, "text")), te + (size_t)t * dim);
        CHECK_MSG(st == 0, "%s", status_message());
        double d = max_abs_diff(te + (size_t)t * dim, json_object_get(tx, "embedding"), dim);
        CHECK_MSG(d <= 1e-4, "%s text %d: max |diff| %.3g", dir, t, d);
    }
    /* logits_per_image = exp(logit_scale) · cos */
    json_t *lpi = json_object_get(g, "logits_per_image");
    double scale = exp((double)e->clip->logit_scale), worst = 0;
    for (int i = 0; i < ni; i++) {
        const char *file = json_string_value(json_object_get(json_array_get(images, (size_t)i), "file"));
        if (strstr(file, ".jpg")) continue; /* JPEG decoders differ by ±1 LSB */
        for (int t = 0; t < nt; t++) {
            double d = 0;
            for (int k = 0; k < dim; k++) d += (double)ie[(size_t)i * dim + k] * te[(size_t)t * dim + k];
            double ref = json_number_value(json_array_get(json_array_get(lpi, (size_t)i), (size_t)t));
            if (fabs(scale * d - ref) > worst) worst = fabs(scale * d - ref);
        }
    }
    CHECK_MSG(worst <= 1e-2, "%s logits_per_image: max |diff| %.3g", dir, worst);
    free(ie), free(te), free(pix);
    embedder_free(e);
    json_decref(g);
}

TEST(demo_clip_golden) {
    char dir[4200], golden[4300];
    snprintf(dir, sizeof dir, "%s/models/demo/clip", test_source());
    snprintf(golden, sizeof golden, "%s/tests/data/clip/golden.json", test_source());
    check_golden(dir, golden, test_source());
}

TEST(shared_fixtures) {
    char golden[1100], inputs[1100];
    for (int i = 0; i < n_dirs; i++) {
        printf("  %s\n", dirs[i]);
        snprintf(golden, sizeof golden, "%.1000s/golden.json", dirs[i]);
        snprintf(inputs, sizeof inputs, "%.1000s/../inputs", dirs[i]);
        check_golden(dirs[i], golden, inputs);
    }
    CHECK(n_dirs >= 4);
}

TEST(random_geometry_runs) {
    /* A model built in memory: batch results equal single-image results. */
    clip_geometry g = {64, 2, 2, 128, 64, 16, 32, 2, 2, 64, 300, 16, 24};
    clip_model *m;
    CHECK(clip_random(&g, 7, &m) == 0);
    const size_t plen = 3 * 64 * 64;
    float *pix = malloc(3 * plen * sizeof(float)), one[24], three[3 * 24];
    for (size_t i = 0; i < 3 * plen; i++) pix[i] = sinf((float)i * 0.37f);
    CHECK(clip_encode_images(m, pix, 3, three) == 0);
    for (int b = 0; b < 3; b++) {
        CHECK(clip_encode_images(m, pix + b * plen, 1, one) == 0);
        for (int k = 0; k < 24; k++) CHECK_NEAR(one[k], three[b * 24 + k], 1e-5);
    }
    int32_t ids[5] = {298, 5, 7, 9, 299}, ids_pad[8] = {298, 5, 7, 9, 299, 0, 0, 0};
    float a[24], b2[24];
    CHECK(clip_encode_text(m, ids, 5, a) == 0);
    CHECK(clip_encode_text(m, ids_pad, 8, b2) == 0); /* padding after the end token changes nothing */
    for (int k = 0; k < 24; k++) CHECK_NEAR(a[k], b2[k], 1e-6);
    int32_t bad[2] = {298, 300};
    CHECK(clip_encode_text(m, bad, 2, a) == ST_ARG);
    free(pix);
    clip_free(m);
}

TEST(missing_model_dir) {
    embedder *e;
    CHECK(embedder_load("/nonexistent/model", EMBED_TEXT, &e) != 0);
    CHECK(strstr(status_message(), "/nonexistent/model") != NULL);
}

int main(void) {
    RUN(random_geometry_runs);
    RUN(missing_model_dir);
    RUN(demo_clip_golden);
    const char *shared = test_shared_opt();
    if (!shared) return test_summary();
    char root[600];
    snprintf(root, sizeof root, "%s/fixtures/clip", shared);
    DIR *d = opendir(root);
    struct dirent *de;
    while (d && (de = readdir(d)) && n_dirs < 16) {
        if (strncmp(de->d_name, "clip-", 5)) continue;
        snprintf(dirs[n_dirs++], sizeof dirs[0], "%s/%s", root, de->d_name);
    }
    if (d) closedir(d);
    RUN(shared_fixtures);
    return test_summary();
}
