/* tools/version.c — `seer --version`. */
#include "version.h"

void version_print(FILE *f) {
    fprintf(f, "seer %s\n", SEER_VERSION);
    fprintf(f, "commit: %s\n", seer_git_commit);
    /* SIMD paths: the compile flags decide which kernels exist (SEER_SIMD,
     * SEER_NATIVE); without them the scalar fallbacks run. */
    fprintf(f, "simd:");
    int any = 0;
#ifdef __AVX512F__
    fprintf(f, " avx512f"), any = 1;
#endif
#ifdef __AVX2__
    fprintf(f, " avx2"), any = 1;
#endif
#ifdef __FMA__
    fprintf(f, " fma"), any = 1;
#endif
#ifdef __F16C__
    fprintf(f, " f16c"), any = 1;
#endif
#ifdef __SSE4_1__
    fprintf(f, " sse4.1"), any = 1;
#endif
    fprintf(f, "%s\n", any ? "" : " none (scalar code paths)");
    fprintf(f, "sanitizers:");
#if defined(__SANITIZE_ADDRESS__)
    fprintf(f, " address+undefined\n");
#else
    fprintf(f, " none\n");
#endif
}
