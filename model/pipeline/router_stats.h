/* model/pipeline/router_stats.h — what the MoE routers did over one answer or
 * many: token counts per (MoE layer, expert, token kind), the values derived
 * from them, and the one JSON writer for them (a chat answer's "router" field,
 * `seer generate --json`, the server's answer events, the eval tables). The
 * figures drawn from them are index/eval/router_report.h.
 *
 *     router_stats rs;
 *     router_stats_init(&rs, cfg->n_moe_layers, cfg->n_experts, cfg->moe_layers);
 *     for each answer:
 *         size_t len; const uint32_t *c = chat_router_counts(cs, &len);
 *         router_stats_add(&rs, c, len);
 *     char *svg; size_t n;
 *     router_svg_load(&rs, &svg, &n);       // Figure 5.1: expert load per layer
 *     router_svg_modality(&rs, &svg2, &n2); // Figure 5.2: modality split per expert
 *     json_t *t = router_stats_json(&rs);   // counts + fractions
 *     router_stats_release(&rs);
 *
 * Counts layout, as lm_state_router_counts gives it:
 *   counts[(moe_layer * n_experts + expert) * LM_TOK_KINDS + kind]
 * kind: LM_TOK_TEXT (prompt text), LM_TOK_IMAGE (image features),
 * LM_TOK_GEN (generated answer tokens). Every token counts once for each of
 * its top-k experts, so a layer's counts of one kind sum to k x tokens.
 *
 * Definitions used by the figures and the table:
 *   text tokens  = LM_TOK_TEXT + LM_TOK_GEN (everything that is not image);
 *   load(kind, layer, e)  = count(kind, layer, e) / sum_e' count(kind, layer, e')
 *                           (the share of the layer's routing assignments of
 *                           that kind taken by expert e; uniform = 1/n_experts);
 *   image_share(layer, e) = image(layer, e) / (image + text)(layer, e)
 *                           (what fraction of the tokens expert e processed
 *                           in that layer were image tokens), shown against
 *                           the layer's overall image share (a
 *                           modality-agnostic expert sits on that line).
 *
 * The JSON layout of router_stats_json (and of one answer's "router" field,
 * which router_stats_add_json reads back):
 *   {"layers": [moe layer indices], "experts": E,
 *    "text": [[count per expert] per layer], "image": [...], "generated": [...]}
 * router_stats_json adds "load": {"text": [[..]], "image": [[..]], "all": [[..]]}
 * and "image_share": [[..]] (fractions; null where nothing was routed).
 *
 * Ownership: router_stats owns its arrays (router_stats_release); SVG strings
 * are malloc'd for the caller. Not thread-safe per router_stats.
 */
#ifndef SEER_ROUTER_STATS_H
#define SEER_ROUTER_STATS_H

#include <jansson.h>

#include "lm.h"
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int       n_layers;   /* MoE layers */
    int       n_experts;
    int      *layer_ids;  /* (n_layers) the model layer index of each MoE layer */
    uint64_t *counts;     /* (n_layers, n_experts, 3) token counts */
    uint64_t  n_answers;  /* how many router_stats_add* calls contributed */
} router_stats;

int  router_stats_init(router_stats *rs, int n_layers, int n_experts, const int *layer_ids);
void router_stats_release(router_stats *rs);

/* Add one answer's counts (len must be n_layers * n_experts * 3). */
int  router_stats_add(router_stats *rs, const uint32_t *counts, size_t len);
/* Add counts in the JSON layout above. When rs is still empty (n_layers 0,
 * after a zeroed init), it takes its shape from the JSON; otherwise a
 * different shape is ST_MISMATCH. */
int  router_stats_add_json(router_stats *rs, const json_t *router);

/* The counts alone, {"layers", "experts", "text", "image", "generated"}
 * (new reference; the layout router_stats_add_json reads back). */
json_t *router_stats_counts_json(const router_stats *rs);
/* The table: the counts plus "answers", "load", "image_share" and
 * "layer_image_share" (new reference), NULL on allocation failure. */
json_t *router_stats_json(const router_stats *rs);

/* One answer's counts (laid out as lm_state_router_counts) as the counts
 * JSON above, shaped by m's MoE layers (new reference; NULL on failure). */
json_t *router_stats_answer_json(const lm_model *m, const uint32_t *counts, size_t len);

/* Derived values. Kinds k: 0 text, 1 image, 2 generated (= lm_tok_kind);
 * figure kinds fk: 0 text (+ generated), 1 image, 2 all. */
uint64_t router_stats_count(const router_stats *rs, int layer, int expert, int k);
uint64_t router_stats_count_fig(const router_stats *rs, int layer, int expert, int fk);
/* load(fk, layer, expert); -1 when the layer saw no token of that kind. */
double   router_stats_load(const router_stats *rs, int layer, int expert, int fk);
/* image share of an expert in a layer (expert < 0: the whole layer); -1 if empty. */
double   router_stats_image_share(const router_stats *rs, int layer, int expert);

#endif
