/* model/pickle.c — see pickle.h. A stack machine over a small value model;
 * every value lives in one registry (up.slabs) and is freed at the end, so
 * memo sharing (BINGET) and tied weights need no reference counting. */
#include "pickle.h"
#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ values */

typedef enum {
    PV_NONE, PV_BOOL, PV_INT, PV_FLOAT, PV_STR, PV_TUPLE, PV_LIST, PV_DICT,
    PV_GLOBAL, PV_STORAGE, PV_TENSOR
} pv_kind;

typedef enum {
    G_ORDERED_DICT, G_REBUILD_TENSOR_V2, G_REBUILD_PARAMETER, G_REBUILD_PARAMETER_STATE,
    G_REBUILD_FROM_TYPE_V2, G_STORAGE, G_TYPE_TAG
} global_kind;

typedef struct pv pv;

/* A _rebuild_tensor_v2 result; kept out of pv so that the many small values
 * stay small (a pickle byte can create a value). */
typedef struct {
    pv *storage;
    int64_t offset;
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS], stride[TENSOR_MAX_DIMS];
} pv_tensor;

struct pv {
    pv_kind kind;
    union {
        int64_t i;                                   /* BOOL, INT */
        double  f;                                   /* FLOAT */
        char   *s;                                   /* STR (owned, NUL-terminated) */
        struct { pv **items; size_t n, cap; } seq;   /* TUPLE, LIST; DICT: k0 v0 k1 v1 ... */
        struct { global_kind kind; dtype dt; const char *name; } g;  /* GLOBAL */
        struct { dtype dt; char *key; int64_t numel; } sto;          /* STORAGE */
        pv_tensor *ten;                                               /* TENSOR (owned) */
    } u;
};

static const struct {
    const char *module, *name;
    global_kind kind;
    dtype dt;
} allowed[] = {
    {"collections", "OrderedDict", G_ORDERED_DICT, 0},
    {"torch._utils", "_rebuild_tensor_v2", G_REBUILD_TENSOR_V2, 0},
    {"torch._utils", "_rebuild_parameter", G_REBUILD_PARAMETER, 0},
    {"torch._utils", "_rebuild_parameter_with_state", G_REBUILD_PARAMETER_STATE, 0},
    {"torch._tensor", "_rebuild_from_type_v2", G_REBUILD_FROM_TYPE_V2, 0},
    {"torch", "FloatStorage", G_STORAGE, DT_F32},
    {"torch", "HalfStorage", G_STORAGE, DT_F16},
    {"torch", "BFloat16Storage", G_STORAGE, DT_BF16},
    {"torch", "DoubleStorage", G_STORAGE, DT_F64},
    {"torch", "LongStorage", G_STORAGE, DT_I64},
    {"torch", "IntStorage", G_STORAGE, DT_I32},
    {"torch", "ShortStorage", G_STORAGE, DT_I16},
    {"torch", "CharStorage", G_STORAGE, DT_I8},
    {"torch", "ByteStorage", G_STORAGE, DT_U8},
    {"torch", "BoolStorage", G_STORAGE, DT_BOOL},
    /* inert type tags: only ever the new_type argument of _rebuild_from_type_v2 */
    {"torch._tensor", "Tensor", G_TYPE_TAG, 0},
    {"torch", "Tensor", G_TYPE_TAG, 0},
    {"torch.nn.parameter", "Parameter", G_TYPE_TAG, 0},
};

typedef struct {
    const char    *file;
    const uint8_t *p;        /* (len) the pickle */
    size_t         len, pos;
    pv           **slabs;    /* every value created (owned): value i is slabs[i / PV_SLAB][i % PV_SLAB] */
    size_t         nall, capslabs;
    pv           **stack;
    size_t         sp, capstack;
    size_t        *marks;
    size_t         nmarks, capmarks;
    pv           **memo;     /* sparse by index; NULL = unset */
    size_t         capmemo, nmemo_next;
    size_t         used, budget; /* bytes allocated so far (with malloc's overhead), and the cap */
    int            err;      /* the code of the last failure (its message is the status message) */
} unpickler;

/* Every allocation is charged against a budget proportional to the pickle's
 * size (PICKLE_MAX_BYTES_PER_BYTE), so a small file cannot make the
 * interpreter allocate without bound through cheap opcodes. */
#define MALLOC_OVERHEAD 16
#define PV_SLAB 1024

/* Free what v owns (v itself lives in a slab). */
static void pv_free(pv *v) {
    switch (v->kind) {
    case PV_STR: free(v->u.s); break;
    case PV_TUPLE: case PV_LIST: case PV_DICT: free(v->u.seq.items); break;
    case PV_STORAGE: free(v->u.sto.key); break;
    case PV_TENSOR: free(v->u.ten); break;
    default: break;
    }
}

