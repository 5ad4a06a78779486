/* tests/fuzz/fuzz_clip_tokenizer.c — model/text/clip_tokenizer.c with the
 * bundled models/demo/clip vocabulary: clean + encode arbitrary bytes (valid
 * UTF-8 or not), and decode arbitrary ids. */
#include "clip_tokenizer.h"
#include "fuzz.h"
#include "status.h"

#include <stdio.h>

static clip_tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *dir = SEER_SOURCE_DIR "/models/demo/clip";
    if (clip_tokenizer_load(dir, &tok)) {
        fprintf(stderr, "fuzz_clip_tokenizer: %s\n", status_message());
        exit(1);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fuzz_cstr(data, size);
    if (!text) return 0;
    int32_t ids[77];
    int n = 0;
    if (clip_tokenizer_encode(tok, text, ids, 77, &n) == 0) {
        if (n < 2 || n > 77 || ids[0] != clip_tokenizer_sot(tok) || ids[n - 1] != clip_tokenizer_eot(tok)) abort();
        char *back;
        if (clip_tokenizer_decode(tok, ids, n, &back) == 0) free(back);
    }
    char *clean;
    if (clip_tokenizer_clean(text, &clean) == 0) free(clean);
    /* the bytes as ids, in and out of range */
    size_t nid = size / 4;
    int32_t *raw = malloc((nid ? nid : 1) * sizeof *raw);
    if (raw) {
        if (nid) memcpy(raw, data, nid * 4);
        for (size_t i = 0; i < nid; i++) clip_tokenizer_token(tok, raw[i]);
        char *out;
        if (clip_tokenizer_decode(tok, raw, (int)nid, &out) == 0) free(out);
        free(raw);
    }
    free(text);
    return 0;
}
