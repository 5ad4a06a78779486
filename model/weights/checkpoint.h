/* model/checkpoint.h — a Hugging Face model directory's weights, read in place.
 *
 * Supported layouts (tried in this order):
 *   model.safetensors                       one safetensors file
 *   model.safetensors.index.json            sharded safetensors (weight_map)
 *   pytorch_model.bin                       PyTorch zip (torch.save), via a
 *   pytorch_model.bin.index.json            minimal, safe unpickler of the
 *                                           state-dict subset (docs/model-spec.md §C)
 * A torch zip may wrap its state dict one level deep ({"model": {...}}):
 * those tensors are named "model.<name>" (pickle.h).
 * Files are mmap'd; tensor data is never copied at open. Everything is
 * validated at open: header bounds, offsets inside the file, no overlaps
 * (safetensors), dtype x shape == byte count, shard names in the index exist.
 * A failure message names the file, the tensor and the problem.
 *
 *     checkpoint *ck;
 *     if (checkpoint_open("models/clip-vit-base-patch32", &ck)) die(status_message());
 *     const tensor *t;
 *     int64_t shape[] = {768, 3, 32, 32};
 *     if (checkpoint_get(ck, "vision_model.embeddings.patch_embedding.weight", 4, shape, &t)) ...
 *     checkpoint_close(ck);   // every tensor from ck dies here
 *
 * Thread-safety: after open, all getters are read-only and may be called from
 * any number of threads.
 */
#ifndef SEER_CHECKPOINT_H
#define SEER_CHECKPOINT_H

#include "tensor.h"

typedef struct checkpoint checkpoint;

/* Open the weights of a model directory (layouts above). */
int  checkpoint_open(const char *dir, checkpoint **out);
/* Open one weight file (.safetensors or torch zip .bin), chosen by content. */
int  checkpoint_open_file(const char *path, checkpoint **out);
void checkpoint_close(checkpoint *ck);

/* Number of tensors and the i-th (in file order); for listing and tests. */
size_t          checkpoint_count(const checkpoint *ck);
const tensor *checkpoint_at(const checkpoint *ck, size_t i);

/* The tensor called name, or NULL when absent (no message set). */
const tensor *checkpoint_find(const checkpoint *ck, const char *name);

/* The tensor called name, required to have exactly this shape (ndim may be 0
 * for a scalar; shape == NULL skips the shape check). ST_NOT_FOUND or
 * ST_MISMATCH with a message naming the directory, tensor and shapes. */
int checkpoint_get(const checkpoint *ck, const char *name, int ndim, const int64_t *shape,
                   const tensor **out);

/* checkpoint_get, then convert into dst (numel floats) as float32. */
int checkpoint_read_f32(const checkpoint *ck, const char *name, int ndim, const int64_t *shape,
                        float *dst);

/* The directory or file this checkpoint was opened from. */
const char *checkpoint_path(const checkpoint *ck);

#endif
