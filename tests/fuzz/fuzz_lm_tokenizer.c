/* tests/fuzz/fuzz_lm_tokenizer.c — model/text/lm_tokenizer.c and its back
 * ends (tiktoken.c, gpt2bpe.c, sentencepiece.c) with the small test
 * vocabularies of tests/data/lm_tokenizer (GPT-2 BPE, the same with Phi-2's
 * added tokens, Qwen tiktoken), unpacked with xz into a temp dir once, and
 * the tiny SentencePiece model of tests/data/llama/llama-tiny. The first byte picks
 * the tokenizer; the rest is encoded as text (any bytes) and decoded as ids,
 * whole and streaming. */
#include "fuzz.h"
#include "lm_tokenizer.h"
#include "status.h"

#include <stdio.h>
#include <unistd.h>

static lm_tokenizer *toks[4];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    char tmp[] = "/tmp/seer-fuzz-lmtok-XXXXXX", cmd[4096];
    if (!mkdtemp(tmp)) { perror("mkdtemp"); exit(1); }
    const char *d = SEER_SOURCE_DIR "/tests/data/lm_tokenizer";
    snprintf(cmd, sizeof cmd,
             "cd '%s' && mkdir gpt2 phi qwen && xz -dc '%s/gpt2/vocab.json.xz' > gpt2/vocab.json && "
             "xz -dc '%s/gpt2/merges.txt.xz' > gpt2/merges.txt && cp gpt2/vocab.json gpt2/merges.txt phi/ && "
             "cp '%s/phi_added_tokens.json' phi/added_tokens.json && "
             "xz -dc '%s/qwen/qwen.tiktoken.xz' > qwen/qwen.tiktoken", tmp, d, d, d, d);
    if (system(cmd) != 0) { fprintf(stderr, "fuzz_lm_tokenizer: unpacking into %s failed (xz?)\n", tmp); exit(1); }
    const char *names[3] = {"gpt2", "phi", "qwen"};
    for (int i = 0; i < 3; i++) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/%s", tmp, names[i]);
        if (lm_tokenizer_load(dir, &toks[i])) { fprintf(stderr, "fuzz_lm_tokenizer: %s\n", status_message()); exit(1); }
    }
    if (lm_tokenizer_load(SEER_SOURCE_DIR "/tests/data/llama/llama-tiny", &toks[3])) {
        fprintf(stderr, "fuzz_lm_tokenizer: %s\n", status_message());
        exit(1);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "fuzz_lm_tokenizer: could not remove %s\n", tmp);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const lm_tokenizer *t = toks[data[0] % 4];
    data++, size--;
    char *text = fuzz_cstr(data, size);
    if (!text) return 0;
    int32_t *ids = NULL;
    int n = 0;
    if (lm_tokenizer_encode(t, text, &ids, &n) == 0) {
        char *back;
        if (lm_tokenizer_decode(t, ids, n, &back) == 0) free(back);
    }
    free(ids);
    /* the bytes as ids, wrapped into the vocabulary (and one raw, possibly unknown) */
    size_t nid = size / 4;
    int32_t *raw = malloc((nid + 1) * sizeof *raw);
    if (raw) {
        int vs = lm_tokenizer_size(t);
        for (size_t i = 0; i < nid; i++) {
            uint32_t u;
            memcpy(&u, data + 4 * i, 4);
            raw[i] = i == 0 ? (int32_t)u : (int32_t)(u % (uint32_t)vs);
        }
        char *out;
        if (lm_tokenizer_decode(t, raw, (int)nid, &out) == 0) free(out);
        lm_detok *dt = lm_detok_new(t);
        if (dt) {
            char buf[64];
            size_t len;
            for (size_t i = 0; i < nid; i++) {
                size_t piece;
                lm_tokenizer_piece(t, raw[i], &piece);
                lm_detok_push(dt, raw[i], buf, sizeof buf, &len);
            }
            lm_detok_flush(dt, buf, sizeof buf, &len);
            lm_detok_free(dt);
        }
        free(raw);
    }
    lm_tokenizer_special(t, text);
    free(text);
    return 0;
}
