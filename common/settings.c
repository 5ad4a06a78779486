/* common/settings.c — the key = value settings file. */
#include "settings.h"
#include "file.h"
#include "log.h"
#include "status.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { KIND_PATH, KIND_LISTEN, KIND_TOKEN, KIND_ONOFF, KIND_SECONDS, KIND_MB, KIND_KV };

typedef struct {
    const char *key;
    int kind;
    size_t offset; /* of the char * field in settings */
} key_spec;

static const key_spec keys[] = {
    {"db", KIND_PATH, offsetof(settings, db)},
    {"listen", KIND_LISTEN, offsetof(settings, listen)},
    {"token", KIND_TOKEN, offsetof(settings, token)},
    {"model", KIND_PATH, offsetof(settings, model)},
    {"chat-model", KIND_PATH, offsetof(settings, chat_model)},
    {"vision-tower", KIND_PATH, offsetof(settings, vision_tower)},
    {"models-root", KIND_PATH, offsetof(settings, models_root)},
    {"photos", KIND_PATH, 0}, /* repeatable: settings.photos */
    {"watch", KIND_ONOFF, 0},
    {"watch-interval", KIND_SECONDS, 0},
    {"chat-cache-mb", KIND_MB, 0},
    {"chat-kv", KIND_KV, 0},
};
enum { N_KEYS = sizeof keys / sizeof *keys };

void settings_release(settings *s) {
    if (!s) return;
    free(s->path);
    for (int i = 0; i < N_KEYS; i++)
        if (keys[i].offset) free(*(char **)((char *)s + keys[i].offset));
    for (int i = 0; i < s->n_photos; i++) free(s->photos[i]);
    free(s->photos);
    memset(s, 0, sizeof *s);
}

/* PORT or A.B.C.D:PORT, port 0..65535 (what seer serve --listen takes). */
static int listen_ok(const char *v) {
    const char *colon = strrchr(v, ':');
    const char *port = colon ? colon + 1 : v;
    if (!*port || strlen(port) > 5) return 0;
    for (const char *p = port; *p; p++)
        if (!isdigit((unsigned char)*p)) return 0;
    if (atol(port) > 65535) return 0;
    if (!colon) return 1;
    char host[64];
    size_t n = (size_t)(colon - v);
    if (n == 0 || n >= sizeof host) return 0;
    memcpy(host, v, n);
    host[n] = 0;
    struct in_addr a;
    return inet_pton(AF_INET, host, &a) == 1;
}

/* Check one value; a message naming the problem, or NULL when it is good. */
static const char *value_problem(int kind, const char *v) {
    switch (kind) {
    case KIND_PATH: return v[0] == '/' ? NULL : "expected an absolute path";
    case KIND_LISTEN: return listen_ok(v) ? NULL : "expected PORT or IPV4:PORT (port 0..65535), e.g. 127.0.0.1:8080";
    case KIND_TOKEN:
        for (const char *p = v; *p; p++)
            if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p)) return "a token may not contain spaces";
        return NULL;
    case KIND_ONOFF: return !strcmp(v, "on") || !strcmp(v, "off") ? NULL : "expected on or off";
    case KIND_SECONDS: {
        char *end;
        errno = 0;
        long n = strtol(v, &end, 10);
        return errno || end == v || *end || n < 10 || n > 86400 ? "expected seconds, 10..86400" : NULL;
    }
    case KIND_MB: {
        char *end;
        errno = 0;
        long n = strtol(v, &end, 10);
        return errno || end == v || *end || n < 0 || n > 1048576 ? "expected MiB, 0..1048576" : NULL;
    }
    case KIND_KV: return !strcmp(v, "f16") || !strcmp(v, "f32") ? NULL : "expected f16 or f32";
    }
    return "unknown kind";
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = 0;
    return s;
}

