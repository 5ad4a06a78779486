/* model/safetensors.c — see safetensors.h for the layout and the checks. */
#include "safetensors.h"
#include "file.h"
#include "status.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

struct safetensors {
    char     *path;      /* owned copy */
    file_map  map;       /* owned when opened by safetensors_open */
    json_t   *header;    /* parsed header; tensor names point at its keys */
    json_t   *meta;      /* borrowed from header, or NULL */
    tensor_t *tensors;   /* (n) in buffer order */
    size_t    n;
};

static int by_offset(const void *a, const void *b) {
    const tensor_t *x = a, *y = b;
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
                       size_t buflen, tensor_t *t) {
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

    json_error_t err;
    st->header = json_loadb((const char *)data + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &err);
    if (!st->header) {
        rc = status_fail(ST_FORMAT, "%s: header is not valid JSON (byte %d): %s", path, err.position,
                         err.text);
        goto fail;
    }
    if (!json_is_object(st->header)) {
        rc = status_fail(ST_FORMAT, "%s: header JSON is not an object", path);
        goto fail;
    }
    const uint8_t *buf = data + 8 + hlen;
    size_t buflen = size - 8 - (size_t)hlen;
    size_t cap = json_object_size(st->header);
    st->tensors = calloc(cap ? cap : 1, sizeof *st->tensors);
    if (!st->tensors) { rc = status_fail(ST_NOMEM, "%s: out of memory", path); goto fail; }

    const char *key;
    json_t *val;
    json_object_foreach(st->header, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            if (!json_is_object(val)) {
                rc = status_fail(ST_FORMAT, "%s: \"__metadata__\" is not an object", path);
                goto fail;
            }
            const char *mk;
            json_t *mv;
            json_object_foreach(val, mk, mv) {
                if (!json_is_string(mv)) {
                    rc = status_fail(ST_FORMAT, "%s: \"__metadata__\" value \"%s\" is not a string",
                                     path, mk);
                    goto fail;
                }
            }
            st->meta = val;
            continue;
        }
        if ((rc = parse_entry(st->path, key, val, buf, buflen, &st->tensors[st->n]))) goto fail;
        st->n++;
    }

    /* Tensors must tile the buffer: sorted by begin, each starts where the last ended. */
    qsort(st->tensors, st->n, sizeof *st->tensors, by_offset);
    size_t at = 0;
    for (size_t i = 0; i < st->n; i++) {
        const tensor_t *t = &st->tensors[i];
        size_t begin = (size_t)((const uint8_t *)t->data - buf);
        if (begin < at) {
            const tensor_t *p = &st->tensors[i - 1];
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
    if (st->header) json_decref(st->header);
    free(st->tensors);
    free(st->path);
    free(st);
}

size_t safetensors_count(const safetensors *st) { return st->n; }

const tensor_t *safetensors_at(const safetensors *st, size_t i) {
    return i < st->n ? &st->tensors[i] : NULL;
}

const char *safetensors_meta(const safetensors *st, const char *key) {
    return st->meta ? json_string_value(json_object_get(st->meta, key)) : NULL;
}
