/* tests/test_formats.c — every photo format seer reads, by content:
 * image_sniff (magic bytes), the decoders behind image_decode (WebP,
 * HEIC/AVIF, TIFF, RAW besides stb's formats), and image_meta_read (EXIF
 * date, camera, GPS, orientation) on the files of tests/data/formats
 * (made by tests/data/formats/make.sh) and on hand-made byte strings. */
#include "test.h"

#include <stdint.h>

#include "file.h"
#include "image.h"
#include "image_meta.h"
#include "log.h"
#include "status.h"

static uint8_t *read_rel(const char *rel, size_t *n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", test_source(), rel);
    uint8_t *buf = NULL;
    *n = 0;
    if (file_read(path, IMAGE_MAX_FILE_BYTES, &buf, n) != ST_OK) return NULL;
    return buf;
}

static const char *sniff_str(const char *s, size_t n) { return image_sniff(s, n); }
#define SNIFF_IS(bytes, want)                                                           \
    do {                                                                                \
        const char *got_ = sniff_str(bytes, sizeof(bytes) - 1);                         \
        const char *want_ = (want);                                                     \
        CHECK_MSG(want_ ? got_ && strcmp(got_, want_) == 0 : got_ == NULL, "sniff %s: got %s, want %s", #bytes, \
                  got_ ? got_ : "NULL", want_ ? want_ : "NULL");                         \
    } while (0)

