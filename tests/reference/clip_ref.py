#!/usr/bin/python3
"""Reference CLIP outputs for a committed model: tests/data/clip/golden.json.

What it mirrors (nothing here is copied, it is re-written from the upstream
semantics, see the notes at each step):
  - Hugging Face transformers `CLIPModel.forward` (models/clip/modeling_clip.py:
    CLIPVisionEmbeddings, CLIPTextEmbeddings, CLIPAttention, CLIPMLP,
    CLIPEncoderLayer, CLIPVisionTransformer with pre_layrnorm/post_layernorm,
    CLIPTextTransformer with the causal mask and pooling at the end token,
    visual_projection/text_projection, logit_scale) in plain PyTorch, since
    transformers is not installable here;
  - `CLIPImageProcessor` (resize the shortest side with PIL bicubic, the long
    side int(size * long / short), centre crop (H - size) // 2, rescale by
    1/255, normalise by the mean/std of preprocessor_config.json), and PIL's
    convert("RGB") (alpha dropped, grey and palette expanded);
  - openai/CLIP `simple_tokenizer.py` through tests/reference/clip_tokenizer_ref.py,
    truncated to the model's max_position_embeddings with the last id forced
    to the end token.
Float16 weights are widened to float32 and all math runs in float32 on the CPU.

The default model is the bundled demo CLIP (models/demo/clip: F16, 32 px,
patch 8, 4 + 4 layers, 32-token context), so the test needs no extra weights.
The inputs are small PNGs this script cuts from samples/larger (one RGB, one
RGBA with varying alpha, one greyscale, one palette image, all non-square so
resize and crop both act) plus two JPEGs of samples/ used as they are.

Usage (from the repository root; PyTorch 1.13 from Debian's python3-torch,
Pillow, numpy and regex from python3-pil, python3-numpy, python3-regex):
    python3 tests/reference/clip_ref.py [model dir] [out.json]
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_tokenizer_ref import Ref  # noqa: E402

INPUTS = "tests/data/clip/inputs"
JPEGS = ["samples/cifar10/cat/0000.jpg", "samples/larger/horse-and-ship-test0101-512x256.jpg"]
TEXTS = [
    "a photo of a cat",
    "a photo of a truck.",
    "Two horses and a ship at sea!",
    "an airplane",
    "a small red car parked next to a big green truck on a rainy day in the city while "
    "a dog and a cat watch from the window of a house with a blue door",
]


# ------------------------------------------------------------------ inputs
def make_inputs():
    """Cut the PNG inputs from samples/larger (deterministic given Pillow's decoder)."""
    os.makedirs(INPUTS, exist_ok=True)
    ship = Image.open("samples/larger/horse-and-ship-test0101-512x256.jpg").convert("RGB")
    truck = Image.open("samples/larger/cat-and-truck-test0101-512x256.jpg").convert("RGB")
    files = []
    im = ship.crop((300, 40, 361, 85))  # 61x45 RGB
    files.append(("rgb_61x45.png", im))
    im = truck.crop((10, 20, 50, 72)).convert("RGBA")  # 40x52, alpha ramps across
    a = np.array(im)
    a[..., 3] = (np.arange(40)[None, :] * 6 + np.arange(52)[:, None] * 2) % 256
    files.append(("rgba_40x52.png", Image.fromarray(a, "RGBA")))
    files.append(("grey_50x37.png", truck.crop((280, 100, 330, 137)).convert("L")))
    files.append(("palette_45x47.png", ship.crop((40, 150, 85, 197)).convert("P", palette=Image.ADAPTIVE, colors=32)))
    out = []
    for name, im in files:
        path = os.path.join(INPUTS, name)
        im.save(path, optimize=True)
        out.append(path)
    return out + JPEGS


def preprocess(path, cfg):
    crop = cfg["crop_size"]
    ch, cw = (crop["height"], crop["width"]) if isinstance(crop, dict) else (crop, crop)
    size = cfg["size"]
    short = size["shortest_edge"] if isinstance(size, dict) else size
    im = Image.open(path).convert("RGB")
    w, h = im.size
    if w <= h:
        nw, nh = short, int(short * h / w)
    else:
        nw, nh = int(short * w / h), short
    im = im.resize((nw, nh), Image.BICUBIC)
    top, left = (nh - ch) // 2, (nw - cw) // 2
    im = im.crop((left, top, left + cw, top + ch))
    x = torch.from_numpy(np.asarray(im, dtype=np.float32).copy()) * float(cfg.get("rescale_factor", 1 / 255))
    mean, std = torch.tensor(cfg["image_mean"]), torch.tensor(cfg["image_std"])
    x = (x - mean) / std
    return x.permute(2, 0, 1).contiguous()  # [3, H, W]


# ------------------------------------------------------------------ weights
def load_safetensors(path):
    """The safetensors format by hand: u64 header length, JSON header, raw data."""
    dtypes = {"F32": np.float32, "F16": np.float16}
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        blob = f.read()
    w = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] not in dtypes:
            continue
        a, b = info["data_offsets"]
        arr = np.frombuffer(blob[a:b], dtype=dtypes[info["dtype"]]).reshape(info["shape"])
        w[name] = torch.from_numpy(arr.astype(np.float32))
    return w


# ------------------------------------------------------------------ model
def act(x, name):
    if name == "quick_gelu":
        return x * torch.sigmoid(1.702 * x)
    if name == "gelu":
        return torch.nn.functional.gelu(x)
    raise ValueError(name)


