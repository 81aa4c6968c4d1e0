#!/usr/bin/env python3
"""GPT fixtures (issue 11): a nanoGPT-shaped model and tiny GPT-2-shaped checkpoints, written out in torch.

Neither nanoGPT nor Hugging Face transformers is installable here, so both models are written out below,
following nanoGPT's model.py (Karpathy, 2023) and transformers' modeling_gpt2.py line for line where it matters.

1. nanoGPT (Fixtures/gpt_nanogpt*.json + Fixtures/gpt/nanogpt*.safetensors)
   GPT(vocab_size=13, block_size=16, n_layer=2, n_head=2, n_embd=8, dropout=0, bias=True|False) in float64,
   nanoGPT's init, then every parameter perturbed (N(0, 0.3)) so that the gradients are far from zero.
   Tokens [B=2, L=7] and targets; logits = model(idx), loss = F.cross_entropy(logits.view(-1, V), targets.view(-1)).
   The JSON holds tokens, targets, logits, loss and grad.<key> for every state_dict key (the tied
   lm_head.weight / transformer.wte.weight share one gradient). The safetensors file is the state_dict as PyTorch
   1.13's nanoGPT has it: both tied names, and the causal-mask buffers transformer.h.N.attn.bias [1, 1, 16, 16]
   that nanoGPT registers when F.scaled_dot_product_attention is missing; metadata n_head = "2".

2. GPT-2, the layout of Hugging Face's model.safetensors for GPT2LMHeadModel (e.g. openai-community/gpt2):
     wte.weight [V, C]   wpe.weight [P, C]
     h.N.ln_1.weight/bias [C]
     h.N.attn.bias [1, 1, P, P]  (the causal-mask buffer, bool/float; a loader ignores it)
     h.N.attn.c_attn.weight [C, 3C]  h.N.attn.c_attn.bias [3C]   Conv1D: weight stored [in, out], y = x @ W + b;
                                                                 output columns: q (0..C), k (C..2C), v (2C..3C)
     h.N.attn.c_proj.weight [C, C]   h.N.attn.c_proj.bias [C]
     h.N.ln_2.weight/bias [C]
     h.N.mlp.c_fc.weight [C, 4C]     h.N.mlp.c_fc.bias [4C]
     h.N.mlp.c_proj.weight [4C, C]   h.N.mlp.c_proj.bias [C]
     ln_f.weight/bias [C]            (no lm_head.weight: it is tied to wte)
   GELU is "gelu_new" (tanh approximation), layer_norm_epsilon 1e-5, attention scaled by 1/sqrt(head_dim).
   a. Fixtures/gpt2_tiny/{model.safetensors, config.json, expected.json}: the FULL GPT-2 vocabulary 50257 (so the
      real GPT-2 tokenizer can drive it), n_embd 16, n_layer 2, n_head 2, n_positions 64, stored as F16 with the
      attn.bias buffers, a config.json like HF's; expected.json holds tokens [2, 9] and the logits of the torch
      GPT-2 forward below (columns 0..255 and V-256..V-1, and each row's log-sum-exp and arg-max over all V), computed in float64 on the F16-rounded weights (so a double model loading the file
      reproduces them to ~1e-12), and the greedy continuation of the first row (10 tokens).
   b. Fixtures/gpt/gpt2_prefixed_f32.safetensors + gpt_gpt2_prefixed.json: V = 37, n_embd 12, n_head 3 (not in any
      file: the loader takes it as an argument), n_layer 2, n_positions 20, F32, every key prefixed "transformer."
      as newer save_pretrained writes them, with attn.masked_bias buffers; logits in float64 on the F32 weights.

Run: OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 tests/reference/fixtures_gpt.py
"""
import json
import math
import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import FIXTURES, write_fixture  # noqa: E402
from fixtures_serialization import save_safetensors  # noqa: E402

GPT_DIR = os.path.join(FIXTURES, "gpt")
GPT2_TINY = os.path.join(FIXTURES, "gpt2_tiny")


