/* encode/preprocess.c — HF CLIP/SigLIP image processor (see preprocess.h). */
#include "preprocess.h"

#include <stdlib.h>
#include <string.h>

#include "file.h"
#include "jsonx.h"
#include "resize.h"
#include "status.h"

static const float CLIP_MEAN[3] = {0.48145466f, 0.4578275f, 0.40821073f};
static const float CLIP_STD[3] = {0.26862954f, 0.26130258f, 0.27577711f};

preprocess_cfg preprocess_cfg_clip(int size) {
    preprocess_cfg c;
    memset(&c, 0, sizeof c);
    c.do_resize = c.do_center_crop = c.do_rescale = c.do_normalize = c.do_convert_rgb = 1;
    c.shortest_edge = size;
    c.crop_h = c.crop_w = size;
    c.rescale = (float)(1.0 / 255.0);
    memcpy(c.mean, CLIP_MEAN, sizeof c.mean);
    memcpy(c.std, CLIP_STD, sizeof c.std);
    c.resample = RESIZE_BICUBIC;
    return c;
}

/* ---------------------------------------------------------------- config */

static int get_bool(json_t *root, const char *key, int def) {
    json_t *v = json_object_get(root, key);
    if (json_is_boolean(v)) return json_is_true(v);
    if (json_is_integer(v)) return json_integer_value(v) != 0;
    return def;
}

static int get_float3(json_t *root, const char *key, const char *what, float out[3]) {
    json_t *v = json_object_get(root, key);
    if (!v) return ST_OK; /* keep the default */
    if (json_is_number(v)) { /* a scalar applies to every channel */
        out[0] = out[1] = out[2] = (float)json_number_value(v);
        return ST_OK;
    }
    if (!json_is_array(v) || json_array_size(v) != 3)
        return status_fail(ST_FORMAT, "%s: %s must be a list of 3 numbers", what, key);
    for (int i = 0; i < 3; i++) {
        json_t *e = json_array_get(v, i);
        if (!json_is_number(e)) return status_fail(ST_FORMAT, "%s: %s[%d] is not a number", what, key, i);
        out[i] = (float)json_number_value(e);
    }
    return ST_OK;
}

static int positive_int(json_t *v, const char *what, const char *key, int *out) {
    if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > IMAGE_MAX_SIDE)
        return status_fail(ST_FORMAT, "%s: %s must be an integer in 1..%d", what, key, IMAGE_MAX_SIDE);
    *out = (int)json_integer_value(v);
    return ST_OK;
}

int preprocess_from_json(json_t *root, const char *what, preprocess_cfg *cfg) {
    if (!what) what = "preprocessor config";
    if (!json_is_object(root)) return status_fail(ST_FORMAT, "%s: not a JSON object", what);
    preprocess_cfg c = preprocess_cfg_clip(224);
    const char *type = jsonx_str(root, "image_processor_type", "");
    /* SigLIP and BLIP (BlipImageProcessor, BLIP-2) resize straight to
     * size.height x size.width and have no centre crop. */
    const int siglip = strstr(type, "Siglip") != NULL || strstr(type, "SigLip") != NULL ||
                       !strcmp(type, "BlipImageProcessor");

    c.do_resize = get_bool(root, "do_resize", 1);
    c.do_center_crop = get_bool(root, "do_center_crop", !siglip);
    c.do_rescale = get_bool(root, "do_rescale", 1);
    c.do_normalize = get_bool(root, "do_normalize", 1);
    c.do_convert_rgb = get_bool(root, "do_convert_rgb", 1);
    c.rescale = (float)jsonx_num(root, "rescale_factor", 1.0 / 255.0);
    int st;
    if ((st = get_float3(root, "image_mean", what, c.mean))) return st;
    if ((st = get_float3(root, "image_std", what, c.std))) return st;
    for (int i = 0; i < 3; i++)
        if (c.std[i] == 0.0f) return status_fail(ST_FORMAT, "%s: image_std[%d] is 0", what, i);
    c.resample = (int)jsonx_int(root, "resample", RESIZE_BICUBIC);
    if (c.resample != RESIZE_BICUBIC && c.resample != RESIZE_BILINEAR && c.resample != RESIZE_LANCZOS)
        return status_fail(ST_UNSUPPORTED, "%s: resample filter %d is not supported (3 = bicubic is)", what,
                           c.resample);

    /* size: {"shortest_edge": S} | {"height": H, "width": W} | S (legacy) */
    json_t *size = json_object_get(root, "size");
    c.shortest_edge = c.size_h = c.size_w = 0;
    if (!size) {
        if (siglip) c.size_h = c.size_w = 224;
        else c.shortest_edge = 224;
    } else if (json_is_integer(size)) {
        int s = 0;
        if ((st = positive_int(size, what, "size", &s))) return st;
        if (siglip) c.size_h = c.size_w = s;
        else c.shortest_edge = s;
    } else if (json_is_object(size)) {
        json_t *se = json_object_get(size, "shortest_edge");
        json_t *sh = json_object_get(size, "height"), *sw = json_object_get(size, "width");
        if (se) {
            if ((st = positive_int(se, what, "size.shortest_edge", &c.shortest_edge))) return st;
        } else if (sh && sw) {
            if ((st = positive_int(sh, what, "size.height", &c.size_h))) return st;
            if ((st = positive_int(sw, what, "size.width", &c.size_w))) return st;
        } else {
            return status_fail(ST_FORMAT, "%s: size needs shortest_edge or height and width", what);
        }
    } else {
        return status_fail(ST_FORMAT, "%s: size must be an integer or an object", what);
    }

    /* crop_size: {"height": H, "width": W} | S (legacy) */
    json_t *crop = json_object_get(root, "crop_size");
    if (!crop) {
        int s = c.shortest_edge ? c.shortest_edge : c.size_h;
        c.crop_h = s;
        c.crop_w = c.shortest_edge ? s : c.size_w;
    } else if (json_is_integer(crop)) {
        if ((st = positive_int(crop, what, "crop_size", &c.crop_h))) return st;
        c.crop_w = c.crop_h;
    } else if (json_is_object(crop)) {
        if ((st = positive_int(json_object_get(crop, "height"), what, "crop_size.height", &c.crop_h))) return st;
        if ((st = positive_int(json_object_get(crop, "width"), what, "crop_size.width", &c.crop_w))) return st;
    } else {
        return status_fail(ST_FORMAT, "%s: crop_size must be an integer or an object", what);
    }
    *cfg = c;
    return ST_OK;
}

