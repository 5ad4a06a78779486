/* kernels/rng.c — xorshift64* and Box-Muller (rng.h). */
#include "rng.h"

#include <math.h>

double rng_uniform(uint64_t *state) {
    uint64_t s = *state;
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    *state = s;
    return (double)((s * 2685821657736338717ULL) >> 11) * (1.0 / 9007199254740992.0);
}

float rng_normal(uint64_t *state) {
    double u0 = rng_uniform(state), u1 = rng_uniform(state);
    return (float)(sqrt(-2.0 * log(u0 + 1e-300)) * cos(6.283185307179586 * u1));
}
