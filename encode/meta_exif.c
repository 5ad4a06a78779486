/* encode/meta_exif.c — an EXIF block -> image_meta fields (see decode.h).
 *
 * libexif parses the block (bounds-checked by libexif; its "fix the data to
 * the spec" and "ignore unknown tags" options are turned off so it reads
 * what is there, including OffsetTime*, which older libexif does not name).
 * Every value is then checked here before it is used:
 *   date   DateTimeOriginal (0x9003) + OffsetTimeOriginal (0x9011); else
 *          DateTimeDigitized (0x9004) + OffsetTimeDigitized (0x9012); else
 *          IFD0 DateTime (0x132) + OffsetTime (0x9010). A date must be
 *          "YYYY:MM:DD HH:MM:SS" with a real month/day/hour... (a camera's
 *          "0000:00:00 00:00:00" or blanks are "no date"); an offset must be
 *          "+HH:MM" / "-HH:MM" within +-14:00.
 *   make, model  ASCII, control bytes dropped, spaces trimmed, cut to 63 bytes.
 *   GPS    GPSLatitude / GPSLongitude: 3 RATIONALs (degrees, minutes,
 *          seconds; a zero denominator or an out-of-range result drops the
 *          position), the Ref 'S' / 'W' negates. (0, 0) is kept: it is a
 *          place, if an unlikely one.
 *   orientation  IFD0 0x112, SHORT 1-8.
 */
#include "decode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libexif/exif-data.h>

#include "log.h"

void meta_init(image_meta *m) {
    memset(m, 0, sizeof *m);
    m->orientation = 1;
    m->taken_offset_min = IMAGE_OFFSET_UNKNOWN;
}

static ExifEntry *entry(ExifData *ed, ExifIfd ifd, unsigned tag) {
    ExifEntry *e = exif_content_get_entry(ed->ifd[ifd], (ExifTag)tag);
    if (!e || !e->data || e->size == 0 || e->size < (size_t)e->components * exif_format_get_size(e->format)) return NULL;
    return e;
}

/* the ASCII value of e, NUL-terminated in buf (cap bytes); 0 when not ASCII */
static int ascii(ExifEntry *e, char *buf, size_t cap) {
    if (!e || (e->format != EXIF_FORMAT_ASCII && e->format != EXIF_FORMAT_UNDEFINED)) return 0;
    size_t k = 0;
    for (size_t i = 0; i < e->size && e->data[i] && k + 1 < cap; i++) {
        unsigned char c = e->data[i];
        if (c < 0x20 || c == 0x7F) c = ' ';
        buf[k++] = (char)c;
    }
    buf[k] = 0;
    /* trim */
    while (k > 0 && buf[k - 1] == ' ') buf[--k] = 0;
    size_t s = 0;
    while (buf[s] == ' ') s++;
    if (s) memmove(buf, buf + s, k - s + 1);
    return 1;
}

static int digits(const char *s, int n, int *v) {
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        *v = *v * 10 + (s[i] - '0');
    }
    return 1;
}

/* "YYYY:MM:DD HH:MM:SS" -> "YYYY-MM-DDTHH:MM:SS" (out[20]) */
static int parse_date(const char *s, char out[20]) {
    if (strlen(s) < 19) return 0;
    int Y, M, D, h, m, sec;
    if (!digits(s, 4, &Y) || !digits(s + 5, 2, &M) || !digits(s + 8, 2, &D) || !digits(s + 11, 2, &h) ||
        !digits(s + 14, 2, &m) || !digits(s + 17, 2, &sec))
        return 0;
    if ((s[4] != ':' && s[4] != '-') || (s[7] != ':' && s[7] != '-') || (s[10] != ' ' && s[10] != 'T') ||
        s[13] != ':' || s[16] != ':')
        return 0;
    if (Y < 1800 || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60) return 0;
    snprintf(out, 20, "%04d-%02d-%02dT%02d:%02d:%02d", Y, M, D, h, m, sec);
    return 1;
}

/* "+HH:MM" -> minutes, or IMAGE_OFFSET_UNKNOWN */
static int16_t parse_offset(const char *s) {
    int h, m;
    if (strlen(s) < 6 || (s[0] != '+' && s[0] != '-') || !digits(s + 1, 2, &h) || s[3] != ':' || !digits(s + 4, 2, &m))
        return IMAGE_OFFSET_UNKNOWN;
    if (h > 14 || m > 59 || h * 60 + m > 14 * 60) return IMAGE_OFFSET_UNKNOWN;
    return (int16_t)((s[0] == '-' ? -1 : 1) * (h * 60 + m));
}

