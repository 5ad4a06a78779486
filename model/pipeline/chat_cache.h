/* model/pipeline/chat_cache.h — prepared images, shared by the chat
 * sessions of one chat model: per image (keyed by a 16-byte content hash) the
 * projected tower features and the KV rows of the prompt prefix up to and
 * including the image positions ("system USER: " + the image), so that
 * opening an image a second time costs a copy instead of the tower and a
 * ~600-position prefill (chat.h: chat_prepare).
 *
 *     chat_cache *cc;
 *     chat_cache_new((size_t)1024 << 20, &cc);          // memory budget
 *     chat_prepare(cs, cc, key, get_image, ctx, &cancel, NULL);
 *     ...
 *     chat_cache_free(cc);                              // after every session using it
 *
 * Eviction: least recently used first, when the entries' bytes (features +
 * prefix KV + ids) would pass the budget; an entry larger than the whole
 * budget is not kept (budget 0: nothing is kept, preparation still works
 * per session). An evicted entry that a session is copying from right now is
 * freed when that copy ends.
 *
 * One preparation per key at a time: chat_cache_acquire hands the key to the
 * first caller (claimed) and makes the others wait until it is filled or
 * abandoned, so a question that arrives while its image is being prepared
 * waits for that work and never redoes it.
 *
 * Thread-safety: every function may be called from any thread (one mutex).
 * Ownership: the cache owns its entries; chat_cache_free must run after
 * every acquire has been released and no claim is outstanding.
 */
#ifndef SEER_CHAT_CACHE_H
#define SEER_CHAT_CACHE_H

#include "lm.h"

#include <stddef.h>
#include <stdint.h>

typedef struct chat_cache chat_cache;

typedef struct {
    size_t budget, bytes;            /* bytes allowed, held now */
    int entries, preparing;          /* ready entries, claims in progress */
    unsigned long long hits;         /* acquires that found a ready entry */
    unsigned long long claims;       /* acquires that had to prepare (one tower run each) */
    unsigned long long waits;        /* acquires that waited for another's preparation */
    unsigned long long evictions;    /* entries dropped for the budget */
    unsigned long long abandoned;    /* claims given up (failure, cancel) */
} chat_cache_stats;

/* budget_bytes may be 0 (keep nothing). ST_NOMEM. */
int  chat_cache_new(size_t budget_bytes, chat_cache **out);
void chat_cache_free(chat_cache *cc);   /* NULL is fine */
void chat_cache_stats_get(chat_cache *cc, chat_cache_stats *out);

/* ---- for model/pipeline/chat.c ---- */

/* What one prepared image holds. All owned by the entry once filled. */
typedef struct {
    float    *feats;      /* (n_img, hidden) projected image features */
    size_t    n_feats;    /* floats */
    int32_t  *ids;        /* (n_ids) the prefix prompt ids, CHAT_IMAGE_TOKEN for the image; NULL: features only */
    int       n_ids;
    lm_state *kv;         /* holds exactly the prefix's positions; NULL with ids */
    uint32_t *img_counts; /* (n_counts) router counts of the image tokens */
    size_t    n_counts;
} chat_prepared;

void chat_prepared_release(chat_prepared *p);

typedef struct chat_cache_entry chat_cache_entry;

/* The entry for key: *e (ready, read-only; give it back with
 * chat_cache_release) and *claimed = 0; or, when nobody has it, *e = NULL and
 * *claimed = 1: the caller prepares it and must end the claim with
 * chat_cache_fill or chat_cache_abandon. While another caller prepares the
 * key this waits; ST_CANCELLED when *cancel (may be NULL) becomes nonzero
 * meanwhile (checked every 50 ms). */
int  chat_cache_acquire(chat_cache *cc, const uint8_t key[16], const volatile int *cancel, chat_cache_entry **e,
                        int *claimed);
const chat_prepared *chat_cache_entry_data(const chat_cache_entry *e);
void chat_cache_release(chat_cache *cc, chat_cache_entry *e);
/* End a claim with its result: *p moves into the cache (p is emptied; freed
 * at once when bytes exceed the budget), evicting the least recently used
 * entries to stay within it. Waiters wake. */
void chat_cache_fill(chat_cache *cc, const uint8_t key[16], chat_prepared *p, size_t bytes);
/* End a claim without a result; a waiter then claims the key itself. */
void chat_cache_abandon(chat_cache *cc, const uint8_t key[16]);

#endif
