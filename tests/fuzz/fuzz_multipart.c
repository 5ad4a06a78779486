/* tests/fuzz/fuzz_multipart.c — server/http.c: the multipart/form-data
 * walker behind POST /api/search (the file part) and POST /api/chat (the
 * "payload" and "image" parts). Input: the Content-Type header value, a
 * newline, then the body. */
#include "fuzz.h"
#include "server_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nl = memchr(data, '\n', size < 512 ? size : 512);
    if (!nl) return 0;
    char *ctype = fuzz_cstr(data, (size_t)(nl - data));
    size_t n = size - (size_t)(nl - data) - 1;
    char *body = (char *)fuzz_copy(nl + 1, n);
    if (!ctype || !body) { free(ctype), free(body); return 0; }
    const char *part;
    size_t len;
    if (http_multipart_file(ctype, body, n, &part, &len) == 0) {
        if (part < body || part + len > body + n) abort();
        fuzz_touch(part, len);
    }
    static const char *const names[] = {"payload", "image"};
    for (int i = 0; i < 2; i++)
        if (http_multipart_field(ctype, body, n, names[i], &part, &len) == 0) {
            if (part < body || part + len > body + n) abort();
            fuzz_touch(part, len);
        }
    free(ctype);
    free(body);
    return 0;
}
