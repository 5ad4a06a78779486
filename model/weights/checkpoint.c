/* model/checkpoint.c — see checkpoint.h.
 *
 * A checkpoint is a list of parts (one per weight file, each a safetensors or
 * ptzip), the concatenation of their tensor views (copied tensor structs;
 * names and data still point into the parts), and an open-addressing hash
 * table from name to index for O(1) lookups.
 */
#include "checkpoint.h"
#include "file.h"
#include "jsonx.h"
#include "ptzip.h"
#include "safetensors.h"
#include "status.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    safetensors *st;   /* exactly one of st / pz is set */
    ptzip       *pz;
    char        *file; /* owned: the shard's file name, for index checks */
} part;

struct checkpoint {
    char     *path;    /* owned: what checkpoint_open{,_file} was given */
    part     *parts;   /* (nparts) */
    size_t    nparts;
    tensor *tensors; /* (n) copies of the parts' views, file order */
    size_t    n;
    uint32_t *slots;   /* (cap) index+1 into tensors, 0 = empty; cap a power of 2 */
    size_t    cap;
};

/* ------------------------------------------------------------ name table */

static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static int build_table(checkpoint *ck) {
    size_t cap = 16;
    while (cap < ck->n * 2) cap *= 2;
    ck->slots = calloc(cap, sizeof *ck->slots);
    if (!ck->slots) return status_fail(ST_NOMEM, "%s: out of memory", ck->path);
    ck->cap = cap;
    for (size_t i = 0; i < ck->n; i++) {
        const char *name = ck->tensors[i].name;
        size_t h = (size_t)name_hash(name) & (cap - 1);
        while (ck->slots[h]) {
            const tensor *o = &ck->tensors[ck->slots[h] - 1];
            if (strcmp(o->name, name) == 0)
                return status_fail(ST_FORMAT, "%s: tensor \"%s\" appears twice (in %s and %s)", ck->path,
                                   name, o->file, ck->tensors[i].file);
            h = (h + 1) & (cap - 1);
        }
        ck->slots[h] = (uint32_t)(i + 1);
    }
    return ST_OK;
}

const tensor *checkpoint_find(const checkpoint *ck, const char *name) {
    if (!ck || !name || !ck->cap) return NULL;
    size_t h = (size_t)name_hash(name) & (ck->cap - 1);
    while (ck->slots[h]) {
        const tensor *t = &ck->tensors[ck->slots[h] - 1];
        if (strcmp(t->name, name) == 0) return t;
        h = (h + 1) & (ck->cap - 1);
    }
    return NULL;
}

/* ------------------------------------------------------------ parts */

/* *zip = 1 for a zip archive (torch.save); legacy pre-1.6 torch pickles
 * (they start with a pickle PROTO opcode) are refused by name. */
static int is_zip(const char *path, int *zip) {
    FILE *f = fopen(path, "rb");
    if (!f) return status_fail(errno == ENOENT ? ST_NOT_FOUND : ST_IO, "%s: %s", path, strerror(errno));
    uint8_t m[4] = {0};
    size_t got = fread(m, 1, 4, f);
    fclose(f);
    *zip = got == 4 && memcmp(m, "PK\x03\x04", 4) == 0;
    if (got >= 2 && m[0] == 0x80 && m[1] >= 2 && m[1] <= 5)
        return status_fail(ST_UNSUPPORTED, "%s: a legacy (pre-1.6, not zip) torch.save file; re-save "
                           "it with a current torch or convert it to safetensors", path);
    return ST_OK;
}

/* Open one weight file and append it as a part. */
static int add_part(checkpoint *ck, const char *path, const char *file) {
    part *np = realloc(ck->parts, (ck->nparts + 1) * sizeof *np);
    if (!np) return status_fail(ST_NOMEM, "%s: out of memory", path);
    ck->parts = np;
    part *p = &ck->parts[ck->nparts];
    memset(p, 0, sizeof *p);
    int zip = 0, rc = is_zip(path, &zip);
    if (rc) return rc;
    rc = zip ? ptzip_open(path, &p->pz) : safetensors_open(path, &p->st);
    if (rc) return rc;
    ck->nparts++;
    if (!(p->file = strdup(file))) return status_fail(ST_NOMEM, "%s: out of memory", path);
    size_t cnt = p->st ? safetensors_count(p->st) : ptzip_count(p->pz);
    tensor *nt = realloc(ck->tensors, (ck->n + cnt + 1) * sizeof *nt);
    if (!nt) return status_fail(ST_NOMEM, "%s: out of memory", path);
    ck->tensors = nt;
    for (size_t i = 0; i < cnt; i++)
        ck->tensors[ck->n++] = *(p->st ? safetensors_at(p->st, i) : ptzip_at(p->pz, i));
    if (ck->n > UINT32_MAX - 1) return status_fail(ST_TOO_LARGE, "%s: too many tensors", path);
    return ST_OK;
}

