/* tests/test_image.c — image decoding, Pillow-exact resize, CLIP preprocessing.
 *
 * Oracles:
 *   - tests/data/resize/ (committed, made by tests/reference/make_resize_fixtures.py
 *     with Pillow 9.4): resize byte-exactness, decode semantics, EXIF
 *     orientation, bad inputs;
 *   - tests/data/clip/golden.json (tests/reference/clip_ref.py) and, when
 *     ../shared is present, ../shared/fixtures/clip/<model>/golden.json:
 *     pixel sums of the preprocessed tensors;
 *   - hand-crafted headers for decompression bombs.
 */
#include <dirent.h>
#include <jansson.h>
#include <stdint.h>
#include <time.h>

#include "file.h"
#include "image.h"
#include "preprocess.h"
#include "resize.h"
#include "status.h"
#include "test.h"

static char g_data[4096];

static const char *data_path(const char *name) {
    static char buf[4096 + 512];
    snprintf(buf, sizeof buf, "%s/%s", g_data, name);
    return buf;
}

static uint8_t *read_all(const char *name, size_t *n) {
    uint8_t *b = NULL;
    *n = 0;
    if (file_read(data_path(name), 0, &b, n)) {
        printf("  cannot read %s: %s\n", name, status_message());
        return NULL;
    }
    return b;
}

/* max |a-b| over n bytes */
static int max_diff(const uint8_t *a, const uint8_t *b, size_t n) {
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        if (d > m) m = d;
    }
    return m;
}

/* Iterate manifest lines starting with `kind`; the callback gets the rest. */
static int for_manifest(const char *kind, void (*fn)(const char *rest)) {
    size_t n;
    uint8_t *m = read_all("manifest.txt", &n);
    CHECK(m != NULL);
    if (!m) return 0;
    int count = 0;
    size_t kl = strlen(kind);
    for (char *line = strtok((char *)m, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, kind, kl) == 0 && line[kl] == ' ') {
            fn(line + kl + 1);
            count++;
        }
    }
    free(m);
    return count;
}

/* ---------------------------------------------------------------- resize vs Pillow */

static void resize_one(const char *rest) {
    char in[256], exp[256];
    int flt, w, h;
    CHECK(sscanf(rest, "%255s %d %d %d %255s", in, &flt, &w, &h, exp) == 5);
    image_opts o = image_opts_default();
    image img, out;
    int st = image_load(data_path(in), &o, &img, NULL);
    CHECK_MSG(st == 0, "%s: %s", in, status_message());
    if (st) return;
    st = resize_image(&img, w, h, (resize_filter)flt, &out);
    CHECK_MSG(st == 0, "%s: %s", in, status_message());
    size_t n;
    uint8_t *ref = read_all(exp, &n);
    if (!st && ref) {
        CHECK(out.w == w && out.h == h && n == (size_t)w * h * 3);
        if (n == (size_t)w * h * 3) {
            int md = max_diff(out.rgb, ref, n);
            size_t ndiff = 0;
            for (size_t i = 0; i < n; i++) ndiff += out.rgb[i] != ref[i];
            CHECK_MSG(md == 0, "%s %dx%d filter %d: %zu of %zu bytes differ, max %d", in, w, h, flt, ndiff, n, md);
        }
    }
    free(ref);
    image_release(&out);
    image_release(&img);
}

TEST(resize_matches_pillow) { CHECK(for_manifest("resize", resize_one) >= 19); }

static void lcg_one(const char *rest) {
    unsigned seed;
    int w, h, flt, ow, oh;
    unsigned long long want;
    CHECK(sscanf(rest, "%u %d %d %d %d %d %llx", &seed, &w, &h, &flt, &ow, &oh, &want) == 7);
    image img, out;
    if (image_alloc(w, h, &img)) { CHECK(0); return; }
    uint32_t s = seed;
    for (size_t i = 0; i < (size_t)w * h * 3; i++) {
        s = s * 1103515245u + 12345u;
        img.rgb[i] = (uint8_t)(s >> 24);
    }
    CHECK(resize_image(&img, ow, oh, (resize_filter)flt, &out) == 0);
    uint64_t hsh = 0xCBF29CE484222325ull;
    for (size_t i = 0; out.rgb && i < (size_t)ow * oh * 3; i++) hsh = (hsh ^ out.rgb[i]) * 0x100000001B3ull;
    CHECK_MSG(hsh == want, "%dx%d -> %dx%d filter %d: hash %016llx, Pillow %016llx", w, h, ow, oh, flt,
              (unsigned long long)hsh, want);
    image_release(&out);
    image_release(&img);
}

