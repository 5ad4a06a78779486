/* server/http.c — response and request-body helpers over civetweb. */
#include "server_impl.h"

#include "status.h"
#include "timer.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int http_send(struct mg_connection *c, int status, const char *ctype, const char *const *headers,
              const void *body, size_t len) {
    char clen[32];
    snprintf(clen, sizeof clen, "%zu", len);
    mg_response_header_start(c, status);
    mg_response_header_add(c, "Content-Type", ctype, -1);
    mg_response_header_add(c, "Content-Length", clen, -1);
    mg_response_header_add(c, "X-Content-Type-Options", "nosniff", -1);
    for (int i = 0; headers && headers[i]; i += 2) mg_response_header_add(c, headers[i], headers[i + 1], -1);
    mg_response_header_send(c);
    const struct mg_request_info *ri = mg_get_request_info(c);
    if (len && strcmp(ri->request_method, "HEAD")) mg_write(c, body, len);
    return status;
}

int http_send_json(struct mg_connection *c, int status, json_t *j, const char *const *headers) {
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(7)) : NULL;
    json_decref(j);
    if (!s) {
        static const char oom[] = "{\"error\":\"out of memory\"}";
        return http_send(c, 500, "application/json", NULL, oom, sizeof oom - 1);
    }
    const char *h[16];
    int n = 0;
    h[n++] = "Cache-Control", h[n++] = "no-store";
    for (int i = 0; headers && headers[i] && n < 14; i += 2) h[n++] = headers[i], h[n++] = headers[i + 1];
    h[n] = NULL;
    http_send(c, status, "application/json; charset=utf-8", h, s, strlen(s));
    free(s);
    return status;
}

int http_send_error(server *s, struct mg_connection *c, int status, const char *const *headers, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (s) atomic_fetch_add(status >= 500 ? &s->n_5xx : &s->n_4xx, 1);
    json_t *j = json_object();
    /* a message quoting user input may not be UTF-8: json_string would refuse it */
    json_t *m = json_string(msg);
    json_object_set_new(j, "error", m ? m : json_string("bad request (the message was not valid UTF-8)"));
    return http_send_json(c, status, j, headers);
}

/* The socket of connection c. civetweb does not expose it, so the process's
 * descriptors are searched for the TCP socket with c's local port and peer
 * address and port. -1 when none is found. */
static int conn_fd(struct mg_connection *c) {
    const struct mg_request_info *ri = mg_get_request_info(c);
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int found = -1;
    struct dirent *de;
    while (found < 0 && (de = readdir(d))) {
        char *end;
        long fd = strtol(de->d_name, &end, 10);
        if (*end || end == de->d_name || fd == dirfd(d)) continue;
        struct sockaddr_storage local, peer;
        socklen_t ll = sizeof local, pl = sizeof peer;
        if (getsockname((int)fd, (struct sockaddr *)&local, &ll) || getpeername((int)fd, (struct sockaddr *)&peer, &pl))
            continue;
        char addr[64];
        int lport, pport;
        if (peer.ss_family == AF_INET) {
            const struct sockaddr_in *p = (const struct sockaddr_in *)&peer;
            inet_ntop(AF_INET, &p->sin_addr, addr, sizeof addr);
            pport = ntohs(p->sin_port);
            lport = ntohs(((const struct sockaddr_in *)&local)->sin_port);
        } else if (peer.ss_family == AF_INET6) {
            const struct sockaddr_in6 *p = (const struct sockaddr_in6 *)&peer;
            inet_ntop(AF_INET6, &p->sin6_addr, addr, sizeof addr);
            pport = ntohs(p->sin6_port);
            lport = ntohs(((const struct sockaddr_in6 *)&local)->sin6_port);
        } else {
            continue;
        }
        if (pport == ri->remote_port && lport == ri->server_port && !strcmp(addr, ri->remote_addr)) found = (int)fd;
    }
    closedir(d);
    return found;
}

void http_close_after(struct mg_connection *c) {
    int fd = conn_fd(c);
    if (fd >= 0) shutdown(fd, SHUT_RDWR);
}

