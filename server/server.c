/* server/server.c — server lifecycle: options, loading the store, model and
 * index, civetweb setup, the request dispatcher (auth, routing), the index
 * reloader thread, graceful stop.
 *
 * Request flow (one civetweb worker thread per request, which hands the
 * handler to a request_q worker: civetweb's threads have about 100 KB of
 * stack in Debian's build, too little for a deeply nested JSON body or for
 * an AddressSanitizer build; queue workers get QUEUE_STACK_BYTES):
 *   dispatch ─► path under /api/ ? ─► token check ─► api_handle (api.c)
 *            └► page_handle (page.c) ─► or a JSON 404
 * Nothing is served from disk: civetweb gets no document_root.
 */
#include "server_impl.h"

#include "log.h"
#include "ingest.h"
#include "search.h"
#include "status.h"
#include "timer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void server_opts_default(server_opts *o) {
    *o = (server_opts){
        .listen = "127.0.0.1:8080",
        .index = "auto",
        .threads = 32,
        .request_timeout_ms = 30000,
        .max_upload = (size_t)20 << 20,
        .max_pixels = 50000000,
        .max_query = 1000,
        .max_k = 100,
        .text_workers = 2,
        .text_waiting = 64,
        .image_slots = 2,
        .image_waiting = 8,
        .reload_s = 10,
        .chat_workers = 1,
        .chat_waiting = 4,
        .chat_sessions = 2,
        .chat_max_ctx = 2048,
        .chat_cache_mb = 1024,
        .max_feedback = 100000,
    };
}

/* ---------------------------------------------------------------- dispatch */

static int route(server *s, struct mg_connection *c) {
    int g = guard_check(s, c);    /* Host and Origin, before anything else */
    if (g) return g;
    const struct mg_request_info *ri = mg_get_request_info(c);
    /* local_uri_raw: URL-decoded but not cleaned, so "..", "%2e%2e" and
     * encoded slashes reach the router as they are and are refused there */
    const char *path = ri->local_uri_raw ? ri->local_uri_raw : ri->local_uri;
    if (!path) return http_send_error(s, c, 400, NULL, "bad request target");
    if (!strncmp(path, "/api/", 5) || !strcmp(path, "/api")) {
        if (!api_authorized(s, c)) {
            static const char *const h[] = {"WWW-Authenticate", "Bearer realm=\"seer\"", NULL};
            return http_send_error(s, c, 401, h, "missing or wrong bearer token (Authorization: Bearer TOKEN)");
        }
        return api_handle(s, c, path);
    }
    if (!strncmp(path, "/v1/", 4) || !strcmp(path, "/v1")) {   /* OpenAI-compatible (openai_api.c) */
        if (!api_authorized(s, c)) {
            static const char *const h[] = {"WWW-Authenticate", "Bearer realm=\"seer\"", NULL};
            return openai_error(s, c, 401, h, NULL, "invalid_api_key",
                                "missing or wrong bearer token (Authorization: Bearer TOKEN)");
        }
        return openai_handle(s, c, path);
    }
    int r = page_handle(s, c, path);
    if (r) return r;
    return http_send_error(s, c, 404, NULL, "not found (the API lives under /api/, the page at /)");
}

typedef struct {
    server *s;
    struct mg_connection *c;
    int rc;
} route_job;

static void route_on_worker(void *arg) {
    route_job *j = arg;
    j->rc = route(j->s, j->c);
}

/* request_q has a worker and a waiting place for each civetweb thread, so
 * queue_run does not refuse; ST_BUSY would still get a JSON 503. */
static int dispatch(struct mg_connection *c, void *cbdata) {
    server *s = cbdata;
    atomic_fetch_add(&s->n_requests, 1);
    route_job j = {s, c, 0};
    if (queue_run(s->request_q, route_on_worker, &j)) return http_send_error(s, c, 503, NULL, "%s", status_message());
    return j.rc;
}

static int on_log_message(const struct mg_connection *c, const char *message) {
    log_warn("civetweb: %s", message);
    return 1;
}

