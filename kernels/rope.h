/* kernels/rope.h — rotary position embeddings, NeoX "rotate_half" form on
 * the first r dims of each head (docs/model-spec.md §B4):
 *
 *   inv_freq_i = 1 / base^(2i / r)  (i < r/2),  θ_i = pos · inv_freq_i
 *   x'[i]       = x[i] cos θ_i − x[i + r/2] sin θ_i
 *   x'[i + r/2] = x[i + r/2] cos θ_i + x[i] sin θ_i
 *
 * Dims r..head_dim-1 pass through. inv_freq and θ are rounded to float32 the
 * way the upstream RotaryEmbedding caches compute them (float32 arange,
 * pow, outer product), so long positions agree with the reference too.
 * Pure functions; thread-safe.
 */
#ifndef SEER_ROPE_H
#define SEER_ROPE_H

/* cs (T, r): for position pos0 + t, row t holds cos θ_0..θ_{r/2-1} then
 * sin θ_0..θ_{r/2-1}. r must be even. */
void rope_table(float *cs, int pos0, int T, int r, float base);

/* x (T rows, row stride ld), each row n_heads heads of head_dim floats:
 * rotate the first r dims of every head with the table of rope_table. */
void rope_apply(float *x, int ld, int T, int n_heads, int head_dim, int r, const float *cs);

#endif
