/* tools/cmd_bench.c — `seer bench embed`: CLIP encoding throughput against
 * this machine's sgemm rate, measured in the same run.
 *
 * The bound for a model is its FLOPs divided by the measured sgemm FLOP/s
 * (OpenBLAS, 1024³, all threads): images/s can be at most sgemm / FLOPs-per-
 * image. The report prints the achieved fraction of that bound.
 */
#include "bench_util.h"
#include "clip.h"
#include "cmd.h"
#include "embed.h"
#include "ingest.h"
#include "status.h"
#include "store.h"
#include "timer.h"

#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* Multiply-adds ×2 of one image through the vision tower (GEMMs + attention). */
static double vision_flops(const clip_model *m) {
    const clip_vision *v = &m->vision;
    const double D = v->enc.D, F = v->enc.I, T = v->n_pos, NP = v->grid * v->grid, P = v->patch;
    double per_layer = T * D * 3 * D + 2 * T * T * D + T * D * D + 2 * T * D * F;
    return 2.0 * (NP * 3 * P * P * D + v->enc.L * per_layer + D * m->proj_dim);
}

static double text_flops(const clip_model *m, int T) {
    const clip_text *t = &m->text;
    const double D = t->enc.D, F = t->enc.I;
    double per_layer = T * D * 3 * D + (double)T * T * D + T * D * D + 2 * T * D * F;
    return 2.0 * (t->enc.L * per_layer + D * m->proj_dim);
}

int cmd_bench_lm(int argc, char **argv);     /* tools/cmd_bench_lm.c */
int cmd_bench_chat(int argc, char **argv);   /* tools/cmd_bench_chat.c */
int cmd_bench_search(int argc, char **argv); /* tools/cmd_bench_search.c */
int bench_embed_blip2(embedder *e, double sg, double seconds, const char *batches); /* tools/cmd_bench_blip2.c */
int cmd_bench_decode(int argc, char **argv); /* tools/cmd_bench_decode.c */

/* The model to measure: a directory, or random weights of a named geometry,
 * always behind an embedder (which then owns the model). 0, or the exit
 * status to return. */
static int bench_model(const char *dir, const char *geom, int parts, embedder **e) {
    if (dir) {
        if (embedder_load(dir, parts, e)) {
            cli_error("%s", status_message());
            return 1;
        }
        printf("model: %s\n", dir);
        return 0;
    }
    if (!strcmp(geom, "blip2-vit-g")) {
        blip2_model *b;
        printf("model: random weights, blip2-vit-g geometry (float32, %s)\n", "Salesforce/blip2-itm-vit-g");
        fflush(stdout);
        if (blip2_random(&BLIP2_GEOMETRY_ITM_VIT_G, 1, &b) || embedder_wrap_blip2(b, geom, e)) {
            cli_error("%s", status_message());
            return 1;
        }
        return 0;
    }
    if (strcmp(geom, "b32") && strcmp(geom, "l14-336")) {
        cli_error("--geometry: expected b32, l14-336 or blip2-vit-g, got '%s'", geom);
        return 2;
    }
    clip_model *m;
    if (clip_random(!strcmp(geom, "l14-336") ? &CLIP_GEOMETRY_L14_336 : &CLIP_GEOMETRY_B32, 1, &m) ||
        embedder_wrap(m, geom, e)) {
        cli_error("%s", status_message());
        return 1;
    }
    printf("model: random weights, %s geometry\n", geom);
    return 0;
}


static void bench_usage(FILE *f) {
    fprintf(f,
            "usage: seer bench embed [--model DIR | --geometry b32|l14-336|blip2-vit-g] [--seconds S]\n"
            "                        [--batches 1,8,32]\n"
            "       seer bench ingest [--model DIR | --geometry b32|l14-336] PATH...\n"
            "                        [--batches 1,8,32]\n"
            "\n"
            "Image encoding images/s at each batch size and 10-token text query latency,\n"
            "with each figure's ratio to the bound set by this machine's sgemm rate\n"
            "(measured first, in the same run). Without --model the weights are random\n"
            "with the real geometry (default b32 = openai/clip-vit-base-patch32;\n"
            "blip2-vit-g = Salesforce/blip2-itm-vit-g: EVA ViT-g/14 + Q-Former, image rate\n"
            "of the whole image path, 32 vectors per image; give --batches 1 or 1,4 there).\n"
            "\n"
            "       seer bench lm [--geometry stablelm-1.6b|phi2-2.7b] [--prompt 600] [--decode 64]\n"
            "                     [--quant none|q8] [--runs 3] [--dir DIR]\n"
            "\n"
            "MoE-LLaVA language-model prefill and decode tokens/s on random weights of the real\n"
            "geometry, against this machine's sgemm rate and read bandwidth (seer bench lm --help).\n"
            "\n"
            "       seer bench decode [--seconds S] FILE...\n"
            "\n"
            "Image decoding images/s per file (so per format: JPEG, PNG, WebP, HEIC, AVIF, TIFF,\n"
            "RAW...), one thread, against the time to write the decoded RGB at this machine's\n"
            "triad bandwidth.\n");
}

