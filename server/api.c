/* server/api.c — the REST handlers under /api/ (contract: docs/api.md).
 *
 * Every response is JSON built with jansson, except the image bytes. Every
 * failure is {"error": "..."} with its status: 400 malformed request, 401
 * token, 404 unknown endpoint or id, 405 method, 413 too large, 503 a
 * search queue is full (Retry-After), 500 a bug or an I/O failure. The chat
 * and feedback endpoints live in chat_api.c. The
 * model work and the index search of a request run as a job on a worker
 * pool (server/queue.h); this thread parses, waits and writes JSON. No input
 * may take the server down: every bound is checked before work is done.
 */
#include "server_impl.h"

#include "browse.h"
#include "catalog.h"
#include "dupes.h"
#include "filter.h"
#include "search.h"
#include "jsonx.h"
#include "status.h"
#include "timer.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define JSON_BODY_MAX (64 << 10)   /* bytes of a JSON search body */

/* ---------------------------------------------------------------- auth */

/* Constant time in the length of the secret: every byte of it is compared. */
static int token_equal(const char *given, size_t gn, const char *secret) {
    size_t sn = strlen(secret);
    unsigned char d = gn != sn;
    for (size_t i = 0; i < sn; i++) d |= (unsigned char)((i < gn ? given[i] : 0) ^ secret[i]);
    return d == 0;
}

int api_authorized(const server *s, struct mg_connection *c) {
    if (!s->token) return 1;
    const char *h = mg_get_header(c, "Authorization");
    if (h) {
        while (*h == ' ') h++;
        if (!strncasecmp(h, "Bearer ", 7)) {
            h += 7;
            while (*h == ' ') h++;
            size_t n = strlen(h);
            while (n && h[n - 1] == ' ') n--;
            return token_equal(h, n, s->token);
        }
        return 0;
    }
    /* <img src> cannot send headers: the page appends ?access_token= */
    const char *qs = mg_get_request_info(c)->query_string;
    char tok[512];
    if (qs && mg_get_var(qs, strlen(qs), "access_token", tok, sizeof tok) >= 0) return token_equal(tok, strlen(tok), s->token);
    return 0;
}

/* ---------------------------------------------------------------- helpers */

static int method_is(struct mg_connection *c, const char *m) {
    return !strcmp(mg_get_request_info(c)->request_method, m);
}

static int not_allowed(server *s, struct mg_connection *c, const char *allow) {
    const char *h[] = {"Allow", allow, NULL};
    return http_send_error(s, c, 405, h, "method %s not allowed here (allowed: %s)",
                           mg_get_request_info(c)->request_method, allow);
}

/* A strict decimal id: digits only, 1..20 of them, no overflow, not 0. */
static int parse_id(const char *p, size_t n, uint64_t *id) {
    if (n == 0 || n > 20) return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        unsigned d = (unsigned)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    if (v == 0) return -1;
    *id = v;
    return 0;
}

int api_parse_id(const char *p, size_t n, uint64_t *id) { return parse_id(p, n, id); }

/* k: absent → 15; else an integer in 1..max_k. */
static int parse_k(server *s, struct mg_connection *c, const char *qs, int *k) {
    *k = 15;
    if (!qs) return 0;
    char buf[32];
    int r = mg_get_var(qs, strlen(qs), "k", buf, sizeof buf);
    if (r == -1) return 0;
    char *end;
    errno = 0;
    long v = r >= 0 ? strtol(buf, &end, 10) : 0;
    if (r < 0 || r == 0 || *end || errno || v < 1 || v > s->o.max_k) {
        http_send_error(s, c, 400, NULL, "k must be an integer from 1 to %d", s->o.max_k);
        return -1;
    }
    *k = (int)v;
    return 0;
}

/* An optional integer parameter name in lo..hi: absent → *out unchanged, 0;
 * malformed → a 400 naming it, -1. */
