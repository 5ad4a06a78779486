/* model/chat.c — see chat.h.
 *
 * Session state and its invariant:
 *   turns[]      the conversation: (question, answer) pairs; the last answer
 *                may be absent while it is being generated.
 *   feats        (n_img, hidden) projected image features, computed once per
 *                image (chat_set_image) and reused by every prompt.
 *   cached[]     the prompt ids (CHAT_IMAGE_TOKEN standing for the n_img
 *                feature rows) whose keys/values sit in the KV cache, in
 *                order: the cache holds exactly cached_len ids' positions.
 * A new prompt is tokenised whole (as MoE-LLaVA does each turn); only its
 * part after the longest common prefix with cached[] is run, so follow-up
 * questions start where the last answer ended.
 *   key, keyed   the image's key when chat_prepare set the features (the
 *                preparation section at the end): cached[] then starts with
 *                the prefix through the image, which the first question's
 *                prompt shares, so that question runs only its own tokens.
 */
#include "chat.h"
#include "act.h"
#include "chat_adaptor.h"
#include "chat_cache.h"
#include "chat_llama2.h"
#include "checkpoint.h"
#include "clip.h"
#include "datadir.h"
#include "file.h"
#include "jsonx.h"
#include "log.h"
#include "matmul.h"
#include "preprocess.h"
#include "status.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *SYSTEM_PROMPT =
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions.";

struct chat_model {
    lm_model       *lm;
    lm_tokenizer   *tok;
    clip_model     *tower;
    preprocess_cfg  pre;
    uint8_t         pad[3];       /* expand2square fill: int(mean * 255) */
    int             pad_square;   /* image_aspect_ratio == "pad" */
    int             select_layers;/* tower layers to run (hidden_states[select]) */
    int             n_img;        /* feature rows spliced per image */
    int             mm_hidden, hidden;
    float          *proj1_w, *proj1_b; /* (hidden, mm_hidden), (hidden) */
    float          *proj2_w, *proj2_b; /* (hidden, hidden), (hidden); NULL for a linear projector */
    int             max_ctx;
    char            identity[512];
    /* LLaMA-2 chat (chat_llama2.h): a text-only LLaMA-2 directory, or the
     * adaptor model (chat_adaptor.h: BLIP-2 + linear adaptor, no tower) */
    int             llama2;
    chat_adaptor   *adaptor;
};

typedef struct {
    char *q, *a;
} turn;

struct chat_session {
    chat_model *cm;
    lm_state   *s;
    float      *feats;        /* (n_img, hidden) or NULL */
    turn       *turns;
    int         n_turns, cap_turns;
    int32_t    *cached;       /* (cached_len) ids in the KV cache */
    int         cached_len, cached_cap;
    uint32_t   *counts;       /* router counts of the last answer */
    uint32_t   *img_counts;   /* image-token counts from when the features entered the cache */
    uint32_t   *pre_counts;   /* text-token counts of the prepared prefix (chat_prepare) */
    int         pre_n;        /* its ids; 0: nothing prepared pending */
    size_t      n_counts;
    uint64_t    asks;         /* for fresh sampling seeds on regenerate */
    char       *system;       /* NULL: SYSTEM_PROMPT */
    int         img_turn;     /* the question the image goes with */
    int         img_after;    /* after that question's text instead of before */
    int         prompt_pos;   /* positions of the last answer's prompt */
    uint8_t     key[16];      /* the image's key when keyed (chat_prepare) */
    int         keyed;        /* feats are key's image (set by chat_prepare only) */
    /* chat_prepare_start's background preparation */
    pthread_t   prep_thread;
    int         prep_running; /* a thread to join */
    volatile int prep_stop;   /* chat_prepare_cancel: the background work's cancel flag */
    int         prep_rc;      /* its status, reported once by prep_join */
    char        prep_msg[512];
    image       prep_img;     /* its copy of the picture */
    chat_cache *prep_cc;
    int32_t    *prep_ids;     /* NULL: the session's own prefix */
    int         prep_n;
};

static int prep_join(chat_session *cs);
static void prep_cancel(chat_session *cs);

chat_load_opts chat_load_opts_default(void) {
    chat_load_opts o;
    memset(&o, 0, sizeof o);
    o.lm = lm_opts_default();
    o.max_ctx = 4096;
    return o;
}

/* ------------------------------------------------------------------ loading */

static int is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* The tower directory: explicit, else mm_image_tower under the models root
 * (as a hub path "org/name", then its base name), else a directory of that
 * base name beside the checkpoint's (a bundled pair such as models/demo/). */
static int resolve_tower(const chat_load_opts *o, const char *dir, const char *name, char *out, size_t cap) {
    if (o->vision_tower) {
        if (!is_dir(o->vision_tower))
            return status_fail(ST_NOT_FOUND, "vision tower directory %s does not exist", o->vision_tower);
        snprintf(out, cap, "%s", o->vision_tower);
        return ST_OK;
    }
    char root[PATH_MAX - 512];
    const char *env = getenv("SEER_MODELS"), *home = getenv("HOME");
    if (o->models_root) snprintf(root, sizeof root, "%s", o->models_root);
    else if (env) snprintf(root, sizeof root, "%s", env);
    else snprintf(root, sizeof root, "%s/.cache/seer/models", home ? home : ".");
    const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
    char a[PATH_MAX + 256], b[PATH_MAX + 256], c[PATH_MAX + 256];
    snprintf(a, sizeof a, "%s/%s", root, name);
    snprintf(b, sizeof b, "%s/%s", root, base);
    /* beside the checkpoint: dir's parent + base (dir without a slash: ".") */
    size_t dn = strlen(dir);
    while (dn > 1 && dir[dn - 1] == '/') dn--;
    size_t pn = dn;
    while (pn > 0 && dir[pn - 1] != '/') pn--;
    if (pn == 0) snprintf(c, sizeof c, "%s", base);
    else snprintf(c, sizeof c, "%.*s%s", (int)pn, dir, base);
    const char *found = is_dir(a) ? a : is_dir(b) ? b : is_dir(c) ? c : NULL;
    /* a tower seer bundles (the demo model's "models/demo/clip") is found in
     * seer's own data, installed or in the source tree */
    char bundled[PATH_MAX];
    if (!found && name[0] != '/' && datadir_find(name, bundled, sizeof bundled) == ST_OK && is_dir(bundled))
        found = bundled;
    if (!found)
        return status_fail(ST_NOT_FOUND,
                           "the vision tower \"%s\" was not found: looked in %s, %s and %s (download it there, "
                           "or pass --vision-tower DIR / --models-root DIR)", name, a, b, c);
    if (strlen(found) >= cap) return status_fail(ST_ARG, "vision tower path too long: %s", found);
    memcpy(out, found, strlen(found) + 1);
    return ST_OK;
}

