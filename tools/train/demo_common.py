"""Shared pieces of the demo-model training tools (tools/train/):
data loading and caching, the captions, the CLIP tokenizer, the file writers.

Run everything with Debian's python3-torch (1.13, CPU), python3-pil,
python3-numpy and python3-regex: /usr/bin/python3.
"""
import csv
import json
import os
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))

import clip_tokenizer_ref  # noqa: E402  (the real CLIP BPE, plain Python)
import moe_llava_ref as R  # noqa: E402  (write_safetensors)

# The training and evaluation data: a folder holding cifar10/, flickr8k-1000/
# and coco-mini/ in the layout their READMEs give (SEER_TRAIN_DATA; where
# seer is developed, the data folder beside the repository).
SHARED = os.environ.get("SEER_TRAIN_DATA", os.environ.get("SEER_SHARED_DATA",
                        os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))))
CACHE = os.environ.get("SEER_TRAIN_CACHE", os.path.join(ROOT, "build", "train-cache"))
DEMO = os.path.join(ROOT, "models", "demo")
CLIP_DIR = os.path.join(DEMO, "clip")
CHAT_DIR = os.path.join(DEMO, "moe-llava")
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
# the word a sentence uses for a class ("an airplane", "a car")
ARTICLE = {c: ("an " if c[0] in "aeiou" else "a ") + c for c in CLASSES}
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
IMAGE = 32

TEMPLATES = [
    "a photo of {}.", "a blurry photo of {}.", "a low resolution photo of {}.", "a close-up photo of {}.",
    "a bright photo of {}.", "a dark photo of {}.", "a cropped photo of {}.", "a good photo of {}.",
    "a small photo of {}.", "a pixelated photo of {}.", "a jpeg photo of {}.", "a picture of {}.",
    "an image of {}.", "a photo of the {}.", "a photo of my {}.", "a photo of one {}.",
    "a snapshot of {}.", "{}.", "this is {}.", "there is {} in the picture.", "a tiny photo of {}.",
]


def template(t, cls):
    """Fill a template with "a horse" / "an airplane" (or "the horse" etc.)."""
    if "{}" in t and ("the {}" in t or "my {}" in t or "one {}" in t):
        return t.format(cls)
    return t.format(ARTICLE[cls])


def seeded_rng(seed):
    return np.random.RandomState(seed)


# ------------------------------------------------------------ images


def load_rgb(path):
    return Image.open(path).convert("RGB")


def hf_resize_crop(img, size):
    """CLIPImageProcessor: shortest side to size (bicubic), centre crop
    (floor offsets) -> uint8 (size, size, 3)."""
    w, h = img.size
    short, long_ = min(w, h), max(w, h)
    nl = int(size * long_ / short)
    new = (size, nl) if w <= h else (nl, size)
    if new != (w, h):
        img = img.resize(new, Image.BICUBIC, reducing_gap=None)
    w, h = img.size
    top, left = (h - size) // 2, (w - size) // 2
    return np.asarray(img.crop((left, top, left + size, top + size)), dtype=np.uint8)


def cifar(split, per_class=None):
    """(images uint8 (N,32,32,3), labels int64 (N,), file paths), cached."""
    os.makedirs(CACHE, exist_ok=True)
    tag = f"cifar-{split}" + (f"-{per_class}" if per_class else "")
    cache = os.path.join(CACHE, tag + ".npz")
    if os.path.exists(cache):
        z = np.load(cache, allow_pickle=False)
        return z["x"], z["y"], list(z["paths"])
    xs, ys, paths = [], [], []
    for k, c in enumerate(CLASSES):
        d = os.path.join(SHARED, "cifar10", split, c)
        files = sorted(os.listdir(d))
        if per_class:
            files = files[:per_class]
        for f in files:
            p = os.path.join(d, f)
            xs.append(np.asarray(load_rgb(p), dtype=np.uint8))
            ys.append(k)
            paths.append(os.path.relpath(p, SHARED))
    x, y = np.stack(xs), np.array(ys, dtype=np.int64)
    np.savez(cache, x=x, y=y, paths=np.array(paths))
    return x, y, paths


