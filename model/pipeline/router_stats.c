/* model/pipeline/router_stats.c — router statistics: accumulation, derived
 * values and the JSON writers (definitions in router_stats.h). */
#include "router_stats.h"
#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { K_TEXT = 0, K_IMAGE = 1, K_GEN = 2, N_KINDS = 3 }; /* = lm_tok_kind */

/* ---------------------------------------------------------------- accumulation */

int router_stats_init(router_stats *rs, int n_layers, int n_experts, const int *layer_ids) {
    memset(rs, 0, sizeof *rs);
    if (n_layers < 0 || n_experts < 0 || (n_layers > 0) != (n_experts > 0))
        return status_fail(ST_ARG, "router_stats: bad shape %d layers x %d experts", n_layers, n_experts);
    if (!n_layers) return ST_OK; /* shape taken from the first JSON added */
    rs->layer_ids = malloc((size_t)n_layers * sizeof *rs->layer_ids);
    rs->counts = calloc((size_t)n_layers * n_experts * N_KINDS, sizeof *rs->counts);
    if (!rs->layer_ids || !rs->counts) {
        router_stats_release(rs);
        return status_fail(ST_NOMEM, "router_stats: out of memory");
    }
    for (int l = 0; l < n_layers; l++) rs->layer_ids[l] = layer_ids ? layer_ids[l] : l;
    rs->n_layers = n_layers;
    rs->n_experts = n_experts;
    return ST_OK;
}

void router_stats_release(router_stats *rs) {
    if (!rs) return;
    free(rs->layer_ids);
    free(rs->counts);
    memset(rs, 0, sizeof *rs);
}

int router_stats_add(router_stats *rs, const uint32_t *counts, size_t len) {
    size_t n = (size_t)rs->n_layers * rs->n_experts * N_KINDS;
    if (len != n || !n)
        return status_fail(ST_MISMATCH, "router counts: %zu values for %d layers x %d experts x 3", len, rs->n_layers,
                           rs->n_experts);
    for (size_t i = 0; i < n; i++) rs->counts[i] += counts[i];
    rs->n_answers++;
    return ST_OK;
}

int router_stats_add_json(router_stats *rs, const json_t *router) {
    static const char *kinds[N_KINDS] = {"text", "image", "generated"};
    const json_t *layers = json_object_get(router, "layers");
    const json_t *experts = json_object_get(router, "experts");
    if (!json_is_array(layers) || !json_is_integer(experts) || json_integer_value(experts) < 1 ||
        json_integer_value(experts) > 1024 || json_array_size(layers) < 1 || json_array_size(layers) > 4096)
        return status_fail(ST_FORMAT, "router: expected {\"layers\": [...], \"experts\": N, ...}");
    int nl = (int)json_array_size(layers), ne = (int)json_integer_value(experts);
    if (!rs->n_layers) {
        int *ids = malloc((size_t)nl * sizeof *ids);
        if (!ids) return status_fail(ST_NOMEM, "router_stats: out of memory");
        for (int l = 0; l < nl; l++) ids[l] = (int)json_integer_value(json_array_get(layers, (size_t)l));
        int rc = router_stats_init(rs, nl, ne, ids);
        free(ids);
        if (rc) return rc;
    } else if (nl != rs->n_layers || ne != rs->n_experts) {
        return status_fail(ST_MISMATCH, "router: %d layers x %d experts, the run so far has %d x %d", nl, ne,
                           rs->n_layers, rs->n_experts);
    }
    size_t n = (size_t)nl * ne * N_KINDS;
    uint32_t *c = calloc(n, sizeof *c);
    if (!c) return status_fail(ST_NOMEM, "router_stats: out of memory");
    for (int k = 0; k < N_KINDS; k++) {
        const json_t *per = json_object_get(router, kinds[k]);
        if (!per) continue; /* a kind may be absent */
        if (!json_is_array(per) || json_array_size(per) != (size_t)nl) {
            free(c);
            return status_fail(ST_FORMAT, "router: \"%s\" is not a [%d][%d] array", kinds[k], nl, ne);
        }
        for (int l = 0; l < nl; l++) {
            const json_t *row = json_array_get(per, (size_t)l);
            if (!json_is_array(row) || json_array_size(row) != (size_t)ne) {
                free(c);
                return status_fail(ST_FORMAT, "router: \"%s\" is not a [%d][%d] array", kinds[k], nl, ne);
            }
            for (int e = 0; e < ne; e++) {
                json_int_t v = json_integer_value(json_array_get(row, (size_t)e));
                c[((size_t)l * ne + e) * N_KINDS + k] = v > 0 && v <= UINT32_MAX ? (uint32_t)v : 0;
            }
        }
    }
    int rc = router_stats_add(rs, c, n);
    free(c);
    return rc;
}