static int parse_long_param(server *s, struct mg_connection *c, const char *qs, const char *name, long long lo,
                            long long hi, long long *out) {
    if (!qs) return 0;
    char buf[32];
    int r = mg_get_var(qs, strlen(qs), name, buf, sizeof buf);
    if (r == -1) return 0;
    char *end;
    errno = 0;
    long long v = r > 0 ? strtoll(buf, &end, 10) : 0;
    if (r <= 0 || *end || errno || v < lo || v > hi) {
        http_send_error(s, c, 400, NULL, "%s must be an integer from %lld to %lld", name, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* The filters of docs/api.md (after, before, folder, camera, format) from
 * the query string into *f; a 400 naming the bad one, -1. */
static int parse_filter(server *s, struct mg_connection *c, const char *qs, filter *f) {
    filter_init(f);
    if (!qs) return 0;
    static const char *const names[] = {"after", "before", "folder", "camera", "format"};
    char buf[STORE_PATH_MAX + 1];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        int r = mg_get_var(qs, strlen(qs), names[i], buf, sizeof buf);
        if (r == -1) continue;
        if (r < 0) {
            http_send_error(s, c, 400, NULL, "%s is longer than %d bytes", names[i], STORE_PATH_MAX - 1);
            return -1;
        }
        if (memchr(buf, 0, (size_t)r) || filter_set(f, names[i], buf)) {
            http_send_error(s, c, 400, NULL, "%s", memchr(buf, 0, (size_t)r) ? "a filter contains a NUL byte" : status_message());
            return -1;
        }
    }
    return 0;
}

/* What the store knows of one image, as /api/images and /api/search give it. */
static json_t *image_meta_json(uint64_t id, const store_image *im) {
    char iu[64], tu[80], cam[2 * 64 + 2];
    snprintf(iu, sizeof iu, "/api/images/%llu", (unsigned long long)id);
    snprintf(tu, sizeof tu, "/api/images/%llu/thumbnail", (unsigned long long)id);
    filter_camera(im->make, im->model, cam, sizeof cam);
    json_t *path = json_string(im->path);
    json_t *o = json_pack("{s:I, s:o, s:i, s:i, s:s, s:s, s:s}", "id", (json_int_t)id, "path",
                          path ? path : json_string("(not UTF-8)"), "width", (int)im->width, "height", (int)im->height,
                          "format", im->format, "thumbnail_url", tu, "image_url", iu);
    json_object_set_new(o, "taken", im->taken[0] ? json_string(im->taken) : json_null());
    json_object_set_new(o, "taken_source", json_string(im->taken_source == IMAGE_TAKEN_EXIF    ? "exif"
                                                       : im->taken_source == IMAGE_TAKEN_MTIME ? "mtime"
                                                                                               : "none"));
    json_t *jc = json_string(cam);
    json_object_set_new(o, "camera", cam[0] && jc ? jc : json_null());
    if (!(cam[0] && jc)) json_decref(jc);
    if (im->has_gps) json_object_set_new(o, "gps", json_pack("{s:f, s:f}", "lat", im->gps_lat, "lon", im->gps_lon));
    return o;
}


/* rerank: absent → none; "itm" → SEARCH_RERANK_ITM (BLIP-2 stores). */
static int parse_rerank(server *s, struct mg_connection *c, const char *qs, int *rerank) {
    *rerank = SEARCH_RERANK_NONE;
    if (!qs) return 0;
    char buf[16];
    int r = mg_get_var(qs, strlen(qs), "rerank", buf, sizeof buf);
    if (r == -1) return 0;
    if (r < 0 || strcmp(buf, "itm")) {
        http_send_error(s, c, 400, NULL, "rerank must be itm");
        return -1;
    }
    *rerank = SEARCH_RERANK_ITM;
    return 0;
}

static const char *content_type_of(const char *format) {
    static const char *const map[][2] = {
        {"jpeg", "image/jpeg"}, {"png", "image/png"},  {"gif", "image/gif"},
        {"bmp", "image/bmp"},   {"tga", "image/x-tga"}, {"pnm", "image/x-portable-anymap"},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (!strcmp(format, map[i][0])) return map[i][1];
    return "application/octet-stream";
}

/* ---------------------------------------------------------------- search */

/* One search (index/search.h), run on a queue worker: embed the text or the
 * image bytes, the top-k, the hits' metadata. The query is borrowed from the
 * request thread, which waits in queue_run; the worker's status message is
 * copied into err. */
typedef struct {
    server       *s;
    search_query  q;
    /* out */
    int           rc;
    char          err[512];
    search_result r;
} search_job;

static void search_job_run(void *arg) {
    search_job *j = arg;
    searcher sr = {.emb = j->s->emb, .st = j->s->st, .vi = &j->s->vi, .lock = &j->s->ix_lock, .cat = &j->s->cat};
    j->rc = search_run(&sr, &j->q, &j->r);
    if (j->rc) snprintf(j->err, sizeof j->err, "%s", status_message());
}

/* One hit of the reply: the image's metadata, score and z. */
static json_t *hit_json(const search_hit *h) {
    json_t *o = image_meta_json(h->id, &h->image);
    json_object_set_new(o, "score", json_real(h->score));
    json_object_set_new(o, "z", json_real(h->z));
    if (o && h->itm >= 0) json_object_set_new(o, "itm", json_real(h->itm));   /* re-ranked by ITM */
    return o;
}

/* Queue the job and reply: {"query", ["image",] "took_ms", "results"}. query
 * is stolen. */
static int search_run_reply(server *s, struct mg_connection *c, queue *q, search_job *j, json_t *query) {
    double t0 = timer_now();
    j->s = s;
    if (queue_run(q, search_job_run, j)) {
        json_decref(query);
        static const char *const h[] = {"Retry-After", "1", NULL};
        return http_send_error(s, c, 503, h, "%s", status_message());
    }
    if (j->rc) {
        json_decref(query);
        if (j->rc == ST_NOT_FOUND && j->q.like) return http_send_error(s, c, 404, NULL, "%s", j->err);
        int status = j->rc == ST_TOO_LARGE ? 413
                   : j->rc == ST_FORMAT || j->rc == ST_UNSUPPORTED || j->rc == ST_ARG ? 400 : 500;
        if (!j->q.text && status == 400) return http_send_error(s, c, 400, NULL, "not a supported image: %s", j->err);
        return http_send_error(s, c, status, NULL, "%s", j->err);
    }
    json_t *arr = json_array();
    for (int i = 0; i < j->r.n; i++)
        if (j->r.hits[i].found) json_array_append_new(arr, hit_json(&j->r.hits[i]));  /* else removed since the index was built */
    json_t *o = json_object();
    json_object_set_new(o, "query", query);
    if (j->q.like) json_object_set_new(o, "like", json_integer((json_int_t)j->q.like));
    if (j->q.image_bytes)
        json_object_set_new(o, "image", json_pack("{s:s, s:i, s:i, s:I}", "format", j->r.format, "width", j->r.width,
                                                  "height", j->r.height, "bytes", (json_int_t)j->q.image_len));
    json_object_set_new(o, "took_ms", json_real((timer_now() - t0) * 1e3));
    json_object_set_new(o, "offset", json_integer(j->q.offset));
    json_object_set_new(o, "matches", json_integer((json_int_t)j->r.matches));
    json_object_set_new(o, "scanned", json_pack("{s:I, s:f, s:f}", "n", (json_int_t)j->r.stats.scanned, "mean",
                                                j->r.stats.mean, "std", j->r.stats.std));
    json_object_set_new(o, "strong", json_boolean(j->r.strong));
    json_object_set_new(o, "strong_z", json_real(SEARCH_STRONG_Z));
    json_object_set_new(o, "results", arr);
    atomic_fetch_add(j->q.image_bytes ? &s->n_image_searches : &s->n_text_searches, 1);
    search_result_release(&j->r);
    return http_send_json(c, 200, o, NULL);
}

/* The paging and filter of a search: offset=, after= ... format= (docs/api.md). */
typedef struct {
    int    offset;
    filter f;
    int    rerank;   /* SEARCH_RERANK_NONE or _ITM (rerank=itm) */
} search_opts;

static int parse_search_opts(server *s, struct mg_connection *c, const char *qs, int k, search_opts *o) {
    long long off = 0;
    if (parse_long_param(s, c, qs, "offset", 0, 4096 - k, &off)) return -1;
    o->offset = (int)off;
    return parse_rerank(s, c, qs, &o->rerank) || parse_filter(s, c, qs, &o->f) ? -1 : 0;
}

static int search_text(server *s, struct mg_connection *c, const char *q, size_t qn, int k, const search_opts *so) {
    if (qn > (size_t)s->o.max_query)
        return http_send_error(s, c, 400, NULL, "q is longer than %d bytes", s->o.max_query);
    if (memchr(q, 0, qn)) return http_send_error(s, c, 400, NULL, "q contains a NUL byte");
    size_t i = 0;
    while (i < qn && isspace((unsigned char)q[i])) i++;
    if (i == qn) return http_send_error(s, c, 400, NULL, "q is empty: give the text to search for");
    json_t *jq = json_stringn(q, qn);
    if (!jq) return http_send_error(s, c, 400, NULL, "q is not valid UTF-8");
    search_job j = {.q = search_query_default()};
    j.q.text = json_string_value(jq), j.q.k = k, j.q.rerank = so->rerank;
    j.q.offset = so->offset, j.q.filter = &so->f;
    int r = search_run_reply(s, c, s->text_q, &j, json_incref(jq));
    json_decref(jq);
    return r;
}

static int search_image(server *s, struct mg_connection *c, const char *bytes, size_t n, int k, const search_opts *so) {
    if (n == 0) return http_send_error(s, c, 400, NULL, "empty body: POST the image bytes (raw or multipart/form-data)");
    if (n > s->o.max_upload)
        return http_send_error(s, c, 413, NULL, "upload of %zu bytes exceeds the limit of %zu bytes", n, s->o.max_upload);
    search_job j = {.q = search_query_default()};
    j.q.image_bytes = bytes, j.q.image_len = n, j.q.image_name = "upload", j.q.k = k;
    j.q.offset = so->offset, j.q.filter = &so->f;
    j.q.image.max_pixels = s->o.max_pixels;   /* the upload memory budget, checked from the header */
    return search_run_reply(s, c, s->image_q, &j, json_null());
}

static int handle_search(server *s, struct mg_connection *c) {
    const struct mg_request_info *ri = mg_get_request_info(c);
    const char *qs = ri->query_string;
    int k;
    search_opts so;
    if (method_is(c, "GET") || method_is(c, "HEAD")) {
        if (parse_k(s, c, qs, &k) || parse_search_opts(s, c, qs, k, &so)) return 400;
        char likebuf[32];
        int lr = qs ? mg_get_var(qs, strlen(qs), "like", likebuf, sizeof likebuf) : -1;
        if (lr != -1) {
            uint64_t like;
            if (lr < 0 || parse_id(likebuf, (size_t)lr, &like))
                return http_send_error(s, c, 400, NULL, "like must be a stored image id (a positive decimal number)");
            if (mg_get_var(qs, strlen(qs), "q", likebuf, 1) != -1)
                return http_send_error(s, c, 400, NULL, "give q=TEXT or like=ID, not both");
            search_job j = {.q = search_query_default()};
            j.q.like = like, j.q.k = k, j.q.offset = so.offset, j.q.filter = &so.f;
            if (so.rerank) return http_send_error(s, c, 400, NULL, "rerank=itm is for text queries, not like=");
            return search_run_reply(s, c, s->text_q, &j, json_null());
        }
        size_t cap = (size_t)s->o.max_query * 3 + 2;   /* room to tell "too long" from "fits" */
        char *q = malloc(cap);
        if (!q) return http_send_error(s, c, 500, NULL, "out of memory");
        int r = qs ? mg_get_var(qs, strlen(qs), "q", q, cap) : -1;
        int out;
        if (r == -1) out = http_send_error(s, c, 400, NULL, "missing q: GET /api/search?q=TEXT&k=15 (or like=ID)");
        else if (r < 0) out = http_send_error(s, c, 400, NULL, "q is longer than %d bytes", s->o.max_query);
        else out = search_text(s, c, q, (size_t)r, k, &so);
        free(q);
        return out;
    }
    if (!method_is(c, "POST")) return not_allowed(s, c, "GET, POST");
    if (parse_k(s, c, qs, &k) || parse_search_opts(s, c, qs, k, &so)) return 400;
    const char *ct = mg_get_header(c, "Content-Type");
    int is_json = ct && !strncasecmp(ct, "application/json", 16);
    int is_multi = ct && !strncasecmp(ct, "multipart/form-data", 19);
    size_t max = is_json ? JSON_BODY_MAX : is_multi ? s->o.max_upload + (64 << 10) : s->o.max_upload;
    char *body;
    size_t n;
    int rc = http_read_body(c, max, &body, &n);
    if (rc) return http_send_body_error(s, c, rc);
    int out;
    if (is_json) {
        json_t *j;
        jsonx_loadb_limited(body, n, JSON_REJECT_DUPLICATES, JSONX_MAX_DEPTH, &j);
        json_t *jq = j ? json_object_get(j, "q") : NULL, *jk = j ? json_object_get(j, "k") : NULL;
        json_t *jr = j ? json_object_get(j, "rerank") : NULL;
        if (!j) out = http_send_error(s, c, 400, NULL, "%s", status_message());
        else if (!json_is_object(j)) out = http_send_error(s, c, 400, NULL, "the JSON body must be an object {\"q\": TEXT, \"k\": N}");
        else if (!json_is_string(jq)) out = http_send_error(s, c, 400, NULL, "the JSON body needs \"q\": a string");
        else if (jk && (!json_is_integer(jk) || json_integer_value(jk) < 1 || json_integer_value(jk) > s->o.max_k))
            out = http_send_error(s, c, 400, NULL, "k must be an integer from 1 to %d", s->o.max_k);
        else if (jk && so.offset > 4096 - json_integer_value(jk))
            out = http_send_error(s, c, 400, NULL, "offset must be an integer from 0 to %d", 4096 - (int)json_integer_value(jk));
        else if (jr && (!json_is_string(jr) || strcmp(json_string_value(jr), "itm")))
            out = http_send_error(s, c, 400, NULL, "rerank must be \"itm\"");
        else {
            if (jr) so.rerank = SEARCH_RERANK_ITM;
            out = search_text(s, c, json_string_value(jq), json_string_length(jq), jk ? (int)json_integer_value(jk) : k, &so);
        }
        json_decref(j);
    } else if (so.rerank) {
        out = http_send_error(s, c, 400, NULL, "rerank=itm is for text queries, not an example image");
    } else if (is_multi) {
        const char *data;
        size_t len;
        if (http_multipart_file(ct, body, n, &data, &len)) out = http_send_error(s, c, 400, NULL, "%s", status_message());
        else out = search_image(s, c, data, len, k, &so);
    } else {
        out = search_image(s, c, body, n, k, &so);
    }
    free(body);
    return out;
}

/* ---------------------------------------------------------------- images */

static int handle_thumb(server *s, struct mg_connection *c, uint64_t id) {
    uint8_t *jpg;
    size_t len;
    int rc = store_get_thumb(s->st, id, &jpg, &len);
    if (rc == ST_NOT_FOUND) return http_send_error(s, c, 404, NULL, "no thumbnail for image id %llu", (unsigned long long)id);
    if (rc) return http_send_error(s, c, 500, NULL, "%s", status_message());
    static const char *const h[] = {"Cache-Control", "private, max-age=86400", NULL};
    http_send(c, 200, "image/jpeg", h, jpg, len);
    free(jpg);
    return 200;
}

int api_image_bytes(server *s, uint64_t id, char **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    store_image im;
    int rc = store_get_image(s->st, id, &im);
    if (rc == ST_NOT_FOUND) return status_fail(ST_NOT_FOUND, "no image with id %llu", (unsigned long long)id);
    if (rc) return rc;
    /* the only file path the server ever opens comes from the store */
    int fd = open(im.path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
        if (fd >= 0) close(fd);
        return status_fail(ST_NOT_FOUND, "image %llu: its file is no longer at its path", (unsigned long long)id);
    }
    if ((uint64_t)sb.st_size != im.size) {
        close(fd);
        return status_fail(ST_NOT_FOUND, "image %llu: its file changed since it was ingested (run seer ingest again)",
                           (unsigned long long)id);
    }
    char *buf = malloc(im.size ? im.size : 1);
    size_t got = 0;
    while (buf && got < im.size) {
        ssize_t r = read(fd, buf + got, im.size - got);
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (!buf || got != im.size) {
        free(buf);
        return status_fail(ST_IO, "image %llu: reading its file failed", (unsigned long long)id);
    }
    uint8_t hash[16];
    store_hash_bytes(buf, got, hash);
    if (memcmp(hash, im.hash, 16)) {
        free(buf);
        return status_fail(ST_NOT_FOUND, "image %llu: its file changed since it was ingested (run seer ingest again)",
                           (unsigned long long)id);
    }
    *out = buf;
    *out_len = got;
    return ST_OK;
}

/* The original file, streamed: its bytes are hashed in a first pass and
 * checked against the store (a changed file is a 404), then sent in
 * IMAGE_CHUNK pieces, so a request holds one chunk whatever the file size. */
#define IMAGE_CHUNK ((size_t)256 << 10)

static int handle_image(server *s, struct mg_connection *c, uint64_t id) {
    store_image im;
    int rc = store_get_image(s->st, id, &im);
    if (rc == ST_NOT_FOUND) return http_send_error(s, c, 404, NULL, "no image with id %llu", (unsigned long long)id);
    if (rc) return http_send_error(s, c, 500, NULL, "%s", status_message());
    /* the only file path the server ever opens comes from the store */
    int fd = open(im.path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
        if (fd >= 0) close(fd);
        return http_send_error(s, c, 404, NULL, "image %llu: its file is no longer at its path", (unsigned long long)id);
    }
    uint8_t hash[16];
    uint64_t got = 0;
    if ((uint64_t)sb.st_size != im.size || store_hash_fd(fd, hash, &got) || got != im.size || memcmp(hash, im.hash, 16) ||
        lseek(fd, 0, SEEK_SET) != 0) {
        close(fd);
        return http_send_error(s, c, 404, NULL,
                               "image %llu: its file changed since it was ingested (run seer ingest again)",
                               (unsigned long long)id);
    }
    char *buf = malloc(IMAGE_CHUNK);
    if (!buf) {
        close(fd);
        return http_send_error(s, c, 500, NULL, "out of memory");
    }
    char clen[32];
    snprintf(clen, sizeof clen, "%llu", (unsigned long long)im.size);
    mg_response_header_start(c, 200);
    mg_response_header_add(c, "Content-Type", content_type_of(im.format), -1);
    mg_response_header_add(c, "Content-Length", clen, -1);
    mg_response_header_add(c, "X-Content-Type-Options", "nosniff", -1);
    mg_response_header_add(c, "Cache-Control", "private, max-age=3600", -1);
    mg_response_header_add(c, "Content-Security-Policy", "default-src 'none'", -1);
    mg_response_header_send(c);
    if (!method_is(c, "HEAD")) {
        for (uint64_t sent = 0; sent < im.size;) {
            ssize_t r = read(fd, buf, IMAGE_CHUNK);
            if (r <= 0 || mg_write(c, buf, (size_t)r) <= 0) break;   /* short: the client sees the length differ */
            sent += (uint64_t)r;
        }
    }
    free(buf);
    close(fd);
    return 200;
}

/* ---------------------------------------------------------------- listing */

/* GET /api/images?sort=&order=&offset=&limit=&after=&before=&folder=&camera=&format= */
static int handle_list(server *s, struct mg_connection *c) {
    const char *qs = mg_get_request_info(c)->query_string;
    browse_query q = browse_query_default();
    char buf[16];
    if (qs && mg_get_var(qs, strlen(qs), "sort", buf, sizeof buf) != -1 && browse_parse_sort(buf, &q.sort))
        return http_send_error(s, c, 400, NULL, "sort must be taken, added or path");
    if (qs && mg_get_var(qs, strlen(qs), "order", buf, sizeof buf) != -1 && browse_parse_order(buf, &q.desc))
        return http_send_error(s, c, 400, NULL, "order must be asc or desc");
    long long off = 0, lim = 50;
    if (parse_long_param(s, c, qs, "offset", 0, 1000000000000LL, &off) ||
        parse_long_param(s, c, qs, "limit", 1, BROWSE_LIMIT_MAX, &lim) || parse_filter(s, c, qs, &q.filter))
        return 400;
    q.offset = (uint64_t)off, q.limit = (size_t)lim;
    browse_result r;
    pthread_rwlock_rdlock(&s->ix_lock);
    int rc = s->cat ? browse_run(s->cat, &q, &r) : status_fail(ST_INTERNAL, "no catalog loaded");
    pthread_rwlock_unlock(&s->ix_lock);
    if (rc) return http_send_error(s, c, 500, NULL, "%s", status_message());
    json_t *arr = json_array();
    for (size_t i = 0; i < r.n; i++) {
        store_image im;
        if (store_get_image(s->st, r.ids[i], &im) == ST_OK) json_array_append_new(arr, image_meta_json(r.ids[i], &im));
        else status_clear();   /* removed since the catalog was loaded */
    }
    json_t *o = json_pack("{s:I, s:I, s:I, s:o}", "total", (json_int_t)r.total, "offset", (json_int_t)q.offset, "limit",
                          (json_int_t)q.limit, "images", arr);
    browse_result_release(&r);
    return http_send_json(c, 200, o, NULL);
}

/* GET /api/duplicates?threshold=T, run on the text queue's workers (n k-NN
 * searches: bounded like a search). */
typedef struct {
    server *s;
    float threshold;
    int rc;
    char err[512];
    dupes_result r;
} dupes_job;

static void dupes_job_run(void *arg) {
    dupes_job *j = arg;
    pthread_rwlock_rdlock(&j->s->ix_lock);
    j->rc = dupes_find(j->s->st, j->s->vi, j->threshold, &j->r);
    pthread_rwlock_unlock(&j->s->ix_lock);
    if (j->rc) snprintf(j->err, sizeof j->err, "%s", status_message());
}

static int handle_duplicates(server *s, struct mg_connection *c) {
    const char *qs = mg_get_request_info(c)->query_string;
    dupes_job j = {.s = s, .threshold = DUPES_THRESHOLD_DEFAULT};
    char buf[32];
    int r = qs ? mg_get_var(qs, strlen(qs), "threshold", buf, sizeof buf) : -1;
    if (r != -1) {
        char *end;
        errno = 0;
        double t = r > 0 ? strtod(buf, &end) : 0;
        if (r <= 0 || *end || errno || !(t > 0 && t <= 1))
            return http_send_error(s, c, 400, NULL, "threshold must be a cosine similarity in (0, 1], e.g. 0.95");
        j.threshold = (float)t;
    }
    double t0 = timer_now();
    if (queue_run(s->text_q, dupes_job_run, &j)) {
        static const char *const h[] = {"Retry-After", "1", NULL};
        return http_send_error(s, c, 503, h, "%s", status_message());
    }
    if (j.rc) return http_send_error(s, c, 500, NULL, "%s", j.err);
    json_t *groups = json_array();
    for (size_t g = 0; g < j.r.n_groups; g++) {
        json_t *imgs = json_array();
        for (size_t i = 0; i < j.r.groups[g].n; i++) {
            store_image im;
            if (store_get_image(s->st, j.r.groups[g].ids[i], &im) == ST_OK)
                json_array_append_new(imgs, image_meta_json(j.r.groups[g].ids[i], &im));
            else status_clear();
        }
        if (json_array_size(imgs) < 2) { json_decref(imgs); continue; }
        json_array_append_new(groups, json_pack("{s:f, s:f, s:o}", "min_score", (double)j.r.groups[g].min_score,
                                                "max_score", (double)j.r.groups[g].max_score, "images", imgs));
    }
    dupes_result_release(&j.r);
    json_t *o = json_pack("{s:f, s:f, s:o}", "threshold", (double)j.threshold, "took_ms", (timer_now() - t0) * 1e3,
                          "groups", groups);
    return http_send_json(c, 200, o, NULL);
}

/* ---------------------------------------------------------------- stats */

static int handle_stats(server *s, struct mg_connection *c) {
    store_counts cn;
    if (store_counts_get(s->st, &cn)) return http_send_error(s, c, 500, NULL, "%s", status_message());
    queue_stats ts, qs;
    queue_stats_get(s->text_q, &ts);
    queue_stats_get(s->image_q, &qs);
    json_t *queues = json_pack("{s:{s:i, s:i, s:i, s:i, s:I, s:I}, s:{s:i, s:i, s:i, s:i, s:I, s:I}}", "text", "workers",
                               ts.workers, "running", ts.running, "waiting", ts.pending, "max_waiting", ts.max_pending,
                               "served", (json_int_t)ts.served, "rejected", (json_int_t)ts.rejected, "image",
                               "workers", qs.workers, "running", qs.running, "waiting", qs.pending, "max_waiting",
                               qs.max_pending, "served", (json_int_t)qs.served, "rejected", (json_int_t)qs.rejected);
    pthread_rwlock_rdlock(&s->ix_lock);
    json_t *ix = json_pack("{s:s, s:I, s:i, s:I}", "kind", vindex_kind_of(s->vi) == VINDEX_HNSW ? "hnsw" : "flat", "size",
                           (json_int_t)vindex_size(s->vi), "dim", vindex_dim(s->vi), "generation",
                           (json_int_t)vindex_generation(s->vi));
    pthread_rwlock_unlock(&s->ix_lock);
    json_t *o = json_pack(
        "{s:I, s:I, s:I, s:I, s:o, s:{s:s, s:i}, s:f, s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:o,"
        " s:{s:I, s:i, s:i}, s:b, s:o}",
        "images", (json_int_t)cn.n_images, "paths", (json_int_t)cn.n_paths, "thumbnails", (json_int_t)cn.n_thumbs,
        "generation", (json_int_t)cn.generation, "index", ix, "model", "identity", s->emb->identity, "dim",
        s->emb->dim, "uptime_s", timer_now() - s->started, "counters", "requests",
        (json_int_t)atomic_load(&s->n_requests), "text_searches", (json_int_t)atomic_load(&s->n_text_searches),
        "image_searches", (json_int_t)atomic_load(&s->n_image_searches), "errors_4xx",
        (json_int_t)atomic_load(&s->n_4xx), "errors_5xx", (json_int_t)atomic_load(&s->n_5xx), "index_reloads",
        (json_int_t)atomic_load(&s->n_reloads), "queues", queues, "limits", "max_upload_bytes", (json_int_t)s->o.max_upload, "max_k", s->o.max_k,
        "max_query_bytes", s->o.max_query, "auth", s->token != NULL, "chat", chat_api_stats(s));
    if (!o) return http_send_error(s, c, 500, NULL, "cannot build the stats");
    return http_send_json(c, 200, o, NULL);
}

/* ---------------------------------------------------------------- routing */

int api_handle(server *s, struct mg_connection *c, const char *path) {
    const char *p = path + 4;   /* after "/api" */
    if (*p == '/') p++;
    /* ids are numbers, so ".." can never name a file; refuse it outright */
    for (const char *q = path; *q; q++)
        if (*q == '\\' || (q[0] == '.' && q[1] == '.'))
            return http_send_error(s, c, 400, NULL, "'..' and '\\' are not allowed in paths: images are named by numeric id");
    int get = method_is(c, "GET") || method_is(c, "HEAD");
    if (!strcmp(p, "search")) return handle_search(s, c);
    if (!strcmp(p, "health")) {
        if (!get) return not_allowed(s, c, "GET");
        pthread_rwlock_rdlock(&s->ix_lock);
        json_int_t n = (json_int_t)vindex_size(s->vi);
        pthread_rwlock_unlock(&s->ix_lock);
        return http_send_json(c, 200, json_pack("{s:s, s:I, s:b}", "status", "ok", "images", n, "chat", s->cm != NULL), NULL);
    }
    if (!strcmp(p, "stats")) return get ? handle_stats(s, c) : not_allowed(s, c, "GET");
    if (!strcmp(p, "images")) return get ? handle_list(s, c) : not_allowed(s, c, "GET");
    if (!strcmp(p, "duplicates")) return get ? handle_duplicates(s, c) : not_allowed(s, c, "GET");
    if (!strcmp(p, "chat") || !strncmp(p, "chat/", 5)) return chat_api_handle(s, c, p + 4);
    if (!strcmp(p, "feedback")) return feedback_api_handle(s, c);
    if (!strncmp(p, "images/", 7)) {
        const char *idp = p + 7, *slash = strchr(idp, '/');
        size_t idn = slash ? (size_t)(slash - idp) : strlen(idp);
        int thumb = 0, meta = 0;
        if (slash) {
            if (!strcmp(slash, "/thumbnail")) thumb = 1;
            else if (!strcmp(slash, "/meta")) meta = 1;
            else return http_send_error(s, c, 404, NULL, "no such endpoint: %s", path);
        }
        uint64_t id;
        if (parse_id(idp, idn, &id))
            return http_send_error(s, c, 400, NULL, "image id must be a positive decimal number, got '%.*s'",
                                   (int)(idn > 40 ? 40 : idn), idp);
        if (!get) return not_allowed(s, c, "GET");
        if (meta) {
            store_image im;
            int rc = store_get_image(s->st, id, &im);
            if (rc == ST_NOT_FOUND) return http_send_error(s, c, 404, NULL, "no image with id %llu", (unsigned long long)id);
            if (rc) return http_send_error(s, c, 500, NULL, "%s", status_message());
            return http_send_json(c, 200, image_meta_json(id, &im), NULL);
        }
        return thumb ? handle_thumb(s, c, id) : handle_image(s, c, id);
    }
    return http_send_error(s, c, 404, NULL, "no such endpoint: %s", path);
}
