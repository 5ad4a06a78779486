/* model/ptzip.c — see ptzip.h. ZIP record layouts (APPNOTE.TXT 4.3):
 *
 *   EOCD           sig 0x06054b50 | disk u16 | cd disk u16 | n here u16 | n total u16
 *                  | cd size u32 | cd offset u32 | comment len u16 | comment
 *   ZIP64 locator  sig 0x07064b50 | disk u32 | zip64 EOCD offset u64 | disks u32
 *                  (the 20 bytes just before the EOCD)
 *   ZIP64 EOCD     sig 0x06064b50 | size u64 | made u16 | need u16 | disk u32 | cd disk u32
 *                  | n here u64 | n total u64 | cd size u64 | cd offset u64
 *   central entry  sig 0x02014b50 | made u16 | need u16 | flags u16 | method u16 | time u16
 *                  | date u16 | crc u32 | csize u32 | usize u32 | name len u16 | extra len u16
 *                  | comment len u16 | disk u16 | int attr u16 | ext attr u32 | local offset u32
 *                  | name | extra | comment                                  (46 + ...)
 *   ZIP64 extra    id 0x0001 | len u16 | [usize u64] [csize u64] [local offset u64] [disk u32]
 *                  (only the fields whose 32-bit value above is 0xFFFFFFFF / 0xFFFF)
 *   local header   sig 0x04034b50 | ... | name len u16 @26 | extra len u16 @28 | name | extra | data
 */
#include "ptzip.h"
#include "file.h"
#include "pickle.h"
#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;   /* (nlen) into the archive, not NUL-terminated */
    size_t      nlen;
    uint16_t    flags, method;
    uint64_t    csize, usize, local;
} zentry;

struct ptzip {
    char          *path;      /* owned copy */
    file_map       map;       /* owned when opened by ptzip_open */
    const uint8_t *data;      /* (size) the archive */
    size_t         size;
    zentry        *entries;   /* (nentries) sorted by name */
    size_t         nentries;
    char           prefix[256];
    pickle_tensor *recs;      /* (n) names are owned here */
    tensor      *tensors;   /* (n) in pickle order */
    size_t         n;
};

