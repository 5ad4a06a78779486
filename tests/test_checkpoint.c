/* tests/test_checkpoint.c — half-precision conversion, safetensors, the torch
 * zip reader and unpickler, and checkpoint directories.
 *
 * safetensors and zip files are written byte by byte into a temp dir; the
 * torch.save fixtures come from tests/reference/make_ptzip_fixtures.py
 * (tests/data/ptzip, with expected.json). The CLIP fixture in ../shared is
 * checked when present. */
#include "checkpoint.h"
#include "file.h"
#include "pickle.h"
#include "ptzip.h"
#include "safetensors.h"
#include "status.h"
#include "tensor.h"
#include "test.h"

#include <ftw.h>
#include <jansson.h>
#include <stdint.h>
#include <unistd.h>

static char tmpdir[256];

static const char *tpath(const char *name) {
    static char buf[8][512];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(1); }
    if (n) fwrite(data, 1, n, f);
    fclose(f);
}

/* A safetensors file: u64 header length (hlen_override if nonzero), header, data. */
static void write_st(const char *path, const char *header, const void *data, size_t n,
                     uint64_t hlen_override) {
    size_t hl = strlen(header);
    uint64_t h = hlen_override ? hlen_override : hl;
    uint8_t *buf = malloc(8 + hl + n + 1);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(h >> (8 * i));
    memcpy(buf + 8, header, hl);
    if (n) memcpy(buf + 8 + hl, data, n);
    write_bytes(path, buf, 8 + hl + n);
    free(buf);
}

static float bits_f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint32_t f_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static int msg_has(const char *a, const char *b) {
    const char *m = status_message();
    int ok = strstr(m, a) && (!b || strstr(m, b));
    if (!ok) printf("  message: %s\n", m);
    return ok;
}

/* ================================================================ conversion */

TEST(f16_edges) {
    CHECK(f16_to_f32(0x0000) == 0.0f && !signbit(f16_to_f32(0x0000)));
    CHECK(f16_to_f32(0x8000) == 0.0f && signbit(f16_to_f32(0x8000)));
    CHECK(f16_to_f32(0x3c00) == 1.0f);
    CHECK(f16_to_f32(0xc000) == -2.0f);
    CHECK(f16_to_f32(0x7bff) == 65504.0f);
    CHECK(f16_to_f32(0x0001) == ldexpf(1, -24));          /* smallest subnormal */
    CHECK(f16_to_f32(0x03ff) == ldexpf(1023, -24));       /* largest subnormal */
    CHECK(f16_to_f32(0x0400) == ldexpf(1, -14));          /* smallest normal */
    CHECK(isinf(f16_to_f32(0x7c00)) && f16_to_f32(0x7c00) > 0);
    CHECK(isinf(f16_to_f32(0xfc00)) && f16_to_f32(0xfc00) < 0);
    CHECK(isnan(f16_to_f32(0x7e00)) && isnan(f16_to_f32(0x7c01)));
    /* every finite half round-trips through f32 */
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue; /* NaN */
        if (f32_to_f16(f16_to_f32((uint16_t)h)) != h) bad++;
    }
    CHECK_MSG(bad == 0, "%d halves do not round-trip", bad);
    /* f32 -> f16 rounding */
    CHECK(f32_to_f16(1.0f + ldexpf(1, -11)) == 0x3c00);          /* tie -> even (down) */
    CHECK(f32_to_f16(1.0f + 3 * ldexpf(1, -11)) == 0x3c02);      /* tie -> even (up) */
    CHECK(f32_to_f16(1.0f + ldexpf(1, -11) + ldexpf(1, -20)) == 0x3c01); /* above tie */
    CHECK(f32_to_f16(65504.0f) == 0x7bff);
    CHECK(f32_to_f16(65519.0f) == 0x7bff);                        /* below the overflow tie */
    CHECK(f32_to_f16(65520.0f) == 0x7c00);                        /* tie rounds to inf */
    CHECK(f32_to_f16(1e10f) == 0x7c00 && f32_to_f16(-1e10f) == 0xfc00);
    CHECK(f32_to_f16(INFINITY) == 0x7c00 && f32_to_f16(-INFINITY) == 0xfc00);
    uint16_t n = f32_to_f16(NAN);
    CHECK((n & 0x7c00) == 0x7c00 && (n & 0x3ff));
    CHECK(f32_to_f16(ldexpf(1, -24)) == 0x0001);
    CHECK(f32_to_f16(ldexpf(1, -25)) == 0x0000);                  /* tie -> even (0) */
    CHECK(f32_to_f16(ldexpf(3, -25)) == 0x0002);                  /* 1.5 ulp tie -> even (2) */
    CHECK(f32_to_f16(ldexpf(1, -25) * 1.0001f) == 0x0001);
    CHECK(f32_to_f16(-ldexpf(1, -30)) == 0x8000);                 /* underflow keeps the sign */
    CHECK(f32_to_f16(ldexpf(1023.5f, -24)) == 0x0400);            /* subnormal carries to normal */
    /* compare with the hardware conversion on a sweep of floats */
    int diff = 0;
    for (uint32_t u = 0; u < 0xff800000u; u += 0x3f1d) {
        float f = bits_f(u);
        uint16_t h = f32_to_f16(f);
        /* reference: nearest of the two neighbouring halves, ties to even */
        float back = f16_to_f32(h);
        if (!isinf(back) && fabsf(back - f) > fabsf(f16_to_f32((uint16_t)(h + 1)) - f)) diff++;
    }
    CHECK_MSG(diff == 0, "%d floats not rounded to nearest", diff);
}

TEST(bf16_edges) {
    CHECK(bf16_to_f32(0x3f80) == 1.0f);
    CHECK(bf16_to_f32(0xc049) == -3.140625f);
    CHECK(f32_to_bf16(1.0f) == 0x3f80);
    CHECK(f32_to_bf16(bits_f(0x3f808000)) == 0x3f80);  /* tie -> even (down) */
    CHECK(f32_to_bf16(bits_f(0x3f818000)) == 0x3f82);  /* tie -> even (up) */
    CHECK(f32_to_bf16(bits_f(0x3f808001)) == 0x3f81);  /* above tie */
    CHECK(f32_to_bf16(bits_f(0x7f7fffff)) == 0x7f80);  /* max float rounds to inf */
    CHECK(f32_to_bf16(INFINITY) == 0x7f80 && f32_to_bf16(-INFINITY) == 0xff80);
    uint16_t n = f32_to_bf16(bits_f(0x7f800001));      /* NaN with only low payload bits */
    CHECK((n & 0x7f80) == 0x7f80 && (n & 0x7f));
    CHECK(f32_to_bf16(bits_f(0x00000001)) == 0x0000);  /* subnormal rounds down */
    CHECK(f32_to_bf16(bits_f(0x00018000)) == 0x0002);
    CHECK(f_bits(bf16_to_f32(0x8000)) == 0x80000000u);
}