int preprocess_load(const char *model_dir, preprocess_cfg *cfg) {
    char path[4096];
    int st = file_join(path, sizeof path, model_dir, "preprocessor_config.json");
    if (st) return st;
    json_t *root = NULL;
    if ((st = jsonx_load(path, &root))) return st;
    st = preprocess_from_json(root, path, cfg);
    json_decref(root);
    return st;
}

/* ---------------------------------------------------------------- geometry */

void preprocess_out_size(const preprocess_cfg *cfg, int *h, int *w) {
    if (cfg->do_center_crop) {
        *h = cfg->crop_h;
        *w = cfg->crop_w;
    } else if (cfg->do_resize && cfg->shortest_edge <= 0 && cfg->size_h > 0 && cfg->size_w > 0) {
        *h = cfg->size_h;
        *w = cfg->size_w;
    } else {
        *h = *w = 0;
    }
}

/* HF get_resize_output_image_size(default_to_square=False) for shortest_edge S. */
static void shortest_edge_size(int w, int h, int s, int *ow, int *oh) {
    const int portrait = w <= h;
    const long long shrt = portrait ? w : h, lng = portrait ? h : w;
    /* Python: int(S * long / short), true division of exact ints, truncated */
    int nl = (int)((double)(s * lng) / (double)shrt);
    if (nl < 1) nl = 1;
    *ow = portrait ? s : nl;
    *oh = portrait ? nl : s;
}

/* ---------------------------------------------------------------- pixels */

int preprocess_image(const preprocess_cfg *cfg, const image *img, float *out) {
    if (!img || !img->rgb || img->w <= 0 || img->h <= 0) return status_fail(ST_ARG, "preprocess: empty image");
    int oh, ow;
    preprocess_out_size(cfg, &oh, &ow);
    if (oh <= 0 || ow <= 0)
        return status_fail(ST_UNSUPPORTED, "preprocess: the config gives no fixed output size "
                                           "(needs do_center_crop or a height/width resize)");

    image resized = {0};
    const image *src = img;
    if (cfg->do_resize) {
        int rw, rh;
        if (cfg->shortest_edge > 0) shortest_edge_size(img->w, img->h, cfg->shortest_edge, &rw, &rh);
        else { rw = cfg->size_w; rh = cfg->size_h; }
        if (rw <= 0 || rh <= 0) return status_fail(ST_ARG, "preprocess: no resize size in the config");
        int st = resize_image(img, rw, rh, (resize_filter)cfg->resample, &resized);
        if (st) return st;
        src = &resized;
    }

    /* Per channel lookup: uint8 -> normalised float, with HF's arithmetic:
     * float32(v * rescale) then float32 (x - mean) / std. */
    float lut[3][256];
    for (int c = 0; c < 3; c++) {
        for (int v = 0; v < 256; v++) {
            float x = cfg->do_rescale ? (float)((double)v * (double)cfg->rescale) : (float)v;
            if (cfg->do_normalize) x = (x - cfg->mean[c]) / cfg->std[c];
            lut[c][v] = x;
        }
    }

    /* Center crop (floor offsets; outside the image reads as pixel 0). */
    int top = 0, left = 0;
    if (cfg->do_center_crop) {
        top = (src->h - oh) >= 0 ? (src->h - oh) / 2 : -((oh - src->h + 1) / 2);
        left = (src->w - ow) >= 0 ? (src->w - ow) / 2 : -((ow - src->w + 1) / 2);
    } else if (src->w != ow || src->h != oh) {
        image_release(&resized);
        return status_fail(ST_INTERNAL, "preprocess: resized to %dx%d, expected %dx%d", src->w, src->h, ow, oh);
    }
    const size_t plane = (size_t)oh * ow;
    for (int y = 0; y < oh; y++) {
        const int sy = y + top;
        float *d0 = out + (size_t)y * ow, *d1 = d0 + plane, *d2 = d1 + plane;
        for (int x = 0; x < ow; x++) {
            const int sx = x + left;
            if (sy < 0 || sy >= src->h || sx < 0 || sx >= src->w) {
                d0[x] = lut[0][0]; d1[x] = lut[1][0]; d2[x] = lut[2][0];
                continue;
            }
            const uint8_t *p = src->rgb + ((size_t)sy * src->w + sx) * 3;
            d0[x] = lut[0][p[0]];
            d1[x] = lut[1][p[1]];
            d2[x] = lut[2][p[2]];
        }
    }
    image_release(&resized);
    return ST_OK;
}
