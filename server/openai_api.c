/* server/openai_api.c — the OpenAI-compatible endpoints under /v1/ (contract:
 * docs/api.md, "OpenAI-compatible API"), so that the OpenAI SDKs and the
 * tools built on them can talk to seer:
 *
 *   GET  /v1/models, /v1/models/{id}  the chat model and the search (CLIP) model
 *   POST /v1/chat/completions         a conversation (with at most one picture)
 *                                     → one answer, as JSON or as a stream of
 *                                     chunks (server-sent events, then [DONE])
 *   POST /v1/embeddings               texts (and, as an extension, data: image
 *                                     URIs) → CLIP embeddings, float or base64
 *
 * The same rules as /api/ hold (server.c checks the token and guard.c the
 * Host and Origin before this file sees a request); every limit is checked
 * before work is queued. Chat answers run on the chat pool of chat_api.c
 * (chat_api_submit: the same workers, slots and cached image sessions as
 * /api/chat); this file only translates the protocol: messages → system
 * prompt, turns and the image's place; the answer → OpenAI's objects. A
 * streamed answer's headers go out with its first chunk, so a conversation
 * that does not fit the context still gets a plain 400 error.
 *
 * Errors are OpenAI's error object: {"error": {"message", "type", "param",
 * "code"}}, type invalid_request_error (4xx), authentication_error (401) or
 * server_error (5xx).
 */
#include "server_impl.h"

#include "jsonx.h"
#include "status.h"
#include "timer.h"

#include <openssl/evp.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define OAI_MAX_MESSAGES  64           /* entries of "messages" (system ones included) */
#define OAI_MAX_TEXT      (32 << 10)   /* bytes of all message texts together */
#define OAI_MAX_TOKENS    1024
#define OAI_MAX_BEAMS     4
#define OAI_MAX_STOP      4            /* stop strings, as OpenAI allows */
#define OAI_STOP_BYTES    256
#define OAI_JSON_SLACK    (256 << 10)  /* a body's bytes beside one base64 image */
#define OAI_MAX_INPUTS    256          /* embeddings inputs per request */
#define OAI_INPUT_BYTES   (8 << 10)    /* bytes of one text to embed (CLIP reads 77 tokens of it) */

/* ---------------------------------------------------------------- errors */

int openai_error(server *s, struct mg_connection *c, int status, const char *const *headers, const char *param,
                 const char *code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (status >= 500) atomic_fetch_add(&s->n_5xx, 1);
    else if (status >= 400) atomic_fetch_add(&s->n_4xx, 1);
    const char *type = status == 401 ? "authentication_error" : status >= 500 ? "server_error" : "invalid_request_error";
    json_t *m = json_string(msg);
    json_t *o = json_pack("{s:{s:o, s:s, s:o, s:o}}", "error", "message", m ? m : json_string("(not UTF-8)"), "type",
                          type, "param", param ? json_string(param) : json_null(), "code",
                          code ? json_string(code) : json_null());
    return http_send_json(c, status, o, headers);
}

/* A request error found while parsing: status, param, code, message. */
typedef struct {
    int  status;
    char param[96];
    const char *code;
    char msg[512];
} oai_err;