static int gps_coord(ExifData *ed, unsigned tag, unsigned reftag, double limit, double *out) {
    ExifEntry *e = entry(ed, EXIF_IFD_GPS, tag);
    if (!e || e->format != EXIF_FORMAT_RATIONAL || e->components < 3) return 0;
    ExifByteOrder bo = exif_data_get_byte_order(ed);
    double v = 0, scale = 1;
    for (int i = 0; i < 3; i++, scale *= 60) {
        ExifRational r = exif_get_rational(e->data + 8 * i, bo);
        if (r.denominator == 0) {
            if (r.numerator == 0 && i > 0) continue;   /* "0/0" minutes or seconds: some writers */
            return 0;
        }
        v += (double)r.numerator / r.denominator / scale;
    }
    if (!(v >= 0 && v <= limit)) return 0;
    char ref[8] = "";
    ascii(entry(ed, EXIF_IFD_GPS, reftag), ref, sizeof ref);
    if (ref[0] == 'S' || ref[0] == 'W' || ref[0] == 's' || ref[0] == 'w') v = -v;
    *out = v;
    return 1;
}

void meta_exif_parse(const uint8_t *exif, size_t n, image_meta *m) {
    if (!exif || n < 8 || n > 0xFFFFFFFFu) return;
    uint8_t *buf = NULL;
    const uint8_t *blk = exif;
    size_t len = n;
    if (memcmp(exif, "Exif\0\0", 6) != 0) {   /* a bare TIFF header: libexif wants the prefix */
        if (n > 0xFFFFFFFFu - 6) return;
        buf = malloc(n + 6);
        if (!buf) return;
        memcpy(buf, "Exif\0\0", 6);
        memcpy(buf + 6, exif, n);
        blk = buf;
        len = n + 6;
    }
    ExifData *ed = exif_data_new();
    if (!ed) { free(buf); return; }
    exif_data_unset_option(ed, EXIF_DATA_OPTION_FOLLOW_SPECIFICATION);
    exif_data_unset_option(ed, EXIF_DATA_OPTION_IGNORE_UNKNOWN_TAGS);
    exif_data_load_data(ed, blk, (unsigned int)len);
    ExifByteOrder bo = exif_data_get_byte_order(ed);

    ExifEntry *e = entry(ed, EXIF_IFD_0, 0x112);
    if (e && e->format == EXIF_FORMAT_SHORT) {
        int v = exif_get_short(e->data, bo);
        if (v >= 1 && v <= 8) m->orientation = v;
    }
    char s[64];
    if (ascii(entry(ed, EXIF_IFD_0, 0x10F), s, sizeof s) && s[0]) snprintf(m->make, sizeof m->make, "%s", s);
    if (ascii(entry(ed, EXIF_IFD_0, 0x110), s, sizeof s) && s[0]) snprintf(m->model, sizeof m->model, "%s", s);

    static const struct { ExifIfd ifd; unsigned date, off; } dates[] = {
        {EXIF_IFD_EXIF, 0x9003, 0x9011}, {EXIF_IFD_EXIF, 0x9004, 0x9012}, {EXIF_IFD_0, 0x132, 0x9010}};
    for (size_t i = 0; i < sizeof dates / sizeof dates[0]; i++) {
        char d[20];
        if (!ascii(entry(ed, dates[i].ifd, dates[i].date), s, sizeof s) || !parse_date(s, d)) continue;
        memcpy(m->taken, d, sizeof d);
        m->taken_source = IMAGE_TAKEN_EXIF;
        m->taken_offset_min = IMAGE_OFFSET_UNKNOWN;
        /* the offset tags live in the EXIF IFD (some writers put them in IFD0) */
        if (ascii(entry(ed, EXIF_IFD_EXIF, dates[i].off), s, sizeof s) ||
            ascii(entry(ed, EXIF_IFD_0, dates[i].off), s, sizeof s))
            m->taken_offset_min = parse_offset(s);
        break;
    }

    double lat, lon;
    if (gps_coord(ed, 0x2, 0x1, 90, &lat) && gps_coord(ed, 0x4, 0x3, 180, &lon)) {
        m->has_gps = 1;
        m->gps_lat = lat;
        m->gps_lon = lon;
    }
    exif_data_unref(ed);
    free(buf);
}
