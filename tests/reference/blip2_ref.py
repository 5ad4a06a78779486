#!/usr/bin/python3
"""A tiny random BLIP-2 retrieval checkpoint and its reference outputs:
tests/data/blip2-tiny/ (weights, configs, vocab.txt) and its golden.json.

What it mirrors (re-written from the upstream semantics, nothing copied):
  - transformers `Blip2ForImageTextRetrieval` (models/blip_2/modeling_blip_2.py,
    v4.47): Blip2VisionEmbeddings (biased patch conv, class token, position
    parameter, no pre-LN), Blip2Attention (fused qkv weight and bias, the key
    third of the bias zero), Blip2EncoderLayer (pre-LN, erf GELU MLP),
    post_layernorm; Blip2QFormerModel (layernorm on the input rows),
    Blip2QFormerLayer (post-LN BERT self-attention, cross-attention every
    cross_attention_frequency layers for the query rows only, *_query
    feed-forward for query rows and the plain one for text rows),
    Blip2TextEmbeddings (word + absolute positions from 0, no token types);
    the retrieval heads: image_feats = normalize(vision_projection(Z)),
    text_feat = normalize(text_projection([CLS] of the text-only pass)),
    ITC = max over queries, ITM = mean over the query rows of itm_head on the
    joint [queries; text] pass;
  - `BertTokenizer` (slow, tokenization_bert.py + PreTrainedTokenizer.tokenize):
    per-character lower-casing outside the special tokens, split on special
    tokens, BasicTokenizer (_clean_text, CJK spacing, NFC, whitespace split,
    lower + NFD accent strip, punctuation split), WordpieceTokenizer (greedy
    longest match, "##", [UNK] past 100 characters), [CLS] ... [SEP] and
    right truncation to 35 ids (LAVIS retrieval max_length);
  - `BlipImageProcessor`: PIL convert("RGB"), PIL bicubic resize to
    size.height x size.width (no crop), x * (1/255) in float64 rounded to
    float32, (x - mean) / std in float32.
The model math runs in float64 on the float32 weights.

The vocabulary is a small one of this script's own (the real bert-base-uncased
vocab.txt is not in the repository), so ids differ from upstream's but the
algorithm is the same. Geometry: 28 px, patch 14 (4 patches + CLS), vision
width 24 (2 heads, MLP 48, 2 layers); Q-Former width 16 (2 heads, FFN 32,
3 layers, cross-attention in layers 0 and 2), 4 queries, ITC 8.

Usage (repository root; Debian's python3-torch 1.13, python3-pil, python3-numpy):
    /usr/bin/python3 tests/reference/blip2_ref.py
"""
import json
import math
import os
import struct
import unicodedata

import numpy as np
import torch
from PIL import Image

OUT = "tests/data/blip2-tiny"
IMAGES = [
    "tests/data/clip/inputs/rgb_61x45.png",
    "tests/data/clip/inputs/rgba_40x52.png",
    "tests/data/clip/inputs/grey_50x37.png",
    "tests/data/clip/inputs/palette_45x47.png",
    "samples/cifar10/cat/0000.jpg",
]
TEXTS = [
    "a photo of a cat",
    "Two horses and a ship at sea!",
    "a red truck on the road",
    "the cat sat on the mat and the dog sat on the log and the bird sat on the tree "
    "and the fish swam in the sea under the ship with two horses",
]
TOKENIZER_TEXTS = TEXTS + [
    "Café RÉSUMÉ naïve",
    "e\u0301 and \u00e9",
    "\u4e2d\u56fd\u4eba like tea",
    "cat \U0001F431 dog",
    "a\x07b\u200bc\ufffd\x1fd\te\nf\r\x85g",
    "[CLS] the [SEP] [MASK] [DEC] [cls]",
    "don't stop!!",
    "unaffable unhappy",
    "\u0130stanbul \u03a3\u039f\u03a3",
    "x" * 120,
    "line\u2028break\u00a0nbsp\u3000ideo",
    "\u00bd \u2460 \uff21\uff22",
    "",
]
MAX_LEN = 35