static uint64_t rd(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static int entry_cmp(const void *a, const void *b) {
    const zentry *x = a, *y = b;
    size_t n = x->nlen < y->nlen ? x->nlen : y->nlen;
    int c = memcmp(x->name, y->name, n);
    if (c) return c;
    return x->nlen < y->nlen ? -1 : x->nlen > y->nlen;
}

static const zentry *find_entry(const ptzip *z, const char *name) {
    zentry key = {.name = name, .nlen = strlen(name)};
    return bsearch(&key, z->entries, z->nentries, sizeof key, entry_cmp);
}

/* ------------------------------------------------------------ directory */

static int read_central(ptzip *z) {
    const uint8_t *d = z->data;
    size_t size = z->size;
    const char *path = z->path;
    if (size < 22) return status_fail(ST_FORMAT, "%s: %zu bytes, too short for a zip archive", path, size);
    size_t eocd = SIZE_MAX;
    size_t lo = size > 22 + 65535 ? size - 22 - 65535 : 0;
    for (size_t p = size - 22 + 1; p-- > lo;) {
        if (rd(d + p, 4) == 0x06054b50 && p + 22 + rd(d + p + 20, 2) <= size) {
            eocd = p;
            break;
        }
    }
    if (eocd == SIZE_MAX)
        return status_fail(ST_FORMAT, "%s: no zip end-of-central-directory record (truncated?)", path);
    uint64_t total = rd(d + eocd + 10, 2), cdsize = rd(d + eocd + 12, 4), cdoff = rd(d + eocd + 16, 4);
    if (rd(d + eocd + 4, 2) != 0 || rd(d + eocd + 6, 2) != 0)
        return status_fail(ST_UNSUPPORTED, "%s: multi-disk zip archives are not supported", path);
    if (eocd >= 20 && rd(d + eocd - 20, 4) == 0x07064b50) {
        uint64_t z64 = rd(d + eocd - 20 + 8, 8);
        if (z64 > size || size - z64 < 56 || rd(d + z64, 4) != 0x06064b50)
            return status_fail(ST_FORMAT, "%s: ZIP64 end-of-central-directory record at %llu is "
                               "missing or truncated", path, (unsigned long long)z64);
        total = rd(d + z64 + 32, 8);
        cdsize = rd(d + z64 + 40, 8);
        cdoff = rd(d + z64 + 48, 8);
    } else if (total == 0xffff || cdsize == 0xffffffffu || cdoff == 0xffffffffu) {
        return status_fail(ST_FORMAT, "%s: zip needs ZIP64 but has no ZIP64 locator", path);
    }
    if (cdoff > size || cdsize > size - cdoff)
        return status_fail(ST_FORMAT, "%s: central directory [%llu, +%llu) lies outside the %zu-byte "
                           "file (truncated?)", path, (unsigned long long)cdoff,
                           (unsigned long long)cdsize, size);
    if (total > cdsize / 46)
        return status_fail(ST_FORMAT, "%s: %llu entries cannot fit a %llu-byte central directory",
                           path, (unsigned long long)total, (unsigned long long)cdsize);
    z->entries = calloc(total ? total : 1, sizeof *z->entries);
    if (!z->entries) return status_fail(ST_NOMEM, "%s: out of memory", path);

    const uint8_t *p = d + cdoff, *end = d + cdoff + cdsize;
    for (uint64_t i = 0; i < total; i++) {
        if (end - p < 46 || rd(p, 4) != 0x02014b50)
            return status_fail(ST_FORMAT, "%s: central directory entry %llu is malformed", path,
                               (unsigned long long)i);
        zentry *e = &z->entries[z->nentries];
        size_t nlen = rd(p + 28, 2), elen = rd(p + 30, 2), clen = rd(p + 32, 2);
        if ((size_t)(end - p) < 46 + nlen + elen + clen)
            return status_fail(ST_FORMAT, "%s: central directory entry %llu runs past the directory",
                               path, (unsigned long long)i);
        if (memchr(p + 46, 0, nlen))
            return status_fail(ST_FORMAT, "%s: central directory entry %llu: the name contains a NUL byte",
                               path, (unsigned long long)i);
        e->flags = (uint16_t)rd(p + 8, 2);
        e->method = (uint16_t)rd(p + 10, 2);
        e->csize = rd(p + 20, 4);
        e->usize = rd(p + 24, 4);
        e->local = rd(p + 42, 4);
        e->name = (const char *)p + 46;
        e->nlen = nlen;
        uint64_t disk = rd(p + 34, 2);
        /* ZIP64 extended information */
        const uint8_t *x = p + 46 + nlen, *xend = x + elen;
        while (xend - x >= 4) {
            uint16_t id = (uint16_t)rd(x, 2), len = (uint16_t)rd(x + 2, 2);
            if ((size_t)(xend - x - 4) < len) break;
            if (id == 0x0001) {
                const uint8_t *f = x + 4, *fend = f + len;
                uint64_t *fields[] = {&e->usize, &e->csize, &e->local};
                for (int k = 0; k < 3; k++) {
                    if (*fields[k] != 0xffffffffu) continue;
                    if (fend - f < 8)
                        return status_fail(ST_FORMAT, "%s: entry \"%.*s\": ZIP64 extra field too short",
                                           path, (int)nlen, e->name);
                    *fields[k] = rd(f, 8);
                    f += 8;
                }
                if (disk == 0xffff && fend - f >= 4) disk = rd(f, 4);
            }
            x += 4 + len;
        }
        if (disk != 0)
            return status_fail(ST_UNSUPPORTED, "%s: entry \"%.*s\" is on another disk", path, (int)nlen,
                               e->name);
        z->nentries++;
        p += 46 + nlen + elen + clen;
    }
    qsort(z->entries, z->nentries, sizeof *z->entries, entry_cmp);
    for (size_t i = 1; i < z->nentries; i++)
        if (!entry_cmp(&z->entries[i - 1], &z->entries[i]))
            return status_fail(ST_FORMAT, "%s: entry \"%.*s\" appears twice", path,
                               (int)z->entries[i].nlen, z->entries[i].name);
    return ST_OK;
}

/* The bytes of a stored entry, via its local header. */
static int entry_data(const ptzip *z, const zentry *e, const uint8_t **out) {
    const char *path = z->path;
    if (e->flags & 1)
        return status_fail(ST_UNSUPPORTED, "%s: entry \"%.*s\" is encrypted", path, (int)e->nlen, e->name);
    if (e->method != 0 || e->csize != e->usize)
        return status_fail(ST_UNSUPPORTED, "%s: entry \"%.*s\" is compressed (method %u); only stored "
                           "entries can be mapped (re-save with torch.save)", path, (int)e->nlen,
                           e->name, e->method);
    if (e->local > z->size || z->size - e->local < 30 || rd(z->data + e->local, 4) != 0x04034b50)
        return status_fail(ST_FORMAT, "%s: entry \"%.*s\": local header at %llu is missing", path,
                           (int)e->nlen, e->name, (unsigned long long)e->local);
    uint64_t start = e->local + 30 + rd(z->data + e->local + 26, 2) + rd(z->data + e->local + 28, 2);
    if (start > z->size || e->csize > z->size - start)
        return status_fail(ST_FORMAT, "%s: entry \"%.*s\": data [%llu, +%llu) runs past the end of the "
                           "%zu-byte file (truncated?)", path, (int)e->nlen, e->name,
                           (unsigned long long)start, (unsigned long long)e->csize, z->size);
    *out = z->data + start;
    return ST_OK;
}

/* ------------------------------------------------------------ open */

static int find_prefix(ptzip *z) {
    int found = 0;
    for (size_t i = 0; i < z->nentries; i++) {
        const zentry *e = &z->entries[i];
        const char *suffix = "/data.pkl";
        size_t sl = strlen(suffix);
        if (e->nlen <= sl || memcmp(e->name + e->nlen - sl, suffix, sl) != 0) continue;
        size_t plen = e->nlen - sl;
        if (memchr(e->name, '/', plen) || plen >= sizeof z->prefix) continue;
        if (found++)
            return status_fail(ST_FORMAT, "%s: two data.pkl entries (\"%s/data.pkl\" and \"%.*s\")",
                               z->path, z->prefix, (int)e->nlen, e->name);
        memcpy(z->prefix, e->name, plen);
        z->prefix[plen] = 0;
    }
    if (!found)
        return status_fail(ST_FORMAT, "%s: zip archive has no <prefix>/data.pkl: not a torch.save "
                           "checkpoint", z->path);
    return ST_OK;
}

static int build_tensors(ptzip *z) {
    char name[600], label[700];
    snprintf(name, sizeof name, "%s/data.pkl", z->prefix);
    snprintf(label, sizeof label, "%s:%s", z->path, name);
    const zentry *pe = find_entry(z, name);
    if (!pe) /* find_prefix saw it; only a name the prefix cannot spell gets here */
        return status_fail(ST_FORMAT, "%s: entry \"%s\" is missing", z->path, name);
    const uint8_t *pkl;
    int rc = entry_data(z, pe, &pkl);
    if (rc) return rc;
    const zentry *bo;
    snprintf(name, sizeof name, "%s/byteorder", z->prefix);
    if ((bo = find_entry(z, name))) {
        const uint8_t *b;
        if ((rc = entry_data(z, bo, &b))) return rc;
        if (!(bo->usize == 6 && memcmp(b, "little", 6) == 0))
            return status_fail(ST_UNSUPPORTED, "%s: byteorder is not \"little\"", z->path);
    }
    if ((rc = pickle_load_state_dict(label, pkl, pe->usize, &z->recs, &z->n))) return rc;
    z->tensors = calloc(z->n ? z->n : 1, sizeof *z->tensors);
    if (!z->tensors) return status_fail(ST_NOMEM, "%s: out of memory", z->path);
    for (size_t i = 0; i < z->n; i++) {
        const pickle_tensor *r = &z->recs[i];
        tensor *t = &z->tensors[i];
        if ((size_t)snprintf(name, sizeof name, "%s/data/%s", z->prefix, r->storage_key) >= sizeof name)
            return status_fail(ST_FORMAT, "%s: tensor \"%s\": storage key of %zu bytes is too long", z->path,
                               r->name, strlen(r->storage_key));
        const zentry *e = find_entry(z, name);
        if (!e)
            return status_fail(ST_FORMAT, "%s: tensor \"%s\": storage entry \"%s\" is missing", z->path,
                               r->name, name);
        const uint8_t *sd;
        if ((rc = entry_data(z, e, &sd))) return status_wrap(rc, "tensor \"%s\"", r->name);
        size_t es = dtype_size(r->dtype), want;
        if (__builtin_mul_overflow((size_t)r->storage_numel, es, &want) || want != e->usize)
            return status_fail(ST_FORMAT, "%s: tensor \"%s\": storage \"%s\" holds %llu bytes, but %lld "
                               "%s elements need %zu", z->path, r->name, name,
                               (unsigned long long)e->usize, (long long)r->storage_numel,
                               dtype_name(r->dtype), want);
        t->name = r->name;
        t->file = z->path;
        t->dtype = r->dtype;
        t->ndim = r->ndim;
        memcpy(t->shape, r->shape, sizeof t->shape);
        t->numel = r->numel;
        t->nbytes = r->numel * es; /* <= storage bytes, checked by pickle */
        t->data = sd + (size_t)r->offset * es;
    }
    return ST_OK;
}

int ptzip_parse(const char *path, const uint8_t *data, size_t size, ptzip **out) {
    *out = NULL;
    ptzip *z = calloc(1, sizeof *z);
    if (!z) return status_fail(ST_NOMEM, "%s: out of memory", path);
    int rc;
    z->data = data;
    z->size = size;
    if (!(z->path = strdup(path))) { rc = status_fail(ST_NOMEM, "%s: out of memory", path); goto fail; }
    if ((rc = read_central(z)) || (rc = find_prefix(z)) || (rc = build_tensors(z))) goto fail;
    *out = z;
    return ST_OK;
fail:
    ptzip_close(z);
    return rc;
}

int ptzip_open(const char *path, ptzip **out) {
    *out = NULL;
    file_map m;
    int rc = file_map_open(path, &m);
    if (rc) return rc;
    if ((rc = ptzip_parse(path, m.data, m.size, out))) {
        file_map_close(&m);
        return rc;
    }
    (*out)->map = m;
    return ST_OK;
}

void ptzip_close(ptzip *z) {
    if (!z) return;
    file_map_close(&z->map);
    pickle_tensors_free(z->recs, z->n);
    free(z->tensors);
    free(z->entries);
    free(z->path);
    free(z);
}

size_t          ptzip_count(const ptzip *z) { return z->n; }
const tensor *ptzip_at(const ptzip *z, size_t i) { return i < z->n ? &z->tensors[i] : NULL; }
const char     *ptzip_prefix(const ptzip *z) { return z->prefix; }
