/* common/jsonx.h — small helpers over jansson for reading config files.
 *
 * Paths are dot-separated object keys: "vision_config.hidden_size".
 * Ownership: jsonx_load returns a new reference (json_decref it); the getters
 * borrow from the object they are given.
 */
#ifndef SEER_JSONX_H
#define SEER_JSONX_H

#include <jansson.h>

/* Parse a JSON file; on failure the message names the file, line and column. */
int jsonx_load(const char *path, json_t **out);

/* Parse untrusted JSON text (a request body) with a nesting limit. jansson's
 * parser recurses once per nested array or object, so a small body of
 * thousands of '[' would exhaust a small thread stack; the text is scanned
 * first and refused with ST_FORMAT (a message naming the limit and the
 * byte offset) when arrays and objects nest deeper than max_depth. Other
 * syntax errors: ST_FORMAT with jansson's line and column. flags are
 * json_loadb's (JSON_REJECT_DUPLICATES, ...). *out: a new reference. */
#define JSONX_MAX_DEPTH 64
int jsonx_loadb_limited(const char *buf, size_t len, size_t flags, int max_depth, json_t **out);

/* The deepest nesting of arrays and objects in the JSON text buf (strings
 * skipped, escapes honoured); stops counting once it exceeds cap and returns
 * cap + 1, with *at (may be NULL) the byte offset where it did. */
int jsonx_depth(const char *buf, size_t len, int cap, size_t *at);

/* The value at a dotted path, or NULL. */
json_t *jsonx_path(json_t *root, const char *path);

/* Number / integer / string at path, or def when absent or of another type. */
double      jsonx_num(json_t *root, const char *path, double def);
long long   jsonx_int(json_t *root, const char *path, long long def);
const char *jsonx_str(json_t *root, const char *path, const char *def);

#endif
