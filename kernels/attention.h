/* kernels/attention.h — scaled dot-product attention, float32.
 *
 * Layout: q (Tq, H*dh), k and v (Tk, H*dh), each with its own row stride, so
 * a fused qkv buffer (T, 3D) is passed as q = qkv, k = qkv + D, v = qkv + 2D
 * with ld = 3D. out (Tq, H*dh; ldo). Softmax in float32.
 * Causal: query i (0-based among the Tq) sees keys j <= i + (Tk - Tq), which
 * is the KV-cache convention (the queries are the last Tq positions).
 */
#ifndef SEER_ATTENTION_H
#define SEER_ATTENTION_H

#include <stdint.h>

typedef struct {
    int   Tq, Tk;     /* query rows, key rows */
    int   H, dh;      /* heads, head dim */
    int   ldq, ldk, ldv, ldo;
    float scale;      /* usually 1/sqrt(dh) */
    int   causal;
} attention_shape;

/* One sequence, all heads. Parallel over heads (OpenMP) when not already
 * inside a parallel region. Returns ST_NOMEM if scratch cannot be had. */
int attention_forward(const attention_shape *s, float *out, const float *q, const float *k, const float *v);

/* attention_forward with k and v in IEEE half (uint16_t; ldk, ldv counted
 * in halves), as an F16 KV cache holds them: each head's K and V rows are
 * widened to float32 into per-thread scratch (2·Tk·dh floats) and the float32
 * path runs on them, so the result is attention_forward's on the widened
 * values, bit for bit. */
int attention_forward_f16kv(const attention_shape *s, float *out, const float *q, const uint16_t *k,
                            const uint16_t *v);

/* B independent sequences laid out back to back (sequence b's rows start at
 * b*Tq for q/out and b*Tk for k/v). Parallel over (sequence, head). */
int attention_batch(const attention_shape *s, int B, float *out, const float *q, const float *k,
                    const float *v);

#endif