TEST(resize_full_size_matches_pillow) { CHECK(for_manifest("lcg", lcg_one) == 5); }

TEST(resize_args) {
    image img, out;
    CHECK(image_alloc(4, 3, &img) == 0);
    memset(img.rgb, 7, 4 * 3 * 3);
    CHECK(resize_bicubic(&img, 0, 3, &out) == ST_ARG && out.rgb == NULL);
    CHECK(resize_image(&img, 2, 2, (resize_filter)9, &out) == ST_ARG);
    CHECK(resize_bicubic(&img, 9, 5, &out) == 0);
    /* a flat image stays flat under every filter */
    for (int i = 0; i < 9 * 5 * 3; i++) CHECK(out.rgb[i] == 7);
    image_release(&out);
    image_release(&img);
}

/* ---------------------------------------------------------------- decode */

static void decode_one(const char *rest) {
    char in[256], exp[256];
    int w, h, tol;
    CHECK(sscanf(rest, "%255s %d %d %d %255s", in, &w, &h, &tol, exp) == 5);
    image_opts o = image_opts_default();
    image img;
    const char *fmt = NULL;
    int st = image_load(data_path(in), &o, &img, &fmt);
    CHECK_MSG(st == 0, "%s: %s", in, status_message());
    if (st) return;
    CHECK(fmt != NULL);
    size_t n;
    uint8_t *ref = read_all(exp, &n);
    CHECK_MSG(img.w == w && img.h == h, "%s: %dx%d, want %dx%d", in, img.w, img.h, w, h);
    if (ref && img.w == w && img.h == h && n == (size_t)w * h * 3) {
        int md = max_diff(img.rgb, ref, n);
        CHECK_MSG(md <= tol, "%s (%s): max |diff| %d > %d", in, fmt, md, tol);
    }
    free(ref);
    image_release(&img);
}

TEST(decode_formats_like_pil) { CHECK(for_manifest("decode", decode_one) >= 10); }

