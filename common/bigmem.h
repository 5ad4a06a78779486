/* common/bigmem.h — allocations of many megabytes that are streamed through
 * (quantised weights, the KV cache): aligned to 2 MiB and marked for
 * transparent huge pages (madvise MADV_HUGEPAGE), which the kernel honours
 * when THP is in "madvise" or "always" mode and ignores otherwise. With 4 KiB
 * pages a weight stream crosses a page every 4 KiB, where hardware
 * prefetchers stop; with 2 MiB pages the decode GEMV reads measurably closer
 * to the read bandwidth (docs/benchmarks.md).
 *
 * bigmem_alloc returns NULL when out of memory; release with free(). Memory
 * is not zeroed. Below 2 MiB it is plain malloc. Thread-safe.
 */
#ifndef SEER_BIGMEM_H
#define SEER_BIGMEM_H

#include <stddef.h>

void *bigmem_alloc(size_t bytes);

#endif
