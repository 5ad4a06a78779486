/* index/catalog.h — what filters and listings need of every stored image,
 * held in memory: id, date taken, when added, primary path, camera, format.
 *
 *     catalog *cat;
 *     if (catalog_load(st, &cat)) die(status_message());
 *     uint64_t *ids; size_t n;
 *     if (catalog_filter(cat, &f, &ids, &n)) die(...);   // the allowed ids, increasing
 *     ...
 *     free(ids);
 *     catalog_free(cat);
 *
 * Built from one pass over the store (its paths, then each image's record)
 * and tagged with the store generation it reflects: an owner that reloads
 * its index when the generation moves (seer serve) reloads the catalog with
 * it. Also holds the store's ingested roots, against which a relative
 * folder= filter is resolved. About 100 bytes + the path per image.
 *
 * Ownership: a catalog owns copies of everything; it keeps no reference to
 * the store. Thread-safety: read-only after catalog_load; any number of
 * threads may read one at once.
 */
#ifndef SEER_CATALOG_H
#define SEER_CATALOG_H

#include "filter.h"
#include "store.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t    id;
    int64_t     added_ns;                  /* when the content was first committed */
    char        taken[20];                 /* local "YYYY-MM-DDTHH:MM:SS", "" when none */
    char        format[STORE_FORMAT_MAX];
    const char *path;                      /* primary path (owned by the catalog) */
    const char *camera;                    /* filter_camera(make, model) (owned by the catalog) */
} catalog_entry;

typedef struct catalog catalog;

/* Read every image's record. ST_NOMEM, or the store's errors. */
int  catalog_load(store *st, catalog **out);
void catalog_free(catalog *cat);

uint64_t catalog_generation(const catalog *cat);
/* The entries, in increasing id order; *n gets their count. */
const catalog_entry *catalog_entries(const catalog *cat, size_t *n);
/* The entry of id, or NULL. O(log n). */
const catalog_entry *catalog_find(const catalog *cat, uint64_t id);

/* The ids of the images f keeps, increasing, as a malloc'd array (caller
 * frees; NULL when *n is 0). */
int  catalog_filter(const catalog *cat, const filter *f, uint64_t **ids, size_t *n);

/* 1 when f keeps e. */
int  catalog_match(const catalog *cat, const filter *f, const catalog_entry *e);

#endif
