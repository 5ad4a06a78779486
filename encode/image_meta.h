/* encode/image_meta.h — what a photo file says about itself: format (by its
 * magic bytes), date taken, camera, GPS position, orientation and pixel size.
 *
 *     image_meta m;
 *     if (image_meta_read(bytes, n, &m) == ST_OK && m.taken_source == IMAGE_TAKEN_EXIF)
 *         printf("%s taken %s by %s %s\n", m.format, m.taken, m.make, m.model);
 *
 * Read from EXIF wherever the container carries it: JPEG APP1, HEIC/AVIF
 * (the item of type "Exif"), WebP (the EXIF chunk), TIFF and RAW (IFD0 and its
 * EXIF and GPS sub-IFDs). Fields the file does not carry stay empty /
 * unknown; image_meta_read fails only for bytes that are no image format seer
 * knows (ST_UNSUPPORTED) or an empty input (ST_FORMAT). Never reads outside
 * [bytes, bytes + n) whatever the input (fuzzed).
 *
 * Ownership: image_meta is a plain value; no pointers, nothing to free.
 * Thread-safety: reentrant.
 */
#ifndef SEER_IMAGE_META_H
#define SEER_IMAGE_META_H

#include <stddef.h>
#include <stdint.h>

enum image_taken_source {
    IMAGE_TAKEN_NONE  = 0,   /* the file carries no date */
    IMAGE_TAKEN_EXIF  = 1,   /* EXIF DateTimeOriginal (else DateTimeDigitized, else DateTime) */
    IMAGE_TAKEN_MTIME = 2,   /* set by the caller from the file's mtime, never by image_meta_read */
};

#define IMAGE_OFFSET_UNKNOWN  INT16_MIN   /* taken_offset_min when EXIF gives no OffsetTime* */

typedef struct {
    const char *format;        /* static: "jpeg" "png" "gif" "bmp" "tga" "pnm" "webp"
                                  "heic" "avif" "tiff" "raw" (see image_sniff) */
    int      width, height;    /* pixel size after EXIF orientation; 0 when not read */
    int      orientation;      /* EXIF orientation 1-8 (1 when absent) */
    enum image_taken_source taken_source;
    char     taken[20];        /* "YYYY-MM-DDTHH:MM:SS" local time as written, "" if none */
    int16_t  taken_offset_min; /* UTC offset of `taken` in minutes, or IMAGE_OFFSET_UNKNOWN */
    char     make[64];         /* EXIF Make, trimmed; "" if none */
    char     model[64];        /* EXIF Model, trimmed; "" if none */
    int      has_gps;
    double   gps_lat, gps_lon; /* degrees, south and west negative (valid when has_gps) */
} image_meta;

/* The format of n bytes by their magic (one of the static names of
 * image_meta.format), or NULL when no decoder of seer reads it. The name is
 * never consulted. TIFF-based camera RAW (CR2, NEF, ARW, DNG, PEF...) is told
 * from a plain TIFF by its structure (DNGVersion, a CFA / LinearRaw image in
 * IFD0 or a SubIFD, or CR2's marker); TGA, which has no magic, only when
 * nothing else matches and its 18-byte header is plausible. The rules:
 * encode/image_sniff.c. Never reads past n; reentrant. */
const char *image_sniff(const void *bytes, size_t n);

/* Fill *out from the n bytes of a file (see above). */
int image_meta_read(const void *bytes, size_t n, image_meta *out);

#endif