static int read_f32(const checkpoint *ck, const char *name, int64_t d0, int64_t d1, float **out) {
    size_t n = (size_t)d0 * (size_t)(d1 ? d1 : 1);
    *out = malloc(n * sizeof(float));
    if (!*out) return status_fail(ST_NOMEM, "out of memory for %s", name);
    int64_t shape[2] = {d0, d1};
    return checkpoint_read_f32(ck, name, d1 ? 2 : 1, shape, *out);
}

/* The projector's tensors under the names MoE-LLaVA uses (model. or
 * transformer. prefix), with plain LLaVA names as a fallback. */
static int load_projector(chat_model *cm, const char *dir, const char *type) {
    checkpoint *ck;
    int st = checkpoint_open(dir, &ck);
    if (st) return st;
    static const char *prefixes[] = {"model.mm_projector.image_spatial_proj.", "transformer.mm_projector.image_spatial_proj.",
                                     "model.mm_projector.", "transformer.mm_projector."};
    char n1[256] = "", n2[256] = "";
    const int mlp = !strcmp(type, "mlp2x_gelu");
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes && !n1[0]; i++) {
        char t[256];
        snprintf(t, sizeof t, "%s%sweight", prefixes[i], mlp ? "0." : "");
        if (checkpoint_find(ck, t)) {
            snprintf(n1, sizeof n1, "%s%s", prefixes[i], mlp ? "0." : "");
            if (mlp) snprintf(n2, sizeof n2, "%s2.", prefixes[i]);
        }
    }
    if (!n1[0]) {
        st = status_fail(ST_NOT_FOUND, "%s: no projector tensors (model.mm_projector.image_spatial_proj.%sweight)", dir,
                         mlp ? "0." : "");
        goto out;
    }
    char name[300];
    const int64_t H = cm->hidden, M = cm->mm_hidden;
    snprintf(name, sizeof name, "%sweight", n1);
    if ((st = read_f32(ck, name, H, M, &cm->proj1_w))) goto out;
    snprintf(name, sizeof name, "%sbias", n1);
    if ((st = read_f32(ck, name, H, 0, &cm->proj1_b))) goto out;
    if (mlp) {
        snprintf(name, sizeof name, "%sweight", n2);
        if ((st = read_f32(ck, name, H, H, &cm->proj2_w))) goto out;
        snprintf(name, sizeof name, "%sbias", n2);
        if ((st = read_f32(ck, name, H, 0, &cm->proj2_b))) goto out;
    }
out:
    checkpoint_close(ck);
    return st;
}

/* The LLaMA-2 chat models: an adaptor config file (config != NULL: BLIP-2 +
 * linear adaptor + the LLaMA-2 it names) or a LLaMA-2 directory (text only). */
static int load_llama2(const char *path, const char *config, const chat_load_opts *o, chat_model **out) {
    chat_model *cm = calloc(1, sizeof *cm);
    if (!cm) return status_fail(ST_NOMEM, "out of memory");
    cm->max_ctx = o->max_ctx > 0 ? o->max_ctx : 4096;
    cm->llama2 = 1;
    char lm_dir[PATH_MAX];
    int st = ST_OK;
    if (config) st = chat_adaptor_open(config, &cm->adaptor, lm_dir, sizeof lm_dir);
    else snprintf(lm_dir, sizeof lm_dir, "%s", path);
    if (!st) st = lm_load(lm_dir, &o->lm, &cm->lm);
    if (!st) st = lm_tokenizer_load(lm_dir, &cm->tok);
    if (!st && lm_tokenizer_bos(cm->tok) < 0)
        st = status_fail(ST_UNSUPPORTED, "%s: a LLaMA-2 chat model needs the SentencePiece tokenizer.model", lm_dir);
    if (!st) cm->hidden = lm_hidden(cm->lm);
    if (!st && cm->adaptor) {
        cm->n_img = chat_adaptor_rows(cm->adaptor);
        if (chat_adaptor_width(cm->adaptor) != cm->hidden)
            st = status_fail(ST_MISMATCH, "%s: the adaptor gives %d-wide rows, the language model %s is %d wide", config,
                             chat_adaptor_width(cm->adaptor), lm_dir, cm->hidden);
    }
    if (st) {
        chat_model_free(cm);
        return st;
    }
    const char *base = strrchr(lm_dir, '/');
    base = base && base[1] ? base + 1 : lm_dir;
    if (cm->adaptor)
        snprintf(cm->identity, sizeof cm->identity, "%.200s (+ %.200s, linear adaptor)", base,
                 chat_adaptor_vision_name(cm->adaptor));
    else
        snprintf(cm->identity, sizeof cm->identity, "%.400s", base);
    log_info("chat model %s: LLaMA-2 template%s", path, cm->adaptor ? ", BLIP-2 image rows through the adaptor" : "");
    *out = cm;
    return ST_OK;
}

