/* tools/cmd_bench_blip2.c — `seer bench embed` for a BLIP-2 model: image
 * encoding (EVA ViT-g + the Q-Former's query pass + projection) images/s
 * against the bound set by this machine's sgemm rate, measured by the
 * caller in the same run; and a 10-token text query's latency. */
#include "bench_util.h"
#include "blip2.h"
#include "cmd.h"
#include "embed.h"
#include "status.h"
#include "timer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Multiply-adds ×2 of one image: the vision tower, then the Q-Former on the
 * query rows (self-attention, cross-attention to the image rows every
 * cross_freq layers, query feed-forward) and the ITC projection. */
static double blip2_image_flops(const blip2_model *m) {
    const double D = m->Dv, F = m->Iv, T = m->n_img, NP = (double)m->grid * m->grid, P = m->patch;
    double vis = NP * 3 * P * P * D + m->Lv * (T * D * 3 * D + 2 * T * T * D + T * D * D + 2 * T * D * F);
    const double d = m->D, f = m->I, q = m->nq;
    double qf = 0;
    for (int l = 0; l < m->L; l++) {
        qf += q * d * 3 * d + 2 * q * q * d + q * d * d + 2 * q * d * f;
        if (m->ql[l].has_cross) qf += q * d * d + 2 * T * D * d + 2 * q * T * d + q * d * d;
    }
    return 2.0 * (vis + qf + q * d * m->embed_dim);
}

int bench_embed_blip2(embedder *e, double sg, double seconds, const char *batches) {
    const blip2_model *m = e->blip2;
    const double fl = blip2_image_flops(m);
    printf("BLIP-2 vision: width %d, %d layers, %d tokens; Q-Former %d x %d, %d queries; %.1f GFLOP per image; "
           "bound %.3f images/s\n", m->Dv, m->Lv, m->n_img, m->D, m->L, m->nq, fl / 1e9, sg / fl);
    char list[256];
    snprintf(list, sizeof list, "%s", batches);
    int rc = 0;
    for (char *tok = strtok(list, ","); tok && !rc; tok = strtok(NULL, ",")) {
        int B = atoi(tok);
        if (B <= 0) continue;
        size_t plen = embedder_pixels_len(e);
        float *pix = malloc((size_t)B * plen * sizeof(float));
        float *out = malloc((size_t)B * e->n_vec * e->dim * sizeof(float));
        if (!pix || !out) {
            free(pix), free(out);
            cli_error("out of memory for batch %d", B);
            return 1;
        }
        for (size_t i = 0; i < (size_t)B * plen; i++) pix[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
        int runs = 0;
        double t0 = timer_now(), el = 0.0;
        do { /* no separate warm-up: one ViT-g pass is seconds long */
            if (embedder_images(e, pix, B, out)) {
                cli_error("%s", status_message());
                rc = 1;
                break;
            }
            runs++;
            el = timer_now() - t0;
        } while (el < seconds);
        if (!rc) {
            double ips = runs * B / el;
            printf("images batch %-3d: %7.3f images/s  %6.1f GFLOP/s  %5.1f%% of the sgemm bound  (%d runs, %.1f s)\n",
                   B, ips, ips * fl / 1e9, 100.0 * ips * fl / sg, runs, el);
        }
        free(pix), free(out);
    }
    if (rc) return rc;
    /* A 10-token query: [CLS], 8 word ids, [SEP] (ids valid in any BERT vocabulary size) */
    int32_t ids[10] = {101, 1037, 6302, 1997, 1037, 4937, 2006, 1996, 2795, 102};
    for (int i = 0; i < 10; i++) ids[i] %= m->vocab;
    float emb[1024];
    double lat[200];
    if (embedder_text_ids(e, ids, 10, emb)) {
        cli_error("%s", status_message());
        return 1;
    }
    int n = 0;
    double t0 = timer_now();
    while (n < 200 && (n < 20 || timer_now() - t0 < seconds)) {
        double s0 = timer_now();
        embedder_text_ids(e, ids, 10, emb);
        lat[n++] = timer_now() - s0;
    }
    qsort(lat, (size_t)n, sizeof *lat, bench_cmp_double);
    printf("text 10 tokens  : p50 %.2f ms  p90 %.2f ms  (%.0f queries/s)\n", lat[n / 2] * 1e3,
           lat[(int)(n * 0.9)] * 1e3, 1.0 / lat[n / 2]);
    return 0;
}