static int fail(oai_err *e, int status, const char *code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int fail(oai_err *e, int status, const char *code, const char *param, const char *fmt, ...) {
    e->status = status;
    e->code = code;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

static int send_err(server *s, struct mg_connection *c, const oai_err *e) {
    return openai_error(s, c, e->status, NULL, e->param[0] ? e->param : NULL, e->code, "%s", e->msg);
}

/* ---------------------------------------------------------------- models */

/* The chat model's id: its checkpoint directory's name (the identity up to
 * " (+ tower)"). */
static void chat_id(const server *s, char *out, size_t cap) {
    const char *idn = chat_model_identity(s->cm);
    const char *plus = strstr(idn, " (+ ");
    snprintf(out, cap, "%.*s", (int)(plus ? (size_t)(plus - idn) : strlen(idn)), idn);
}

static long long created_at(const server *s) { return (long long)time(NULL) - (long long)(timer_now() - s->started); }

static json_t *model_obj(const server *s, const char *id) {
    return json_pack("{s:s, s:s, s:I, s:s}", "id", id, "object", "model", "created", (json_int_t)created_at(s),
                     "owned_by", "seer");
}

static int models_get(server *s, struct mg_connection *c, const char *id) {
    char cid[256] = "";
    if (s->cm) chat_id(s, cid, sizeof cid);
    if (id) {
        if (s->cm && !strcmp(id, cid)) return http_send_json(c, 200, model_obj(s, cid), NULL);
        if (!strcmp(id, s->emb->name)) return http_send_json(c, 200, model_obj(s, s->emb->name), NULL);
        return openai_error(s, c, 404, NULL, "model", "model_not_found", "The model '%.200s' does not exist", id);
    }
    json_t *arr = json_array();
    if (s->cm) json_array_append_new(arr, model_obj(s, cid));
    json_array_append_new(arr, model_obj(s, s->emb->name));
    return http_send_json(c, 200, json_pack("{s:s, s:o}", "object", "list", "data", arr), NULL);
}

/* ---------------------------------------------------------------- images */

/* data:image/TYPE;base64,DATA → malloc'd bytes. 0, or -1 with e set. */
static int data_uri(server *s, const char *url, size_t n, const char *param, char **out, size_t *len, oai_err *e) {
    *out = NULL;
    *len = 0;
    const char *comma = memchr(url, ',', n);
    if (!comma) return fail(e, 400, "invalid_image_url", param, "a data: URI needs a ',' before its data");
    size_t hn = (size_t)(comma - url);
    if (hn < 11 || strncasecmp(url, "data:image/", 11))
        return fail(e, 400, "invalid_image_url", param, "the data: URI must hold an image (data:image/...;base64,...)");
    if (hn < 7 || strncasecmp(comma - 7, ";base64", 7))
        return fail(e, 400, "invalid_image_url", param, "the data: URI must be base64-encoded (data:image/...;base64,...)");
    const char *b = comma + 1;
    size_t bn = n - hn - 1;
    if (bn == 0) return fail(e, 400, "invalid_image_url", param, "the data: URI holds no data");
    if (bn % 4 || bn / 4 * 3 > s->o.max_upload + 3) {
        if (bn / 4 * 3 > s->o.max_upload + 3)
            return fail(e, 413, "image_too_large", param, "the image is larger than the limit of %zu bytes",
                        s->o.max_upload);
        return fail(e, 400, "invalid_image_url", param, "the data: URI is not valid base64 (its length is not a multiple of 4)");
    }
    if (bn > (size_t)1 << 30) return fail(e, 413, "image_too_large", param, "the data: URI is too long");
    unsigned char *buf = malloc(bn / 4 * 3 + 1);
    if (!buf) return fail(e, 500, NULL, param, "out of memory");
    int got = EVP_DecodeBlock(buf, (const unsigned char *)b, (int)bn);
    if (got < 0) {
        free(buf);
        return fail(e, 400, "invalid_image_url", param, "the data: URI is not valid base64");
    }
    /* EVP_DecodeBlock counts the padding as zero bytes */
    size_t pad = b[bn - 1] == '=' ? (b[bn - 2] == '=' ? 2 : 1) : 0;
    size_t m = (size_t)got - pad;
    if (m > s->o.max_upload) {
        free(buf);
        return fail(e, 413, "image_too_large", param, "the image of %zu bytes exceeds the limit of %zu bytes", m,
                    s->o.max_upload);
    }
    *out = (char *)buf;
    *len = m;
    return 0;
}

/* ---------------------------------------------------------------- chat: parsing */

typedef struct {
    char      *text;      /* joined text parts (malloc'd) */
    int        user;      /* 1 user, 0 assistant */
    int        image;     /* holds the conversation's image */
    int        img_after; /* the image follows some of the text */
} oai_msg;

typedef struct {
    oai_msg   *m;
    int        n;
    char      *system;    /* joined system / developer texts, NULL none */
    /* the image */
    int        has_image;
    uint64_t   image_id;  /* seer:image/ID */
    char      *bytes;     /* data: URI, decoded (malloc'd) */
    size_t     n_bytes;
    /* for the job: the questions and answers of the complete turns */
    const char **q, **a;
    int        n_hist, img_turn, img_after;
    const char *last;
} oai_conv;

static void conv_free(oai_conv *cv) {
    for (int i = 0; i < cv->n; i++) free(cv->m[i].text);
    free(cv->m), free(cv->system), free(cv->bytes), free(cv->q), free(cv->a);
    memset(cv, 0, sizeof *cv);
}

/* dst += sep + t (sep only when dst is not empty) */
static int append(char **dst, const char *t, size_t n, const char *sep) {
    size_t have = *dst ? strlen(*dst) : 0, sn = have ? strlen(sep) : 0;
    char *p = realloc(*dst, have + sn + n + 1);
    if (!p) return -1;
    memcpy(p + have, sep, sn);
    memcpy(p + have + sn, t, n);
    p[have + sn + n] = 0;
    *dst = p;
    return 0;
}

static int text_ok(json_t *t, const char *param, oai_err *e) {
    if (strlen(json_string_value(t)) != json_string_length(t))
        return fail(e, 400, NULL, param, "%s contains a NUL character", param);
    return 0;
}

/* The image part's url: seer:image/ID or a data: URI. */
static int image_part(server *s, json_t *part, const char *param, oai_conv *cv, oai_err *e) {
    json_t *iu = json_object_get(part, "image_url");
    json_t *u = json_is_object(iu) ? json_object_get(iu, "url") : iu;
    char p[96];
    snprintf(p, sizeof p, "%s.image_url.url", param);
    if (!json_is_string(u)) return fail(e, 400, NULL, p, "an image_url part needs \"image_url\": {\"url\": \"...\"}");
    if (cv->has_image)
        return fail(e, 400, "too_many_images", p,
                    "this model looks at one image per conversation, and %s is a second one: start a new "
                    "conversation for another picture", param);
    const char *url = json_string_value(u);
    size_t n = json_string_length(u);
    if (n >= 11 && !strncmp(url, "seer:image/", 11)) {
        if (api_parse_id(url + 11, n - 11, &cv->image_id))
            return fail(e, 400, "invalid_image_url", p, "seer:image/ID needs a positive decimal id (from /api/search)");
    } else if (n >= 5 && !strncasecmp(url, "data:", 5)) {
        if (data_uri(s, url, n, p, &cv->bytes, &cv->n_bytes, e)) return -1;
    } else if ((n >= 7 && !strncasecmp(url, "http://", 7)) || (n >= 8 && !strncasecmp(url, "https://", 8))) {
        return fail(e, 400, "remote_image_url_refused", p,
                    "this server does not fetch remote images: send the picture inline as a data: URI "
                    "(data:image/jpeg;base64,...) or a stored image as seer:image/ID");
    } else {
        return fail(e, 400, "invalid_image_url", p,
                    "an image url must be a data: URI (data:image/...;base64,...) or seer:image/ID");
    }
    cv->has_image = 1;
    return 0;
}

/* messages → system prompt, user/assistant messages (consecutive ones of a
 * role joined), the image. */
static int parse_conv(server *s, json_t *msgs, oai_conv *cv, oai_err *e) {
    memset(cv, 0, sizeof *cv);
    if (!json_is_array(msgs)) return fail(e, 400, NULL, "messages", "\"messages\" must be an array of messages");
    size_t n = json_array_size(msgs);
    if (n == 0) return fail(e, 400, NULL, "messages", "\"messages\" is empty: give at least one user message");
    if (n > OAI_MAX_MESSAGES)
        return fail(e, 400, NULL, "messages", "\"messages\" has %zu entries; at most %d", n, OAI_MAX_MESSAGES);
    if (!(cv->m = calloc(n, sizeof *cv->m))) return fail(e, 500, NULL, NULL, "out of memory");
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        char pm[48];
        snprintf(pm, sizeof pm, "messages[%zu]", i);
        json_t *m = json_array_get(msgs, i), *r = json_object_get(m, "role"), *c = json_object_get(m, "content");
        if (!json_is_object(m) || !json_is_string(r))
            return fail(e, 400, NULL, pm, "%s must be an object with \"role\" and \"content\"", pm);
        const char *role = json_string_value(r);
        int sys = !strcmp(role, "system") || !strcmp(role, "developer");
        int user = !strcmp(role, "user"), asst = !strcmp(role, "assistant");
        if (!sys && !user && !asst)
            return fail(e, 400, NULL, pm, "%s: role \"%.20s\" is not supported (system, developer, user, assistant)",
                        pm, role);
        if (asst && json_object_get(m, "tool_calls") && !json_is_null(json_object_get(m, "tool_calls")))
            return fail(e, 400, NULL, pm, "%s: tool calls are not supported", pm);
        char *text = NULL;
        int image = 0, img_after = 0;
        if (json_is_string(c)) {
            char pc[64];
            snprintf(pc, sizeof pc, "%s.content", pm);
            if (text_ok(c, pc, e)) return -1;
            if (append(&text, json_string_value(c), json_string_length(c), "")) return fail(e, 500, NULL, NULL, "out of memory");
        } else if (json_is_array(c)) {
            for (size_t k = 0; k < json_array_size(c); k++) {
                char pp[80];
                snprintf(pp, sizeof pp, "%s.content[%zu]", pm, k);
                json_t *part = json_array_get(c, k), *t = json_object_get(part, "type");
                const char *type = json_is_string(t) ? json_string_value(t) : NULL;
                if (!json_is_object(part) || !type) {
                    free(text);
                    return fail(e, 400, NULL, pp, "%s must be an object with a \"type\"", pp);
                }
                if (!strcmp(type, "text") || (asst && !strcmp(type, "refusal"))) {
                    json_t *tx = json_object_get(part, !strcmp(type, "text") ? "text" : "refusal");
                    if (!json_is_string(tx) || text_ok(tx, pp, e)) {
                        free(text);
                        return json_is_string(tx) ? -1 : fail(e, 400, NULL, pp, "%s: a text part needs \"text\": a string", pp);
                    }
                    if (append(&text, json_string_value(tx), json_string_length(tx), "\n")) {
                        free(text);
                        return fail(e, 500, NULL, NULL, "out of memory");
                    }
                } else if (!strcmp(type, "image_url")) {
                    if (!user) {
                        free(text);
                        return fail(e, 400, NULL, pp, "%s: only user messages may hold an image", pp);
                    }
                    if (image_part(s, part, pp, cv, e)) {
                        free(text);
                        return -1;
                    }
                    image = 1, img_after = text != NULL;
                } else {
                    free(text);
                    return fail(e, 400, "unsupported_content_type", pp,
                                "%s: content part type \"%.30s\" is not supported (text, image_url)", pp, type);
                }
            }
        } else if (!(asst && json_is_null(c))) {
            return fail(e, 400, NULL, pm, "%s: \"content\" must be a string or an array of content parts", pm);
        }
        size_t len = text ? strlen(text) : 0;
        total += len;
        if (total > OAI_MAX_TEXT) {
            free(text);
            return fail(e, 400, NULL, "messages", "the messages hold more than %d bytes of text", OAI_MAX_TEXT);
        }
        if (sys) {
            int r2 = text ? append(&cv->system, text, len, "\n") : 0;
            free(text);
            if (r2) return fail(e, 500, NULL, NULL, "out of memory");
            continue;
        }
        /* join consecutive messages of one role */
        if (cv->n && cv->m[cv->n - 1].user == user) {
            oai_msg *p = &cv->m[cv->n - 1];
            if (image) p->image = 1, p->img_after = p->text != NULL || img_after;
            int r2 = text ? append(&p->text, text, len, "\n") : 0;
            free(text);
            if (r2) return fail(e, 500, NULL, NULL, "out of memory");
            continue;
        }
        cv->m[cv->n++] = (oai_msg){text, user, image, img_after};
    }
    if (cv->n == 0 || !cv->m[0].user)
        return fail(e, 400, NULL, "messages", "the conversation must start with a user message (after any system messages)");
    if (!cv->m[cv->n - 1].user)
        return fail(e, 400, NULL, "messages", "the last message must be the user's: the question to answer");
    int turns = cv->n / 2;
    cv->q = calloc((size_t)turns + 1, sizeof *cv->q);
    cv->a = calloc((size_t)turns + 1, sizeof *cv->a);
    if (!cv->q || !cv->a) return fail(e, 500, NULL, NULL, "out of memory");
    for (int i = 0; i < cv->n; i++) {
        oai_msg *m = &cv->m[i];
        if (m->user) {
            const char *t = m->text ? m->text : "";
            while (isspace((unsigned char)*t)) t++;
            if (!*t)
                return fail(e, 400, NULL, "messages",
                            "user message %d has no text: ask something (about the image)", i / 2 + 1);
            if (m->image) cv->img_turn = i / 2, cv->img_after = m->img_after;
        }
        if (!m->text && !(m->text = strdup(""))) return fail(e, 500, NULL, NULL, "out of memory");
        if (i + 1 < cv->n) (m->user ? cv->q : cv->a)[i / 2] = m->text;
    }
    cv->n_hist = turns;
    cv->last = cv->m[cv->n - 1].text;
    return 0;
}

/* A number in [lo, hi] (open at lo when lo_open); absent or null → def. */
static int num_param(json_t *o, const char *name, double lo, int lo_open, double hi, double def, double *out, oai_err *e) {
    json_t *v = json_object_get(o, name);
    *out = def;
    if (!v || json_is_null(v)) return 0;
    double x = json_is_number(v) ? json_number_value(v) : 0;
    if (!json_is_number(v) || x > hi || (lo_open ? x <= lo : x < lo))
        return fail(e, 400, "invalid_value", name, "\"%s\" must be a number in %s%g, %g]", name, lo_open ? "(" : "[", lo, hi);
    *out = x;
    return 0;
}

static int int_param(json_t *o, const char *name, long long lo, long long hi, long long def, long long *out, oai_err *e) {
    json_t *v = json_object_get(o, name);
    *out = def;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return fail(e, 400, "invalid_value", name, "\"%s\" must be an integer from %lld to %lld", name, lo, hi);
    *out = json_integer_value(v);
    return 0;
}

/* ---------------------------------------------------------------- chat: the answer */

typedef struct {
    int         stream, include_usage;
    char        id[48];
    const char *model;
    long long   created;
    int         headers_sent;
    /* the result, for the request thread (not streamed, or failed before a chunk) */
    int         rc;
    char        err[1024];
    char       *text;
    gen_stop    stop;
    int         prompt_tokens, completion_tokens;
} oai_chat;

static const char *finish_reason(gen_stop st) {
    return st == GEN_STOP_LENGTH || st == GEN_STOP_CONTEXT ? "length" : "stop";
}

/* data: JSON\n\n as one chunk; o is stolen */
static void sse_data(chat_job *j, json_t *o) {
    char *d = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!d || j->disconnected) {
        free(d);
        return;
    }
    size_t n = strlen(d) + 10;
    char *buf = malloc(n);
    int len = buf ? snprintf(buf, n, "data: %s\n\n", d) : -1;
    if (len <= 0 || mg_send_chunk(j->c, buf, (unsigned)len) <= 0) j->disconnected = 1;
    free(buf);
    free(d);
}

