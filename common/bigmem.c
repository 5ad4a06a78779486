/* common/bigmem.c — see bigmem.h. */
#include "bigmem.h"

#include <stdlib.h>
#include <sys/mman.h>

#define BIGMEM_ALIGN ((size_t)2 << 20)

void *bigmem_alloc(size_t bytes) {
    if (bytes < BIGMEM_ALIGN) return malloc(bytes ? bytes : 1);
    void *p = NULL;
    if (posix_memalign(&p, BIGMEM_ALIGN, bytes) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, bytes, MADV_HUGEPAGE);   /* a hint: refused or ignored is fine */
#endif
    return p;
}
