#!/usr/bin/python3
"""A tiny LLaMA-2, its SentencePiece tokenizer and a BLIP-2 -> linear -> LLaMA-2
adaptor prompt, with reference outputs, for tests/test_llama.c.

What it restates (plain PyTorch, float64, no transformers):

  LlamaForCausalLM   transformers v4.47 models/llama/modeling_llama.py:
                     LlamaRMSNorm (x * rsqrt(mean(x^2) + eps) * weight),
                     LlamaRotaryEmbedding (inv_freq = 1 / theta^(arange(0, d, 2) / d),
                     cos/sin of cat(freqs, freqs)), rotate_half, repeat_kv (GQA:
                     head j reads key/value head j // (heads / kv_heads)),
                     LlamaAttention (q/k/v/o without bias, causal softmax(qk/sqrt d)),
                     LlamaMLP down(silu(gate x) * up x), untied lm_head.
  LlamaTokenizer     sentencepiece.SentencePieceProcessor.encode (what HF's slow
                     LlamaTokenizer calls) plus BOS 1 where the caller asks for it.
  Llama-2 chat       Meta's llama/generation.py chat_completion: a finished turn is
                     BOS + encode("[INST] {q} [/INST] {a} ") + EOS, the open turn
                     BOS + encode("[INST] {q} [/INST]"); a system prompt is folded
                     into the first question as "<<SYS>>\\n{s}\\n<</SYS>>\\n\\n{q}".
  adaptor prompt     MiniGPT-4 (minigpt4/conversation/conversation.py get_context_emb):
                     the prompt "<s>[INST] <image> {q} [/INST]" split at the image,
                     each text segment tokenised alone, BOS only on the first (the
                     template's "<s>" is that BOS, never text); image rows =
                     Z @ W^T + b (llama_proj); positions contiguous.

The tokenizer is a TINY SentencePiece BPE model trained here with Llama-2's
trainer settings (byte_fallback, identity normalisation, no extra-whitespace
removal, split digits, unk 0 / bos 1 / eos 2): a few KB, so the suite runs on a
clone without Meta's tokenizer.model. The model's vocabulary is that tokenizer's.
Weights are stored F16 (exactly representable), the reference computes in
float64; greedy steps recompute the whole sequence (no KV cache).

    /usr/bin/python3 tests/reference/llama_vlm_ref.py

writes tests/data/llama/:
  llama-tiny/{config.json, model.safetensors, tokenizer.model}
  adaptor.safetensors     weight [16, 16], bias [16] (plain names)
  chat.json               {"architecture": "blip2-linear-llama", "vision": "../blip2-tiny", ...}
  adaptor.pth             {"llama_proj.weight", "llama_proj.bias"} (torch.save zip, MiniGPT-4's
                          names, flat)
  adaptor_minigpt4.pth    {"model": {"query_tokens", "llama_proj.weight", "llama_proj.bias",
                          "ln_vision.weight"}}: the released checkpoint's shape
  chat_pth.json, chat_minigpt4.json   chat.json with the adaptor from each .pth
  golden.json             tokenizer[], prompts[] (text chat), vlm (Z, segments, rows,
                          logits, greedy)
"""
import io
import json
import math
import os
import struct

import sentencepiece as spm
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "llama")
BOS, EOS = 1, 2

CORPUS = """The quick brown fox jumps over the lazy dog.
What is in this image? Describe the picture in detail.
A photo of a cat sitting on a red sofa next to a window.
[INST] What colour is the car? [/INST] The car is blue.
[INST] How many people are there? [/INST] There are 3 people.
An astronaut in a white suit stands on the moon in 1969.
<<SYS>>
You are a helpful assistant.
<</SYS>>
The image shows a dog, a ball and two children playing in the park.
Is there a tree? Yes, there is a tall green tree behind the house.
""".splitlines()

TOKENIZER_TEXTS = [
    "What is in this image?", "[INST] ", " What is in this image? [/INST]", "hello  world", "  leading",
    "trailing  ", "line\nbreak\ttab", "caf\u00e9 na\u00efve", "\u732b\u306e\u5199\u771f \U0001F431", "<s>[INST]",
    "1969 and 2024", "", " ", "\u00a0nbsp",
]
QUESTIONS = ["What is in this image?", "Describe the picture in detail."]
SYSTEM = "You are a helpful assistant."

H, L, NH, NKV, FFN, THETA, EPS, QW = 16, 2, 4, 2, 40, 1000.0, 1e-5, 16
# Z: the Q-Former output of tests/data/blip2-tiny for its first image (tests/reference/blip2_ref.py)
BLIP2_GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "blip2-tiny", "golden.json")


def train_tokenizer():
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS * 4), model_writer=buf, model_type="bpe", vocab_size=330,
        byte_fallback=True, character_coverage=1.0, normalization_rule_name="identity",
        remove_extra_whitespaces=False, add_dummy_prefix=True, split_digits=True,
        allow_whitespace_only_pieces=True, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        num_threads=1, minloglevel=2)
    return buf.getvalue()