static json_t *chunk(const oai_chat *x, json_t *choices) {
    return json_pack("{s:s, s:s, s:I, s:s, s:s, s:o}", "id", x->id, "object", "chat.completion.chunk", "created",
                     (json_int_t)x->created, "model", x->model, "system_fingerprint", "seer", "choices", choices);
}

static json_t *delta_choice(json_t *delta, const char *finish) {
    return json_pack("[{s:i, s:o, s:n, s:o}]", "index", 0, "delta", delta, "logprobs", "finish_reason",
                     finish ? json_string(finish) : json_null());
}

static void stream_open(chat_job *j, oai_chat *x) {
    if (x->headers_sent) return;
    x->headers_sent = 1;
    http_sse_start(j->c, j->req.id);
    sse_data(j, chunk(x, delta_choice(json_pack("{s:s, s:s}", "role", "assistant", "content", ""), NULL)));
}

static int oai_text(chat_job *j, const char *t, size_t n) {
    oai_chat *x = j->ctx;
    if (!x->stream) return 0;
    stream_open(j, x);
    json_t *s = json_stringn(t, n);
    sse_data(j, chunk(x, delta_choice(json_pack("{s:o}", "content", s ? s : json_string("\xEF\xBF\xBD")), NULL)));
    return 0;
}

