/* model/pipeline/chat_cache.c — see chat_cache.h.
 *
 * A list of entries under one mutex. An entry is PREPARING from the claim to
 * fill/abandon (no data), then READY. refs counts the acquires holding it; an
 * entry evicted while refs > 0 is unlinked (no longer found) and freed by the
 * last release. bytes counts only linked READY entries.
 */
#include "chat_cache.h"

#include "status.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { PREPARING, READY };

struct chat_cache_entry {
    uint8_t key[16];
    int state, linked, refs;
    uint64_t last;              /* LRU tick */
    size_t bytes;
    chat_prepared p;
    struct chat_cache_entry *next;
};

struct chat_cache {
    pthread_mutex_t mu;
    pthread_cond_t cv;          /* a claim ended */
    chat_cache_entry *head;
    uint64_t tick;
    chat_cache_stats st;
};

void chat_prepared_release(chat_prepared *p) {
    free(p->feats);
    free(p->ids);
    lm_state_free(p->kv);
    free(p->img_counts);
    memset(p, 0, sizeof *p);
}

int chat_cache_new(size_t budget_bytes, chat_cache **out) {
    chat_cache *cc = calloc(1, sizeof *cc);
    *out = NULL;
    if (!cc) return status_fail(ST_NOMEM, "chat cache: out of memory");
    pthread_mutex_init(&cc->mu, NULL);
    pthread_cond_init(&cc->cv, NULL);
    cc->st.budget = budget_bytes;
    *out = cc;
    return ST_OK;
}

static void entry_free(chat_cache_entry *e) {
    chat_prepared_release(&e->p);
    free(e);
}

void chat_cache_free(chat_cache *cc) {
    if (!cc) return;
    for (chat_cache_entry *e = cc->head, *n; e; e = n) {
        n = e->next;
        entry_free(e);
    }
    pthread_mutex_destroy(&cc->mu);
    pthread_cond_destroy(&cc->cv);
    free(cc);
}

void chat_cache_stats_get(chat_cache *cc, chat_cache_stats *out) {
    pthread_mutex_lock(&cc->mu);
    *out = cc->st;
    pthread_mutex_unlock(&cc->mu);
}

static chat_cache_entry *find(chat_cache *cc, const uint8_t key[16]) {
    for (chat_cache_entry *e = cc->head; e; e = e->next)
        if (!memcmp(e->key, key, 16)) return e;
    return NULL;
}

/* Take e off the list (under mu); freed now unless someone holds it. */
static void unlink_entry(chat_cache *cc, chat_cache_entry *e) {
    for (chat_cache_entry **p = &cc->head; *p; p = &(*p)->next)
        if (*p == e) {
            *p = e->next;
            break;
        }
    e->linked = 0;
    if (e->state == READY) {
        cc->st.bytes -= e->bytes;
        cc->st.entries--;
    } else {
        cc->st.preparing--;
    }
    if (!e->refs) entry_free(e);
}

int chat_cache_acquire(chat_cache *cc, const uint8_t key[16], const volatile int *cancel, chat_cache_entry **e,
                       int *claimed) {
    *e = NULL;
    *claimed = 0;
    pthread_mutex_lock(&cc->mu);
    int waited = 0;
    for (;;) {
        chat_cache_entry *x = find(cc, key);
        if (x && x->state == READY) {
            x->refs++;
            x->last = ++cc->tick;
            cc->st.hits++;
            *e = x;
            break;
        }
        if (!x) {
            x = calloc(1, sizeof *x);
            if (!x) {
                pthread_mutex_unlock(&cc->mu);
                return status_fail(ST_NOMEM, "chat cache: out of memory");
            }
            memcpy(x->key, key, 16);
            x->state = PREPARING;
            x->linked = 1;
            x->next = cc->head;
            cc->head = x;
            cc->st.preparing++;
            cc->st.claims++;
            *claimed = 1;
            break;
        }
        /* someone prepares it: wait for the fill or the abandon */
        if (!waited) cc->st.waits++, waited = 1;
        if (cancel && *cancel) {
            pthread_mutex_unlock(&cc->mu);
            return status_fail(ST_CANCELLED, "chat: cancelled while waiting for the image's preparation");
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 50 * 1000000L;
        if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&cc->cv, &cc->mu, &until);
    }
    pthread_mutex_unlock(&cc->mu);
    return ST_OK;
}

const chat_prepared *chat_cache_entry_data(const chat_cache_entry *e) { return &e->p; }

void chat_cache_release(chat_cache *cc, chat_cache_entry *e) {
    if (!e) return;
    pthread_mutex_lock(&cc->mu);
    if (--e->refs == 0 && !e->linked) entry_free(e);
    pthread_mutex_unlock(&cc->mu);
}

/* the claim's entry (PREPARING, linked) */
static chat_cache_entry *claim_of(chat_cache *cc, const uint8_t key[16]) {
    chat_cache_entry *x = find(cc, key);
    return x && x->state == PREPARING ? x : NULL;
}

void chat_cache_fill(chat_cache *cc, const uint8_t key[16], chat_prepared *p, size_t bytes) {
    pthread_mutex_lock(&cc->mu);
    chat_cache_entry *x = claim_of(cc, key);
    if (x && bytes <= cc->st.budget) {
        /* make room: least recently used READY entries first */
        while (cc->st.bytes + bytes > cc->st.budget) {
            chat_cache_entry *lru = NULL;
            for (chat_cache_entry *e = cc->head; e; e = e->next)
                if (e->state == READY && (!lru || e->last < lru->last)) lru = e;
            if (!lru) break;
            unlink_entry(cc, lru);
            cc->st.evictions++;
        }
        x->p = *p;
        memset(p, 0, sizeof *p);
        x->bytes = bytes;
        x->state = READY;
        x->last = ++cc->tick;
        cc->st.preparing--;
        cc->st.entries++;
        cc->st.bytes += bytes;
    } else if (x) {   /* larger than the whole budget: not kept */
        unlink_entry(cc, x);
        cc->st.evictions++;
    }
    pthread_cond_broadcast(&cc->cv);
    pthread_mutex_unlock(&cc->mu);
    chat_prepared_release(p);   /* what was not taken */
}

void chat_cache_abandon(chat_cache *cc, const uint8_t key[16]) {
    pthread_mutex_lock(&cc->mu);
    chat_cache_entry *x = claim_of(cc, key);
    if (x) {
        unlink_entry(cc, x);
        cc->st.abandoned++;
    }
    pthread_cond_broadcast(&cc->cv);
    pthread_mutex_unlock(&cc->mu);
}
