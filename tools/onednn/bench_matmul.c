/* tools/onednn/bench_matmul.c — seer's matmul kernels against oneDNN's
 * matmul on the decode (M = 1) and prefill (M = 512) shapes of StableLM-2-1.6B.
 * Built only on request (cmake -DSEER_BENCH_ONEDNN=ON, target
 * bench_matmul; needs libdnnl-dev): oneDNN is not a dependency of seer.
 *
 *   OMP_NUM_THREADS=2 build/bench_matmul [reps]
 *
 * Per shape (N outputs × K inputs) and M, the best of reps calls of:
 *   seer  f32     linear_forward on float32 W (OpenBLAS sgemm / AVX2 GEMV)
 *   seer  bf16-f32  BF16 W widened to float32 (the path without AVX512-BF16)
 *   seer  bf16    BF16 W × bfloat16 x by vdpbf16ps (kernels/qgemm.c)
 *   seer  q8      Q8 W × int8 x, per-32 block scales (VNNI; q8-avx2: AVX2)
 *   dnnl  f32, bf16 (bf16 × bf16 → f32), s8 (u8 x × s8 W → f32, one scale
 *         per output channel: coarser than Q8's per-block scales)
 * oneDNN gets its preferred (reordered) weight layout, made once outside
 * the timing, as a model would at load. Decode lines carry W's bytes / time
 * against a read sweep of this run; prefill lines GFLOP/s. The machine is
 * shared: take the figures as ratios measured side by side, not absolutes.
 */
#include "half.h"
#include "linear.h"
#include "qgemm.h"
#include "quant.h"
#include "timer.h"

#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CK(x)                                                                   \
    do {                                                                        \
        dnnl_status_t s_ = (x);                                                 \
        if (s_ != dnnl_success) {                                               \
            fprintf(stderr, "%s:%d: %s failed (%d)\n", __FILE__, __LINE__, #x, (int)s_); \
            exit(1);                                                            \
        }                                                                       \
    } while (0)

static int REPS = 5;
static dnnl_engine_t eng;
static dnnl_stream_t strm;

static double read_bw(void) {
    const size_t n = (size_t)256 << 20;
    float *a = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) a[i] = 1.0f;
    double best = 0;
    for (int r = 0; r < 3; r++) {
        double t0 = timer_now(), s = 0;
        #pragma omp parallel for reduction(+ : s) schedule(static)
        for (size_t i = 0; i < n; i++) s += a[i];
        double t = timer_now() - t0;
        if (s != (double)n) fprintf(stderr, "?");
        if (n * 4.0 / t > best) best = n * 4.0 / t;
    }
    free(a);
    return best;
}

typedef struct {
    dnnl_primitive_t p;
    dnnl_memory_t src, wei, dst;
} dnnl_mm;

/* A matmul (M, K) · (K, N) with W given as (N, K) row-major of type wt. */
static dnnl_mm dnnl_make(int M, int N, int K, dnnl_data_type_t xt, dnnl_data_type_t wt, const void *w, float scale) {
    dnnl_mm r;
    dnnl_memory_desc_t smd, wmd, wany, dmd, wsrc;
    CK(dnnl_memory_desc_init_by_tag(&smd, 2, (dnnl_dims_t){M, K}, xt, dnnl_ab));
    CK(dnnl_memory_desc_init_by_tag(&wany, 2, (dnnl_dims_t){K, N}, wt, dnnl_format_tag_any));
    CK(dnnl_memory_desc_init_by_tag(&wsrc, 2, (dnnl_dims_t){K, N}, wt, dnnl_ba));
    CK(dnnl_memory_desc_init_by_tag(&dmd, 2, (dnnl_dims_t){M, N}, dnnl_f32, dnnl_ab));
    dnnl_matmul_desc_t md;
    CK(dnnl_matmul_desc_init(&md, &smd, &wany, NULL, &dmd));
    dnnl_primitive_attr_t attr;
    CK(dnnl_primitive_attr_create(&attr));
    if (wt == dnnl_s8) {
        float *sc = malloc((size_t)N * sizeof(float));
        for (int i = 0; i < N; i++) sc[i] = scale;
        CK(dnnl_primitive_attr_set_output_scales(attr, N, 1 << 1, sc));
        free(sc);
    }
    dnnl_primitive_desc_t pd;
    CK(dnnl_primitive_desc_create(&pd, &md, attr, eng, NULL));
    wmd = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    CK(dnnl_primitive_create(&r.p, pd));
    CK(dnnl_memory_create(&r.src, &smd, eng, DNNL_MEMORY_ALLOCATE));
    CK(dnnl_memory_create(&r.dst, &dmd, eng, DNNL_MEMORY_ALLOCATE));
    CK(dnnl_memory_create(&r.wei, &wmd, eng, DNNL_MEMORY_ALLOCATE));
    dnnl_memory_t w0;
    CK(dnnl_memory_create(&w0, &wsrc, eng, (void *)w));
    dnnl_primitive_desc_t rpd;
    CK(dnnl_reorder_primitive_desc_create(&rpd, &wsrc, eng, &wmd, eng, NULL));
    dnnl_primitive_t ro;
    CK(dnnl_primitive_create(&ro, rpd));
    dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, w0}, {DNNL_ARG_TO, r.wei}};
    CK(dnnl_primitive_execute(ro, strm, 2, ra));
    CK(dnnl_stream_wait(strm));
    dnnl_primitive_destroy(ro);
    dnnl_primitive_desc_destroy(rpd);
    dnnl_memory_destroy(w0);
    dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    void *sp;
    CK(dnnl_memory_get_data_handle(r.src, &sp));
    memset(sp, 1, (size_t)M * K * (xt == dnnl_f32 ? 4 : xt == dnnl_bf16 ? 2 : 1));
    return r;
}