int chat_model_load(const char *dir, const chat_load_opts *o, chat_model **out) {
    *out = NULL;
    char path[PATH_MAX], tower[PATH_MAX];
    json_t *cfg;
    int st;
    if (chat_adaptor_is_config(dir)) return load_llama2(dir, dir, o, out);
    if ((st = file_join(path, sizeof path, dir, "config.json")) || (st = jsonx_load(path, &cfg))) return st;
    if (!strcmp(jsonx_str(cfg, "model_type", ""), "llama") && !jsonx_str(cfg, "mm_image_tower", NULL) &&
        !jsonx_str(cfg, "mm_vision_tower", NULL)) {
        json_decref(cfg);
        return load_llama2(dir, NULL, o, out);
    }
    chat_model *cm = calloc(1, sizeof *cm);
    if (!cm) {
        json_decref(cfg);
        return status_fail(ST_NOMEM, "out of memory");
    }
    cm->max_ctx = o->max_ctx > 0 ? o->max_ctx : 4096;
    const char *tower_name = jsonx_str(cfg, "mm_image_tower", jsonx_str(cfg, "mm_vision_tower", NULL));
    const char *ptype = jsonx_str(cfg, "image_projector_type", jsonx_str(cfg, "mm_projector_type", "linear"));
    const char *feature = jsonx_str(cfg, "mm_vision_select_feature", "patch");
    int select = (int)jsonx_int(cfg, "mm_vision_select_layer", -2);
    cm->pad_square = !strcmp(jsonx_str(cfg, "image_aspect_ratio", "pad"), "pad");
    cm->mm_hidden = (int)jsonx_int(cfg, "mm_hidden_size", 0);
    if (!tower_name) {
        st = status_fail(ST_FORMAT, "%s/config.json: no mm_image_tower: not a MoE-LLaVA checkpoint", dir);
        goto fail;
    }
    if (strcmp(ptype, "mlp2x_gelu") && strcmp(ptype, "linear")) {
        st = status_fail(ST_UNSUPPORTED, "%s: image projector \"%s\" (seer reads mlp2x_gelu and linear)", dir, ptype);
        goto fail;
    }
    if (strcmp(feature, "patch")) {
        st = status_fail(ST_UNSUPPORTED, "%s: mm_vision_select_feature \"%s\" (seer reads \"patch\")", dir, feature);
        goto fail;
    }
    if ((st = resolve_tower(o, dir, tower_name, tower, sizeof tower))) goto fail;
    if ((st = lm_load(dir, &o->lm, &cm->lm)) || (st = lm_tokenizer_load(dir, &cm->tok))) goto fail;
    if ((st = clip_load(tower, CLIP_VISION, &cm->tower)) || (st = preprocess_load(tower, &cm->pre))) {
        st = status_wrap(st, "vision tower %s", tower);
        goto fail;
    }
    const clip_vision *v = &cm->tower->vision;
    const int L = v->enc.L;
    cm->select_layers = select < 0 ? L + select + 1 : select;
    if (cm->select_layers < 0 || cm->select_layers > L) {
        st = status_fail(ST_MISMATCH, "%s: mm_vision_select_layer %d for a %d-layer tower", dir, select, L);
        goto fail;
    }
    /* MoE-LLaVA drops the first token whether or not it is a class token. */
    cm->n_img = v->n_pos - 1;
    cm->hidden = lm_hidden(cm->lm);
    if (cm->mm_hidden && cm->mm_hidden != v->enc.D) {
        st = status_fail(ST_MISMATCH, "%s: mm_hidden_size %d but the tower %s is %d wide", dir, cm->mm_hidden, tower,
                         v->enc.D);
        goto fail;
    }
    cm->mm_hidden = v->enc.D;
    for (int c = 0; c < 3; c++) cm->pad[c] = (uint8_t)(int)(cm->pre.mean[c] * 255.0f);
    if ((st = load_projector(cm, dir, ptype))) goto fail;
    const char *sl = strrchr(dir, '/');
    while (sl && !sl[1] && sl > dir) { /* trailing slash */
        const char *p = sl - 1;
        while (p > dir && *p != '/') p--;
        sl = p;
    }
    snprintf(cm->identity, sizeof cm->identity, "%s (+ %s)", sl ? sl + (*sl == '/') : dir, tower_name);
    log_info("chat model %s: %d image tokens per picture, tower %s", dir, cm->n_img, tower);
    json_decref(cfg);
    *out = cm;
    return ST_OK;
fail:
    json_decref(cfg);
    chat_model_free(cm);
    return st;
}

int chat_model_random(lm_model *lm, clip_model *tower, uint64_t seed, chat_model **out) {
    *out = NULL;
    chat_model *cm = calloc(1, sizeof *cm);
    if (!cm) {
        lm_free(lm);
        clip_free(tower);
        return status_fail(ST_NOMEM, "out of memory");
    }
    cm->lm = lm;
    cm->tower = tower;
    const clip_vision *v = &tower->vision;
    cm->pre = preprocess_cfg_clip(v->image_size);
    for (int c = 0; c < 3; c++) cm->pad[c] = (uint8_t)(int)(cm->pre.mean[c] * 255.0f);
    cm->pad_square = 1;
    cm->select_layers = v->enc.L - 1; /* mm_vision_select_layer -2 */
    cm->n_img = v->n_pos - 1;
    cm->mm_hidden = v->enc.D;
    cm->hidden = lm_hidden(lm);
    cm->max_ctx = 4096;
    const size_t H = (size_t)cm->hidden, M = (size_t)cm->mm_hidden;
    cm->proj1_w = malloc(H * M * sizeof(float)), cm->proj1_b = calloc(H, sizeof(float));
    cm->proj2_w = malloc(H * H * sizeof(float)), cm->proj2_b = calloc(H, sizeof(float));
    if (!cm->proj1_w || !cm->proj1_b || !cm->proj2_w || !cm->proj2_b) {
        chat_model_free(cm);
        return status_fail(ST_NOMEM, "out of memory for a random projector");
    }
    uint64_t z = seed;
    for (size_t i = 0; i < H * M; i++) z = z * 6364136223846793005ull + 1, cm->proj1_w[i] = ((int)(z >> 40 & 1023) - 512) * 4e-5f;
    for (size_t i = 0; i < H * H; i++) z = z * 6364136223846793005ull + 1, cm->proj2_w[i] = ((int)(z >> 40 & 1023) - 512) * 4e-5f;
    snprintf(cm->identity, sizeof cm->identity, "random (mlp2x_gelu projector, seed %llu)", (unsigned long long)seed);
    *out = cm;
    return ST_OK;
}

void chat_model_free(chat_model *cm) {
    if (!cm) return;
    lm_free(cm->lm);
    lm_tokenizer_free(cm->tok);
    clip_free(cm->tower);
    chat_adaptor_close(cm->adaptor);
    free(cm->proj1_w), free(cm->proj1_b), free(cm->proj2_w), free(cm->proj2_b);
    free(cm);
}

const char *chat_model_identity(const chat_model *cm) { return cm->identity; }
const lm_model *chat_model_lm(const chat_model *cm) { return cm->lm; }

/* ------------------------------------------------------------------ session */

int chat_model_set_context(chat_model *cm, int max_ctx) {
    if (max_ctx < 1) return status_fail(ST_ARG, "chat: a context of %d positions", max_ctx);
    cm->max_ctx = max_ctx;
    return ST_OK;
}

chat_session *chat_session_new(chat_model *cm) {
    chat_session *cs = calloc(1, sizeof *cs);
    if (!cs) return NULL;
    cs->cm = cm;
    size_t n;
    lm_state *probe = lm_state_new(cm->lm, cm->max_ctx);
    if (!probe) {
        free(cs);
        return NULL;
    }
    cs->s = probe;
    lm_state_router_counts(probe, &n);
    cs->n_counts = n;
    cs->counts = calloc(n ? n : 1, sizeof *cs->counts);
    cs->img_counts = calloc(n ? n : 1, sizeof *cs->img_counts);
    cs->pre_counts = calloc(n ? n : 1, sizeof *cs->pre_counts);
    if (!cs->counts || !cs->img_counts || !cs->pre_counts) {
        chat_session_free(cs);
        return NULL;
    }
    return cs;
}

static void turns_clear(chat_session *cs) {
    for (int i = 0; i < cs->n_turns; i++) free(cs->turns[i].q), free(cs->turns[i].a);
    cs->n_turns = 0;
}

void chat_session_free(chat_session *cs) {
    if (!cs) return;
    prep_cancel(cs);
    turns_clear(cs);
    free(cs->turns);
    free(cs->feats);
    free(cs->cached);
    free(cs->counts);
    free(cs->img_counts);
    free(cs->pre_counts);
    free(cs->system);
    lm_state_free(cs->s);
    free(cs);
}

