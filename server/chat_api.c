/* server/chat_api.c — the chat and feedback endpoints (contract: docs/api.md):
 *
 *   POST /api/chat                 a question about an image → server-sent events
 *   POST /api/chat/prepare         prepare an image before the question → 202
 *   POST /api/chat/{rid}/stop      stop a running answer (or preparation)
 *   POST /api/chat/prepare/{pid}/stop  stop a preparation (200 also when it has ended)
 *   POST /api/feedback             record a vote on an answer (store feedback table)
 *   GET  /api/feedback?limit=N     the latest votes, newest first
 *
 * Statelessness: the client sends the whole conversation each time
 * (messages: user, assistant, ..., user). The server keeps, per chat
 * worker, a small LRU of chat sessions keyed by the image's content hash (the
 * store's hash for a stored id, the same hash of an upload), so an image's
 * vision features are computed once and a follow-up whose conversation
 * extends the cached one only runs its new tokens (chat_set_history keeps the
 * KV cache; chat.c reuses the longest common prefix).
 *
 * Threads: the request thread (civetweb, small stack) validates everything
 * and answers 4xx / 503 as plain JSON; then queue_run blocks it while a chat
 * worker (16 MiB stack) runs the job: the worker writes the SSE response on
 * the connection (the request thread is blocked, so one thread uses it at a
 * time). A slot (struct chat_slot) is taken by the worker for the job: there
 * are as many slots as workers, so one is always free. A failed write
 * (client gone) or a stop request cancels the generation through gen_opts
 * (on_text returns nonzero / the cancel flag); the worker then returns and
 * the pool has a free worker again. The disconnect is noticed on the next
 * write after it, so a request that finds the pool full waits up to
 * CHAT_ADMIT_WAIT_MS for a place before the 503. Beam search writes only at
 * the end: its disconnects are noticed then (the stop endpoint still works).
 *
 * Preparation (chat.h chat_prepare, chat_cache.h): every session an answer
 * takes goes through chat_prepare with the server's prepared-image cache, so
 * an image's tower features and the KV rows of the prompt up to the image are
 * computed once and copied into any worker's session later. POST
 * /api/chat/prepare queues the same work (queue_post: it answers 202 at once)
 * on the chat pool, as one job under the pool's rules; the page calls it as
 * soon as an image opens. A question that arrives meanwhile either waits in
 * the queue behind it (one worker) and then finds the prepared session, or
 * runs on another worker and waits in chat_cache_acquire for the same key:
 * the tower runs once. A preparation is on s->active from its post (queued
 * or running): /stop with the prepare id cancels it (checked between
 * layers); server_stop cancels it like an answer.
 *
 * Ownership: slots and sessions belong to the server (chat_api_stop frees
 * them after civetweb has stopped); a chat_req lives on the job (the request
 * thread's stack) and is on s->active while the worker runs it.
 */
#include "server_impl.h"

#include "jsonx.h"
#include "log.h"
#include "router_stats.h"
#include "status.h"
#include "timer.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#define CHAT_BODY_MAX     (256 << 10)  /* bytes of a JSON chat / feedback body (escapes included) */
#define CHAT_MAX_TURNS    64           /* messages in a conversation */
#define CHAT_MAX_TEXT     (32 << 10)   /* bytes of all message contents together */
#define CHAT_MAX_TOKENS   1024
#define CHAT_MAX_BEAMS    4
#define CHAT_MAX_SYSTEM   4096         /* bytes of a system prompt */
#define CHAT_ADMIT_WAIT_MS 250        /* a full chat queue: wait this long for a place before 503 */
#define FEEDBACK_COMMENT_MAX 2000
#define FEEDBACK_LIST_MAX 1000
#define FEEDBACK_RECORD_MAX (64 << 10)  /* bytes of one stored record (413 above) */

typedef struct {
    uint8_t       key[16];    /* image content hash */
    int           used;       /* the session holds this key's image */
    uint64_t      last;       /* LRU tick */
    chat_session *cs;
} chat_entry;

struct chat_slot {
    int         in_use;       /* under chat_mu */
    uint64_t    tick;
    chat_entry *e;            /* o.chat_sessions entries */
};

/* ---------------------------------------------------------------- lifecycle */

int chat_api_start(server *s) {
    chat_load_opts lo = chat_load_opts_default();
    lo.vision_tower = s->o.vision_tower;
    lo.models_root = s->o.models_root;
    lo.max_ctx = s->o.chat_max_ctx;
    if (s->o.chat_quant_q8) lo.lm.quant = LM_QUANT_Q8;
    lo.lm.kv_f16 = s->o.chat_kv_f16;
    int rc = chat_model_load(s->o.chat_model, &lo, &s->cm);
    if (rc) return status_wrap(rc, "--chat-model %s", s->o.chat_model);
    if ((rc = chat_cache_new((size_t)s->o.chat_cache_mb << 20, &s->chat_cache))) return rc;
    s->slots = calloc((size_t)s->o.chat_workers, sizeof *s->slots);
    if (!s->slots) return status_fail(ST_NOMEM, "out of memory");
    for (int i = 0; i < s->o.chat_workers; i++)
        if (!(s->slots[i].e = calloc((size_t)s->o.chat_sessions, sizeof(chat_entry))))
            return status_fail(ST_NOMEM, "out of memory");
    return queue_new(s->o.chat_workers, s->o.chat_waiting, &s->chat_q);
}

void chat_api_stop(server *s) {
    queue_free(s->chat_q);
    s->chat_q = NULL;
    for (int i = 0; s->slots && i < s->o.chat_workers; i++) {
        for (int k = 0; s->slots[i].e && k < s->o.chat_sessions; k++) chat_session_free(s->slots[i].e[k].cs);
        free(s->slots[i].e);
    }
    free(s->slots);
    s->slots = NULL;
    chat_cache_free(s->chat_cache);
    s->chat_cache = NULL;
    chat_model_free(s->cm);
    s->cm = NULL;
}

void chat_api_cancel_all(server *s) {
    pthread_mutex_lock(&s->chat_mu);
    s->chat_stopping = 1;
    for (struct chat_req *r = s->active; r; r = r->next) r->cancel = 1;
    pthread_mutex_unlock(&s->chat_mu);
}