#define FAIL(up, code, ...) fail_at(up, code, __VA_ARGS__)

__attribute__((format(printf, 3, 4)))
static int fail_at(unpickler *up, int code, const char *fmt, ...) {
    char m[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    up->err = code;
    return status_fail(code, "%s: pickle byte %zu: %s", up->file, up->pos, m);
}

/* Count n more bytes against the budget; ST_TOO_LARGE with a message past it. */
static int charge(unpickler *up, size_t n) {
    if (n > up->budget - up->used)
        return FAIL(up, ST_TOO_LARGE, "needs more than %zu MB of memory for a %zu-byte pickle (at most %u "
                    "bytes per pickle byte): not a state dict", up->budget >> 20, up->len,
                    PICKLE_MAX_BYTES_PER_BYTE);
    up->used += n;
    return ST_OK;
}

/* Make room for need elements of arr (capacity *cap, doubling), at most
 * limit of them ("more than LIMIT WHAT" past it). */
static int grow(unpickler *up, void **arr, size_t *cap, size_t need, size_t elem, size_t limit,
                const char *what) {
    if (need <= *cap) return ST_OK;
    if (need > limit) return FAIL(up, ST_TOO_LARGE, "more than %zu %s", limit, what);
    size_t nc = *cap ? *cap : need;
    while (nc < need) nc *= 2;
    if (nc > limit) nc = limit;
    int rc = charge(up, (nc - *cap) * elem + (*cap ? 0 : MALLOC_OVERHEAD));
    if (rc) return rc;
    void *p = realloc(*arr, nc * elem);
    if (!p) return FAIL(up, ST_NOMEM, "out of memory");
    *arr = p;
    *cap = nc;
    return ST_OK;
}

static pv *pv_new(unpickler *up, pv_kind kind) {
    if (up->nall >= PICKLE_MAX_OBJECTS) {
        fail_at(up, ST_TOO_LARGE, "more than %u objects", PICKLE_MAX_OBJECTS);
        return NULL;
    }
    if (charge(up, sizeof(pv))) return NULL;
    size_t slab = up->nall / PV_SLAB, i = up->nall % PV_SLAB;
    if (i == 0) {
        if (grow(up, (void **)&up->slabs, &up->capslabs, slab + 1, sizeof(pv *),
                 PICKLE_MAX_OBJECTS / PV_SLAB + 1, "objects"))
            return NULL;
        if (!(up->slabs[slab] = malloc(PV_SLAB * sizeof(pv)))) {
            fail_at(up, ST_NOMEM, "out of memory");
            return NULL;
        }
    }
    pv *v = &up->slabs[slab][i];
    memset(v, 0, sizeof *v);
    v->kind = kind;
    up->nall++;
    return v;
}

static int push(unpickler *up, pv *v) {
    if (!v) return up->err; /* message already set */
    int rc = grow(up, (void **)&up->stack, &up->capstack, up->sp + 1, sizeof(pv *), PICKLE_MAX_STACK,
                  "values on the stack");
    if (rc) return rc;
    up->stack[up->sp++] = v;
    return ST_OK;
}

static int pop(unpickler *up, pv **v) {
    size_t floor = up->nmarks ? up->marks[up->nmarks - 1] : 0;
    if (up->sp <= floor) return FAIL(up, ST_FORMAT, "stack underflow");
    *v = up->stack[--up->sp];
    return ST_OK;
}

static int top(unpickler *up, pv **v) {
    size_t floor = up->nmarks ? up->marks[up->nmarks - 1] : 0;
    if (up->sp <= floor) return FAIL(up, ST_FORMAT, "stack underflow");
    *v = up->stack[up->sp - 1];
    return ST_OK;
}

/* Pop everything above the last MARK, and the mark; items stay at stack[*from..). */
static int pop_mark(unpickler *up, size_t *from, size_t *count) {
    if (!up->nmarks) return FAIL(up, ST_FORMAT, "no MARK on the stack");
    size_t m = up->marks[--up->nmarks];
    *from = m;
    *count = up->sp - m;
    up->sp = m;
    return ST_OK;
}

static int seq_add(unpickler *up, pv *seq, pv *item) {
    int rc = grow(up, (void **)&seq->u.seq.items, &seq->u.seq.cap, seq->u.seq.n + 1, sizeof(pv *),
                  PICKLE_MAX_OBJECTS * 2, "items in a container");
    if (rc) return rc;
    seq->u.seq.items[seq->u.seq.n++] = item;
    return ST_OK;
}

/* A tuple of the n values at up->stack[from..from+n) (which may be past sp). */
static pv *make_tuple(unpickler *up, size_t from, size_t n) {
    pv *t = pv_new(up, PV_TUPLE);
    if (!t) return NULL;
    if (n && grow(up, (void **)&t->u.seq.items, &t->u.seq.cap, n, sizeof(pv *), PICKLE_MAX_OBJECTS * 2,
                  "items in a container"))
        return NULL;
    for (size_t i = 0; i < n; i++) t->u.seq.items[t->u.seq.n++] = up->stack[from + i];
    return t;
}

/* ------------------------------------------------------------------ reading */

static int need(unpickler *up, size_t n) {
    if (n > up->len - up->pos) return FAIL(up, ST_FORMAT, "truncated (needs %zu more bytes)", n);
    return ST_OK;
}

static uint64_t le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* A '\n'-terminated line (GLOBAL operands) of at most 256 bytes, copied to buf. */
static int read_line(unpickler *up, char *buf, size_t cap) {
    const uint8_t *s = up->p + up->pos;
    size_t rem = up->len - up->pos;
    const uint8_t *nl = memchr(s, '\n', rem < cap ? rem : cap);
    if (!nl) return FAIL(up, ST_FORMAT, "GLOBAL operand is not a short newline-terminated line");
    size_t n = (size_t)(nl - s);
    memcpy(buf, s, n);
    buf[n] = 0;
    up->pos += n + 1;
    return ST_OK;
}

static int push_str(unpickler *up, size_t n) {
    if (need(up, n)) return ST_FORMAT;
    pv *v = pv_new(up, PV_STR);
    if (!v) return up->err;
    int rc = charge(up, n + 1 + MALLOC_OVERHEAD);
    if (rc) return rc;
    v->u.s = malloc(n + 1);
    if (!v->u.s) return FAIL(up, ST_NOMEM, "out of memory");
    memcpy(v->u.s, up->p + up->pos, n);
    v->u.s[n] = 0;
    up->pos += n;
    return push(up, v);
}

static int push_int(unpickler *up, int64_t i) {
    pv *v = pv_new(up, PV_INT);
    if (!v) return up->err;
    v->u.i = i;
    return push(up, v);
}

static int push_global(unpickler *up, const char *module, const char *name) {
    for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++) {
        if (strcmp(module, allowed[i].module) == 0 && strcmp(name, allowed[i].name) == 0) {
            pv *v = pv_new(up, PV_GLOBAL);
            if (!v) return up->err;
            v->u.g.kind = allowed[i].kind;
            v->u.g.dt = allowed[i].dt;
            v->u.g.name = allowed[i].name;
            return push(up, v);
        }
    }
    return FAIL(up, ST_UNSUPPORTED, "refusing global %s.%s (not a state-dict type; only "
                "collections.OrderedDict, torch._utils._rebuild_*, torch.*Storage are allowed)",
                module, name);
}

