/* index/filter.c — see filter.h. */
#include "filter.h"
#include "status.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void filter_init(filter *f) { memset(f, 0, sizeof *f); }

int filter_active(const filter *f) {
    return f->after[0] || f->before[0] || f->folder[0] || f->camera[0] || f->format[0];
}

/* "YYYY-MM-DD" naming a day of the proleptic Gregorian calendar. */
static int valid_date(const char *s) {
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i])) return 0;
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int m = (s[5] - '0') * 10 + (s[6] - '0'), d = (s[8] - '0') * 10 + (s[9] - '0');
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1) return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= days[m - 1] + (m == 2 && leap);
}

static int copy_lower(char *dst, size_t cap, const char *src, const char *name) {
    size_t n = strlen(src);
    if (n >= cap) return status_fail(ST_ARG, "%s is longer than %zu bytes", name, cap - 1);
    for (size_t i = 0; i <= n; i++) dst[i] = (char)tolower((unsigned char)src[i]);
    return ST_OK;
}

int filter_set(filter *f, const char *name, const char *value) {
    if (!value || !*value) return status_fail(ST_ARG, "%s is empty: give a value or leave it out", name);
    if (!strcmp(name, "after") || !strcmp(name, "before")) {
        if (!valid_date(value))
            return status_fail(ST_ARG, "%s must be a date YYYY-MM-DD that exists, got '%.40s'", name, value);
        char *dst = name[0] == 'a' ? f->after : f->before;
        memcpy(dst, value, 11);
        if (f->after[0] && f->before[0] && strcmp(f->after, f->before) > 0)
            return status_fail(ST_ARG, "after (%s) is later than before (%s): no image can match", f->after, f->before);
        return ST_OK;
    }
    if (!strcmp(name, "folder")) {
        size_t n = strlen(value);
        if (n >= sizeof f->folder) return status_fail(ST_ARG, "folder is longer than %zu bytes", sizeof f->folder - 1);
        while (n > 1 && value[n - 1] == '/') n--;
        if ((n == 1 && value[0] == '.') || (n == 2 && !strncmp(value, "./", 2)))
            return status_fail(ST_ARG, "folder '.' means everything: leave it out");
        memcpy(f->folder, value, n);
        f->folder[n] = 0;
        return ST_OK;
    }
    if (!strcmp(name, "camera")) return copy_lower(f->camera, sizeof f->camera, value, "camera");
    if (!strcmp(name, "format")) {
        int rc = copy_lower(f->format, sizeof f->format, value, "format");
        if (rc) return rc;
        for (const char *p = f->format; *p; p++)
            if (!isalnum((unsigned char)*p)) return status_fail(ST_ARG, "format must be a name such as jpeg or heic, got '%.20s'", value);
        return ST_OK;
    }
    return status_fail(ST_ARG, "unknown filter '%s' (expected after, before, folder, camera or format)", name);
}

void filter_camera(const char *make, const char *model, char *out, size_t cap) {
    if (!cap) return;
    size_t mk = make ? strlen(make) : 0, md = model ? strlen(model) : 0;
    if (md && mk && !strncasecmp(model, make, mk)) mk = 0;   /* "Canon" + "Canon EOS R5" */
    snprintf(out, cap, "%.*s%s%s", (int)mk, mk ? make : "", mk && md ? " " : "", md ? model : "");
}

/* path starts with prefix (n bytes) and the match ends at a component. */
static int under(const char *path, const char *prefix, size_t n) {
    if (strncmp(path, prefix, n)) return 0;
    return (n && prefix[n - 1] == '/') || path[n] == '/' || path[n] == 0;
}

static int contains_ci(const char *hay, const char *lower_needle) {
    size_t n = strlen(lower_needle);
    for (const char *h = hay; *h; h++) {
        size_t i = 0;
        while (i < n && h[i] && tolower((unsigned char)h[i]) == lower_needle[i]) i++;
        if (i == n) return 1;
    }
    return n == 0;
}

int filter_match(const filter *f, const char *taken, const char *path, const char *camera, const char *format,
                 const char *const *roots, size_t n_roots) {
    if (f->after[0] || f->before[0]) {
        if (!taken || strlen(taken) < 10) return 0;
        if (f->after[0] && strncmp(taken, f->after, 10) < 0) return 0;
        if (f->before[0] && strncmp(taken, f->before, 10) > 0) return 0;
    }
    if (f->format[0] && (!format || strcasecmp(format, f->format))) return 0;
    if (f->camera[0] && (!camera || !contains_ci(camera, f->camera))) return 0;
    if (f->folder[0]) {
        if (!path) return 0;
        size_t n = strlen(f->folder);
        if (f->folder[0] == '/') return under(path, f->folder, n);
        const char *rel = f->folder[0] == '.' && f->folder[1] == '/' ? f->folder + 2 : f->folder;
        size_t rn = strlen(rel);
        for (size_t i = 0; i < n_roots; i++) {
            size_t m = strlen(roots[i]);
            while (m > 1 && roots[i][m - 1] == '/') m--;
            if (strncmp(path, roots[i], m) || path[m] != '/') continue;
            if (under(path + m + 1, rel, rn)) return 1;
        }
        return 0;
    }
    return 1;
}