static json_t *usage_obj(const oai_chat *x) {
    return json_pack("{s:i, s:i, s:i}", "prompt_tokens", x->prompt_tokens, "completion_tokens", x->completion_tokens,
                     "total_tokens", x->prompt_tokens + x->completion_tokens);
}

/* The status and code of a failed answer. */
static int fail_status(const chat_job *j, int rc, const char **code) {
    *code = NULL;
    if (j->image_failed) {
        if (rc == ST_NOT_FOUND) return *code = "image_not_found", 404;
        if (rc == ST_TOO_LARGE) return *code = "image_too_large", 413;
        if (rc == ST_FORMAT || rc == ST_UNSUPPORTED || rc == ST_ARG) return *code = "invalid_image", 400;
        return 500;
    }
    if (rc == ST_TOO_LARGE) return *code = "context_length_exceeded", 400;
    if (rc == ST_ARG) return 400;
    return 500;
}

static void oai_end(chat_job *j, int rc, const gen_result *r, chat_session *cs) {
    oai_chat *x = j->ctx;
    x->rc = rc;
    if (rc) {
        snprintf(x->err, sizeof x->err, "%s", status_message());
        if (x->stream && x->headers_sent) {   /* mid-stream: an error chunk, then the end */
            const char *code;
            int st = fail_status(j, rc, &code);
            sse_data(j, json_pack("{s:{s:s, s:s, s:n, s:o}}", "error", "message", x->err, "type",
                                  st >= 500 ? "server_error" : "invalid_request_error", "param", "code",
                                  code ? json_string(code) : json_null()));
        }
    } else {
        x->stop = r->stop;
        x->prompt_tokens = chat_prompt_positions(cs);
        x->completion_tokens = r->n;
        x->text = strdup(r->text ? r->text : "");
        if (x->stream) {
            stream_open(j, x);
            json_t *fin = chunk(x, delta_choice(json_object(), finish_reason(r->stop)));
            if (x->include_usage) json_object_set_new(fin, "usage", json_null());
            sse_data(j, fin);
            if (x->include_usage) {
                json_t *u = chunk(x, json_array());
                json_object_set_new(u, "usage", usage_obj(x));
                sse_data(j, u);
            }
        }
    }
    if (x->stream && x->headers_sent && !j->disconnected) {
        static const char done[] = "data: [DONE]\n\n";
        if (mg_send_chunk(j->c, done, sizeof done - 1) <= 0 || mg_send_chunk(j->c, "", 0) < 0) j->disconnected = 1;
    }
}