static int memo_put(unpickler *up, uint64_t idx) {
    pv *v = NULL;
    if (top(up, &v)) return ST_FORMAT;
    if (idx >= PICKLE_MAX_MEMO) return FAIL(up, ST_TOO_LARGE, "memo index %llu over the limit",
                                            (unsigned long long)idx);
    size_t old = up->capmemo;
    int rc = grow(up, (void **)&up->memo, &up->capmemo, (size_t)idx + 1, sizeof(pv *), PICKLE_MAX_MEMO,
                  "memo entries");
    if (rc) return rc;
    if (up->capmemo > old) memset(up->memo + old, 0, (up->capmemo - old) * sizeof(pv *));
    up->memo[idx] = v;
    if (idx + 1 > up->nmemo_next) up->nmemo_next = (size_t)idx + 1;
    return ST_OK;
}

static int memo_get(unpickler *up, uint64_t idx) {
    if (idx >= up->capmemo || !up->memo[idx])
        return FAIL(up, ST_FORMAT, "memo index %llu was never set", (unsigned long long)idx);
    return push(up, up->memo[idx]);
}

/* ------------------------------------------------------------------ calls */

static int int_tuple(unpickler *up, const pv *t, int64_t *out, int *n, const char *what) {
    if (t->kind != PV_TUPLE) return FAIL(up, ST_FORMAT, "_rebuild_tensor_v2: %s is not a tuple", what);
    if (t->u.seq.n > TENSOR_MAX_DIMS)
        return FAIL(up, ST_UNSUPPORTED, "_rebuild_tensor_v2: %zu dims, at most %d supported",
                    t->u.seq.n, TENSOR_MAX_DIMS);
    for (size_t i = 0; i < t->u.seq.n; i++) {
        const pv *e = t->u.seq.items[i];
        if (e->kind != PV_INT || e->u.i < 0)
            return FAIL(up, ST_FORMAT, "_rebuild_tensor_v2: %s[%zu] is not a non-negative int", what, i);
        out[i] = e->u.i;
    }
    *n = (int)t->u.seq.n;
    return ST_OK;
}

