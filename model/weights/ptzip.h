/* model/ptzip.h — a PyTorch zip checkpoint (torch.save, the default since
 * torch 1.6), read in place.
 *
 * Archive layout (torch/serialization.py _save, PyTorchStreamWriter):
 *
 *   <prefix>/data.pkl        pickle of the state dict (see pickle.h)
 *   <prefix>/data/<key>      raw little-endian bytes of storage <key>
 *   <prefix>/version         ... and optionally byteorder, .data/ entries
 *
 * All entries are *stored* (method 0; torch pads the local extra field so
 * data is 64-byte aligned). The ZIP structure is parsed here: the
 * end-of-central-directory record (searched backwards over the comment), the
 * ZIP64 EOCD locator and record, the central directory with ZIP64 extra
 * fields (shards are ~10 GB), then each needed entry's local header for its
 * name/extra lengths. Compressed or encrypted data entries are an error.
 * Checked at open: every tensor's storage exists, the storage's byte size
 * (numel * dtype size) equals the entry size, and the tensor lies inside it.
 * Tensors may share a storage (tied weights).
 *
 *     ptzip *z;
 *     if (ptzip_open("pytorch_model.bin", &z)) die(status_message());
 *     const tensor *t = ptzip_at(z, 0);
 *     ptzip_close(z);
 *
 * Ownership: tensors, names and data point into z and die at ptzip_close.
 * Read-only after open.
 */
#ifndef SEER_PTZIP_H
#define SEER_PTZIP_H

#include "tensor.h"

#include <stddef.h>
#include <stdint.h>

typedef struct ptzip ptzip;

int  ptzip_open(const char *path, ptzip **out);
/* The same over a buffer (borrowed; must outlive z). path names it in messages. */
int  ptzip_parse(const char *path, const uint8_t *data, size_t size, ptzip **out);
void ptzip_close(ptzip *z);

/* Tensors in state-dict (pickle) order. */
size_t          ptzip_count(const ptzip *z);
const tensor *ptzip_at(const ptzip *z, size_t i);

/* The archive prefix ("archive", or the saved file's stem on old torch). */
const char *ptzip_prefix(const ptzip *z);

#endif