static void oai_begin(chat_job *j) {
    oai_chat *x = j->ctx;
    snprintf(x->id, sizeof x->id, "chatcmpl-%s", j->req.id);
}

static const chat_sink oai_sink = {oai_begin, oai_text, oai_end};

static size_t body_max(const server *s) { return s->o.max_upload / 3 * 4 + 8 + OAI_JSON_SLACK; }

static int read_json(server *s, struct mg_connection *c, json_t **out) {
    *out = NULL;
    const char *ct = mg_get_header(c, "Content-Type");
    if (!ct || strncasecmp(ct, "application/json", 16))
        return openai_error(s, c, 415, NULL, NULL, NULL, "send the request as application/json");
    char *body;
    size_t n;
    int rc = http_read_body(c, body_max(s), &body, &n);
    if (rc) {
        static const char *const close_h[] = {"Connection", "close", NULL};
        int st = rc == ST_TOO_LARGE ? 413 : rc == ST_CANCELLED ? 408 : rc == ST_NOMEM ? 500 : 400;
        openai_error(s, c, st, st == 413 || st == 408 ? close_h : NULL, NULL, NULL, "%s", status_message());
        if (st == 413 || st == 408) http_close_after(c);
        return st;
    }
    jsonx_loadb_limited(body, n, JSON_REJECT_DUPLICATES, JSONX_MAX_DEPTH, out);
    free(body);
    if (!*out) return openai_error(s, c, 400, NULL, NULL, NULL, "malformed JSON body: %s", status_message());
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return openai_error(s, c, 400, NULL, NULL, NULL, "the JSON body must be an object");
    }
    return 0;
}

/* "stop": a string or up to OAI_MAX_STOP strings; stops[] borrows from o */
static int stop_param(json_t *o, const char **stops, int *n, oai_err *e) {
    json_t *v = json_object_get(o, "stop");
    *n = 0;
    if (!v || json_is_null(v)) return 0;
    json_t *one[1] = {v};
    size_t k = json_is_array(v) ? json_array_size(v) : 1;
    if ((!json_is_array(v) && !json_is_string(v)) || k > OAI_MAX_STOP)
        return fail(e, 400, "invalid_value", "stop", "\"stop\" must be a string or an array of up to %d strings", OAI_MAX_STOP);
    for (size_t i = 0; i < k; i++) {
        json_t *t = json_is_array(v) ? json_array_get(v, i) : one[0];
        if (!json_is_string(t) || json_string_length(t) == 0 || json_string_length(t) > OAI_STOP_BYTES ||
            strlen(json_string_value(t)) != json_string_length(t))
            return fail(e, 400, "invalid_value", "stop", "each stop string must be 1..%d bytes", OAI_STOP_BYTES);
        stops[(*n)++] = json_string_value(t);
    }
    return 0;
}

