/* encode/image_sniff.c — the format of a file by its magic bytes (see
 * image_meta.h for the contract).
 *
 * Rules, in order (the first that matches wins):
 *   jpeg  FF D8 FF
 *   png   89 'PNG' 0D 0A 1A 0A
 *   gif   'GIF87a' / 'GIF89a'
 *   webp  'RIFF' <size> 'WEBP'
 *   heic / avif / raw
 *         an ISO-BMFF 'ftyp' box at offset 4 whose major or compatible brands
 *         name an AVIF brand (avif, avis) -> "avif"; else a HEIF brand (heic,
 *         heix, hevc, hevx, heim, heis, hevm, hevs, mif1, msf1) -> "heic";
 *         else the Canon CR3 brand 'crx ' -> "raw". (AVIF first because AVIF
 *         files also list mif1/msf1.)
 *   raw   'FUJIFILMCCD-RAW' (RAF); Olympus ORF ('IIRO', 'IIRS', 'MMOR');
 *         Panasonic RW2 ('IIU' 0)
 *   raw / tiff
 *         'II*\0' or 'MM\0*': a TIFF. It is camera RAW when the file says so
 *         structurally: "CR" at offset 8 (CR2), or IFD0 carries a DNGVersion
 *         tag (0xC612), or IFD0 or one of its SubIFDs (tag 0x14A) holds an
 *         image whose PhotometricInterpretation is CFA (32803) or LinearRaw
 *         (34892) — how NEF, ARW, PEF, SRW and DNG store their sensor data.
 *         A TIFF with none of those is "tiff" (scans, exports). Chosen over
 *         "a camera Make is present" (scanners and exports write Make too)
 *         and over asking libraw (slow, and it opens some plain TIFFs);
 *         the walk reads at most 2 + 8 IFDs of at most 512 entries, all
 *         bounds-checked.
 *   bmp   'BM' and a plausible header (info size 12/40/52/56/64/108/124)
 *   pnm   'P5' / 'P6' then whitespace (the binary kinds stb reads)
 *   tga   no magic: last, and only for an 18-byte header that is
 *         plausible — colour-map type 0 or 1; image type 1, 2, 3, 9, 10 or
 *         11; the colour map type matches the image type (types 1/9 need a
 *         map, the others a map type 0 or an ignored map); a map entry size
 *         of 0/15/16/24/32 when there is a map; pixel depth 8, 15, 16, 24 or
 *         32; width and height non-zero; and the file at least as long as
 *         header + ID + colour map. Random text fails this almost always
 *         (byte 2 must be a small number, bytes 16 a bit depth); a short
 *         garbage file that passes still fails later in the decoder with
 *         ST_FORMAT.
 */
#include "image_meta.h"

#include <string.h>

