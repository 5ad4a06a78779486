#!/usr/bin/python3
"""Tiny MoE-LLaVA language models and their reference outputs, for tests/test_lm.c.

A plain-PyTorch restatement (no transformers, no deepspeed) of the three
MoE-LLaVA language backbones and of DeepSpeed 0.9.5's top-2 gate at eval:

  StableLM-epoch  moellava/model/language_model/stablelm/modeling_stablelm_epoch.py
                  (Attention.forward, MLP, DecoderLayer; LayerNorm with bias,
                  partial rotary rope_pct, qkv bias, o_proj without bias, GQA
                  via repeat_kv)
  Qwen-1          moellava/model/language_model/qwen/modeling_qwen.py
                  (QWenAttention: fused c_attn q|k|v with bias, c_proj without
                  bias, full rotary; RMSNorm in fp32; QWenMLP
                  c_proj(w1(x) * silu(w2(x))); dynamic NTK and logn scaling are
                  no-ops below seq_length, as here)
  Phi-2           moellava/model/language_model/phi/modeling_phi.py and
                  llava_phi_moe.py (parallel block x + attn(LN x) + mlp(LN x),
                  partial rotary int(partial_rotary_factor*head_dim), gelu_new,
                  biased q/k/v/dense, fc1/fc2 and lm_head, final_layernorm)
  MoE gate        deepspeed/moe/sharded_moe.py v0.9.5 top2gating + MOELayer:
                  fp32 softmax, e1 = argmax, e2 = argmax over the rest of
                  (logits + Gumbel noise) -- or of the plain logits in the
                  deterministic mode --, capacity ceil(S/E * 2 * eval_cf)
                  (>= min_capacity), cumsum slot locations, renormalised
                  weights, dispatch/combine einsums "sec,sm->ecm" and
                  "sec,ecm->sm".

The reference runs in float64 on weights that are exactly representable in
the stored dtype (so the C engine, computing in float32, should agree to
~1e-6 relative), without a KV cache (every step recomputes the whole
sequence: a second opinion on the C engine's cache).

Run with Debian's python3-torch (1.13, CPU):

    /usr/bin/python3 tests/reference/moe_llava_ref.py

Writes tests/data/moe/{stablelm,qwen,phi,phi_dense}/ (committed, 0.1-0.7 MB each):
  config.json                 MoE-LLaVA layout (model_type moe_llava_*, "moe" block)
  stablelm: model.safetensors                      BF16, plus a stray projector tensor
  phi:      model-0000{1,2}-of-00002.safetensors   F16, sharded, with the index json
  qwen:     pytorch_model.bin                      F32, torch.save (zip)
  phi_dense: model.safetensors  F16, a plain 2-layer Phi (model_type "phi", no MoE)
  reference.json  prompt ids, logits of every prompt position (row-major
                  n x vocab), a greedy continuation of 10 tokens, the top-2
                  experts of every prompt token at every MoE layer (all with
                  deterministic routing), and the decision margins.

Tensor names follow docs/model-spec.md §B4/§B5 exactly (model./transformer. prefixes,
...mlp.deepspeed_moe.gate.wg.weight, ...deepspeed_experts.{e}.<orig>).
Seeds are retried until every routing and greedy decision has a margin of at
least 1e-3, so float32 rounding cannot flip one.
"""
import json
import math
import os
import struct

import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "moe")
DT = torch.float64
PROMPT = [1, 17, 42, 255, 3, 99, 180, 7, 64, 211, 150, 33]
N_GEN = 10
MARGIN = 1e-3

# ---------------------------------------------------------------- configs

MOE = {"moe_enable": True, "moe_mode": "sparse", "moe_layers_idx": [0, 2], "ep_size": 1,
       "top_k_experts": 2, "capacity_factor": 1.5, "eval_capacity_factor": 2.0, "min_capacity": 0,
       "use_residual": False, "router_aux_loss_coef": 0.01, "num_experts": [4, 4], "train_modules": []}