def captioned(size=36):
    """The captioned photos of flickr8k-1000 and coco-mini, resized (shortest
    side `size`, centre crop) -> (images uint8 (N,size,size,3), captions
    [list of str per image], names)."""
    os.makedirs(CACHE, exist_ok=True)
    cache = os.path.join(CACHE, f"captioned-{size}.npz")
    caps_cache = os.path.join(CACHE, f"captioned-{size}.json")
    if os.path.exists(cache) and os.path.exists(caps_cache):
        with open(caps_cache) as f:
            meta = json.load(f)
        return np.load(cache)["x"], meta["captions"], meta["names"]
    caps = {}
    with open(os.path.join(SHARED, "flickr8k-1000", "captions.csv"), newline="") as f:
        for row in csv.DictReader(f):
            caps.setdefault(("flickr8k-1000/images", row["image"]), []).append(row["caption"].strip())
    for split in ("val2017", "train2017"):
        with open(os.path.join(SHARED, "coco-mini", "annotations", f"captions_{split}.json")) as f:
            a = json.load(f)
        names = {im["id"]: im["file_name"] for im in a["images"]}
        for an in a["annotations"]:
            caps.setdefault((f"coco-mini/{split}", names[an["image_id"]]), []).append(an["caption"].strip())
    xs, captions, names = [], [], []
    for (d, n) in sorted(caps):
        p = os.path.join(SHARED, d, n)
        if not os.path.exists(p):
            continue
        xs.append(hf_resize_crop(load_rgb(p), size))
        captions.append(caps[(d, n)])
        names.append(f"{d}/{n}")
    x = np.stack(xs)
    np.savez(cache, x=x)
    with open(caps_cache, "w") as f:
        json.dump({"captions": captions, "names": names}, f)
    return x, captions, names


def normalise(x_uint8):
    """uint8 (N,H,W,3) -> float32 (N,3,H,W) as CLIPImageProcessor: x/255,
    then (x - mean) / std, in float32 like the processor."""
    a = x_uint8.astype(np.float32) * np.float32(0.00392156862745098)
    a = (a - np.array(CLIP_MEAN, dtype=np.float32)) / np.array(CLIP_STD, dtype=np.float32)
    return np.ascontiguousarray(a.transpose(0, 3, 1, 2))


# ------------------------------------------------------------ CLIP tokenizer


def clip_tokenizer():
    return clip_tokenizer_ref.Ref(os.path.join(SHARED, "..", "fixtures", "clip", "clip-tiny-b32")
                                  if not os.path.exists(os.path.join(CLIP_DIR, "vocab.json")) else CLIP_DIR)


def clean_caption(c):
    c = " ".join(c.split())
    return c.rstrip(" .") + "." if c else c


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def expand2square(img, bg):
    w, h = img.size
    if w == h:
        return img
    s = max(w, h)
    out = Image.new(img.mode, (s, s), bg)
    out.paste(img, (0, (s - h) // 2) if w > h else ((s - w) // 2, 0))
    return out


def captioned_padded(size=IMAGE):
    """The captioned photos as MoE-LLaVA (and seer chat) feed them to the
    tower: padded to a square with the mean colour (image_aspect_ratio
    "pad"), then resized + centre-cropped -> uint8 (N, size, size, 3)."""
    cache = os.path.join(CACHE, f"captioned-pad-{size}.npz")
    if os.path.exists(cache):
        return np.load(cache)["x"]
    _, _, names = captioned()
    bg = tuple(int(m * 255) for m in CLIP_MEAN)
    x = np.stack([hf_resize_crop(expand2square(load_rgb(os.path.join(SHARED, n)), bg), size) for n in names])
    np.savez(cache, x=x)
    return x


ST_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": None}


def read_safetensors(path):
    """name -> float32 numpy array (F32/F16/BF16)."""
    import struct
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in hdr.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        raw = data[a:b]
        if v["dtype"] == "BF16":
            arr = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, ST_DTYPES[v["dtype"]]).astype(np.float32)
        out[k] = arr.reshape(v["shape"])
    return out


def load_clip(d, vocab_ids=None):
    """The CLIP of a model directory as the torch model (weights as stored,
    widened to float32). vocab_ids: the rows to keep (default all)."""
    import torch
    from clip_model import CLIP
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    w = {k: torch.from_numpy(v.copy()) for k, v in read_safetensors(os.path.join(d, "model.safetensors")).items()}
    m = CLIP(cfg, vocab_ids or list(range(cfg["text_config"]["vocab_size"])))
    m.load_hf_state(w)
    m.eval()
    return m