/* ---------------------------------------------------------------- index reload */

static int open_index(server *s, vindex **out) {
    return vindex_load(s->st, &s->vp, out, NULL);
}

static void *reloader_main(void *arg) {
    server *s = arg;
    pthread_mutex_lock(&s->stop_mu);
    while (!s->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += s->o.reload_s;
        pthread_cond_timedwait(&s->stop_cv, &s->stop_mu, &ts);
        if (s->stopping) break;
        pthread_mutex_unlock(&s->stop_mu);
        uint64_t gen = 0;
        pthread_rwlock_rdlock(&s->ix_lock);
        uint64_t have = vindex_generation(s->vi);
        pthread_rwlock_unlock(&s->ix_lock);
        if (store_generation(s->st, &gen) == ST_OK && gen != have) {
            vindex *nv = NULL;
            catalog *ncat = NULL;
            double t0 = timer_now();
            if (open_index(s, &nv) == ST_OK && catalog_load(s->st, &ncat) == ST_OK) {
                pthread_rwlock_wrlock(&s->ix_lock);
                vindex *old = s->vi;
                catalog *oldcat = s->cat;
                s->vi = nv;
                s->cat = ncat;
                pthread_rwlock_unlock(&s->ix_lock);
                vindex_free(old);
                catalog_free(oldcat);
                atomic_fetch_add(&s->n_reloads, 1);
                log_info("serve: index reloaded for store generation %llu (%zu images, %.0f ms)",
                         (unsigned long long)vindex_generation(nv), vindex_size(nv), (timer_now() - t0) * 1e3);
            } else {
                vindex_free(nv);
                log_warn("serve: index reload failed, keeping the old one: %s", status_message());
            }
        }
        pthread_mutex_lock(&s->stop_mu);
    }
    pthread_mutex_unlock(&s->stop_mu);
    return NULL;
}

/* ---------------------------------------------------------------- start/stop */

/* The model directory recorded by seer ingest (tools/cmd_ingest.c). */

/* "PORT" → 127.0.0.1:PORT; "HOST:PORT" with an IPv4 HOST. */
static int parse_listen(const char *spec, char *host, size_t hcap, int *port) {
    const char *colon = strrchr(spec, ':');
    const char *p = colon ? colon + 1 : spec;
    char *end;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (!*p || *end || errno || v < 0 || v > 65535)
        return status_fail(ST_ARG, "--listen '%s': expected PORT or HOST:PORT (port 0..65535)", spec);
    if (colon) {
        size_t n = (size_t)(colon - spec);
        if (n == 0 || n >= hcap) return status_fail(ST_ARG, "--listen '%s': bad host", spec);
        memcpy(host, spec, n);
        host[n] = 0;
        if (!strcmp(host, "localhost")) snprintf(host, hcap, "127.0.0.1");
        struct in_addr a;
        if (inet_pton(AF_INET, host, &a) != 1)
            return status_fail(ST_ARG, "--listen '%s': the host must be an IPv4 address (e.g. 127.0.0.1)", spec);
    } else {
        snprintf(host, hcap, "127.0.0.1");
    }
    *port = (int)v;
    return ST_OK;
}

static char *dupstr(const char *s) { return s ? strdup(s) : NULL; }

