/* model/safetensors.h — a validated, in-place view of one .safetensors file.
 *
 * File layout (Hugging Face safetensors, README "Format"):
 *
 *   offset 0       u64 little-endian N            header length
 *   offset 8       N bytes of UTF-8 JSON          may be right-padded with spaces
 *   offset 8+N     byte buffer                    tensor data, row-major, LE
 *
 *   JSON: {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]},
 *          ..., "__metadata__": {"key": "value", ...}}
 *
 * Offsets are relative to the byte buffer, end exclusive. Everything is checked
 * at open: N <= 100 MB and inside the file, each entry's field types, shape
 * dims >= 0 without overflow, end - begin == numel * dtype_size, and the
 * tensors tile the buffer exactly (no overlap, no hole, no trailing bytes) as
 * upstream's validate() requires. Tensor data may be unaligned.
 *
 *     safetensors *st;
 *     if (safetensors_open("model.safetensors", &st)) die(status_message());
 *     for (size_t i = 0; i < safetensors_count(st); i++) puts(safetensors_at(st, i)->name);
 *     safetensors_close(st);
 *
 * Ownership: every tensor, name and metadata string points into st (the
 * mmap and the parsed header) and dies at safetensors_close. Read-only after
 * open, so any number of threads may read.
 */
#ifndef SEER_SAFETENSORS_H
#define SEER_SAFETENSORS_H

#include "tensor.h"

#include <stddef.h>
#include <stdint.h>

#define SAFETENSORS_MAX_HEADER (100u * 1000u * 1000u) /* upstream MAX_HEADER_SIZE */

typedef struct safetensors safetensors;

/* Map path and validate it. */
int  safetensors_open(const char *path, safetensors **out);
/* Validate a buffer already in memory; data (size bytes) is borrowed and must
 * outlive st. path is only used for tensor.file and messages. */
int  safetensors_parse(const char *path, const uint8_t *data, size_t size, safetensors **out);
void safetensors_close(safetensors *st);

/* Tensors in buffer order (ascending data offset). */
size_t          safetensors_count(const safetensors *st);
const tensor *safetensors_at(const safetensors *st, size_t i);

/* A "__metadata__" value, or NULL when absent. */
const char *safetensors_meta(const safetensors *st, const char *key);

#endif