static int ck_new(const char *path, checkpoint **out) {
    *out = calloc(1, sizeof **out);
    if (!*out || !((*out)->path = strdup(path))) {
        free(*out);
        *out = NULL;
        return status_fail(ST_NOMEM, "%s: out of memory", path);
    }
    return ST_OK;
}

/* ------------------------------------------------------------ sharded index */

typedef struct { const char *file, *tensor; } mapping;

static int by_file(const void *a, const void *b) {
    return strcmp(((const mapping *)a)->file, ((const mapping *)b)->file);
}

static int open_index(checkpoint *ck, const char *dir, const char *index_path) {
    json_t *root = NULL;
    mapping *files = NULL;
    int rc = jsonx_load(index_path, &root);
    if (rc) return rc;
    json_t *wm = json_object_get(root, "weight_map");
    if (!json_is_object(root) || !json_is_object(wm)) {
        rc = status_fail(ST_FORMAT, "%s: no \"weight_map\" object", index_path);
        goto done;
    }
    json_t *meta = json_object_get(root, "metadata");
    if (meta && !json_is_object(meta) && !json_is_null(meta)) {
        rc = status_fail(ST_FORMAT, "%s: \"metadata\" is not an object", index_path);
        goto done;
    }
    /* the distinct shard files, sorted (model-00001-of-00003 ... order) */
    size_t nw = json_object_size(wm), nf = 0;
    files = calloc(nw ? nw : 1, sizeof *files);
    if (!files) { rc = status_fail(ST_NOMEM, "%s: out of memory", index_path); goto done; }
    const char *name;
    json_t *v;
    json_object_foreach(wm, name, v) {
        const char *f = json_string_value(v);
        if (!f || !*f) {
            rc = status_fail(ST_FORMAT, "%s: tensor \"%s\": shard is not a file name", index_path, name);
            goto done;
        }
        if (strchr(f, '/') || strchr(f, '\\') || strstr(f, "..")) {
            rc = status_fail(ST_FORMAT, "%s: tensor \"%s\": shard \"%s\" is not a plain file name in "
                             "the directory", index_path, name, f);
            goto done;
        }
        files[nf].file = f;
        files[nf++].tensor = name;
    }
    if (nf == 0) {
        rc = status_fail(ST_FORMAT, "%s: \"weight_map\" is empty", index_path);
        goto done;
    }
    qsort(files, nf, sizeof *files, by_file);
    for (size_t i = 0; i < nf; i++) {
        if (i && strcmp(files[i].file, files[i - 1].file) == 0) continue;
        char path[4096];
        if ((rc = file_join(path, sizeof path, dir, files[i].file))) goto done;
        if (!file_is_regular(path)) {
            rc = status_fail(ST_NOT_FOUND, "%s: tensor \"%s\": shard %s named in the weight_map "
                             "does not exist", index_path, files[i].tensor, path);
            goto done;
        }
        if ((rc = add_part(ck, path, files[i].file))) goto done;
    }
    if ((rc = build_table(ck))) goto done;
    /* every mapped tensor is in the shard the map names */
    json_object_foreach(wm, name, v) {
        const tensor *t = checkpoint_find(ck, name);
        const char *f = json_string_value(v);
        char want[4096];
        file_join(want, sizeof want, dir, f);
        if (!t) {
            rc = status_fail(ST_NOT_FOUND, "%s: tensor \"%s\" is mapped to shard %s but not found in it",
                             index_path, name, want);
            goto done;
        }
        if (strcmp(t->file, want) != 0) {
            rc = status_fail(ST_MISMATCH, "%s: tensor \"%s\" is mapped to shard %s but found in %s",
                             index_path, name, want, t->file);
            goto done;
        }
    }
done:
    free(files);
    json_decref(root);
    return rc;
}