static int chat_completions(server *s, struct mg_connection *c) {
    double t_arrived = timer_now();
    if (!s->cm)
        return openai_error(s, c, 404, NULL, "model", "model_not_found",
                            "chat is not enabled on this server: start seer serve with --chat-model DIR");
    json_t *o;
    int st = read_json(s, c, &o);
    if (st) return st;
    oai_err e = {0};
    oai_conv cv = {0};
    char cid[256];
    chat_id(s, cid, sizeof cid);
    json_t *model = json_object_get(o, "model"), *stream = json_object_get(o, "stream");
    json_t *so = json_object_get(o, "stream_options");
    double temp = 0.2, top_p = 1;
    long long beams = 1, max_tokens = 256, mct = 0, top_k = 0, seed = 0, n = 1;
    const char *stops[OAI_MAX_STOP + 1];
    int n_stop = 0;
    json_t *lp = json_object_get(o, "logprobs"), *rf = json_object_get(o, "response_format");
    json_t *rft = json_is_object(rf) ? json_object_get(rf, "type") : NULL;
    if (!json_is_string(model)) fail(&e, 400, NULL, "model", "\"model\" is required: the chat model's id (GET /v1/models)");
    else if (strcmp(json_string_value(model), cid))
        fail(&e, 404, "model_not_found", "model",
             "The model '%.200s' does not exist or is not a chat model here; this server chats with '%s'",
             json_string_value(model), cid);
    else if (stream && !json_is_null(stream) && !json_is_boolean(stream))
        fail(&e, 400, "invalid_type", "stream", "\"stream\" must be true or false");
    else if (so && !json_is_null(so) &&
             (!json_is_object(so) || (json_object_get(so, "include_usage") &&
                                      !json_is_boolean(json_object_get(so, "include_usage")))))
        fail(&e, 400, "invalid_type", "stream_options", "\"stream_options\" must be {\"include_usage\": true|false}");
    else if (json_object_get(o, "tools") || json_object_get(o, "functions"))
        fail(&e, 400, "unsupported_parameter", json_object_get(o, "tools") ? "tools" : "functions",
             "tools and function calling are not supported by this model");
    else if (json_is_true(lp)) fail(&e, 400, "unsupported_parameter", "logprobs", "logprobs are not supported");
    else if (rf && !json_is_null(rf) && !(json_is_string(rft) && !strcmp(json_string_value(rft), "text")))
        fail(&e, 400, "unsupported_parameter", "response_format", "only response_format {\"type\": \"text\"} is supported");
    else if (int_param(o, "n", 1, 1, 1, &n, &e) ||
             num_param(o, "temperature", 0, 0, 2, 0.2, &temp, &e) || num_param(o, "top_p", 0, 1, 1, 1, &top_p, &e) ||
             int_param(o, "max_tokens", 1, OAI_MAX_TOKENS, 256, &max_tokens, &e) ||
             int_param(o, "max_completion_tokens", 1, OAI_MAX_TOKENS, 0, &mct, &e) ||
             int_param(o, "num_beams", 1, OAI_MAX_BEAMS, 1, &beams, &e) ||
             int_param(o, "top_k", 0, 1000000, 0, &top_k, &e) ||
             int_param(o, "seed", 0, (1ll << 53) - 1, 0, &seed, &e) || stop_param(o, stops, &n_stop, &e)) {
    } else if (mct && json_object_get(o, "max_tokens") && !json_is_null(json_object_get(o, "max_tokens")) &&
               mct != max_tokens)
        fail(&e, 400, "invalid_value", "max_completion_tokens", "\"max_tokens\" and \"max_completion_tokens\" disagree");
    else parse_conv(s, json_object_get(o, "messages"), &cv, &e);

    chat_job j;
    memset(&j, 0, sizeof j);
    if (!e.status && cv.has_image && cv.image_id) {
        store_image im;
        int r = store_get_image(s->st, cv.image_id, &im);
        if (r == ST_NOT_FOUND)
            fail(&e, 404, "image_not_found", "messages", "no stored image with id %llu (seer:image/%llu)",
                 (unsigned long long)cv.image_id, (unsigned long long)cv.image_id);
        else if (r) fail(&e, 500, NULL, NULL, "%s", status_message());
        else memcpy(j.key, im.hash, 16);
    }
    if (e.status) {
        conv_free(&cv);
        json_decref(o);
        return send_err(s, c, &e);
    }
    if (!cv.has_image) j.no_image = 1, store_hash_bytes("", 0, j.key);
    else if (cv.bytes) store_hash_bytes(cv.bytes, cv.n_bytes, j.key);
    j.c = c, j.t_arrived = t_arrived, j.sink = &oai_sink;
    j.image_id = cv.image_id, j.upload = cv.bytes, j.upload_n = cv.n_bytes;
    j.system = cv.system, j.img_turn = cv.img_turn, j.img_after = cv.img_after;
    j.q = cv.q, j.a = cv.a, j.n_hist = cv.n_hist, j.last = cv.last;
    j.go = gen_opts_default();
    j.go.max_tokens = (int)(mct ? mct : max_tokens);
    j.go.sampling.temperature = (float)temp;
    j.go.sampling.top_p = (float)top_p;
    j.go.sampling.top_k = (int)top_k;
    j.go.sampling.seed = (uint64_t)seed;
    j.go.num_beams = (int)beams;
    if (n_stop) {   /* the model's own end string stays a stop */
        stops[n_stop++] = "<|endoftext|>";
        j.go.stop = stops, j.go.n_stop = n_stop;
    }
    oai_chat x = {0};
    x.stream = json_is_true(stream);
    x.include_usage = x.stream && json_is_true(json_object_get(so, "include_usage"));
    x.model = cid;
    x.created = (long long)time(NULL);
    j.ctx = &x;
    int rc = chat_api_submit(s, &j);
    int out;
    if (rc) {
        static const char *const h[] = {"Retry-After", "2", NULL};
        out = openai_error(s, c, 503, h, NULL, "overloaded", "%s", status_message());
    } else if (x.rc && !x.headers_sent) {
        const char *code;
        int fs = fail_status(&j, x.rc, &code);
        out = openai_error(s, c, fs, NULL, NULL, code, "%s", x.err);
    } else if (x.stream) {
        out = 200;
    } else {
        json_t *content = json_string(x.text ? x.text : "");
        json_t *res = json_pack("{s:s, s:s, s:I, s:s, s:s, s:[{s:i, s:{s:s, s:o, s:n}, s:n, s:s}], s:o}", "id", x.id,
                                "object", "chat.completion", "created", (json_int_t)x.created, "model", cid,
                                "system_fingerprint", "seer", "choices", "index", 0, "message", "role", "assistant",
                                "content", content ? content : json_string("\xEF\xBF\xBD"), "refusal", "logprobs",
                                "finish_reason", finish_reason(x.stop), "usage", usage_obj(&x));
        const char *h[] = {"X-Request-Id", j.req.id, NULL};
        out = res ? http_send_json(c, 200, res, h) : openai_error(s, c, 500, NULL, NULL, NULL, "cannot build the answer");
    }
    free(x.text);
    conv_free(&cv);
    json_decref(o);
    return out;
}