/* ---------------------------------------------------------------- derived values */

uint64_t router_stats_count(const router_stats *rs, int l, int e, int k) {
    return rs->counts[((size_t)l * rs->n_experts + e) * N_KINDS + k];
}

/* Count of a figure kind: 0 text (+generated), 1 image, 2 all. */
uint64_t router_stats_count_fig(const router_stats *rs, int l, int e, int fk) {
    uint64_t t = router_stats_count(rs, l, e, K_TEXT) + router_stats_count(rs, l, e, K_GEN), im = router_stats_count(rs, l, e, K_IMAGE);
    return fk == 0 ? t : fk == 1 ? im : t + im;
}

/* load(kind, l, e); -1 when the layer saw no token of that kind. */
double router_stats_load(const router_stats *rs, int l, int e, int fk) {
    uint64_t tot = 0;
    for (int x = 0; x < rs->n_experts; x++) tot += router_stats_count_fig(rs, l, x, fk);
    return tot ? (double)router_stats_count_fig(rs, l, e, fk) / (double)tot : -1.0;
}

/* image share of expert e in layer l (e < 0: of the whole layer); -1 if empty. */
double router_stats_image_share(const router_stats *rs, int l, int e) {
    uint64_t im = 0, all = 0;
    for (int x = 0; x < rs->n_experts; x++) {
        if (e >= 0 && x != e) continue;
        im += router_stats_count_fig(rs, l, x, 1);
        all += router_stats_count_fig(rs, l, x, 2);
    }
    return all ? (double)im / (double)all : -1.0;
}

static json_t *frac_or_null(double v) { return v < 0 ? json_null() : json_real(v); }

json_t *router_stats_counts_json(const router_stats *rs) {
    static const char *kinds[N_KINDS] = {"text", "image", "generated"};
    json_t *o = json_object(), *layers = json_array();
    for (int l = 0; l < rs->n_layers; l++) json_array_append_new(layers, json_integer(rs->layer_ids[l]));
    json_object_set_new(o, "layers", layers);
    json_object_set_new(o, "experts", json_integer(rs->n_experts));
    for (int k = 0; k < N_KINDS; k++) {
        json_t *per = json_array();
        for (int l = 0; l < rs->n_layers; l++) {
            json_t *row = json_array();
            for (int e = 0; e < rs->n_experts; e++) json_array_append_new(row, json_integer((json_int_t)router_stats_count(rs, l, e, k)));
            json_array_append_new(per, row);
        }
        json_object_set_new(o, kinds[k], per);
    }
    return o;
}

json_t *router_stats_json(const router_stats *rs) {
    json_t *o = router_stats_counts_json(rs);
    if (!o) return NULL;
    json_object_set_new(o, "answers", json_integer((json_int_t)rs->n_answers));
    static const char *fkinds[3] = {"text", "image", "all"};
    json_t *load = json_object();
    for (int fk = 0; fk < 3; fk++) {
        json_t *per = json_array();
        for (int l = 0; l < rs->n_layers; l++) {
            json_t *row = json_array();
            for (int e = 0; e < rs->n_experts; e++) json_array_append_new(row, frac_or_null(router_stats_load(rs, l, e, fk)));
            json_array_append_new(per, row);
        }
        json_object_set_new(load, fkinds[fk], per);
    }
    json_object_set_new(o, "load", load);
    json_t *share = json_array(), *layer_share = json_array();
    for (int l = 0; l < rs->n_layers; l++) {
        json_t *row = json_array();
        for (int e = 0; e < rs->n_experts; e++) json_array_append_new(row, frac_or_null(router_stats_image_share(rs, l, e)));
        json_array_append_new(share, row);
        json_array_append_new(layer_share, frac_or_null(router_stats_image_share(rs, l, -1)));
    }
    json_object_set_new(o, "image_share", share);
    json_object_set_new(o, "layer_image_share", layer_share);
    return o;
}

json_t *router_stats_answer_json(const lm_model *m, const uint32_t *counts, size_t len) {
    const lm_config *c = lm_get_config(m);
    router_stats rs;
    if (router_stats_init(&rs, c->n_moe_layers, c->n_experts, c->moe_layers)) return NULL;
    /* a short count array (a model without MoE layers) reads as zeros */
    size_t need = (size_t)c->n_moe_layers * c->n_experts * N_KINDS;
    for (size_t i = 0; i < need && i < len; i++) rs.counts[i] = counts[i];
    json_t *o = router_stats_counts_json(&rs);
    router_stats_release(&rs);
    return o;
}
