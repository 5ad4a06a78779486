/* tests/fuzz/fuzz_bert_tokenizer.c — model/text/bert_tokenizer.c (BLIP-2's
 * query tokenizer, fed user text by search and the server) with the
 * vocabulary of tests/data/blip2-tiny: encode arbitrary bytes (valid UTF-8
 * or not) with and without truncation, and look up arbitrary ids. */
#include "bert_tokenizer.h"
#include "fuzz.h"
#include "status.h"

#include <stdio.h>

static bert_tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    if (bert_tokenizer_load(SEER_SOURCE_DIR "/tests/data/blip2-tiny", &tok)) {
        fprintf(stderr, "fuzz_bert_tokenizer: %s\n", status_message());
        exit(1);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fuzz_cstr(data, size);
    if (!text) return 0;
    int32_t ids[64];
    int n = 0, full = 0;
    const int caps[2] = {2, 35};
    for (int c = 0; c < 2; c++)
        if (bert_tokenizer_encode(tok, text, ids, caps[c], &n, &full) == 0) {
            if (n < 2 || n > caps[c] || full < n || strcmp(bert_tokenizer_token(tok, ids[0]), "[CLS]") ||
                strcmp(bert_tokenizer_token(tok, ids[n - 1]), "[SEP]"))
                abort();
            for (int i = 0; i < n; i++)
                if (!bert_tokenizer_token(tok, ids[i])) abort();
        }
    size_t nid = size / 4;
    for (size_t i = 0; i < nid; i++) {
        int32_t id;
        memcpy(&id, data + 4 * i, 4);
        bert_tokenizer_token(tok, id);
    }
    free(text);
    return 0;
}