static int call(unpickler *up, const pv *fn, const pv *args, pv **res, int depth) {
    if (fn->kind != PV_GLOBAL) return FAIL(up, ST_FORMAT, "REDUCE of a value that is not a global");
    if (args->kind != PV_TUPLE) return FAIL(up, ST_FORMAT, "REDUCE arguments are not a tuple");
    pv *const *a = (pv *const *)args->u.seq.items;
    size_t na = args->u.seq.n;
    switch (fn->u.g.kind) {
    case G_ORDERED_DICT:
        if (na != 0) return FAIL(up, ST_UNSUPPORTED, "OrderedDict called with %zu arguments", na);
        *res = pv_new(up, PV_DICT);
        return *res ? ST_OK : up->err;
    case G_REBUILD_TENSOR_V2: {
        if (na != 6 && na != 7)
            return FAIL(up, ST_FORMAT, "_rebuild_tensor_v2 takes 6 or 7 arguments, got %zu", na);
        if (a[0]->kind != PV_STORAGE)
            return FAIL(up, ST_FORMAT, "_rebuild_tensor_v2: argument 1 is not a storage");
        if (a[1]->kind != PV_INT || a[1]->u.i < 0)
            return FAIL(up, ST_FORMAT, "_rebuild_tensor_v2: offset is not a non-negative int");
        pv *t = pv_new(up, PV_TENSOR);
        if (!t) return up->err;
        int rc = charge(up, sizeof(pv_tensor) + MALLOC_OVERHEAD);
        if (rc) return rc;
        pv_tensor *ten = t->u.ten = calloc(1, sizeof *ten);
        if (!ten) return FAIL(up, ST_NOMEM, "out of memory");
        int ns, nst;
        if (int_tuple(up, a[2], ten->shape, &ns, "size") || int_tuple(up, a[3], ten->stride, &nst, "stride"))
            return ST_FORMAT;
        if (ns != nst)
            return FAIL(up, ST_FORMAT, "_rebuild_tensor_v2: size has %d dims, stride %d", ns, nst);
        ten->storage = a[0];
        ten->offset = a[1]->u.i;
        ten->ndim = ns;
        *res = t;
        return ST_OK;
    }
    case G_REBUILD_PARAMETER:
    case G_REBUILD_PARAMETER_STATE:
        if (na < 1 || a[0]->kind != PV_TENSOR)
            return FAIL(up, ST_FORMAT, "%s: first argument is not a tensor", fn->u.g.name);
        *res = a[0];
        return ST_OK;
    case G_REBUILD_FROM_TYPE_V2:
        /* (func, new_type, args, state): rebuild with func(*args), drop the type and state */
        if (na != 4 || a[0]->kind != PV_GLOBAL || a[2]->kind != PV_TUPLE)
            return FAIL(up, ST_FORMAT, "_rebuild_from_type_v2: expected (func, type, args, state)");
        if (depth > 0) return FAIL(up, ST_UNSUPPORTED, "_rebuild_from_type_v2 nested");
        if (a[1]->kind != PV_GLOBAL || a[1]->u.g.kind != G_TYPE_TAG)
            return FAIL(up, ST_UNSUPPORTED, "_rebuild_from_type_v2: new type is not Tensor/Parameter");
        return call(up, a[0], a[2], res, depth + 1);
    case G_STORAGE:
    case G_TYPE_TAG:
        return FAIL(up, ST_UNSUPPORTED, "refusing to call %s", fn->u.g.name);
    }
    return FAIL(up, ST_INTERNAL, "unknown global");
}

/* ('storage', StorageClass, key, location, numel) -> STORAGE */
static int persistent_load(unpickler *up, const pv *pid, pv **res) {
    if (pid->kind != PV_TUPLE || pid->u.seq.n != 5)
        return FAIL(up, ST_FORMAT, "persistent id is not a 5-tuple ('storage', type, key, location, numel)");
    pv *const *a = (pv *const *)pid->u.seq.items;
    if (a[0]->kind != PV_STR || strcmp(a[0]->u.s, "storage") != 0)
        return FAIL(up, ST_UNSUPPORTED, "persistent id is not a 'storage'");
    if (a[1]->kind != PV_GLOBAL || a[1]->u.g.kind != G_STORAGE)
        return FAIL(up, ST_UNSUPPORTED, "persistent id: storage type is not a torch.*Storage");
    if (a[2]->kind != PV_STR || !a[2]->u.s[0] || strchr(a[2]->u.s, '/') || strstr(a[2]->u.s, ".."))
        return FAIL(up, ST_FORMAT, "persistent id: storage key is not a plain name");
    if (a[4]->kind != PV_INT || a[4]->u.i < 0)
        return FAIL(up, ST_FORMAT, "persistent id: storage size is not a non-negative int");
    pv *s = pv_new(up, PV_STORAGE);
    if (!s) return up->err;
    int rc = charge(up, strlen(a[2]->u.s) + 1 + MALLOC_OVERHEAD);
    if (rc) return rc;
    s->u.sto.dt = a[1]->u.g.dt;
    s->u.sto.numel = a[4]->u.i;
    s->u.sto.key = strdup(a[2]->u.s);
    if (!s->u.sto.key) return FAIL(up, ST_NOMEM, "out of memory");
    *res = s;
    return ST_OK;
}

