#!/usr/bin/python3
"""Write the tiny PyTorch zip checkpoints that tests/test_checkpoint.c reads.

Each file is exactly what `torch.save(state_dict, path)` writes (the zip
format, stored entries, pickle protocol 2), i.e. what Hugging Face
`pytorch_model.bin` files are. Run with Debian's python3-torch:

    /usr/bin/python3 tests/reference/make_ptzip_fixtures.py

Outputs, in tests/data/ptzip/ (a few KB in all; committed):
  basic.bin          F32 / F16 / BF16 / I64 tensors, a 0-dim scalar, a tied
                     weight (one tensor under two names), a view into a shared
                     storage at an offset, an nn.Parameter
  noncontig.bin      a transposed (non-contiguous) tensor, saved with its
                     stride: the loader must refuse it
  nested.bin         {"state_dict": {"w": ...}}: a wrapped state dict, read as
                     "state_dict.w"
  compressed.bin     basic.bin re-zipped with deflate: refused (not mappable)
  sharded/           pytorch_model-0000{1,2}-of-00002.bin + index json
  expected.json      name -> {dtype, shape, values (flattened, as float)}
"""
import json
import os
import zipfile

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "ptzip")
DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}


def expected(sd):
    return {k: {"dtype": DTYPES[v.dtype], "shape": list(v.shape),
                "values": [float(x) for x in v.detach().reshape(-1).to(torch.float64).tolist()]}
            for k, v in sd.items()}


def main():
    os.makedirs(os.path.join(OUT, "sharded"), exist_ok=True)
    exp = {}

    tied = torch.tensor([[0.5, -1.25], [3.0, 1e-3]])
    base = torch.arange(10, dtype=torch.float32) * 0.5
    basic = {
        "f32": torch.tensor([[1.0, -2.0, 3.5], [0.25, 1e-8, -65504.0]]),
        "f16": torch.tensor([1.0, -0.5, 65504.0, 6e-8], dtype=torch.float16),  # max, subnormal
        "bf16": torch.tensor([1.0, -3.140625, 1e30], dtype=torch.bfloat16),
        "i64": torch.tensor([0, -1, 2**40, 7, 42], dtype=torch.int64),
        "scalar": torch.tensor(2.5),                      # 0-dim, e.g. logit_scale
        "emb.weight": tied,                               # tied: same tensor object twice
        "lm_head.weight": tied,
        "view": base[4:8],                                # storage offset 4 of a 10-element storage
        "param": torch.nn.Parameter(torch.tensor([7.0, 8.0])),
    }
    torch.save(basic, os.path.join(OUT, "basic.bin"))
    exp["basic.bin"] = expected(basic)

    torch.save({"t": torch.arange(6, dtype=torch.float32).reshape(2, 3).t()},
               os.path.join(OUT, "noncontig.bin"))
    torch.save({"state_dict": {"w": torch.ones(2)}}, os.path.join(OUT, "nested.bin"))

    with zipfile.ZipFile(os.path.join(OUT, "basic.bin")) as src, \
            zipfile.ZipFile(os.path.join(OUT, "compressed.bin"), "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))

    shard1 = {"a.weight": torch.tensor([1.0, 2.0, 3.0]), "a.bias": torch.tensor([0.5])}
    shard2 = {"b.weight": torch.tensor([[4.0, 5.0]], dtype=torch.float16)}
    names = ["pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"]
    weight_map = {}
    total = 0
    for name, sd in zip(names, [shard1, shard2]):
        torch.save(sd, os.path.join(OUT, "sharded", name))
        for k, v in sd.items():
            weight_map[k] = name
            total += v.numel() * v.element_size()
    with open(os.path.join(OUT, "sharded", "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    exp["sharded"] = expected({**shard1, **shard2})

    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(exp, f, indent=1)


if __name__ == "__main__":
    main()