# ------------------------------------------------------------- vocabulary

WORDS = ("a photo of cat dog the two horse and ship at sea red truck on road sat mat bird tree fish swam in "
         "under with like tea stop don t un happy cafe resume naive e line break nbsp ideo istanbul x "
         "aff able σοσ").split()
PIECES = ["##s", "##able", "##aff", "##happy", "##ing", "##x", "##xx", "##xxx", "##o", "##b", "##e"]


def make_vocab():
    v = ["[PAD]", "[unused0]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    v += list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
    v += [str(d) for d in range(10)]
    v += [chr(c) for c in range(ord("a"), ord("z") + 1)]
    v += ["##" + chr(c) for c in range(ord("a"), ord("z") + 1)]
    v += ["\u4e2d", "\u56fd", "\u4eba", "\u3131", "\u1100", "\u00bd", "1", "##2"]
    for w in WORDS + PIECES:
        if w not in v:
            v.append(w)
    v.append("cls")
    return v


# -------------------------------------------------------------- tokenizer

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def is_control(ch):
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch).startswith("C")


def is_whitespace(ch):
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def is_punct(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def is_cjk(cp):
    return any(a <= cp <= b for a, b in [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF),
                                         (0x2A700, 0x2B73F), (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF),
                                         (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)])


def split_specials(text):
    """Lower every character outside the special tokens, then split on them."""
    out, cur, i = [], "", 0
    while i < len(text):
        m = next((s for s in SPECIALS if text.startswith(s, i)), None)
        if m:
            if cur:
                out.append((cur, False))
            out.append((m, True))
            cur = ""
            i += len(m)
        else:
            cur += text[i].lower()
            i += 1
    if cur:
        out.append((cur, False))
    return out


def basic(text):
    text = "".join(" " if is_whitespace(c) else c for c in text
                   if not (ord(c) == 0 or ord(c) == 0xFFFD or is_control(c)))
    text = "".join(" %s " % c if is_cjk(ord(c)) else c for c in text)
    text = unicodedata.normalize("NFC", text)
    words = []
    for tok in text.strip().split():
        tok = tok.lower()
        tok = "".join(c for c in unicodedata.normalize("NFD", tok) if unicodedata.category(c) != "Mn")
        cur = ""
        for c in tok:
            if is_punct(c):
                if cur:
                    words.append(cur)
                words.append(c)
                cur = ""
            else:
                cur += c
        if cur:
            words.append(cur)
    return " ".join(words).strip().split()


def wordpiece(word, vocab):
    if len(word) > 100:
        return ["[UNK]"]
    out, start = [], 0
    while start < len(word):
        end, cur = len(word), None
        while start < end:
            s = word[start:end]
            if start > 0:
                s = "##" + s
            if s in vocab:
                cur = s
                break
            end -= 1
        if cur is None:
            return ["[UNK]"]
        out.append(cur)
        start = end
    return out


def tokenize(text, vocab):
    toks = []
    for seg, special in split_specials(text):
        if special:
            toks.append(seg)
        else:
            for w in basic(seg):
                toks += wordpiece(w, vocab)
    return toks


def encode(text, vocab, max_len=None):
    toks = tokenize(text, vocab)
    ids = [vocab[t] for t in toks]
    if max_len is not None:
        ids = ids[:max_len - 2]
    return toks, [vocab["[CLS]"]] + ids + [vocab["[SEP]"]]


# ------------------------------------------------------------ image input

MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]


def preprocess(path, size):
    im = Image.open(path).convert("RGB").resize((size, size), Image.BICUBIC)
    x = (np.asarray(im).astype(np.float64) * (1 / 255)).astype(np.float32)
    x = (x - np.array(MEAN, dtype=np.float32)) / np.array(STD, dtype=np.float32)
    return x.transpose(2, 0, 1).copy()


# ------------------------------------------------------------------ model

