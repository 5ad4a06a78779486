/* model/text/spm.h — a C view of Debian's libsentencepiece (the C++ library
 * of google/sentencepiece, package libsentencepiece-dev), for the LLaMA-2
 * tokenizer back end (sentencepiece.c).
 *
 * Why the library and not a back end of our own: a SentencePiece model is a
 * protobuf (ModelProto) whose encoding depends on settings spread over its
 * trainer and normalizer specs (model type, dummy prefix, whitespace
 * escaping, byte fallback, unused pieces re-split by reverse merges,
 * user-defined symbols, precompiled normalisation charsmaps). The library is
 * the reference implementation of all of them, is packaged by Debian (the
 * same 0.1.97 that python3-sentencepiece wraps, against which the ids are
 * checked) and costs one C++ file: this shim (spm.cc), the only C++ in
 * model/text. Writing a protobuf reader and the score-ordered BPE ourselves
 * would re-implement that behaviour with no second source of truth.
 *
 * The shim catches every C++ exception; errors come back as ST_* codes with
 * a status message. A loaded model is immutable: encode and the accessors
 * may be called from any number of threads at once (the library's
 * processor is const-safe for Encode).
 */
#ifndef SEER_SPM_H
#define SEER_SPM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spm spm;

/* Piece types as ModelProto.SentencePiece.Type. */
typedef enum { SPM_NORMAL = 1, SPM_UNKNOWN = 2, SPM_CONTROL = 3, SPM_USER_DEFINED = 4, SPM_UNUSED = 5,
               SPM_BYTE = 6 } spm_type;

/* Load a tokenizer.model. ST_NOT_FOUND / ST_FORMAT (the library's message)
 * / ST_NOMEM. On success *out belongs to the caller (spm_close). */
int  spm_open(const char *path, spm **out);
void spm_close(spm *s);

/* Number of pieces (ids 0 .. size-1). */
int  spm_size(const spm *s);
/* The piece text as stored (U+2581 for spaces; "<0x0A>" for byte pieces),
 * *len bytes, valid while s lives; NULL for an id out of range. */
const char *spm_piece(const spm *s, int32_t id, size_t *len);
spm_type spm_piece_type(const spm *s, int32_t id);
/* bos / eos / unk ids (-1 when the model has none). */
int32_t spm_bos(const spm *s);
int32_t spm_eos(const spm *s);
int32_t spm_unk(const spm *s);

/* SentencePieceProcessor::Encode of text[0..len) (no BOS/EOS): *ids is
 * malloc'd (non-NULL even when *n == 0), the caller frees it. */
int  spm_encode(const spm *s, const char *text, size_t len, int32_t **ids, int *n);

#ifdef __cplusplus
}
#endif

#endif
