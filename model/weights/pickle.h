/* model/pickle.h — a minimal, safe unpickler for PyTorch state dicts.
 *
 * torch.save(state_dict) writes data.pkl (pickle protocol 2) that rebuilds an
 * OrderedDict of tensors:
 *
 *   OrderedDict() ; SETITEMS( "name" -> _rebuild_tensor_v2(
 *       BINPERSID ('storage', torch.FloatStorage, "0", "cpu", 12),
 *       offset, (size...), (stride...), requires_grad, OrderedDict()) ... )
 *
 * This is an interpreter of that subset only (docs/model-spec.md §C): it executes
 * nothing. GLOBAL resolves only an allow-list (collections.OrderedDict,
 * torch._utils._rebuild_tensor_v2 / _rebuild_parameter[_with_state],
 * torch._tensor._rebuild_from_type_v2, the torch.*Storage classes, and the
 * Tensor/Parameter types as inert tags); any other global is an error naming
 * it. Opcodes: PROTO FRAME GLOBAL STACK_GLOBAL BINPUT LONG_BINPUT MEMOIZE
 * BINGET LONG_BINGET EMPTY_DICT EMPTY_LIST EMPTY_TUPLE MARK TUPLE TUPLE1-3
 * BINUNICODE SHORT_BINUNICODE BINUNICODE8 BININT BININT1 BININT2 LONG1
 * NEWTRUE NEWFALSE NONE BINPERSID REDUCE SETITEM SETITEMS APPEND APPENDS
 * BUILD (state ignored) BINFLOAT POP POP_MARK STOP. The interpreter is
 * iterative (no recursion); the stack, the mark stack, the memo and the
 * number of objects and the memory used are bounded (PICKLE_MAX_*).
 *
 * The result must be a dict of str -> tensor, whose values may also be one
 * level of dicts of str -> tensor: a training checkpoint's wrapper such as
 * MiniGPT-4's {"model": {"llama_proj.weight": t, ...}} (or "state_dict",
 * "module"). An inner tensor is named "<outer key>.<inner key>"
 * ("model.llama_proj.weight"), so nothing is unwrapped silently and two
 * wrappers cannot clash; callers that accept wrapped files look the dotted
 * name up. Deeper dicts (PICKLE_MAX_DEPTH), other values (ints, lists, an
 * optimizer's int-keyed state) and two tensors with one name are rejected
 * with the key named. Each tensor must be row-major contiguous (strides of
 * size-1 dims are ignored, as torch's is_contiguous does) and lie inside its
 * storage.
 */
#ifndef SEER_PICKLE_H
#define SEER_PICKLE_H

#include "tensor.h"

#include <stddef.h>
#include <stdint.h>

#define PICKLE_MAX_STACK   (1u << 20) /* values on the stack */
#define PICKLE_MAX_MARKS   (1u << 16) /* nested MARKs */
#define PICKLE_MAX_MEMO    (1u << 22) /* highest memo index + 1 */
#define PICKLE_MAX_OBJECTS (1u << 22) /* values created in total */
#define PICKLE_MAX_DEPTH   2          /* dict levels in the result: state dict + one wrapper */
/* Memory: everything the interpreter allocates (values, strings, the stack,
 * the memo, the result) stays under PICKLE_MAX_BYTES_PER_BYTE bytes per byte
 * of pickle plus PICKLE_MIN_BUDGET, else ST_TOO_LARGE. A torch.save
 * state-dict pickle needs about 15 bytes per byte. */
#define PICKLE_MAX_BYTES_PER_BYTE 32u
#define PICKLE_MIN_BUDGET  (1u << 20)

/* One state-dict entry, as the pickle describes it (no data yet). */
typedef struct {
    char   *name;                     /* state-dict key (owned) */
    char   *storage_key;              /* persistent id key: bytes at "<prefix>/data/<key>" (owned) */
    dtype dtype;                    /* from the storage class */
    int64_t storage_numel;            /* elements in the whole storage */
    int64_t offset;                   /* first element of this tensor in the storage */
    int     ndim;
    int64_t shape[TENSOR_MAX_DIMS];   /* (ndim) */
    size_t  numel;
} pickle_tensor;

/* Interpret a data.pkl (len bytes at data, borrowed). file names it in
 * messages ("x.bin:archive/data.pkl"). On success *out is a malloc'd array of
 * *n entries in pickle order (a wrapper's tensors where the wrapper
 * stands); free it with pickle_tensors_free. */
int  pickle_load_state_dict(const char *file, const uint8_t *data, size_t len,
                            pickle_tensor **out, size_t *n);
void pickle_tensors_free(pickle_tensor *t, size_t n);

#endif