def layer_norm(x, w, p, eps):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w[p + ".weight"], w[p + ".bias"], eps)


def linear(x, w, p, bias=True):
    y = x @ w[p + ".weight"].t()
    return y + w[p + ".bias"] if bias else y


def encoder(x, w, p, cfg, mask=None):
    """CLIPEncoder: returns the list hidden_states (input, then after each layer)."""
    heads, eps = cfg["num_attention_heads"], cfg["layer_norm_eps"]
    B, T, D = x.shape
    hd = D // heads
    states = [x]
    for i in range(cfg["num_hidden_layers"]):
        q = f"{p}.layers.{i}"
        h = layer_norm(x, w, q + ".layer_norm1", eps)
        qq = linear(h, w, q + ".self_attn.q_proj") * hd ** -0.5
        kk = linear(h, w, q + ".self_attn.k_proj")
        vv = linear(h, w, q + ".self_attn.v_proj")
        qq, kk, vv = (t.view(B, T, heads, hd).transpose(1, 2) for t in (qq, kk, vv))
        s = qq @ kk.transpose(-1, -2)
        if mask is not None:
            s = s + mask
        o = (torch.softmax(s, dim=-1) @ vv).transpose(1, 2).reshape(B, T, D)
        x = x + linear(o, w, q + ".self_attn.out_proj")
        h = layer_norm(x, w, q + ".layer_norm2", eps)
        x = x + linear(act(linear(h, w, q + ".mlp.fc1"), cfg["hidden_act"]), w, q + ".mlp.fc2")
        states.append(x)
    return states


def vision(pix, w, cfg):
    p = "vision_model"
    ps = cfg["patch_size"]
    x = torch.nn.functional.conv2d(pix, w[p + ".embeddings.patch_embedding.weight"], stride=ps)
    x = x.flatten(2).transpose(1, 2)  # [B, N, D]
    cls = w[p + ".embeddings.class_embedding"].expand(x.shape[0], 1, -1)
    x = torch.cat([cls, x], dim=1) + w[p + ".embeddings.position_embedding.weight"]
    x = layer_norm(x, w, p + ".pre_layrnorm", cfg["layer_norm_eps"])
    states = encoder(x, w, p + ".encoder", cfg)
    pooled = layer_norm(states[-1][:, 0], w, p + ".post_layernorm", cfg["layer_norm_eps"])
    return linear(pooled, w, "visual_projection", bias=False), states


def text(ids, w, cfg):
    p = "text_model"
    t = torch.tensor([ids])
    T = t.shape[1]
    x = w[p + ".embeddings.token_embedding.weight"][t] + w[p + ".embeddings.position_embedding.weight"][:T]
    mask = torch.full((T, T), float("-inf")).triu(1)
    states = encoder(x, w, p + ".encoder", cfg, mask)
    h = layer_norm(states[-1], w, p + ".final_layer_norm", cfg["layer_norm_eps"])
    eos = cfg.get("eos_token_id", 49407)
    pos = ids.index(eos) if eos in ids else int(t.argmax())
    return linear(h[:, pos], w, "text_projection", bias=False)


def unit(v):
    return v / v.norm(dim=-1, keepdim=True)


def main():
    model = sys.argv[1] if len(sys.argv) > 1 else "models/demo/clip"
    out = sys.argv[2] if len(sys.argv) > 2 else "tests/data/clip/golden.json"
    torch.set_num_threads(1)
    cfg = json.load(open(os.path.join(model, "config.json")))
    pcfg = json.load(open(os.path.join(model, "preprocessor_config.json")))
    vc, tc = cfg["vision_config"], cfg["text_config"]
    w = load_safetensors(os.path.join(model, "model.safetensors"))
    tok = Ref(model)
    images = []
    with torch.no_grad():
        img_emb = []
        for i, path in enumerate(make_inputs()):
            x = preprocess(path, pcfg)
            e, states = vision(x[None], w, vc)
            e = unit(e)[0]
            img_emb.append(e)
            rec = {
                "file": path,
                "pixel_sum": float(x.double().sum()),
                "pixel_abs_sum": float(x.double().abs().sum()),
                "pixel_first8": [float(v) for v in x.flatten()[:8]],
                "embedding": [float(v) for v in e],
            }
            if i == 0:
                pen = states[-2][0, 1:]  # hidden_states[-2], CLS row dropped
                rec["penultimate_patch_shape"] = list(pen.shape)
                rec["penultimate_patch_rows0_2"] = [[float(v) for v in r] for r in pen[:3]]
                rec["penultimate_patch_sum"] = float(pen.double().sum())
            images.append(rec)
        texts, txt_emb = [], []
        for s in TEXTS:
            ids = tok.encode(s, context=tc["max_position_embeddings"])
            e = unit(text(ids, w, tc))[0]
            txt_emb.append(e)
            texts.append({"text": s, "ids": ids, "embedding": [float(v) for v in e]})
        scale = math.exp(float(w["logit_scale"]))
        logits = scale * torch.stack(img_emb) @ torch.stack(txt_emb).t()
    golden = {
        "generator": "tests/reference/clip_ref.py (plain-PyTorch HF CLIPModel forward, torch %s)" % torch.__version__,
        "model": model,
        "dtype": cfg.get("torch_dtype", "float32"),
        "images": images,
        "texts": texts,
        "logits_per_image": [[float(v) for v in r] for r in logits],
    }
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")
    print(f"{out}: {len(images)} images, {len(texts)} texts")


if __name__ == "__main__":
    main()
