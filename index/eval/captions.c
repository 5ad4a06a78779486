/* index/captions.c — COCO captions JSON and Flickr-style CSV/TSV readers
 * (formats in captions.h). */
#include "captions.h"
#include "file.h"
#include "status.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CAPTIONS_MAX_BYTES ((size_t)1 << 30)

void captions_release(captions *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n_images; i++) free(c->images[i]);
    for (size_t i = 0; i < c->n_captions; i++) free(c->texts[i]);
    free(c->images);
    free(c->texts);
    free(c->image_of);
    memset(c, 0, sizeof *c);
}

/* ---------------------------------------------------------------- building */

typedef struct {
    captions c;
    size_t   cap_images, cap_captions;
    /* open-addressing map file name → image index (CSV) */
    size_t  *slots;
    size_t   n_slots;
} builder;

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int add_image(builder *b, const char *name, size_t *idx) {
    if (b->c.n_images * 2 >= b->n_slots) { /* grow and rehash */
        size_t n = b->n_slots ? 2 * b->n_slots : 1024;
        size_t *s = malloc(n * sizeof *s);
        if (!s) return status_fail(ST_NOMEM, "captions: out of memory");
        for (size_t i = 0; i < n; i++) s[i] = SIZE_MAX;
        for (size_t i = 0; i < b->c.n_images; i++) {
            size_t h = hash_str(b->c.images[i]) & (n - 1);
            while (s[h] != SIZE_MAX) h = (h + 1) & (n - 1);
            s[h] = i;
        }
        free(b->slots);
        b->slots = s;
        b->n_slots = n;
    }
    size_t h = hash_str(name) & (b->n_slots - 1);
    for (; b->slots[h] != SIZE_MAX; h = (h + 1) & (b->n_slots - 1))
        if (!strcmp(b->c.images[b->slots[h]], name)) {
            *idx = b->slots[h];
            return ST_OK;
        }
    if (b->c.n_images == b->cap_images) {
        size_t n = b->cap_images ? 2 * b->cap_images : 256;
        char **t = realloc(b->c.images, n * sizeof *t);
        if (!t) return status_fail(ST_NOMEM, "captions: out of memory");
        b->c.images = t;
        b->cap_images = n;
    }
    char *d = strdup(name);
    if (!d) return status_fail(ST_NOMEM, "captions: out of memory");
    b->c.images[b->c.n_images] = d;
    b->slots[h] = b->c.n_images;
    *idx = b->c.n_images++;
    return ST_OK;
}

static int add_caption(builder *b, size_t image, const char *text, size_t len) {
    if (b->c.n_captions == b->cap_captions) {
        size_t n = b->cap_captions ? 2 * b->cap_captions : 1024;
        char **t = realloc(b->c.texts, n * sizeof *t);
        if (!t) return status_fail(ST_NOMEM, "captions: out of memory");
        b->c.texts = t;
        size_t *o = realloc(b->c.image_of, n * sizeof *o);
        if (!o) return status_fail(ST_NOMEM, "captions: out of memory");
        b->c.image_of = o;
        b->cap_captions = n;
    }
    char *d = strndup(text, len);
    if (!d) return status_fail(ST_NOMEM, "captions: out of memory");
    b->c.texts[b->c.n_captions] = d;
    b->c.image_of[b->c.n_captions++] = image;
    return ST_OK;
}

/* Drop images without captions. */
static int drop_uncaptioned(captions *c) {
    unsigned char *keep = calloc(c->n_images ? c->n_images : 1, 1);
    if (!keep) return status_fail(ST_NOMEM, "captions: out of memory");
    for (size_t i = 0; i < c->n_captions; i++) keep[c->image_of[i]] = 1;
    int rc = captions_filter(c, keep);
    free(keep);
    return rc;
}

int captions_filter(captions *c, const unsigned char *keep) {
    size_t *remap = malloc((c->n_images ? c->n_images : 1) * sizeof *remap);
    if (!remap) return status_fail(ST_NOMEM, "captions: out of memory");
    size_t ni = 0;
    for (size_t i = 0; i < c->n_images; i++) {
        if (keep[i]) {
            remap[i] = ni;
            c->images[ni++] = c->images[i];
        } else {
            remap[i] = SIZE_MAX;
            free(c->images[i]);
        }
    }
    size_t nc = 0;
    for (size_t i = 0; i < c->n_captions; i++) {
        size_t m = remap[c->image_of[i]];
        if (m == SIZE_MAX) {
            free(c->texts[i]);
            continue;
        }
        c->texts[nc] = c->texts[i];
        c->image_of[nc++] = m;
    }
    c->n_images = ni;
    c->n_captions = nc;
    free(remap);
    return ST_OK;
}

