/* kernels/half.h — IEEE binary16 and bfloat16 <-> binary32.
 *
 * Scalar conversions (subnormals, inf and NaN handled; float32 -> half rounds
 * to nearest even) and bulk widening of n packed values, which may be
 * unaligned. Pure functions, thread-safe.
 */
#ifndef SEER_HALF_H
#define SEER_HALF_H

#include <stddef.h>
#include <stdint.h>

/* IEEE binary16 <-> binary32 (subnormals, inf and NaN handled; a NaN half
 * widens to a quiet NaN with its sign and payload, as F16C does). */
float    f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);                   /* round to nearest even */
/* bfloat16 <-> binary32. */
static inline float bf16_to_f32(uint16_t b) {
    union { uint32_t u; float f; } v = { (uint32_t)b << 16 };
    return v.f;
}
uint16_t f32_to_bf16(float f);                  /* round to nearest even */

/* Widen n packed F16 / BF16 values at src (any alignment) into dst (n). */
void f16_to_f32_n(float *dst, const void *src, size_t n);
void bf16_to_f32_n(float *dst, const void *src, size_t n);
/* Narrow n floats to packed F16 at dst (any alignment), round to nearest
 * even: the same bits as f32_to_f16 on each value (F16C's vcvtps2ph when the
 * compiler targets it). */
void f32_to_f16_n(void *dst, const float *src, size_t n);

#endif