json_t *chat_api_stats(server *s) {
    if (!s->cm) return json_false();
    queue_stats q;
    queue_stats_get(s->chat_q, &q);
    int cached = 0;
    pthread_mutex_lock(&s->chat_mu);
    for (int i = 0; i < s->o.chat_workers; i++)
        for (int k = 0; k < s->o.chat_sessions; k++) cached += s->slots[i].e[k].used;
    pthread_mutex_unlock(&s->chat_mu);
    chat_cache_stats cst;
    chat_cache_stats_get(s->chat_cache, &cst);
    json_t *prep = json_pack("{s:I, s:I, s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "budget_bytes",
                             (json_int_t)cst.budget, "bytes", (json_int_t)cst.bytes, "images", cst.entries,
                             "preparing", cst.preparing, "hits", (json_int_t)cst.hits, "tower_runs",
                             (json_int_t)cst.claims, "waits", (json_int_t)cst.waits, "evictions",
                             (json_int_t)cst.evictions, "abandoned", (json_int_t)cst.abandoned, "requests",
                             (json_int_t)atomic_load(&s->n_prepares), "failed",
                             (json_int_t)atomic_load(&s->n_prepare_failed));
    return json_pack("{s:s, s:i, s:i, s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:i, s:i, s:I, s:o}", "model",
                     chat_model_identity(s->cm), "workers", q.workers, "running", q.running, "waiting", q.pending,
                     "max_waiting", q.max_pending, "served", (json_int_t)q.served, "rejected", (json_int_t)q.rejected,
                     "answers", (json_int_t)atomic_load(&s->n_chats), "cancelled",
                     (json_int_t)atomic_load(&s->n_chat_cancelled), "disconnects",
                     (json_int_t)atomic_load(&s->n_chat_disconnects), "sessions_per_worker", s->o.chat_sessions,
                     "sessions_cached", cached, "feedback", (json_int_t)atomic_load(&s->n_feedback), "prepared",
                     prep ? prep : json_null());
}

/* ---------------------------------------------------------------- validation */

/* messages → questions / answers of the complete turns and the last
 * question. want_last: "user" (a chat request) or "assistant" (a vote on
 * the last answer). Pointers borrow from the JSON. 0 or -1 with err set. */
typedef struct {
    const char **q, **a;
    int n_hist;           /* complete turns before the last question (chat) */
    const char *last;     /* the last message's content */
} conversation;

static int parse_messages(json_t *m, const char *want_last, conversation *cv, char *err, size_t ecap) {
    memset(cv, 0, sizeof *cv);
    if (!json_is_array(m)) return snprintf(err, ecap, "\"messages\" must be an array of {\"role\", \"content\"}"), -1;
    size_t n = json_array_size(m);
    if (n == 0) return snprintf(err, ecap, "\"messages\" is empty: give at least one user message"), -1;
    if (n > CHAT_MAX_TURNS)
        return snprintf(err, ecap, "\"messages\" has %zu entries; at most %d (start a new conversation)", n,
                        CHAT_MAX_TURNS), -1;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(m, i), *r = json_object_get(e, "role"), *c = json_object_get(e, "content");
        const char *want = i % 2 ? "assistant" : "user";
        if (!json_is_object(e) || !json_is_string(r) || !json_is_string(c))
            return snprintf(err, ecap, "messages[%zu] must be {\"role\": \"user\"|\"assistant\", \"content\": a string}",
                            i), -1;
        if (strcmp(json_string_value(r), want))
            return snprintf(err, ecap, "messages[%zu]: role \"%.20s\" where \"%s\" was expected (the conversation "
                            "alternates user, assistant, ..., starting with user)", i, json_string_value(r), want), -1;
        size_t len = json_string_length(c);
        if (strlen(json_string_value(c)) != len) return snprintf(err, ecap, "messages[%zu]: content contains a NUL", i), -1;
        if (!(i % 2)) {
            size_t k = 0;
            const char *t = json_string_value(c);
            while (k < len && isspace((unsigned char)t[k])) k++;
            if (k == len) return snprintf(err, ecap, "messages[%zu]: empty question", i), -1;
        }
        total += len;
    }
    if (total > CHAT_MAX_TEXT)
        return snprintf(err, ecap, "the messages hold %zu bytes of text; at most %d", total, CHAT_MAX_TEXT), -1;
    const char *last_role = (n - 1) % 2 ? "assistant" : "user";
    if (strcmp(last_role, want_last))
        return snprintf(err, ecap, "the last message must be the %s's (%s)", want_last,
                        !strcmp(want_last, "user") ? "the question to answer" : "the answer voted on"), -1;
    int turns = (int)(n / 2);
    cv->q = calloc((size_t)turns + 1, sizeof *cv->q);
    cv->a = calloc((size_t)turns + 1, sizeof *cv->a);
    if (!cv->q || !cv->a) {
        free(cv->q), free(cv->a);
        return snprintf(err, ecap, "out of memory"), -1;
    }
    for (int t = 0; t < turns; t++) {
        cv->q[t] = json_string_value(json_object_get(json_array_get(m, 2 * (size_t)t), "content"));
        cv->a[t] = json_string_value(json_object_get(json_array_get(m, 2 * (size_t)t + 1), "content"));
    }
    cv->n_hist = turns;
    cv->last = json_string_value(json_object_get(json_array_get(m, n - 1), "content"));
    return 0;
}

static void conversation_free(conversation *cv) { free(cv->q), free(cv->a); }

/* image_id: a positive JSON integer or a decimal string. 0 absent, 1 given, -1 bad. */
static int parse_image_id(json_t *v, uint64_t *id) {
    if (!v || json_is_null(v)) return 0;
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        *id = (uint64_t)json_integer_value(v);
        return 1;
    }
    if (json_is_string(v) && !api_parse_id(json_string_value(v), json_string_length(v), id)) return 1;
    return -1;
}

