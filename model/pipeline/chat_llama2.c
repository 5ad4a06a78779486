/* model/pipeline/chat_llama2.c — see chat_llama2.h. */
#include "chat_llama2.h"
#include "chat.h"
#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int32_t *ids;
    int n, cap;
} ids_buf;

static int push(ids_buf *b, const int32_t *ids, int n) {
    if (b->n + n > b->cap) {
        int cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->n + n) cap *= 2;
        int32_t *p = realloc(b->ids, (size_t)cap * sizeof *p);
        if (!p) return status_fail(ST_NOMEM, "chat: out of memory");
        b->ids = p, b->cap = cap;
    }
    memcpy(b->ids + b->n, ids, (size_t)n * sizeof *ids);
    b->n += n;
    return ST_OK;
}

/* encode text and append */
static int push_text(ids_buf *b, const lm_tokenizer *tok, const char *text) {
    int32_t *ids = NULL;
    int n = 0;
    int st = text[0] ? lm_tokenizer_encode(tok, text, &ids, &n) : ST_OK;
    if (!st && n) st = push(b, ids, n);
    free(ids);
    return st;
}

/* strdup of s without surrounding ASCII whitespace (Python str.strip) */
static char *strip_dup(const char *s) {
    static const char *ws = " \t\n\r\f\v";
    while (*s && strchr(ws, *s)) s++;
    size_t n = strlen(s);
    while (n && strchr(ws, s[n - 1])) n--;
    return strndup(s, n);
}

static char *cat3(const char *a, const char *b, const char *c) {
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%s%s", a, b, c);
    return s;
}

int chat_llama2_ids(const lm_tokenizer *tok, const char *system, const char *const *q, const char *const *a,
                    int n_q, int img_turn, int32_t **ids, int *n) {
    *ids = NULL;
    *n = 0;
    const int32_t bos = lm_tokenizer_bos(tok), eos = lm_tokenizer_eos(tok), img = CHAT_IMAGE_TOKEN;
    if (bos < 0) return status_fail(ST_ARG, "chat: the LLaMA-2 template needs a tokenizer with <s> (SentencePiece)");
    if (n_q < 1 || !q || (n_q > 1 && !a) || img_turn >= n_q)
        return status_fail(ST_ARG, "chat: %d questions, image with question %d", n_q, img_turn + 1);
    ids_buf b = {0};
    int st = ST_OK;
    for (int i = 0; i < n_q && !st; i++) {
        const int done = i < n_q - 1;
        char *qs = q[i] ? strip_dup(q[i]) : NULL, *as = done && a[i] ? strip_dup(a[i]) : NULL;
        char *head = NULL, *tail = NULL;
        if (!qs || (done && !as)) {
            st = q[i] && (!done || a[i]) ? status_fail(ST_NOMEM, "chat: out of memory")
                                         : status_fail(ST_ARG, "chat: turn %d has no question or answer", i + 1);
        } else if (!qs[0]) {
            st = status_fail(ST_ARG, "chat: question %d is empty", i + 1);
        } else {
            /* "[INST] " + sys block | q " [/INST]" + " a " */
            char sysblk[8192] = "";
            if (i == 0 && system && system[0])
                snprintf(sysblk, sizeof sysblk, "<<SYS>>\n%s\n<</SYS>>\n\n", system);
            if (i == 0 && system && strlen(system) + 32 > sizeof sysblk)
                st = status_fail(ST_TOO_LARGE, "chat: system prompt of %zu bytes", strlen(system));
            const char *after = done ? " [/INST] " : " [/INST]";
            if (i == img_turn) {
                /* MiniGPT-4: "[INST] " <image> " {q} [/INST]" */
                head = cat3("[INST] ", sysblk, "");
                char *t1 = cat3(" ", qs, after);
                tail = t1 && done ? cat3(t1, as, " ") : (t1 ? strdup(t1) : NULL);
                free(t1);
            } else {
                char *t1 = cat3("[INST] ", sysblk, qs);
                head = t1 ? cat3(t1, after, done ? as : "") : NULL;
                if (head && done) {
                    char *h2 = cat3(head, " ", "");
                    free(head);
                    head = h2;
                }
                free(t1);
            }
            if (!st && (!head || (i == img_turn && !tail))) st = status_fail(ST_NOMEM, "chat: out of memory");
            if (!st) st = push(&b, &bos, 1);
            if (!st) st = push_text(&b, tok, head);
            if (!st && i == img_turn) {
                st = push(&b, &img, 1);
                if (!st) st = push_text(&b, tok, tail);
            }
            if (!st && done) st = push(&b, &eos, 1);
        }
        free(qs), free(as), free(head), free(tail);
    }
    if (st) {
        free(b.ids);
        return st;
    }
    *ids = b.ids;
    *n = b.n;
    return ST_OK;
}