# ---- nanoGPT's model.py (the parts that compute; no flash attention in torch 1.13) -------------------------
class LayerNorm(nn.Module):
    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_attn = nn.Linear(c["n_embd"], 3 * c["n_embd"], bias=c["bias"])
        self.c_proj = nn.Linear(c["n_embd"], c["n_embd"], bias=c["bias"])
        self.n_head, self.n_embd = c["n_head"], c["n_embd"]
        L = c["block_size"]
        self.register_buffer("bias", torch.tril(torch.ones(L, L)).view(1, 1, L, L))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_fc = nn.Linear(c["n_embd"], 4 * c["n_embd"], bias=c["bias"])
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * c["n_embd"], c["n_embd"], bias=c["bias"])

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ln_1 = LayerNorm(c["n_embd"], bias=c["bias"])
        self.attn = CausalSelfAttention(c)
        self.ln_2 = LayerNorm(c["n_embd"], bias=c["bias"])
        self.mlp = MLP(c)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(c["vocab_size"], c["n_embd"]),
            wpe=nn.Embedding(c["block_size"], c["n_embd"]),
            h=nn.ModuleList([Block(c) for _ in range(c["n_layer"])]),
            ln_f=LayerNorm(c["n_embd"], bias=c["bias"]),
        ))
        self.lm_head = nn.Linear(c["n_embd"], c["vocab_size"], bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying
        self.apply(self._init_weights)
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * c["n_layer"]))

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx):
        b, t = idx.size()
        pos = torch.arange(0, t, dtype=torch.long)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))


def nanogpt(name, bias):
    torch.manual_seed(11 if bias else 12)
    c = dict(vocab_size=13, block_size=16, n_layer=2, n_head=2, n_embd=8, bias=bias)
    model = GPT(c).double()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    idx = torch.randint(0, 13, (2, 7))
    targets = torch.randint(0, 13, (2, 7))
    logits = model(idx)
    loss = F.cross_entropy(logits.view(-1, 13), targets.view(-1))
    loss.backward()
    state = model.state_dict()
    os.makedirs(GPT_DIR, exist_ok=True)
    save_safetensors(os.path.join(GPT_DIR, name + ".safetensors"), state, metadata={"n_head": "2"})
    params = {(mn + "." if mn else "") + pn: p for mn, m in model.named_modules() for pn, p in m._parameters.items() if p is not None}
    tensors = {"tokens": idx, "targets": targets, "logits": logits, "loss": loss.reshape(1)}
    for key in state:
        if key in params:
            tensors["grad." + key] = params[key].grad
    write_fixture("gpt_" + name, tensors, meta=dict(c, positions="learned", activation="gelu"))


