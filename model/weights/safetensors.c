/* model/safetensors.c — see safetensors.h for the layout and the checks. */
#include "safetensors.h"
#include "file.h"
#include "status.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

struct safetensors {
    char       *path;      /* owned copy */
    file_map    map;       /* owned when opened by safetensors_open */
    char       *strings;   /* decoded names and metadata, NUL-separated (at most the header's size) */
    size_t      nstrings;  /* bytes used in strings */
    const char **meta;     /* (2 * nmeta) key, value, ... into strings */
    size_t      nmeta;
    tensor   *tensors;   /* (n) in buffer order; names point into strings */
    size_t      n;
};

static int parse_entry(const char *path, const char *name, json_t *e, const uint8_t *buf,
                       size_t buflen, tensor *t);

/* ------------------------------------------------------------ header JSON
 *
 * The header is not parsed into one JSON tree: jansson's tree of a header
 * takes ~20 times its size, so a 100 MB header could take 2 GB. A small
 * scanner walks the top-level object (and "__metadata__") member by member;
 * jansson parses each key, each metadata string and each tensor entry (at
 * most SAFETENSORS_MAX_ENTRY bytes) on its own, and the tree is dropped at
 * once. What stays is the tensor table and the decoded strings: a few times
 * the header's size at most. */

#define SAFETENSORS_MAX_ENTRY (64u << 10) /* bytes of one tensor's {"dtype", "shape", "data_offsets"} */

static const char *skip_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* Past the closing quote of the string starting at p ('"'), or NULL. */
static const char *string_end(const char *p, const char *end) {
    for (p++; p < end; p++) {
        if (*p == '\\') { p++; continue; }
        if (*p == '"') return p + 1;
    }
    return NULL;
}

/* Past the JSON value starting at p: a string, a bracketed value (strings
 * inside skipped), or a bare literal up to a delimiter; NULL when it does not
 * end. Only the extent is found here; jansson checks the value itself. */
static const char *value_end(const char *p, const char *end) {
    if (p >= end) return NULL;
    if (*p == '"') return string_end(p, end);
    if (*p != '{' && *p != '[') {
        while (p < end && !memchr(",}] \t\r\n", *p, 7)) p++;
        return p;
    }
    size_t depth = 0;
    while (p < end) {
        if (*p == '"') {
            if (!(p = string_end(p, end))) return NULL;
            continue;
        }
        if (*p == '{' || *p == '[') depth++;
        else if ((*p == '}' || *p == ']') && --depth == 0) return p + 1;
        p++;
    }
    return NULL;
}

/* Decode the JSON string at [p, e) into st->strings; *out points at it. */
static int decode_string(safetensors *st, const char *base, const char *p, const char *e, const char **out) {
    json_error_t err;
    json_t *j = json_loadb(p, (size_t)(e - p), JSON_DECODE_ANY, &err);
    if (!j || !json_is_string(j)) {
        json_decref(j);
        return status_fail(ST_FORMAT, "%s: header is not valid JSON (byte %zu): %s", st->path,
                           (size_t)(p - base), j ? "a string was expected" : err.text);
    }
    size_t len = json_string_length(j); /* <= e - p - 2: escapes only shrink */
    char *d = st->strings + st->nstrings;
    memcpy(d, json_string_value(j), len + 1);
    st->nstrings += len + 1;
    json_decref(j);
    *out = d;
    return ST_OK;
}

/* Walk the members of the object at *pp ('{'): for each, fn(ctx, key
 * string span, value span), or only count them when fn is NULL. *pp ends past
 * the '}'. */
typedef int (*member_fn)(safetensors *st, void *ctx, const char *k, const char *ke, const char *v, const char *ve);
static int walk_object(safetensors *st, const char *base, const char **pp, const char *end, member_fn fn,
                       void *ctx, size_t *count) {
    const char *p = skip_ws(*pp + 1, end);
    *count = 0;
    if (p < end && *p == '}') {
        *pp = p + 1;
        return ST_OK;
    }
    for (;;) {
        const char *k = p, *ke = p < end && *p == '"' ? string_end(p, end) : NULL;
        const char *v = ke ? skip_ws(ke, end) : NULL;
        if (v && v < end && *v == ':') v = skip_ws(v + 1, end);
        else v = NULL;
        const char *ve = v ? value_end(v, end) : NULL;
        if (!ve || ve == v)
            return status_fail(ST_FORMAT, "%s: header is not valid JSON (byte %zu): expected \"key\": value",
                               st->path, (size_t)(p - base));
        int rc = fn ? fn(st, ctx, k, ke, v, ve) : ST_OK;
        if (rc) return rc;
        ++*count;
        p = skip_ws(ve, end);
        if (p < end && *p == ',') {
            p = skip_ws(p + 1, end);
            continue;
        }
        if (p < end && *p == '}') {
            *pp = p + 1;
            return ST_OK;
        }
        return status_fail(ST_FORMAT, "%s: header is not valid JSON (byte %zu): expected ',' or '}'", st->path,
                           (size_t)(p - base));
    }
}