/* ------------------------------------------------------------------ run */

static int run(unpickler *up, pv **result) {
    char mod[257], name[257];
    int rc;
    while (up->pos < up->len) {
        uint8_t op = up->p[up->pos++];
        pv *v = NULL, *k = NULL, *w = NULL;
        size_t from = 0, cnt = 0;
        switch (op) {
        case 0x80: /* PROTO */
            if ((rc = need(up, 1))) return rc;
            if (up->p[up->pos] < 2 || up->p[up->pos] > 5)
                return FAIL(up, ST_UNSUPPORTED, "pickle protocol %d", up->p[up->pos]);
            up->pos++;
            break;
        case 0x95: /* FRAME: a length hint only */
            if ((rc = need(up, 8))) return rc;
            up->pos += 8;
            break;
        case '.': /* STOP */
            if ((rc = pop(up, result))) return rc;
            return ST_OK;
        case 'c': /* GLOBAL */
            if ((rc = read_line(up, mod, sizeof mod)) || (rc = read_line(up, name, sizeof name))) return rc;
            if ((rc = push_global(up, mod, name))) return rc;
            break;
        case 0x93: /* STACK_GLOBAL */
            if ((rc = pop(up, &w)) || (rc = pop(up, &v))) return rc;
            if (v->kind != PV_STR || w->kind != PV_STR)
                return FAIL(up, ST_FORMAT, "STACK_GLOBAL operands are not strings");
            if ((rc = push_global(up, v->u.s, w->u.s))) return rc;
            break;
        case 'q': /* BINPUT */
            if ((rc = need(up, 1))) return rc;
            if ((rc = memo_put(up, up->p[up->pos++]))) return rc;
            break;
        case 'r': /* LONG_BINPUT */
            if ((rc = need(up, 4))) return rc;
            up->pos += 4;
            if ((rc = memo_put(up, le(up->p + up->pos - 4, 4)))) return rc;
            break;
        case 0x94: /* MEMOIZE */
            if ((rc = memo_put(up, up->nmemo_next))) return rc;
            break;
        case 'h': /* BINGET */
            if ((rc = need(up, 1))) return rc;
            if ((rc = memo_get(up, up->p[up->pos++]))) return rc;
            break;
        case 'j': /* LONG_BINGET */
            if ((rc = need(up, 4))) return rc;
            up->pos += 4;
            if ((rc = memo_get(up, le(up->p + up->pos - 4, 4)))) return rc;
            break;
        case '}': if ((rc = push(up, pv_new(up, PV_DICT)))) return rc; break;
        case ']': if ((rc = push(up, pv_new(up, PV_LIST)))) return rc; break;
        case ')': if ((rc = push(up, pv_new(up, PV_TUPLE)))) return rc; break;
        case '(': /* MARK */
            if ((rc = grow(up, (void **)&up->marks, &up->capmarks, up->nmarks + 1, sizeof(size_t),
                           PICKLE_MAX_MARKS, "nested MARKs")))
                return rc;
            up->marks[up->nmarks++] = up->sp;
            break;
        case 't': /* TUPLE */
            if ((rc = pop_mark(up, &from, &cnt))) return rc;
            if ((rc = push(up, make_tuple(up, from, cnt)))) return rc;
            break;
        case 0x85: case 0x86: case 0x87: { /* TUPLE1..3 */
            size_t n = (size_t)(op - 0x84);
            size_t floor = up->nmarks ? up->marks[up->nmarks - 1] : 0;
            if (up->sp - floor < n) return FAIL(up, ST_FORMAT, "stack underflow");
            up->sp -= n;
            if ((rc = push(up, make_tuple(up, up->sp, n)))) return rc;
            break;
        }
        case 'X': /* BINUNICODE */
            if ((rc = need(up, 4))) return rc;
            up->pos += 4;
            if ((rc = push_str(up, (size_t)le(up->p + up->pos - 4, 4)))) return rc;
            break;
        case 0x8c: /* SHORT_BINUNICODE */
            if ((rc = need(up, 1))) return rc;
            up->pos += 1;
            if ((rc = push_str(up, up->p[up->pos - 1]))) return rc;
            break;
        case 0x8d: { /* BINUNICODE8 */
            if ((rc = need(up, 8))) return rc;
            uint64_t n = le(up->p + up->pos, 8);
            up->pos += 8;
            if (n > up->len) return FAIL(up, ST_FORMAT, "string length %llu past the end",
                                         (unsigned long long)n);
            if ((rc = push_str(up, (size_t)n))) return rc;
            break;
        }
        case 'J': /* BININT: signed 32-bit */
            if ((rc = need(up, 4))) return rc;
            up->pos += 4;
            if ((rc = push_int(up, (int32_t)(uint32_t)le(up->p + up->pos - 4, 4)))) return rc;
            break;
        case 'K': /* BININT1 */
            if ((rc = need(up, 1))) return rc;
            if ((rc = push_int(up, up->p[up->pos++]))) return rc;
            break;
        case 'M': /* BININT2 */
            if ((rc = need(up, 2))) return rc;
            up->pos += 2;
            if ((rc = push_int(up, (int64_t)le(up->p + up->pos - 2, 2)))) return rc;
            break;
        case 0x8a: { /* LONG1: n-byte little-endian two's complement */
            if ((rc = need(up, 1))) return rc;
            int n = up->p[up->pos++];
            if (n > 8) return FAIL(up, ST_UNSUPPORTED, "LONG1 of %d bytes (over 64 bits)", n);
            if ((rc = need(up, (size_t)n))) return rc;
            uint64_t u = le(up->p + up->pos, n);
            if (n > 0 && n < 8 && (up->p[up->pos + n - 1] & 0x80)) u |= ~0ull << (8 * n);
            up->pos += (size_t)n;
            if ((rc = push_int(up, (int64_t)u))) return rc;
            break;
        }
        case 0x88: case 0x89: /* NEWTRUE, NEWFALSE */
            if (!(v = pv_new(up, PV_BOOL))) return up->err;
            v->u.i = op == 0x88;
            if ((rc = push(up, v))) return rc;
            break;
        case 'N': if ((rc = push(up, pv_new(up, PV_NONE)))) return rc; break;
        case 'G': { /* BINFLOAT: big-endian double */
            if ((rc = need(up, 8))) return rc;
            uint64_t u = 0;
            for (int i = 0; i < 8; i++) u = u << 8 | up->p[up->pos + i];
            up->pos += 8;
            if (!(v = pv_new(up, PV_FLOAT))) return up->err;
            memcpy(&v->u.f, &u, 8);
            if ((rc = push(up, v))) return rc;
            break;
        }
        case 'Q': /* BINPERSID */
            if ((rc = pop(up, &v))) return rc;
            if ((rc = persistent_load(up, v, &w))) return rc;
            if ((rc = push(up, w))) return rc;
            break;
        case 'R': /* REDUCE */
            if ((rc = pop(up, &v)) || (rc = pop(up, &k))) return rc;
            if ((rc = call(up, k, v, &w, 0))) return rc;
            if ((rc = push(up, w))) return rc;
            break;
        case 's': /* SETITEM */
            if ((rc = pop(up, &v)) || (rc = pop(up, &k)) || (rc = top(up, &w))) return rc;
            if (w->kind != PV_DICT) return FAIL(up, ST_FORMAT, "SETITEM on a non-dict");
            if ((rc = seq_add(up, w, k)) || (rc = seq_add(up, w, v))) return rc;
            break;
        case 'u': /* SETITEMS */
            if ((rc = pop_mark(up, &from, &cnt))) return rc;
            if ((rc = top(up, &w))) return rc;
            if (w->kind != PV_DICT) return FAIL(up, ST_FORMAT, "SETITEMS on a non-dict");
            if (cnt % 2) return FAIL(up, ST_FORMAT, "SETITEMS with an odd number of items");
            for (size_t i = 0; i < cnt; i++)
                if ((rc = seq_add(up, w, up->stack[from + i]))) return rc;
            break;
        case 'a': /* APPEND */
            if ((rc = pop(up, &v)) || (rc = top(up, &w))) return rc;
            if (w->kind != PV_LIST) return FAIL(up, ST_FORMAT, "APPEND on a non-list");
            if ((rc = seq_add(up, w, v))) return rc;
            break;
        case 'e': /* APPENDS */
            if ((rc = pop_mark(up, &from, &cnt))) return rc;
            if ((rc = top(up, &w))) return rc;
            if (w->kind != PV_LIST) return FAIL(up, ST_FORMAT, "APPENDS on a non-list");
            for (size_t i = 0; i < cnt; i++)
                if ((rc = seq_add(up, w, up->stack[from + i]))) return rc;
            break;
        case 'b': /* BUILD: state (e.g. OrderedDict._metadata) is ignored */
            if ((rc = pop(up, &v)) || (rc = top(up, &w))) return rc;
            if (w->kind != PV_DICT && w->kind != PV_TENSOR)
                return FAIL(up, ST_UNSUPPORTED, "BUILD on something other than a dict or tensor");
            break;
        case '0': /* POP */
            if ((rc = pop(up, &v))) return rc;
            break;
        case '1': /* POP_MARK */
            if ((rc = pop_mark(up, &from, &cnt))) return rc;
            break;
        default:
            up->pos--;
            return FAIL(up, ST_UNSUPPORTED, "opcode 0x%02x is not in the state-dict subset", op);
        }
    }
    return FAIL(up, ST_FORMAT, "ends without STOP");
}

