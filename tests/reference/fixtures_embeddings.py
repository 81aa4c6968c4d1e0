#!/usr/bin/env python3
"""PyTorch fixtures for the embeddings area (issue 4), all in float64.

embeddings_embedding:      nn.Embedding with padding_idx and max_norm (weight before/after the
                           in-place renorm, output, weight grad), plus scale_grad_by_freq and a
                           negative padding_idx.
embeddings_embedding_bag:  nn.EmbeddingBag in sum/mean/max with 1-D input + offsets (including an
                           empty bag), sum with per_sample_weights (and their gradient), a 2-D input,
                           padding_idx, include_last_offset.
embeddings_sinusoidal:     the sin/cos table from the formula of "Attention Is All You Need"
                           (as in PyTorch's transformer tutorial).

Usage: /usr/bin/python3 tests/reference/fixtures_embeddings.py
"""
import math
import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402

from common import write_fixture  # noqa: E402

torch.manual_seed(4)
torch.set_default_dtype(torch.float64)


def embedding():
    V, D = 10, 4
    t = {}
    # padding_idx + max_norm: rows of N(0, 1.5²) so that several exceed the bound.
    w0 = torch.randn(V, D) * 1.5
    w0[2] = 0.0
    emb = torch.nn.Embedding(V, D, padding_idx=2, max_norm=1.5, norm_type=2.0)
    with torch.no_grad():
        emb.weight.copy_(w0)
    idx = torch.tensor([[3, 5, 2, 3, 0], [9, 2, 5, 5, 7], [1, 3, 8, 2, 6]])
    out = emb(idx)
    dout = torch.randn(out.shape)
    out.backward(dout)
    t.update(weight_before=w0, indices=idx, output=out, weight_after=emb.weight, dout=dout, grad=emb.weight.grad)

    # norm_type = 1 with max_norm (no padding).
    w1 = torch.randn(V, D)
    emb1 = torch.nn.Embedding(V, D, max_norm=2.0, norm_type=1.0)
    with torch.no_grad():
        emb1.weight.copy_(w1)
    idx1 = torch.tensor([4, 1, 4, 6])
    out1 = emb1(idx1)
    t.update(l1_weight_before=w1, l1_indices=idx1, l1_output=out1, l1_weight_after=emb1.weight)

    # scale_grad_by_freq with duplicates and a negative padding index (-1 = row V-1).
    w2 = torch.randn(V, D)
    emb2 = torch.nn.Embedding(V, D, padding_idx=-1, scale_grad_by_freq=True)
    with torch.no_grad():
        emb2.weight.copy_(w2)
    idx2 = torch.tensor([[1, 1, 1, 4], [9, 4, 0, 9]])
    out2 = emb2(idx2)
    dout2 = torch.randn(out2.shape)
    out2.backward(dout2)
    t.update(freq_weight=w2, freq_indices=idx2, freq_output=out2, freq_dout=dout2, freq_grad=emb2.weight.grad)
    write_fixture("embeddings_embedding", t, {"V": V, "D": D, "padding_idx": 2, "max_norm": 1.5, "l1_max_norm": 2.0,
                                              "freq_padding_idx": -1})


def bag_case(t, prefix, w, *inputs, per_sample_weights=None, **options):
    """An EmbeddingBag(**options) with weight w on inputs, backward with a random dout: stores
    <prefix>output, <prefix>dout, <prefix>grad."""
    bag = torch.nn.EmbeddingBag(*w.shape, **options)
    with torch.no_grad():
        bag.weight.copy_(w)
    out = bag(*inputs, per_sample_weights=per_sample_weights)
    dout = torch.randn(out.shape)
    out.backward(dout)
    t[f"{prefix}output"] = out
    t[f"{prefix}dout"] = dout
    t[f"{prefix}grad"] = bag.weight.grad


def embedding_bag():
    V, D = 8, 3
    t = {}
    w = torch.randn(V, D)
    t["weight"] = w
    idx = torch.tensor([1, 4, 4, 7, 0, 2, 4, 3, 5, 6])
    offsets = torch.tensor([0, 3, 3, 7])  # bag 1 is empty
    t["indices"] = idx
    t["offsets"] = offsets
    for mode in ["sum", "mean", "max"]:
        bag_case(t, f"{mode}_", w, idx, offsets, mode=mode)

    # sum with per_sample_weights
    psw = torch.randn(idx.shape, requires_grad=True)
    t["psw"] = psw
    bag_case(t, "psw_", w, idx, offsets, per_sample_weights=psw, mode="sum")
    t["psw_dpsw"] = psw.grad

    # 2-D input (fixed-size bags), every mode
    idx2 = torch.tensor([[0, 2, 2, 5], [7, 1, 3, 3], [6, 6, 6, 6]])
    t["indices2d"] = idx2
    for mode in ["sum", "mean", "max"]:
        bag_case(t, f"2d_{mode}_", w, idx2, mode=mode)

    # padding_idx = 4: left out of the bags (and of the mean's count)
    for mode in ["sum", "mean", "max"]:
        bag_case(t, f"pad_{mode}_", w, idx, offsets, mode=mode, padding_idx=4)

    # include_last_offset: offsets [0, 2, 5, 10] are 3 bags, the last ending at N = 10. (torch 1.13 corrupts
    # its heap when the last offset is < N, so that case is not a fixture; we treat the tail as unused.)
    bag = torch.nn.EmbeddingBag(V, D, mode="sum", include_last_offset=True)
    with torch.no_grad():
        bag.weight.copy_(w)
    offsets_last = torch.tensor([0, 2, 5, 10])
    out = bag(idx, offsets_last)
    t.update(last_offsets=offsets_last, last_output=out)
    write_fixture("embeddings_embedding_bag", t, {"V": V, "D": D, "padding_idx": 4})


def sinusoidal():
    max_len, d = 50, 16
    position = torch.arange(max_len).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d, 2) * (-math.log(10000.0) / d))
    pe = torch.zeros(max_len, d)
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)
    write_fixture("embeddings_sinusoidal", {"table": pe}, {"max_len": max_len, "d_model": d})


if __name__ == "__main__":
    embedding()
    embedding_bag()
    sinusoidal()