TEST(sniff_magic) {
    SNIFF_IS("\xFF\xD8\xFF\xE0", "jpeg");
    SNIFF_IS("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "png");
    SNIFF_IS("GIF89a\1\0\1\0", "gif");
    SNIFF_IS("RIFF\x24\0\0\0WEBPVP8 ", "webp");
    SNIFF_IS("RIFF\x24\0\0\0WAVEfmt ", NULL);
    SNIFF_IS("\0\0\0\x18" "ftypheic\0\0\0\0mif1heic", "heic");
    SNIFF_IS("\0\0\0\x18" "ftypmif1\0\0\0\0mif1heic", "heic");
    SNIFF_IS("\0\0\0\x1c" "ftypavif\0\0\0\0avifmif1miaf", "avif");
    SNIFF_IS("\0\0\0\x1c" "ftypmif1\0\0\0\0mif1avifmiaf", "avif");   /* AVIF listed as compatible */
    SNIFF_IS("\0\0\0\x18" "ftypcrx \0\0\0\x01" "crx isom", "raw");   /* Canon CR3 */
    SNIFF_IS("\0\0\0\x18" "ftypisom\0\0\0\0isomavc1", NULL);         /* an MP4 video */
    SNIFF_IS("\0\0\0\x0c" "ftypheic", NULL);                           /* too short for a box */
    SNIFF_IS("FUJIFILMCCD-RAW 0201", "raw");
    SNIFF_IS("IIRO\x08\0\0\0", "raw");
    SNIFF_IS("II*\0\x10\0\0\0CR\x02\0\0\0\0\0", "raw");                /* CR2 */
    SNIFF_IS("II*\0\x08\0\0\0\0\0", "tiff");                           /* empty IFD0: plain TIFF */
    SNIFF_IS("MM\0*\0\0\0\x08\0\0", "tiff");
    /* IFD0 with PhotometricInterpretation = 32803 (CFA): RAW */
    SNIFF_IS("II*\0\x08\0\0\0\x01\0\x06\x01\x03\0\x01\0\0\0\x23\x80\0\0\0\0\0\0", "raw");
    /* IFD0 with PhotometricInterpretation = 2 (RGB): TIFF */
    SNIFF_IS("II*\0\x08\0\0\0\x01\0\x06\x01\x03\0\x01\0\0\0\x02\0\0\0\0\0\0\0", "tiff");
    /* IFD0 with DNGVersion (0xC612): RAW */
    SNIFF_IS("MM\0*\0\0\0\x08\0\x01\xC6\x12\0\x01\0\0\0\x04\x01\x04\0\0\0\0\0\0", "raw");
    /* IFD0 -> SubIFDs (0x14A) -> an IFD with CFA photometric: RAW (NEF, ARW) */
    SNIFF_IS("II*\0\x08\0\0\0\x01\0\x4A\x01\x04\0\x01\0\0\0\x1a\0\0\0\0\0\0\0"
             "\x01\0\x06\x01\x03\0\x01\0\0\0\x23\x80\0\0\0\0\0\0", "raw");
    /* an IFD0 count that runs past the end, a SubIFD pointer past the end: no crash, TIFF */
    SNIFF_IS("II*\0\x08\0\0\0\xff\xff\x4A\x01\x04\0\x01\0\0\0\xff\xff\xff\xff", "tiff");
    SNIFF_IS("II*\0\xff\xff\xff\xff", "tiff");
    SNIFF_IS("BM\x3a\0\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0", "bmp");
    SNIFF_IS("BMW document", NULL);
    SNIFF_IS("P6\n2 2\n255\n", "pnm");
    SNIFF_IS("P5 2 2 255 ", "pnm");
    SNIFF_IS("P6x", NULL);
    SNIFF_IS("P3\n2 2\n255\n", NULL);                                   /* ASCII PNM: stb reads no P3 */
    /* TGA: uncompressed true-colour 2x1, 24 bit, then the pixels */
    SNIFF_IS("\0\0\x02\0\0\0\0\0\0\0\0\0\x02\0\x01\0\x18\0abcdef", "tga");
    SNIFF_IS("\0\0\x02\0\0\0\0\0\0\0\0\0\x02\0\x01\0\x17\0abcdef", NULL);   /* 23 bits a pixel */
    SNIFF_IS("\0\0\x02\0\0\0\0\0\0\0\0\0\0\0\x01\0\x18\0abcdef", NULL);     /* width 0 */
    SNIFF_IS("Hello, this is plain text, not a picture.\n", NULL);
    SNIFF_IS("<?xml version=\"1.0\"?><svg></svg>", NULL);
    SNIFF_IS("%PDF-1.4\n", NULL);
    CHECK(image_sniff(NULL, 10) == NULL);
    CHECK(image_sniff("", 0) == NULL);
    CHECK(image_sniff("\xFF\xD8", 2) == NULL);
}

/* the committed stb test files sniff as what they are */
TEST(sniff_files) {
    const char *names[][2] = {{"small.bmp", "bmp"}, {"small.gif", "gif"}, {"small.tga", "tga"},
                              {"small.ppm", "pnm"}, {"small.pgm", "pnm"}, {"baseline.jpg", "jpeg"},
                              {"grey_15x13.png", "png"}, {"progressive.jpg", "jpeg"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "tests/data/resize/%s", names[i][0]);
        size_t n;
        uint8_t *b = read_rel(rel, &n);
        CHECK_MSG(b, "read %s", rel);
        if (!b) continue;
        const char *f = image_sniff(b, n);
        CHECK_MSG(f && strcmp(f, names[i][1]) == 0, "%s sniffed as %s", names[i][0], f ? f : "NULL");
        /* no truncation makes it read past the end (ASan) */
        for (size_t k = 0; k < n && k < 64; k++) {
            uint8_t *c = malloc(k ? k : 1);
            memcpy(c, b, k);
            (void)image_sniff(c, k);
            free(c);
        }
        free(b);
    }
}


/* mean |a - b| over all samples of two same-size images, or 1e9 */
static double mean_abs_diff(const image *a, const image *b) {
    if (a->w != b->w || a->h != b->h) return 1e9;
    double sum = 0;
    const size_t k = (size_t)a->w * a->h * 3;
    for (size_t i = 0; i < k; i++) sum += abs((int)a->rgb[i] - (int)b->rgb[i]);
    return sum / (double)k;
}

static int load_ref(image *ref) {
    size_t n;
    uint8_t *b = read_rel("tests/data/formats/src.png", &n);
    if (!b) return -1;
    int st = image_decode(b, n, "src.png", NULL, ref, NULL);
    free(b);
    return st;
}

/* each good file: its format, decoded size, and closeness to src.png
 * (turned by `orient` first) within the codec's tolerance */
TEST(decode_each_format) {
    image ref;
    CHECK(load_ref(&ref) == ST_OK);
    CHECK(ref.w == 64 && ref.h == 48);
    const struct { const char *file, *fmt; int w, h, orient; double tol; } cases[] = {
        {"src.png", "png", 64, 48, 1, 0.0},
        {"plain.jpg", "jpeg", 64, 48, 1, 4.0},
        {"jpeg_noext", "jpeg", 64, 48, 1, 4.0},
        {"jpeg_named.png", "jpeg", 64, 48, 1, 4.0},
        {"exif.jpg", "jpeg", 48, 64, 6, 4.0},       /* orientation 6: turned upright */
        {"gif.gif", "gif", 64, 48, 1, 8.0},         /* 256-colour palette */
        {"bmp.bmp", "bmp", 64, 48, 1, 0.0},
        {"webp.webp", "webp", 64, 48, 1, 5.0},
        {"heic.heic", "heic", 64, 48, 1, 6.0},
        {"avif.avif", "avif", 64, 48, 1, 6.0},
        {"tiff.tif", "tiff", 64, 48, 1, 0.0},
        {"webp_orient6.webp", "webp", 48, 64, 6, 5.0},
        {"tiff_orient6.tif", "tiff", 48, 64, 6, 0.0},
        {"dng.dng", "raw", 64, 48, 1, 16.0},        /* demosaiced by libraw (10.2 when made) */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "tests/data/formats/%s", cases[i].file);
        size_t n;
        uint8_t *b = read_rel(rel, &n);
        CHECK_MSG(b, "read %s", rel);
        if (!b) continue;
        const char *sn = image_sniff(b, n);
        CHECK_MSG(sn && strcmp(sn, cases[i].fmt) == 0, "%s sniffed %s", cases[i].file, sn ? sn : "NULL");
        image img;
        const char *fmt = NULL;
        int st = image_decode(b, n, cases[i].file, NULL, &img, &fmt);
        CHECK_MSG(st == ST_OK, "%s: %s", cases[i].file, status_message());
        if (st == ST_OK) {
            CHECK_MSG(fmt && strcmp(fmt, cases[i].fmt) == 0, "%s: format %s", cases[i].file, fmt ? fmt : "NULL");
            CHECK_MSG(img.w == cases[i].w && img.h == cases[i].h, "%s: %dx%d", cases[i].file, img.w, img.h);
            image r;
            image_alloc(ref.w, ref.h, &r);
            memcpy(r.rgb, ref.rgb, (size_t)ref.w * ref.h * 3);
            image_orient(&r, cases[i].orient);
            double d = mean_abs_diff(&img, &r);
            printf("  %-16s %-5s %dx%d  mean |diff| vs src.png %.2f\n", cases[i].file, fmt, img.w, img.h, d);
            CHECK_MSG(d <= cases[i].tol, "%s: mean |diff| %.2f > %.2f", cases[i].file, d, cases[i].tol);
            image_release(&r);
            /* without exif_rotate: the stored orientation */
            image_opts o = image_opts_default();
            o.exif_rotate = 0;
            image raw;
            if (image_decode(b, n, cases[i].file, &o, &raw, NULL) == ST_OK) {
                CHECK_MSG(cases[i].orient < 5 ? raw.w == img.w : raw.w == img.h, "%s unrotated %dx%d", cases[i].file,
                          raw.w, raw.h);
                image_release(&raw);
            }
            /* the bomb guard: one pixel less than the image is refused before decoding */
            o = image_opts_default();
            o.max_pixels = (long long)cases[i].w * cases[i].h - 1;
            image small;
            st = image_decode(b, n, cases[i].file, &o, &small, NULL);
            CHECK_MSG(st == ST_TOO_LARGE, "%s with max_pixels %lld: %d (%s)", cases[i].file, o.max_pixels, st,
                      status_message());
            CHECK(small.rgb == NULL && small.w == 0);
            image_release(&img);
        }
        free(b);
    }
    image_release(&ref);
}