void chat_clear(chat_session *cs) {
    prep_join(cs);
    turns_clear(cs);
}

static char *stored_answer(const char *text, int eos);

/* a (client text) equals stored (the session's form: stripped, maybe with the
 * end token) up to surrounding whitespace and that end token */
static int same_answer(const char *a, const char *stored) {
    static const char *ws = " \t\n\r\f\v";
    while (*a && strchr(ws, *a)) a++;
    size_t n = strlen(a), m = strlen(stored);
    while (n && strchr(ws, a[n - 1])) n--;
    if (n >= 13 && !memcmp(a + n - 13, "<|endoftext|>", 13)) n -= 13;
    if (m >= 13 && !memcmp(stored + m - 13, "<|endoftext|>", 13)) m -= 13;
    return n == m && !memcmp(a, stored, n);
}

int chat_set_history(chat_session *cs, const char *const *q, const char *const *a, int n) {
    int pst = prep_join(cs);
    if (pst) return pst;
    if (n < 0 || (n > 0 && (!q || !a))) return status_fail(ST_ARG, "chat: bad history");
    for (int i = 0; i < n; i++)
        if (!q[i] || !q[i][0] || !a[i]) return status_fail(ST_ARG, "chat: turn %d has an empty question or no answer", i + 1);
    turn *t = calloc((size_t)(n > 0 ? n : 1) + 8, sizeof *t);
    if (!t) return status_fail(ST_NOMEM, "chat: out of memory");
    for (int i = 0; i < n; i++) {
        int keep = i < cs->n_turns && cs->turns[i].a && !strcmp(cs->turns[i].q, q[i]) && same_answer(a[i], cs->turns[i].a);
        t[i].q = strdup(q[i]);
        t[i].a = keep ? strdup(cs->turns[i].a) : stored_answer(a[i], 0);   /* stripped, as chat_ask keeps it */
        if (!t[i].q || !t[i].a) {
            for (int k = 0; k <= i; k++) free(t[k].q), free(t[k].a);
            free(t);
            return status_fail(ST_NOMEM, "chat: out of memory");
        }
    }
    turns_clear(cs);
    free(cs->turns);
    cs->turns = t;
    cs->n_turns = n;
    cs->cap_turns = n + 8;
    return ST_OK;
}

int chat_set_system(chat_session *cs, const char *system) {
    char *c = NULL;
    if (system && !(c = strdup(system))) return status_fail(ST_NOMEM, "chat: out of memory");
    free(cs->system);
    cs->system = c;
    return ST_OK;
}

int chat_set_image_place(chat_session *cs, int turn, int after) {
    if (turn < 0) return status_fail(ST_ARG, "chat: image turn %d", turn);
    cs->img_turn = turn;
    cs->img_after = after != 0;
    return ST_OK;
}

/* The tower + projector (or, for the adaptor model, BLIP-2 → Z → the linear
 * adaptor: chat_adaptor.h, which does not check *cancel) on img → feats (n_img, hidden), checking *cancel
 * (may be NULL) between the tower's layers. */
static int image_features(chat_model *cm, const image *img, const volatile int *cancel, float *feats) {
    if (cm->adaptor) return chat_adaptor_image(cm->adaptor, img, feats, NULL);
    if (!cm->tower) return status_fail(ST_UNSUPPORTED, "chat: %s is a text-only model", cm->identity);
    image sq = {0};
    const image *src = img;
    int st = ST_OK;
    if (cm->pad_square && img->w != img->h) {
        if ((st = image_pad_square(img, cm->pad, &sq))) return st;
        src = &sq;
    }
    const clip_vision *v = &cm->tower->vision;
    const int S = v->image_size, T = v->n_pos, D = v->enc.D, H = cm->hidden, N = cm->n_img;
    float *pix = malloc((size_t)3 * S * S * sizeof(float));
    float *hid = malloc((size_t)T * D * sizeof(float));
    float *mid = malloc((size_t)N * H * sizeof(float));
    if (!pix || !hid || !mid) st = status_fail(ST_NOMEM, "chat: out of memory for image features");
    int ph = 0, pw = 0;
    preprocess_out_size(&cm->pre, &ph, &pw);
    if (!st && (ph != S || pw != S))
        st = status_fail(ST_MISMATCH, "chat: the tower's preprocessing gives %dx%d, the tower takes %dx%d", pw, ph, S, S);
    if (!st) st = preprocess_image(&cm->pre, src, pix);
    if (!st) st = clip_vision_hidden_cancel(cm->tower, pix, 1, cm->select_layers, hid, cancel);
    if (!st && cancel && *cancel) st = status_fail(ST_CANCELLED, "chat: cancelled after the vision tower");
    if (!st) {
        /* hidden_states[select][:, 1:] → projector */
        const float *x = hid + D;
        if (cm->proj2_w) {
            matmul_linear(mid, x, cm->proj1_w, cm->proj1_b, N, H, D, 0);
            act_apply(ACT_GELU_ERF, mid, (size_t)N * H, NULL, 0);
            matmul_linear(feats, mid, cm->proj2_w, cm->proj2_b, N, H, H, 0);
        } else {
            matmul_linear(feats, x, cm->proj1_w, cm->proj1_b, N, H, D, 0);
        }
    }
    image_release(&sq);
    free(pix), free(hid), free(mid);
    return st;
}

/* No image, no history, an empty KV cache. */
static void session_reset(chat_session *cs) {
    turns_clear(cs);
    free(cs->feats);
    cs->feats = NULL;
    cs->keyed = 0;
    cs->cached_len = 0;
    lm_state_truncate(cs->s, 0);
    lm_state_router_reset(cs->s);
    memset(cs->img_counts, 0, cs->n_counts * sizeof *cs->img_counts);
    cs->pre_n = 0;
}

int chat_set_image(chat_session *cs, const image *img) {
    chat_model *cm = cs->cm;
    prep_cancel(cs);
    session_reset(cs);
    if (!img) return ST_OK;
    cs->feats = malloc((size_t)cm->n_img * cm->hidden * sizeof(float));
    int st = cs->feats ? image_features(cm, img, NULL, cs->feats)
                       : status_fail(ST_NOMEM, "chat: out of memory for image features");
    if (st) {
        free(cs->feats);
        cs->feats = NULL;
    }
    return st;
}

/* ------------------------------------------------------------------ prompt */

typedef struct {
    int32_t *ids;
    int n, cap;
} idvec;

static int idvec_push(idvec *v, const int32_t *ids, int n) {
    if (v->n + n > v->cap) {
        int cap = v->cap ? v->cap * 2 : 256;
        while (cap < v->n + n) cap *= 2;
        int32_t *p = realloc(v->ids, (size_t)cap * sizeof *p);
        if (!p) return status_fail(ST_NOMEM, "chat: out of memory");
        v->ids = p, v->cap = cap;
    }
    memcpy(v->ids + v->n, ids, (size_t)n * sizeof *ids);
    v->n += n;
    return ST_OK;
}

