/* tests/fuzz/fuzz_chat_body.c — server/chat_api.c and server/api.c: the
 * checks of a JSON request body (POST /api/chat, the messages of POST
 * /api/feedback) and of an image id in a path. The first byte picks which. */
#include "fuzz.h"
#include "server_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int which = data[0] % 3;
    data++, size--;
    char *body = (char *)fuzz_copy(data, size);
    if (!body) return 0;
    char err[512];
    if (which == 2) {
        uint64_t id;
        if (api_parse_id(body, size, &id) == 0 && id == 0) abort();
    } else {
        err[0] = 0;
        if (chat_api_check_body(body, size, which ? "assistant" : "user", err, sizeof err) && !err[0]) abort();
    }
    free(body);
    return 0;
}