/* ---------------------------------------------------------------- embeddings */

/* j (stolen) as JSON with 9 significant digits for reals, enough to give
 * back every float32 exactly (http_send_json writes 7). */
static int send_json_floats(server *s, struct mg_connection *c, json_t *j) {
    char *d = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(j);
    if (!d) return openai_error(s, c, 500, NULL, NULL, NULL, "out of memory");
    static const char *const h[] = {"Cache-Control", "no-store", NULL};
    int out = http_send(c, 200, "application/json; charset=utf-8", h, d, strlen(d));
    free(d);
    return out;
}

typedef struct {
    server      *s;
    int          n;
    const char **text;      /* text[i], or NULL for an image */
    char       **img;       /* decoded image bytes (NULL for a text) */
    size_t      *img_n;
    float       *out;       /* (n, dim) */
    long long    tokens;
    int          rc, bad;   /* bad: the input that failed */
    char         err[512];
} embed_job;

static void embed_job_run(void *arg) {
    embed_job *j = arg;
    const embedder *e = j->s->emb;
    image_opts io = image_opts_default();
    io.max_pixels = j->s->o.max_pixels;   /* the upload memory budget */
    for (int i = 0; i < j->n && !j->rc; i++) {
        float *v = j->out + (size_t)i * e->dim;
        if (j->text[i]) {
            int32_t ids[77];
            int k = 0;
            if (e->family == EMBED_BLIP2 ? !embedder_tokenize(e, j->text[i], ids, 77, &k)
                                         : !clip_tokenizer_encode(e->tok, j->text[i], ids, 77, &k))
                j->tokens += k;
            j->rc = embedder_text(e, j->text[i], v);
        } else {
            char what[32];
            snprintf(what, sizeof what, "input[%d]", i);
            j->rc = embedder_image_bytes(e, j->img[i], j->img_n[i], what, &io, v, NULL);
        }
        if (j->rc) {
            j->bad = i;
            snprintf(j->err, sizeof j->err, "%s", status_message());
        }
    }
}

