/* index/filter.h — which images a listing or a search keeps: dates taken,
 * folder, camera, format. Parsed from the user's strings (REST query
 * parameters, CLI options) and matched against one image's metadata.
 *
 *     filter f;
 *     filter_init(&f);
 *     if (filter_set(&f, "after", "2024-05-01")) reply_400(status_message());
 *     if (filter_set(&f, "camera", "pixel")) ...
 *     if (filter_match(&f, taken, path, camera, format, roots, n_roots)) keep();
 *
 * Rules (docs/api.md):
 *   after / before  YYYY-MM-DD, inclusive, compared with the LOCAL date the
 *                   photo was taken (the date part of store_image.taken, as
 *                   the camera wrote it); an image with no date fails any
 *                   date filter.
 *   folder          a path prefix that ends at a path component: absolute,
 *                   or relative to one of the ingested roots ("2024/trip"
 *                   matches ROOT/2024/trip/x.jpg for any root). Trailing
 *                   slashes are ignored; "." or "" is refused.
 *   camera          a case-insensitive substring of the camera string
 *                   (make and model, see filter_camera).
 *   format          the format name, exactly ("jpeg", "heic", ...;
 *                   case-insensitive).
 * A filter with nothing set keeps everything.
 *
 * Ownership: a filter is a plain value (fixed buffers, nothing to free).
 * Thread-safety: filter_match is reentrant; a filter is read-only once set.
 */
#ifndef SEER_FILTER_H
#define SEER_FILTER_H

#include "store.h"

#include <stddef.h>

#define FILTER_CAMERA_MAX 128   /* bytes of camera=, including the NUL */

typedef struct {
    char after[11], before[11];           /* "YYYY-MM-DD" or "" */
    char folder[STORE_PATH_MAX];          /* without trailing '/', or "" */
    char camera[FILTER_CAMERA_MAX];       /* lower-cased, or "" */
    char format[STORE_FORMAT_MAX];        /* lower-cased, or "" */
} filter;

void filter_init(filter *f);

/* Set one field by name ("after", "before", "folder", "camera", "format")
 * from the user's string. ST_ARG with a message that names the parameter and
 * says what is expected (a bad date, a date that does not exist, after later
 * than before, a value too long, an empty value, an unknown name). */
int  filter_set(filter *f, const char *name, const char *value);

/* 1 when any field is set. */
int  filter_active(const filter *f);

/* The camera string of an image: "make model", or model alone when it
 * already starts with make (as "Canon EOS R5" does), "" when neither is
 * known. Written to out (cap bytes). */
void filter_camera(const char *make, const char *model, char *out, size_t cap);

/* 1 when the image passes: taken "YYYY-MM-DDTHH:MM:SS" or "", path its
 * primary path, camera as filter_camera gives, format its name; roots the
 * ingested roots (n_roots of them, absolute, may be 0) for a relative folder. */
int  filter_match(const filter *f, const char *taken, const char *path, const char *camera, const char *format,
                  const char *const *roots, size_t n_roots);

#endif