TEST(decode_reports_format) {
    const char *names[][2] = {{"small.bmp", "bmp"}, {"small.gif", "gif"}, {"small.tga", "tga"},
                              {"small.ppm", "pnm"}, {"baseline.jpg", "jpeg"}, {"grey_15x13.png", "png"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        image img;
        const char *fmt = NULL;
        CHECK(image_load(data_path(names[i][0]), NULL, &img, &fmt) == 0);
        CHECK_MSG(fmt && strcmp(fmt, names[i][1]) == 0, "%s: %s", names[i][0], fmt ? fmt : "(null)");
        image_release(&img);
    }
}

/* ---------------------------------------------------------------- EXIF */

static void orient_one(const char *rest) {
    char in[256], exp[256];
    int orient, w, h, tol;
    CHECK(sscanf(rest, "%255s %d %d %d %d %255s", in, &orient, &w, &h, &tol, exp) == 6);
    size_t n, nref;
    uint8_t *bytes = read_all(in, &n);
    uint8_t *ref = read_all(exp, &nref);
    if (!bytes || !ref) { free(bytes); free(ref); CHECK(0); return; }
    CHECK_MSG(image_exif_orientation(bytes, n) == orient, "%s: orientation %d, want %d", in,
              image_exif_orientation(bytes, n), orient);

    image_opts o = image_opts_default();
    image up, raw;
    CHECK(o.exif_rotate == 1);
    int st = image_decode(bytes, n, in, &o, &up, NULL);
    CHECK_MSG(st == 0, "%s", status_message());
    o.exif_rotate = 0;
    int st2 = image_decode(bytes, n, in, &o, &raw, NULL);
    CHECK(st2 == 0);
    if (!st && !st2) {
        CHECK_MSG(up.w == w && up.h == h, "%s: upright %dx%d, want %dx%d", in, up.w, up.h, w, h);
        CHECK(raw.w == 12 && raw.h == 8); /* stored picture, unrotated */
        if (up.w == w && up.h == h && nref == (size_t)w * h * 3) {
            int md = max_diff(up.rgb, ref, nref);
            CHECK_MSG(md <= tol, "%s: max |diff| %d vs Pillow exif_transpose", in, md);
        }
    }
    image_release(&up);
    image_release(&raw);
    free(bytes);
    free(ref);
}

TEST(exif_orientation) { CHECK(for_manifest("orient", orient_one) == 9); }

TEST(exif_orient_6_is_clockwise) {
    /* 2x1 image [A B] turned 90 degrees clockwise is the column [A; B]. */
    image img;
    CHECK(image_alloc(2, 1, &img) == 0);
    const uint8_t px[6] = {1, 2, 3, 4, 5, 6};
    memcpy(img.rgb, px, 6);
    CHECK(image_orient(&img, 6) == 0);
    CHECK(img.w == 1 && img.h == 2);
    CHECK(img.rgb[0] == 1 && img.rgb[3] == 4);
    CHECK(image_orient(&img, 8) == 0); /* and back */
    CHECK(img.w == 2 && img.h == 1 && memcmp(img.rgb, px, 6) == 0);
    image_release(&img);
}

/* ---------------------------------------------------------------- bad inputs */

static void bad_one(const char *rest) {
    char in[256];
    CHECK(sscanf(rest, "%255s", in) == 1);
    image img = {1, 1, (uint8_t *)1};
    int st = image_load(data_path(in), NULL, &img, NULL);
    CHECK_MSG(st == ST_FORMAT, "%s: status %d (%s)", in, st, status_message());
    CHECK(img.rgb == NULL && img.w == 0 && img.h == 0);
    CHECK_MSG(strstr(status_message(), in) != NULL, "message does not name the file: %s", status_message());
    printf("  %s -> %s\n", in, status_message());
}

TEST(bad_inputs) { CHECK(for_manifest("bad", bad_one) == 3); }

static uint32_t crc32_png(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return ~c;
}

static void be32(uint8_t *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }
static void le32(uint8_t *p, uint32_t v) { p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24; }

/* Signature + IHDR(w, h, 8-bit RGB) + a tiny IDAT + IEND, valid CRCs. */
static size_t png_header(uint8_t *b, uint32_t w, uint32_t h) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    size_t n = 0;
    memcpy(b, sig, 8); n = 8;
    be32(b + n, 13); memcpy(b + n + 4, "IHDR", 4);
    be32(b + n + 8, w); be32(b + n + 12, h);
    b[n + 16] = 8; b[n + 17] = 2; b[n + 18] = 0; b[n + 19] = 0; b[n + 20] = 0;
    be32(b + n + 21, crc32_png(b + n + 4, 17)); n += 25;
    static const uint8_t z[] = {0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01}; /* zlib("\0") */
    be32(b + n, sizeof z); memcpy(b + n + 4, "IDAT", 4); memcpy(b + n + 8, z, sizeof z);
    be32(b + n + 8 + sizeof z, crc32_png(b + n + 4, 4 + sizeof z)); n += 12 + sizeof z;
    be32(b + n, 0); memcpy(b + n + 4, "IEND", 4); be32(b + n + 8, crc32_png(b + n + 4, 4)); n += 12;
    return n;
}

/* BITMAPFILEHEADER + BITMAPINFOHEADER (24-bit) claiming w x h, 16 pixel bytes. */
static size_t bmp_header(uint8_t *b, uint32_t w, uint32_t h) {
    memset(b, 0, 70);
    b[0] = 'B'; b[1] = 'M';
    le32(b + 2, 70); le32(b + 10, 54);
    le32(b + 14, 40); le32(b + 18, w); le32(b + 22, h);
    b[26] = 1; b[28] = 24;
    return 70;
}