MM = {"image_aspect_ratio": "pad", "image_projector_type": "mlp2x_gelu", "mm_hidden_size": 1024,
      "mm_image_tower": "openai/clip-vit-large-patch14-336", "mm_use_im_patch_token": False,
      "mm_use_im_start_end": False, "mm_vision_select_feature": "patch", "mm_vision_select_layer": -2}


def config(arch):
    if arch == "phi_dense":
        # a plain (dense) Phi checkpoint: model_type "phi", no "moe" block
        c = config("phi")
        del c["moe"]
        for k in MM:
            del c[k]
        c.update({"architectures": ["PhiForCausalLM"], "model_type": "phi", "num_hidden_layers": 2})
        return c
    if arch == "stablelm":
        c = {"architectures": ["EvalMoELLaVAStablelmForCausalLM"], "model_type": "moe_llava_stablelm",
             "hidden_size": 64, "intermediate_size": 32, "num_hidden_layers": 4,
             "num_attention_heads": 4, "num_key_value_heads": 2, "hidden_act": "silu",
             "rope_pct": 0.25, "rope_theta": 10000, "max_position_embeddings": 4096, "norm_eps": 1e-5,
             "use_qkv_bias": True, "vocab_size": 300, "tie_word_embeddings": False,
             "bos_token_id": 100257, "eos_token_id": 100257, "torch_dtype": "bfloat16"}
    elif arch == "qwen":
        c = {"architectures": ["EvalMoELLaVAQWenForCausalLM"], "model_type": "moe_llava_qwen",
             "hidden_size": 64, "intermediate_size": 64, "num_hidden_layers": 4,
             "num_attention_heads": 4, "kv_channels": 16, "rotary_pct": 1.0, "rotary_emb_base": 10000,
             "layer_norm_epsilon": 1e-6, "seq_length": 8192, "max_position_embeddings": 8192,
             "no_bias": True, "use_dynamic_ntk": True, "use_logn_attn": True, "vocab_size": 300,
             "tie_word_embeddings": False, "bf16": False, "fp16": False, "fp32": True,
             "torch_dtype": "float32"}
    else:
        c = {"architectures": ["EvalMoELLaVAPhiForCausalLM"], "model_type": "moe_llava_phi",
             "hidden_size": 64, "intermediate_size": 32, "num_hidden_layers": 4,
             "num_attention_heads": 4, "num_key_value_heads": None, "partial_rotary_factor": 0.4,
             "rope_theta": 10000.0, "rope_scaling": None, "qk_layernorm": False,
             "max_position_embeddings": 2048, "layer_norm_eps": 1e-5, "hidden_act": "gelu_new",
             "vocab_size": 300, "tie_word_embeddings": False, "bos_token_id": None,
             "eos_token_id": None, "torch_dtype": "float16"}
    c.update(MM)
    c["moe"] = dict(MOE)
    return c


# ---------------------------------------------------------------- weights

STORE = {"stablelm": torch.bfloat16, "qwen": torch.float32, "phi": torch.float16, "phi_dense": torch.float16}