static int embeddings(server *s, struct mg_connection *c) {
    json_t *o;
    int st = read_json(s, c, &o);
    if (st) return st;
    oai_err e = {0};
    json_t *model = json_object_get(o, "model"), *in = json_object_get(o, "input");
    json_t *fmt = json_object_get(o, "encoding_format"), *dims = json_object_get(o, "dimensions");
    char cid[256] = "";
    if (s->cm) chat_id(s, cid, sizeof cid);
    int b64 = json_is_string(fmt) && !strcmp(json_string_value(fmt), "base64");
    size_t n = json_is_array(in) ? json_array_size(in) : 1;
    embed_job j = {.s = s};
    if (!json_is_string(model)) fail(&e, 400, NULL, "model", "\"model\" is required: the search model's id (GET /v1/models)");
    else if (s->cm && !strcmp(json_string_value(model), cid))
        fail(&e, 400, "invalid_model", "model", "'%s' is a chat model; embeddings come from '%s'", cid, s->emb->name);
    else if (strcmp(json_string_value(model), s->emb->name))
        fail(&e, 404, "model_not_found", "model", "The model '%.200s' does not exist; embeddings come from '%s'",
             json_string_value(model), s->emb->name);
    else if (fmt && !json_is_null(fmt) && !b64 && !(json_is_string(fmt) && !strcmp(json_string_value(fmt), "float")))
        fail(&e, 400, "invalid_value", "encoding_format", "\"encoding_format\" must be \"float\" or \"base64\"");
    else if (dims && !json_is_null(dims) && (!json_is_integer(dims) || json_integer_value(dims) != s->emb->dim))
        fail(&e, 400, "invalid_value", "dimensions", "this model's embeddings have %d dimensions", s->emb->dim);
    else if (!json_is_string(in) && !json_is_array(in))
        fail(&e, 400, NULL, "input", "\"input\" must be a string or an array of strings");
    else if (n == 0 || n > OAI_MAX_INPUTS)
        fail(&e, 400, NULL, "input", "\"input\" must hold 1 to %d strings", OAI_MAX_INPUTS);
    else if (!(j.text = calloc(n, sizeof *j.text)) || !(j.img = calloc(n, sizeof *j.img)) ||
             !(j.img_n = calloc(n, sizeof *j.img_n)) || !(j.out = malloc(n * (size_t)s->emb->dim * sizeof(float))))
        fail(&e, 500, NULL, NULL, "out of memory");
    int any_image = 0;
    for (size_t i = 0; i < n && !e.status; i++) {
        char p[32];
        snprintf(p, sizeof p, "input[%zu]", i);
        json_t *v = json_is_array(in) ? json_array_get(in, i) : in;
        if (!json_is_string(v)) {
            fail(&e, 400, NULL, p, "%s must be a string (token arrays are not supported: send the text)", p);
            break;
        }
        const char *t = json_string_value(v);
        size_t len = json_string_length(v);
        if (len >= 11 && !strncasecmp(t, "data:image/", 11)) {
            if (data_uri(s, t, len, p, &j.img[i], &j.img_n[i], &e)) break;
            any_image = 1;
            continue;
        }
        if (len == 0 || strlen(t) != len) fail(&e, 400, NULL, p, "%s must be a non-empty string without NUL", p);
        else if (len > OAI_INPUT_BYTES) fail(&e, 400, NULL, p, "%s is longer than %d bytes", p, OAI_INPUT_BYTES);
        else j.text[i] = t;
    }
    int out;
    if (e.status) {
        out = send_err(s, c, &e);
    } else {
        j.n = (int)n;
        if (queue_run(any_image ? s->image_q : s->text_q, embed_job_run, &j)) {
            static const char *const h[] = {"Retry-After", "1", NULL};
            out = openai_error(s, c, 503, h, NULL, "overloaded", "%s", status_message());
        } else if (j.rc) {
            char p[32];
            snprintf(p, sizeof p, "input[%d]", j.bad);
            int bad_input = j.rc == ST_FORMAT || j.rc == ST_UNSUPPORTED || j.rc == ST_ARG;
            out = openai_error(s, c, j.rc == ST_TOO_LARGE ? 413 : bad_input ? 400 : 500, NULL, p,
                               j.rc == ST_TOO_LARGE ? "image_too_large" : bad_input ? "invalid_image" : NULL, "%s", j.err);
        } else {
            const int D = s->emb->dim;
            json_t *data = json_array();
            unsigned char *raw = malloc((size_t)D * 4), *enc = malloc(((size_t)D * 4 + 2) / 3 * 4 + 1);
            for (int i = 0; i < j.n && raw && enc; i++) {
                const float *v = j.out + (size_t)i * D;
                json_t *emb;
                if (b64) {   /* little-endian float32, as OpenAI sends them */
                    for (int k = 0; k < D; k++) {
                        uint32_t u;
                        memcpy(&u, &v[k], 4);
                        raw[4 * k] = (unsigned char)u, raw[4 * k + 1] = (unsigned char)(u >> 8);
                        raw[4 * k + 2] = (unsigned char)(u >> 16), raw[4 * k + 3] = (unsigned char)(u >> 24);
                    }
                    EVP_EncodeBlock(enc, raw, D * 4);
                    emb = json_string((const char *)enc);
                } else {
                    emb = json_array();
                    for (int k = 0; k < D; k++) json_array_append_new(emb, json_real(v[k]));
                }
                json_array_append_new(data, json_pack("{s:s, s:i, s:o}", "object", "embedding", "index", i,
                                                      "embedding", emb));
            }
            if (!raw || !enc) {
                json_decref(data);
                out = openai_error(s, c, 500, NULL, NULL, NULL, "out of memory");
            } else {
                json_t *res = json_pack("{s:s, s:o, s:s, s:{s:I, s:I}}", "object", "list", "data", data, "model",
                                        s->emb->name, "usage", "prompt_tokens", (json_int_t)j.tokens, "total_tokens",
                                        (json_int_t)j.tokens);
                out = res ? send_json_floats(s, c, res) : openai_error(s, c, 500, NULL, NULL, NULL, "out of memory");
            }
            free(raw), free(enc);
        }
    }
    for (size_t i = 0; j.img && i < n; i++) free(j.img[i]);
    free(j.text), free(j.img), free(j.img_n), free(j.out);
    json_decref(o);
    return out;
}

/* ---------------------------------------------------------------- routing */

int openai_handle(server *s, struct mg_connection *c, const char *path) {
    const char *m = mg_get_request_info(c)->request_method;
    int get = !strcmp(m, "GET") || !strcmp(m, "HEAD"), post = !strcmp(m, "POST");
    const char *p = path + 3;   /* after "/v1" */
    if (!strcmp(p, "/models") || !strncmp(p, "/models/", 8)) {
        if (!get) {
            static const char *const h[] = {"Allow", "GET", NULL};
            return openai_error(s, c, 405, h, NULL, NULL, "method %s not allowed here (allowed: GET)", m);
        }
        return models_get(s, c, p[7] == '/' ? p + 8 : NULL);
    }
    int chat = !strcmp(p, "/chat/completions"), emb = !strcmp(p, "/embeddings");
    if (!chat && !emb)
        return openai_error(s, c, 404, NULL, NULL, "unknown_url",
                            "Unknown request URL: %s %.200s (seer serves /v1/chat/completions, /v1/embeddings, /v1/models)",
                            m, path);
    if (!post) {
        static const char *const h[] = {"Allow", "POST", NULL};
        return openai_error(s, c, 405, h, NULL, NULL, "method %s not allowed here (allowed: POST)", m);
    }
    return chat ? chat_completions(s, c) : embeddings(s, c);
}
