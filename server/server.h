/* server/server.h — `seer serve`: the HTTP server (civetweb) over one store.
 *
 *     server_opts o;
 *     server_opts_default(&o);
 *     o.db = "photos.db";                      // the rest has defaults
 *     server *s;
 *     if (server_start(&o, &s)) die(status_message());
 *     printf("serving on %s\n", server_url(s));
 *     ... wait for SIGINT/SIGTERM (tools/cmd_serve.c uses sigwait) ...
 *     server_stop(s);                          // graceful: in-flight requests finish
 *
 * What it serves (docs/api.md has the contract, docs/openapi.yaml the schema):
 *   /              the web page (server/web/, embedded at build time; nothing is
 *                  read from disk but the store and the images it names)
 *   /api/search    GET ?q=TEXT&k=N, or POST (JSON {"q","k"}, or an image body:
 *                  raw bytes or multipart/form-data) → top-k images
 *   /api/images/{id}            the original file of an image, by numeric id only
 *   /api/images/{id}/thumbnail  its stored JPEG thumbnail
 *   /api/stats, /api/health
 *   /api/chat      POST (with chat_model): a question about an image (stored id
 *                  or upload) answered as server-sent events; /api/chat/{rid}/stop
 *   /api/feedback  POST a vote on an answer (stored in the store's feedback
 *                  table), GET the latest votes
 *
 * Loaded once at start and kept: the store (opened STORE_RDONLY, so an ingest
 * may run meanwhile), the CLIP model (text + image towers) and the vector
 * index. The index reflects the store generation it was built from; when
 * reload_s > 0 a background thread checks the generation every reload_s
 * seconds and swaps in a rebuilt index when an ingest changed the store.
 *
 * Chat (server/chat_api.c): with chat_model set, the MoE-LLaVA model is loaded
 * once at start (a tower that cannot be found fails server_start, naming the
 * paths it tried) and the store is opened STORE_SHARED instead of
 * STORE_RDONLY so that votes can be recorded (reads are unchanged). Each
 * answer runs on the chat pool: chat_workers workers, each generating one
 * answer at a time and keeping the chat_sessions most recently used images'
 * sessions (vision features + KV cache); chat_waiting answers may wait.
 *
 * Threads: civetweb's `threads` workers parse requests and write JSON; the
 * model work and the index search run as jobs on two worker pools
 * (server/queue.h): text_workers for text queries, image_slots for uploaded
 * images (decode + embed, the heavy kind). When text_waiting / image_waiting
 * jobs already wait, the API answers 503 with Retry-After.
 *
 * Security (docs/api.md, "Security model"): binds 127.0.0.1 unless listen
 * names another address; a non-loopback address needs a token (or
 * allow_no_token). With a token every /api/ request must carry
 * `Authorization: Bearer TOKEN` (or, for <img> URLs, `?access_token=TOKEN`);
 * the page itself loads without it. Every request's Host must be a loopback
 * name, an IP literal or one of allow_hosts (DNS rebinding); a POST or a
 * request with a body from another origin is refused (server/guard.c).
 * request_timeout_ms bounds the whole request (headers and body).
 *
 * Ownership: server_start copies every string of opts. server_stop blocks
 * until civetweb's threads have finished and frees everything.
 */
#ifndef SEER_SERVER_H
#define SEER_SERVER_H

#include <stddef.h>

typedef struct server server;

typedef struct {
    const char *db;            /* the store directory (required) */
    const char *model;         /* CLIP model dir; NULL = the one recorded by seer ingest */
    const char *listen;        /* "HOST:PORT" or "PORT" (= 127.0.0.1:PORT); port 0 picks a free one */
    const char *token;         /* bearer token for /api/; NULL or "" = none */
    const char *index;         /* "auto" (hnsw when the store has one), "flat", "hnsw" */
    int    allow_no_token;     /* allow a non-loopback listen address without a token */
    const char *const *allow_hosts; /* extra Host names answered (besides localhost and IP
                                  literals), n_allow_hosts of them; see docs/api.md */
    int    n_allow_hosts;
    int    threads;            /* civetweb worker threads (>= 2) */
    int    request_timeout_ms;
    size_t max_upload;         /* bytes of an uploaded image (413 above) */
    long long max_pixels;      /* width x height of an uploaded image (413 above, read from
                                  its header before decoding) */
    int    max_query;          /* bytes of q (400 above) */
    int    max_k;              /* k in 1..max_k */
    int    text_workers;       /* threads embedding text queries (and searching) */
    int    text_waiting;       /* text searches that may wait for one before 503 */
    int    image_slots;        /* threads decoding + embedding uploaded images */
    int    image_waiting;      /* image searches that may wait for one before 503 */
    int    reload_s;           /* check the store generation every N s; 0 = never */
    /* chat (all optional; chat_model NULL = no chat) */
    const char *chat_model;    /* MoE-LLaVA checkpoint directory */
    const char *vision_tower;  /* its tower; NULL = mm_image_tower under models_root */
    const char *models_root;   /* NULL = $SEER_MODELS or ~/.cache/seer/models */
    int    chat_quant_q8;      /* int8 language-model weights */
    int    chat_kv_f16;        /* IEEE-half KV cache (lm_opts.kv_f16) */
    int    chat_workers;       /* answers generated at once (one per worker) */
    int    chat_waiting;       /* answers that may wait for a worker before 503 */
    int    chat_sessions;      /* cached image sessions per worker (LRU) */
    int    chat_max_ctx;       /* KV cache positions per session */
    long   chat_cache_mb;      /* MiB of prepared images shared by the workers (chat_cache.h) */
    long   max_feedback;       /* feedback records the store may hold (507 above) */
} server_opts;

/* listen 127.0.0.1:8080, 32 threads, 30 s request timeout, 20 MiB and
 * 50 Mpx uploads,
 * q up to 1000 bytes, k up to 100, 2 text workers + 64 waiting, 2 image
 * workers + 8 waiting, reload every 10 s; chat: 1 worker + 4 waiting, 2
 * sessions per worker, 2048 positions (a float32 KV cache: 0.8 GB per
 * session for StableLM-1.6B), 1024 MiB of prepared images (about four
 * StableLM-1.6B + CLIP-L/336 prefixes of ~615 positions, 0.24 GB each). */
void server_opts_default(server_opts *o);

/* Open the store, model and index, and start listening. Errors: ST_ARG (bad
 * option; a non-loopback address without a token), ST_NOT_FOUND (no store or
 * no recorded model), ST_MISMATCH (model and store disagree), ST_IO (the
 * address cannot be bound), and those of store_open / embedder_load /
 * vindex_load. Nothing is left running on failure. */
int  server_start(const server_opts *o, server **out);

/* "http://127.0.0.1:8080/" — the address actually bound (the real port when
 * listen asked for port 0). Valid until server_stop. */
const char *server_url(const server *s);

/* Stop accepting, let in-flight requests finish, free everything. NULL is fine. */
void server_stop(server *s);

#endif
