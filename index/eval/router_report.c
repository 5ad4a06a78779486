/* index/eval/router_report.c — the two SVG figures of the router analysis
 * (definitions in router_report.h and router_stats.h). The SVG is written by
 * hand (rect / text / line elements) into a memory stream, so the server can
 * send it as it is. */
#include "router_report.h"
#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- SVG helpers */

#define FONT "font-family=\"DejaVu Sans, Arial, sans-serif\""
#define C_IMAGE "#e07b39"
#define C_TEXT "#3b75af"

static void svg_text(FILE *f, double x, double y, int size, const char *anchor, const char *fill, const char *s) {
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%d\" text-anchor=\"%s\" fill=\"%s\">", x, y, size, anchor,
            fill);
    for (; *s; s++) { /* XML-escape */
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else if (*s == '"') fputs("&quot;", f);
        else fputc(*s, f);
    }
    fputs("</text>\n", f);
}

/* White → deep blue, t in [0, 1]. */
static void heat_color(double t, char out[8]) {
    if (t < 0) t = 0;
    if (t > 1) t = 1;
    static const double lo[3] = {247, 251, 255}, hi[3] = {8, 48, 107};
    int c[3];
    for (int i = 0; i < 3; i++) c[i] = (int)(lo[i] + (hi[i] - lo[i]) * t + 0.5);
    snprintf(out, 8, "#%02x%02x%02x", c[0], c[1], c[2]);
}

/* Start an SVG document of width x height in memory: white background, a
 * title and a one-line explanation under it. */
static int svg_open(FILE **f, char **buf, size_t *len, int width, int height, const char *title,
                    const char *subtitle) {
    *buf = NULL;
    *len = 0;
    *f = open_memstream(buf, len);
    if (!*f) return status_fail(ST_NOMEM, "router svg: out of memory");
    fprintf(*f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" " FONT ">\n",
            width, height, width, height);
    fprintf(*f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", width, height);
    svg_text(*f, width / 2.0, 22, 16, "middle", "#000", title);
    svg_text(*f, width / 2.0, 40, 11, "middle", "#555", subtitle);
    return ST_OK;
}

static int svg_close(FILE *f, char **buf, size_t *len, char **svg, size_t *svg_len) {
    fputs("</svg>\n", f);
    if (fclose(f) || !*buf) {
        free(*buf);
        return status_fail(ST_NOMEM, "router svg: out of memory");
    }
    *svg = *buf;
    if (svg_len) *svg_len = *len;
    return ST_OK;
}

static int row_height(int n_layers) { return n_layers <= 16 ? 24 : n_layers <= 32 ? 16 : 10; }

/* ---------------------------------------------------------------- Figure 5.1 */

int router_svg_load(const router_stats *rs, const char *title, char **svg, size_t *svg_len) {
    if (rs->n_layers < 1) return status_fail(ST_ARG, "router svg: no router counts");
    const int ne = rs->n_experts, nl = rs->n_layers, rh = row_height(nl), cw = ne <= 8 ? 46 : 24;
    const int left = 70, top = 90, gap = 50, pw = ne * cw;
    const int width = left + 3 * pw + 2 * gap + 120, height = top + nl * rh + 70;
    static const int order[3] = {1, 0, 2}; /* image, text, all */
    static const char *names[3] = {"text tokens", "image tokens", "all tokens"};
    double vmax = 0;
    for (int l = 0; l < nl; l++)
        for (int e = 0; e < ne; e++)
            for (int fk = 0; fk < 3; fk++)
                if (router_stats_load(rs, l, e, fk) > vmax) vmax = router_stats_load(rs, l, e, fk);
    if (vmax <= 0) vmax = 1;
    FILE *f;
    char *buf;
    size_t len;
    int rc = svg_open(&f, &buf, &len, width, height, title ? title : "Expert load per MoE layer",
                      "share of each layer's routing assignments taken by each expert (uniform = 1/experts)");
    if (rc) return rc;
    for (int p = 0; p < 3; p++) {
        int fk = order[p], x0 = left + p * (pw + gap);
        uint64_t tok = 0;
        for (int e = 0; e < ne; e++) tok += router_stats_count_fig(rs, 0, e, fk);
        char head[96];
        svg_text(f, x0 + pw / 2.0, top - 32, 12, "middle", "#000", names[fk]);
        snprintf(head, sizeof head, "%llu routings per layer", (unsigned long long)tok);
        svg_text(f, x0 + pw / 2.0, top - 19, 10, "middle", "#555", head);
        for (int e = 0; e < ne; e++) {
            char lab[16];
            snprintf(lab, sizeof lab, "E%d", e + 1);
            svg_text(f, x0 + e * cw + cw / 2.0, top - 4, 11, "middle", "#000", lab);
        }
        for (int l = 0; l < nl; l++) {
            if (p == 0) {
                char lab[32];
                snprintf(lab, sizeof lab, "layer %d", rs->layer_ids[l]);
                svg_text(f, left - 6, top + l * rh + rh * 0.5 + 4, 11, "end", "#000", lab);
            }
            for (int e = 0; e < ne; e++) {
                double v = router_stats_load(rs, l, e, fk);
                char col[8];
                if (v < 0) strcpy(col, "#dddddd");
                else heat_color(v / vmax, col);
                fprintf(f,
                        "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\" stroke=\"white\" "
                        "stroke-width=\"1\"><title>layer %d, expert %d: %.3f</title></rect>\n",
                        x0 + e * cw, top + l * rh, cw, rh, col, rs->layer_ids[l], e + 1, v < 0 ? 0.0 : v);
                if (v >= 0 && rh >= 14 && cw >= 40) {
                    char lab[16];
                    snprintf(lab, sizeof lab, "%.0f%%", 100 * v);
                    svg_text(f, x0 + e * cw + cw / 2.0, top + l * rh + rh * 0.5 + 4, 10, "middle",
                             v / vmax > 0.55 ? "#fff" : "#000", lab);
                }
            }
        }
        svg_text(f, x0 + pw / 2.0, top + nl * rh + 18, 11, "middle", "#000", "expert");
    }
    /* colour bar */
    int bx = left + 3 * pw + 2 * gap + 20, bh = nl * rh;
    for (int i = 0; i < 50; i++) {
        char col[8];
        heat_color(1.0 - i / 49.0, col);
        fprintf(f, "<rect x=\"%d\" y=\"%.2f\" width=\"16\" height=\"%.2f\" fill=\"%s\"/>\n", bx, top + i * bh / 50.0,
                bh / 50.0 + 0.5, col);
    }
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"16\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>\n", bx, top, bh);
    char lab[32];
    snprintf(lab, sizeof lab, "%.0f%%", 100 * vmax);
    svg_text(f, bx + 20, top + 10, 10, "start", "#000", lab);
    svg_text(f, bx + 20, top + bh, 10, "start", "#000", "0%");
    svg_text(f, bx + 8, top + bh + 18, 10, "middle", "#000", "load");
    snprintf(lab, sizeof lab, "%llu answers", (unsigned long long)rs->n_answers);
    svg_text(f, left, height - 12, 10, "start", "#555", lab);
    return svg_close(f, &buf, &len, svg, svg_len);
}

