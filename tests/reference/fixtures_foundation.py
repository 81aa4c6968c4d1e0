#!/usr/bin/env python3
"""PyTorch fixtures for the foundation primitives (float64, seeded).

Writes tests/NeuralPrimitives.Tests/Fixtures/foundation_*.json via common.write_fixture:
  foundation_linear_bias, foundation_linear_nobias
      x [2,3,5], weight [4,5], bias [4] (bias fixture only), y [2,3,4], R [2,3,4] and the grads
      of L = sum(R*y): dx, dweight, dbias.
  foundation_softmax, foundation_log_softmax
      x [5,7] over the last dim (rows 3 and 4 hold values of +-1e4), y, dy (stored), dx.
  foundation_activations
      x [64] on [-8, 8] plus 0, and for each of relu, tanh, sigmoid, silu, gelu, gelu_tanh:
      y_<name>, and dx_<name> for the stored dy.

Run through make_fixtures.py: /usr/bin/python3 tests/reference/make_fixtures.py
"""
import os
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import write_fixture  # noqa: E402


def linear(name, bias):
    g = torch.Generator().manual_seed(1234 if bias else 4321)
    lin = torch.nn.Linear(5, 4, bias=bias).double()
    with torch.no_grad():
        lin.weight.copy_(torch.randn(4, 5, generator=g, dtype=torch.float64))
        if bias:
            lin.bias.copy_(torch.randn(4, generator=g, dtype=torch.float64))
    x = torch.randn(2, 3, 5, generator=g, dtype=torch.float64, requires_grad=True)
    r = torch.randn(2, 3, 4, generator=g, dtype=torch.float64)
    y = lin(x)
    (r * y).sum().backward()
    t = {"x": x, "weight": lin.weight, "y": y, "R": r, "dx": x.grad, "dweight": lin.weight.grad}
    if bias:
        t["bias"] = lin.bias
        t["dbias"] = lin.bias.grad
    write_fixture(name, t, {"in_features": 5, "out_features": 4, "bias": bias, "loss": "sum(R*y)"})


def softmax(name, fn):
    g = torch.Generator().manual_seed(77)
    x = torch.randn(5, 7, generator=g, dtype=torch.float64) * 3
    x[3] = torch.tensor([1e4, -1e4, 1e4 - 1, 0.0, 1e4 - 0.5, -1e4 + 3, 1e4 - 30], dtype=torch.float64)
    x[4] = torch.tensor([-1e4, -1e4 + 2, -1e4 + 1, -1e4 + 0.25, 1e4 - 1e4 - 1e4, -1e4 - 20, -1e4 + 5], dtype=torch.float64)
    x.requires_grad_(True)
    y = fn(x, dim=-1)
    dy = torch.randn(5, 7, generator=g, dtype=torch.float64)
    y.backward(dy)
    write_fixture(name, {"x": x, "y": y, "dy": dy, "dx": x.grad}, {"dim": -1})


def activations():
    g = torch.Generator().manual_seed(99)
    x0 = torch.cat([torch.linspace(-8, 8, 63, dtype=torch.float64) + 0.0123, torch.zeros(1, dtype=torch.float64)])
    dy = torch.randn(64, generator=g, dtype=torch.float64)
    fns = {
        "relu": F.relu,
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "silu": F.silu,
        "gelu": lambda v: F.gelu(v, approximate="none"),
        "gelu_tanh": lambda v: F.gelu(v, approximate="tanh"),
    }
    t = {"x": x0, "dy": dy}
    for name, fn in fns.items():
        x = x0.clone().requires_grad_(True)
        y = fn(x)
        y.backward(dy)
        t["y_" + name] = y
        t["dx_" + name] = x.grad
    write_fixture("foundation_activations", t, {"functions": list(fns)})


if __name__ == "__main__":
    torch.manual_seed(0)
    linear("foundation_linear_bias", True)
    linear("foundation_linear_nobias", False)
    softmax("foundation_softmax", torch.softmax)
    softmax("foundation_log_softmax", torch.log_softmax)
    activations()