int http_read_body(struct mg_connection *c, size_t max, char **body, size_t *len) {
    *body = NULL;
    *len = 0;
    const struct mg_request_info *ri = mg_get_request_info(c);
    long long cl = ri->content_length;
    if (cl > (long long)max)
        return status_fail(ST_TOO_LARGE, "request body of %lld bytes exceeds the limit of %zu bytes", cl, max);
    /* mg_read waits up to request_timeout_ms for each piece, so a client
     * sending a byte every few seconds would hold this thread for ever: the
     * whole body gets the same deadline, counted from here */
    const server *s = mg_get_user_data(mg_get_context(c));
    const double limit = s ? s->o.request_timeout_ms / 1e3 : 30.0, t0 = timer_now();
    /* and mg_read returns only when all it was asked for came (or nothing came
     * for request_timeout_ms): so it is asked only for what the socket holds
     * already, or for one byte when it holds nothing (that byte may be in
     * civetweb's buffer) */
    const int fd = conn_fd(c);
    /* grow as the bytes arrive: a Content-Length promise alone reserves at most 1 MiB */
    size_t cap = cl >= 0 ? ((size_t)cl < (1u << 20) ? (size_t)cl + 1 : (1u << 20)) : 65536, n = 0;
    char *buf = malloc(cap);
    if (!buf) return status_fail(ST_NOMEM, "out of memory for a %zu-byte body", cap);
    for (;;) {
        if (timer_now() - t0 > limit) {
            free(buf);
            return status_fail(ST_CANCELLED, "the request body did not arrive within %.0f s (%zu bytes came)",
                               limit, n);
        }
        if (n + 1 >= cap) {
            if (cl >= 0 && n >= (size_t)cl) break;  /* read exactly Content-Length */
            if (n > max) break;
            size_t want = cl >= 0 ? (size_t)cl + 1 : max + 2;
            size_t ncap = cap * 2 > want ? want : cap * 2;
            char *nb = realloc(buf, ncap);
            if (!nb) { free(buf); return status_fail(ST_NOMEM, "out of memory reading the body"); }
            buf = nb, cap = ncap;
        }
        size_t room = cap - 1 - n;
        if (cl >= 0 && room > (size_t)cl - n) room = (size_t)cl - n;
        if (room == 0) break;
        if (fd >= 0) {
            int avail = 0;
            if (ioctl(fd, FIONREAD, &avail) || avail < 1) avail = 1;
            if (room > (size_t)avail) room = (size_t)avail;
        } else if (room > (64u << 10)) {
            room = 64u << 10;
        }
        int r = mg_read(c, buf + n, room);
        if (r < 0) { free(buf); return status_fail(ST_IO, "the client stopped sending the body"); }
        if (r == 0) break;
        n += (size_t)r;
        if (n > max) { free(buf); return status_fail(ST_TOO_LARGE, "request body exceeds the limit of %zu bytes", max); }
    }
    if (cl >= 0 && n != (size_t)cl) { free(buf); return status_fail(ST_IO, "body ended after %zu of %lld bytes", n, cl); }
    buf[n] = 0;
    *body = buf;
    *len = n;
    return ST_OK;
}

int http_send_body_error(server *s, struct mg_connection *c, int rc) {
    static const char *const close_h[] = {"Connection", "close", NULL};
    /* civetweb would read (and drop) the rest of the body before the next
     * request on the connection: end the connection instead */
    int status = rc == ST_TOO_LARGE ? 413 : rc == ST_CANCELLED ? 408 : 0;
    if (status) {
        http_send_error(s, c, status, close_h, "%s", status_message());
        http_close_after(c);
        return status;
    }
    return http_send_error(s, c, rc == ST_NOMEM ? 500 : 400, NULL, "%s", status_message());
}

/* ---------------------------------------------------------------- multipart */

static const char *find_ci(const char *hay, size_t n, const char *needle) {
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++)
        if (!strncasecmp(hay + i, needle, m)) return hay + i;
    return NULL;
}

/* name="NAME" (or name=NAME) among the part headers h[0..n) */
static int part_named(const char *h, size_t n, const char *name) {
    size_t m = strlen(name);
    for (const char *p = find_ci(h, n, "name="); p; p = find_ci(p + 5, n - (size_t)(p + 5 - h), "name=")) {
        if (p > h && (p[-1] != ' ' && p[-1] != ';' && p[-1] != '\t')) continue;   /* filename= */
        const char *v = p + 5;
        size_t left = n - (size_t)(v - h);
        if (left && *v == '"') {
            if (left >= m + 2 && !memcmp(v + 1, name, m) && v[1 + m] == '"') return 1;
        } else if (left >= m && !memcmp(v, name, m) && (left == m || v[m] == ';' || v[m] == '\r' || v[m] == ' ')) {
            return 1;
        }
    }
    return 0;
}

