/* server/server_impl.h — internal header, for the server/ sources only: the server
 * state shared by server.c (lifecycle), api.c (the /api/ handlers), page.c
 * (the embedded web page) and http.c (response and body helpers).
 */
#ifndef SEER_SERVER_IMPL_H
#define SEER_SERVER_IMPL_H

#include "catalog.h"
#include "chat.h"
#include "embed.h"
#include "queue.h"
#include "server.h"
#include "store.h"
#include "vindex.h"

#include <civetweb.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct server {
    server_opts      o;              /* strings below point at the copies */
    char            *db, *token, *index_kind;
    char             model_path[4096];
    char             url[80];
    int              loopback;       /* listening on 127.0.0.0/8 only */
    char           **allow_hosts;    /* --allow-host names (copies), n_allow_hosts of them */
    int              n_allow_hosts;
    double           started;        /* timer_now() at start */

    store           *st;             /* STORE_RDONLY; thread-safe reads */
    embedder        *emb;            /* text + image towers; thread-safe */
    queue           *text_q;         /* text embed + search jobs */
    queue           *image_q;        /* image decode + embed + search jobs */
    queue           *request_q;      /* every request's handler (o.threads workers, big stacks) */

    pthread_rwlock_t ix_lock;        /* readers: searches; writer: the reload swap */
    vindex          *vi;             /* under ix_lock */
    catalog         *cat;            /* under ix_lock: every image's metadata (filters, listing),
                                        reloaded with vi */
    vindex_params    vp;

    pthread_t        reloader;       /* when o.reload_s > 0 */
    int              reloader_on;
    pthread_mutex_t  stop_mu;
    pthread_cond_t   stop_cv;
    int              stopping;       /* under stop_mu */

    /* chat (server/chat_api.c); cm NULL when no chat model was given */
    chat_model      *cm;             /* read-only after load; shared by the workers */
    queue           *chat_q;         /* one answer per worker */
    struct chat_slot *slots;         /* chat_workers of them, each with its LRU of sessions */
    chat_cache      *chat_cache;     /* prepared images, shared by the workers (o.chat_cache_mb) */
    pthread_mutex_t  chat_mu;        /* slots' in_use flags, the active request list */
    struct chat_req *active;         /* answers running now (for /stop), under chat_mu */
    int              chat_stopping;  /* under chat_mu: server_stop began; new answers start cancelled */
    pthread_mutex_t  feedback_mu;    /* store writes: one thread at a time */
    atomic_ullong    n_chats, n_chat_cancelled, n_chat_disconnects, n_feedback, n_prepares, n_prepare_failed;

    struct mg_context *ctx;

    atomic_ullong    n_requests, n_text_searches, n_image_searches, n_4xx, n_5xx, n_reloads;
};

/* ---------------------------------------------------------------- http.c */

/* One response: status, content type, optional extra headers (a NULL-terminated
 * array of name, value pairs), body. Adds Content-Length and
 * X-Content-Type-Options: nosniff. Returns status (civetweb's "handled"). */
int http_send(struct mg_connection *c, int status, const char *ctype, const char *const *headers,
              const void *body, size_t len);
/* Send j (stolen) as application/json with Cache-Control: no-store. */
int http_send_json(struct mg_connection *c, int status, json_t *j, const char *const *headers);
/* Start a 200 text/event-stream response (chunked, not cached, not
 * buffered by proxies) carrying X-Request-Id: request_id. */
