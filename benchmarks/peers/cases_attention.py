"""Attention cases of the PyTorch peer (issue 10), float32. Names match Compare/AttentionSuite.cs.

  mha_fwd        nn.MultiheadAttention(256, 8, batch_first=True) self-attention, x [8, 128, 256], eval() under
                 no_grad(), need_weights=False (PyTorch 1.13 may take its native fast path here)
  mha_fwdbwd     train mode: zero the grads, forward with need_weights=False, output.sum().backward()
                 (x.requires_grad, as the C# suite returns dInput)
  sdpa_causal4096_fwd     q, k, v [1, 8, 4096, 64], causal: PyTorch 1.13 has no fused SDPA, so this is the
                 computation written out: s = q @ kᵀ · 1/√64, s.masked_fill(mask, -inf), softmax, @ v (no_grad)
  sdpa_causal4096_fwdbwd  the same with q, k, v requiring grad, o.sum().backward()
"""
import math

import torch
from torch import nn

B, L, D, H = 8, 128, 256, 8
SH, SL, SD = 8, 4096, 64


def _mha():
    torch.manual_seed(0)
    return nn.MultiheadAttention(D, H, batch_first=True)


def mha_fwd():
    m = _mha().eval()
    x = torch.randn(B, L, D)

    def run():
        with torch.no_grad():
            m(x, x, x, need_weights=False)
    return run


def mha_fwdbwd():
    m = _mha().train()
    x = torch.randn(B, L, D, requires_grad=True)

    def run():
        m.zero_grad(set_to_none=False)
        x.grad = None
        out, _ = m(x, x, x, need_weights=False)
        out.sum().backward()
    return run


def _sdpa(requires_grad):
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, SH, SL, SD, requires_grad=requires_grad) for _ in range(3))
    mask = torch.ones(SL, SL, dtype=torch.bool).triu(1)
    scale = 1 / math.sqrt(SD)

    def attend():
        s = (q @ k.transpose(-2, -1)) * scale
        s = s.masked_fill(mask, float("-inf"))
        return torch.softmax(s, dim=-1) @ v
    return q, k, v, attend


def sdpa_causal4096_fwd():
    _, _, _, attend = _sdpa(False)

    def run():
        with torch.no_grad():
            attend()
    return run


def sdpa_causal4096_fwdbwd():
    q, k, v, attend = _sdpa(True)

    def run():
        q.grad = k.grad = v.grad = None
        attend().sum().backward()
    return run


CASES = {
    "mha_fwd": mha_fwd,
    "mha_fwdbwd": mha_fwdbwd,
    "sdpa_causal4096_fwd": sdpa_causal4096_fwd,
    "sdpa_causal4096_fwdbwd": sdpa_causal4096_fwdbwd,
}