static void read_meta(const char *file, image_meta *m, int *st) {
    char rel[256];
    snprintf(rel, sizeof rel, "tests/data/formats/%s", file);
    size_t n;
    uint8_t *b = read_rel(rel, &n);
    *st = b ? image_meta_read(b, n, m) : -100;
    free(b);
}

TEST(meta_values) {
    image_meta m;
    int st;
    read_meta("exif.jpg", &m, &st);
    CHECK(st == ST_OK);
    CHECK(m.format && strcmp(m.format, "jpeg") == 0);
    CHECK_MSG(m.width == 48 && m.height == 64, "%dx%d", m.width, m.height);
    CHECK(m.orientation == 6);
    CHECK(m.taken_source == IMAGE_TAKEN_EXIF);
    CHECK_MSG(strcmp(m.taken, "2023-07-14T18:30:05") == 0, "%s", m.taken);
    CHECK(m.taken_offset_min == 120);
    CHECK_MSG(strcmp(m.make, "Canon") == 0, "[%s]", m.make);
    CHECK_MSG(strcmp(m.model, "Canon EOS R6") == 0, "[%s]", m.model);
    CHECK(m.has_gps);
    CHECK_NEAR(m.gps_lat, -33.8568, 1e-4);
    CHECK_NEAR(m.gps_lon, 151.2153, 1e-4);

    read_meta("plain.jpg", &m, &st);
    CHECK(st == ST_OK && m.taken_source == IMAGE_TAKEN_NONE && m.taken[0] == 0 && !m.has_gps && m.make[0] == 0);
    CHECK(m.taken_offset_min == IMAGE_OFFSET_UNKNOWN && m.orientation == 1 && m.width == 64 && m.height == 48);

    read_meta("jpeg_named.png", &m, &st);
    CHECK(st == ST_OK && strcmp(m.format, "jpeg") == 0);

    read_meta("webp.webp", &m, &st);
    CHECK(st == ST_OK && strcmp(m.format, "webp") == 0 && m.width == 64 && m.height == 48);
    CHECK_MSG(strcmp(m.taken, "2022-01-02T03:04:05") == 0, "%s", m.taken);
    CHECK(m.taken_offset_min == IMAGE_OFFSET_UNKNOWN);
    CHECK(strcmp(m.make, "Google") == 0 && strcmp(m.model, "Pixel 7") == 0 && !m.has_gps);

    read_meta("heic.heic", &m, &st);
    CHECK(st == ST_OK && strcmp(m.format, "heic") == 0 && m.width == 64 && m.height == 48 && m.orientation == 1);
    CHECK_MSG(strcmp(m.taken, "2024-02-29T12:00:00") == 0, "%s", m.taken);
    CHECK(m.taken_offset_min == -300);
    CHECK(strcmp(m.make, "Apple") == 0 && strcmp(m.model, "iPhone 13") == 0);
    CHECK(m.has_gps);
    CHECK_NEAR(m.gps_lat, 40.6892, 1e-4);
    CHECK_NEAR(m.gps_lon, -74.0445, 1e-4);

    read_meta("avif.avif", &m, &st);
    CHECK(st == ST_OK && strcmp(m.format, "avif") == 0 && m.width == 64 && m.height == 48);
    CHECK(m.taken_source == IMAGE_TAKEN_NONE);

    read_meta("tiff.tif", &m, &st);
    CHECK(st == ST_OK && strcmp(m.format, "tiff") == 0 && m.width == 64 && m.height == 48);
    CHECK_MSG(strcmp(m.taken, "1999-12-31T23:59:59") == 0, "%s", m.taken);
    CHECK(strcmp(m.make, "Epson") == 0 && strcmp(m.model, "Perfection V600") == 0);

    read_meta("dng.dng", &m, &st);
    CHECK(st == ST_OK && strcmp(m.format, "raw") == 0 && m.width == 64 && m.height == 48);
    CHECK_MSG(strcmp(m.taken, "2021-03-04T05:06:07") == 0, "%s", m.taken);
    CHECK(m.taken_offset_min == 540);
    CHECK(strcmp(m.make, "Seer") == 0 && strcmp(m.model, "Test DNG") == 0);

    const char *plain[][2] = {{"src.png", "png"}, {"gif.gif", "gif"}, {"bmp.bmp", "bmp"}};
    for (int i = 0; i < 3; i++) {
        read_meta(plain[i][0], &m, &st);
        CHECK(st == ST_OK && strcmp(m.format, plain[i][1]) == 0 && m.width == 64 && m.height == 48);
        CHECK(m.taken_source == IMAGE_TAKEN_NONE && m.orientation == 1);
    }
}