static int parse_line(settings *s, const char *path, int lineno, char *line, int *seen_line) {
    char *t = trim(line);
    if (!*t || *t == '#') return ST_OK;
    char *eq = strchr(t, '=');
    if (!eq) return status_fail(ST_FORMAT, "%s:%d: expected 'key = value', got '%.80s'", path, lineno, t);
    *eq = 0;
    char *key = trim(t), *val = trim(eq + 1);
    int k = 0;
    while (k < N_KEYS && strcmp(keys[k].key, key)) k++;
    if (k == N_KEYS)
        return status_fail(ST_FORMAT,
                           "%s:%d: unknown key '%.80s' (known: db, listen, token, model, chat-model, vision-tower, "
                           "models-root, photos, watch, watch-interval, chat-cache-mb, chat-kv)", path, lineno, key);
    if (!*val)
        return status_fail(ST_FORMAT, "%s:%d: %s has no value (put a '#' before the line to leave it unset)", path,
                           lineno, key);
    const char *why = value_problem(keys[k].kind, val);
    if (why) return status_fail(ST_FORMAT, "%s:%d: %s = '%.200s': %s", path, lineno, key, val, why);
    if (keys[k].kind == KIND_ONOFF || keys[k].kind == KIND_SECONDS || keys[k].kind == KIND_MB ||
        keys[k].kind == KIND_KV) {
        if (seen_line[k])
            return status_fail(ST_FORMAT, "%s:%d: %s is already set on line %d", path, lineno, key, seen_line[k]);
        seen_line[k] = lineno;
        if (keys[k].kind == KIND_ONOFF) s->watch = !strcmp(val, "on") ? SETTINGS_ON : SETTINGS_OFF;
        else if (keys[k].kind == KIND_SECONDS) s->watch_interval = (int)strtol(val, NULL, 10);
        else if (keys[k].kind == KIND_MB) s->chat_cache_mb = (int)strtol(val, NULL, 10), s->chat_cache_mb_set = 1;
        else s->chat_kv_f16 = !strcmp(val, "f16"), s->chat_kv_set = 1;
        return ST_OK;
    }
    char *copy = strdup(val);
    if (!copy) return status_fail(ST_NOMEM, "out of memory reading %s", path);
    if (!keys[k].offset) {
        char **v = realloc(s->photos, (size_t)(s->n_photos + 1) * sizeof *v);
        if (!v) {
            free(copy);
            return status_fail(ST_NOMEM, "out of memory reading %s", path);
        }
        s->photos = v;
        s->photos[s->n_photos++] = copy;
        return ST_OK;
    }
    char **field = (char **)((char *)s + keys[k].offset);
    if (*field) {
        free(copy);
        return status_fail(ST_FORMAT, "%s:%d: %s is already set on line %d", path, lineno, key, seen_line[k]);
    }
    *field = copy;
    seen_line[k] = lineno;
    return ST_OK;
}

int settings_load(const char *path, settings *out) {
    memset(out, 0, sizeof *out);
    uint8_t *buf;
    size_t len;
    int st = file_read(path, 1 << 20, &buf, &len);
    if (st) return status_wrap(st, "settings file");
    if (memchr(buf, 0, len)) {
        free(buf);
        return status_fail(ST_FORMAT, "%s: not a text file", path);
    }
    int seen_line[N_KEYS] = {0};
    int lineno = 0;
    st = ST_OK;
    /* strtok_r would merge empty lines and so miscount them: split by hand */
    char *p = (char *)buf;
    while (p && !st) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        lineno++;
        st = parse_line(out, path, lineno, p, seen_line);
        p = nl ? nl + 1 : NULL;
    }
    free(buf);
    if (!st && !out->chat_model && (out->vision_tower || out->models_root))
        st = status_fail(ST_FORMAT, "%s: vision-tower and models-root go with chat-model", path);
    if (!st && !out->chat_model && out->chat_cache_mb_set)
        st = status_fail(ST_FORMAT, "%s: chat-cache-mb goes with chat-model", path);
    if (!st && !out->chat_model && out->chat_kv_set)
        st = status_fail(ST_FORMAT, "%s: chat-kv goes with chat-model", path);
    if (!st && !(out->path = strdup(path))) st = status_fail(ST_NOMEM, "out of memory reading %s", path);
    if (st) settings_release(out);
    return st;
}

int settings_for_args(int argc, char **argv, settings *out) {
    memset(out, 0, sizeof *out);
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) break;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return ST_OK; /* help needs no settings */
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) return status_fail(ST_ARG, "--config needs a FILE");
            path = argv[++i];
        } else if (!strncmp(argv[i], "--config=", 9)) {
            path = argv[i] + 9;
        }
    }
    if (path) return settings_load(path, out);
    if (access(SETTINGS_DEFAULT_PATH, F_OK)) return ST_OK;
    if (access(SETTINGS_DEFAULT_PATH, R_OK)) {
        log_warn("cannot read %s (%s): its settings are not used", SETTINGS_DEFAULT_PATH, strerror(errno));
        return ST_OK;
    }
    return settings_load(SETTINGS_DEFAULT_PATH, out);
}