typedef struct {
    char *s;
    size_t len, cap;
} sbuf;

static int sbuf_add(sbuf *b, const char *p) {
    size_t n = strlen(p);
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->len + n + 1) cap *= 2;
        char *q = realloc(b->s, cap);
        if (!q) return status_fail(ST_NOMEM, "chat: out of memory");
        b->s = q, b->cap = cap;
    }
    memcpy(b->s + b->len, p, n + 1);
    b->len += n;
    return ST_OK;
}

/* The conversation as MoE-LLaVA's conv template (SeparatorStyle.TWO, sep " ",
 * sep2 "<|endoftext|>") writes it:
 *   system " " ("USER: " q " " "ASSISTANT: " a "<|endoftext|>")* "USER: " q " " "ASSISTANT:"
 * with "<image>\n" before the first question when an image is set (or, per
 * chat_set_image_place, before or after ("\n<image>") another question). */
static int build_text(const chat_session *cs, sbuf *b) {
    int st = sbuf_add(b, cs->system ? cs->system : SYSTEM_PROMPT);
    if (!st) st = sbuf_add(b, " ");
    for (int i = 0; i < cs->n_turns && !st; i++) {
        int img = cs->feats && i == cs->img_turn;
        st = sbuf_add(b, "USER: ");
        if (!st && img && !cs->img_after) st = sbuf_add(b, "<image>\n");
        if (!st) st = sbuf_add(b, cs->turns[i].q);
        if (!st && img && cs->img_after) st = sbuf_add(b, "\n<image>");
        if (!st) st = sbuf_add(b, cs->turns[i].a ? " ASSISTANT: " : " ASSISTANT:");
        if (!st && cs->turns[i].a) st = sbuf_add(b, cs->turns[i].a);
        if (!st && cs->turns[i].a) st = sbuf_add(b, "<|endoftext|>");
    }
    return st;
}

/* Tokenise the prompt chunk by chunk around "<image>" (no merge across it),
 * the chunks joined by CHAT_IMAGE_TOKEN (tokenizer_image_token). */
static int build_ids(const chat_session *cs, idvec *out) {
    if (cs->cm->llama2) {
        /* LLaMA-2: Meta's template, turn by turn, the image split out MiniGPT-4's way */
        const char **q = malloc((size_t)(cs->n_turns + 1) * 2 * sizeof *q), **a = q ? q + cs->n_turns + 1 : NULL;
        if (!q) return status_fail(ST_NOMEM, "chat: out of memory");
        for (int i = 0; i < cs->n_turns; i++) q[i] = cs->turns[i].q, a[i] = cs->turns[i].a;
        int32_t *ids = NULL;
        int n = 0;
        int st = chat_llama2_ids(cs->cm->tok, cs->system, q, a, cs->n_turns, cs->feats ? cs->img_turn : -1, &ids, &n);
        if (!st) st = idvec_push(out, ids, n);
        free(ids);
        free(q);
        return st;
    }
    sbuf b = {0};
    int st = build_text(cs, &b);
    const char *rest = b.s;
    int32_t marker = CHAT_IMAGE_TOKEN;
    while (!st) {
        const char *img = strstr(rest, "<image>");
        size_t n = img ? (size_t)(img - rest) : strlen(rest);
        char *chunk = strndup(rest, n);
        if (!chunk) {
            st = status_fail(ST_NOMEM, "chat: out of memory");
            break;
        }
        int32_t *ids = NULL;
        int k = 0;
        if (n) st = lm_tokenizer_encode(cs->cm->tok, chunk, &ids, &k);
        free(chunk);
        if (!st && k) st = idvec_push(out, ids, k);
        free(ids);
        if (st || !img) break;
        st = idvec_push(out, &marker, 1);
        rest = img + 7;
    }
    free(b.s);
    return st;
}

/* Positions an id sequence occupies (the marker stands for n_img rows). */
static int positions(const chat_session *cs, const int32_t *ids, int n) {
    int p = 0;
    for (int i = 0; i < n; i++) p += ids[i] == CHAT_IMAGE_TOKEN ? cs->cm->n_img : 1;
    return p;
}

/* Run ids[from..n) after the cache, image markers as feature rows; logits
 * of the last position into logits. Updates cached[]. */
static int feed(chat_session *cs, const int32_t *ids, int from, int n, float *logits) {
    chat_model *cm = cs->cm;
    int st = ST_OK;
    uint8_t *kinds = NULL;
    int i = from;
    while (i < n && !st) {
        int j = i;
        if (ids[i] == CHAT_IMAGE_TOKEN) {
            if (!cs->feats) return status_fail(ST_ARG, "chat: the prompt has an image but no image is set");
            kinds = realloc(kinds, (size_t)cm->n_img);
            if (!kinds) return status_fail(ST_NOMEM, "chat: out of memory");
            memset(kinds, LM_TOK_IMAGE, (size_t)cm->n_img);
            size_t before_n;
            const uint32_t *c = lm_state_router_counts(cs->s, &before_n);
            uint32_t *snap = malloc(before_n * sizeof *snap);
            if (snap) memcpy(snap, c, before_n * sizeof *snap);
            st = lm_forward(cm->lm, cs->s, NULL, cs->feats, cm->n_img, kinds, i + 1 == n ? logits : NULL);
            /* image-token counts, kept while the features stay in the cache */
            c = lm_state_router_counts(cs->s, &before_n);
            for (size_t k = 0; snap && k < before_n && k < cs->n_counts; k++)
                cs->img_counts[k] = (k % LM_TOK_KINDS == LM_TOK_IMAGE) ? c[k] - snap[k] : 0;
            free(snap);
            j = i + 1;
        } else {
            while (j < n && ids[j] != CHAT_IMAGE_TOKEN) j++;
            st = lm_forward(cm->lm, cs->s, ids + i, NULL, j - i, NULL, j == n ? logits : NULL);
        }
        if (!st) {
            int32_t *p = cs->cached;
            if (cs->cached_len + (j - i) > cs->cached_cap) {
                int cap = cs->cached_cap ? cs->cached_cap * 2 : 512;
                while (cap < cs->cached_len + (j - i)) cap *= 2;
                if (!(p = realloc(cs->cached, (size_t)cap * sizeof *p))) st = status_fail(ST_NOMEM, "out of memory");
                else cs->cached = p, cs->cached_cap = cap;
            }
            if (!st) {
                memcpy(cs->cached + cs->cached_len, ids + i, (size_t)(j - i) * sizeof *ids);
                cs->cached_len += j - i;
            }
        }
        i = j;
    }
    free(kinds);
    return st;
}

