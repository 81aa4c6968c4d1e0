"""Shared writer for PyTorch fixtures.

A fixture is a JSON file tests/NeuralPrimitives.Tests/Fixtures/<name>.json:
  {"meta": {...free-form settings...},
   "tensors": {"<key>": {"shape": [..], "data": [flat row-major float64 values]}}}
Values are written with 17 significant digits (round-trips float64 exactly).
Integer tensors (indices, lengths) are stored the same way and read back as ints.
"""
import json, os

import torch

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "NeuralPrimitives.Tests", "Fixtures")


def write_fixture(name, tensors, meta=None):
    os.makedirs(FIXTURES, exist_ok=True)
    out = {"meta": meta or {}, "tensors": {}}
    for key, t in tensors.items():
        t = torch.as_tensor(t).detach().to(torch.float64).contiguous()
        out["tensors"][key] = {"shape": list(t.shape), "data": [float(f"{v:.17g}") for v in t.flatten().tolist()]}
    path = os.path.join(FIXTURES, name + ".json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print(f"wrote {os.path.relpath(path)} ({os.path.getsize(path)} bytes)")