/* ------------------------------------------------------------------ result */

static const char *kind_name(pv_kind k) {
    static const char *n[] = {"None", "bool", "int", "float", "str", "tuple", "list",
                              "dict", "global", "storage",
                              "tensor"};
    return n[k];
}

static int to_record(const char *file, const char *name, const pv *tv, pickle_tensor *r) {
    const pv_tensor *t = tv->u.ten;
    const pv *s = t->storage;
    memset(r, 0, sizeof *r);
    r->dtype = s->u.sto.dt;
    r->storage_numel = s->u.sto.numel;
    r->offset = t->offset;
    r->ndim = t->ndim;
    size_t numel = 1;
    for (int i = 0; i < r->ndim; i++) {
        r->shape[i] = t->shape[i];
        if (__builtin_mul_overflow(numel, (size_t)r->shape[i], &numel))
            return status_fail(ST_FORMAT, "%s: tensor \"%s\": element count overflows", file, name);
    }
    r->numel = numel;
    /* row-major contiguity; dims of size 1 may carry any stride */
    if (numel > 0) {
        int64_t want = 1;
        for (int i = r->ndim - 1; i >= 0; i--) {
            if (r->shape[i] != 1 && t->stride[i] != want) {
                char sz[160], st[160];
                tensor tmp = {.ndim = r->ndim};
                memcpy(tmp.shape, r->shape, sizeof tmp.shape);
                tensor_shape_str(&tmp, sz, sizeof sz);
                memcpy(tmp.shape, t->stride, sizeof tmp.shape);
                tensor_shape_str(&tmp, st, sizeof st);
                return status_fail(ST_UNSUPPORTED, "%s: tensor \"%s\": size %s with stride %s is not "
                                   "row-major contiguous (save it with .contiguous())", file, name, sz, st);
            }
            want *= r->shape[i];
        }
    }
    if ((uint64_t)r->offset > (uint64_t)r->storage_numel ||
        numel > (uint64_t)(r->storage_numel - r->offset))
        return status_fail(ST_FORMAT, "%s: tensor \"%s\": elements [%lld, %lld) lie outside its "
                           "storage \"%s\" of %lld elements", file, name, (long long)r->offset,
                           (long long)r->offset + (long long)numel, s->u.sto.key,
                           (long long)r->storage_numel);
    r->name = strdup(name);
    r->storage_key = strdup(s->u.sto.key);
    if (!r->name || !r->storage_key) return status_fail(ST_NOMEM, "%s: out of memory", file);
    return ST_OK;
}

