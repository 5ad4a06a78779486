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

int main(void) {
    log_set_level(LOG_ERROR);
    RUN(sniff_magic);
    RUN(sniff_files);
    return test_summary();
}