TEST(bulk_conversion) {
    enum { N = 77 };
    uint8_t raw[2 * N + 1], raw64[8 * N + 1];
    float out[N];
    uint16_t hs[N];
    for (int i = 0; i < N; i++) hs[i] = (uint16_t)(i * 0x0357 + 11);
    memcpy(raw + 1, hs, sizeof hs); /* deliberately unaligned */
    CHECK(tensor_to_f32(out, raw + 1, DT_F16, N) == ST_OK);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        float r = f16_to_f32(hs[i]);
        if (!(out[i] == r || (isnan(out[i]) && isnan(r)))) bad++;
    }
    CHECK_MSG(bad == 0, "%d F16 mismatches", bad);
    CHECK(tensor_to_f32(out, raw + 1, DT_BF16, N) == ST_OK);
    bad = 0;
    for (int i = 0; i < N; i++)
        if (f_bits(out[i]) != (uint32_t)hs[i] << 16) bad++;
    CHECK_MSG(bad == 0, "%d BF16 mismatches", bad);
    for (int i = 0; i < N; i++) {
        double d = i * 0.25 - 3;
        memcpy(raw64 + 1 + 8 * i, &d, 8);
    }
    CHECK(tensor_to_f32(out, raw64 + 1, DT_F64, N) == ST_OK);
    CHECK(out[0] == -3.0f && out[N - 1] == (N - 1) * 0.25f - 3);
    CHECK(tensor_to_f32(out, raw, DT_I64, 1) == ST_UNSUPPORTED);
    tensor t = {.ndim = 4, .shape = {768, 3, 32, 32}};
    char buf[64];
    CHECK(strcmp(tensor_shape_str(&t, buf, sizeof buf), "[768, 3, 32, 32]") == 0);
    t.ndim = 0;
    CHECK(strcmp(tensor_shape_str(&t, buf, sizeof buf), "[]") == 0);
    dtype dt;
    CHECK(dtype_parse("BF16", &dt) == ST_OK && dt == DT_BF16 && dtype_size(dt) == 2);
    CHECK(dtype_parse("F8_E4M3", &dt) == ST_UNSUPPORTED);
}

/* ================================================================ safetensors */

/* w F32 [2,2] @0..16, h F16 [3] @16..22, b BF16 [2] @22..26, s F32 [] @26..30,
 * e F32 [0, 4] @30..30, i I64 [1] @30..38 */
static void write_good_st(const char *path) {
    uint8_t d[38];
    float w[4] = {1, -2, 3.5f, 0.25f};
    uint16_t h[3] = {0x3c00, 0xc000, 0x0001}, b[2] = {0x3f80, 0xc049};
    float s = 2.5f;
    int64_t i = -5;
    memcpy(d, w, 16);
    memcpy(d + 16, h, 6);
    memcpy(d + 22, b, 4);
    memcpy(d + 26, &s, 4);
    memcpy(d + 30, &i, 8);
    write_st(path,
             "{\"__metadata__\":{\"format\":\"pt\"},"
             "\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
             "\"i\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[30,38]},"
             "\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[16,22]},"
             "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[22,26]},"
             "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[26,30]},"
             "\"e\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[30,30]}}   ",
             d, sizeof d, 0);
}

TEST(safetensors_values) {
    const char *p = tpath("good.safetensors");
    write_good_st(p);
    checkpoint *ck;
    CHECK(checkpoint_open_file(p, &ck) == ST_OK);
    if (!ck) return;
    CHECK(checkpoint_count(ck) == 6);
    CHECK(strcmp(checkpoint_at(ck, 0)->name, "w") == 0); /* buffer order */
    float v[4];
    int64_t s22[] = {2, 2}, s3[] = {3}, s2[] = {2};
    CHECK(checkpoint_read_f32(ck, "w", 2, s22, v) == ST_OK);
    CHECK(v[0] == 1 && v[1] == -2 && v[2] == 3.5f && v[3] == 0.25f);
    CHECK(checkpoint_read_f32(ck, "h", 1, s3, v) == ST_OK);
    CHECK(v[0] == 1 && v[1] == -2 && v[2] == ldexpf(1, -24));
    CHECK(checkpoint_read_f32(ck, "b", 1, s2, v) == ST_OK);
    CHECK(v[0] == 1 && v[1] == -3.140625f);
    const tensor *t;
    CHECK(checkpoint_get(ck, "s", 0, s2, &t) == ST_OK && t->ndim == 0 && t->numel == 1);
    CHECK(checkpoint_read_f32(ck, "s", 0, NULL, v) == ST_OK && v[0] == 2.5f);
    CHECK(checkpoint_get(ck, "e", 0, NULL, &t) == ST_OK && t->numel == 0 && t->nbytes == 0);
    CHECK(checkpoint_get(ck, "i", 0, NULL, &t) == ST_OK && t->dtype == DT_I64);
    int64_t iv;
    memcpy(&iv, t->data, 8);
    CHECK(iv == -5);
    CHECK(checkpoint_read_f32(ck, "i", 0, NULL, v) == ST_UNSUPPORTED && msg_has("\"i\"", "I64"));
    CHECK(checkpoint_find(ck, "nope") == NULL);
    CHECK(strcmp(checkpoint_path(ck), p) == 0);

    /* missing tensor and wrong shape */
    CHECK(checkpoint_get(ck, "missing.weight", 0, NULL, &t) == ST_NOT_FOUND && t == NULL);
    CHECK(msg_has(p, "\"missing.weight\""));
    int64_t bad[] = {4, 1};
    CHECK(checkpoint_get(ck, "w", 2, bad, &t) == ST_MISMATCH);
    char want[1024];
    snprintf(want, sizeof want, "%s: tensor \"w\": shape [2, 2] in file %s, expected [4, 1]", p, p);
    CHECK(msg_has(want, NULL));
    CHECK(checkpoint_get(ck, "s", 1, s2, &t) == ST_MISMATCH && msg_has("[]", "[2]"));
    checkpoint_close(ck);

    safetensors *st;
    CHECK(safetensors_open(p, &st) == ST_OK);
    if (st) {
        CHECK(safetensors_meta(st, "format") && strcmp(safetensors_meta(st, "format"), "pt") == 0);
        CHECK(safetensors_meta(st, "nope") == NULL);
        safetensors_close(st);
    }
}

TEST(safetensors_dir_layout) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/single", tmpdir);
    mkdir(dir, 0755);
    char p[600];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    write_good_st(p);
    checkpoint *ck;
    CHECK(checkpoint_open(dir, &ck) == ST_OK);
    if (ck) {
        CHECK(strcmp(checkpoint_path(ck), dir) == 0);
        int64_t s[] = {3, 3};
        const tensor *t;
        CHECK(checkpoint_get(ck, "w", 2, s, &t) == ST_MISMATCH && msg_has(dir, "\"w\""));
        checkpoint_close(ck);
    }
    snprintf(dir, sizeof dir, "%s/emptydir", tmpdir);
    mkdir(dir, 0755);
    CHECK(checkpoint_open(dir, &ck) == ST_NOT_FOUND && msg_has(dir, "model.safetensors"));
}