def make_weights(arch, c, g):
    """name -> tensor (float64, values representable in the stored dtype)."""
    H, L, V = c["hidden_size"], c["num_hidden_layers"], c["vocab_size"]
    nh = c["num_attention_heads"]
    hd = H // nh
    w = {}

    def lin(name, out, inp, bias=False, scale=1.0):
        w[name + ".weight"] = torch.randn(out, inp, generator=g) * (scale / math.sqrt(inp))
        if bias:
            w[name + ".bias"] = 0.2 * torch.randn(out, generator=g)

    def norm(name, bias=True):
        w[name + ".weight"] = 1.0 + 0.3 * torch.randn(H, generator=g)
        if bias:
            w[name + ".bias"] = 0.2 * torch.randn(H, generator=g)

    moe_idx = c["moe"]["moe_layers_idx"] if "moe" in c else []
    E = c["moe"]["num_experts"][0] if "moe" in c else 0
    if arch == "stablelm":
        kvd = c["num_key_value_heads"] * hd
        I = c["intermediate_size"]
        w["model.embed_tokens.weight"] = torch.randn(V, H, generator=g)
        for i in range(L):
            p = f"model.layers.{i}."
            norm(p + "input_layernorm")
            lin(p + "self_attn.q_proj", H, H, True)
            lin(p + "self_attn.k_proj", kvd, H, True)
            lin(p + "self_attn.v_proj", kvd, H, True)
            lin(p + "self_attn.o_proj", H, H)
            norm(p + "post_attention_layernorm")
            experts = [f"{p}mlp.deepspeed_moe.experts.deepspeed_experts.{e}." for e in range(E)] \
                if i in moe_idx else [p + "mlp."]
            if i in moe_idx:
                lin(p + "mlp.deepspeed_moe.gate.wg", E, H, scale=2.0)
            for q in experts:
                lin(q + "gate_proj", I, H)
                lin(q + "up_proj", I, H)
                lin(q + "down_proj", H, I)
        norm("model.norm")
        lin("lm_head", V, H)
        # a stray multimodal projector tensor: the LM loader must ignore it
        w["model.mm_projector.image_spatial_proj.0.weight"] = torch.randn(H, 8, generator=g)
    elif arch == "qwen":
        I = c["intermediate_size"] // 2
        w["transformer.wte.weight"] = torch.randn(V, H, generator=g)
        for i in range(L):
            p = f"transformer.h.{i}."
            norm(p + "ln_1", bias=False)
            lin(p + "attn.c_attn", 3 * H, H, True)
            lin(p + "attn.c_proj", H, H)
            norm(p + "ln_2", bias=False)
            experts = [f"{p}mlp.deepspeed_moe.experts.deepspeed_experts.{e}." for e in range(E)] \
                if i in moe_idx else [p + "mlp."]
            if i in moe_idx:
                lin(p + "mlp.deepspeed_moe.gate.wg", E, H, scale=2.0)
            for q in experts:
                lin(q + "w1", I, H)
                lin(q + "w2", I, H)
                lin(q + "c_proj", H, I)
        norm("transformer.ln_f", bias=False)
        lin("lm_head", V, H)
    else:
        I = c["intermediate_size"]
        w["model.embed_tokens.weight"] = torch.randn(V, H, generator=g)
        for i in range(L):
            p = f"model.layers.{i}."
            norm(p + "input_layernorm")
            for n in ("q_proj", "k_proj", "v_proj", "dense"):
                lin(p + "self_attn." + n, H, H, True)
            experts = [f"{p}mlp.deepspeed_moe.experts.deepspeed_experts.{e}." for e in range(E)] \
                if i in moe_idx else [p + "mlp."]
            if i in moe_idx:
                lin(p + "mlp.deepspeed_moe.gate.wg", E, H, scale=2.0)
            for q in experts:
                lin(q + "fc1", I, H, True, scale=1.5)
                lin(q + "fc2", H, I, True)
        norm("model.final_layernorm")
        lin("lm_head", V, H, True)
    st = STORE[arch]
    return {k: v.to(st).to(DT) for k, v in w.items()}


# ---------------------------------------------------------------- model math