static int bench_embed(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"geometry", required_argument, 0, 'g'},
        {"seconds", required_argument, 0, 's'}, {"batches", required_argument, 0, 'b'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *model = NULL, *geom = "b32", *batches = "1,8,32";
    double seconds = 4.0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'g': geom = optarg; break;
        case 's': seconds = atof(optarg); break;
        case 'b': batches = optarg; break;
        case 'h': bench_usage(stdout); return 0;
        default: bench_usage(stderr); return 2;
        }
    }
    printf("threads: %d (OMP_NUM_THREADS)\n", omp_get_max_threads());
    double sg = bench_sgemm(1024, 1.0);
    printf("sgemm 1024^3: %.1f GFLOP/s\n", sg / 1e9);

    embedder *e = NULL;
    int rc = bench_model(model, geom, EMBED_IMAGE | EMBED_TEXT, &e);
    if (rc) return rc;
    if (e->family == EMBED_BLIP2) {
        rc = bench_embed_blip2(e, sg, seconds, batches);
        embedder_free(e);
        return rc;
    }
    const clip_model *m = e->clip;
    const clip_vision *v = &m->vision;
    const double fl = vision_flops(m);
    printf("vision: width %d, %d layers, %d tokens, %.2f GFLOP per image; bound %.1f images/s\n", v->enc.D,
           v->enc.L, v->n_pos, fl / 1e9, sg / fl);

    char list[256];
    snprintf(list, sizeof list, "%s", batches);
    rc = 0;
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        int B = atoi(tok);
        if (B <= 0) continue;
        size_t plen = embedder_pixels_len(e);
        float *pix = malloc((size_t)B * plen * sizeof(float)), *out = malloc((size_t)B * m->proj_dim * sizeof(float));
        if (!pix || !out) {
            free(pix), free(out);
            cli_error("out of memory for batch %d", B);
            rc = 1;
            break;
        }
        for (size_t i = 0; i < (size_t)B * plen; i++) pix[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
        embedder_images(e, pix, B, out); /* warm-up */
        int runs = 0;
        double t0 = timer_now(), el = 0.0;
        do {
            if (embedder_images(e, pix, B, out)) {
                cli_error("%s", status_message());
                rc = 1;
                break;
            }
            runs++;
            el = timer_now() - t0;
        } while (el < seconds);
        if (rc) {
            free(pix), free(out);
            break;
        }
        double ips = runs * B / el;
        printf("images batch %-3d: %7.2f images/s  %6.1f GFLOP/s  %5.1f%% of the sgemm bound\n", B, ips,
               ips * fl / 1e9, 100.0 * ips * fl / sg);
        free(pix), free(out);
    }

    /* A 10-token query: start, 8 word tokens, end. */
    int32_t ids[10] = {49406, 320, 1125, 539, 320, 1929, 2862, 530, 518, 49407};
    const clip_text *t = &m->text;
    for (int i = 1; i < 9; i++) ids[i] %= t->vocab - 2;
    ids[9] = t->vocab - 1;
    ids[0] = t->vocab - 2;
    float emb[4096];
    double lat[200];
    embedder_text_ids(e, ids, 10, emb);
    int n = 0;
    double t0 = timer_now();
    while (n < 200 && (n < 20 || timer_now() - t0 < seconds)) {
        double s0 = timer_now();
        embedder_text_ids(e, ids, 10, emb);
        lat[n++] = timer_now() - s0;
    }
    qsort(lat, (size_t)n, sizeof *lat, bench_cmp_double);
    double tf = text_flops(m, 10), p50 = lat[n / 2];
    printf("text 10 tokens  : p50 %.2f ms  p90 %.2f ms  (%.0f queries/s)  %.1f GFLOP/s  %.1f%% of the sgemm bound\n",
           p50 * 1e3, lat[(int)(n * 0.9)] * 1e3, 1.0 / p50, tf / p50 / 1e9, 100.0 * tf / p50 / sg);
    embedder_free(e);
    return rc;
}