/* Make the cache hold exactly prompt ids; logits of its last position. */
static int prefill(chat_session *cs, const idvec *p, float *logits) {
    int common = 0;
    while (common < cs->cached_len && common < p->n && cs->cached[common] == p->ids[common]) common++;
    /* At least the last prompt id must run to produce its logits. */
    if (common == p->n) common--;
    if (common < 0) common = 0;
    lm_state_truncate(cs->s, positions(cs, cs->cached, common));
    cs->cached_len = common;
    int img_cached = 0;
    for (int i = 0; i < common; i++) img_cached |= cs->cached[i] == CHAT_IMAGE_TOKEN;
    if (!img_cached) memset(cs->img_counts, 0, cs->n_counts * sizeof *cs->img_counts);
    return feed(cs, p->ids, common, p->n, logits);
}

int chat_prefill_ids(chat_session *cs, const int32_t *ids, int n, float *logits) {
    int pst = prep_join(cs);
    if (pst) return pst;
    if (n <= 0) return status_fail(ST_ARG, "chat_prefill_ids: no ids");
    idvec p = {(int32_t *)ids, n, n};
    return prefill(cs, &p, logits);
}

/* Python str.strip() of the answer (ASCII whitespace here), plus
 * "<|endoftext|>" when generation stopped on the end token. */
static char *stored_answer(const char *text, int eos) {
    static const char *ws = " \t\n\r\f\v";
    while (*text && strchr(ws, *text)) text++;
    size_t n = strlen(text);
    while (n && strchr(ws, text[n - 1])) n--;
    char *a = malloc(n + (eos ? 13 : 0) + 1);
    if (!a) return NULL;
    memcpy(a, text, n);
    if (eos) memcpy(a + n, "<|endoftext|>", 13), n += 13;
    a[n] = 0;
    return a;
}

static int answer(chat_session *cs, const gen_opts *o, gen_result *r) {
    chat_model *cm = cs->cm;
    idvec p = {0};
    float *logits = malloc((size_t)lm_vocab(cm->lm) * sizeof *logits);
    int st = logits ? build_ids(cs, &p) : status_fail(ST_NOMEM, "chat: out of memory");
    if (!st && cs->feats && cs->img_turn >= cs->n_turns)
        st = status_fail(ST_ARG, "chat: the image goes with question %d, the conversation has %d", cs->img_turn + 1,
                         cs->n_turns);
    if (!st && positions(cs, p.ids, p.n) + o->max_tokens + 1 > cm->max_ctx)
        st = status_fail(ST_TOO_LARGE, "chat: the conversation (%d positions) plus %d new tokens exceeds the context of %d",
                         positions(cs, p.ids, p.n), o->max_tokens, cm->max_ctx);
    /* a prepared prefix that this prompt starts with counts as this
     * answer's text, as if the prompt had run whole (the first answer only) */
    const int pre_add = !st && cs->pre_n > 0 && cs->cached_len == cs->pre_n && p.n > cs->pre_n &&
                        !memcmp(p.ids, cs->cached, (size_t)cs->pre_n * sizeof *p.ids);
    cs->pre_n = 0;
    if (!st) {
        cs->prompt_pos = positions(cs, p.ids, p.n);
        lm_state_router_reset(cs->s);
        st = prefill(cs, &p, logits);
    }
    gen_opts go = *o;
    static const char *stops[] = {"<|endoftext|>"};
    if (!go.stop && !cm->llama2) go.stop = stops, go.n_stop = 1;   /* LLaMA-2 stops on </s> only */
    if (go.sampling.temperature > 0) go.sampling.seed += cs->asks * 0x9E37ull;
    cs->asks++;
    if (!st) st = generate_continue(cm->lm, cs->s, cm->tok, logits, &go, r);
    if (!st) {
        /* counts of this answer: what ran now, plus the image tokens that ran
         * when the features entered the cache */
        size_t n;
        const uint32_t *c = lm_state_router_counts(cs->s, &n);
        for (size_t k = 0; k < n && k < cs->n_counts; k++)
            cs->counts[k] = (k % LM_TOK_KINDS == LM_TOK_IMAGE) ? cs->img_counts[k]
                            : c[k] + (pre_add && k % LM_TOK_KINDS == LM_TOK_TEXT ? cs->pre_counts[k] : 0);
        /* Greedy and sampling leave the answer's tokens in the cache (all, or
         * all but the last: the state's position says which); beam search
         * leaves some beam: drop that part. */
        const int base = positions(cs, cs->cached, cs->cached_len);
        const int fed = lm_state_pos(cs->s) - base;
        if (o->num_beams == 1 && fed >= 0 && fed <= r->n) {
            int32_t *q = realloc(cs->cached, ((size_t)cs->cached_len + fed + 1) * sizeof *q);
            if (q) {
                cs->cached = q;
                cs->cached_cap = cs->cached_len + fed + 1;
                memcpy(cs->cached + cs->cached_len, r->ids, (size_t)fed * sizeof *q);
                cs->cached_len += fed;
            } else {
                lm_state_truncate(cs->s, base);
            }
        } else {
            lm_state_truncate(cs->s, base);
        }
        /* The history keeps the answer as MoE-LLaVA's cli.py does:
         * tokenizer.decode(output_ids).strip(), which keeps the end token
         * when one was generated (docs/model-spec.md §B6 quirk). */
        turn *t = &cs->turns[cs->n_turns - 1];
        free(t->a);
        t->a = stored_answer(r->text, r->stop == GEN_STOP_EOS && !cm->llama2);   /* LLaMA-2: </s> is an id */
        if (!t->a) st = status_fail(ST_NOMEM, "chat: out of memory");
    }
    free(p.ids);
    free(logits);
    return st;
}

int chat_ask(chat_session *cs, const char *question, const gen_opts *o, gen_result *r) {
    memset(r, 0, sizeof *r);
    int pst = prep_join(cs);
    if (pst) return pst;
    if (!question || !question[0]) return status_fail(ST_ARG, "chat: empty question");
    if (cs->n_turns == cs->cap_turns) {
        int cap = cs->cap_turns ? cs->cap_turns * 2 : 8;
        turn *t = realloc(cs->turns, (size_t)cap * sizeof *t);
        if (!t) return status_fail(ST_NOMEM, "chat: out of memory");
        cs->turns = t, cs->cap_turns = cap;
    }
    turn *t = &cs->turns[cs->n_turns];
    if (!(t->q = strdup(question))) return status_fail(ST_NOMEM, "chat: out of memory");
    t->a = NULL;
    cs->n_turns++;
    int st = answer(cs, o, r);
    if (st) { /* leave the history as it was */
        cs->n_turns--;
        free(t->q), free(t->a);
    }
    return st;
}