/* ---------------------------------------------------------------- COCO JSON */

typedef struct {
    json_int_t id;
    size_t     idx;
} idmap;

static int idmap_cmp(const void *a, const void *b) {
    json_int_t x = ((const idmap *)a)->id, y = ((const idmap *)b)->id;
    return (x > y) - (x < y);
}

static int load_coco(const char *path, const char *data, size_t len, builder *b) {
    json_error_t err;
    json_t *root = json_loadb(data, len, 0, &err);
    if (!root) return status_fail(ST_FORMAT, "%s:%d:%d: %s", path, err.line, err.column, err.text);
    int rc = ST_OK;
    idmap *map = NULL;
    json_t *imgs = json_object_get(root, "images"), *anns = json_object_get(root, "annotations");
    if (!json_is_array(imgs) || !json_is_array(anns)) {
        rc = status_fail(ST_FORMAT, "%s: expected COCO captions JSON with \"images\" and \"annotations\" arrays", path);
        goto out;
    }
    size_t ni = json_array_size(imgs);
    map = malloc((ni ? ni : 1) * sizeof *map);
    if (!map) {
        rc = status_fail(ST_NOMEM, "captions: out of memory");
        goto out;
    }
    for (size_t i = 0; i < ni && !rc; i++) {
        json_t *im = json_array_get(imgs, i);
        const char *fn = json_string_value(json_object_get(im, "file_name"));
        json_t *id = json_object_get(im, "id");
        if (!fn || !json_is_integer(id)) {
            rc = status_fail(ST_FORMAT, "%s: images[%zu] lacks \"id\" or \"file_name\"", path, i);
            break;
        }
        map[i].id = json_integer_value(id);
        rc = add_image(b, fn, &map[i].idx);
    }
    if (rc) goto out;
    qsort(map, ni, sizeof *map, idmap_cmp);
    for (size_t i = 0; i < json_array_size(anns) && !rc; i++) {
        json_t *a = json_array_get(anns, i);
        const char *text = json_string_value(json_object_get(a, "caption"));
        json_t *id = json_object_get(a, "image_id");
        if (!text || !json_is_integer(id)) {
            rc = status_fail(ST_FORMAT, "%s: annotations[%zu] lacks \"image_id\" or \"caption\"", path, i);
            break;
        }
        idmap key = {json_integer_value(id), 0};
        idmap *hit = bsearch(&key, map, ni, sizeof *map, idmap_cmp);
        if (!hit) {
            rc = status_fail(ST_FORMAT, "%s: annotations[%zu] names image_id %lld, which is not in \"images\"", path,
                             i, (long long)key.id);
            break;
        }
        rc = add_caption(b, hit->idx, text, strlen(text));
    }
out:
    free(map);
    json_decref(root);
    return rc;
}

/* ---------------------------------------------------------------- CSV / TSV */

typedef struct {
    char  **f;      /* field starts (into the row buffer) */
    size_t *len;
    size_t  n, cap;
    char   *buf;    /* unquoted text of the row */
    size_t  buf_cap;
} row;

/* Parse one record starting at *pos; fields unquoted into r. Returns 0 at
 * the end of the data, 1 for a record, or a negative status. */
