/* common/jsonx.c — see jsonx.h. */
#include "jsonx.h"
#include "status.h"

#include <string.h>

int jsonx_load(const char *path, json_t **out) {
    json_error_t err;
    *out = json_load_file(path, JSON_DECODE_ANY, &err);
    if (!*out) {
        if (strstr(err.text, "unable to open"))
            return status_fail(ST_NOT_FOUND, "%s: %s", path, err.text);
        return status_fail(ST_FORMAT, "%s:%d:%d: %s", path, err.line, err.column, err.text);
    }
    return ST_OK;
}

int jsonx_depth(const char *buf, size_t len, int cap, size_t *at) {
    int depth = 0, deepest = 0, in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = 0;
            continue;
        }
        if (c == '"') in_str = 1;
        else if (c == '[' || c == '{') {
            if (++depth > deepest) deepest = depth;
            if (deepest > cap) {
                if (at) *at = i;
                return cap + 1;
            }
        } else if ((c == ']' || c == '}') && depth > 0) depth--;
    }
    return deepest;
}

int jsonx_loadb_limited(const char *buf, size_t len, size_t flags, int max_depth, json_t **out) {
    *out = NULL;
    size_t at = 0;
    if (jsonx_depth(buf, len, max_depth, &at) > max_depth)
        return status_fail(ST_FORMAT, "JSON nested deeper than %d arrays/objects (at byte %zu)", max_depth, at);
    json_error_t err;
    *out = json_loadb(buf, len, flags, &err);
    if (!*out) return status_fail(ST_FORMAT, "malformed JSON at line %d, column %d: %s", err.line, err.column, err.text);
    return ST_OK;
}

json_t *jsonx_path(json_t *root, const char *path) {
    char key[128];
    json_t *cur = root;
    while (cur && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        if (n >= sizeof key) return NULL;
        memcpy(key, path, n);
        key[n] = 0;
        cur = json_is_object(cur) ? json_object_get(cur, key) : NULL;
        path += n + (dot ? 1 : 0);
    }
    return cur;
}

double jsonx_num(json_t *root, const char *path, double def) {
    json_t *v = jsonx_path(root, path);
    return json_is_number(v) ? json_number_value(v) : def;
}

long long jsonx_int(json_t *root, const char *path, long long def) {
    json_t *v = jsonx_path(root, path);
    return json_is_integer(v) ? (long long)json_integer_value(v) : def;
}

const char *jsonx_str(json_t *root, const char *path, const char *def) {
    json_t *v = jsonx_path(root, path);
    return json_is_string(v) ? json_string_value(v) : def;
}
