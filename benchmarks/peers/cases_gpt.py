"""PyTorch peer case for a GPT training step (issue 11), float32, 2 threads.

gpt_step   nanoGPT's GPT (model.py, written out below as it runs on torch 1.13: no F.scaled_dot_product_attention,
           so the attention is q@kᵀ, masked_fill with the causal buffer, softmax, @v) with vocab 65, block 128,
           n_layer 4, n_head 4, n_embd 256, bias, exact nn.GELU, tied head, dropout 0, on random tokens [B=16, L=128]:
           forward, F.cross_entropy against random targets, backward, clip_grad_norm_(1.0), AdamW(lr=1e-3) step
           (foreach left at its default), zero_grad(set_to_none=True).
gelu_fwdbwd  the MLP's exact nn.GELU on its hidden activations [B·L = 2048, 4C = 1024] with requires_grad: forward,
           backward with a fixed random dy, x.grad set to None.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from cases_training import training_step  # the peers folder is on sys.path (torch_peer.py, compare.sh)

V, L, B, N_LAYER, N_HEAD, C = 65, 128, 16, 4, 4, 256


class _Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_attn = nn.Linear(C, 3 * C)
        self.c_proj = nn.Linear(C, C)
        self.register_buffer("bias", torch.tril(torch.ones(L, L)).view(1, 1, L, L))

    def forward(self, x):
        b, t, c = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (z.view(b, t, N_HEAD, c // N_HEAD).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :t, :t] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        return self.c_proj((att @ v).transpose(1, 2).contiguous().view(b, t, c))


class _Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1, self.attn, self.ln_2 = nn.LayerNorm(C), _Attention(), nn.LayerNorm(C)
        self.mlp = nn.Sequential(nn.Linear(C, 4 * C), nn.GELU(), nn.Linear(4 * C, C))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class _Gpt(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(L, C)
        self.h = nn.ModuleList([_Block() for _ in range(N_LAYER)])
        self.ln_f = nn.LayerNorm(C)
        self.lm_head = nn.Linear(C, V, bias=False)
        self.wte.weight = self.lm_head.weight
        for p in self.parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, 0.0, 0.02)

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.size(1)))
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def _gpt_step():
    torch.manual_seed(0)
    model = _Gpt()
    params = list(model.parameters())
    opt = torch.optim.AdamW(params, lr=1e-3)
    x = torch.randint(0, V, (B, L))
    y = torch.randint(0, V, (B, L))

    return training_step(params, opt, lambda: F.cross_entropy(model(x).view(-1, V), y.view(-1)))


def _gelu_fwdbwd():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(B * L, 4 * C, generator=g).requires_grad_(True)
    dy = torch.randn(B * L, 4 * C, generator=g)
    gelu = nn.GELU()

    def step():
        gelu(x).backward(dy)
        x.grad = None
    return step


CASES = {"gpt_step": _gpt_step, "gelu_fwdbwd": _gelu_fwdbwd}
