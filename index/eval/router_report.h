/* index/eval/router_report.h — the two figures of the router analysis
 * (Spectate-GPT report, Figures 5.1 and 5.2; MoE-LLaVA paper, Figures 4 and
 * 5), drawn from router_stats (model/pipeline/router_stats.h, which defines
 * the counts, load and image share).
 *
 *     char *svg; size_t n;
 *     router_svg_load(&rs, title, &svg, &n);       // Figure 5.1: expert load per layer
 *     router_svg_modality(&rs, title, &svg2, &n2); // Figure 5.2: modality split per expert
 *
 * SVG strings are malloc'd for the caller.
 */
#ifndef SEER_ROUTER_REPORT_H
#define SEER_ROUTER_REPORT_H

#include <stddef.h>

#include "router_stats.h"

/* Figure 5.1: heatmaps of load(kind, layer, expert) for image tokens, text
 * tokens and all tokens, layers down, experts across, cells labelled. */
int  router_svg_load(const router_stats *rs, const char *title, char **svg, size_t *len);
/* Figure 5.2: one panel per expert, one bar per layer split into image and
 * text share of that expert's tokens, with the layer's overall image share
 * marked. */
int  router_svg_modality(const router_stats *rs, const char *title, char **svg, size_t *len);

#endif