CFG = dict(image=28, patch=14, dv=24, hv=2, iv=48, lv=2, dq=16, hq=2, iq=32, lq=3, freq=2, nq=4, embed=8,
           npos=64)


def make_weights(vocab_size, g):
    rng = np.random.default_rng(1502)
    w = {}

    def mat(name, o, i):
        w[name + ".weight"] = rng.normal(0, 1 / math.sqrt(i), (o, i))
        w[name + ".bias"] = rng.normal(0, 0.1, (o,))

    def ln(name, d):
        w[name + ".weight"] = 1 + rng.uniform(-0.2, 0.2, (d,))
        w[name + ".bias"] = rng.normal(0, 0.1, (d,))

    dv, P, T = g["dv"], g["patch"], (g["image"] // g["patch"]) ** 2 + 1
    w["vision_model.embeddings.class_embedding"] = rng.normal(0, 0.5, (1, 1, dv))
    w["vision_model.embeddings.patch_embedding.weight"] = rng.normal(0, 1 / math.sqrt(3 * P * P), (dv, 3, P, P))
    w["vision_model.embeddings.patch_embedding.bias"] = rng.normal(0, 0.1, (dv,))
    w["vision_model.embeddings.position_embedding"] = rng.normal(0, 0.5, (1, T, dv))
    for i in range(g["lv"]):
        p = "vision_model.encoder.layers.%d." % i
        ln(p + "layer_norm1", dv)
        mat(p + "self_attn.qkv", 3 * dv, dv)
        w[p + "self_attn.qkv.bias"][dv:2 * dv] = 0  # EVA: q_bias, zeros, v_bias
        mat(p + "self_attn.projection", dv, dv)
        ln(p + "layer_norm2", dv)
        mat(p + "mlp.fc1", g["iv"], dv)
        mat(p + "mlp.fc2", dv, g["iv"])
    ln("vision_model.post_layernorm", dv)
    dq = g["dq"]
    w["query_tokens"] = rng.normal(0, 0.5, (1, g["nq"], dq))
    ln("qformer.layernorm", dq)
    for i in range(g["lq"]):
        p = "qformer.encoder.layer.%d." % i
        for sub, kv in [("attention", dq)] + ([("crossattention", dv)] if i % g["freq"] == 0 else []):
            mat(p + sub + ".attention.query", dq, dq)
            mat(p + sub + ".attention.key", dq, kv)
            mat(p + sub + ".attention.value", dq, kv)
            mat(p + sub + ".output.dense", dq, dq)
            ln(p + sub + ".output.LayerNorm", dq)
        for suf in ["", "_query"]:
            mat(p + "intermediate" + suf + ".dense", g["iq"], dq)
            mat(p + "output" + suf + ".dense", dq, g["iq"])
            ln(p + "output" + suf + ".LayerNorm", dq)
    w["embeddings.word_embeddings.weight"] = rng.normal(0, 0.5, (vocab_size, dq))
    w["embeddings.position_embeddings.weight"] = rng.normal(0, 0.5, (g["npos"], dq))
    mat("vision_projection", g["embed"], dq)
    mat("text_projection", g["embed"], dq)
    mat("itm_head", 2, dq)
    # the checkpoint holds float32; the reference computes on exactly those values
    return {k: torch.tensor(v.astype(np.float32)).double() for k, v in w.items()}


def layer_norm(x, w, p, eps):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w[p + ".weight"], w[p + ".bias"], eps)


def linear(x, w, p):
    return x @ w[p + ".weight"].T + w[p + ".bias"]


def gelu(x):
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def heads_attn(q, k, v, H):
    B, Tq, D = q.shape
    dh = D // H
    q = q.view(B, Tq, H, dh).transpose(1, 2)
    k = k.view(B, k.shape[1], H, dh).transpose(1, 2)
    v = v.view(B, v.shape[1], H, dh).transpose(1, 2)
    a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), dim=-1)
    return (a @ v).transpose(1, 2).reshape(B, Tq, D)


