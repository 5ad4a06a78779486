/* kernels/rng.h — the one pseudo-random generator of seer (xorshift64*):
 * random weights of the benchmark geometries and the samplers draw from it,
 * so a seed gives the same numbers everywhere.
 *
 * The state is the caller's (a uint64_t, never 0); no global state, so
 * reentrant as long as each thread has its own state.
 */
#ifndef SEER_RNG_H
#define SEER_RNG_H

#include <stdint.h>

/* Advance *state; a double in [0, 1) with 53 random bits. */
double rng_uniform(uint64_t *state);

/* A standard normal N(0, 1): Box-Muller over two rng_uniform draws. */
float rng_normal(uint64_t *state);

#endif
