/* kernels/topk.h — keep the k best (score, row) pairs of a stream.
 *
 * A bounded min-heap keyed on score: h[0] is the worst entry kept, so a new
 * score is tested against it in O(1) and pushed in O(log k). Ties keep the
 * smaller row (deterministic results). The caller owns the array h (k
 * entries) and its length. Inline because it sits in the scan's inner loop.
 *
 *     topk_entry h[K]; int len = 0;
 *     for (r...) if (len < K || s[r] > h[0].s) topk_push(h, &len, K, s[r], r);
 *     qsort(h, len, sizeof *h, topk_entry_cmp_desc);   // best first
 */
#ifndef SEER_TOPK_H
#define SEER_TOPK_H

#include <stdint.h>

typedef struct { float s; int64_t r; } topk_entry;   /* score, row */

/* a is worse than b: lower score, or equal score and larger row */
static inline int topk_worse(topk_entry a, topk_entry b) { return a.s < b.s || (a.s == b.s && a.r > b.r); }

static inline void topk_push(topk_entry *h, int *len, int k, float s, int64_t r) {
    topk_entry e = {s, r};
    if (*len < k) {
        int i = (*len)++;
        while (i > 0) {
            int p = (i - 1) / 2;
            if (!topk_worse(e, h[p])) break;
            h[i] = h[p];
            i = p;
        }
        h[i] = e;
        return;
    }
    if (!topk_worse(h[0], e)) return;
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, c = l;
        if (l >= k) break;
        if (l + 1 < k && topk_worse(h[l + 1], h[l])) c = l + 1;
        if (!topk_worse(h[c], e)) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = e;
}

/* qsort comparator: best first (score descending, then row ascending). */
int topk_entry_cmp_desc(const void *a, const void *b);

#endif