/* ------------------------------------------------------------ public */

int checkpoint_open_file(const char *path, checkpoint **out) {
    *out = NULL;
    checkpoint *ck;
    int rc = ck_new(path, &ck);
    if (rc) return rc;
    const char *base = strrchr(path, '/');
    if ((rc = add_part(ck, path, base ? base + 1 : path)) || (rc = build_table(ck))) {
        checkpoint_close(ck);
        return rc;
    }
    *out = ck;
    return ST_OK;
}

int checkpoint_open(const char *dir, checkpoint **out) {
    *out = NULL;
    if (file_is_regular(dir)) return checkpoint_open_file(dir, out);
    static const struct { const char *name; int index; } layouts[] = {
        {"model.safetensors", 0},
        {"model.safetensors.index.json", 1},
        {"pytorch_model.bin", 0},
        {"pytorch_model.bin.index.json", 1},
    };
    for (size_t i = 0; i < sizeof layouts / sizeof *layouts; i++) {
        char path[4096];
        int rc = file_join(path, sizeof path, dir, layouts[i].name);
        if (rc) return rc;
        if (!file_is_regular(path)) continue;
        if (!layouts[i].index) {
            if ((rc = checkpoint_open_file(path, out))) return rc;
            free((*out)->path);
            if (!((*out)->path = strdup(dir))) {
                checkpoint_close(*out);
                *out = NULL;
                return status_fail(ST_NOMEM, "%s: out of memory", dir);
            }
            return ST_OK;
        }
        checkpoint *ck;
        if ((rc = ck_new(dir, &ck))) return rc;
        if ((rc = open_index(ck, dir, path))) {
            checkpoint_close(ck);
            return rc;
        }
        *out = ck;
        return ST_OK;
    }
    return status_fail(ST_NOT_FOUND, "%s: no model.safetensors, model.safetensors.index.json, "
                       "pytorch_model.bin or pytorch_model.bin.index.json", dir);
}

void checkpoint_close(checkpoint *ck) {
    if (!ck) return;
    for (size_t i = 0; i < ck->nparts; i++) {
        safetensors_close(ck->parts[i].st);
        ptzip_close(ck->parts[i].pz);
        free(ck->parts[i].file);
    }
    free(ck->parts);
    free(ck->tensors);
    free(ck->slots);
    free(ck->path);
    free(ck);
}

size_t checkpoint_count(const checkpoint *ck) { return ck->n; }

const tensor *checkpoint_at(const checkpoint *ck, size_t i) {
    return i < ck->n ? &ck->tensors[i] : NULL;
}

const char *checkpoint_path(const checkpoint *ck) { return ck->path; }

int checkpoint_get(const checkpoint *ck, const char *name, int ndim, const int64_t *shape,
                   const tensor **out) {
    *out = NULL;
    const tensor *t = checkpoint_find(ck, name);
    if (!t) return status_fail(ST_NOT_FOUND, "%s: tensor \"%s\" not found (%zu tensors)", ck->path, name,
                               ck->n);
    if (shape) {
        int ok = t->ndim == ndim;
        for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == shape[i];
        if (!ok) {
            char have[256], want[256];
            tensor w = {.ndim = ndim < 0 ? 0 : ndim > TENSOR_MAX_DIMS ? TENSOR_MAX_DIMS : ndim};
            memcpy(w.shape, shape, (size_t)w.ndim * sizeof *shape);
            return status_fail(ST_MISMATCH, "%s: tensor \"%s\": shape %s in file %s, expected %s",
                               ck->path, name, tensor_shape_str(t, have, sizeof have), t->file,
                               tensor_shape_str(&w, want, sizeof want));
        }
    }
    *out = t;
    return ST_OK;
}

int checkpoint_read_f32(const checkpoint *ck, const char *name, int ndim, const int64_t *shape,
                        float *dst) {
    const tensor *t;
    int rc = checkpoint_get(ck, name, ndim, shape, &t);
    if (rc) return rc;
    if ((rc = tensor_to_f32(dst, t->data, t->dtype, t->numel)))
        return status_fail(rc, "%s: tensor \"%s\" in file %s is %s, not a float tensor", ck->path, name,
                           t->file, dtype_name(t->dtype));
    return ST_OK;
}
