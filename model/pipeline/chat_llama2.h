/* model/pipeline/chat_llama2.h — the LLaMA-2 chat template, as prompt ids.
 *
 * Meta's llama/generation.py chat_completion, token for token: every
 * finished turn is BOS + encode("[INST] {q} [/INST] {a} ") + EOS, the open
 * (last) turn BOS + encode("[INST] {q} [/INST]"); a system prompt is folded
 * into the first question as "<<SYS>>\n{system}\n<</SYS>>\n\n{q}". Each turn
 * is tokenised on its own (SentencePiece adds its dummy-prefix space to
 * each); BOS/EOS are ids, never the text "<s>"/"</s>". Questions and
 * answers are stripped of surrounding whitespace as there.
 *
 * With an image (the adaptor chat model, MiniGPT-4's get_context_emb), the
 * turn img_turn is split at the image: BOS + encode("[INST] " [system
 * block]) + CHAT_IMAGE_TOKEN + encode(" {q} [/INST]" [" {a} "]) [+ EOS]:
 * each segment tokenised alone, BOS only on the first, so the prompt of
 * one question is "<s>[INST] <image rows> {q} [/INST]".
 *
 * Pure function of its arguments; thread-safe.
 */
#ifndef SEER_CHAT_LLAMA2_H
#define SEER_CHAT_LLAMA2_H

#include "lm_tokenizer.h"

#include <stdint.h>

/* The ids of a conversation of n_q questions q[0..n_q) whose first n_q - 1
 * have answers a[0..n_q-1) (the last is open). system may be NULL or "".
 * img_turn: the question the image goes with, or -1 for none; the image is
 * one CHAT_IMAGE_TOKEN (-200) id. *ids is malloc'd (caller frees). The
 * tokenizer must have a BOS (SentencePiece): ST_ARG otherwise, or for
 * n_q < 1, an empty question or img_turn >= n_q; ST_NOMEM. */
int chat_llama2_ids(const lm_tokenizer *tok, const char *system, const char *const *q, const char *const *a,
                    int n_q, int img_turn, int32_t **ids, int *n);

#endif