typedef struct {
    const char *base;       /* the header's first byte, for positions in messages */
    const uint8_t *buf;     /* the byte buffer after the header */
    size_t buflen;
    int seen_meta;
} header_ctx;

static int meta_member(safetensors *st, void *vctx, const char *k, const char *ke, const char *v, const char *ve) {
    header_ctx *c = vctx;
    const char *key = NULL, *val = NULL;
    int rc = decode_string(st, c->base, k, ke, &key);
    if (rc) return rc;
    if (*v != '"')
        return status_fail(ST_FORMAT, "%s: \"__metadata__\" value \"%s\" is not a string", st->path, key);
    if ((rc = decode_string(st, c->base, v, ve, &val))) return rc;
    st->meta[2 * st->nmeta] = key;
    st->meta[2 * st->nmeta + 1] = val;
    st->nmeta++;
    return ST_OK;
}

static int top_member(safetensors *st, void *vctx, const char *k, const char *ke, const char *v, const char *ve) {
    header_ctx *c = vctx;
    const char *name = NULL;
    int rc = decode_string(st, c->base, k, ke, &name);
    if (rc) return rc;
    if (strcmp(name, "__metadata__") == 0) {
        if (c->seen_meta++)
            return status_fail(ST_FORMAT, "%s: header is not valid JSON: duplicate key \"__metadata__\"", st->path);
        if (*v != '{') return status_fail(ST_FORMAT, "%s: \"__metadata__\" is not an object", st->path);
        size_t n;
        const char *p = v;
        if ((rc = walk_object(st, c->base, &p, ve, NULL, NULL, &n))) return rc;
        if (!(st->meta = calloc(2 * n + 1, sizeof *st->meta)))
            return status_fail(ST_NOMEM, "%s: out of memory", st->path);
        p = v;
        return walk_object(st, c->base, &p, ve, meta_member, c, &n);
    }
    if ((size_t)(ve - v) > SAFETENSORS_MAX_ENTRY)
        return status_fail(ST_FORMAT, "%s: tensor \"%s\": header entry of %zu bytes (at most %u)", st->path, name,
                           (size_t)(ve - v), SAFETENSORS_MAX_ENTRY);
    json_error_t err;
    json_t *e = json_loadb(v, (size_t)(ve - v), JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
    if (!e)
        return status_fail(ST_FORMAT, "%s: header is not valid JSON (byte %zu): %s", st->path,
                           (size_t)(v - c->base) + (err.position > 0 ? (size_t)err.position : 0), err.text);
    rc = parse_entry(st->path, name, e, c->buf, c->buflen, &st->tensors[st->n]);
    json_decref(e);
    if (rc) return rc;
    st->n++;
    return ST_OK;
}

static int by_key(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static int by_name(const void *a, const void *b) {
    return strcmp(((const tensor *)a)->name, ((const tensor *)b)->name);
}

static int by_offset(const void *a, const void *b) {
    const tensor *x = a, *y = b;
    const uint8_t *px = x->data, *py = y->data;
    if (px != py) return px < py ? -1 : 1;
    if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* A JSON integer in [0, 2^63). */
static int json_nonneg(const json_t *v, uint64_t *out) {
    if (!json_is_integer(v)) return 0;
    json_int_t i = json_integer_value(v);
    if (i < 0) return 0;
    *out = (uint64_t)i;
    return 1;
}

/* Fill t from the header entry e; buf is the start of the byte buffer. */
static int parse_entry(const char *path, const char *name, json_t *e, const uint8_t *buf,
                       size_t buflen, tensor *t) {
    if (!json_is_object(e))
        return status_fail(ST_FORMAT, "%s: tensor \"%s\": header entry is not an object", path, name);
    json_t *jd = json_object_get(e, "dtype"), *js = json_object_get(e, "shape"),
           *jo = json_object_get(e, "data_offsets");
    if (!json_is_string(jd))
        return status_fail(ST_FORMAT, "%s: tensor \"%s\": \"dtype\" is missing or not a string", path, name);
    if (!json_is_array(js))
        return status_fail(ST_FORMAT, "%s: tensor \"%s\": \"shape\" is missing or not an array", path, name);
    if (!json_is_array(jo) || json_array_size(jo) != 2)
        return status_fail(ST_FORMAT, "%s: tensor \"%s\": \"data_offsets\" is missing or not "
                           "[begin, end]", path, name);
    memset(t, 0, sizeof *t);
    t->name = name;
    t->file = path;
    if (dtype_parse(json_string_value(jd), &t->dtype))
        return status_fail(ST_UNSUPPORTED, "%s: tensor \"%s\": unsupported dtype \"%s\"", path, name,
                           json_string_value(jd));
    size_t nd = json_array_size(js);
    if (nd > TENSOR_MAX_DIMS)
        return status_fail(ST_UNSUPPORTED, "%s: tensor \"%s\": %zu dims, at most %d supported", path,
                           name, nd, TENSOR_MAX_DIMS);
    t->ndim = (int)nd;
    size_t numel = 1;
    for (size_t i = 0; i < nd; i++) {
        uint64_t d;
        if (!json_nonneg(json_array_get(js, i), &d))
            return status_fail(ST_FORMAT, "%s: tensor \"%s\": shape dim %zu is not a non-negative "
                               "integer", path, name, i);
        t->shape[i] = (int64_t)d;
        if (__builtin_mul_overflow(numel, (size_t)d, &numel) || d > SIZE_MAX)
            return status_fail(ST_FORMAT, "%s: tensor \"%s\": element count overflows", path, name);
    }
    t->numel = numel;
    if (__builtin_mul_overflow(numel, dtype_size(t->dtype), &t->nbytes))
        return status_fail(ST_FORMAT, "%s: tensor \"%s\": byte count overflows", path, name);
    uint64_t begin, end;
    if (!json_nonneg(json_array_get(jo, 0), &begin) || !json_nonneg(json_array_get(jo, 1), &end))
        return status_fail(ST_FORMAT, "%s: tensor \"%s\": data_offsets are not non-negative integers",
                           path, name);
    if (end < begin)
        return status_fail(ST_FORMAT, "%s: tensor \"%s\": data_offsets [%llu, %llu] end before begin",
                           path, name, (unsigned long long)begin, (unsigned long long)end);
    if (end - begin != t->nbytes) {
        char sb[128];
        return status_fail(ST_FORMAT, "%s: tensor \"%s\": data_offsets [%llu, %llu] hold %llu bytes, "
                           "but %s %s needs %zu", path, name, (unsigned long long)begin,
                           (unsigned long long)end, (unsigned long long)(end - begin),
                           dtype_name(t->dtype), tensor_shape_str(t, sb, sizeof sb), t->nbytes);
    }
    if (end > buflen)
        return status_fail(ST_FORMAT, "%s: tensor \"%s\": data_offsets [%llu, %llu] run past the end "
                           "of the %zu-byte data buffer", path, name, (unsigned long long)begin,
                           (unsigned long long)end, buflen);
    t->data = buf + begin;
    return ST_OK;
}

int safetensors_parse(const char *path, const uint8_t *data, size_t size, safetensors **out) {
    *out = NULL;
    if (size == 0) return status_fail(ST_FORMAT, "%s: empty file, not a safetensors file", path);
    if (size < 8)
        return status_fail(ST_FORMAT, "%s: %zu bytes, too short for the 8-byte header length", path, size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | data[i];
    if (hlen > SAFETENSORS_MAX_HEADER)
        return status_fail(ST_FORMAT, "%s: header length %llu is over the 100 MB limit (not a "
                           "safetensors file?)", path, (unsigned long long)hlen);
    if (hlen > size - 8)
        return status_fail(ST_FORMAT, "%s: header length %llu runs past the end of the %zu-byte file "
                           "(truncated?)", path, (unsigned long long)hlen, size);
    if (hlen < 2 || data[8] != '{')
        return status_fail(ST_FORMAT, "%s: header does not start with '{'", path);

    safetensors *st = calloc(1, sizeof *st);
    if (!st) return status_fail(ST_NOMEM, "%s: out of memory", path);
    int rc = ST_OK;
    st->path = strdup(path);
    if (!st->path) { rc = status_fail(ST_NOMEM, "%s: out of memory", path); goto fail; }

    const char *hb = (const char *)data + 8, *he = hb + hlen, *p = hb;
    header_ctx c = {.base = hb, .buf = data + 8 + hlen, .buflen = size - 8 - (size_t)hlen};
    size_t members;
    if ((rc = walk_object(st, hb, &p, he, NULL, NULL, &members))) goto fail;
    if (skip_ws(p, he) != he) {
        rc = status_fail(ST_FORMAT, "%s: header is not valid JSON (byte %zu): text after the object", path,
                         (size_t)(p - hb));
        goto fail;
    }
    st->tensors = calloc(members ? members : 1, sizeof *st->tensors);
    st->strings = malloc((size_t)hlen);
    if (!st->tensors || !st->strings) { rc = status_fail(ST_NOMEM, "%s: out of memory", path); goto fail; }
    p = hb;
    if ((rc = walk_object(st, hb, &p, he, top_member, &c, &members))) goto fail;
    /* duplicate names (jansson's JSON_REJECT_DUPLICATES did this on the whole header) */
    qsort(st->tensors, st->n, sizeof *st->tensors, by_name);
    for (size_t i = 1; i < st->n; i++)
        if (strcmp(st->tensors[i - 1].name, st->tensors[i].name) == 0) {
            rc = status_fail(ST_FORMAT, "%s: header is not valid JSON: duplicate key \"%s\"", path,
                             st->tensors[i].name);
            goto fail;
        }
    if (st->nmeta) qsort(st->meta, st->nmeta, 2 * sizeof *st->meta, by_key);
    for (size_t i = 1; i < st->nmeta; i++)
        if (strcmp(st->meta[2 * i - 2], st->meta[2 * i]) == 0) {
            rc = status_fail(ST_FORMAT, "%s: header is not valid JSON: duplicate key \"%s\" in "
                             "\"__metadata__\"", path, st->meta[2 * i]);
            goto fail;
        }
    const uint8_t *buf = c.buf;
    size_t buflen = c.buflen;

    /* Tensors must tile the buffer: sorted by begin, each starts where the last ended. */
    qsort(st->tensors, st->n, sizeof *st->tensors, by_offset);
    size_t at = 0;
    for (size_t i = 0; i < st->n; i++) {
        const tensor *t = &st->tensors[i];
        size_t begin = (size_t)((const uint8_t *)t->data - buf);
        if (begin < at) {
            const tensor *p = &st->tensors[i - 1];
            size_t pb = (size_t)((const uint8_t *)p->data - buf);
            rc = status_fail(ST_FORMAT, "%s: tensor \"%s\": data_offsets [%zu, %zu] overlap tensor "
                             "\"%s\" [%zu, %zu]", path, t->name, begin, begin + t->nbytes, p->name,
                             pb, pb + p->nbytes);
            goto fail;
        }
        if (begin > at) {
            rc = status_fail(ST_FORMAT, "%s: tensor \"%s\": data_offsets [%zu, %zu] leave a hole of "
                             "%zu bytes after offset %zu (safetensors requires contiguous tensors)",
                             path, t->name, begin, begin + t->nbytes, begin - at, at);
            goto fail;
        }
        at = begin + t->nbytes;
    }
    if (at != buflen) {
        rc = status_fail(ST_FORMAT, "%s: tensors cover %zu bytes of a %zu-byte data buffer (%zu "
                         "trailing bytes; %s)", path, at, buflen, buflen - at,
                         st->n ? st->tensors[st->n - 1].name : "no tensors");
        goto fail;
    }
    *out = st;
    return ST_OK;
fail:
    safetensors_close(st);
    return rc;
}

int safetensors_open(const char *path, safetensors **out) {
    *out = NULL;
    file_map m;
    int rc = file_map_open(path, &m);
    if (rc) return rc;
    rc = safetensors_parse(path, m.data, m.size, out);
    if (rc) {
        file_map_close(&m);
        return rc;
    }
    (*out)->map = m;
    return ST_OK;
}

void safetensors_close(safetensors *st) {
    if (!st) return;
    file_map_close(&st->map);
    free(st->strings);
    free(st->meta);
    free(st->tensors);
    free(st->path);
    free(st);
}

size_t safetensors_count(const safetensors *st) { return st->n; }

const tensor *safetensors_at(const safetensors *st, size_t i) {
    return i < st->n ? &st->tensors[i] : NULL;
}

const char *safetensors_meta(const safetensors *st, const char *key) {
    for (size_t i = 0; i < st->nmeta; i++)
        if (strcmp(st->meta[2 * i], key) == 0) return st->meta[2 * i + 1];
    return NULL;
}