int server_start(const server_opts *o, server **out) {
    *out = NULL;
    if (!o->db) return status_fail(ST_ARG, "no store directory given (--db DIR)");
    if (o->threads < 2 || o->threads > 1024) return status_fail(ST_ARG, "--threads: expected 2..1024, got %d", o->threads);
    if (o->max_upload < 1024) return status_fail(ST_ARG, "--max-upload: at least 1024 bytes");
    if (o->max_pixels < 1) return status_fail(ST_ARG, "--max-pixels: at least 1");
    if (o->n_allow_hosts < 0 || (o->n_allow_hosts && !o->allow_hosts)) return status_fail(ST_ARG, "bad allow_hosts");
    for (int i = 0; i < o->n_allow_hosts; i++) {
        const char *h = o->allow_hosts[i];
        size_t n = h ? strlen(h) : 0;
        if (!n || n > 253 || strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") != n)
            return status_fail(ST_ARG, "--allow-host '%s': expected a host name (letters, digits, '.', '-')",
                               h ? h : "");
    }
    if (o->max_k < 1 || o->max_query < 1 || o->image_slots < 1 || o->image_waiting < 0 || o->text_workers < 1 || o->text_waiting < 0 || o->reload_s < 0 ||
        o->request_timeout_ms < 100 || o->chat_workers < 1 || o->chat_workers > 64 || o->chat_waiting < 0 ||
        o->chat_sessions < 1 || o->chat_sessions > 64 || o->chat_max_ctx < 256 || o->chat_cache_mb < 0 || o->chat_cache_mb > 1048576 || o->max_feedback < 0)
        return status_fail(ST_ARG, "server options out of range");
    if (strcmp(o->index, "auto") && strcmp(o->index, "flat") && strcmp(o->index, "hnsw"))
        return status_fail(ST_ARG, "--index: expected auto, flat or hnsw, got '%s'", o->index);
    char host[64];
    int port = 0;
    int rc = parse_listen(o->listen, host, sizeof host, &port);
    if (rc) return rc;
    int loopback = !strncmp(host, "127.", 4);
    int has_token = o->token && o->token[0];
    if (!loopback && !has_token && !o->allow_no_token)
        return status_fail(ST_ARG,
                           "--listen %s exposes the API beyond this machine: give --token TOKEN (or SEER_TOKEN), "
                           "or --no-token to allow it without one",
                           o->listen);

    server *s = calloc(1, sizeof *s);
    if (!s) return status_fail(ST_NOMEM, "out of memory");
    s->o = *o;
    s->db = dupstr(o->db);
    s->token = has_token ? dupstr(o->token) : NULL;
    s->index_kind = dupstr(o->index);
    s->o.db = s->db, s->o.token = s->token, s->o.index = s->index_kind, s->o.model = NULL, s->o.listen = NULL;
    s->o.allow_hosts = NULL;
    if (o->n_allow_hosts && !(s->allow_hosts = calloc((size_t)o->n_allow_hosts, sizeof *s->allow_hosts))) {
        free(s->db), free(s->token), free(s->index_kind), free(s);
        return status_fail(ST_NOMEM, "out of memory");
    }
    for (; s->n_allow_hosts < o->n_allow_hosts; s->n_allow_hosts++)
        s->allow_hosts[s->n_allow_hosts] = dupstr(o->allow_hosts[s->n_allow_hosts]);
    /* chat_api_start reads these during server_start only */
    s->o.chat_model = o->chat_model, s->o.vision_tower = o->vision_tower, s->o.models_root = o->models_root;
    s->loopback = loopback;
    s->started = timer_now();
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP); /* the swap must not starve */
    pthread_rwlock_init(&s->ix_lock, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&s->stop_mu, NULL);
    pthread_cond_init(&s->stop_cv, NULL);
    pthread_mutex_init(&s->chat_mu, NULL);
    pthread_mutex_init(&s->feedback_mu, NULL);

    /* with chat, STORE_SHARED: reads as before, plus the feedback writes
     * (LMDB forbids a second handle on one environment in a process) */
    if ((rc = store_open(s->db, o->chat_model ? STORE_SHARED : STORE_RDONLY, &s->st))) goto fail;
    if (o->model) snprintf(s->model_path, sizeof s->model_path, "%s", o->model);
    else if ((rc = store_get_model_path(s->st, s->model_path, sizeof s->model_path))) goto fail;
    if ((rc = embedder_load(s->model_path, EMBED_TEXT | EMBED_IMAGE, &s->emb))) goto fail;
    if ((rc = ingest_check_model(s->st, s->emb))) goto fail;
    if ((rc = search_index_params(s->st, o->index, &s->vp))) goto fail;
    /* the worker pools search concurrently: one OpenMP thread per scan */
    s->vp.threads = 1;
    if ((rc = open_index(s, &s->vi))) goto fail;
    if ((rc = catalog_load(s->st, &s->cat))) goto fail;
    if ((rc = queue_new(o->text_workers, o->text_waiting, &s->text_q))) goto fail;
    if ((rc = queue_new(o->image_slots, o->image_waiting, &s->image_q))) goto fail;
    if ((rc = queue_new(o->threads, o->threads, &s->request_q))) goto fail;
    if (o->chat_model && (rc = chat_api_start(s))) goto fail;
    s->o.chat_model = s->o.vision_tower = s->o.models_root = NULL;

    char ports[96], threads[16], timeout[16];
    snprintf(ports, sizeof ports, "%s:%d", host, port);
    snprintf(threads, sizeof threads, "%d", o->threads);
    snprintf(timeout, sizeof timeout, "%d", o->request_timeout_ms);
    const char *copts[] = {
        "listening_ports", ports,
        "num_threads", threads,
        "request_timeout_ms", timeout,
        "enable_keep_alive", "yes",
        "keep_alive_timeout_ms", "5000",
        "tcp_nodelay", "1",                  /* headers and body are two writes: without it
                                                Nagle + delayed ACK add 40 ms per response */
        "access_control_allow_origin", "",   /* same-origin only: no CORS headers */
        NULL};
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof cb);
    cb.log_message = on_log_message;
    mg_init_library(0);
    s->ctx = mg_start(&cb, s, copts);
    if (!s->ctx) {
        rc = status_fail(ST_IO, "cannot listen on %s (address in use, or not an address of this machine?)", ports);
        goto fail;
    }
    mg_set_request_handler(s->ctx, "/", dispatch, s);
    struct mg_server_port sp[4];
    int np = mg_get_server_ports(s->ctx, 4, sp);
    int bound = np > 0 ? sp[0].port : port;
    snprintf(s->url, sizeof s->url, "http://%s:%d/", host, bound);

    if (o->reload_s > 0) {
        if (pthread_create(&s->reloader, NULL, reloader_main, s)) {
            rc = status_fail(ST_INTERNAL, "cannot start the index reload thread");
            goto fail;
        }
        s->reloader_on = 1;
    }
    log_info("serve: %s, %zu images (%s index, generation %llu), model %s%s%s", s->url, vindex_size(s->vi),
             vindex_kind_of(s->vi) == VINDEX_HNSW ? "hnsw" : "exact", (unsigned long long)vindex_generation(s->vi),
             s->emb->identity, s->cm ? ", chat " : "", s->cm ? chat_model_identity(s->cm) : "");
    *out = s;
    return ST_OK;
