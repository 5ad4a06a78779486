/* index/browse.h — one page of the library listing: the images a filter
 * keeps, sorted by date taken, date added or path, from an offset.
 *
 *     browse_query q = browse_query_default();       // taken, newest first, 0, 50
 *     filter_set(&q.filter, "camera", "pixel");
 *     browse_result r;
 *     if (browse_run(cat, &q, &r)) die(status_message());
 *     printf("%llu match\n", r.total);
 *     for (size_t i = 0; i < r.n; i++) show(catalog_find(cat, r.ids[i]));
 *     browse_result_release(&r);
 *
 * Order: by the sort key, then by id (so pages never overlap or skip: every
 * id appears exactly once across the pages of one catalog). Sorting by
 * taken, images without a date come after every dated one, in either order.
 *
 * Ownership: a browse_result owns its ids. Thread-safety: reentrant over a
 * shared catalog.
 */
#ifndef SEER_BROWSE_H
#define SEER_BROWSE_H

#include "catalog.h"
#include "filter.h"

#include <stddef.h>
#include <stdint.h>

typedef enum { BROWSE_TAKEN = 0, BROWSE_ADDED = 1, BROWSE_PATH = 2 } browse_sort;

#define BROWSE_LIMIT_MAX 1000   /* most images on one page */

typedef struct {
    browse_sort sort;
    int         desc;        /* 1: descending (newest / last path first) */
    uint64_t    offset;
    size_t      limit;       /* 1..BROWSE_LIMIT_MAX */
    filter      filter;
} browse_query;

typedef struct {
    uint64_t  total;         /* images the filter keeps */
    size_t    n;             /* on this page */
    uint64_t *ids;           /* (n) malloc'd */
} browse_result;

/* {BROWSE_TAKEN, desc, 0, 50, no filter}. */
browse_query browse_query_default(void);
/* "taken" | "added" | "path"; "asc" | "desc". ST_ARG naming the choices. */
int  browse_parse_sort(const char *s, browse_sort *out);
int  browse_parse_order(const char *s, int *desc);

/* ST_ARG for a limit outside 1..BROWSE_LIMIT_MAX; ST_NOMEM. */
int  browse_run(const catalog *cat, const browse_query *q, browse_result *out);
void browse_result_release(browse_result *r);

#endif