def make_weights(V, g):
    hd = H // NH
    w = {}

    def rnd(*shape, scale=0.5):
        return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).half().double()

    w["model.embed_tokens.weight"] = rnd(V, H, scale=1.0)
    for i in range(L):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = (1 + 0.2 * torch.randn(H, generator=g, dtype=torch.float64)).half().double()
        w[p + "post_attention_layernorm.weight"] = (1 + 0.2 * torch.randn(H, generator=g,
                                                                           dtype=torch.float64)).half().double()
        w[p + "self_attn.q_proj.weight"] = rnd(NH * hd, H)
        w[p + "self_attn.k_proj.weight"] = rnd(NKV * hd, H)
        w[p + "self_attn.v_proj.weight"] = rnd(NKV * hd, H)
        w[p + "self_attn.o_proj.weight"] = rnd(H, NH * hd)
        w[p + "mlp.gate_proj.weight"] = rnd(FFN, H)
        w[p + "mlp.up_proj.weight"] = rnd(FFN, H)
        w[p + "mlp.down_proj.weight"] = rnd(H, FFN, scale=0.3)
    w["model.norm.weight"] = (1 + 0.2 * torch.randn(H, generator=g, dtype=torch.float64)).half().double()
    w["lm_head.weight"] = rnd(V, H)
    return w


# ---------------------------------------------------------------- the model (modeling_llama.py)

def rms_norm(x, weight):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * weight


def rotate_half(x):
    d = x.shape[-1] // 2
    return torch.cat((-x[..., d:], x[..., :d]), dim=-1)


