#!/usr/bin/env python3
"""PyTorch fixtures for attention (issue 10): nn.MultiheadAttention and scaled dot-product attention.

nn.MultiheadAttention (attention_mha_<case>.json), float64, PyTorch's default initialisation under a fixed
seed, E=8, H=2, L=5, S=4, N=3 (batched cases):
  - every state_dict tensor under its PyTorch name (in_proj_weight or q/k/v_proj_weight, in_proj_bias,
    bias_k, bias_v, out_proj.weight, out_proj.bias)
  - "query" (and "key", "value" unless meta.self: then query is passed as all three)
  - masks: "key_padding_mask" (1 = padding, ignore), "attn_mask_blocked" (1 = masked) and, for a float mask,
    "attn_mask_add" (the finite additive values; the float mask is attn_mask_add with -inf where blocked;
    JSON has no infinities)
  - "output", "weights" (when need_weights), "R_out", "R_w": the loss is
        L = sum(R_out * output) + sum(R_w * weights)
    so dL/doutput = R_out and dL/dweights = R_w
  - "grad.query" ("grad.key", "grad.value") and "grad.<name>" for every parameter
  meta: {self, batch_first, kdim, vdim, bias, add_bias_kv, add_zero_attn, need_weights, average,
         causal (the float mask is the causal mask: the C# test also runs isCausal), mask_kind: none|bool|float}

Scaled dot-product attention (attention_sdpa_<case>.json): PyTorch 1.13 has no fused SDPA, so the script
writes out PyTorch 2's documented reference math (sdpa_math below) and lets autograd differentiate it:
  "q", "k", "v", "mask_keep" (1 = take part) or "mask_add", "output", "weights", "R_out", "R_w",
  "grad.q", "grad.k", "grad.v", and "grad_output_only.q/k/v" for the loss sum(R_out * output) alone; meta: {scale, is_causal, bottom_right, enable_gqa, mask_kind}.

Usage: /usr/bin/python3 tests/reference/fixtures_attention.py   (or make_fixtures.py for all)
"""
import os
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import math
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import write_fixture  # noqa: E402

E, H, L, S, N = 8, 2, 5, 4, 3
NEG_INF = float("-inf")


def mha_case(name, seed, self_attn=False, batch_first=False, kdim=None, vdim=None, bias=True, add_bias_kv=False,
             add_zero_attn=False, need_weights=True, average=True, key_padding=False, mask_kind="none", causal=False,
             unbatched=False):
    torch.manual_seed(seed)
    m = nn.MultiheadAttention(E, H, bias=bias, add_bias_kv=add_bias_kv, add_zero_attn=add_zero_attn, kdim=kdim, vdim=vdim,
                              batch_first=batch_first).double()
    kd, vd = kdim or E, vdim or E
    src = L if self_attn else S

    def seq(length, features):
        if unbatched:
            return torch.randn(length, features, dtype=torch.float64)
        return torch.randn((N, length, features) if batch_first else (length, N, features), dtype=torch.float64)

    query = seq(L, E).requires_grad_(True)
    key = query if self_attn else seq(src, kd).requires_grad_(True)
    value = query if self_attn else seq(src, vd).requires_grad_(True)

    tensors = {k: v for k, v in m.state_dict().items()}
    tensors["query"] = query
    if not self_attn:
        tensors["key"], tensors["value"] = key, value

    kpm = None
    if key_padding:
        kpm = torch.zeros((src,) if unbatched else (N, src), dtype=torch.bool)
        if unbatched:
            kpm[-1] = True
        else:
            kpm[0, -1] = True
            kpm[1, 2 if causal else 0] = True  # causal: query 0 sees only key 0, which must stay
            if add_bias_kv or add_zero_attn:
                kpm[2, :] = True  # a fully padded sequence: only the appended positions remain
        tensors["key_padding_mask"] = kpm.double()

    attn_mask = None
    if mask_kind == "float":
        if causal:
            blocked = torch.ones(L, src, dtype=torch.bool).triu(1)
            add = torch.zeros(L, src, dtype=torch.float64)
        else:
            blocked = torch.rand(L, src) < 0.3
            blocked[:, 0] = False  # every query keeps a key
            add = torch.randn(L, src, dtype=torch.float64)
        attn_mask = add.masked_fill(blocked, NEG_INF)
        tensors["attn_mask_blocked"] = blocked.double()
        tensors["attn_mask_add"] = add.masked_fill(blocked, 0.0)
    elif mask_kind == "bool":
        shape = (H, L, src) if unbatched else (N * H, L, src)
        blocked = torch.rand(*shape) < 0.35
        blocked[..., 1] = False
        attn_mask = blocked  # nn.MultiheadAttention: True = not allowed to attend
        tensors["attn_mask_blocked"] = blocked.double()

    out, weights = m(query, key, value, key_padding_mask=kpm, need_weights=need_weights, attn_mask=attn_mask,
                     average_attn_weights=average)
    r_out = torch.randn_like(out)
    loss = (r_out * out).sum()
    tensors["output"], tensors["R_out"] = out, r_out
    if need_weights:
        r_w = torch.randn_like(weights)
        loss = loss + (r_w * weights).sum()
        tensors["weights"], tensors["R_w"] = weights, r_w
    loss.backward()
    tensors["grad.query"] = query.grad
    if not self_attn:
        tensors["grad.key"], tensors["grad.value"] = key.grad, value.grad
    for pname, p in m.named_parameters():
        tensors["grad." + pname] = p.grad
    meta = dict(self=self_attn, batch_first=batch_first, kdim=kd, vdim=vd, bias=bias, add_bias_kv=add_bias_kv,
                add_zero_attn=add_zero_attn, need_weights=need_weights, average=average, causal=causal, mask_kind=mask_kind,
                key_padding=key_padding, unbatched=unbatched, embed_dim=E, num_heads=H)
    write_fixture("attention_mha_" + name, tensors, meta)


