/* index/browse.c — see browse.h. Filter (one pass over the catalog), sort
 * the kept entries' indices with qsort_r, copy out one page. */
#include "browse.h"
#include "status.h"

#include <stdlib.h>
#include <string.h>

browse_query browse_query_default(void) {
    browse_query q = {.sort = BROWSE_TAKEN, .desc = 1, .offset = 0, .limit = 50};
    filter_init(&q.filter);
    return q;
}

int browse_parse_sort(const char *s, browse_sort *out) {
    if (!strcmp(s, "taken")) *out = BROWSE_TAKEN;
    else if (!strcmp(s, "added")) *out = BROWSE_ADDED;
    else if (!strcmp(s, "path")) *out = BROWSE_PATH;
    else return status_fail(ST_ARG, "sort must be taken, added or path, got '%.20s'", s);
    return ST_OK;
}

int browse_parse_order(const char *s, int *desc) {
    if (!strcmp(s, "asc")) *desc = 0;
    else if (!strcmp(s, "desc")) *desc = 1;
    else return status_fail(ST_ARG, "order must be asc or desc, got '%.20s'", s);
    return ST_OK;
}

typedef struct {
    const catalog_entry *e;
    browse_sort sort;
    int desc;
} order_ctx;

static int cmp_entries(const void *a, const void *b, void *arg) {
    const order_ctx *o = arg;
    const catalog_entry *x = &o->e[*(const size_t *)a], *y = &o->e[*(const size_t *)b];
    int c = 0;
    if (o->sort == BROWSE_TAKEN) {
        int xn = !x->taken[0], yn = !y->taken[0];
        if (xn != yn) return xn - yn;          /* undated last, whatever the order */
        c = strcmp(x->taken, y->taken);
    } else if (o->sort == BROWSE_ADDED) {
        c = x->added_ns < y->added_ns ? -1 : x->added_ns > y->added_ns;
    } else {
        c = strcmp(x->path, y->path);
    }
    if (!c) c = x->id < y->id ? -1 : x->id > y->id;
    return o->desc ? -c : c;
}

int browse_run(const catalog *cat, const browse_query *q, browse_result *out) {
    memset(out, 0, sizeof *out);
    if (q->limit < 1 || q->limit > BROWSE_LIMIT_MAX)
        return status_fail(ST_ARG, "limit must be from 1 to %d, got %zu", BROWSE_LIMIT_MAX, q->limit);
    size_t n;
    const catalog_entry *e = catalog_entries(cat, &n);
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    if (!idx) return status_fail(ST_NOMEM, "browse: out of memory");
    size_t m = 0;
    int any = filter_active(&q->filter);
    for (size_t i = 0; i < n; i++)
        if (!any || catalog_match(cat, &q->filter, &e[i])) idx[m++] = i;
    order_ctx o = {e, q->sort, q->desc};
    qsort_r(idx, m, sizeof *idx, cmp_entries, &o);
    out->total = m;
    size_t from = q->offset < m ? (size_t)q->offset : m;
    size_t cnt = m - from < q->limit ? m - from : q->limit;
    if (cnt) {
        out->ids = malloc(cnt * sizeof *out->ids);
        if (!out->ids) { free(idx); return status_fail(ST_NOMEM, "browse: out of memory"); }
        for (size_t i = 0; i < cnt; i++) out->ids[i] = e[idx[from + i]].id;
    }
    out->n = cnt;
    free(idx);
    return ST_OK;
}

void browse_result_release(browse_result *r) {
    if (!r) return;
    free(r->ids);
    memset(r, 0, sizeof *r);
}