_Static_assert(PICKLE_MAX_DEPTH == 2, "pickle_load_state_dict's loop reads exactly one wrapper level");

/* Check one state-dict entry: key a str, value a tensor (or, at depth 0, a
 * dict, whose entries are checked at depth 1). prefix names the outer key. */
static int check_entry(const char *file, const char *prefix, size_t i, const pv *k, const pv *v, int depth) {
    if (k->kind != PV_STR)
        return prefix ? status_fail(ST_UNSUPPORTED, "%s: key %zu of \"%s\" is a %s, not a str", file, i, prefix,
                                    kind_name(k->kind))
                      : status_fail(ST_UNSUPPORTED, "%s: state-dict key %zu is a %s, not a str", file, i,
                                    kind_name(k->kind));
    if (v->kind == PV_TENSOR || (v->kind == PV_DICT && depth == 0)) return ST_OK;
    if (v->kind == PV_DICT)
        return status_fail(ST_UNSUPPORTED, "%s: \"%s.%s\": a dict inside a dict inside the state dict (seer reads "
                           "name -> tensor and one level of name -> {name -> tensor})", file, prefix, k->u.s);
    return prefix ? status_fail(ST_UNSUPPORTED, "%s: tensor \"%s.%s\": value is a %s, not a tensor", file, prefix,
                                k->u.s, kind_name(v->kind))
                  : status_fail(ST_UNSUPPORTED, "%s: tensor \"%s\": value is a %s, not a tensor", file, k->u.s,
                                kind_name(v->kind));
}