TEST(decompression_bombs) {
    uint8_t buf[128];
    image img;
    size_t n = png_header(buf, 100000, 100000);
    int st = image_decode(buf, n, "bomb.png", NULL, &img, NULL);
    CHECK_MSG(st == ST_TOO_LARGE, "status %d: %s", st, status_message());
    CHECK(img.rgb == NULL);
    printf("  png 100000x100000 -> %s\n", status_message());

    n = png_header(buf, 30000, 30000); /* sides fine, 900 Mpx over the 100 Mpx default */
    st = image_decode(buf, n, "bomb.png", NULL, &img, NULL);
    CHECK_MSG(st == ST_TOO_LARGE, "status %d: %s", st, status_message());
    printf("  png 30000x30000 -> %s\n", status_message());

    n = bmp_header(buf, 100000, 100000);
    st = image_decode(buf, n, "bomb.bmp", NULL, &img, NULL);
    CHECK_MSG(st == ST_TOO_LARGE, "status %d: %s", st, status_message());
    printf("  bmp 100000x100000 -> %s\n", status_message());

    /* a caller's lower cap; a valid tiny PNG header that then lacks pixels */
    n = png_header(buf, 64, 64);
    image_opts o = image_opts_default();
    o.max_pixels = 1000;
    CHECK(image_decode(buf, n, "cap.png", &o, &img, NULL) == ST_TOO_LARGE);
    st = image_decode(buf, n, "short.png", NULL, &img, NULL);
    CHECK_MSG(st == ST_FORMAT, "status %d", st);
    CHECK(img.rgb == NULL);

    CHECK(image_decode(NULL, 0, "upload", NULL, &img, NULL) == ST_FORMAT);
    CHECK(strstr(status_message(), "upload") != NULL);
    CHECK(image_load("/nonexistent/x.png", NULL, &img, NULL) == ST_NOT_FOUND);
}

TEST(truncated_everywhere) {
    /* Every prefix of a real JPEG and PNG must fail cleanly or decode; none may crash. */
    const char *files[] = {"baseline.jpg", "progressive.jpg", "noise_37x23.png", "small.gif", "small.bmp"};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        size_t n;
        uint8_t *b = read_all(files[f], &n);
        if (!b) continue;
        int fails = 0;
        for (size_t cut = 0; cut < n; cut += 1 + cut / 16) {
            image img;
            uint8_t *copy = malloc(cut ? cut : 1); /* exact-size copy: ASan sees overreads */
            memcpy(copy, b, cut);
            int st = image_decode(copy, cut, files[f], NULL, &img, NULL);
            if (st) { fails++; CHECK(img.rgb == NULL); }
            image_release(&img);
            free(copy);
        }
        CHECK(fails > 0);
        free(b);
    }
}

/* ---------------------------------------------------------------- pad */

TEST(pad_square_llava) {
    const uint8_t fill[3] = {122, 116, 104};
    image img, sq;
    CHECK(image_alloc(3, 6, &img) == 0); /* tall: pad left/right */
    for (int i = 0; i < 3 * 6 * 3; i++) img.rgb[i] = (uint8_t)i;
    CHECK(image_pad_square(&img, fill, &sq) == 0);
    CHECK(sq.w == 6 && sq.h == 6);
    /* x0 = (6-3)/2 = 1 */
    for (int y = 0; y < 6; y++)
        for (int x = 0; x < 6; x++) {
            const uint8_t *p = sq.rgb + (y * 6 + x) * 3;
            if (x >= 1 && x < 4) CHECK(memcmp(p, img.rgb + (y * 3 + x - 1) * 3, 3) == 0);
            else CHECK(p[0] == 122 && p[1] == 116 && p[2] == 104);
        }
    image_release(&sq);
    image_release(&img);

    CHECK(image_alloc(5, 2, &img) == 0); /* wide: pad top/bottom, y0 = (5-2)/2 = 1 */
    memset(img.rgb, 9, 5 * 2 * 3);
    CHECK(image_pad_square(&img, fill, &sq) == 0);
    CHECK(sq.w == 5 && sq.h == 5);
    CHECK(sq.rgb[0] == 122 && sq.rgb[(1 * 5) * 3] == 9 && sq.rgb[(2 * 5 + 4) * 3 + 2] == 9);
    CHECK(sq.rgb[(3 * 5) * 3] == 122 && sq.rgb[(4 * 5 + 4) * 3 + 1] == 116);
    image_release(&sq);
    image_release(&img);
}

/* ---------------------------------------------------------------- preprocess config */

static int cfg_from(const char *json, preprocess_cfg *c) {
    json_error_t e;
    json_t *r = json_loads(json, 0, &e);
    if (!r) return -100;
    int st = preprocess_from_json(r, "test", c);
    json_decref(r);
    return st;
}