def rope_cos_sin(dim, base, n):
    """RotaryEmbedding._set_cos_sin_cache (StableLM/Phi; Qwen's is the same):
    float32 inv_freq and angles, emb = cat(freqs, freqs)."""
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim))
    t = torch.arange(n, dtype=torch.float32)
    freqs = torch.outer(t, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(DT), emb.sin().to(DT)


def rotate_half(x):
    x1, x2 = torch.chunk(x, 2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(x, cos, sin, rdim):
    """x (heads, T, hd): NeoX rotate_half on the first rdim dims of each head."""
    rot, pas = x[..., :rdim], x[..., rdim:]
    rot = rot * cos + rotate_half(rot) * sin
    return torch.cat((rot, pas), dim=-1)


def attention(q, k, v, nh, nkv, hd, rdim, base):
    """q (T, nh*hd), k/v (T, nkv*hd) -> (T, nh*hd); causal, softmax in float."""
    T = q.shape[0]
    q = q.view(T, nh, hd).transpose(0, 1)
    k = k.view(T, nkv, hd).transpose(0, 1)
    v = v.view(T, nkv, hd).transpose(0, 1)
    cos, sin = rope_cos_sin(rdim, base, T)
    q = apply_rope(q, cos, sin, rdim)
    k = apply_rope(k, cos, sin, rdim)
    rep = nh // nkv
    k = k[:, None].expand(nkv, rep, T, hd).reshape(nh, T, hd)   # repeat_kv
    v = v[:, None].expand(nkv, rep, T, hd).reshape(nh, T, hd)
    a = torch.matmul(q, k.transpose(1, 2)) / math.sqrt(hd)
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    a = a.masked_fill(mask, float("-inf"))
    a = F.softmax(a, dim=-1)
    o = torch.matmul(a, v)
    return o.transpose(0, 1).reshape(T, nh * hd)


def linear(w, name, x):
    y = x @ w[name + ".weight"].t()
    if name + ".bias" in w:
        y = y + w[name + ".bias"]
    return y


def layer_norm(w, name, x, eps):
    return F.layer_norm(x, (x.shape[-1],), w[name + ".weight"], w.get(name + ".bias"), eps)


def rms_norm(w, name, x, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w[name + ".weight"]


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def mlp(arch, w, p, x):
    if arch == "stablelm":
        return linear(w, p + "down_proj", F.silu(linear(w, p + "gate_proj", x)) * linear(w, p + "up_proj", x))
    if arch == "qwen":
        return linear(w, p + "c_proj", linear(w, p + "w1", x) * F.silu(linear(w, p + "w2", x)))
    return linear(w, p + "fc2", gelu_new(linear(w, p + "fc1", x)))


def top2gating(logits, capacity_factor, min_capacity, gumbel):
    """deepspeed/moe/sharded_moe.py v0.9.5 top2gating (eval), with the 2nd
    expert's Gumbel noise switchable off. Returns combine (S,E,C), dispatch,
    and the chosen (e1, e2) per token."""
    gates = F.softmax(logits, dim=1)
    S, E = gates.shape
    capacity = max(math.ceil((S / E) * capacity_factor * 2), min_capacity)
    indices1_s = torch.argmax(gates, dim=1)
    mask1 = F.one_hot(indices1_s, num_classes=E)
    noise = torch.distributions.gumbel.Gumbel(0.0, 1.0).rsample(logits.shape).to(logits.dtype) \
        if gumbel else torch.zeros_like(logits)
    logits_w_noise = logits + noise
    logits_except1 = logits_w_noise.masked_fill(mask1.bool(), float("-inf"))
    indices2_s = torch.argmax(logits_except1, dim=1)
    mask2 = F.one_hot(indices2_s, num_classes=E)
    locations1 = torch.cumsum(mask1, dim=0) - 1
    locations2 = torch.cumsum(mask2, dim=0) - 1
    locations2 += torch.sum(mask1, dim=0, keepdim=True)
    mask1 = mask1 * torch.lt(locations1, capacity)
    mask2 = mask2 * torch.lt(locations2, capacity)
    locations1_s = torch.sum(locations1 * mask1, dim=1)
    locations2_s = torch.sum(locations2 * mask2, dim=1)
    mask1_float = mask1.to(logits.dtype)
    mask2_float = mask2.to(logits.dtype)
    gates1_s = torch.einsum("se,se->s", gates, mask1_float)
    gates2_s = torch.einsum("se,se->s", gates, mask2_float)
    denom_s = torch.clamp(gates1_s + gates2_s, min=torch.finfo(torch.float32).eps)
    gates1_s = gates1_s / denom_s
    gates2_s = gates2_s / denom_s
    gates1 = torch.einsum("s,se->se", gates1_s, mask1_float)
    gates2 = torch.einsum("s,se->se", gates2_s, mask2_float)
    locations1_sc = F.one_hot(locations1_s, num_classes=capacity).to(logits.dtype)
    locations2_sc = F.one_hot(locations2_s, num_classes=capacity).to(logits.dtype)
    combine = torch.einsum("se,sc->sec", gates1, locations1_sc) + torch.einsum("se,sc->sec", gates2, locations2_sc)
    return combine, combine.bool(), indices1_s, indices2_s


def moe_layer(arch, w, p, x, c, gumbel, margins):
    """deepspeed MOELayer.forward for one sequence: x (S, H)."""
    E = c["moe"]["num_experts"][0]
    logits = x @ w[p + "deepspeed_moe.gate.wg.weight"].t()     # FP32 in DeepSpeed; float64 here
    srt = torch.sort(logits, dim=1, descending=True).values
    margins.append(float(torch.min(srt[:, 0] - srt[:, 1])))
    margins.append(float(torch.min(srt[:, 1] - srt[:, 2])))
    combine, dispatch, e1, e2 = top2gating(logits, c["moe"]["eval_capacity_factor"], c["moe"]["min_capacity"], gumbel)
    dispatched = torch.einsum("sec,sm->ecm", dispatch.to(x.dtype), x)
    out = torch.stack([mlp(arch, w, f"{p}deepspeed_moe.experts.deepspeed_experts.{e}.", dispatched[e])
                       for e in range(E)])
    y = torch.einsum("sec,ecm->sm", combine.to(x.dtype), out)
    return y, torch.stack([e1, e2], dim=1)


def forward(arch, w, c, ids, gumbel=False, margins=None):
    """All-position logits (T, V) and routes {layer: (T, 2)} for one sequence."""
    margins = [] if margins is None else margins
    H, L = c["hidden_size"], c["num_hidden_layers"]
    nh = c["num_attention_heads"]
    hd = H // nh
    moe_idx = c["moe"]["moe_layers_idx"] if "moe" in c else []
    ids = torch.tensor(ids)
    routes = {}
    if arch == "stablelm":
        nkv = c["num_key_value_heads"]
        rdim, eps = int(hd * c["rope_pct"]), c["norm_eps"]
        h = w["model.embed_tokens.weight"][ids]
        for i in range(L):
            p = f"model.layers.{i}."
            x = layer_norm(w, p + "input_layernorm", h, eps)
            q, k, v = (linear(w, p + f"self_attn.{n}_proj", x) for n in "qkv")
            h = h + linear(w, p + "self_attn.o_proj", attention(q, k, v, nh, nkv, hd, rdim, c["rope_theta"]))
            x = layer_norm(w, p + "post_attention_layernorm", h, eps)
            if i in moe_idx:
                y, routes[i] = moe_layer(arch, w, p + "mlp.", x, c, gumbel, margins)
            else:
                y = mlp(arch, w, p + "mlp.", x)
            h = h + y
        h = layer_norm(w, "model.norm", h, eps)
    elif arch == "qwen":
        rdim, eps = c["kv_channels"], c["layer_norm_epsilon"]
        h = w["transformer.wte.weight"][ids]
        for i in range(L):
            p = f"transformer.h.{i}."
            x = rms_norm(w, p + "ln_1", h, eps)
            q, k, v = linear(w, p + "attn.c_attn", x).split(H, dim=1)
            h = h + linear(w, p + "attn.c_proj", attention(q, k, v, nh, nh, hd, rdim, c["rotary_emb_base"]))
            x = rms_norm(w, p + "ln_2", h, eps)
            if i in moe_idx:
                y, routes[i] = moe_layer(arch, w, p + "mlp.", x, c, gumbel, margins)
            else:
                y = mlp(arch, w, p + "mlp.", x)
            h = h + y
        h = rms_norm(w, "transformer.ln_f", h, eps)
    else:
        rdim, eps = int(c["partial_rotary_factor"] * hd), c["layer_norm_eps"]
        h = w["model.embed_tokens.weight"][ids]
        for i in range(L):
            p = f"model.layers.{i}."
            x = layer_norm(w, p + "input_layernorm", h, eps)
            q, k, v = (linear(w, p + f"self_attn.{n}_proj", x) for n in "qkv")
            a = linear(w, p + "self_attn.dense", attention(q, k, v, nh, nh, hd, rdim, c["rope_theta"]))
            if i in moe_idx:
                y, routes[i] = moe_layer(arch, w, p + "mlp.", x, c, gumbel, margins)
            else:
                y = mlp(arch, w, p + "mlp.", x)
            h = a + y + h
        h = layer_norm(w, "model.final_layernorm", h, eps)
    return linear(w, "lm_head", h), routes


# ---------------------------------------------------------------- files

ST_NAMES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def tensor_bytes(t):
    if t.dtype == torch.bfloat16:
        return t.contiguous().view(torch.int16).numpy().tobytes()
    return t.contiguous().numpy().tobytes()


def write_safetensors(path, tensors):
    """The safetensors layout by hand: u64 LE header length, JSON header
    (padded with spaces to a multiple of 8), then the tensors back to back."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        b = tensor_bytes(tensors[name])
        header[name] = {"dtype": ST_NAMES[tensors[name].dtype], "shape": list(tensors[name].shape),
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


def save(arch, d, c, w):
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    st = {k: v.to(STORE[arch]) for k, v in w.items()}
    if arch in ("stablelm", "phi_dense"):
        write_safetensors(os.path.join(d, "model.safetensors"), st)
    elif arch == "qwen":
        torch.save(st, os.path.join(d, "pytorch_model.bin"))
    else:
        names = sorted(st)
        half = [n for n in names if n.startswith("model.layers.") and int(n.split(".")[2]) >= 2] + ["lm_head.weight", "lm_head.bias"]
        shards = [{n: st[n] for n in names if n not in half}, {n: st[n] for n in half}]
        wm = {}
        for i, sh in enumerate(shards):
            fn = f"model-0000{i + 1}-of-00002.safetensors"
            write_safetensors(os.path.join(d, fn), sh)
            wm.update({n: fn for n in sh})
        total = sum(len(tensor_bytes(t)) for t in st.values())
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": wm}, f, indent=2)


def build(arch):
    c = config(arch)
    for seed in range(100):
        g = torch.Generator().manual_seed(1000 * (list(STORE).index(arch) + 1) + seed)
        w = make_weights(arch, c, g)
        margins = []
        logits, routes = forward(arch, w, c, PROMPT, margins=margins)
        seq, gen_margins = list(PROMPT), []
        for _ in range(N_GEN):
            lg, _ = forward(arch, w, c, seq, margins=margins)
            top = torch.topk(lg[-1], 2).values
            gen_margins.append(float(top[0] - top[1]))
            seq.append(int(torch.argmax(lg[-1])))
        if min(margins + [1.0]) >= MARGIN and min(gen_margins) >= MARGIN:
            break
    else:
        raise SystemExit(f"{arch}: no seed gives routing/greedy margins >= {MARGIN}")
    # the whole greedy sequence once more, for the routes of the generated tokens
    _, routes_all = forward(arch, w, c, seq[:-1])
    d = os.path.join(OUT, arch)
    save(arch, d, c, w)
    ref = {"arch": arch, "seed": seed, "prompt": PROMPT, "vocab": c["vocab_size"],
           "logits": [float(x) for x in logits.reshape(-1)],
           "greedy": seq[len(PROMPT):],
           "moe_layers": c["moe"]["moe_layers_idx"] if "moe" in c else [],
           "routes": {str(k): v.tolist() for k, v in routes.items()},
           "routes_all": {str(k): v.tolist() for k, v in routes_all.items()},
           "min_route_margin": min(margins + [1.0]), "min_greedy_margin": min(gen_margins)}
    with open(os.path.join(d, "reference.json"), "w") as f:
        json.dump(ref, f, separators=(",", ":"))
    print(f"{arch}: seed {seed}, route margin {min(margins + [1.0]):.4f}, greedy margin {min(gen_margins):.4f}, "
          f"greedy {ref['greedy']}")


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    for a in ("stablelm", "qwen", "phi", "phi_dense"):
        build(a)