/* A number field in [lo, hi] (open at lo when lo_open); absent → def. */
static int num_field(json_t *o, const char *name, double lo, int lo_open, double hi, double def, double *out,
                     char *err, size_t ecap) {
    json_t *v = json_object_get(o, name);
    *out = def;
    if (!v || json_is_null(v)) return 0;
    double x = json_is_number(v) ? json_number_value(v) : -1e300;
    if (!json_is_number(v) || x > hi || (lo_open ? x <= lo : x < lo)) {
        snprintf(err, ecap, "\"%s\" must be a number in %s%g, %g]", name, lo_open ? "(" : "[", lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

static int int_field(json_t *o, const char *name, long lo, long hi, long def, long *out, char *err, size_t ecap) {
    json_t *v = json_object_get(o, name);
    *out = def;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        snprintf(err, ecap, "\"%s\" must be an integer from %ld to %ld", name, lo, hi);
        return -1;
    }
    *out = (long)json_integer_value(v);
    return 0;
}

int chat_api_check_body(const char *body, size_t n, const char *want_last, char *err, size_t ecap) {
    json_error_t jerr;
    json_t *o = json_loadb(body, n, JSON_REJECT_DUPLICATES, &jerr);
    conversation cv = {0};
    uint64_t id = 0;
    double x;
    long l;
    int bad = 1;
    if (!o) snprintf(err, ecap, "malformed JSON at line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
    else if (!json_is_object(o)) snprintf(err, ecap, "the JSON body must be an object");
    else if (parse_image_id(json_object_get(o, "image_id"), &id) < 0) snprintf(err, ecap, "bad \"image_id\"");
    else if (parse_messages(json_object_get(o, "messages"), want_last, &cv, err, ecap)) {}
    else if (json_object_get(o, "system") && !json_is_null(json_object_get(o, "system")) &&
             (!json_is_string(json_object_get(o, "system")) ||
              json_string_length(json_object_get(o, "system")) > CHAT_MAX_SYSTEM))
        snprintf(err, ecap, "bad \"system\"");
    else if (num_field(o, "temperature", 0, 0, 2, 0.2, &x, err, ecap) || num_field(o, "top_p", 0, 1, 1, 1, &x, err, ecap) ||
             int_field(o, "num_beams", 1, CHAT_MAX_BEAMS, 1, &l, err, ecap) ||
             int_field(o, "max_tokens", 1, CHAT_MAX_TOKENS, 256, &l, err, ecap) ||
             int_field(o, "top_k", 0, 1000000, 0, &l, err, ecap) ||
             int_field(o, "seed", 0, (long)((1ull << 53) - 1), 0, &l, err, ecap)) {}
    else bad = 0;
    conversation_free(&cv);
    json_decref(o);
    return bad ? -1 : 0;
}

/* ---------------------------------------------------------------- the job */

/* /api/chat's request: the job and the conversation it borrows from */
typedef struct {
    chat_job     job;
    conversation cv;
} api_chat;

/* One SSE event; data is stolen. Marks the job disconnected when the write
 * fails (the client went away). */
static int sse_send(chat_job *j, const char *event, json_t *data) {
    char *d = data ? json_dumps(data, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(7)) : NULL;
    json_decref(data);
    if (j->disconnected) {
        free(d);
        return -1;
    }
    size_t n = strlen(event) + (d ? strlen(d) : 2) + 20;
    char *buf = malloc(n);
    int len = buf ? snprintf(buf, n, "event: %s\ndata: %s\n\n", event, d ? d : "{}") : -1;
    int w = len > 0 ? mg_send_chunk(j->c, buf, (unsigned)len) : -1;
    free(buf);
    free(d);
    if (w <= 0) {
        j->disconnected = 1;
        return -1;
    }
    return 0;
}

/* gen_opts.on_text of every answer: the sink's text, then stop when the
 * client went away or a stop was asked for */
static int on_text(const char *text, size_t len, void *ctx) {
    chat_job *j = ctx;
    if (j->t_first == 0) j->t_first = timer_now();
    int stop = j->sink->text ? j->sink->text(j, text, len) : 0;
    return stop || j->disconnected || j->req.cancel;
}

static const char *stop_name(int stop) {
    switch (stop) {
    case GEN_STOP_EOS: return "eos";
    case GEN_STOP_STRING: return "stop_string";
    case GEN_STOP_LENGTH: return "length";
    case GEN_STOP_CANCELLED: return "cancelled";
    case GEN_STOP_CONTEXT: return "context";
    default: return "unknown";
    }
}

static json_t *router_of(const chat_model *cm, chat_session *cs) {
    const lm_config *cfg = lm_get_config(chat_model_lm(cm));
    size_t len;
    const uint32_t *c = chat_router_counts(cs, &len);
    router_stats rs;
    if (router_stats_init(&rs, cfg->n_moe_layers, cfg->n_experts, cfg->moe_layers)) return json_null();
    json_t *o = router_stats_add(&rs, c, len) ? NULL : router_stats_json(&rs);
    router_stats_release(&rs);
    return o ? o : json_null();
}

/* chat_prepare's image callback: j's picture, decoded (only when the tower
 * must run: a prepared image is never decoded again) */
static int job_image(void *ctx, image *out) {
    chat_job *j = ctx;
    server *s = j->s;
    char *bytes = NULL;
    size_t nb = 0;
    const char *data = j->upload;
    int rc;
    if (!data) {
        if ((rc = api_image_bytes(s, j->image_id, &bytes, &nb))) return j->image_failed = rc;
        data = bytes;
    } else {
        nb = j->upload_n;
    }
    image_opts io = image_opts_default();
    if (j->upload) io.max_pixels = s->o.max_pixels;   /* the upload memory budget */
    rc = image_decode(data, nb, j->upload ? "upload" : "image", &io, out, NULL);
    free(bytes);
    if (rc) return j->image_failed = status_wrap(rc, "not a supported image");
    return ST_OK;
}

/* The session for j's image in slot sl (*out), with j's system prompt and
 * image place: cached, or a free / least recently used entry given the image
 * through chat_prepare (the prepared-image cache first, else decoded and
 * through the tower, the prompt prefix prefilled). A failure's status;
 * j->image_failed holds it when the image was at fault. */
static int session_for(chat_job *j, struct chat_slot *sl, chat_session **out) {
    server *s = j->s;
    int n = s->o.chat_sessions, pick = -1, rc;
    *out = NULL;
    sl->tick++;
    for (int k = 0; k < n; k++)
        if (sl->e[k].used && !memcmp(sl->e[k].key, j->key, 16)) {
            sl->e[k].last = sl->tick;
            j->image_cached = 1;
            rc = chat_set_system(sl->e[k].cs, j->system);
            if (!rc) rc = chat_set_image_place(sl->e[k].cs, j->img_turn, j->img_after);
            if (!rc) *out = sl->e[k].cs;
            return rc;
        }
    for (int k = 0; k < n && pick < 0; k++)
        if (!sl->e[k].used) pick = k;
    if (pick < 0) { /* evict the least recently used */
        pick = 0;
        for (int k = 1; k < n; k++)
            if (sl->e[k].last < sl->e[pick].last) pick = k;
    }
    chat_entry *e = &sl->e[pick];
    double t0 = timer_now();
    /* used and key are read under chat_mu (slot choice, stats): written so too */
    pthread_mutex_lock(&s->chat_mu);
    e->used = 0;
    pthread_mutex_unlock(&s->chat_mu);
    if (!e->cs && !(e->cs = chat_session_new(s->cm))) return status_fail(ST_NOMEM, "out of memory for a chat session");
    rc = chat_set_system(e->cs, j->system);
    if (!rc) rc = chat_set_image_place(e->cs, j->img_turn, j->img_after);
    if (!rc && j->no_image) {
        rc = chat_set_image(e->cs, NULL);   /* text only */
    } else if (!rc) {
        int how = CHAT_PREP_RAN;
        rc = chat_prepare(e->cs, s->chat_cache, j->key, job_image, j, &j->req.cancel, &how);
        j->image_cached = !rc && how != CHAT_PREP_RAN;
    }
    if (rc) return rc;
    pthread_mutex_lock(&s->chat_mu);
    memcpy(e->key, j->key, 16);
    e->used = 1;
    pthread_mutex_unlock(&s->chat_mu);
    e->last = sl->tick;
    j->t_image = timer_now() - t0;
    *out = e->cs;
    return ST_OK;
}

/* Register j for /stop and take a slot (one is always free: slots =
 * workers), preferring one that holds j's image. NULL: a bug. */
static void job_register(chat_job *j) {
    server *s = j->s;
    pthread_mutex_lock(&s->chat_mu);
    j->req.next = s->active;
    s->active = &j->req;
    if (s->chat_stopping) j->req.cancel = 1;
    pthread_mutex_unlock(&s->chat_mu);
}

/* registered: j is on s->active already (a preparation, from its post) */
static struct chat_slot *job_enter(chat_job *j, int registered) {
    server *s = j->s;
    struct chat_slot *sl = NULL;
    if (!registered) job_register(j);
    pthread_mutex_lock(&s->chat_mu);
    if (s->chat_stopping) j->req.cancel = 1;
    for (int pass = 0; pass < 2 && !sl; pass++)
        for (int i = 0; i < s->o.chat_workers && !sl; i++) {
            struct chat_slot *c = &s->slots[i];
            if (c->in_use) continue;
            int has = 0;
            for (int k = 0; k < s->o.chat_sessions; k++) has |= c->e[k].used && !memcmp(c->e[k].key, j->key, 16);
            if (has || pass == 1) sl = c;
        }
    if (sl) sl->in_use = 1;
    pthread_mutex_unlock(&s->chat_mu);
    return sl;
}

static void job_leave(chat_job *j, struct chat_slot *sl) {
    server *s = j->s;
    pthread_mutex_lock(&s->chat_mu);
    for (struct chat_req **p = &s->active; *p; p = &(*p)->next)
        if (*p == &j->req) {
            *p = j->req.next;
            break;
        }
    if (sl) sl->in_use = 0;
    pthread_mutex_unlock(&s->chat_mu);
}

static void chat_job_run(void *arg) {
    chat_job *j = arg;
    server *s = j->s;
    j->t0 = timer_now();
    struct chat_slot *sl = job_enter(j, 0);
    if (j->sink->begin) j->sink->begin(j);
    gen_result r = {0};
    chat_session *cs = NULL;
    int rc = sl ? ST_OK : status_fail(ST_INTERNAL, "no free chat slot (a bug)");
    if (!rc) rc = session_for(j, sl, &cs);
    if (!rc) rc = chat_set_history(cs, j->q, j->a, j->n_hist);
    if (!rc) {
        j->go.on_text = on_text;
        j->go.ctx = j;
        j->go.cancel = &j->req.cancel;
        rc = chat_ask(cs, j->last, &j->go, &r);
    }
    j->t_end = timer_now();
    if (!rc) {
        atomic_fetch_add(&s->n_chats, 1);
        if (r.stop == GEN_STOP_CANCELLED) atomic_fetch_add(&s->n_chat_cancelled, 1);
    }
    j->sink->end(j, rc, &r, cs);
    gen_result_release(&r);
    if (j->disconnected) atomic_fetch_add(&s->n_chat_disconnects, 1);
    job_leave(j, sl);
}

int chat_api_submit(server *s, chat_job *j) {
    j->s = s;
    uint64_t rid = 0;
    if (getrandom(&rid, sizeof rid, 0) != (ssize_t)sizeof rid) rid = (uint64_t)(timer_now() * 1e9) ^ (uintptr_t)j;
    snprintf(j->req.id, sizeof j->req.id, "%016llx", (unsigned long long)rid);
    return queue_run_wait(s->chat_q, chat_job_run, j, CHAT_ADMIT_WAIT_MS);
}

/* ---------------------------------------------------------------- /api/chat's events */

static void sse_begin(chat_job *j) {
    http_sse_start(j->c, j->req.id);
    sse_send(j, "start", json_pack("{s:s, s:s, s:f}", "request_id", j->req.id, "model", chat_model_identity(j->s->cm),
                                   "queued_ms", (j->t0 - j->t_arrived) * 1e3));
}

static int sse_text(chat_job *j, const char *text, size_t len) {
    json_t *t = json_stringn(text, len);
    if (!t) t = json_string("\xEF\xBF\xBD");
    sse_send(j, "token", json_pack("{s:o}", "text", t));
    return 0;
}

static void sse_end(chat_job *j, int rc, const gen_result *r, chat_session *cs) {
    server *s = j->s;
    if (rc) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", status_message());
        sse_send(j, "error", json_pack("{s:s}", "error", msg));
    } else {
        double ttft = (j->t_first ? j->t_first : j->t_end) - j->t0;
        double dec = j->t_first ? j->t_end - j->t_first : 0;
        json_t *timing = json_pack("{s:f, s:f, s:b, s:i, s:f, s:f}", "ttft_ms", ttft * 1e3, "image_ms", j->t_image * 1e3,
                                   "image_cached", j->image_cached, "tokens", r->n, "tokens_per_s",
                                   r->n > 1 && dec > 0 ? (r->n - 1) / dec : 0.0, "total_ms", (j->t_end - j->t0) * 1e3);
        json_t *text = json_string(r->text ? r->text : "");
        sse_send(j, "done", json_pack("{s:s, s:o, s:s, s:o, s:o}", "request_id", j->req.id, "text",
                                      text ? text : json_string(""), "stop", stop_name(r->stop), "router",
                                      router_of(s->cm, cs), "timing", timing));
    }
    if (!j->disconnected && mg_send_chunk(j->c, "", 0) < 0) j->disconnected = 1;  /* the last chunk */
}

static const chat_sink sse_sink = {sse_begin, sse_text, sse_end};

/* ---------------------------------------------------------------- POST /api/chat */

/* A chat request's body, as chat_body_read leaves it. */
typedef struct {
    char       *body;
    const char *pj, *img;   /* the JSON, the picture (NULL without one) */
    size_t      pn, imgn;
} chat_body;

/* The body of a chat request (POST /api/chat, /api/chat/prepare): JSON, or
 * multipart/form-data with a part "payload" (that JSON; when optional and
 * absent, "{}") and a part "image" (the uploaded picture). usage is the 415
 * message. 0 with *body (malloc'd; *pj and *img point into it, *img NULL for
 * JSON); otherwise the error was sent, *body is NULL and *reply is the
 * handler's return. */
static int chat_body_read(server *s, struct mg_connection *c, const char *usage, int payload_optional, chat_body *b,
                          int *reply) {
    memset(b, 0, sizeof *b);
    const char *ct = mg_get_header(c, "Content-Type");
    int is_json = ct && !strncasecmp(ct, "application/json", 16);
    int is_multi = ct && !strncasecmp(ct, "multipart/form-data", 19);
    if (!is_json && !is_multi) return *reply = http_send_error(s, c, 415, NULL, "%s", usage), -1;
    size_t n;
    int rc = http_read_body(c, is_json ? CHAT_BODY_MAX : s->o.max_upload + CHAT_BODY_MAX, &b->body, &n);
    if (rc) return *reply = http_send_body_error(s, c, rc), -1;
    b->pj = b->body, b->pn = n;
    if (!is_multi) return 0;
    int status = 400;
    char err[512] = "";
    if (http_multipart_field(ct, b->body, n, "payload", &b->pj, &b->pn)) {
        if (payload_optional) b->pj = "{}", b->pn = 2;
        else snprintf(err, sizeof err, "%s (the JSON request goes in a part named \"payload\")", status_message());
    }
    if (err[0]) {}
    else if (http_multipart_field(ct, b->body, n, "image", &b->img, &b->imgn))
        snprintf(err, sizeof err, "%s (the picture goes in a part named \"image\")", status_message());
    else if (b->imgn == 0) snprintf(err, sizeof err, "the \"image\" part is empty");
    else if (b->imgn > s->o.max_upload)
        status = 413, snprintf(err, sizeof err, "upload of %zu bytes exceeds the limit of %zu bytes", b->imgn,
                               s->o.max_upload);
    if (!err[0]) return 0;
    free(b->body);
    memset(b, 0, sizeof *b);
    return *reply = http_send_error(s, c, status, NULL, "%s", err), -1;
}

static int chat_post(server *s, struct mg_connection *c) {
    double t_arrived = timer_now();
    chat_body cb;
    int reply;
    if (chat_body_read(s, c,
                       "send application/json {\"image_id\", \"messages\", ...} or multipart/form-data with "
                       "parts \"image\" (the file) and \"payload\" (that JSON without image_id)",
                       0, &cb, &reply))
        return reply;
    char *body = cb.body;
    const char *pj = cb.pj, *img = cb.img;
    size_t pn = cb.pn, imgn = cb.imgn;
    json_t *o;
    jsonx_loadb_limited(pj, pn, JSON_REJECT_DUPLICATES, JSONX_MAX_DEPTH, &o);
    char err[512] = "";
    int status = 400;
    api_chat ac;
    memset(&ac, 0, sizeof ac);
    chat_job *jp = &ac.job;
    jp->s = s, jp->c = c, jp->t_arrived = t_arrived, jp->upload = img, jp->upload_n = imgn, jp->sink = &sse_sink;
    double temp = 0, top_p = 1;
    long beams = 1, max_tokens = 1, top_k = 0, seed = 0;
    int idk = 0;
    json_t *sys = json_is_object(o) ? json_object_get(o, "system") : NULL;
    if (!o) snprintf(err, sizeof err, "%s", status_message());
    else if (!json_is_object(o)) snprintf(err, sizeof err, "the JSON body must be an object {\"image_id\", \"messages\"}");
    else if ((idk = parse_image_id(json_object_get(o, "image_id"), &jp->image_id)) < 0)
        snprintf(err, sizeof err, "\"image_id\" must be a positive integer (an id from /api/search)");
    else if (idk && img) snprintf(err, sizeof err, "give either \"image_id\" or an uploaded image, not both");
    else if (!idk && !img)
        snprintf(err, sizeof err, "which image? give \"image_id\" (from /api/search) or upload one (multipart part \"image\")");
    else if (parse_messages(json_object_get(o, "messages"), "user", &ac.cv, err, sizeof err)) {}
    else if (sys && !json_is_null(sys) &&
             (!json_is_string(sys) || json_string_length(sys) > CHAT_MAX_SYSTEM ||
              strlen(json_string_value(sys)) != json_string_length(sys)))
        snprintf(err, sizeof err, "\"system\" must be a string of at most %d bytes (empty: the model's own)", CHAT_MAX_SYSTEM);
    else if (num_field(o, "temperature", 0, 0, 2, 0.2, &temp, err, sizeof err) ||
             num_field(o, "top_p", 0, 1, 1, 1, &top_p, err, sizeof err) ||
             int_field(o, "num_beams", 1, CHAT_MAX_BEAMS, 1, &beams, err, sizeof err) ||
             int_field(o, "max_tokens", 1, CHAT_MAX_TOKENS, 256, &max_tokens, err, sizeof err) ||
             int_field(o, "top_k", 0, 1000000, 0, &top_k, err, sizeof err) ||
             int_field(o, "seed", 0, (long)((1ull << 53) - 1), 0, &seed, err, sizeof err)) {}
    else if (idk) {
        store_image im;
        int r = store_get_image(s->st, jp->image_id, &im);
        if (r == ST_NOT_FOUND) status = 404, snprintf(err, sizeof err, "no image with id %llu", (unsigned long long)jp->image_id);
        else if (r) status = 500, snprintf(err, sizeof err, "%s", status_message());
        else memcpy(jp->key, im.hash, 16);
    } else {
        store_hash_bytes(img, imgn, jp->key);
    }
    if (err[0]) {
        conversation_free(&ac.cv);
        json_decref(o);
        free(body);
        return http_send_error(s, c, status, NULL, "%s", err);
    }
    jp->go = gen_opts_default();
    jp->go.max_tokens = (int)max_tokens;
    jp->go.sampling.temperature = (float)temp;
    jp->go.sampling.top_p = (float)top_p;
    jp->go.sampling.top_k = (int)top_k;
    jp->go.sampling.seed = (uint64_t)seed;
    jp->go.num_beams = (int)beams;
    jp->q = ac.cv.q, jp->a = ac.cv.a, jp->n_hist = ac.cv.n_hist, jp->last = ac.cv.last;
    if (json_is_string(sys) && json_string_length(sys)) jp->system = json_string_value(sys);
    int rc = chat_api_submit(s, jp);
    conversation_free(&ac.cv);
    json_decref(o);
    free(body);
    if (rc) {
        static const char *const h[] = {"Retry-After", "2", NULL};
        return http_send_error(s, c, 503, h, "%s", status_message());
    }
    return 200;
}

/* ---------------------------------------------------------------- POST /api/chat/prepare */

/* A queued preparation: owns its copies (queue_post's job frees it). */
typedef struct {
    chat_job job;
    char    *bytes;    /* the uploaded picture, or NULL */
    char    *system;   /* or NULL */
} prep_job;

static void prepare_run(void *arg) {
    prep_job *p = arg;
    chat_job *j = &p->job;
    j->t0 = timer_now();
    struct chat_slot *sl = job_enter(j, 1);
    chat_session *cs = NULL;
    int rc = sl ? ST_OK : status_fail(ST_INTERNAL, "no free chat slot (a bug)");
    if (!rc && j->req.cancel) rc = status_fail(ST_CANCELLED, "cancelled before it started");
    if (!rc) rc = session_for(j, sl, &cs);
    if (rc) {
        atomic_fetch_add(&j->s->n_prepare_failed, 1);
        if (rc != ST_CANCELLED) log_warn("chat prepare %s: %s", j->req.id, status_message());
    } else {
        log_info("chat prepare %s: ready in %.1f s (%s)", j->req.id, timer_now() - j->t0,
                 j->image_cached ? "already prepared" : "tower + prefix run");
    }
    job_leave(j, sl);
    free(p->bytes);
    free(p->system);
    free(p);
}

static int chat_prepare_post(server *s, struct mg_connection *c) {
    chat_body cb;
    int reply;
    if (chat_body_read(s, c,
                       "send application/json {\"image_id\": N} or multipart/form-data with a part \"image\" "
                       "(the file) and optionally \"payload\" ({\"system\": ...})",
                       1, &cb, &reply))
        return reply;
    char *body = cb.body;
    const char *pj = cb.pj, *img = cb.img;
    size_t pn = cb.pn, imgn = cb.imgn;
    char err[512] = "";
    int status = 400;
    json_t *o = NULL;
    if (!err[0]) jsonx_loadb_limited(pj, pn, JSON_REJECT_DUPLICATES, JSONX_MAX_DEPTH, &o);
    prep_job *p = calloc(1, sizeof *p);
    chat_job *j = p ? &p->job : NULL;
    json_t *sys = json_is_object(o) ? json_object_get(o, "system") : NULL;
    int idk = 0;
    if (err[0]) {}
    else if (!p) status = 500, snprintf(err, sizeof err, "out of memory");
    else if (!o) snprintf(err, sizeof err, "%s", status_message());
    else if (!json_is_object(o)) snprintf(err, sizeof err, "the JSON body must be an object {\"image_id\": N}");
    else if ((idk = parse_image_id(json_object_get(o, "image_id"), &j->image_id)) < 0)
        snprintf(err, sizeof err, "\"image_id\" must be a positive integer (an id from /api/search)");
    else if (idk && img) snprintf(err, sizeof err, "give either \"image_id\" or an uploaded image, not both");
    else if (!idk && !img)
        snprintf(err, sizeof err, "which image? give \"image_id\" (from /api/search) or upload one (multipart part \"image\")");
    else if (sys && !json_is_null(sys) &&
             (!json_is_string(sys) || json_string_length(sys) > CHAT_MAX_SYSTEM ||
              strlen(json_string_value(sys)) != json_string_length(sys)))
        snprintf(err, sizeof err, "\"system\" must be a string of at most %d bytes (empty: the model's own)", CHAT_MAX_SYSTEM);
    else if (idk) {
        store_image im;
        int r = store_get_image(s->st, j->image_id, &im);
        if (r == ST_NOT_FOUND) status = 404, snprintf(err, sizeof err, "no image with id %llu", (unsigned long long)j->image_id);
        else if (r) status = 500, snprintf(err, sizeof err, "%s", status_message());
        else memcpy(j->key, im.hash, 16);
    } else {
        store_hash_bytes(img, imgn, j->key);
        if (!(p->bytes = malloc(imgn))) status = 500, snprintf(err, sizeof err, "out of memory");
        else memcpy(p->bytes, img, imgn), j->upload = p->bytes, j->upload_n = imgn;
    }
    if (!err[0] && json_is_string(sys) && json_string_length(sys) && !(p->system = strdup(json_string_value(sys))))
        status = 500, snprintf(err, sizeof err, "out of memory");
    json_decref(o);
    free(body);
    if (err[0]) {
        if (p) free(p->bytes), free(p->system), free(p);
        return http_send_error(s, c, status, NULL, "%s", err);
    }
    j->s = s;
    j->system = p->system;
    uint64_t rid = 0;
    if (getrandom(&rid, sizeof rid, 0) != (ssize_t)sizeof rid) rid = (uint64_t)(timer_now() * 1e9) ^ (uintptr_t)j;
    snprintf(j->req.id, sizeof j->req.id, "%016llx", (unsigned long long)rid);
    char id[17];
    memcpy(id, j->req.id, sizeof id);
    const uint64_t image_id = j->image_id;
    job_register(j);   /* stoppable while it waits too */
    if (queue_post(s->chat_q, prepare_run, p)) {   /* p is the queue's once posted */
        job_leave(j, NULL);
        free(p->bytes), free(p->system), free(p);
        static const char *const h[] = {"Retry-After", "2", NULL};
        return http_send_error(s, c, 503, h, "%s", status_message());
    }
    atomic_fetch_add(&s->n_prepares, 1);
    return http_send_json(c, 202,
                          json_pack("{s:s, s:o, s:s}", "prepare_id", id, "image_id",
                                    image_id ? json_integer((json_int_t)image_id) : json_null(), "state", "queued"),
                          NULL);
}

/* POST /api/chat/{rid}/stop; quiet (a preparation's stop): 200 with
 * stopping false instead of 404 when nothing runs under rid (it ended) */
static int chat_stop(server *s, struct mg_connection *c, const char *rid, size_t n, int quiet) {
    int found = 0;
    pthread_mutex_lock(&s->chat_mu);
    for (struct chat_req *r = s->active; r; r = r->next)
        if (n == 16 && !memcmp(r->id, rid, 16)) {
            r->cancel = 1;
            found = 1;
        }
    pthread_mutex_unlock(&s->chat_mu);
    if (!found && quiet) return http_send_json(c, 200, json_pack("{s:s%, s:b}", "prepare_id", rid, n, "stopping", 0), NULL);
    if (!found)
        return http_send_error(s, c, 404, NULL, "no running answer or preparation with id '%.*s' (finished already?)",
                               (int)(n > 32 ? 32 : n), rid);
    json_t *o = json_pack("{s:s%, s:b}", "request_id", rid, n, "stopping", 1);
    return http_send_json(c, 200, o, NULL);
}

int chat_api_handle(server *s, struct mg_connection *c, const char *rest) {
    const char *m = mg_get_request_info(c)->request_method;
    if (!s->cm)
        return http_send_error(s, c, 404, NULL, "chat is not enabled on this server: start seer serve with --chat-model DIR");
    if (!*rest) {
        if (strcmp(m, "POST")) {
            static const char *const h[] = {"Allow", "POST", NULL};
            return http_send_error(s, c, 405, h, "method %s not allowed here (allowed: POST)", m);
        }
        return chat_post(s, c);
    }
    if (!strncmp(rest, "/prepare/", 9)) { /* "/prepare/{rid}/stop" */
        const char *id = rest + 9, *slash = strchr(id, '/');
        if (!slash || strcmp(slash, "/stop")) return http_send_error(s, c, 404, NULL, "no such endpoint: /api/chat%s", rest);
        if (strcmp(m, "POST")) {
            static const char *const h[] = {"Allow", "POST", NULL};
            return http_send_error(s, c, 405, h, "method %s not allowed here (allowed: POST)", m);
        }
        return chat_stop(s, c, id, (size_t)(slash - id), 1);
    }
    if (!strcmp(rest, "/prepare")) {
        if (strcmp(m, "POST")) {
            static const char *const h[] = {"Allow", "POST", NULL};
            return http_send_error(s, c, 405, h, "method %s not allowed here (allowed: POST)", m);
        }
        return chat_prepare_post(s, c);
    }
    /* "/{rid}/stop" */
    const char *id = rest + 1, *slash = strchr(id, '/');
    if (!slash || strcmp(slash, "/stop")) return http_send_error(s, c, 404, NULL, "no such endpoint: /api/chat%s", rest);
    if (strcmp(m, "POST")) {
        static const char *const h[] = {"Allow", "POST", NULL};
        return http_send_error(s, c, 405, h, "method %s not allowed here (allowed: POST)", m);
    }
    return chat_stop(s, c, id, (size_t)(slash - id), 0);
}

/* ---------------------------------------------------------------- feedback */

static int feedback_post(server *s, struct mg_connection *c) {
    if (!s->cm)
        return http_send_error(s, c, 404, NULL,
                               "feedback is recorded only when chat is enabled (seer serve --chat-model DIR)");
    const char *ct = mg_get_header(c, "Content-Type");
    if (!ct || strncasecmp(ct, "application/json", 16))
        return http_send_error(s, c, 415, NULL, "send application/json {\"image_id\", \"messages\", \"vote\"}");
    char *body;
    size_t n;
    int rc = http_read_body(c, CHAT_BODY_MAX, &body, &n);
    if (rc) return http_send_body_error(s, c, rc);
    json_t *o;
    jsonx_loadb_limited(body, n, JSON_REJECT_DUPLICATES, JSONX_MAX_DEPTH, &o);
    free(body);
    char err[512] = "";
    int status = 400;
    uint64_t id = 0;
    int idk = 0;
    conversation cv = {0};
    json_t *vote = o ? json_object_get(o, "vote") : NULL, *comment = o ? json_object_get(o, "comment") : NULL;
    json_t *rid = o ? json_object_get(o, "request_id") : NULL;
    if (!o) snprintf(err, sizeof err, "%s", status_message());
    else if (!json_is_object(o)) snprintf(err, sizeof err, "the JSON body must be an object");
    else if (!json_is_string(vote) || (strcmp(json_string_value(vote), "up") && strcmp(json_string_value(vote), "down") &&
                                       strcmp(json_string_value(vote), "flag")))
        snprintf(err, sizeof err, "\"vote\" must be \"up\", \"down\" or \"flag\"");
    else if (comment && !json_is_null(comment) &&
             (!json_is_string(comment) || json_string_length(comment) > FEEDBACK_COMMENT_MAX))
        snprintf(err, sizeof err, "\"comment\" must be a string of at most %d bytes", FEEDBACK_COMMENT_MAX);
    else if (rid && !json_is_null(rid) && (!json_is_string(rid) || json_string_length(rid) > 64))
        snprintf(err, sizeof err, "\"request_id\" must be a string (the chat's start event gives it)");
    else if ((idk = parse_image_id(json_object_get(o, "image_id"), &id)) < 0)
        snprintf(err, sizeof err, "\"image_id\" must be a positive integer, or null for an uploaded image");
    else if (parse_messages(json_object_get(o, "messages"), "assistant", &cv, err, sizeof err)) {}
    else if (idk) {
        store_image im;
        int r = store_get_image(s->st, id, &im);
        if (r == ST_NOT_FOUND) status = 404, snprintf(err, sizeof err, "no image with id %llu", (unsigned long long)id);
        else if (r) status = 500, snprintf(err, sizeof err, "%s", status_message());
    }
    conversation_free(&cv);
    if (err[0]) {
        json_decref(o);
        return http_send_error(s, c, status, NULL, "%s", err);
    }
    /* the record: what was voted on, by which model, when (server time) */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char iso[40];
    strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *rec = json_pack("{s:O, s:o, s:O, s:O, s:s, s:s}", "vote", vote, "image_id",
                            idk ? json_integer((json_int_t)id) : json_null(), "messages", json_object_get(o, "messages"),
                            "comment", comment ? comment : json_null(), "model", chat_model_identity(s->cm), "time", iso);
    if (rec && rid && !json_is_null(rid)) json_object_set(rec, "request_id", rid);
    char *txt = rec ? json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(rec);
    json_decref(o);
    if (!txt) return http_send_error(s, c, 500, NULL, "out of memory");
    size_t tlen = strlen(txt);
    if (tlen > FEEDBACK_RECORD_MAX) {
        free(txt);
        return http_send_error(s, c, 413, NULL, "the feedback record would be %zu bytes; at most %d", tlen,
                               FEEDBACK_RECORD_MAX);
    }
    uint64_t t_ns = 0;
    store_counts cn;
    pthread_mutex_lock(&s->feedback_mu);
    rc = store_counts_get(s->st, &cn);
    int full = !rc && cn.n_feedback >= (uint64_t)s->o.max_feedback;
    if (!rc && !full) rc = store_feedback_put(s->st, txt, &t_ns);
    pthread_mutex_unlock(&s->feedback_mu);
    free(txt);
    if (full)
        return http_send_error(s, c, 507, NULL,
                               "the store holds %ld feedback records, the limit (--max-feedback): export them "
                               "(seer feedback --export) and raise the limit or start a new store",
                               s->o.max_feedback);
    if (rc) return http_send_error(s, c, 500, NULL, "recording the feedback failed: %s", status_message());
    atomic_fetch_add(&s->n_feedback, 1);
    return http_send_json(c, 201, json_pack("{s:b, s:I, s:s}", "ok", 1, "time_ns", (json_int_t)t_ns, "time", iso), NULL);
}

typedef struct {
    json_t *arr;      /* newest first */
} fb_collect;

static int fb_one(uint64_t time_ns, const char *json, size_t len, void *vctx) {
    fb_collect *x = vctx;
    json_t *o;
    jsonx_loadb_limited(json, len, 0, JSONX_MAX_DEPTH, &o);
    if (!json_is_object(o)) {
        json_decref(o);
        o = json_pack("{s:s%}", "raw", json, len);
    }
    if (o) json_object_set_new(o, "time_ns", json_integer((json_int_t)time_ns));
    if (o) json_array_append_new(x->arr, o);
    return 0;
}

static int feedback_get(server *s, struct mg_connection *c) {
    const char *qs = mg_get_request_info(c)->query_string;
    long limit = 50;
    char buf[32];
    int r = qs ? mg_get_var(qs, strlen(qs), "limit", buf, sizeof buf) : -1;
    if (r != -1) {
        char *end;
        errno = 0;
        limit = r > 0 ? strtol(buf, &end, 10) : 0;
        if (r <= 0 || *end || errno || limit < 1 || limit > FEEDBACK_LIST_MAX)
            return http_send_error(s, c, 400, NULL, "limit must be an integer from 1 to %d", FEEDBACK_LIST_MAX);
    }
    /* only the newest `limit` records are read; the total is the table's count */
    store_counts cn;
    fb_collect x = {json_array()};
    int rc = x.arr ? store_counts_get(s->st, &cn) : status_fail(ST_NOMEM, "out of memory");
    if (!rc) rc = store_feedback_latest(s->st, (size_t)limit, fb_one, &x);
    if (rc) {
        json_decref(x.arr);
        return http_send_error(s, c, 500, NULL, "%s", status_message());
    }
    return http_send_json(c, 200, json_pack("{s:I, s:o}", "total", (json_int_t)cn.n_feedback, "feedback", x.arr), NULL);
}

int feedback_api_handle(server *s, struct mg_connection *c) {
    const char *m = mg_get_request_info(c)->request_method;
    if (!strcmp(m, "POST")) return feedback_post(s, c);
    if (!strcmp(m, "GET") || !strcmp(m, "HEAD")) return feedback_get(s, c);
    static const char *const h[] = {"Allow", "GET, POST", NULL};
    return http_send_error(s, c, 405, h, "method %s not allowed here (allowed: GET, POST)", m);
}
