/* server/guard.c — who may talk to the server: the Host and Origin rules
 * (docs/api.md, "Security model"), checked before any routing.
 *
 * Host (every request): DNS rebinding makes a browser send requests for a
 * page of attacker.example to 127.0.0.1, with `Host: attacker.example`.
 * Only the loopback names (localhost, *.localhost), IP literals and the
 * names given with --allow-host are answered; a request without Host (an
 * HTTP/1.0 client, never a browser) is answered too.
 *
 * Origin (requests that make work or change state: POST, and any request
 * with a body): a page on another site may POST a text/plain or
 * multipart/form-data body without asking (no CORS preflight). Such a
 * request is refused when its Origin is not the server's own (the Host it
 * was sent to, http or https) nor an allowed host's, or when the browser
 * labels it `Sec-Fetch-Site: cross-site`. Requests without Origin (curl,
 * scripts) pass: a browser always sends it on a cross-origin POST.
 */
#include "server_impl.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Split "host[:port]" / "[v6][:port]" into the host part (brackets kept).
 * 0 ok, -1 malformed. */
static int host_part(const char *h, size_t n, const char **host, size_t *hn) {
    if (n == 0) return -1;
    const char *port = NULL;
    if (h[0] == '[') {
        const char *close = memchr(h, ']', n);
        if (!close) return -1;
        *host = h, *hn = (size_t)(close - h) + 1;
        if (*hn < n) {
            if (close[1] != ':') return -1;
            port = close + 2;
        }
    } else {
        const char *colon = memchr(h, ':', n);
        *host = h, *hn = colon ? (size_t)(colon - h) : n;
        if (colon) port = colon + 1;
    }
    if (*hn == 0) return -1;
    if (port) {
        size_t pn = n - (size_t)(port - h);
        if (pn == 0 || pn > 5) return -1;
        for (size_t i = 0; i < pn; i++)
            if (port[i] < '0' || port[i] > '9') return -1;
    }
    return 0;
}

static int eq_ci(const char *a, size_t an, const char *b) { return strlen(b) == an && !strncasecmp(a, b, an); }

/* host (no port): a loopback name, an IP literal, or an --allow-host name */
static int host_allowed(const server *s, const char *h, size_t n) {
    char buf[64];
    if (eq_ci(h, n, "localhost")) return 1;
    if (n > 10 && eq_ci(h + n - 10, 10, ".localhost")) return 1;   /* RFC 6761: always loopback */
    if (n < sizeof buf) {
        /* an IP literal cannot be rebound: only a DNS name can */
        unsigned char a[16];
        if (h[0] == '[' && n > 2) {
            memcpy(buf, h + 1, n - 2);
            buf[n - 2] = 0;
            if (inet_pton(AF_INET6, buf, a) == 1) return 1;
        } else {
            memcpy(buf, h, n);
            buf[n] = 0;
            if (inet_pton(AF_INET, buf, a) == 1) return 1;
        }
    }
    for (int i = 0; i < s->n_allow_hosts; i++)
        if (eq_ci(h, n, s->allow_hosts[i])) return 1;
    return 0;
}

/* The request makes work or changes state: POST (or another method than
 * GET/HEAD/OPTIONS), or it carries a body. */
static int makes_work(struct mg_connection *c, const struct mg_request_info *ri) {
    const char *m = ri->request_method;
    if (strcmp(m, "GET") && strcmp(m, "HEAD") && strcmp(m, "OPTIONS")) return 1;
    return ri->content_length > 0 || mg_get_header(c, "Transfer-Encoding") != NULL;
}

int guard_check(server *s, struct mg_connection *c) {
    const struct mg_request_info *ri = mg_get_request_info(c);
    const char *hh = mg_get_header(c, "Host");
    const char *host = NULL;
    size_t hn = 0;
    if (hh) {
        if (host_part(hh, strlen(hh), &host, &hn))
            return http_send_error(s, c, 400, NULL, "malformed Host header");
        if (!host_allowed(s, host, hn))
            return http_send_error(s, c, 403, NULL,
                                   "Host '%.*s' is not allowed: seer serve answers to localhost, IP addresses and "
                                   "the names given with --allow-host NAME (start it with --allow-host %.*s to allow "
                                   "this one)",
                                   (int)(hn > 100 ? 100 : hn), host, (int)(hn > 100 ? 100 : hn), host);
    }
    if (!makes_work(c, ri)) return 0;
    const char *site = mg_get_header(c, "Sec-Fetch-Site");
    if (site && !strcasecmp(site, "cross-site"))
        return http_send_error(s, c, 403, NULL,
                               "cross-site request refused: only the server's own page (or an --allow-host origin) "
                               "may send it");
    const char *origin = mg_get_header(c, "Origin");
    if (!origin) return 0;
    /* scheme://authority, nothing after */
    const char *auth = !strncasecmp(origin, "http://", 7) ? origin + 7 : !strncasecmp(origin, "https://", 8) ? origin + 8 : NULL;
    int ok = 0;
    if (auth && !strchr(auth, '/')) {
        if (hh && !strcasecmp(auth, hh)) ok = 1;     /* same origin: the page this server served */
        const char *oh;
        size_t on;
        if (!ok && !host_part(auth, strlen(auth), &oh, &on)) {
            for (int i = 0; i < s->n_allow_hosts && !ok; i++) ok = eq_ci(oh, on, s->allow_hosts[i]);
        }
    }
    if (!ok)
        return http_send_error(s, c, 403, NULL,
                               "cross-origin request from '%.100s' refused: only the server's own page (or an "
                               "origin whose host is given with --allow-host) may send it",
                               origin);
    return 0;
}
