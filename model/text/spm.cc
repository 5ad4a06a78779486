// model/text/spm.cc — the C shim over libsentencepiece (see spm.h).
#include "spm.h"

extern "C" {
#include "status.h"
}

#include <sentencepiece_processor.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

struct spm {
    sentencepiece::SentencePieceProcessor proc;
};

extern "C" int spm_open(const char *path, spm **out) {
    *out = nullptr;
    try {
        spm *s = new spm;
        const auto st = s->proc.Load(path);
        if (!st.ok()) {
            const bool missing = st.code() == sentencepiece::util::StatusCode::kNotFound;
            int rc = status_fail(missing ? ST_NOT_FOUND : ST_FORMAT, "%s: not a readable SentencePiece model (%s)",
                                 path, st.ToString().c_str());
            delete s;
            return rc;
        }
        *out = s;
        return ST_OK;
    } catch (const std::bad_alloc &) {
        return status_fail(ST_NOMEM, "%s: out of memory", path);
    } catch (const std::exception &e) {
        return status_fail(ST_FORMAT, "%s: %s", path, e.what());
    }
}

extern "C" void spm_close(spm *s) { delete s; }

extern "C" int spm_size(const spm *s) { return s->proc.GetPieceSize(); }

extern "C" const char *spm_piece(const spm *s, int32_t id, size_t *len) {
    if (len) *len = 0;
    if (id < 0 || id >= s->proc.GetPieceSize()) return nullptr;
    const std::string &p = s->proc.IdToPiece(id);
    if (len) *len = p.size();
    return p.c_str();
}

extern "C" spm_type spm_piece_type(const spm *s, int32_t id) {
    if (s->proc.IsUnknown(id)) return SPM_UNKNOWN;
    if (s->proc.IsControl(id)) return SPM_CONTROL;
    if (s->proc.IsByte(id)) return SPM_BYTE;
    if (s->proc.IsUnused(id)) return SPM_UNUSED;
    return SPM_NORMAL;   // user-defined pieces encode like normal ones here
}

extern "C" int32_t spm_bos(const spm *s) { return s->proc.bos_id(); }
extern "C" int32_t spm_eos(const spm *s) { return s->proc.eos_id(); }
extern "C" int32_t spm_unk(const spm *s) { return s->proc.unk_id(); }

extern "C" int spm_encode(const spm *s, const char *text, size_t len, int32_t **ids, int *n) {
    *ids = nullptr;
    *n = 0;
    try {
        std::vector<int> v;
        const auto st = s->proc.Encode(std::string_view(text, len), &v);
        if (!st.ok()) return status_fail(ST_ARG, "sentencepiece: %s", st.ToString().c_str());
        if (v.size() > (size_t)INT_MAX) return status_fail(ST_TOO_LARGE, "sentencepiece: too many tokens");
        int32_t *p = static_cast<int32_t *>(std::malloc((v.size() ? v.size() : 1) * sizeof *p));
        if (!p) return status_fail(ST_NOMEM, "sentencepiece: out of memory");
        for (size_t i = 0; i < v.size(); i++) p[i] = v[i];
        *ids = p;
        *n = (int)v.size();
        return ST_OK;
    } catch (const std::bad_alloc &) {
        return status_fail(ST_NOMEM, "sentencepiece: out of memory");
    } catch (const std::exception &e) {
        return status_fail(ST_INTERNAL, "sentencepiece: %s", e.what());
    }
}
