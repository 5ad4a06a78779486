/* kernels/topk.c — see topk.h. */
#include "topk.h"

int topk_entry_cmp_desc(const void *a, const void *b) {
    const topk_entry *x = a, *y = b;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    return x->r < y->r ? -1 : x->r > y->r;
}
