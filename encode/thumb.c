/* encode/thumb.c — see thumb.h. */
#include "thumb.h"
#include "resize.h"
#include "status.h"

#include <stb_image_write.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *buf;
    size_t len, cap;
    int failed;
} membuf;

static void membuf_write(void *ctx, void *data, int size) {
    membuf *m = ctx;
    if (m->failed || size <= 0) return;
    if (m->len + (size_t)size > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16384;
        while (cap < m->len + (size_t)size) cap *= 2;
        uint8_t *p = realloc(m->buf, cap);
        if (!p) {
            m->failed = 1;
            return;
        }
        m->buf = p, m->cap = cap;
    }
    memcpy(m->buf + m->len, data, (size_t)size);
    m->len += (size_t)size;
}

int thumb_jpeg(const image *img, int max_side, int quality, uint8_t **jpeg, size_t *len) {
    *jpeg = NULL;
    *len = 0;
    if (!img->rgb || img->w <= 0 || img->h <= 0 || max_side <= 0)
        return status_fail(ST_ARG, "thumbnail: empty image or size");
    image small = {0};
    const image *src = img;
    int longest = img->w > img->h ? img->w : img->h;
    if (longest > max_side) {
        int w = img->w >= img->h ? max_side : (int)((long)img->w * max_side / img->h);
        int h = img->h > img->w ? max_side : (int)((long)img->h * max_side / img->w);
        int st = resize_bicubic(img, w < 1 ? 1 : w, h < 1 ? 1 : h, &small);
        if (st) return st;
        src = &small;
    }
    membuf m = {0};
    int ok = stbi_write_jpg_to_func(membuf_write, &m, src->w, src->h, 3, src->rgb, quality);
    image_release(&small);
    if (!ok || m.failed) {
        free(m.buf);
        return status_fail(ST_NOMEM, "thumbnail: JPEG encoding failed");
    }
    *jpeg = m.buf;
    *len = m.len;
    return ST_OK;
}