/* Append the record of tensor v called [prefix.]key to recs (capacity *cap). */
static int add_record(unpickler *up, const char *prefix, const char *key, const pv *v, pickle_tensor **recs,
                      size_t *nrec, size_t *cap) {
    const char *file = up->file;
    size_t lp = prefix ? strlen(prefix) + 1 : 0, lk = strlen(key);
    if (*nrec == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        if (charge(up, (nc - *cap) * sizeof **recs + MALLOC_OVERHEAD)) return up->err;
        pickle_tensor *r = realloc(*recs, nc * sizeof **recs);
        if (!r) return status_fail(ST_NOMEM, "%s: out of memory", file);
        *recs = r;
        *cap = nc;
    }
    if (charge(up, lp + lk + strlen(v->u.ten->storage->u.sto.key) + 3 + 3 * MALLOC_OVERHEAD)) return up->err;
    char *name = malloc(lp + lk + 1);
    if (!name) return status_fail(ST_NOMEM, "%s: out of memory", file);
    if (prefix) {
        memcpy(name, prefix, lp - 1);
        name[lp - 1] = '.';
    }
    memcpy(name + lp, key, lk + 1);
    int rc = to_record(file, name, v, &(*recs)[*nrec]);
    (*nrec)++; /* on failure too: frees its partial strings */
    free(name);
    return rc;
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(((const pickle_tensor *)a)->name, ((const pickle_tensor *)b)->name);
}

int pickle_load_state_dict(const char *file, const uint8_t *data, size_t len,
                           pickle_tensor **out, size_t *n) {
    *out = NULL;
    *n = 0;
    unpickler up = {.file = file, .p = data, .len = len};
    up.budget = len > (SIZE_MAX - PICKLE_MIN_BUDGET) / PICKLE_MAX_BYTES_PER_BYTE
                    ? SIZE_MAX : len * PICKLE_MAX_BYTES_PER_BYTE + PICKLE_MIN_BUDGET;
    pv *res = NULL;
    pickle_tensor *recs = NULL, *sorted = NULL;
    size_t nrec = 0, cap = 0;
    int rc = run(&up, &res);
    if (rc) goto done;
    if (res->kind != PV_DICT) {
        rc = status_fail(ST_UNSUPPORTED, "%s: top-level object is a %s, not a state dict (dict of "
                         "name -> tensor)", file, kind_name(res->kind));
        goto done;
    }
    /* name -> tensor, or name -> {name -> tensor} read as "name.name" (no recursion: depth 2) */
    for (size_t i = 0; i < res->u.seq.n / 2; i++) {
        const pv *k = res->u.seq.items[2 * i], *v = res->u.seq.items[2 * i + 1];
        if ((rc = check_entry(file, NULL, i, k, v, 0))) goto done;
        if (v->kind == PV_TENSOR) {
            if ((rc = add_record(&up, NULL, k->u.s, v, &recs, &nrec, &cap))) goto done;
            continue;
        }
        for (size_t j = 0; j < v->u.seq.n / 2; j++) {
            const pv *k2 = v->u.seq.items[2 * j], *v2 = v->u.seq.items[2 * j + 1];
            if ((rc = check_entry(file, k->u.s, j, k2, v2, 1))) goto done;
            if ((rc = add_record(&up, k->u.s, k2->u.s, v2, &recs, &nrec, &cap))) goto done;
        }
    }
    if (!recs) { /* an empty state dict: still a non-NULL array */
        if ((rc = charge(&up, sizeof *recs + MALLOC_OVERHEAD))) goto done;
        if (!(recs = calloc(1, sizeof *recs))) { rc = status_fail(ST_NOMEM, "%s: out of memory", file); goto done; }
    }
    /* a dotted name may meet a flat one ({"a.b": t, "a": {"b": u}}), or SETITEM repeat a key:
     * refuse, never pick one */
    if (nrec > 1) {
        if ((rc = charge(&up, nrec * sizeof *recs + MALLOC_OVERHEAD))) goto done;
        if (!(sorted = malloc(nrec * sizeof *recs))) { rc = status_fail(ST_NOMEM, "%s: out of memory", file); goto done; }
        memcpy(sorted, recs, nrec * sizeof *recs);
        qsort(sorted, nrec, sizeof *sorted, name_cmp);
        for (size_t i = 1; i < nrec; i++)
            if (!strcmp(sorted[i - 1].name, sorted[i].name)) {
                rc = status_fail(ST_FORMAT, "%s: two tensors are called \"%s\"", file, sorted[i].name);
                goto done;
            }
    }
done:
    free(sorted); /* shallow copy: the names belong to recs */
    for (size_t i = 0; i < up.nall; i++) pv_free(&up.slabs[i / PV_SLAB][i % PV_SLAB]);
    for (size_t i = 0; i < (up.nall + PV_SLAB - 1) / PV_SLAB; i++) free(up.slabs[i]);
    free(up.slabs);
    free(up.stack);
    free(up.marks);
    free(up.memo);
    if (rc) {
        pickle_tensors_free(recs, nrec);
        return rc;
    }
    *out = recs;
    *n = nrec;
    return ST_OK;
}

void pickle_tensors_free(pickle_tensor *t, size_t n) {
    if (!t) return;
    for (size_t i = 0; i < n; i++) {
        free(t[i].name);
        free(t[i].storage_key);
    }
    free(t);
}
