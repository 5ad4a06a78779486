/* index/eval/retrieval_run.c — the retrieval evaluation of a store. See
 * retrieval_run.h. */
#include "retrieval_run.h"

#include "captions.h"
#include "embed.h"
#include "file.h"
#include "ingest.h"
#include "status.h"
#include "store.h"
#include "timer.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    json_t *by_name;   /* base name → id */
    size_t  n_dup;     /* base names stored under two paths with other content */
} name_map;

static int map_path(const char *path, uint64_t id, void *ctx) {
    name_map *m = ctx;
    const char *b = file_base_name(path);
    json_t *have = json_object_get(m->by_name, b);
    if (have) {
        if ((uint64_t)json_integer_value(have) != id) m->n_dup++;
        return 0;
    }
    return json_object_set_new(m->by_name, b, json_integer((json_int_t)id)) ? ST_NOMEM : 0;
}

/* Only the images of the first `limit` captions, with all their captions
 * (limit 0: all). */
static int limit_captions(captions *c, size_t limit) {
    if (!limit || limit >= c->n_captions) return ST_OK;
    unsigned char *keep = calloc(c->n_images, 1);
    if (!keep) return status_fail(ST_NOMEM, "out of memory");
    for (size_t i = 0; i < limit; i++) keep[c->image_of[i]] = 1;
    int rc = captions_filter(c, keep);
    free(keep);
    return rc;
}

/* The caption images the store holds, found by base name: *ids gets their
 * store ids (malloc'd, in the order captions_filter leaves the images); the
 * others are dropped with their captions and counted in *n_missing (the
 * first five passed to on_missing). */
static int match_images(const retrieval_run_opts *o, store *st, captions *c, uint64_t **ids_out, size_t *n_missing,
                        size_t *n_dup) {
    name_map nm = {json_object(), 0};
    unsigned char *keep = NULL;
    uint64_t *ids = NULL;
    *n_missing = 0;
    int rc = store_foreach_path(st, map_path, &nm);
    if (rc) goto out;
    *n_dup = nm.n_dup;
    keep = calloc(c->n_images ? c->n_images : 1, 1);
    ids = malloc((c->n_images ? c->n_images : 1) * sizeof *ids);
    if (!keep || !ids) {
        rc = status_fail(ST_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < c->n_images; i++) {
        json_t *id = json_object_get(nm.by_name, file_base_name(c->images[i]));
        if (!id) {
            if ((*n_missing)++ < 5 && o->on_missing) o->on_missing(c->images[i], o->ctx);
            continue;
        }
        keep[i] = 1;
        ids[i] = (uint64_t)json_integer_value(id);
    }
    size_t k = 0; /* compact ids like captions_filter does */
    for (size_t i = 0; i < c->n_images; i++)
        if (keep[i]) ids[k++] = ids[i];
    rc = captions_filter(c, keep);
out:
    free(keep);
    json_decref(nm.by_name);
    if (rc) free(ids), ids = NULL;
    *ids_out = ids;
    return rc;
}

/* Every caption through the text tower → txt (n_captions, dim). */
static int embed_captions(const retrieval_run_opts *o, const embedder *e, const captions *c, float *txt) {
    for (size_t i = 0; i < c->n_captions; i++) {
        if (embedder_text(e, c->texts[i], txt + i * (size_t)e->dim))
            return status_wrap(ST_FORMAT, "caption %zu (%s)", i, c->texts[i]);
        if (o->on_progress) o->on_progress(i + 1, c->n_captions, o->ctx);
    }
    return ST_OK;
}

int retrieval_run(const retrieval_run_opts *o, retrieval_run_result *x) {
    memset(x, 0, sizeof *x);
    store *st;
    int rc = store_open(o->db, STORE_RDONLY, &st);
    if (rc) return rc;
    captions c = {0};
    embedder *e = NULL;
    float *img = NULL, *txt = NULL;
    uint64_t *ids = NULL;
    char mpath[4096];
    const char *model = o->model;
    if (!model) {
        if ((rc = store_get_model_path(st, mpath, sizeof mpath))) goto out;
        model = mpath;
    }
    if ((rc = captions_load(o->captions, &c)) || (rc = limit_captions(&c, o->limit))) goto out;
    if ((rc = embedder_load(model, EMBED_TEXT, &e)) || (rc = ingest_check_model(st, e))) goto out;
    snprintf(x->identity, sizeof x->identity, "%s", e->identity);
    x->n_images_file = c.n_images, x->n_captions_file = c.n_captions;
    if ((rc = match_images(o, st, &c, &ids, &x->n_missing, &x->n_dup_names))) goto out;
    if (!c.n_images) {
        rc = status_fail(ST_NOT_FOUND, "none of the %zu images of %s is in the store %s", x->n_images_file, o->captions,
                         o->db);
        goto out;
    }
    const int dim = e->dim, nv = e->n_vec;   /* the store's, checked above */
    img = malloc(c.n_images * (size_t)nv * (size_t)dim * sizeof *img);
    txt = malloc(c.n_captions * (size_t)dim * sizeof *txt);
    if (!img || !txt) {
        rc = status_fail(ST_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < c.n_images; i++)
        if ((rc = store_get_vector(st, ids[i], img + i * (size_t)nv * dim))) goto out;
    double t0 = timer_now();
    if ((rc = embed_captions(o, e, &c, txt))) goto out;
    x->t_embed = timer_now() - t0;
    t0 = timer_now();
    if ((rc = eval_retrieval_score_multi(txt, c.n_captions, img, c.n_images, nv, dim, c.image_of, &x->r))) goto out;
    x->t_score = timer_now() - t0;
    x->n_images = c.n_images, x->n_captions = c.n_captions, x->n_dropped = x->n_captions_file - c.n_captions;
out:
    free(img), free(txt), free(ids);
    captions_release(&c);
    embedder_free(e);
    store_close(st);
    return rc;
}
