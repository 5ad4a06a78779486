#!/usr/bin/python3
"""tools/bench_gguf.py — the random-weight dense StableLM-2 checkpoint that
`seer bench lm --geometry stablelm2-1.6b-dense` writes, as a BF16 GGUF for
llama.cpp's llama-bench (tools/bench_llamacpp.sh), so both engines run the
same weights.

    /usr/bin/python3 tools/bench_gguf.py CHECKPOINT_DIR LLAMA_CPP_SRC OUT.gguf

Uses llama.cpp's bundled gguf-py (LLAMA_CPP_SRC/gguf-py) and numpy; the
tensor names and metadata are those llama.cpp's convert_hf_to_gguf.py gives
a StableLM checkpoint (architecture "stablelm": LayerNorm with bias, q/k/v
biases, partial rotary, SwiGLU MLP). The vocabulary is llama.cpp's
"no_vocab" with stablelm.vocab_size dummy tokens: llama-bench feeds random
token ids and never tokenises text. 1-D tensors (norms, biases) are stored
as float32, as the converter does. Benchmark tooling only: nothing in seer
reads GGUF.
"""
import json
import os
import struct
import sys

import numpy as np

HF_TO_GGUF = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}


def gguf_name(name):
    if name == "model.embed_tokens.weight":
        return "token_embd.weight"
    if name == "lm_head.weight":
        return "output.weight"
    if name.startswith("model.norm."):
        return "output_norm." + name.split(".")[-1]
    parts = name.split(".")
    if parts[:2] == ["model", "layers"]:
        layer, rest = parts[2], ".".join(parts[3:-1])
        if rest in HF_TO_GGUF:
            return "blk.%s.%s.%s" % (layer, HF_TO_GGUF[rest], parts[-1])
    raise SystemExit("bench_gguf: no GGUF name for tensor %r (a dense StableLM checkpoint is expected)" % name)


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    ck, src, out = sys.argv[1:]
    sys.path.insert(0, os.path.join(src, "gguf-py"))
    import gguf  # noqa: E402  (llama.cpp's bundled copy)

    cfg = json.load(open(os.path.join(ck, "config.json")))
    if cfg.get("moe", {}).get("moe_enable"):
        raise SystemExit("bench_gguf: %s is a MoE checkpoint; use --geometry stablelm2-1.6b-dense" % ck)
    path = os.path.join(ck, "model.safetensors")
    with open(path, "rb") as f:
        hlen = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(hlen))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + hlen)

    H, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    w = gguf.GGUFWriter(out, "stablelm")
    w.add_context_length(cfg.get("max_position_embeddings", 4096))
    w.add_embedding_length(H)
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_rope_dimension_count(int(cfg.get("rope_pct", 0.25) * (H // heads)))
    w.add_rope_freq_base(float(cfg.get("rope_theta", 10000)))
    w.add_head_count(heads)
    w.add_head_count_kv(cfg.get("num_key_value_heads", heads))
    w.add_layer_norm_eps(float(cfg.get("norm_eps", 1e-5)))
    w.add_file_type(gguf.LlamaFileType.MOSTLY_BF16)
    w.add_tokenizer_model("no_vocab")
    w.add_vocab_size(cfg["vocab_size"])
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "BF16":
            raise SystemExit("bench_gguf: %s is %s, expected BF16" % (name, info["dtype"]))
        a, b = info["data_offsets"]
        t = data[a:b].view(np.uint16).reshape(info["shape"])
        if t.ndim == 1:  # norms and biases in float32, as convert_hf_to_gguf.py stores them
            w.add_tensor(gguf_name(name), (t.astype(np.uint32) << 16).view(np.float32))
        else:
            w.add_tensor(gguf_name(name), t, raw_dtype=gguf.GGMLQuantizationType.BF16)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file(progress=False)
    w.close()


if __name__ == "__main__":
    main()
