/* model/weights/tensor.c — dtypes and tensor helpers. See tensor.h.
 * The conversions themselves are kernels (kernels/half.c). */
#include "tensor.h"
#include "status.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ dtypes */

static const struct {
    const char *name;
    size_t size;
} dtype_info[DT_COUNT] = {
    [DT_F32] = {"F32", 4}, [DT_F16] = {"F16", 2}, [DT_BF16] = {"BF16", 2},
    [DT_F64] = {"F64", 8}, [DT_I64] = {"I64", 8}, [DT_I32] = {"I32", 4},
    [DT_I16] = {"I16", 2}, [DT_I8] = {"I8", 1},   [DT_U8] = {"U8", 1},
    [DT_BOOL] = {"BOOL", 1},
};

size_t dtype_size(dtype dt) {
    return (unsigned)dt < DT_COUNT ? dtype_info[dt].size : 0;
}

const char *dtype_name(dtype dt) {
    return (unsigned)dt < DT_COUNT ? dtype_info[dt].name : "?";
}

int dtype_parse(const char *s, dtype *out) {
    for (int i = 0; i < DT_COUNT; i++) {
        if (s && strcmp(s, dtype_info[i].name) == 0) {
            *out = (dtype)i;
            return ST_OK;
        }
    }
    return status_fail(ST_UNSUPPORTED, "dtype \"%s\" is not one of F32, F16, BF16, F64, I64, I32, "
                       "I16, I8, U8, BOOL", s ? s : "(null)");
}

int tensor_to_f32(float *dst, const void *src, dtype dt, size_t n) {
    const uint8_t *s = src;
    switch (dt) {
    case DT_F32:
        if (n) memmove(dst, s, n * sizeof(float));
        return ST_OK;
    case DT_F16:
        f16_to_f32_n(dst, s, n);
        return ST_OK;
    case DT_BF16:
        bf16_to_f32_n(dst, s, n);
        return ST_OK;
    case DT_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, s + 8 * i, 8);
            dst[i] = (float)d;
        }
        return ST_OK;
    default:
        return status_fail(ST_UNSUPPORTED, "cannot convert a %s tensor to float32", dtype_name(dt));
    }
}

const char *tensor_shape_str(const tensor *t, char *buf, size_t cap) {
    if (!cap) return buf;
    size_t k = 0;
    buf[0] = 0;
    int w = snprintf(buf, cap, "[");
    if (w > 0) k = (size_t)w;
    for (int i = 0; i < t->ndim && k < cap; i++) {
        w = snprintf(buf + k, cap - k, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        if (w < 0) break;
        k += (size_t)w;
    }
    if (k < cap) snprintf(buf + k, cap - k, "]");
    return buf;
}