def vision(pix, w, g):
    P, D = g["patch"], g["dv"]
    x = torch.nn.functional.conv2d(pix, w["vision_model.embeddings.patch_embedding.weight"],
                                   w["vision_model.embeddings.patch_embedding.bias"], stride=P)
    x = x.flatten(2).transpose(1, 2)
    cls = w["vision_model.embeddings.class_embedding"].expand(x.shape[0], 1, D)
    x = torch.cat([cls, x], 1) + w["vision_model.embeddings.position_embedding"]
    for i in range(g["lv"]):
        p = "vision_model.encoder.layers.%d." % i
        qkv = linear(layer_norm(x, w, p + "layer_norm1", 1e-6), w, p + "self_attn.qkv")
        x = x + linear(heads_attn(qkv[..., :D], qkv[..., D:2 * D], qkv[..., 2 * D:], g["hv"]), w,
                       p + "self_attn.projection")
        h = layer_norm(x, w, p + "layer_norm2", 1e-6)
        x = x + linear(gelu(linear(h, w, p + "mlp.fc1")), w, p + "mlp.fc2")
    return layer_norm(x, w, "vision_model.post_layernorm", 1e-6)


def qformer(x, nq, img, w, g):
    eps = 1e-12
    x = layer_norm(x, w, "qformer.layernorm", eps)
    for i in range(g["lq"]):
        p = "qformer.encoder.layer.%d." % i

        def attn(sub, xq, kv):
            a = heads_attn(linear(xq, w, p + sub + ".attention.query"), linear(kv, w, p + sub + ".attention.key"),
                           linear(kv, w, p + sub + ".attention.value"), g["hq"])
            return layer_norm(linear(a, w, p + sub + ".output.dense") + xq, w, p + sub + ".output.LayerNorm", eps)

        def ffn(suf, h):
            f = linear(gelu(linear(h, w, p + "intermediate" + suf + ".dense")), w, p + "output" + suf + ".dense")
            return layer_norm(f + h, w, p + "output" + suf + ".LayerNorm", eps)

        x = attn("attention", x, x)
        parts = []
        if nq > 0:
            xq = x[:, :nq]
            if i % g["freq"] == 0 and img is not None:
                xq = attn("crossattention", xq, img)
            parts.append(ffn("_query", xq))
        if x.shape[1] > nq:
            parts.append(ffn("", x[:, nq:]))
        x = torch.cat(parts, 1)
    return x


def text_embed(ids, w):
    t = torch.tensor(ids)
    return (w["embeddings.word_embeddings.weight"][t] + w["embeddings.position_embeddings.weight"][:len(ids)])[None]


def unit(x):
    return x / x.norm(dim=-1, keepdim=True)


# ------------------------------------------------------------------ files