int chat_regenerate(chat_session *cs, const gen_opts *o, gen_result *r) {
    memset(r, 0, sizeof *r);
    int pst = prep_join(cs);
    if (pst) return pst;
    if (!cs->n_turns) return status_fail(ST_ARG, "chat: nothing to regenerate");
    turn *t = &cs->turns[cs->n_turns - 1];
    char *old = t->a;
    t->a = NULL;
    int st = answer(cs, o, r);
    if (st) t->a = old;
    else free(old);
    return st;
}

int chat_prompt_logits(chat_session *cs, const char *question, int32_t **ids, int *n, float *logits) {
    *ids = NULL;
    *n = 0;
    int pst = prep_join(cs);
    if (pst) return pst;
    turns_clear(cs);
    if (!cs->cap_turns) {
        cs->turns = calloc(8, sizeof *cs->turns);
        if (!cs->turns) return status_fail(ST_NOMEM, "chat: out of memory");
        cs->cap_turns = 8;
    }
    cs->turns[0].q = strdup(question);
    cs->turns[0].a = NULL;
    cs->n_turns = 1;
    idvec p = {0};
    int st = cs->turns[0].q ? build_ids(cs, &p) : status_fail(ST_NOMEM, "chat: out of memory");
    if (!st) st = prefill(cs, &p, logits);
    turns_clear(cs);
    if (st) {
        free(p.ids);
        return st;
    }
    *ids = p.ids;
    *n = p.n;
    return ST_OK;
}

const uint32_t *chat_router_counts(const chat_session *cs, size_t *len) {
    *len = cs->n_counts;
    return cs->counts;
}

int chat_prompt_positions(const chat_session *cs) { return cs->prompt_pos; }

/* ------------------------------------------------------------------ preparation
 *
 * chat_prepare makes the session hold an image's features and the KV rows
 * of the prompt prefix through the image (tokenised exactly as build_ids
 * tokenises the start of every prompt), so the question's prefill finds them
 * as its longest common prefix and runs only its own tokens. The calls made
 * are the ones an unprepared prefill makes (the text before the image, then
 * the image rows, in the same lm_forward calls), so the answer is the same
 * bit for bit. With a cache the result is shared per image key.
 */

/* The prefix the session's first question would start with: the text before
 * "<image>" and the marker; n = 0 when the image is not placed before the
 * first question's text (its prefix then depends on the question). */
static int own_prefix(chat_session *cs, idvec *out) {
    if (cs->img_turn != 0 || cs->img_after) return ST_OK;
    if (!cs->cm->tok) return status_fail(ST_ARG, "chat_prepare: this chat model has no tokenizer (use chat_prepare_ids)");
    if (cs->cm->llama2) {
        /* LLaMA-2: the first turn's ids through the image do not depend on
         * the question (the image comes first, chat_llama2.h) */
        const char *q = "?", *a = NULL;
        int32_t *ids = NULL;
        int n = 0, st = chat_llama2_ids(cs->cm->tok, cs->system, &q, &a, 1, 0, &ids, &n), k = 0;
        while (!st && k < n && ids[k] != CHAT_IMAGE_TOKEN) k++;
        if (!st && k < n) st = idvec_push(out, ids, k + 1);
        free(ids);
        return st;
    }
    sbuf b = {0};
    int st = sbuf_add(&b, cs->system ? cs->system : SYSTEM_PROMPT);
    if (!st) st = sbuf_add(&b, " USER: ");
    int32_t *ids = NULL, marker = CHAT_IMAGE_TOKEN;
    int k = 0;
    if (!st) st = lm_tokenizer_encode(cs->cm->tok, b.s, &ids, &k);
    if (!st) st = idvec_push(out, ids, k);
    if (!st) st = idvec_push(out, &marker, 1);
    free(ids);
    free(b.s);
    return st;
}

/* Copy what the session now holds (features, prefix KV) for the cache. */
static int snapshot(chat_session *cs, const int32_t *ids, int n, chat_prepared *p, size_t *bytes) {
    chat_model *cm = cs->cm;
    memset(p, 0, sizeof *p);
    p->n_feats = (size_t)cm->n_img * cm->hidden;
    p->feats = malloc(p->n_feats * sizeof(float));
    p->n_counts = cs->n_counts;
    p->img_counts = malloc((cs->n_counts ? cs->n_counts : 1) * sizeof(uint32_t));
    if (!p->feats || !p->img_counts) goto oom;
    memcpy(p->feats, cs->feats, p->n_feats * sizeof(float));
    memcpy(p->img_counts, cs->img_counts, cs->n_counts * sizeof(uint32_t));
    *bytes = p->n_feats * sizeof(float) + p->n_counts * sizeof(uint32_t);
    if (n > 0) {
        const int pos = positions(cs, ids, n);
        p->ids = malloc((size_t)n * sizeof *ids);
        p->kv = lm_state_new(cm->lm, pos);
        if (!p->ids || !p->kv) goto oom;
        memcpy(p->ids, ids, (size_t)n * sizeof *ids);
        p->n_ids = n;
        int st = lm_state_copy(p->kv, cs->s);
        if (st) {
            chat_prepared_release(p);
            return st;
        }
        *bytes += (size_t)n * sizeof *ids + lm_kv_bytes(cm->lm, pos);
    }
    return ST_OK;
oom:
    chat_prepared_release(p);
    return status_fail(ST_NOMEM, "chat: out of memory for the prepared image");
}

