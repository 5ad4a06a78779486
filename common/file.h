/* common/file.h — whole-file reads and read-only memory maps.
 *
 * Ownership: file_read() returns a malloc'd buffer (NUL-terminated for
 * convenience, the NUL not counted) that the caller frees. A file_map stays
 * valid until file_unmap(); pointers into it die with it.
 */
#ifndef SEER_FILE_H
#define SEER_FILE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const uint8_t *data; /* (size) bytes, read-only; NULL for an empty file */
    size_t size;
} file_map;

/* Read all of path into *buf (caller frees). Fails with ST_TOO_LARGE above
 * max_bytes (0 = no limit). */
int  file_read(const char *path, size_t max_bytes, uint8_t **buf, size_t *len);

/* Map path read-only. An empty file gives data=NULL, size=0. */
int  file_map_open(const char *path, file_map *m);
void file_map_close(file_map *m);

/* 1 if path names a regular file (following links), else 0. */
int  file_is_regular(const char *path);

/* The part of path after its last '/' (path itself when there is none); a
 * pointer into path. */
const char *file_base_name(const char *path);
/* Join dir and name into out (cap bytes); ST_ARG if it does not fit. */
int  file_join(char *out, size_t cap, const char *dir, const char *name);

#endif