static unsigned rd16(const uint8_t *p, int le) { return le ? (unsigned)(p[0] | p[1] << 8) : (unsigned)(p[0] << 8 | p[1]); }
static uint32_t rd32(const uint8_t *p, int le) {
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* ---------------------------------------------------------------- ISO BMFF */

static int brand_in(const uint8_t *b, const char *const *set) {
    for (; *set; set++)
        if (memcmp(b, *set, 4) == 0) return 1;
    return 0;
}

static const char *sniff_ftyp(const uint8_t *b, size_t n) {
    if (n < 16 || memcmp(b + 4, "ftyp", 4) != 0) return NULL;
    static const char *const avif[] = {"avif", "avis", NULL};
    static const char *const heif[] = {"heic", "heix", "hevc", "hevx", "heim", "heis", "hevm", "hevs",
                                       "mif1", "msf1", NULL};
    uint32_t box = rd32(b, 0);
    if (box < 16) box = 16;        /* a box size of 0 or 1 (to end / 64-bit): read what is there */
    size_t end = box < n ? box : n;
    if (end > 16 + 4 * 64) end = 16 + 4 * 64;   /* at most 64 compatible brands */
    /* brands: the major at 8, then the compatible ones from 16 (12 is the minor version) */
    int is_avif = brand_in(b + 8, avif), is_heif = brand_in(b + 8, heif), is_crx = memcmp(b + 8, "crx ", 4) == 0;
    for (size_t p = 16; p + 4 <= end; p += 4) {
        is_avif |= brand_in(b + p, avif);
        is_heif |= brand_in(b + p, heif);
        is_crx |= memcmp(b + p, "crx ", 4) == 0;
    }
    if (is_crx) return "raw";       /* CR3 lists no HEIF brand, but be sure */
    if (is_avif) return "avif";
    if (is_heif) return "heic";
    return NULL;                    /* MP4, MOV, JPEG 2000...: not an image seer reads */
}

/* ---------------------------------------------------------------- TIFF */

enum { TIFF_MAX_ENTRIES = 512, TIFF_MAX_SUBIFDS = 8 };

/* 1 when the IFD at off is a CFA / LinearRaw image or carries DNGVersion;
 * collects up to TIFF_MAX_SUBIFDS SubIFD offsets into sub[] (*nsub). */
static int ifd_is_raw(const uint8_t *b, size_t n, int le, uint32_t off, uint32_t *sub, int *nsub) {
    if (off < 8 || off > n || n - off < 2) return 0;
    unsigned cnt = rd16(b + off, le);
    if (cnt > TIFF_MAX_ENTRIES) cnt = TIFF_MAX_ENTRIES;
    for (unsigned i = 0; i < cnt; i++) {
        size_t e = off + 2 + (size_t)i * 12;
        if (e + 12 > n) break;
        unsigned tag = rd16(b + e, le), type = rd16(b + e + 2, le);
        uint32_t count = rd32(b + e + 4, le);
        if (tag == 0xC612) return 1;                          /* DNGVersion */
        if (tag == 0x106) {                                   /* PhotometricInterpretation, SHORT */
            unsigned v = type == 3 ? rd16(b + e + 8, le) : rd32(b + e + 8, le);
            if (v == 32803 || v == 34892) return 1;
        }
        if (tag == 0x14A && sub && nsub && (type == 4 || type == 13) && count >= 1) {   /* SubIFDs, LONG/IFD */
            if (count == 1) {
                if (*nsub < TIFF_MAX_SUBIFDS) sub[(*nsub)++] = rd32(b + e + 8, le);
            } else {
                uint32_t at = rd32(b + e + 8, le);
                for (uint32_t k = 0; k < count && *nsub < TIFF_MAX_SUBIFDS; k++) {
                    if (at > n || (n - at) / 4 <= k) break;
                    sub[(*nsub)++] = rd32(b + at + 4 * (size_t)k, le);
                }
            }
        }
    }
    return 0;
}

static const char *sniff_tiff(const uint8_t *b, size_t n) {
    int le;
    if (n >= 8 && memcmp(b, "II*\0", 4) == 0) le = 1;
    else if (n >= 8 && memcmp(b, "MM\0*", 4) == 0) le = 0;
    else return NULL;
    if (n >= 10 && b[8] == 'C' && b[9] == 'R') return "raw";          /* Canon CR2 */
    uint32_t sub[TIFF_MAX_SUBIFDS];
    int nsub = 0;
    uint32_t ifd0 = rd32(b + 4, le);
    if (ifd_is_raw(b, n, le, ifd0, sub, &nsub)) return "raw";
    for (int i = 0; i < nsub; i++)
        if (ifd_is_raw(b, n, le, sub[i], NULL, NULL)) return "raw";
    /* the next IFD after IFD0 (some RAWs keep the sensor image there) */
    if (ifd0 >= 8 && ifd0 <= n && n - ifd0 >= 2) {
        unsigned cnt = rd16(b + ifd0, le);
        size_t nx = ifd0 + 2 + (size_t)cnt * 12;
        if (nx + 4 <= n && ifd_is_raw(b, n, le, rd32(b + nx, le), NULL, NULL)) return "raw";
    }
    return "tiff";
}

/* ---------------------------------------------------------------- TGA */

static int tga_plausible(const uint8_t *b, size_t n) {
    if (n < 18) return 0;
    unsigned idlen = b[0], cmtype = b[1], type = b[2];
    unsigned cmfirst = b[3] | b[4] << 8, cmlen = b[5] | b[6] << 8, cmbits = b[7];
    unsigned w = b[12] | b[13] << 8, h = b[14] | b[15] << 8, bpp = b[16], desc = b[17];
    if (cmtype > 1) return 0;
    if (!(type == 1 || type == 2 || type == 3 || type == 9 || type == 10 || type == 11)) return 0;
    int mapped = type == 1 || type == 9;
    if (mapped && (cmtype != 1 || cmlen == 0 || (bpp != 8 && bpp != 16))) return 0;
    if (cmtype == 1 && !(cmbits == 15 || cmbits == 16 || cmbits == 24 || cmbits == 32)) return 0;
    if (!mapped && (bpp != 8 && bpp != 15 && bpp != 16 && bpp != 24 && bpp != 32)) return 0;
    if ((type == 3 || type == 11) && bpp != 8 && bpp != 16) return 0;
    if (w == 0 || h == 0) return 0;
    if (desc & 0xC0) return 0;                         /* interleaving bits: never written */
    (void)cmfirst;
    size_t need = 18 + (size_t)idlen + (cmtype ? (size_t)cmlen * ((cmbits + 7) / 8) : 0);
    return n > need;
}

/* ---------------------------------------------------------------- all */

const char *image_sniff(const void *bytes, size_t n) {
    if (!bytes || n == 0) return NULL;
    const uint8_t *b = bytes;
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return "jpeg";
    if (n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) return "png";
    if (n >= 6 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0)) return "gif";
    if (n >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0) return "webp";
    const char *f = sniff_ftyp(b, n);
    if (f) return f;
    if (n >= 15 && memcmp(b, "FUJIFILMCCD-RAW", 15) == 0) return "raw";
    if (n >= 8 && (memcmp(b, "IIRO", 4) == 0 || memcmp(b, "IIRS", 4) == 0 || memcmp(b, "MMOR", 4) == 0 ||
                   memcmp(b, "IIU\0", 4) == 0))
        return "raw";
    if ((f = sniff_tiff(b, n))) return f;
    if (n >= 18 && b[0] == 'B' && b[1] == 'M') {
        uint32_t hs = rd32(b + 14, 1);
        if (hs == 12 || hs == 40 || hs == 52 || hs == 56 || hs == 64 || hs == 108 || hs == 124) return "bmp";
    }
    if (n >= 3 && b[0] == 'P' && (b[1] == '5' || b[1] == '6') &&
        (b[2] == ' ' || (b[2] >= '\t' && b[2] <= '\r') || b[2] == '#'))
        return "pnm";
    if (tga_plausible(b, n)) return "tga";
    return NULL;
}
