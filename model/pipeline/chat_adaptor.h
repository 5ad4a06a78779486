/* model/pipeline/chat_adaptor.h — the image side of the adaptor chat model
 * (MiniGPT-4 v1's design, the HKUST report's system): BLIP-2's EVA ViT-g and
 * Q-Former give Z, the query pass's last hidden state (nq × qformer width,
 * 32 × 768 for blip2-itm-vit-g, before any projection), and one linear
 * layer maps it into the LLaMA-2 prompt: rows = Z · Wᵀ + b (llm width).
 *
 * The model is described by a small JSON file (paths relative to it):
 *     {"architecture": "blip2-linear-llama", "vision": "blip2-itm-vit-g",
 *      "language_model": "Llama-2-7b-chat-hf", "adaptor": "llama_proj.pth"}
 * chat_model_load takes that file; this file loads "vision" and "adaptor"
 * and says where the language model is. The adaptor file is safetensors or
 * a torch zip (.pth/.bin) holding `weight` [llm width, qformer width] and
 * `bias` [llm width], under those plain names or MiniGPT-4's
 * `llama_proj.weight` / `llama_proj.bias`, flat or inside a "model",
 * "state_dict" or "module" wrapper dict (MiniGPT-4's released
 * pretrained_minigpt4*.pth is {"model": {...}}; other tensors are ignored).
 *
 * Ownership: chat_adaptor_open returns a handle owning the BLIP-2 model and
 * float32 copies of W and b; read-only afterwards, so any number of threads
 * may call chat_adaptor_image at once.
 */
#ifndef SEER_CHAT_ADAPTOR_H
#define SEER_CHAT_ADAPTOR_H

#include "image.h"

#include <stddef.h>

/* The linear adaptor alone. */
typedef struct {
    float *w;      /* (out, in) */
    float *b;      /* (out) */
    int out, in;   /* llm width, qformer width */
} chat_linear;

/* Read weight/bias (plain or llama_proj.* names, maybe wrapped) from a safetensors or torch
 * zip file. ST_NOT_FOUND / ST_FORMAT / ST_MISMATCH (bias length) naming the
 * file; ST_NOMEM. Release with chat_linear_release. */
int  chat_linear_load(const char *path, chat_linear *out);
void chat_linear_release(chat_linear *l);
/* rows (n, out) = Z (n, in) · Wᵀ + b */
void chat_linear_apply(const chat_linear *l, const float *Z, int n, float *rows);

typedef struct chat_adaptor chat_adaptor;

/* 1 when path is a regular file whose JSON has "architecture":
 * "blip2-linear-llama" (no message set when it is not). */
int  chat_adaptor_is_config(const char *path);
/* Load the config at path: its BLIP-2 (with preprocessor_config.json) and
 * adaptor; lm_dir (cap bytes) receives the language model's directory.
 * ST_FORMAT for a config missing a key or of another architecture,
 * ST_MISMATCH when the adaptor's input width is not the Q-Former's. */
int  chat_adaptor_open(const char *path, chat_adaptor **out, char *lm_dir, size_t cap);
void chat_adaptor_close(chat_adaptor *a);
/* Image rows per picture (the query tokens) and their width (llm width). */
int  chat_adaptor_rows(const chat_adaptor *a);
int  chat_adaptor_width(const chat_adaptor *a);
/* The BLIP-2 directory's name, for identities ("blip2-itm-vit-g"). */
const char *chat_adaptor_vision_name(const chat_adaptor *a);
/* One picture → rows (chat_adaptor_rows × width): preprocess, vision,
 * Q-Former query pass, adaptor. Z (rows × qformer width) too when not NULL. */
int  chat_adaptor_image(const chat_adaptor *a, const image *img, float *rows, float *Z);

#endif