/* bad files: the right status, nothing allocated, never a crash */
TEST(bad_files) {
    const struct { const char *file; int decode_st, meta_st; } cases[] = {
        {"bad_truncated.jpg", ST_FORMAT, ST_OK},     /* a JPEG by its magic, its header readable */
        {"bad_empty.jpg", ST_FORMAT, ST_FORMAT},
        {"bad_text.jpg", ST_FORMAT, ST_UNSUPPORTED},
        {"bad_garbage.heic", ST_FORMAT, ST_UNSUPPORTED},
        {"bad_truncated.heic", ST_FORMAT, ST_OK},
        {"bad_truncated.tif", ST_FORMAT, ST_OK},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "tests/data/formats/%s", cases[i].file);
        size_t n;
        uint8_t *b = read_rel(rel, &n);
        if (!b) b = calloc(1, 1);   /* the empty file */
        image img;
        int st = image_decode(b, n, cases[i].file, NULL, &img, NULL);
        printf("  %-20s decode %d (%s)\n", cases[i].file, st, st ? status_message() : "");
        CHECK_MSG(st == cases[i].decode_st, "%s: decode %d", cases[i].file, st);
        CHECK(img.rgb == NULL && img.w == 0 && img.h == 0);
        image_meta m;
        st = image_meta_read(b, n, &m);
        CHECK_MSG(st == cases[i].meta_st, "%s: meta %d", cases[i].file, st);
        free(b);
    }
}

/* every prefix of every good file: no crash, no leak (ASan), a status */
TEST(truncations) {
    const char *files[] = {"exif.jpg", "webp.webp", "heic.heic", "avif.avif", "tiff.tif", "dng.dng"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "tests/data/formats/%s", files[i]);
        size_t n;
        uint8_t *b = read_rel(rel, &n);
        CHECK(b);
        if (!b) continue;
        size_t step = n / 97 + 1;
        for (size_t k = 1; k < n; k += step) {
            uint8_t *c = malloc(k);
            memcpy(c, b, k);
            image img;
            int st = image_decode(c, k, files[i], NULL, &img, NULL);
            if (st == ST_OK) image_release(&img);
            else CHECK(img.rgb == NULL);
            image_meta m;
            (void)image_meta_read(c, k, &m);
            free(c);
        }
        free(b);
    }
}

int main(void) {
    log_set_level(LOG_ERROR);
    RUN(sniff_magic);
    RUN(sniff_files);
    RUN(decode_each_format);
    RUN(meta_values);
    RUN(bad_files);
    RUN(truncations);
    return test_summary();
}