def forward(w, embeds):
    """Logits (T, V) of the input rows embeds (T, H), positions 0..T-1."""
    T, hd = embeds.shape[0], H // NH
    inv_freq = 1.0 / (THETA ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    freqs = torch.outer(torch.arange(T, dtype=torch.float64), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    mask = torch.full((T, T), -math.inf, dtype=torch.float64).triu(1)
    h = embeds
    for i in range(L):
        p = f"model.layers.{i}."
        x = rms_norm(h, w[p + "input_layernorm.weight"])
        q = (x @ w[p + "self_attn.q_proj.weight"].T).view(T, NH, hd).transpose(0, 1)
        k = (x @ w[p + "self_attn.k_proj.weight"].T).view(T, NKV, hd).transpose(0, 1)
        v = (x @ w[p + "self_attn.v_proj.weight"].T).view(T, NKV, hd).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(NH // NKV, dim=0)   # repeat_kv
        v = v.repeat_interleave(NH // NKV, dim=0)
        att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hd) + mask, dim=-1) @ v
        h = h + att.transpose(0, 1).reshape(T, NH * hd) @ w[p + "self_attn.o_proj.weight"].T
        x = rms_norm(h, w[p + "post_attention_layernorm.weight"])
        gate = x @ w[p + "mlp.gate_proj.weight"].T
        h = h + (torch.nn.functional.silu(gate) * (x @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
    return rms_norm(h, w["model.norm.weight"]) @ w["lm_head.weight"].T


def greedy(w, rows, n=8):
    """n argmax tokens after the input rows, recomputing the whole sequence each step."""
    out = []
    for _ in range(n):
        t = int(forward(w, rows)[-1].argmax())
        out.append(t)
        if t == EOS:
            break
        rows = torch.cat((rows, w["model.embed_tokens.weight"][t][None]), 0)
    return out


def embed_ids(w, ids):
    return w["model.embed_tokens.weight"][torch.tensor(ids, dtype=torch.long)]


# ---------------------------------------------------------------- files

def write_safetensors(path, tensors):
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    names = {torch.float32: "F32", torch.float16: "F16"}
    for name in sorted(tensors):
        b = tensors[name].contiguous().numpy().tobytes()
        header[name] = {"dtype": names[tensors[name].dtype], "shape": list(tensors[name].shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)


def r7(t):
    return [round(float(x), 7) for x in t]


def main():
    model_bytes = train_tokenizer()
    sp = spm.SentencePieceProcessor(model_proto=model_bytes)
    V = sp.get_piece_size()
    g = torch.Generator().manual_seed(20231)
    w = make_weights(V, g)
    Wa = (torch.randn(H, QW, generator=g, dtype=torch.float64) * 0.3).float().double()
    ba = (torch.randn(H, generator=g, dtype=torch.float64) * 0.1).float().double()
    with open(BLIP2_GOLDEN) as f:
        b2 = json.load(f)["images"][0]
    Z = torch.tensor(b2["query_output"], dtype=torch.float64)   # (4, 16), float64 reference
    image_file = b2["file"]

    d = os.path.join(OUT, "llama-tiny")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "tokenizer.model"), "wb") as f:
        f.write(model_bytes)
    write_safetensors(os.path.join(d, "model.safetensors"), {k: v.half() for k, v in w.items()})
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": V, "hidden_size": H,
           "intermediate_size": FFN, "num_hidden_layers": L, "num_attention_heads": NH,
           "num_key_value_heads": NKV, "hidden_act": "silu", "max_position_embeddings": 256,
           "rms_norm_eps": EPS, "rope_theta": THETA, "rope_scaling": None, "attention_bias": False,
           "mlp_bias": False, "bos_token_id": BOS, "eos_token_id": EOS, "tie_word_embeddings": False,
           "torch_dtype": "float16"}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    write_safetensors(os.path.join(OUT, "adaptor.safetensors"), {"weight": Wa.float(), "bias": ba.float()})
    # MiniGPT-4's names, flat
    torch.save({"llama_proj.weight": Wa.float(), "llama_proj.bias": ba.float()}, os.path.join(OUT, "adaptor.pth"))
    # ... and as its released pretrained_minigpt4*.pth holds them: a training
    # checkpoint's {"model": state_dict} (minigpt4/runners/runner_base.py
    # _save_checkpoint), with other trainable tensors beside llama_proj
    g2 = torch.Generator().manual_seed(7)
    torch.save({"model": {"query_tokens": torch.randn(1, 4, QW, generator=g2),
                          "llama_proj.weight": Wa.float(), "llama_proj.bias": ba.float(),
                          "ln_vision.weight": torch.randn(QW, generator=g2).half()}},
               os.path.join(OUT, "adaptor_minigpt4.pth"))

    with open(os.path.join(OUT, "chat.json"), "w") as f:
        json.dump({"architecture": "blip2-linear-llama", "vision": "../blip2-tiny", "language_model": "llama-tiny",
                   "adaptor": "adaptor.safetensors"}, f, indent=2)
        f.write("\n")
    with open(os.path.join(OUT, "chat_pth.json"), "w") as f:
        json.dump({"architecture": "blip2-linear-llama", "vision": "../blip2-tiny", "language_model": "llama-tiny",
                   "adaptor": "adaptor.pth"}, f, indent=2)
        f.write("\n")
    with open(os.path.join(OUT, "chat_minigpt4.json"), "w") as f:
        json.dump({"architecture": "blip2-linear-llama", "vision": "../blip2-tiny", "language_model": "llama-tiny",
                   "adaptor": "adaptor_minigpt4.pth"}, f, indent=2)
        f.write("\n")
    gold = {"model": "llama-tiny", "bos_id": BOS, "eos_id": EOS, "vocab": V, "tokenizer": [], "prompts": []}
    for t in TOKENIZER_TEXTS:
        ids = sp.encode(t)
        gold["tokenizer"].append({"text": t, "ids": ids, "pieces": [sp.id_to_piece(i) for i in ids],
                                  "decoded": sp.decode(ids)})
    for q in QUESTIONS:   # text chat, Meta's template: BOS + "[INST] {q} [/INST]"
        ids = [BOS] + sp.encode(f"[INST] {q} [/INST]")
        lg = forward(w, embed_ids(w, ids))[-1]
        gold["prompts"].append({"question": q, "ids": ids, "last_logits": r7(lg),
                                "greedy": greedy(w, embed_ids(w, ids))})
    # system prompt and a second turn (ids only: the template)
    q0, a0, q1 = QUESTIONS[0], "A cat.", QUESTIONS[1]
    sys_ids = [BOS] + sp.encode(f"[INST] <<SYS>>\n{SYSTEM}\n<</SYS>>\n\n{q0} [/INST]")
    turn2 = [BOS] + sp.encode(f"[INST] {q0} [/INST] {a0} ") + [EOS] + [BOS] + sp.encode(f"[INST] {q1} [/INST]")
    gold["template"] = {"system": SYSTEM, "q0": q0, "a0": a0, "q1": q1, "system_ids": sys_ids, "two_turn_ids": turn2}

    # the adaptor prompt (MiniGPT-4 get_context_emb)
    rows = Z @ Wa.T + ba
    seg0 = [BOS] + sp.encode("[INST] ")
    seg1 = sp.encode(f" {QUESTIONS[0]} [/INST]")
    emb = torch.cat((embed_ids(w, seg0), rows, embed_ids(w, seg1)), 0)
    lg = forward(w, emb)[-1]
    # second turn with the image: segment 1 holds the finished answer, then the new turn
    seg1b = sp.encode(f" {q0} [/INST] {a0} ") + [EOS] + [BOS] + sp.encode(f"[INST] {q1} [/INST]")
    gold["vlm"] = {"image": image_file, "qformer_output": [r7(r) for r in Z], "weight": [r7(r) for r in Wa], "bias": r7(ba),
                   "question": QUESTIONS[0], "segments": [seg0, seg1], "ids": seg0 + [-200] + seg1,
                   "image_rows": [r7(r) for r in rows], "last_logits": r7(lg), "greedy": greedy(w, emb),
                   "two_turn_ids": seg0 + [-200] + seg1b}
    with open(os.path.join(OUT, "golden.json"), "w") as f:
        json.dump(gold, f, indent=1)
    print(f"vocab {V}; wrote {OUT}")


if __name__ == "__main__":
    main()