/* Each bad file: expected status and two substrings of the message. */
static void expect_bad(const char *name, int want, const char *a) {
    checkpoint *ck = NULL;
    const char *p = tpath(name);
    int rc = checkpoint_open_file(p, &ck);
    CHECK_MSG(rc == want, "%s: got %d (%s), want %d", name, rc, status_message(), want);
    CHECK_MSG(ck == NULL, "%s: checkpoint returned on failure", name);
    CHECK_MSG(msg_has(p, a), "%s", name);
    if (ck) checkpoint_close(ck);
}

TEST(safetensors_bad) {
    uint8_t d[64] = {0};
    write_bytes(tpath("zero.safetensors"), d, 0);
    expect_bad("zero.safetensors", ST_FORMAT, "empty");
    write_bytes(tpath("tiny.safetensors"), d, 5);
    expect_bad("tiny.safetensors", ST_FORMAT, "too short");

    const char *hdr = "{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}";
    /* truncated: the data buffer is cut short */
    write_st(tpath("trunc.safetensors"), hdr, d, 10, 0);
    expect_bad("trunc.safetensors", ST_FORMAT, "\"x\"");
    /* truncated inside the header */
    write_st(tpath("trunc2.safetensors"), hdr, d, 0, 0);
    {
        FILE *f = fopen(tpath("trunc2.safetensors"), "r+b");
        CHECK(ftruncate(fileno(f), 20) == 0);
        fclose(f);
    }
    expect_bad("trunc2.safetensors", ST_FORMAT, "past the end");
    write_st(tpath("hlen.safetensors"), hdr, d, 16, 5000);
    expect_bad("hlen.safetensors", ST_FORMAT, "header length 5000");
    write_st(tpath("huge.safetensors"), hdr, d, 16, 1ull << 40);
    expect_bad("huge.safetensors", ST_FORMAT, "100 MB");
    write_st(tpath("nonjson.safetensors"), "{\"x\": nope}", d, 0, 0);
    expect_bad("nonjson.safetensors", ST_FORMAT, "not valid JSON");
    write_st(tpath("array.safetensors"), "[1, 2]", d, 0, 0);
    expect_bad("array.safetensors", ST_FORMAT, "'{'");
    write_st(tpath("overlap.safetensors"),
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", d, 12, 0);
    expect_bad("overlap.safetensors", ST_FORMAT, "overlap");
    CHECK(msg_has("\"a\"", "\"b\""));
    write_st(tpath("past.safetensors"),
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", d, 16, 0);
    expect_bad("past.safetensors", ST_FORMAT, "\"a\"");
    CHECK(msg_has("past the end", NULL));
    write_st(tpath("count.safetensors"),
             "{\"a\":{\"dtype\":\"F16\",\"shape\":[3,2],\"data_offsets\":[0,8]}}", d, 8, 0);
    expect_bad("count.safetensors", ST_FORMAT, "\"a\"");
    CHECK(msg_has("F16 [3, 2] needs 12", NULL));
    write_st(tpath("hole.safetensors"),
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", d, 12, 0);
    expect_bad("hole.safetensors", ST_FORMAT, "\"b\"");
    CHECK(msg_has("hole", NULL));
    write_st(tpath("trail.safetensors"),
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", d, 12, 0);
    expect_bad("trail.safetensors", ST_FORMAT, "trailing");
    write_st(tpath("dtype.safetensors"),
             "{\"a\":{\"dtype\":\"F8_E5M2\",\"shape\":[1],\"data_offsets\":[0,1]}}", d, 1, 0);
    expect_bad("dtype.safetensors", ST_UNSUPPORTED, "\"a\"");
    write_st(tpath("negdim.safetensors"),
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", d, 4, 0);
    expect_bad("negdim.safetensors", ST_FORMAT, "\"a\"");
    write_st(tpath("overflow.safetensors"),
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,4]}}",
             d, 4, 0);
    expect_bad("overflow.safetensors", ST_FORMAT, "overflow");
    write_st(tpath("types.safetensors"),
             "{\"a\":{\"dtype\":\"F32\",\"shape\":\"[1]\",\"data_offsets\":[0,4]}}", d, 4, 0);
    expect_bad("types.safetensors", ST_FORMAT, "\"shape\"");
    write_st(tpath("offs.safetensors"),
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", d, 4, 0);
    expect_bad("offs.safetensors", ST_FORMAT, "data_offsets");
    write_st(tpath("dup.safetensors"),
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
             "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", d, 4, 0);
    expect_bad("dup.safetensors", ST_FORMAT, "JSON");
    write_st(tpath("meta.safetensors"), "{\"__metadata__\":{\"k\":1}}", d, 0, 0);
    expect_bad("meta.safetensors", ST_FORMAT, "__metadata__");
    write_bytes(tpath("legacy.bin"), "\x80\x02\x8a\x0alz", 6);
    expect_bad("legacy.bin", ST_UNSUPPORTED, "legacy");
    checkpoint *ck;
    CHECK(checkpoint_open_file(tpath("does-not-exist"), &ck) == ST_NOT_FOUND);
}

/* ================================================================ sharded */

static void write_index(const char *dir, const char *json) {
    char p[600];
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    write_bytes(p, json, strlen(json));
}

TEST(safetensors_sharded) {
    char dir[512], p[600];
    snprintf(dir, sizeof dir, "%s/sharded", tmpdir);
    mkdir(dir, 0755);
    float a[2] = {1, 2}, b[3] = {3, 4, 5};
    snprintf(p, sizeof p, "%s/model-00001-of-00002.safetensors", dir);
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", a, 8, 0);
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", dir);
    write_st(p, "{\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
                "\"c\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[12,12]}}", b, 12, 0);
    write_index(dir, "{\"metadata\":{\"total_size\":20},\"weight_map\":{"
                     "\"b\":\"model-00002-of-00002.safetensors\","
                     "\"a\":\"model-00001-of-00002.safetensors\"}}");
    checkpoint *ck;
    CHECK(checkpoint_open(dir, &ck) == ST_OK);
    if (ck) {
        CHECK(checkpoint_count(ck) == 3);
        CHECK(strcmp(checkpoint_at(ck, 0)->name, "a") == 0);
        float v[3];
        int64_t s3[] = {3};
        CHECK(checkpoint_read_f32(ck, "b", 1, s3, v) == ST_OK && v[0] == 3 && v[2] == 5);
        CHECK(checkpoint_read_f32(ck, "a", 0, NULL, v) == ST_OK && v[1] == 2);
        CHECK(strstr(checkpoint_find(ck, "b")->file, "model-00002-of-00002") != NULL);
        checkpoint_close(ck);
    }
    /* a tensor in the map that its shard lacks */
    write_index(dir, "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\","
                     "\"zz\":\"model-00001-of-00002.safetensors\"}}");
    CHECK(checkpoint_open(dir, &ck) == ST_NOT_FOUND && msg_has("\"zz\"", "model-00001-of-00002"));
    /* mapped to the wrong shard */
    write_index(dir, "{\"weight_map\":{\"a\":\"model-00002-of-00002.safetensors\","
                     "\"b\":\"model-00001-of-00002.safetensors\"}}");
    CHECK(checkpoint_open(dir, &ck) == ST_MISMATCH && msg_has("\"a\"", "model-00001-of-00002"));
    /* shard missing */
    write_index(dir, "{\"weight_map\":{\"a\":\"model-00009-of-00009.safetensors\"}}");
    CHECK(checkpoint_open(dir, &ck) == ST_NOT_FOUND && msg_has("model-00009-of-00009", "\"a\""));
    /* path escapes */
    write_index(dir, "{\"weight_map\":{\"a\":\"../x.safetensors\"}}");
    CHECK(checkpoint_open(dir, &ck) == ST_FORMAT && msg_has("\"a\"", "../x"));
    write_index(dir, "{\"weight_map\":{\"a\":\"/etc/passwd\"}}");
    CHECK(checkpoint_open(dir, &ck) == ST_FORMAT && msg_has("\"a\"", "plain file name"));
    write_index(dir, "{\"weight_map\":[]}");
    CHECK(checkpoint_open(dir, &ck) == ST_FORMAT && msg_has("index.json", "weight_map"));
    write_index(dir, "{\"weight_map\":");
    CHECK(checkpoint_open(dir, &ck) == ST_FORMAT && msg_has("index.json", NULL));
    /* a bad shard is validated and named */
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", dir);
    write_st(p, "{\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,12]}}", b, 12, 0);
    write_index(dir, "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\","
                     "\"b\":\"model-00002-of-00002.safetensors\"}}");
    CHECK(checkpoint_open(dir, &ck) == ST_FORMAT && msg_has("model-00002-of-00002", "\"b\""));
}

/* ================================================================ pickle / zip */

typedef struct { uint8_t b[4096]; size_t n; } bytes;
static void put(bytes *x, const void *p, size_t n) { memcpy(x->b + x->n, p, n); x->n += n; }
static void op(bytes *x, uint8_t o) { put(x, &o, 1); }
static void le(bytes *x, uint64_t v, int n) { for (int i = 0; i < n; i++) op(x, (uint8_t)(v >> 8 * i)); }
static void pstr(bytes *x, const char *s) { op(x, 'X'); le(x, strlen(s), 4); put(x, s, strlen(s)); }
static void pglobal(bytes *x, const char *m, const char *n) {
    op(x, 'c'); put(x, m, strlen(m)); op(x, '\n'); put(x, n, strlen(n)); op(x, '\n');
}

/* {"w": _rebuild_tensor_v2(('storage', FloatStorage, "0", "cpu", numel), off, (2,), (stride,), False, OrderedDict())} */
static void state_dict_pickle(bytes *x, int numel, int off, int stride) {
    x->n = 0;
    op(x, 0x80); op(x, 2); op(x, '}'); op(x, '(');
    pstr(x, "w");
    pglobal(x, "torch._utils", "_rebuild_tensor_v2");
    op(x, '('); op(x, '(');
    pstr(x, "storage"); pglobal(x, "torch", "FloatStorage"); pstr(x, "0"); pstr(x, "cpu");
    op(x, 'K'); op(x, (uint8_t)numel); op(x, 't'); op(x, 'Q');
    op(x, 'K'); op(x, (uint8_t)off);
    op(x, 'K'); op(x, 2); op(x, 0x85);
    op(x, 'K'); op(x, (uint8_t)stride); op(x, 0x85);
    op(x, 0x89);
    pglobal(x, "collections", "OrderedDict"); op(x, ')'); op(x, 'R');
    op(x, 't'); op(x, 'R'); op(x, 'u'); op(x, '.');
}

TEST(pickle_subset) {
    bytes x;
    pickle_tensor *t;
    size_t n;
    state_dict_pickle(&x, 3, 1, 1);
    CHECK(pickle_load_state_dict("mem.pkl", x.b, x.n, &t, &n) == ST_OK);
    if (n == 1) {
        CHECK(strcmp(t[0].name, "w") == 0 && strcmp(t[0].storage_key, "0") == 0);
        CHECK(t[0].dtype == DT_F32 && t[0].offset == 1 && t[0].ndim == 1 && t[0].shape[0] == 2);
        CHECK(t[0].storage_numel == 3);
    }
    pickle_tensors_free(t, n);
    /* out of its storage */
    state_dict_pickle(&x, 2, 1, 1);
    CHECK(pickle_load_state_dict("mem.pkl", x.b, x.n, &t, &n) == ST_FORMAT && msg_has("mem.pkl", "\"w\""));
    /* strided */
    state_dict_pickle(&x, 4, 0, 2);
    CHECK(pickle_load_state_dict("mem.pkl", x.b, x.n, &t, &n) == ST_UNSUPPORTED);
    CHECK(msg_has("\"w\"", "contiguous"));
    /* every truncation of a good pickle fails cleanly */
    state_dict_pickle(&x, 3, 1, 1);
    int ok = 0;
    for (size_t cut = 0; cut < x.n; cut++) {
        if (pickle_load_state_dict("mem.pkl", x.b, cut, &t, &n) == ST_OK) ok++, pickle_tensors_free(t, n);
    }
    CHECK(ok == 0);

    /* the classic exploit: os.system("...") */
    x.n = 0;
    op(&x, 0x80); op(&x, 2);
    pglobal(&x, "os", "system");
    pstr(&x, "echo pwned > /tmp/seer_pwned");
    op(&x, 0x85); op(&x, 'R'); op(&x, '.');
    CHECK(pickle_load_state_dict("evil.pkl", x.b, x.n, &t, &n) == ST_UNSUPPORTED);
    CHECK(msg_has("evil.pkl", "os.system"));
    x.n = 0; /* same through STACK_GLOBAL */
    op(&x, 0x80); op(&x, 4);
    op(&x, 0x8c); op(&x, 8); put(&x, "builtins", 8);
    op(&x, 0x8c); op(&x, 4); put(&x, "eval", 4);
    op(&x, 0x93); op(&x, '.');
    CHECK(pickle_load_state_dict("evil2.pkl", x.b, x.n, &t, &n) == ST_UNSUPPORTED);
    CHECK(msg_has("evil2.pkl", "builtins.eval"));
    /* an opcode outside the subset (INST) and a bad memo reference */
    x.n = 0;
    op(&x, 0x80); op(&x, 2); op(&x, 'i'); put(&x, "os\nsystem\n", 10);
    CHECK(pickle_load_state_dict("evil3.pkl", x.b, x.n, &t, &n) == ST_UNSUPPORTED && msg_has("0x69", NULL));
    x.n = 0;
    op(&x, 0x80); op(&x, 2); op(&x, 'h'); op(&x, 7); op(&x, '.');
    CHECK(pickle_load_state_dict("memo.pkl", x.b, x.n, &t, &n) == ST_FORMAT && msg_has("memo", NULL));
    /* one wrapper level: {"model": {"w": ...}} reads as "model.w"; a second level is refused */
    bytes y; /* the inner dict is y without PROTO and STOP */
    state_dict_pickle(&y, 3, 1, 1);
    x.n = 0;
    op(&x, 0x80); op(&x, 2); op(&x, '}'); op(&x, '('); pstr(&x, "model");
    put(&x, y.b + 2, y.n - 3);
    op(&x, 'u'); op(&x, '.');
    CHECK_MSG(pickle_load_state_dict("wrapped.pkl", x.b, x.n, &t, &n) == ST_OK, "%s", status_message());
    CHECK(n == 1 && strcmp(t[0].name, "model.w") == 0 && t[0].offset == 1 && t[0].shape[0] == 2);
    pickle_tensors_free(t, n);
    bytes z = {.n = 0};
    op(&z, 0x80); op(&z, 2); op(&z, '}'); op(&z, '('); pstr(&z, "outer");
    put(&z, x.b + 2, x.n - 3);
    op(&z, 'u'); op(&z, '.');
    CHECK(pickle_load_state_dict("deep.pkl", z.b, z.n, &t, &n) == ST_UNSUPPORTED &&
          msg_has("deep.pkl", "\"outer.model\""));
    /* a wrapper holding a non-tensor: named with its dotted key */
    x.n = 0;
    op(&x, 0x80); op(&x, 2); op(&x, '}'); op(&x, '('); pstr(&x, "model");
    op(&x, '}'); op(&x, '('); pstr(&x, "epoch"); op(&x, 'K'); op(&x, 3); op(&x, 'u');
    op(&x, 'u'); op(&x, '.');
    CHECK(pickle_load_state_dict("epoch.pkl", x.b, x.n, &t, &n) == ST_UNSUPPORTED &&
          msg_has("\"model.epoch\"", "int"));
    /* a dotted name that a wrapper also spells, and a repeated key: refused, never one picked */
    x.n = 0;
    op(&x, 0x80); op(&x, 2); op(&x, '}'); op(&x, '(');
    pstr(&x, "model.w"); put(&x, y.b + 10, y.n - 12); /* y's "w" value: after PROTO } ( X"w", before u . */
    pstr(&x, "model"); put(&x, y.b + 2, y.n - 3);
    op(&x, 'u'); op(&x, '.');
    CHECK(pickle_load_state_dict("clash.pkl", x.b, x.n, &t, &n) == ST_FORMAT && msg_has("clash.pkl", "\"model.w\""));
    x.n = 0;
    op(&x, 0x80); op(&x, 2); op(&x, '}'); op(&x, '(');
    pstr(&x, "w"); put(&x, y.b + 10, y.n - 12);
    pstr(&x, "w"); put(&x, y.b + 10, y.n - 12);
    op(&x, 'u'); op(&x, '.');
    CHECK(pickle_load_state_dict("dup.pkl", x.b, x.n, &t, &n) == ST_FORMAT && msg_has("dup.pkl", "two tensors"));
    /* not a dict at the top */
    x.n = 0;
    op(&x, 0x80); op(&x, 2); op(&x, ']'); op(&x, '.');
    CHECK(pickle_load_state_dict("list.pkl", x.b, x.n, &t, &n) == ST_UNSUPPORTED && msg_has("list", NULL));
}

typedef struct { const char *name; const void *data; size_t n; uint16_t method; } zfile;

/* A minimal ZIP writer (stored entries); zip64 puts sizes/offsets in ZIP64
 * extra fields and adds the ZIP64 EOCD record and locator. */
static void write_zip_n(const char *path, const zfile *f, int nf, int zip64, const size_t *nlens) {
    static uint8_t out[1 << 16];
    size_t n = 0, offs[16];
#define W(v, k) do { for (int i_ = 0; i_ < (k); i_++) out[n++] = (uint8_t)((uint64_t)(v) >> 8 * i_); } while (0)
    for (int i = 0; i < nf; i++) {
        offs[i] = n;
        size_t nl = nlens ? nlens[i] : strlen(f[i].name);
        W(0x04034b50, 4); W(20, 2); W(0, 2); W(f[i].method, 2); W(0, 4); W(0, 4);
        W(f[i].n, 4); W(f[i].n, 4); W(nl, 2); W(3, 2);
        memcpy(out + n, f[i].name, nl); n += nl;
        W(0xabcd, 2); out[n++] = 0; /* a bogus extra field (id 0xabcd, 0 bytes... +1 pad) */
        memcpy(out + n, f[i].data, f[i].n); n += f[i].n;
    }
    size_t cdoff = n;
    for (int i = 0; i < nf; i++) {
        size_t nl = nlens ? nlens[i] : strlen(f[i].name);
        W(0x02014b50, 4); W(45, 2); W(45, 2); W(0, 2); W(f[i].method, 2); W(0, 4); W(0, 4);
        W(zip64 ? 0xffffffffu : f[i].n, 4); W(zip64 ? 0xffffffffu : f[i].n, 4);
        W(nl, 2); W(zip64 ? 28 : 0, 2); W(0, 2); W(0, 2); W(0, 2); W(0, 4);
        W(zip64 ? 0xffffffffu : offs[i], 4);
        memcpy(out + n, f[i].name, nl); n += nl;
        if (zip64) { W(1, 2); W(24, 2); W(f[i].n, 8); W(f[i].n, 8); W(offs[i], 8); }
    }
    size_t cdsize = n - cdoff;
    if (zip64) {
        size_t z = n;
        W(0x06064b50, 4); W(44, 8); W(45, 2); W(45, 2); W(0, 4); W(0, 4);
        W(nf, 8); W(nf, 8); W(cdsize, 8); W(cdoff, 8);
        W(0x07064b50, 4); W(0, 4); W(z, 8); W(1, 4);
        W(0x06054b50, 4); W(0, 2); W(0, 2); W(0xffff, 2); W(0xffff, 2);
        W(0xffffffffu, 4); W(0xffffffffu, 4); W(5, 2);
    } else {
        W(0x06054b50, 4); W(0, 2); W(0, 2); W(nf, 2); W(nf, 2); W(cdsize, 4); W(cdoff, 4); W(5, 2);
    }
    memcpy(out + n, "hello", 5); n += 5; /* archive comment */
#undef W
    write_bytes(path, out, n);
}

/* Names are C strings. */
static void write_zip(const char *path, const zfile *f, int nf, int zip64) { write_zip_n(path, f, nf, zip64, NULL); }

TEST(zip_by_hand) {
    bytes x;
    float data[3] = {10, 20, 30};
    state_dict_pickle(&x, 3, 1, 1);
    for (int zip64 = 0; zip64 < 2; zip64++) {
        zfile f[] = {{"arch/data.pkl", x.b, x.n, 0}, {"arch/data/0", data, 12, 0}, {"arch/version", "3\n", 2, 0}};
        const char *p = tpath(zip64 ? "z64.bin" : "z32.bin");
        write_zip(p, f, 3, zip64);
        checkpoint *ck;
        CHECK_MSG(checkpoint_open_file(p, &ck) == ST_OK, "zip64=%d: %s", zip64, status_message());
        if (!ck) continue;
        float v[2];
        int64_t s[] = {2};
        CHECK(checkpoint_read_f32(ck, "w", 1, s, v) == ST_OK && v[0] == 20 && v[1] == 30);
        checkpoint_close(ck);
    }
    /* storage entry of the wrong size */
    zfile f1[] = {{"arch/data.pkl", x.b, x.n, 0}, {"arch/data/0", data, 8, 0}};
    write_zip(tpath("zsize.bin"), f1, 2, 0);
    expect_bad("zsize.bin", ST_FORMAT, "\"w\"");
    /* storage entry missing */
    zfile f2[] = {{"arch/data.pkl", x.b, x.n, 0}};
    write_zip(tpath("zmiss.bin"), f2, 1, 1);
    expect_bad("zmiss.bin", ST_FORMAT, "arch/data/0");
    /* a deflated entry */
    zfile f3[] = {{"arch/data.pkl", x.b, x.n, 0}, {"arch/data/0", data, 12, 8}};
    write_zip(tpath("zdefl.bin"), f3, 2, 0);
    expect_bad("zdefl.bin", ST_UNSUPPORTED, "compressed");
    /* no data.pkl */
    zfile f4[] = {{"arch/data/0", data, 12, 0}};
    write_zip(tpath("znopkl.bin"), f4, 1, 0);
    expect_bad("znopkl.bin", ST_FORMAT, "data.pkl");
    /* the exploit inside a real archive */
    x.n = 0;
    op(&x, 0x80); op(&x, 2); pglobal(&x, "os", "system"); pstr(&x, "id"); op(&x, 0x85); op(&x, 'R'); op(&x, '.');
    zfile f5[] = {{"arch/data.pkl", x.b, x.n, 0}};
    write_zip(tpath("zevil.bin"), f5, 1, 0);
    expect_bad("zevil.bin", ST_UNSUPPORTED, "os.system");
    /* truncations of a good archive never open */
    state_dict_pickle(&x, 3, 1, 1);
    zfile f6[] = {{"arch/data.pkl", x.b, x.n, 0}, {"arch/data/0", data, 12, 0}};
    write_zip(tpath("zfull.bin"), f6, 2, 1);
    uint8_t *buf;
    size_t len;
    FILE *fp = fopen(tpath("zfull.bin"), "rb");
    buf = malloc(1 << 16);
    len = fread(buf, 1, 1 << 16, fp);
    fclose(fp);
    int opened = 0;
    for (size_t cut = 0; cut < len; cut++) {
        ptzip *z;
        if (ptzip_parse("cut.bin", buf, cut, &z) == ST_OK) opened++, ptzip_close(z);
    }
    CHECK_MSG(opened == 0, "%d truncated archives opened", opened);
    free(buf);
}

/* ------------------------------------------------------- fuzzing regressions */

/* Peak resident memory since rss_reset(), in MB above the resident memory at
 * the reset; rss_reset fails when /proc cannot tell or under ASan (the
 * checks are then skipped; the Release run makes them). */
static long rss_field_kb(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t fl = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, fl)) v = atol(line + fl);
    if (f) fclose(f);
    return v;
}
static long rss_base_kb;
#if defined(__SANITIZE_ADDRESS__)
#define RSS_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RSS_UNDER_ASAN 1
#endif
#endif
static int rss_reset(void) {
#ifdef RSS_UNDER_ASAN
    return -1; /* ASan's quarantine keeps freed memory resident: the peak says nothing */
#endif
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return -1;
    int ok = fputs("5", f) >= 0;  /* 5: reset the peak (VmHWM) to the current RSS */
    if (fclose(f) || !ok) return -1;
    rss_base_kb = rss_field_kb("VmRSS:");
    return rss_base_kb < 0 ? -1 : 0;
}
static long rss_peak_mb(void) {
    long hwm = rss_field_kb("VmHWM:");
    return hwm < 0 ? -1 : (hwm - rss_base_kb) / 1024;
}

/* A ZIP entry name with a NUL byte ("a\0b/data.pkl"): the prefix "a\0b" could
 * not be spelled back to find the entry (a NULL dereference). */
TEST(zip_nul_in_name) {
    bytes x;
    float data[3] = {10, 20, 30};
    state_dict_pickle(&x, 3, 1, 1);
    zfile f[] = {{"a\0b/data.pkl", x.b, x.n, 0}, {"a/data/0", data, 12, 0}};
    size_t nl[] = {12, 8};
    write_zip_n(tpath("znul.bin"), f, 2, 0, nl);
    expect_bad("znul.bin", ST_FORMAT, "NUL");
}

/* MARK then TUPLE on an empty stack built the tuple from NULL + 0 (UBSan). */
TEST(pickle_empty_mark_tuple) {
    static const uint8_t p[] = {0x80, 2, '(', 't', '.'};
    pickle_tensor *t;
    size_t n;
    CHECK(pickle_load_state_dict("mt.pkl", p, sizeof p, &t, &n) == ST_UNSUPPORTED && msg_has("tuple", NULL));
    static const uint8_t q[] = {0x80, 2, '(', 't', 0x85, '.'};
    CHECK(pickle_load_state_dict("mt.pkl", q, sizeof q, &t, &n) == ST_UNSUPPORTED && msg_has("tuple", NULL));
}

/* 10 MB of EMPTY_TUPLE, POP made 4 M values of ~190 bytes each (~770 MB), and
 * 8 MB of TUPLE1 more (each tuple had room for 16 items); the interpreter now
 * keeps to PICKLE_MAX_BYTES_PER_BYTE per byte (values are 32 bytes, in slabs). */
TEST(pickle_memory_bound) {
    uint8_t *p = malloc(10u << 20);
    pickle_tensor *t;
    size_t n;
    for (int kind = 0; kind < 2; kind++) {
        size_t len = kind == 0 ? 10u << 20 : 8u << 20;
        for (size_t i = 0; i < len; i++) p[i] = kind == 0 ? (i % 2 ? '0' : ')') : 0x85;
        p[0] = 0x80, p[1] = 2, p[2] = 'K', p[3] = 1, p[len - 1] = '.';
        int measured = rss_reset() == 0;
        int rc = pickle_load_state_dict("big.pkl", p, len, &t, &n);
        long mb = rss_peak_mb();
        printf("  peak %ld MB\n", mb);
        CHECK_MSG(rc == ST_TOO_LARGE && msg_has("big.pkl", "objects"), "kind %d: %d %s", kind, rc, status_message());
        if (measured && mb >= 0) CHECK_MSG(mb < 400, "kind %d: peak %ld MB for a %zu MB pickle", kind, mb, len >> 20);
        else printf("  (peak memory not measured: under ASan, or no /proc/self/clear_refs)\n");
    }
    /* memo references: BINGET of one big string, appended many times */
    size_t len = 8u << 20;
    memset(p, 0, len);
    size_t k = 0;
    p[k++] = 0x80, p[k++] = 2, p[k++] = ']';
    p[k++] = 'X';
    uint32_t sl = 1u << 20;
    memcpy(p + k, &sl, 4), k += 4;
    memset(p + k, 'a', sl), k += sl;
    p[k++] = 'q', p[k++] = 0, p[k++] = 'a';
    while (k + 4 < len) p[k++] = 'h', p[k++] = 0, p[k++] = 'a';
    p[k++] = '.';
    CHECK(pickle_load_state_dict("memo.pkl", p, k, &t, &n) != ST_OK);
    free(p);
}

/* A 14 MB safetensors header took ~260 MB as one jansson tree (the 100 MB
 * cap allowed ~2 GB); entries are now parsed one at a time. Three shapes: a
 * huge entry, many metadata pairs, many small tensors. */
TEST(safetensors_memory_bound) {
    size_t cap = 15u << 20, n;
    char *h = malloc(cap);
    for (int kind = 0; kind < 3; kind++) {
        n = 0;
        if (kind == 0) {
            n += (size_t)sprintf(h + n, "{\"a\":{\"dtype\":\"F32\",\"shape\":[");
            while (n < (14u << 20)) h[n++] = '1', h[n++] = ',';
            n += (size_t)sprintf(h + n, "1],\"data_offsets\":[0,4]}}");
        } else if (kind == 1) {
            n += (size_t)sprintf(h + n, "{\"__metadata__\":{");
            for (int i = 0; n < (14u << 20); i++) n += (size_t)sprintf(h + n, "%s\"%x\":\"\"", i ? "," : "", i);
            n += (size_t)sprintf(h + n, "}}");
        } else {
            h[n++] = '{';
            for (int i = 0; n < (14u << 20); i++)
                n += (size_t)sprintf(h + n, "%s\"%x\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}",
                                     i ? "," : "", i);
            n += (size_t)sprintf(h + n, "}");
        }
        h[n] = 0;
        write_st(tpath("bighdr.safetensors"), h, "", 0, 0);
        int measured = rss_reset() == 0;
        checkpoint *ck = NULL;
        int rc = checkpoint_open_file(tpath("bighdr.safetensors"), &ck);
        long mb = rss_peak_mb();
        printf("  kind %d: %zu-byte header, rc %d, peak %ld MB\n", kind, n, rc, mb);
        CHECK_MSG(rc == (kind == 0 ? ST_FORMAT : ST_OK), "kind %d: %s", kind, status_message());
        if (kind == 1 && ck) CHECK(checkpoint_count(ck) == 0);
        if (measured && mb >= 0) CHECK_MSG(mb < 100, "kind %d: peak %ld MB for a 14 MB header", kind, mb);
        checkpoint_close(ck);
    }
    free(h);
}

/* ------------------------------------------------------- torch.save fixtures */

static void check_against(checkpoint *ck, json_t *exp, const char *what) {
    const char *name;
    json_t *e;
    json_object_foreach(exp, name, e) {
        json_t *js = json_object_get(e, "shape"), *jv = json_object_get(e, "values");
        int64_t shape[TENSOR_MAX_DIMS];
        int nd = (int)json_array_size(js);
        for (int i = 0; i < nd; i++) shape[i] = json_integer_value(json_array_get(js, i));
        const tensor *t;
        CHECK_MSG(checkpoint_get(ck, name, nd, shape, &t) == ST_OK, "%s: %s", what, status_message());
        if (!t) continue;
        dtype dt;
        dtype_parse(json_string_value(json_object_get(e, "dtype")), &dt);
        CHECK_MSG(t->dtype == dt, "%s: %s dtype %s", what, name, dtype_name(t->dtype));
        CHECK(t->numel == json_array_size(jv));
        float *v = malloc((t->numel + 1) * sizeof *v);
        if (dt == DT_I64) {
            for (size_t i = 0; i < t->numel; i++) {
                int64_t x;
                memcpy(&x, (const uint8_t *)t->data + 8 * i, 8);
                CHECK_MSG(x == (int64_t)json_number_value(json_array_get(jv, i)), "%s[%zu]", name, i);
            }
        } else {
            CHECK(tensor_to_f32(v, t->data, t->dtype, t->numel) == ST_OK);
            for (size_t i = 0; i < t->numel; i++)
                CHECK_MSG(v[i] == (float)json_number_value(json_array_get(jv, i)), "%s %s[%zu] = %g",
                          what, name, i, v[i]);
        }
        free(v);
    }
}

TEST(torch_fixtures) {
    char dir[1024], p[1200];
    snprintf(dir, sizeof dir, "%s/tests/data/ptzip", test_source());
    snprintf(p, sizeof p, "%s/expected.json", dir);
    json_error_t err;
    json_t *exp = json_load_file(p, 0, &err);
    CHECK_MSG(exp != NULL, "%s: %s", p, err.text);
    if (!exp) return;
    checkpoint *ck;
    snprintf(p, sizeof p, "%s/basic.bin", dir);
    CHECK_MSG(checkpoint_open_file(p, &ck) == ST_OK, "%s", status_message());
    if (ck) {
        CHECK(checkpoint_count(ck) == 9);
        CHECK(strcmp(checkpoint_at(ck, 0)->name, "f32") == 0); /* state-dict order */
        check_against(ck, json_object_get(exp, "basic.bin"), "basic.bin");
        const tensor *a = checkpoint_find(ck, "emb.weight"), *b = checkpoint_find(ck, "lm_head.weight");
        CHECK(a && b && a->data == b->data); /* tied weights share bytes */
        const tensor *s = checkpoint_find(ck, "scalar");
        CHECK(s && s->ndim == 0 && s->numel == 1);
        checkpoint_close(ck);
    }
    /* the pytorch_model.bin directory layout */
    char d2[600], l[700];
    snprintf(d2, sizeof d2, "%s/ptdir", tmpdir);
    mkdir(d2, 0755);
    snprintf(l, sizeof l, "%s/pytorch_model.bin", d2);
    CHECK(symlink(p, l) == 0);
    CHECK_MSG(checkpoint_open(d2, &ck) == ST_OK, "%s", status_message());
    if (ck) {
        CHECK(checkpoint_count(ck) == 9 && strcmp(checkpoint_path(ck), d2) == 0);
        checkpoint_close(ck);
    }
    snprintf(p, sizeof p, "%s/sharded", dir);
    CHECK_MSG(checkpoint_open(p, &ck) == ST_OK, "%s", status_message());
    if (ck) {
        CHECK(checkpoint_count(ck) == 3);
        check_against(ck, json_object_get(exp, "sharded"), "sharded");
        checkpoint_close(ck);
    }
    snprintf(p, sizeof p, "%s/noncontig.bin", dir);
    CHECK(checkpoint_open_file(p, &ck) == ST_UNSUPPORTED && msg_has("noncontig.bin", "\"t\""));
    CHECK(msg_has("stride [1, 3]", NULL));
    /* {"state_dict": {"w": ones(2)}}: the wrapped tensor under its dotted name */
    snprintf(p, sizeof p, "%s/nested.bin", dir);
    CHECK_MSG(checkpoint_open_file(p, &ck) == ST_OK, "%s", status_message());
    if (ck) {
        float w[2] = {0};
        CHECK(checkpoint_count(ck) == 1 && !checkpoint_find(ck, "w"));
        CHECK(checkpoint_read_f32(ck, "state_dict.w", 1, (int64_t[]){2}, w) == ST_OK && w[0] == 1 && w[1] == 1);
        checkpoint_close(ck);
    }
    snprintf(p, sizeof p, "%s/compressed.bin", dir);
    CHECK(checkpoint_open_file(p, &ck) == ST_UNSUPPORTED && msg_has("compressed.bin", "compressed"));
    json_decref(exp);
}

/* MiniGPT-4's released adaptor checkpoint shape, {"model": {query_tokens,
 * llama_proj.weight, llama_proj.bias, ln_vision.weight}}
 * (tests/reference/llama_vlm_ref.py): every tensor under "model.<name>", in
 * pickle order, with the same values as the flat adaptor.pth. */
TEST(ptzip_wrapped_minigpt4) {
    char p[4300], q[4300];
    snprintf(p, sizeof p, "%.4000s/tests/data/llama/adaptor_minigpt4.pth", test_source());
    snprintf(q, sizeof q, "%.4000s/tests/data/llama/adaptor.pth", test_source());
    checkpoint *ck = NULL, *flat = NULL;
    CHECK_MSG(checkpoint_open_file(p, &ck) == ST_OK, "%s", status_message());
    CHECK_MSG(checkpoint_open_file(q, &flat) == ST_OK, "%s", status_message());
    if (ck && flat) {
        const char *names[] = {"model.query_tokens", "model.llama_proj.weight", "model.llama_proj.bias",
                               "model.ln_vision.weight"};
        CHECK(checkpoint_count(ck) == 4);
        for (size_t i = 0; i < 4 && i < checkpoint_count(ck); i++)
            CHECK_MSG(strcmp(checkpoint_at(ck, i)->name, names[i]) == 0, "tensor %zu is %s", i, checkpoint_at(ck, i)->name);
        const tensor *t;
        CHECK(checkpoint_get(ck, "model.query_tokens", 3, (int64_t[]){1, 4, 16}, &t) == ST_OK && t->dtype == DT_F32);
        CHECK(checkpoint_get(ck, "model.ln_vision.weight", 1, (int64_t[]){16}, &t) == ST_OK && t->dtype == DT_F16);
        CHECK(!checkpoint_find(ck, "llama_proj.weight") && !checkpoint_find(ck, "model"));
        const char *pairs[][2] = {{"model.llama_proj.weight", "llama_proj.weight"},
                                  {"model.llama_proj.bias", "llama_proj.bias"}};
        for (int i = 0; i < 2; i++) {
            const tensor *a = checkpoint_find(ck, pairs[i][0]), *b = checkpoint_find(flat, pairs[i][1]);
            CHECK(a && b && a->dtype == DT_F32 && b->dtype == DT_F32 && a->numel == b->numel && a->ndim == b->ndim);
            if (a && b && a->numel == b->numel)
                CHECK_MSG(memcmp(a->data, b->data, a->numel * 4) == 0, "%s differs from the flat file", pairs[i][0]);
        }
    }
    checkpoint_close(ck);
    checkpoint_close(flat);
}

/* ------------------------------------------------------- CLIP checkpoints */

/* The bundled demo CLIP (models/demo/clip): an F16 CLIPModel safetensors. */
TEST(clip_demo) {
    char p[4300];
    snprintf(p, sizeof p, "%.4000s/models/demo/clip/model.safetensors", test_source());
    checkpoint *ck;
    CHECK_MSG(checkpoint_open_file(p, &ck) == ST_OK, "%s", status_message());
    if (!ck) return;
    const tensor *t;
    int64_t pe[] = {128, 3, 8, 8}, pos[] = {17, 128}, cls[] = {128}, proj[] = {64, 128}, tpos[] = {32, 128};
    CHECK(checkpoint_get(ck, "vision_model.embeddings.patch_embedding.weight", 4, pe, &t) == ST_OK &&
          t->dtype == DT_F16);
    CHECK(checkpoint_get(ck, "vision_model.embeddings.position_embedding.weight", 2, pos, &t) == ST_OK);
    CHECK(checkpoint_get(ck, "vision_model.embeddings.class_embedding", 1, cls, &t) == ST_OK);
    CHECK(checkpoint_get(ck, "visual_projection.weight", 2, proj, &t) == ST_OK);
    CHECK(checkpoint_get(ck, "text_model.embeddings.position_embedding.weight", 2, tpos, &t) == ST_OK);
    CHECK(checkpoint_get(ck, "visual_projection.weight", 2, pos, &t) != ST_OK); /* wrong shape refused */
    CHECK(checkpoint_get(ck, "logit_scale", 0, cls, &t) == ST_OK && t->numel == 1);
    if (t) {
        float ls;
        CHECK(tensor_to_f32(&ls, t->data, t->dtype, 1) == ST_OK && isfinite(ls));
    }
    checkpoint_close(ck);
    snprintf(p, sizeof p, "%.4000s/models/demo/clip", test_source());
    CHECK_MSG(checkpoint_open(p, &ck) == ST_OK, "%s", status_message());
    if (ck) checkpoint_close(ck);
}

/* ../shared's F32 and F16 fixtures, when present. */
TEST(clip_fixture) {
    const char *s = getenv("SEER_SHARED");
    char p[1024];
    snprintf(p, sizeof p, "%s/fixtures/clip/clip-tiny-b32/model.safetensors", s ? s : "");
    if (!s || !file_is_regular(p)) {
        printf("  (%s absent: not checked)\n", p);
        return;
    }
    checkpoint *ck;
    CHECK_MSG(checkpoint_open_file(p, &ck) == ST_OK, "%s", status_message());
    if (!ck) return;
    const tensor *t;
    int64_t pe[] = {128, 3, 32, 32}, pos[] = {50, 128}, cls[] = {128}, proj[] = {32, 128};
    CHECK(checkpoint_get(ck, "vision_model.embeddings.patch_embedding.weight", 4, pe, &t) == ST_OK);
    CHECK(checkpoint_get(ck, "vision_model.embeddings.position_embedding.weight", 2, pos, &t) == ST_OK);
    CHECK(checkpoint_get(ck, "vision_model.embeddings.class_embedding", 1, cls, &t) == ST_OK);
    CHECK(checkpoint_get(ck, "visual_projection.weight", 2, proj, &t) == ST_OK);
    CHECK(checkpoint_get(ck, "logit_scale", 0, cls, &t) == ST_OK && t->numel == 1);
    if (t) {
        float ls;
        CHECK(tensor_to_f32(&ls, t->data, t->dtype, 1) == ST_OK && isfinite(ls));
    }
    checkpoint_close(ck);
    /* the directory layout opens too */
    snprintf(p, sizeof p, "%s/fixtures/clip/clip-tiny-b32-f16", s);
    CHECK_MSG(checkpoint_open(p, &ck) == ST_OK, "%s", status_message());
    if (ck) {
        CHECK(checkpoint_get(ck, "vision_model.embeddings.patch_embedding.weight", 4, pe, &t) == ST_OK &&
              t->dtype == DT_F16);
        checkpoint_close(ck);
    }
}

/* ================================================================ main */

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) { return remove(p); }

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/seer_ckpt_XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    RUN(f16_edges);
    RUN(bf16_edges);
    RUN(bulk_conversion);
    RUN(safetensors_values);
    RUN(safetensors_dir_layout);
    RUN(safetensors_bad);
    RUN(safetensors_sharded);
    RUN(pickle_subset);
    RUN(zip_by_hand);
    RUN(torch_fixtures);
    RUN(ptzip_wrapped_minigpt4);
    RUN(clip_demo);
    RUN(zip_nul_in_name);
    RUN(pickle_empty_mark_tuple);
    RUN(pickle_memory_bound);
    RUN(safetensors_memory_bound);
    RUN(clip_fixture);
    nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return test_summary();
}