static int csv_next(const char *path, const char *s, size_t n, size_t *pos, char delim, row *r, size_t *line) {
    size_t i = *pos;
    while (i < n && (s[i] == '\n' || s[i] == '\r')) { /* blank lines */
        if (s[i] == '\n') (*line)++;
        i++;
    }
    if (i >= n) return 0;
    if (r->buf_cap < n - i + 1) {
        char *t = realloc(r->buf, n - i + 1);
        if (!t) return status_fail(ST_NOMEM, "captions: out of memory");
        r->buf = t;
        r->buf_cap = n - i + 1;
    }
    size_t o = 0, start_line = *line;
    r->n = 0;
    for (;;) { /* one field */
        if (r->n == r->cap) {
            size_t c = r->cap ? 2 * r->cap : 8;
            char **f = realloc(r->f, c * sizeof *f);
            if (!f) return status_fail(ST_NOMEM, "captions: out of memory");
            r->f = f;
            size_t *l = realloc(r->len, c * sizeof *l);
            if (!l) return status_fail(ST_NOMEM, "captions: out of memory");
            r->len = l;
            r->cap = c;
        }
        size_t fs = o;
        if (i < n && s[i] == '"') {
            i++;
            for (;;) {
                if (i >= n) return status_fail(ST_FORMAT, "%s:%zu: unterminated quoted field", path, start_line);
                if (s[i] == '"') {
                    if (i + 1 < n && s[i + 1] == '"') {
                        r->buf[o++] = '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                if (s[i] == '\n') (*line)++;
                r->buf[o++] = s[i++];
            }
            /* anything up to the delimiter after the closing quote is kept */
            while (i < n && s[i] != delim && s[i] != '\n' && s[i] != '\r') r->buf[o++] = s[i++];
        } else {
            while (i < n && s[i] != delim && s[i] != '\n' && s[i] != '\r') r->buf[o++] = s[i++];
        }
        r->f[r->n] = r->buf + fs;
        r->len[r->n++] = o - fs;
        r->buf[o++] = 0;
        if (i < n && s[i] == delim) {
            i++;
            continue;
        }
        break;
    }
    if (i < n && s[i] == '\r') i++;
    if (i < n && s[i] == '\n') {
        i++;
        (*line)++;
    }
    *pos = i;
    return 1;
}

static int load_csv(const char *path, const char *s, size_t n, builder *b) {
    size_t eol = strcspn(s, "\n");
    char delim = memchr(s, '\t', eol) ? '\t' : ',';
    row r = {0};
    size_t pos = 0, line = 1;
    int rc = csv_next(path, s, n, &pos, delim, &r, &line);
    long ci = -1, ii = -1;
    if (rc == 1) {
        for (size_t k = 0; k < r.n; k++) {
            char *f = r.f[k];
            if (k == 0 && !strncmp(f, "\xEF\xBB\xBF", 3)) f += 3; /* a BOM */
            while (*f == ' ') f++;
            if (!strcmp(f, "image") && ii < 0) ii = (long)k;
            else if (!strcmp(f, "caption") && ci < 0) ci = (long)k;
        }
        rc = ST_OK;
    }
    if (!rc && (ci < 0 || ii < 0))
        rc = status_fail(ST_FORMAT, "%s: the header line must name the columns \"image\" and \"caption\"", path);
    size_t n_head = r.n;
    while (!rc) {
        size_t at = line;
        int got = csv_next(path, s, n, &pos, delim, &r, &line);
        if (got <= 0) {
            rc = got;
            break;
        }
        if (r.n == 1 && r.len[0] == 0) continue;
        if (r.n <= (size_t)ci || r.n <= (size_t)ii) {
            rc = status_fail(ST_FORMAT, "%s:%zu: %zu fields, the header has %zu", path, at, r.n, n_head);
            break;
        }
        if (r.n > n_head && (size_t)ci == n_head - 1) /* unquoted delimiters in the last column */
            for (size_t k = (size_t)ci; k + 1 < r.n; k++) r.f[k][r.len[k]] = delim;
        size_t clen = r.n > n_head && (size_t)ci == n_head - 1 ? strlen(r.f[ci]) : r.len[ci];
        size_t idx;
        rc = add_image(b, r.f[ii], &idx);
        if (!rc) rc = add_caption(b, idx, r.f[ci], clen);
    }
    free(r.f), free(r.len), free(r.buf);
    return rc;
}

/* ---------------------------------------------------------------- entry */

int captions_load(const char *path, captions *out) {
    memset(out, 0, sizeof *out);
    uint8_t *data;
    size_t len;
    int rc = file_read(path, CAPTIONS_MAX_BYTES, &data, &len);
    if (rc) return rc;
    builder b = {0};
    size_t i = 0;
    while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r')) i++;
    if (i < len && data[i] == '{') rc = load_coco(path, (const char *)data, len, &b);
    else rc = load_csv(path, (const char *)data, len, &b);
    free(data);
    free(b.slots);
    if (!rc) rc = drop_uncaptioned(&b.c);
    if (!rc && !b.c.n_captions) rc = status_fail(ST_FORMAT, "%s: no captions", path);
    if (rc) {
        captions_release(&b.c);
        return rc;
    }
    *out = b.c;
    return ST_OK;
}