void http_sse_start(struct mg_connection *c, const char *request_id);
/* {"error": message} with status; counts 4xx/5xx in s. */
int http_send_error(server *s, struct mg_connection *c, int status, const char *const *headers, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Read the whole request body (malloc'd into *body, NUL-terminated; caller
 * frees). ST_TOO_LARGE when it exceeds max bytes (by Content-Length, before
 * reading, or while reading a chunked body), ST_IO when the client stopped,
 * ST_CANCELLED when the whole body did not arrive within the server's
 * request_timeout_ms (a slow client may not hold a thread longer). The
 * buffer grows with the bytes received, not with the Content-Length claimed. */
int http_read_body(struct mg_connection *c, size_t max, char **body, size_t *len);
/* End the connection once the response written so far is sent (the socket
 * is shut down: civetweb reads no more of the request). */
void http_close_after(struct mg_connection *c);
/* The response to a failed http_read_body: 413 (too large) or 408 (too slow),
 * both closing the connection; 500 out of memory; else 400. */
int http_send_body_error(server *s, struct mg_connection *c, int rc);
/* The first file part (one with a filename; else the first part) of a
 * multipart/form-data body whose Content-Type is ctype. *data points into
 * body. ST_FORMAT with a message when the body is not well-formed multipart. */
int http_multipart_file(const char *ctype, const char *body, size_t n, const char **data, size_t *len);
/* The part named name (Content-Disposition: form-data; name="NAME") of a
 * multipart/form-data body. ST_NOT_FOUND when there is none; ST_FORMAT as
 * above. *data points into body. */
int http_multipart_field(const char *ctype, const char *body, size_t n, const char *name, const char **data,
                         size_t *len);

/* ---------------------------------------------------------------- guard.c */

/* The Host and Origin rules (docs/api.md, "Security model"): 0 when the
 * request may proceed; else the 400/403 was sent and its status returned. */
int guard_check(server *s, struct mg_connection *c);

/* ---------------------------------------------------------------- api.c */

/* Everything under /api/ (auth already checked). */
int api_handle(server *s, struct mg_connection *c, const char *path);
/* 1 when the request carries the server's token (constant-time compare). */
int api_authorized(const server *s, struct mg_connection *c);

/* The bytes of stored image id, read from its path and checked against the
 * stored size and hash (malloc'd into *buf; caller frees). ST_NOT_FOUND with
 * a message when the id is unknown or the file is gone or changed. */
int api_image_bytes(server *s, uint64_t id, char **buf, size_t *len);
/* Parse a strict positive decimal id; 0 ok, -1 not one. */
int api_parse_id(const char *p, size_t n, uint64_t *id);

/* ---------------------------------------------------------------- chat_api.c */

/* A running answer, findable by id (POST /api/chat/{rid}/stop) while it is
 * on s->active. */
struct chat_req {
    char             id[17];  /* 16 hex digits */
    volatile int     cancel;  /* set by /stop, or by server_stop */
    struct chat_req *next;
};

typedef struct chat_job chat_job;

/* How an answer reaches its client (/api/chat's events, /v1/chat/completions'
 * chunks or JSON). Called on the chat worker, which may write on the
 * connection: the request thread waits in queue_run meanwhile. */
typedef struct {
    void (*begin)(chat_job *j);                          /* a slot was taken (may be NULL) */
    int  (*text)(chat_job *j, const char *t, size_t n);  /* a chunk of the answer (may be NULL);
                                                            nonzero stops the answer */
    /* the end: rc 0 with the answer in r and the session cs, or the failure
     * (status_message() says why; j->image_failed when it was the image) */
    void (*end)(chat_job *j, int rc, const gen_result *r, chat_session *cs);
} chat_sink;

/* One answer for chat_api_submit. The caller fills the request part; the
 * strings are borrowed and must live until chat_api_submit returns. */
struct chat_job {
    server                *s;
    struct mg_connection  *c;
    /* the image: key is its content hash; a stored image_id, or upload bytes,
     * or no_image (text only; key = store_hash_bytes of no bytes) */
    uint8_t                key[16];
    uint64_t               image_id;
    const char            *upload;
    size_t                 upload_n;
    int                    no_image;
    /* the conversation: system prompt (NULL = the model's), the image's
     * place (chat_set_image_place), n_hist complete turns q/a, the question */
    const char            *system;
    int                    img_turn, img_after;
    const char *const     *q, *const *a;
    int                    n_hist;
    const char            *last;
    gen_opts               go;           /* on_text, ctx and cancel are the job's */
    const chat_sink       *sink;
    void                  *ctx;          /* the sink's */
    /* while it runs */
    double                 t_arrived, t0, t_first, t_image, t_end;
    int                    image_cached, image_failed, disconnected;
    struct chat_req        req;
};

/* Give j a request id and run it on the chat pool (a full queue: wait up to
 * 250 ms for a place); returns when the sink's end has run. ST_BUSY (message
 * set) when the queue stayed full: nothing was written. */
int  chat_api_submit(server *s, chat_job *j);

/* Load the chat model, start the chat pool (server_start, when o.chat_model). */
int  chat_api_start(server *s);
/* Ask every running answer to stop (server_stop, before civetweb's stop
 * waits for the requests). */
void chat_api_cancel_all(server *s);
/* After civetweb stopped: the pool, the sessions, the model. */
void chat_api_stop(server *s);
/* POST /api/chat, POST /api/chat/prepare, POST /api/chat/{rid}/stop (rest =
 * the path after "chat"). */
int  chat_api_handle(server *s, struct mg_connection *c, const char *rest);
/* POST/GET /api/feedback. */
int  feedback_api_handle(server *s, struct mg_connection *c);
/* The "chat" object of /api/stats (false without a chat model). New reference. */
json_t *chat_api_stats(server *s);

/* The JSON-body checks of POST /api/chat (want_last "user") and of the
 * messages of POST /api/feedback (want_last "assistant"): the object, image_id,
 * messages and the sampling fields, without a server or a store. 0, or -1
 * with err set. For tests/fuzz/fuzz_chat_body.c. */
int  chat_api_check_body(const char *body, size_t n, const char *want_last, char *err, size_t ecap);

/* ---------------------------------------------------------------- openai_api.c */

/* Everything under /v1/ (auth already checked): the OpenAI-compatible
 * chat completions, embeddings and models endpoints (docs/api.md). */
int openai_handle(server *s, struct mg_connection *c, const char *path);
/* An OpenAI error object {"error": {"message", "type", "param", "code"}}
 * with status (type from the status); counts 4xx/5xx in s. code and param
 * may be NULL. */
int openai_error(server *s, struct mg_connection *c, int status, const char *const *headers, const char *param,
                 const char *code, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

/* ---------------------------------------------------------------- page.c */

/* "/", "/index.html", "/app.js", "/style.css"; 0 when path is none of them. */
int page_handle(server *s, struct mg_connection *c, const char *path);

#endif
