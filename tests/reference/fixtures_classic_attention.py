#!/usr/bin/env python3
"""PyTorch fixtures for the classic (seq2seq) attention scores (issue 10), float64, written out in torch.

For each score, B = 3 decoder states s [B, Ds] against encoder states h [B, T = 4, Dh] with lengths
[4, 2, 0] (row 2 is fully masked): scores e [B, T], positions t >= lengths[b] set to -inf, a = softmax_t(e)
with a fully masked row giving a = 0 (PyTorch would give NaN; the script writes that row out as zeros),
context c_b = sum_t a_bt h_bt. The loss L = sum(dcontext * c) + sum(dweights * a) with fixed random
dcontext [B, Dh] and dweights [B, T]; stored: s, h, lengths, the parameters, context, weights, dcontext,
dweights, ds, dh and d<param> for every parameter.

classic_dot       e = s . h_t                                   (Ds = Dh = 6)
classic_general   e = s^T W h_t, W = weight [Ds = 5, Dh = 6]
classic_lowrank   e = (u s) . (v h_t), u [r = 2, Ds], v [r, Dh]
classic_additive  e = Va(tanh(Wa(s) + Ua(h_t))), Linear layers as PyTorch's seq2seq tutorial's BahdanauAttention
                  (Wa: 5 -> 7, Ua: 6 -> 7, Va: 7 -> 1, with biases)

Run through make_fixtures.py: /usr/bin/python3 tests/reference/make_fixtures.py
"""
import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from common import write_fixture  # noqa: E402

torch.set_default_dtype(torch.float64)
B, T = 3, 4
LENGTHS = torch.tensor([4, 2, 0])


def attend(e, h):
    """Masked softmax over the source and the context vector; a fully masked row gives zeros."""
    pad = torch.arange(T)[None, :] >= LENGTHS[:, None]                 # [B, T], True = padding
    empty = pad.all(dim=1, keepdim=True)                               # [B, 1]
    e = torch.where(empty, torch.zeros_like(e), e.masked_fill(pad, float("-inf")))
    a = torch.softmax(e, dim=1) * (~empty)
    return torch.einsum("bt,btd->bd", a, h), a


def run(name, ds, dh, params, score):
    s = torch.randn(B, ds, requires_grad=True)
    h = torch.randn(B, T, dh, requires_grad=True)
    c, a = attend(score(s, h), h)
    dc, da = torch.randn(c.shape), torch.randn(a.shape)
    ((dc * c).sum() + (da * a).sum()).backward()
    t = {"s": s, "h": h, "lengths": LENGTHS, "context": c, "weights": a, "dcontext": dc, "dweights": da,
         "ds": s.grad, "dh": h.grad}
    for key, p in params.items():
        t[key] = p
        t["d" + key] = p.grad
    write_fixture(name, t, {"B": B, "T": T, "state_size": ds, "encoder_size": dh})


def param(*shape):
    return torch.randn(*shape).requires_grad_(True)


if __name__ == "__main__":
    torch.manual_seed(10)
    run("classic_dot", 6, 6, {}, lambda s, h: torch.einsum("bd,btd->bt", s, h))

    w = param(5, 6)
    run("classic_general", 5, 6, {"weight": w}, lambda s, h: torch.einsum("bi,ij,btj->bt", s, w, h))

    u, v = param(2, 5), param(2, 6)
    run("classic_lowrank", 5, 6, {"u": u, "v": v}, lambda s, h: torch.einsum("br,btr->bt", s @ u.T, h @ v.T))

    p = {"Wa.weight": param(7, 5), "Wa.bias": param(7), "Ua.weight": param(7, 6), "Ua.bias": param(7),
         "Va.weight": param(1, 7), "Va.bias": param(1)}

    def additive(s, h):
        z = torch.tanh(F.linear(s, p["Wa.weight"], p["Wa.bias"])[:, None, :] + F.linear(h, p["Ua.weight"], p["Ua.bias"]))
        return F.linear(z, p["Va.weight"], p["Va.bias"]).squeeze(-1)
    run("classic_additive", 5, 6, p, additive)