TEST(preprocess_config_forms) {
    preprocess_cfg c;
    CHECK(cfg_from("{\"size\": 336, \"crop_size\": 336}", &c) == 0);
    CHECK(c.shortest_edge == 336 && c.crop_h == 336 && c.crop_w == 336 && c.do_center_crop);
    int h, w;
    preprocess_out_size(&c, &h, &w);
    CHECK(h == 336 && w == 336);
    CHECK(cfg_from("{\"size\": {\"shortest_edge\": 224}, \"crop_size\": {\"height\": 224, \"width\": 224}}", &c) == 0);
    CHECK(c.shortest_edge == 224 && c.crop_h == 224);
    CHECK(cfg_from("{\"image_processor_type\": \"SiglipImageProcessor\", \"size\": {\"height\": 384, \"width\": 384},"
                   " \"image_mean\": [0.5,0.5,0.5], \"image_std\": [0.5,0.5,0.5], \"resample\": 3}", &c) == 0);
    CHECK(c.shortest_edge == 0 && c.size_h == 384 && c.size_w == 384 && !c.do_center_crop);
    preprocess_out_size(&c, &h, &w);
    CHECK(h == 384 && w == 384);
    CHECK(cfg_from("{\"resample\": 0}", &c) == ST_UNSUPPORTED);
    CHECK(cfg_from("{\"size\": \"big\"}", &c) == ST_FORMAT);
    CHECK(cfg_from("{\"image_std\": [1, 0, 1]}", &c) == ST_FORMAT);
    CHECK(preprocess_load("/nonexistent", &c) == ST_NOT_FOUND);
}

TEST(preprocess_siglip_and_small_crop) {
    /* SigLIP: resize straight to size, no crop; values are (x/255 - .5)/.5 */
    preprocess_cfg c;
    CHECK(cfg_from("{\"image_processor_type\": \"SiglipImageProcessor\", \"size\": {\"height\": 4, \"width\": 4},"
                   " \"image_mean\": [0.5,0.5,0.5], \"image_std\": [0.5,0.5,0.5]}", &c) == 0);
    image img;
    CHECK(image_alloc(8, 2, &img) == 0);
    memset(img.rgb, 255, 8 * 2 * 3);
    float out[3 * 4 * 4];
    CHECK(preprocess_image(&c, &img, out) == 0);
    for (int i = 0; i < 48; i++) CHECK_NEAR(out[i], 1.0, 1e-6);
    image_release(&img);

    /* A crop bigger than the (unresized) image pads with pixel 0, HF-style. */
    c = preprocess_cfg_clip(4);
    c.do_resize = 0;
    CHECK(image_alloc(2, 2, &img) == 0);
    memset(img.rgb, 255, 2 * 2 * 3);
    CHECK(preprocess_image(&c, &img, out) == 0);
    /* image at rows/cols 1..2 (top = (2-4)//2 = -1) */
    const float lo = (0.0f - c.mean[0]) / c.std[0], hi = (1.0f - c.mean[0]) / c.std[0];
    CHECK_NEAR(out[0], lo, 1e-6);
    CHECK_NEAR(out[1 * 4 + 1], hi, 1e-6);
    CHECK_NEAR(out[2 * 4 + 2], hi, 1e-6);
    CHECK_NEAR(out[3 * 4 + 3], lo, 1e-6);
    image_release(&img);

    c.do_center_crop = 0;
    CHECK(preprocess_image(&c, &img, out) == ST_UNSUPPORTED || img.rgb == NULL);
}

/* ---------------------------------------------------------------- CLIP golden */

/* Preprocessed pixel sums of golden (a golden.json whose "file" entries are
 * relative to inputs) with the preprocessor_config.json of mdir. */
