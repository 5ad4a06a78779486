/* common/file.c — see file.h. */

#include "file.h"
#include "status.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int file_read(const char *path, size_t max_bytes, uint8_t **buf, size_t *len) {
    *buf = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return status_fail(errno == ENOENT ? ST_NOT_FOUND : ST_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return status_fail(ST_IO, "%s: not a regular file", path);
    }
    size_t size = (size_t)sb.st_size;
    if (max_bytes && size > max_bytes) {
        close(fd);
        return status_fail(ST_TOO_LARGE, "%s: %zu bytes is over the limit of %zu", path, size, max_bytes);
    }
    uint8_t *p = malloc(size + 1);
    if (!p) {
        close(fd);
        return status_fail(ST_NOMEM, "%s: cannot allocate %zu bytes", path, size);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, p + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int e = errno;
            free(p);
            close(fd);
            return status_fail(ST_IO, "%s: read failed: %s", path, r < 0 ? strerror(e) : "file shrank");
        }
        got += (size_t)r;
    }
    close(fd);
    p[size] = 0;
    *buf = p;
    *len = size;
    return ST_OK;
}

int file_map_open(const char *path, file_map *m) {
    m->data = NULL;
    m->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return status_fail(errno == ENOENT ? ST_NOT_FOUND : ST_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return status_fail(ST_IO, "%s: not a regular file", path);
    }
    if (sb.st_size == 0) {
        close(fd);
        return ST_OK;
    }
    void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return status_fail(ST_IO, "%s: mmap failed: %s", path, strerror(e));
    m->data = p;
    m->size = (size_t)sb.st_size;
    return ST_OK;
}

void file_map_close(file_map *m) {
    if (m->data) munmap((void *)m->data, m->size);
    m->data = NULL;
    m->size = 0;
}

int file_is_regular(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

int file_join(char *out, size_t cap, const char *dir, const char *name) {
    size_t dl = strlen(dir);
    int n = snprintf(out, cap, "%s%s%s", dir, (dl && dir[dl - 1] == '/') ? "" : "/", name);
    if (n < 0 || (size_t)n >= cap) return status_fail(ST_ARG, "path too long: %s/%s", dir, name);
    return ST_OK;
}

const char *file_base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}