def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for k in sorted(tensors):
        a = tensors[k].float().numpy().astype("<f4")
        header[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def write_configs(g, vocab_size):
    config = {
        "architectures": ["Blip2ForImageTextRetrieval"], "model_type": "blip-2",
        "num_query_tokens": g["nq"], "image_text_hidden_size": g["embed"],
        "qformer_config": {"model_type": "blip_2_qformer", "vocab_size": vocab_size, "hidden_size": g["dq"],
                           "num_hidden_layers": g["lq"], "num_attention_heads": g["hq"],
                           "intermediate_size": g["iq"], "max_position_embeddings": g["npos"],
                           "cross_attention_frequency": g["freq"], "encoder_hidden_size": g["dv"],
                           "use_qformer_text_input": True},
        # hidden_act and layer_norm_eps left out: the loader's defaults apply, as for the hub config
        "vision_config": {"model_type": "blip_2_vision_model", "hidden_size": g["dv"],
                          "intermediate_size": g["iv"], "num_hidden_layers": g["lv"],
                          "num_attention_heads": g["hv"], "image_size": g["image"], "patch_size": g["patch"]},
        "text_config": {"model_type": "opt"}, "torch_dtype": "float32",
    }
    pre = {"do_convert_rgb": True, "do_normalize": True, "do_rescale": True, "do_resize": True,
           "image_mean": MEAN, "image_std": STD, "image_processor_type": "BlipImageProcessor",
           "processor_class": "Blip2Processor", "resample": 3, "rescale_factor": 1 / 255,
           "size": {"height": g["image"], "width": g["image"]}}
    tok = {"tokenizer_class": "BertTokenizer", "do_lower_case": True, "strip_accents": None,
           "tokenize_chinese_chars": True, "model_max_length": 512,
           "added_tokens_decoder": {str(vocab_size - 1): {"content": "[DEC]", "lstrip": True, "rstrip": True,
                                                          "normalized": False, "special": True,
                                                          "single_word": False}}}
    for name, obj in [("config.json", config), ("preprocessor_config.json", pre), ("tokenizer_config.json", tok)]:
        with open(os.path.join(OUT, name), "w") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")


def rows(t):
    return [[float(v) for v in r] for r in t]


def main():
    g = CFG
    os.makedirs(OUT, exist_ok=True)
    vlist = make_vocab()
    vocab = {t: i for i, t in enumerate(vlist)}
    with open(os.path.join(OUT, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in vlist))
    vocab_size = len(vlist) + 1  # + the added [DEC], as bert-base-uncased + [DEC]
    w = make_weights(vocab_size, g)
    write_safetensors(os.path.join(OUT, "model.safetensors"), w)
    write_configs(g, vocab_size)

    golden = {"model": "blip2-tiny", "dtype": "F32", "max_text_length": MAX_LEN,
              "reference": "tests/reference/blip2_ref.py (float64)", "images": [], "texts": [], "tokenizer": []}
    img_rows, feats = [], []
    with torch.no_grad():
        for path in IMAGES:
            px = preprocess(path, g["image"])
            v = vision(torch.tensor(px).double()[None], w, g)
            z = qformer(w["query_tokens"], g["nq"], v, w, g)[0]
            f = unit(linear(z, w, "vision_projection"))
            img_rows.append(v)
            feats.append(f)
            golden["images"].append({
                "file": path, "pixel_sum": float(px.astype(np.float64).sum()),
                "pixel_abs_sum": float(np.abs(px.astype(np.float64)).sum()),
                "pixel_first8": [float(a) for a in px.reshape(-1)[:8]],
                "vision_last_hidden_shape": list(v.shape[1:]), "vision_last_hidden_sum": float(v.sum()),
                "vision_last_hidden_rows0_2": rows(v[0, :2]), "query_output": rows(z), "image_feats": rows(f)})
        tfeats, tids = [], []
        for text in TEXTS:
            _, full = encode(text, vocab)
            _, ids = encode(text, vocab, MAX_LEN)
            h = qformer(text_embed(ids, w), 0, None, w, g)[0, 0]
            tf = unit(linear(h, w, "text_projection"))
            tfeats.append(tf)
            tids.append(ids)
            golden["texts"].append({"text": text, "ids": ids, "n_ids_untruncated": len(full),
                                    "text_cls_hidden": [float(a) for a in h], "text_feat": [float(a) for a in tf]})
        for text in TOKENIZER_TEXTS:
            toks, ids = encode(text, vocab)
            golden["tokenizer"].append({"text": text, "tokens": toks, "ids": ids})
        golden["itc"] = [[float((f @ t).max()) for t in tfeats] for f in feats]
        itm = []
        for v in img_rows:
            r = []
            for ids in tids:
                x = torch.cat([w["query_tokens"], text_embed(ids, w)], 1)
                out = qformer(x, g["nq"], v, w, g)[0, :g["nq"]]
                r.append([float(a) for a in linear(out, w, "itm_head").mean(0)])
            itm.append(r)
        golden["itm_logits"] = itm
        golden["itm_prob"] = [[float(torch.softmax(torch.tensor(lg), 0)[1]) for lg in r] for r in itm]
    with open(os.path.join(OUT, "golden.json"), "w") as f:
        json.dump(golden, f, indent=1, ensure_ascii=True)
        f.write("\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