/* ---------------------------------------------------------------- Figure 5.2 */

int router_svg_modality(const router_stats *rs, const char *title, char **svg, size_t *svg_len) {
    if (rs->n_layers < 1) return status_fail(ST_ARG, "router svg: no router counts");
    const int ne = rs->n_experts, nl = rs->n_layers, rh = row_height(nl), bw = 150;
    const int left = 70, top = 70, gap = 24;
    const int width = left + ne * (bw + gap) + 20, height = top + nl * rh + 80;
    FILE *f;
    char *buf;
    size_t len;
    int rc = svg_open(&f, &buf, &len, width, height, title ? title : "Modality split per expert",
                      "image share of the tokens each expert processed (number: image %); | = the layer's overall image share");
    if (rc) return rc;
    for (int e = 0; e < ne; e++) {
        int x0 = left + e * (bw + gap);
        char head[32];
        snprintf(head, sizeof head, "expert %d", e + 1);
        svg_text(f, x0 + bw / 2.0, top - 8, 12, "middle", "#000", head);
        for (int l = 0; l < nl; l++) {
            int y = top + l * rh;
            if (e == 0) {
                char lab[32];
                snprintf(lab, sizeof lab, "layer %d", rs->layer_ids[l]);
                svg_text(f, left - 6, y + rh * 0.5 + 4, 11, "end", "#000", lab);
            }
            double s = router_stats_image_share(rs, l, e), ls = router_stats_image_share(rs, l, -1);
            if (s < 0) {
                fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#eeeeee\"/>\n", x0, y + 2, bw,
                        rh - 4);
                continue;
            }
            double wi = s * bw;
            fprintf(f,
                    "<rect x=\"%d\" y=\"%d\" width=\"%.2f\" height=\"%d\" fill=\"" C_IMAGE "\"><title>layer %d, "
                    "expert %d: image %.1f%%</title></rect>\n",
                    x0, y + 2, wi, rh - 4, rs->layer_ids[l], e + 1, 100 * s);
            fprintf(f,
                    "<rect x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" fill=\"" C_TEXT "\"><title>layer %d, "
                    "expert %d: text %.1f%%</title></rect>\n",
                    x0 + wi, y + 2, bw - wi, rh - 4, rs->layer_ids[l], e + 1, 100 * (1 - s));
            char lab[16];
            snprintf(lab, sizeof lab, "%.0f%%", 100 * s);
            if (rh >= 14) svg_text(f, x0 + bw - 4, y + rh * 0.5 + 4, 10, "end", "#fff", lab);
            if (ls >= 0)
                fprintf(f, "<line x1=\"%.2f\" x2=\"%.2f\" y1=\"%d\" y2=\"%d\" stroke=\"#000\" stroke-width=\"2\"/>\n",
                        x0 + ls * bw, x0 + ls * bw, y, y + rh);
        }
        svg_text(f, x0, top + nl * rh + 14, 10, "start", "#000", "0");
        svg_text(f, x0 + bw / 2.0, top + nl * rh + 14, 10, "middle", "#000", "50%");
        svg_text(f, x0 + bw, top + nl * rh + 14, 10, "end", "#000", "100%");
    }
    int ly = top + nl * rh + 36;
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"12\" fill=\"" C_IMAGE "\"/>\n", left, ly);
    svg_text(f, left + 20, ly + 10, 11, "start", "#000", "image tokens");
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"12\" fill=\"" C_TEXT "\"/>\n", left + 120, ly);
    svg_text(f, left + 140, ly + 10, 11, "start", "#000", "text tokens (prompt + generated)");
    char lab[32];
    snprintf(lab, sizeof lab, "%llu answers", (unsigned long long)rs->n_answers);
    svg_text(f, left, height - 8, 10, "start", "#555", lab);
    return svg_close(f, &buf, &len, svg, svg_len);
}