def sdpa_math(q, k, v, attn_mask=None, is_causal=False, scale=None, enable_gqa=False, bottom_right=False):
    """PyTorch 2's documented reference for F.scaled_dot_product_attention (bottom_right: causal_lower_right)."""
    lq, lk = q.size(-2), k.size(-2)
    scale_factor = 1 / math.sqrt(q.size(-1)) if scale is None else scale
    attn_bias = torch.zeros(lq, lk, dtype=q.dtype)
    if is_causal:
        keep = torch.ones(lq, lk, dtype=torch.bool).tril(diagonal=lk - lq if bottom_right else 0)
        attn_bias.masked_fill_(keep.logical_not(), NEG_INF)
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            attn_bias = attn_bias.masked_fill(attn_mask.logical_not(), NEG_INF)
        else:
            attn_bias = attn_mask + attn_bias
    if enable_gqa:
        k = k.repeat_interleave(q.size(-3) // k.size(-3), -3)
        v = v.repeat_interleave(q.size(-3) // v.size(-3), -3)
    w = q @ k.transpose(-2, -1) * scale_factor
    w = w + attn_bias
    w = torch.softmax(w, dim=-1)
    return w @ v, w


def sdpa_case(name, seed, q_shape, k_shape, v_shape, mask_kind="none", mask_shape=None, is_causal=False, bottom_right=False,
              scale=None, enable_gqa=False):
    torch.manual_seed(seed)
    q = torch.randn(*q_shape, dtype=torch.float64, requires_grad=True)
    k = torch.randn(*k_shape, dtype=torch.float64, requires_grad=True)
    v = torch.randn(*v_shape, dtype=torch.float64, requires_grad=True)
    tensors = {"q": q, "k": k, "v": v}
    mask = None
    if mask_kind == "bool":
        mask = torch.rand(*mask_shape) > 0.3
        mask[..., 0] = True  # no fully masked row (PyTorch would give NaN there)
        tensors["mask_keep"] = mask.double()
    elif mask_kind == "float":
        mask = torch.randn(*mask_shape, dtype=torch.float64)
        tensors["mask_add"] = mask
    out, w = sdpa_math(q, k, v, mask, is_causal, scale, enable_gqa, bottom_right)
    r_out, r_w = torch.randn_like(out), torch.randn_like(w)
    ((r_out * out).sum() + (r_w * w).sum()).backward()
    tensors.update({"output": out, "weights": w, "R_out": r_out, "R_w": r_w, "grad.q": q.grad, "grad.k": k.grad, "grad.v": v.grad})
    # The gradients of the output term alone (what a caller that does not use the weights gets: the memory-efficient path).
    gq, gk, gv = torch.autograd.grad((r_out * sdpa_math(q, k, v, mask, is_causal, scale, enable_gqa, bottom_right)[0]).sum(), (q, k, v))
    tensors.update({"grad_output_only.q": gq, "grad_output_only.k": gk, "grad_output_only.v": gv})
    write_fixture("attention_sdpa_" + name, tensors,
                  dict(scale=scale, is_causal=is_causal, bottom_right=bottom_right, enable_gqa=enable_gqa, mask_kind=mask_kind))


def main():
    mha_case("self", 1, self_attn=True)
    mha_case("cross_kvdim", 2, batch_first=True, kdim=5, vdim=7, average=False, key_padding=True)
    mha_case("bias_kv_zero_attn", 3, add_bias_kv=True, add_zero_attn=True, key_padding=True, mask_kind="float")
    mha_case("causal", 4, self_attn=True, bias=False, key_padding=True, mask_kind="float", causal=True, batch_first=True)
    mha_case("bool_mask_noweights", 5, mask_kind="bool", need_weights=False, kdim=6)
    mha_case("unbatched", 6, self_attn=True, key_padding=True, average=False, unbatched=True, add_bias_kv=True)

    sdpa_case("basic", 11, (2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 3))
    sdpa_case("bool_mask", 12, (2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 3), "bool", (2, 1, 5, 6), scale=0.7)
    sdpa_case("float_mask", 13, (3, 5, 4), (3, 6, 4), (3, 6, 2), "float", (5, 6))
    sdpa_case("causal", 14, (2, 2, 6, 4), (2, 2, 6, 4), (2, 2, 6, 5), is_causal=True)
    sdpa_case("causal_bottom_right", 15, (1, 2, 3, 4), (1, 2, 7, 4), (1, 2, 7, 4), is_causal=True, bottom_right=True)
    sdpa_case("gqa", 16, (2, 6, 4, 4), (2, 2, 5, 4), (2, 2, 5, 3), "bool", (2, 6, 4, 5), enable_gqa=True, is_causal=True,
              bottom_right=True)


if __name__ == "__main__":
    main()