static double dnnl_time(dnnl_mm *r) {
    dnnl_exec_arg_t a[3] = {{DNNL_ARG_SRC, r->src}, {DNNL_ARG_WEIGHTS, r->wei}, {DNNL_ARG_DST, r->dst}};
    double best = 1e30;
    for (int i = 0; i < REPS + 1; i++) {
        double t0 = timer_now();
        CK(dnnl_primitive_execute(r->p, strm, 3, a));
        CK(dnnl_stream_wait(strm));
        double t = timer_now() - t0;
        if (i && t < best) best = t;   /* the first call is a warm-up */
    }
    dnnl_primitive_destroy(r->p);
    dnnl_memory_destroy(r->src), dnnl_memory_destroy(r->wei), dnnl_memory_destroy(r->dst);
    return best;
}

static double seer_time(const linear_w *w, const float *x, float *y, int M) {
    double best = 1e30;
    for (int i = 0; i < REPS + 1; i++) {
        double t0 = timer_now();
        if (linear_forward(y, w->rows, x, w->cols, w, NULL, M, 0)) exit(1);
        double t = timer_now() - t0;
        if (i && t < best) best = t;
    }
    return best;
}

static void line(const char *who, int M, int N, int K, double t, double wbytes, double bw) {
    if (M == 1)
        printf("  %-16s %8.3f ms  %6.1f GB/s = %5.1f%% of read\n", who, t * 1e3, wbytes / t / 1e9,
               100.0 * wbytes / t / bw);
    else
        printf("  %-16s %8.3f ms  %7.1f GFLOP/s\n", who, t * 1e3, 2.0 * M * N * K / t / 1e9);
    fflush(stdout);
}

int main(int argc, char **argv) {
    if (argc > 1) REPS = atoi(argv[1]);
    CK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    CK(dnnl_stream_create(&strm, eng, dnnl_stream_default_flags));
    const double bw = read_bw();
    printf("threads %d, read sweep %.1f GB/s, seer paths: q8 %s, bf16 %s; best of %d calls\n", omp_get_max_threads(),
           bw / 1e9, qgemm_isa_name(qgemm_q8_best()), qgemm_isa_name(qgemm_bf16_best()), REPS);
    const int shapes[][2] = {{2048, 2048}, {5632, 2048}, {2048, 5632}, {100352, 2048}};
    for (int si = 0; si < 4; si++) {
        const int N = shapes[si][0], K = shapes[si][1];
        const size_t nk = (size_t)N * K;
        float *wf = malloc(nk * sizeof(float));
        uint16_t *wb = malloc(nk * 2);
        int8_t *w8 = malloc(nk);
        uint64_t s = 88172645463325252ull;
        for (size_t i = 0; i < nk; i++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            wf[i] = ((float)(s >> 40) / 16777216.0f - 0.5f) * 0.07f;
            wb[i] = f32_to_bf16(wf[i]);
            w8[i] = (int8_t)((int)(s >> 56) - 128 == -128 ? -127 : (int)(s >> 56) - 128);
        }
        linear_w Wf = linear_view(LINEAR_F32, wf, N, K), Wb = linear_view(LINEAR_BF16, wb, N, K), Wq, Wb32 = Wb;
        Wb32.f32_x = 1;
        if (linear_quantize_q8(&Wq, &Wb)) return 1;
        for (int mi = 0; mi < 2; mi++) {
            const int M = mi ? 512 : 1;
            if (N == 100352 && M > 1) continue;   /* the head runs on one position */
            printf("%s N=%d K=%d M=%d\n", M == 1 ? "decode " : "prefill", N, K, M);
            float *x = malloc((size_t)M * K * sizeof(float)), *y = malloc((size_t)M * N * sizeof(float));
            for (size_t i = 0; i < (size_t)M * K; i++) x[i] = (float)((int)(i % 13) - 6) * 0.1f;
            line("seer f32", M, N, K, seer_time(&Wf, x, y, M), nk * 4.0, bw);
            line("seer bf16-f32", M, N, K, seer_time(&Wb32, x, y, M), nk * 2.0, bw);
            if (qgemm_bf16_best() == QGEMM_AVX512) line("seer bf16", M, N, K, seer_time(&Wb, x, y, M), nk * 2.0, bw);
            line("seer q8", M, N, K, seer_time(&Wq, x, y, M), linear_bytes(&Wq), bw);
            dnnl_mm d = dnnl_make(M, N, K, dnnl_f32, dnnl_f32, wf, 1.0f);
            line("dnnl f32", M, N, K, dnnl_time(&d), nk * 4.0, bw);
            d = dnnl_make(M, N, K, dnnl_bf16, dnnl_bf16, wb, 1.0f);
            line("dnnl bf16", M, N, K, dnnl_time(&d), nk * 2.0, bw);
            d = dnnl_make(M, N, K, dnnl_u8, dnnl_s8, w8, 0.001f);
            line("dnnl u8s8", M, N, K, dnnl_time(&d), (double)nk, bw);
            free(x), free(y);
        }
        linear_release(&Wq);
        free(wf), free(wb), free(w8);
    }
    dnnl_stream_destroy(strm);
    dnnl_engine_destroy(eng);
    return 0;
}