static int check_golden_pixels(const char *mdir, const char *golden, const char *inputs) {
    char path[8192 + 512];
    const char *name = strrchr(mdir, '/') ? strrchr(mdir, '/') + 1 : mdir;
    int images = 0;
    json_error_t e;
    json_t *g = json_load_file(golden, 0, &e);
    CHECK_MSG(g != NULL, "%s: %s", golden, e.text);
    if (!g) return 0;
    preprocess_cfg cfg;
    int st = preprocess_load(mdir, &cfg);
    CHECK_MSG(st == 0, "%s", status_message());
    int oh, ow;
    preprocess_out_size(&cfg, &oh, &ow);
    float *x = malloc(sizeof(float) * 3 * oh * ow);
    {
        json_t *ims = json_object_get(g, "images");
        size_t i;
        json_t *im;
        json_array_foreach(ims, i, im) {
            const char *file = json_string_value(json_object_get(im, "file"));
            snprintf(path, sizeof path, "%s/%s", inputs, file);
            image_opts o = image_opts_default();
            o.exif_rotate = 0; /* the reference (PIL) did not apply EXIF orientation */
            image img;
            if ((st = image_load(path, &o, &img, NULL))) {
                CHECK_MSG(0, "%s", status_message());
                continue;
            }
            st = preprocess_image(&cfg, &img, x);
            CHECK_MSG(st == 0, "%s", status_message());
            image_release(&img);
            double sum = 0, asum = 0;
            for (size_t k = 0; k < (size_t)3 * oh * ow; k++) { sum += x[k]; asum += fabs(x[k]); }
            const double rs = json_number_value(json_object_get(im, "pixel_sum"));
            const double ra = json_number_value(json_object_get(im, "pixel_abs_sum"));
            const int jpeg = strstr(file, ".jpg") != NULL;
            /* PNG: 1e-3 relative, as the fixture README says (measured ~1e-7).
             * JPEG: stb_image and libjpeg decode coco_a.jpg differently in 1.3%
             * of the bytes (measured: 10291 off by 1, 370 by 2, 4 by 3, of
             * 817920). One LSB moves a value by lsb = 1/255/min(std) = 0.015,
             * and the off-by-ones lean one way, so the sums may move by up to
             * (fraction differing) * N * lsb: allow 4% of N (3x the measured
             * fraction; measured |d sum| 22 of a 90 bound at 224 px) and
             * 3 LSB for single values (the measured max decode error). */
            const size_t N = (size_t)3 * oh * ow;
            const double lsb = 1.0 / 255.0 / 0.26130258;
            const double tol_s = jpeg ? 0.04 * N * lsb : 1e-3 * fabs(rs) + 1e-3;
            const double tol_a = jpeg ? 0.04 * N * lsb : 1e-3 * ra;
            const double tol_8 = jpeg ? 3 * lsb : 1e-5;
            printf("  %s %s: sum %.4f (ref %.4f)  abs %.4f (ref %.4f)\n", name, file, sum, rs, asum, ra);
            CHECK_NEAR(sum, rs, tol_s);
            CHECK_NEAR(asum, ra, tol_a);
            json_t *f8 = json_object_get(im, "pixel_first8");
            double d8 = 0;
            for (size_t k = 0; k < 8 && k < json_array_size(f8); k++) {
                CHECK_NEAR(x[k], json_number_value(json_array_get(f8, k)), tol_8);
                d8 = fmax(d8, fabs(x[k] - json_number_value(json_array_get(f8, k))));
            }
            printf("    max |first8 diff| %.3g\n", d8);
            images++;
        }
    }
    free(x);
    json_decref(g);
    return images;
}

/* tests/data/clip/golden.json (tests/reference/clip_ref.py, PIL + the HF
 * CLIPImageProcessor steps) with the demo CLIP's 32 px preprocessor. */
TEST(clip_golden_pixels_demo) {
    char mdir[4200], golden[4300];
    snprintf(mdir, sizeof mdir, "%s/models/demo/clip", test_source());
    snprintf(golden, sizeof golden, "%s/tests/data/clip/golden.json", test_source());
    CHECK(check_golden_pixels(mdir, golden, test_source()) >= 6);
}

/* ../shared/fixtures/clip/<model>/golden.json (224 and 336 px). */
static void clip_golden_pixels_shared(const char *shared) {
    char root[4096], path[8192 + 512], inputs[4200];
    snprintf(root, sizeof root, "%s/fixtures/clip", shared);
    snprintf(inputs, sizeof inputs, "%s/inputs", root);
    DIR *d = opendir(root);
    CHECK(d != NULL);
    if (!d) return;
    int dirs = 0, images = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char mdir[4096 + 512];
        snprintf(mdir, sizeof mdir, "%s/%s", root, de->d_name);
        snprintf(path, sizeof path, "%s/golden.json", mdir);
        if (!file_is_regular(path)) continue;
        images += check_golden_pixels(mdir, path, inputs);
        dirs++;
    }
    closedir(d);
    CHECK(dirs >= 1 && images >= 5);
}

