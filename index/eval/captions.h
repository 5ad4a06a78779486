/* index/captions.h — caption files for retrieval evaluation: images and the
 * human captions of each.
 *
 *     captions c;
 *     if (captions_load("annotations/captions_val2017.json", &c)) die(status_message());
 *     for (size_t i = 0; i < c.n_captions; i++)
 *         printf("%s: %s\n", c.images[c.image_of[i]], c.texts[i]);
 *     captions_release(&c);
 *
 * Formats (chosen by content, not by name):
 *   COCO captions JSON (captions_*.json): {"images": [{"id", "file_name"}],
 *     "annotations": [{"image_id", "caption"}]}. Images keep the order of
 *     "images"; captions keep the order of "annotations". An annotation whose
 *     image_id names no image is ST_FORMAT.
 *   Flickr-style CSV or TSV: a header line naming the columns "image" and
 *     "caption" (in any order, other columns ignored); the delimiter is a tab
 *     when the header has one, else a comma. Fields may be quoted ("..."
 *     with "" for a quote, newlines allowed inside). A row with more fields
 *     than the header, when "caption" is the last column, has its extra
 *     fields joined back with the delimiter (an unquoted caption with commas).
 *     Images are listed in order of first appearance. Blank lines are skipped.
 * Images with no caption are dropped (they could not be scored); image names
 * are the file names as the file gives them (matched by base name later).
 *
 * Ownership: captions owns every string (captions_release).
 */
#ifndef SEER_CAPTIONS_H
#define SEER_CAPTIONS_H

#include <stddef.h>

typedef struct {
    char  **images;      /* (n_images) file names, distinct */
    size_t  n_images;
    char  **texts;       /* (n_captions) */
    size_t *image_of;    /* (n_captions) index into images */
    size_t  n_captions;
} captions;

int  captions_load(const char *path, captions *out);
void captions_release(captions *c);

/* Keep only the images for which keep[i] is nonzero (and their captions),
 * re-indexing image_of. keep has n_images entries. */
int  captions_filter(captions *c, const unsigned char *keep);

#endif
