#!/usr/bin/env python3
"""PyTorch fixtures for LayerNorm, RMSNorm and the transformer feed-forward nets (issue 11), float64.

Every case stores the input x, the parameters, the output y, a fixed random dy and the gradients of
L = sum(dy * y): dx and d<param> for every parameter.

norm_layernorm            nn.LayerNorm(6) with random weight/bias (x [3, 4, 6], rows offset by +5 and scaled by 3)
norm_layernorm_multidim   nn.LayerNorm([4, 5]) on x [2, 3, 4, 5], random weight/bias
norm_layernorm_noaffine   nn.LayerNorm(7, elementwise_affine=False) on x [5, 7]
norm_layernorm_nobias     F.layer_norm(x, (6,), weight, None): torch 1.13's nn.LayerNorm has no bias=False
                          (added in 2.1), so the weight-only layer is written with the functional form
norm_rmsnorm              RMSNorm(6) written out, since torch 1.13 has no nn.RMSNorm (2.4's definition):
                          y = x * rsqrt(mean(x^2, -1) + eps) * weight, eps=None -> finfo(float64).eps
norm_rmsnorm_multidim     the same over the last two dims [3, 4], eps = 1e-6
norm_rmsnorm_noaffine     RMSNorm(5, elementwise_affine=False), eps = 1e-6
ffn_relu, ffn_gelu, ffn_gelu_tanh
                          linear2(act(linear1(x))) with F.linear, d_model 6, dim_feedforward 10, x [2, 3, 6]
ffn_swiglu                w2(silu(w1(x)) * w3(x)) with biases
ffn_swiglu_nobias         the same without biases (LLaMA)
Names of parameters follow the modules: weight/bias; linear1.weight...; w1.weight...

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


def param(*shape):
    return torch.randn(*shape).requires_grad_(True)


def run(name, x, params, forward, meta):
    """Forward, backward of sum(dy * y), and write x, y, dy, dx and every parameter with its gradient."""
    x = x.clone().requires_grad_(True)
    y = forward(x)
    dy = torch.randn(y.shape)
    (dy * y).sum().backward()
    t = {"x": x, "y": y, "dy": dy, "dx": x.grad}
    for key, p in params.items():
        t[key] = p
        t["d" + key] = p.grad
    write_fixture(name, t, meta)


def layernorm():
    x = torch.randn(3, 4, 6) * 3 + 5
    ln = torch.nn.LayerNorm(6)
    with torch.no_grad():
        ln.weight.copy_(torch.randn(6)); ln.bias.copy_(torch.randn(6))
    run("norm_layernorm", x, {"weight": ln.weight, "bias": ln.bias}, ln, {"normalized_shape": [6], "eps": 1e-5})

    ln = torch.nn.LayerNorm([4, 5])
    with torch.no_grad():
        ln.weight.copy_(torch.randn(4, 5)); ln.bias.copy_(torch.randn(4, 5))
    run("norm_layernorm_multidim", torch.randn(2, 3, 4, 5), {"weight": ln.weight, "bias": ln.bias}, ln,
        {"normalized_shape": [4, 5], "eps": 1e-5})

    ln = torch.nn.LayerNorm(7, elementwise_affine=False)
    run("norm_layernorm_noaffine", torch.randn(5, 7) * 2 - 1, {}, ln, {"normalized_shape": [7], "eps": 1e-5})

    w = param(6)
    run("norm_layernorm_nobias", torch.randn(4, 6), {"weight": w}, lambda x: F.layer_norm(x, (6,), w, None, 1e-5),
        {"normalized_shape": [6], "eps": 1e-5, "bias": False})


def rms_norm(x, dims, weight, eps):
    """PyTorch 2.4's nn.RMSNorm, written out: eps=None means torch.finfo(x.dtype).eps."""
    if eps is None:
        eps = torch.finfo(x.dtype).eps
    dims = tuple(range(-dims, 0))
    y = x * torch.rsqrt(x.pow(2).mean(dims, keepdim=True) + eps)
    return y * weight if weight is not None else y


def rmsnorm():
    w = param(6)
    run("norm_rmsnorm", torch.randn(3, 4, 6) * 2 + 1, {"weight": w}, lambda x: rms_norm(x, 1, w, None),
        {"normalized_shape": [6], "eps": None})
    w = param(3, 4)
    run("norm_rmsnorm_multidim", torch.randn(2, 3, 4), {"weight": w}, lambda x: rms_norm(x, 2, w, 1e-6),
        {"normalized_shape": [3, 4], "eps": 1e-6})
    run("norm_rmsnorm_noaffine", torch.randn(4, 5), {}, lambda x: rms_norm(x, 1, None, 1e-6),
        {"normalized_shape": [5], "eps": 1e-6})


def ffn():
    d, dff = 6, 10
    acts = {
        "relu": F.relu,
        "gelu": lambda z: F.gelu(z, approximate="none"),
        "gelu_tanh": lambda z: F.gelu(z, approximate="tanh"),
    }
    for name, act in acts.items():
        p = {"linear1.weight": param(dff, d), "linear1.bias": param(dff), "linear2.weight": param(d, dff), "linear2.bias": param(d)}
        run("ffn_" + name, torch.randn(2, 3, d),  p,
            lambda x: F.linear(act(F.linear(x, p["linear1.weight"], p["linear1.bias"])), p["linear2.weight"], p["linear2.bias"]),
            {"d_model": d, "dim_feedforward": dff, "activation": name, "bias": True})
    for bias in (True, False):
        p = {"w1.weight": param(dff, d), "w2.weight": param(d, dff), "w3.weight": param(dff, d)}
        if bias:
            p.update({"w1.bias": param(dff), "w2.bias": param(d), "w3.bias": param(dff)})
        b = (lambda k: p[k]) if bias else (lambda k: None)
        run("ffn_swiglu" if bias else "ffn_swiglu_nobias", torch.randn(2, 3, d), p,
            lambda x: F.linear(F.silu(F.linear(x, p["w1.weight"], b("w1.bias"))) * F.linear(x, p["w3.weight"], b("w3.bias")),
                               p["w2.weight"], b("w2.bias")),
            {"d_model": d, "dim_feedforward": dff, "activation": "swiglu", "bias": bias})


if __name__ == "__main__":
    torch.manual_seed(11)
    layernorm()
    rmsnorm()
    ffn()