# ---- GPT-2's forward (modeling_gpt2.py, eval mode), reading HF's layout directly ------------------------
def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def gpt2_forward(w, idx, n_head, n_layer, eps=1e-5):
    """w: {HF key without prefix: float64 tensor}. Conv1D: y = x @ W + b with W [in, out]."""
    B, T = idx.shape
    x = w["wte.weight"][idx] + w["wpe.weight"][torch.arange(T)]
    C = x.shape[-1]
    hd = C // n_head
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for n in range(n_layer):
        p = f"h.{n}."
        h = F.layer_norm(x, (C,), w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
        qkv = h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
        q, k, v = qkv.split(C, dim=2)
        q, k, v = (t.view(B, T, n_head, hd).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        att = torch.where(mask, att, torch.tensor(torch.finfo(att.dtype).min, dtype=att.dtype))
        att = torch.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + (y @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"])
        h = F.layer_norm(x, (C,), w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps)
        h = gelu_new(h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
        x = x + (h @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"])
    x = F.layer_norm(x, (C,), w["ln_f.weight"], w["ln_f.bias"], eps)
    return x @ w["wte.weight"].T   # the tied head


def gpt2_weights(V, P, C, n_layer, seed):
    """Random weights in HF's layout. Larger than GPT-2's 0.02 init so that the logits differ visibly between tokens."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *shape, std=0.02: torch.randn(*shape, generator=g, dtype=torch.float64) * std
    w = {"wte.weight": r(V, C, std=0.3), "wpe.weight": r(P, C, std=0.1)}
    for n in range(n_layer):
        p = f"h.{n}."
        w[p + "ln_1.weight"] = 1 + r(C, std=0.1)
        w[p + "ln_1.bias"] = r(C, std=0.1)
        w[p + "attn.c_attn.weight"] = r(C, 3 * C, std=0.3)
        w[p + "attn.c_attn.bias"] = r(3 * C, std=0.1)
        w[p + "attn.c_proj.weight"] = r(C, C, std=0.2)
        w[p + "attn.c_proj.bias"] = r(C, std=0.1)
        w[p + "ln_2.weight"] = 1 + r(C, std=0.1)
        w[p + "ln_2.bias"] = r(C, std=0.1)
        w[p + "mlp.c_fc.weight"] = r(C, 4 * C, std=0.3)
        w[p + "mlp.c_fc.bias"] = r(4 * C, std=0.1)
        w[p + "mlp.c_proj.weight"] = r(4 * C, C, std=0.2)
        w[p + "mlp.c_proj.bias"] = r(C, std=0.1)
    w["ln_f.weight"] = 1 + r(C, std=0.1)
    w["ln_f.bias"] = r(C, std=0.1)
    return w


def with_buffers(w, n_layer, P, dtype, masked_bias=False):
    """The file's tensors in dtype, with the attention buffers HF's checkpoints carry (ignored by a loader)."""
    out = {}
    for key, t in w.items():
        out[key] = t.to(dtype)
        if key.endswith("ln_1.bias"):   # after ln_1 (order as in HF's files is alphabetical anyway)
            n = key.split(".")[1]
            out[f"h.{n}.attn.bias"] = torch.tril(torch.ones(P, P, dtype=dtype)).view(1, 1, P, P)
            if masked_bias:
                out[f"h.{n}.attn.masked_bias"] = torch.tensor(-1e4, dtype=dtype)
    return out


def gpt2_tiny():
    V, P, C, L, H = 50257, 64, 16, 2, 2
    w = gpt2_weights(V, P, C, L, seed=7)
    stored = with_buffers(w, L, P, torch.float16)
    rounded = {k: t.to(torch.float16).to(torch.float64) for k, t in w.items()}   # what the F16 file holds, widened
    os.makedirs(GPT2_TINY, exist_ok=True)
    save_safetensors(os.path.join(GPT2_TINY, "model.safetensors"), stored, metadata={"format": "pt"})
    config = {
        "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1, "bos_token_id": 50256,
        "embd_pdrop": 0.1, "eos_token_id": 50256, "initializer_range": 0.02, "layer_norm_epsilon": 1e-05, "model_type": "gpt2",
        "n_ctx": P, "n_embd": C, "n_head": H, "n_inner": None, "n_layer": L, "n_positions": P, "resid_pdrop": 0.1,
        "torch_dtype": "float16", "vocab_size": V,
        "_comment": "A tiny GPT-2-shaped model with random weights (tests/reference/fixtures_gpt.py); not a trained model.",
    }
    with open(os.path.join(GPT2_TINY, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    # "Hello, world! The quick brown fox" and "<|endoftext|>…" style ids (any ids in range do; the high ones test the table's end)
    idx = torch.tensor([[15496, 11, 995, 0, 383, 2068, 7586, 21831, 18045],
                        [50256, 464, 50255, 1, 2, 3, 40000, 30000, 50256]])
    logits = gpt2_forward(rounded, idx, H, L)
    greedy, seq = [], idx[0].tolist()
    for _ in range(10):
        z = gpt2_forward(rounded, torch.tensor([seq]), H, L)[0, -1]
        nxt = int(torch.argmax(z))
        greedy.append(nxt)
        seq.append(nxt)
    # 50257 logits per position would make a 17 MB file: keep the first and last 256 columns, and of every full row
    # its log-sum-exp and arg-max (which a wrong column anywhere would change).
    write_fixture("gpt2_tiny/expected", {"tokens": idx, "logits.head": logits[..., :256], "logits.tail": logits[..., -256:],
                                         "logsumexp": torch.logsumexp(logits, dim=-1), "argmax": logits.argmax(dim=-1),
                                         "greedy.prompt": idx[0], "greedy.tokens": torch.tensor(greedy)},
                  meta=dict(vocab_size=V, n_positions=P, n_embd=C, n_layer=L, n_head=H, dtype="F16"))


def gpt2_prefixed():
    V, P, C, L, H = 37, 20, 12, 2, 3
    w = gpt2_weights(V, P, C, L, seed=8)
    stored = {"transformer." + k: t for k, t in with_buffers(w, L, P, torch.float32, masked_bias=True).items()}
    rounded = {k: t.to(torch.float32).to(torch.float64) for k, t in w.items()}
    os.makedirs(GPT_DIR, exist_ok=True)
    save_safetensors(os.path.join(GPT_DIR, "gpt2_prefixed_f32.safetensors"), stored)
    idx = torch.tensor([[1, 5, 36, 0, 7, 7, 20, 3, 11, 2, 30, 4]])
    write_fixture("gpt_gpt2_prefixed", {"tokens": idx, "logits": gpt2_forward(rounded, idx, H, L)},
                  meta=dict(vocab_size=V, n_positions=P, n_embd=C, n_layer=L, n_head=H, dtype="F32"))


if __name__ == "__main__":
    nanogpt("nanogpt", bias=True)
    nanogpt("nanogpt_nobias", bias=False)
    gpt2_tiny()
    gpt2_prefixed()