fail:
    server_stop(s);
    return rc;
}

const char *server_url(const server *s) { return s->url; }

void server_stop(server *s) {
    if (!s) return;
    if (s->reloader_on) {
        pthread_mutex_lock(&s->stop_mu);
        s->stopping = 1;
        pthread_cond_broadcast(&s->stop_cv);
        pthread_mutex_unlock(&s->stop_mu);
        pthread_join(s->reloader, NULL);
    }
    if (s->ctx) {
        if (s->cm) chat_api_cancel_all(s);   /* answers end now, with done.stop = cancelled */
        mg_stop(s->ctx);   /* waits for in-flight requests */
        mg_exit_library();
    }
    chat_api_stop(s);
    queue_free(s->text_q);
    queue_free(s->image_q);
    queue_free(s->request_q);
    vindex_free(s->vi);
    catalog_free(s->cat);
    embedder_free(s->emb);
    store_close(s->st);
    pthread_rwlock_destroy(&s->ix_lock);
    pthread_mutex_destroy(&s->stop_mu);
    pthread_cond_destroy(&s->stop_cv);
    pthread_mutex_destroy(&s->chat_mu);
    pthread_mutex_destroy(&s->feedback_mu);
    free(s->db), free(s->token), free(s->index_kind);
    for (int i = 0; i < s->n_allow_hosts; i++) free(s->allow_hosts[i]);
    free(s->allow_hosts);
    free(s);
}
