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

#endif