static void ingest_bench_usage(FILE *f) {
    fprintf(f,
            "usage: seer bench ingest [--model DIR | --geometry b32|l14-336] [--batch N] PATH...\n"
            "\n"
            "Ingest PATH into a fresh temporary store and report images/s, the split of the\n"
            "time between read, decode, preprocess, thumbnails (worker threads), encode and\n"
            "commit, and the encode stage's fraction of the sgemm bound.\n");
}

static int bench_ingest(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"geometry", required_argument, 0, 'g'},
        {"batch", required_argument, 0, 'b'}, {"threads", required_argument, 0, 't'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *model = NULL, *geom = "b32";
    long v;
    ingest_opts o;
    ingest_opts_default(&o);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'g': geom = optarg; break;
        case 'b': if (cli_parse_int("--batch", optarg, 1, 1024, &v)) return 2; o.batch = (int)v; break;
        case 't': if (cli_parse_int("--threads", optarg, 1, 256, &v)) return 2; o.threads = (int)v; break;
        case 'h': ingest_bench_usage(stdout); return 0;
        default: ingest_bench_usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        ingest_bench_usage(stderr);
        return 2;
    }
    printf("threads: %d (OpenMP), %d decode workers\n", omp_get_max_threads(), o.threads);
    double sg = bench_sgemm(1024, 1.0);
    printf("sgemm 1024^3: %.1f GFLOP/s\n", sg / 1e9);
    embedder *e;
    int brc = bench_model(model, geom, EMBED_IMAGE, &e);
    if (brc) return brc;
    char dir[] = "/tmp/seer-bench-ingest-XXXXXX";
    if (!mkdtemp(dir)) {
        cli_error("cannot make a temporary directory");
        embedder_free(e);
        return 1;
    }
    store *st;
    int rc = 1;
    if (store_open(dir, STORE_CREATE, &st) || ingest_check_model(st, e)) {
        cli_error("%s", status_message());
        embedder_free(e);
        return 1;
    }
    o.roots = (const char *const *)(argv + optind);
    o.n_roots = argc - optind;
    ingest_stats s;
    if (ingest_run(st, e, &o, &s)) {
        cli_error("%s", status_message());
    } else {
        double fl = vision_flops(e->clip), n = (double)(s.added + s.updated);
        printf("files %llu, images embedded %.0f, failed %llu, in %.2f s: %.2f images/s end to end\n",
               (unsigned long long)s.total, n, (unsigned long long)s.failed, s.elapsed, n / s.elapsed);
        printf("workers (summed): read %.2f s, decode %.2f s, preprocess %.2f s, thumbnails %.2f s\n", s.t_read,
               s.t_decode, s.t_preprocess, s.t_thumb);
        printf("main thread: encode %.2f s (%.2f images/s, %.1f%% of the sgemm bound), commit %.2f s\n", s.t_encode,
               n / s.t_encode, 100.0 * n * fl / s.t_encode / sg, s.t_commit);
        printf("end to end: %.1f%% of the sgemm bound (%.2f GFLOP per image)\n", 100.0 * n * fl / s.elapsed / sg,
               fl / 1e9);
        rc = 0;
    }
    store_close(st);
    embedder_free(e);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) cli_error("could not remove %s", dir);
    return rc;
}

int cmd_bench(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        bench_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "embed")) return bench_embed(argc - 1, argv + 1);
    if (!strcmp(argv[1], "ingest")) return bench_ingest(argc - 1, argv + 1);
    if (!strcmp(argv[1], "lm")) return cmd_bench_lm(argc - 1, argv + 1);
    if (!strcmp(argv[1], "chat")) return cmd_bench_chat(argc - 1, argv + 1);
    if (!strcmp(argv[1], "search")) return cmd_bench_search(argc - 1, argv + 1);
    if (!strcmp(argv[1], "decode")) return cmd_bench_decode(argc - 1, argv + 1);
    cli_error("unknown benchmark '%s' (try seer bench --help)", argv[1]);
    return 2;
}