/* Walk the parts of a multipart body; pick(headers, hlen, ctx) chooses a
 * part. The chosen part's content lands in *data and *len; with no choice,
 * ST_NOT_FOUND (the first part's content is still returned in first and
 * first_len when those are given). Malformed bodies: ST_FORMAT. */
typedef int (*part_pick)(const char *h, size_t hlen, const void *ctx);

static int multipart_walk(const char *ctype, const char *body, size_t n, part_pick pick, const void *ctx,
                          const char **data, size_t *len, const char **first, size_t *first_len) {
    const char *b = ctype ? find_ci(ctype, strlen(ctype), "boundary=") : NULL;
    if (!b) return status_fail(ST_FORMAT, "multipart body without a boundary in its Content-Type");
    b += 9;
    char delim[80] = "\r\n--";
    size_t bl = 0;
    int quoted = *b == '"';
    if (quoted) b++;
    while (b[bl] && (quoted ? b[bl] != '"' : (b[bl] != ';' && b[bl] != ' ' && b[bl] != '\t'))) bl++;
    if (bl == 0 || bl > 70) return status_fail(ST_FORMAT, "multipart boundary must be 1..70 characters");
    memcpy(delim + 4, b, bl);
    size_t dl = 4 + bl;
    delim[dl] = 0;
    /* the first delimiter may open the body (no preceding CRLF) */
    const char *p;
    if (n >= dl - 2 && !memcmp(body, delim + 2, dl - 2)) p = body + dl - 2;
    else {
        p = memmem(body, n, delim, dl);
        if (!p) return status_fail(ST_FORMAT, "multipart body without its boundary");
        p += dl;
    }
    const char *end = body + n;
    for (;;) {
        if (end - p >= 2 && p[0] == '-' && p[1] == '-') break;          /* closing delimiter */
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n') return status_fail(ST_FORMAT, "malformed multipart body");
        p += 2;
        const char *hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!hend) return status_fail(ST_FORMAT, "malformed multipart part headers");
        const char *content = hend + 4;
        const char *next = memmem(content, (size_t)(end - content), delim, dl);
        if (!next) return status_fail(ST_FORMAT, "multipart part without its closing boundary");
        size_t clen = (size_t)(next - content);
        if (pick(p, (size_t)(hend - p), ctx)) {
            *data = content, *len = clen;
            return ST_OK;
        }
        if (first && !*first) *first = content, *first_len = clen;
        p = next + dl;
    }
    return ST_NOT_FOUND;
}

static int pick_file(const char *h, size_t hlen, const void *ctx) {
    (void)ctx;
    return find_ci(h, hlen, "filename=") != NULL;
}

static int pick_name(const char *h, size_t hlen, const void *ctx) { return part_named(h, hlen, ctx); }

int http_multipart_file(const char *ctype, const char *body, size_t n, const char **data, size_t *len) {
    const char *first = NULL;
    size_t first_len = 0;
    int st = multipart_walk(ctype, body, n, pick_file, NULL, data, len, &first, &first_len);
    if (st != ST_NOT_FOUND) return st;
    /* no part names a file: take the first part */
    if (!first) return status_fail(ST_FORMAT, "multipart body with no parts");
    *data = first, *len = first_len;
    return ST_OK;
}

int http_multipart_field(const char *ctype, const char *body, size_t n, const char *name, const char **data,
                         size_t *len) {
    int st = multipart_walk(ctype, body, n, pick_name, name, data, len, NULL, NULL);
    if (st == ST_NOT_FOUND) return status_fail(ST_NOT_FOUND, "the multipart body has no part named \"%s\"", name);
    return st;
}

void http_sse_start(struct mg_connection *c, const char *request_id) {
    mg_response_header_start(c, 200);
    mg_response_header_add(c, "Content-Type", "text/event-stream; charset=utf-8", -1);
    mg_response_header_add(c, "Cache-Control", "no-store", -1);
    mg_response_header_add(c, "X-Content-Type-Options", "nosniff", -1);
    mg_response_header_add(c, "X-Accel-Buffering", "no", -1);
    mg_response_header_add(c, "Transfer-Encoding", "chunked", -1);
    mg_response_header_add(c, "X-Request-Id", request_id, -1);
    mg_response_header_send(c);
}