TEST(clip_golden_pixels_shared) {
    const char *shared = test_shared_opt();
    if (shared) clip_golden_pixels_shared(shared);
}

/* ---------------------------------------------------------------- speed */

TEST(resize_speed_640x480) {
    image img, out;
    CHECK(image_alloc(640, 480, &img) == 0);
    uint32_t s = 12345;
    for (size_t i = 0; i < 640 * 480 * 3; i++) { s = s * 1103515245u + 12345u; img.rgb[i] = (uint8_t)(s >> 24); }
    const int reps = 20;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int r = 0; r < reps; r++) {
        CHECK(resize_bicubic(&img, 298, 224, &out) == 0);
        image_release(&out);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = ((t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6) / reps;
    printf("  resize_bicubic 640x480 -> 298x224: %.3f ms (this build's flags)\n", ms);
    image_release(&img);
}

/* Fuzzing found JPEGs that Debian's stb decodes with a Huffman table no DHT
 * defined (an out-of-bounds symbol index): refused with a clear error. The
 * inputs are the committed fuzz regressions. */
TEST(jpeg_undefined_huffman_table) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fuzz/regressions/fuzz_image/crash-1bb43fe52b7c148881ad1234bb093cd6885e35de",
             test_source());
    uint8_t *bytes = NULL;
    size_t n = 0;
    CHECK(file_read(path, 1 << 20, &bytes, &n) == 0);
    image img = {0};
    CHECK(image_decode(bytes, n, "fuzzed", NULL, &img, NULL) == ST_FORMAT);
    CHECK_MSG(strstr(status_message(), "never defined") != NULL, "%s", status_message());
    CHECK(img.rgb == NULL);
    free(bytes);
}

/* A JPEG followed by other bytes (a phone's MPO, an appended file) still
 * decodes: the table checks stop at EOI. A PNG whose first IDAT chunk is
 * empty (a fuzz regression; stb copies it to a NULL buffer) is refused. */
TEST(jpeg_trailing_bytes_png_empty_idat) {
    char path[1024];
    snprintf(path, sizeof path, "%s/samples/cifar10/cat/0000.jpg", test_source());
    uint8_t *bytes = NULL;
    size_t n = 0;
    CHECK(file_read(path, 1 << 20, &bytes, &n) == 0);
    uint8_t *more = calloc(n + 4096, 1);
    memcpy(more, bytes, n);
    memcpy(more + n, "\xff\xd8\xff\xc4\x00\x01", 6);   /* junk that looks like markers */
    image img = {0};
    CHECK_MSG(image_decode(more, n + 4096, "trailing", NULL, &img, NULL) == 0, "%s", status_message());
    CHECK(img.w == 32 && img.h == 32);
    image_release(&img);
    free(more), free(bytes);
    snprintf(path, sizeof path, "%s/tests/fuzz/regressions/fuzz_image/crash-8f5a0f8fb7367484cf90301c09a4483dacf49207",
             test_source());
    CHECK(file_read(path, 1 << 20, &bytes, &n) == 0);
    CHECK(image_decode(bytes, n, "fuzzed", NULL, &img, NULL) == ST_FORMAT);
    CHECK_MSG(strstr(status_message(), "first IDAT chunk is empty") != NULL, "%s", status_message());
    free(bytes);
}

int main(void) {
    snprintf(g_data, sizeof g_data, "%s/tests/data/resize", test_source());
    RUN(resize_matches_pillow);
    RUN(resize_full_size_matches_pillow);
    RUN(resize_args);
    RUN(decode_formats_like_pil);
    RUN(decode_reports_format);
    RUN(exif_orientation);
    RUN(exif_orient_6_is_clockwise);
    RUN(bad_inputs);
    RUN(jpeg_undefined_huffman_table);
    RUN(jpeg_trailing_bytes_png_empty_idat);
    RUN(decompression_bombs);
    RUN(truncated_everywhere);
    RUN(pad_square_llava);
    RUN(preprocess_config_forms);
    RUN(preprocess_siglip_and_small_crop);
    RUN(resize_speed_640x480);
    RUN(clip_golden_pixels_demo);
    RUN(clip_golden_pixels_shared);
    return test_summary();
}
