/* common/datadir.c — the bundled data beside the binary or in the source tree. */
#include "datadir.h"
#include "status.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef SEER_DATADIR_FROM_BIN
#define SEER_DATADIR_FROM_BIN "../share/seer"
#endif
#ifndef SEER_SOURCE_FROM_BIN
#define SEER_SOURCE_FROM_BIN ".."
#endif

int datadir_find(const char *rel, char *out, size_t cap) {
    if (!rel || !rel[0] || rel[0] == '/') return status_fail(ST_ARG, "datadir_find: expected a relative path");
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return status_fail(ST_IO, "cannot locate the seer executable (/proc/self/exe)");
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    static const char *const bases[2] = {SEER_DATADIR_FROM_BIN, SEER_SOURCE_FROM_BIN};
    char tried[2][PATH_MAX + 64];
    for (int i = 0; i < 2; i++) {
        const char *b = bases[i];
        int len = b[0] ? snprintf(tried[i], sizeof tried[i], "%s/%s/%s", exe, b, rel)
                       : snprintf(tried[i], sizeof tried[i], "%s/%s", exe, rel);
        if (len < 0 || (size_t)len >= sizeof tried[i]) return status_fail(ST_ARG, "path too long: %s", rel);
        struct stat sb;
        if (stat(tried[i], &sb) == 0) {
            char real[PATH_MAX];
            const char *p = realpath(tried[i], real) ? real : tried[i];
            if (strlen(p) >= cap) return status_fail(ST_ARG, "path too long: %s", p);
            memcpy(out, p, strlen(p) + 1);
            return ST_OK;
        }
    }
    return status_fail(ST_NOT_FOUND, "seer's bundled %s was not found: looked in %s and %s", rel, tried[0], tried[1]);
}
