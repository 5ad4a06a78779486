/* kernels/scan.h — the one-query exact-scan kernel.
 *
 * scan_dot_rows: out[r] = M[r, :] . q for r in [0, rows). M is row-major
 * (rows x dim), q (dim), out (rows); no alignment needed. Four rows share each
 * load of q; with AVX2+FMA and dim % 8 == 0 it streams M at memory speed,
 * otherwise a scalar loop runs. Thread-safe (no state).
 */
#ifndef SEER_SCAN_H
#define SEER_SCAN_H

void scan_dot_rows(const float *M, int rows, int dim, const float *q, float *out);

/* scan_group_max: out[i] = max(s[i*g .. i*g + g)) for i in [0, groups): the
 * score of an image with g vectors (BLIP-2's max over query tokens). out may
 * be s (in place: out[i] is written after s[i*g..] is read). g >= 1. */
void scan_group_max(const float *s, int groups, int g, float *out);

#endif