static int prepare_core(chat_session *cs, chat_cache *cc, const uint8_t key[16], chat_image_fn get, void *ctx,
                        const int32_t *ids, int n, const volatile int *cancel, int *how) {
    chat_model *cm = cs->cm;
    if (how) *how = CHAT_PREP_SESSION;
    if (n > 0 && ids[n - 1] != CHAT_IMAGE_TOKEN)
        return status_fail(ST_ARG, "chat_prepare: the prefix must end with the image marker");
    for (int i = 0; i + 1 < n; i++)
        if (ids[i] == CHAT_IMAGE_TOKEN) return status_fail(ST_ARG, "chat_prepare: one image marker, at the end");
    if (cs->keyed && cs->feats && !memcmp(cs->key, key, 16)) {
        /* the session has the image already; the prefix too, unless the
         * conversation moved on (then the question's prefill sorts it out) */
        return ST_OK;
    }
    session_reset(cs);
    cs->feats = malloc((size_t)cm->n_img * cm->hidden * sizeof(float));
    if (!cs->feats) return status_fail(ST_NOMEM, "chat: out of memory for image features");
    chat_cache_entry *e = NULL;
    int claimed = 0, st = cc ? chat_cache_acquire(cc, key, cancel, &e, &claimed) : ST_OK;
    if (!st && e) {
        const chat_prepared *p = chat_cache_entry_data(e);
        memcpy(cs->feats, p->feats, p->n_feats * sizeof(float));
        int same = p->kv && p->n_ids == n && !memcmp(p->ids, ids, (size_t)n * sizeof *ids);
        if (same) {
            st = lm_state_copy(cs->s, p->kv);
            if (!st && n > cs->cached_cap) {
                int32_t *q = realloc(cs->cached, (size_t)n * sizeof *q);
                if (!q) st = status_fail(ST_NOMEM, "chat: out of memory");
                else cs->cached = q, cs->cached_cap = n;
            }
            if (!st) {
                memcpy(cs->cached, ids, (size_t)n * sizeof *ids);
                cs->cached_len = n;
                memcpy(cs->img_counts, p->img_counts, cs->n_counts * sizeof *cs->img_counts);
            }
        }
        chat_cache_release(cc, e);
        if (!st && !same && n > 0) { /* another prefix (system prompt): run it from the features */
            lm_state_set_cancel(cs->s, cancel);
            st = feed(cs, ids, 0, n, NULL);
            lm_state_set_cancel(cs->s, NULL);
        }
        if (!st && how) *how = CHAT_PREP_CACHE;
    } else if (!st) {
        image img = {0};
        st = get(ctx, &img);
        if (!st) st = image_features(cm, &img, cancel, cs->feats);
        image_release(&img);
        if (!st && n > 0) {
            lm_state_set_cancel(cs->s, cancel);
            st = feed(cs, ids, 0, n, NULL);
            lm_state_set_cancel(cs->s, NULL);
        }
        if (how) *how = CHAT_PREP_RAN;
        if (claimed) {
            chat_prepared p;
            size_t bytes = 0;
            if (!st && !snapshot(cs, ids, n, &p, &bytes)) chat_cache_fill(cc, key, &p, bytes);
            else chat_cache_abandon(cc, key);   /* a snapshot that failed only costs the sharing */
        }
    }
    if (st) {
        session_reset(cs);   /* frees what was computed */
        return st;
    }
    memmove(cs->key, key, 16);   /* key may be cs->key (chat_prepare_start) */
    cs->keyed = 1;
    /* the prefix's text counts (the state's counts since session_reset, or
     * the cache's copy of them), for the first answer's router counts */
    if (n > 0) {
        const uint32_t *c = lm_state_router_counts(cs->s, NULL);
        for (size_t k = 0; k < cs->n_counts; k++) cs->pre_counts[k] = k % LM_TOK_KINDS == LM_TOK_TEXT ? c[k] : 0;
        cs->pre_n = n;
    }
    return ST_OK;
}

int chat_prepare_ids(chat_session *cs, chat_cache *cc, const uint8_t key[16], chat_image_fn get, void *ctx,
                     const int32_t *prefix, int n, const volatile int *cancel, int *how) {
    int st = prep_join(cs);
    if (st) return st;
    if (n < 0 || (n > 0 && !prefix)) return status_fail(ST_ARG, "chat_prepare_ids: bad prefix");
    return prepare_core(cs, cc, key, get, ctx, prefix, n, cancel, how);
}

int chat_prepare(chat_session *cs, chat_cache *cc, const uint8_t key[16], chat_image_fn get, void *ctx,
                 const volatile int *cancel, int *how) {
    int st = prep_join(cs);
    if (st) return st;
    idvec p = {0};
    st = own_prefix(cs, &p);
    if (!st) st = prepare_core(cs, cc, key, get, ctx, p.ids, p.n, cancel, how);
    free(p.ids);
    return st;
}

int chat_image_copy_fn(void *ctx, image *out) {
    const image *src = ctx;
    int st = image_alloc(src->w, src->h, out);
    if (!st) memcpy(out->rgb, src->rgb, (size_t)3 * src->w * src->h);
    return st;
}

static void *prep_main(void *arg) {
    chat_session *cs = arg;
    idvec p = {0};
    int st = cs->prep_ids ? ST_OK : own_prefix(cs, &p);
    const int32_t *ids = cs->prep_ids ? cs->prep_ids : p.ids;
    const int n = cs->prep_ids ? cs->prep_n : p.n;
    if (!st) st = prepare_core(cs, cs->prep_cc, cs->key, chat_image_copy_fn, &cs->prep_img, ids, n, &cs->prep_stop, NULL);
    free(p.ids);
    cs->prep_rc = st;
    if (st) snprintf(cs->prep_msg, sizeof cs->prep_msg, "%s", status_message());
    return NULL;
}

int chat_prepare_start(chat_session *cs, chat_cache *cc, const uint8_t key[16], const image *img, const int32_t *prefix,
                       int n) {
    int st = prep_join(cs);
    if (st) return st;
    if (n < 0 || (n > 0 && !prefix)) return status_fail(ST_ARG, "chat_prepare_start: bad prefix");
    if (cs->keyed && cs->feats && !memcmp(cs->key, key, 16)) return ST_OK;   /* nothing to do */
    if ((st = chat_image_copy_fn((void *)img, &cs->prep_img))) return st;
    free(cs->prep_ids);
    cs->prep_ids = NULL;
    cs->prep_n = 0;
    if (prefix && !(cs->prep_ids = malloc(((size_t)n + 1) * sizeof *prefix))) {
        image_release(&cs->prep_img);
        return status_fail(ST_NOMEM, "chat: out of memory");
    }
    if (prefix) memcpy(cs->prep_ids, prefix, (size_t)n * sizeof *prefix), cs->prep_n = n;
    /* the key travels in cs->key; keyed stays 0 until the work succeeds */
    session_reset(cs);
    memcpy(cs->key, key, 16);
    cs->prep_cc = cc;
    cs->prep_stop = 0;
    cs->prep_rc = ST_OK;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, (size_t)16 << 20);
    int e = pthread_create(&cs->prep_thread, &at, prep_main, cs);
    pthread_attr_destroy(&at);
    if (e) {
        image_release(&cs->prep_img);
        return status_fail(ST_INTERNAL, "chat: cannot start the preparation thread");
    }
    cs->prep_running = 1;
    return ST_OK;
}

/* Wait for the background preparation; its failure, once. */
static int prep_join(chat_session *cs) {
    if (!cs->prep_running) return ST_OK;
    pthread_join(cs->prep_thread, NULL);
    cs->prep_running = 0;
    image_release(&cs->prep_img);
    free(cs->prep_ids);
    cs->prep_ids = NULL;
    int st = cs->prep_rc;
    cs->prep_rc = ST_OK;
    return st ? status_fail(st, "%s", cs->prep_msg) : ST_OK;
}

static void prep_cancel(chat_session *cs) {
    cs->prep_stop = 1;
    prep_join(cs);
    cs->prep_stop = 0;
}

int chat_prepare_wait(chat_session *cs) { return prep_join(cs); }

void chat_prepare_cancel(chat_session *cs) {
    int was = cs->prep_running;
    prep_cancel(cs);
    if (was) session_reset(cs);
}

int chat_is_prepared(const chat_session *cs, const uint8_t key[16]) {
    return !cs->prep_running && cs->keyed && cs->feats && !memcmp(cs->key, key, 16);
}
