/* model/weights/tensor.h — dtypes and the tensor view that every checkpoint
 * reader hands out.
 *
 * A tensor is a *view*: name and data point into memory owned by the
 * checkpoint that produced it (usually an mmap of the weight file) and stay
 * valid until that checkpoint is closed. data may be unaligned (safetensors
 * files written before v0.3.1 do not align); read it with memcpy or the
 * tensor_to_f32 helper, never by casting to float*.
 */
#ifndef SEER_TENSOR_H
#define SEER_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "half.h"   /* f16_to_f32 and friends, for the readers of tensors */

typedef enum {
    DT_F32, DT_F16, DT_BF16, DT_F64,
    DT_I64, DT_I32, DT_I16, DT_I8, DT_U8, DT_BOOL,
    DT_COUNT
} dtype;

#define TENSOR_MAX_DIMS 8

typedef struct {
    const char *name;                 /* "vision_model.embeddings.class_embedding" */
    const char *file;                 /* path of the file holding the bytes */
    dtype     dtype;
    int         ndim;                 /* 0 for a scalar */
    int64_t     shape[TENSOR_MAX_DIMS];
    size_t      numel;                /* product of shape (1 for a scalar) */
    size_t      nbytes;               /* numel * dtype_size(dtype) */
    const void *data;                 /* (nbytes), possibly unaligned */
} tensor;

size_t      dtype_size(dtype dt);
const char *dtype_name(dtype dt);             /* "F32", "BF16", ... */
int         dtype_parse(const char *s, dtype *out); /* safetensors names */

/* Convert n elements of a float tensor (F32/F16/BF16/F64) to float32.
 * Returns ST_UNSUPPORTED for integer dtypes. src may be unaligned. */
int tensor_to_f32(float *dst, const void *src, dtype dt, size_t n);

/* "[768, 3, 32, 32]" into buf; returns buf. */
const char *tensor_shape_str(const tensor *t, char *buf, size_t cap);

#endif
