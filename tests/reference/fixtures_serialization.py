#!/usr/bin/env python3
"""safetensors interop with PyTorch, both ways (issue 9, "Saving and loading").

There is no `safetensors` Python package here, so the format is written and read by hand
(save_safetensors / load_safetensors below, the same ~30 lines docs/serialization.md shows).

1. PyTorch -> library. With fixed seeds, builds
     lm      LanguageModel: embed = nn.Embedding(11, 5), lstm = nn.LSTM(5, 7, num_layers=2), head = nn.Linear(7, 11)
     gru     nn.GRU(4, 3, num_layers=2, bidirectional=True, batch_first=True)
     linear  nn.Linear(6, 4)
   and writes each state_dict to tests/NeuralPrimitives.Tests/Fixtures/torch_written/<model>_<dtype>.safetensors:
   F64 and F32 for all three; F16 and BF16 for lm and linear. Also ints.safetensors (I64 / I32 tensors).
   serialization_<model>.json (common.write_fixture) holds the input and PyTorch's outputs:
     out.f64   the float64 model                           (the F64 file loaded into a double module: ~1e-12)
     out.f32   the float32 model, computed in float32      (the F32 file loaded into a float module: ~1e-5)
     out.f16   float64 computation with the weights rounded to float16   (the F16 file widens exactly, so a
     out.bf16  float64 computation with the weights rounded to bfloat16   double module reproduces these to ~1e-12)
   (and h_n / c_n likewise for the recurrent models).

2. library -> PyTorch. The C# test SafeTensorsInteropTests.LibraryWrittenFilesAreUnchanged writes the
   library's own state_dicts (its seeded initialisation) to Fixtures/library_written/<name>.safetensors, and the
   library's outputs on a fixed input to <name>.io.safetensors; those files are committed. This script loads
   each into the PyTorch module (load_state_dict(strict=True)) and asserts that PyTorch's outputs equal the
   library's: it prints OK per file, or raises. Regenerate them with
     NP_WRITE_LIBRARY_FIXTURES=1 dotnet test -c Release --filter FullyQualifiedName~SafeTensorsInteropTests
"""
import json
import os
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import struct
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import FIXTURES, write_fixture  # noqa: E402

TORCH_WRITTEN = os.path.join(FIXTURES, "torch_written")
LIBRARY_WRITTEN = os.path.join(FIXTURES, "library_written")

# ---- the format, by hand -------------------------------------------------------------------------
DTYPES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
          torch.int64: "I64", torch.int32: "I32"}
NUMPY = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4"}


def save_safetensors(path, tensors, metadata=None):
    """Writes {name: tensor} as safetensors: u64 header length, JSON header padded to 8 bytes, raw data."""
    header, blobs, offset = ({"__metadata__": metadata} if metadata else {}), [], 0
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous()
        raw = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()  # little-endian host
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    print(f"wrote {os.path.relpath(path)} ({os.path.getsize(path)} bytes)")


def load_safetensors(path):
    """Reads a safetensors file into {name: tensor} (F64, F32, F16, BF16, I64, I32) and its metadata."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header, data = json.loads(raw[8:8 + n]), raw[8 + n:]
    metadata, tensors = header.pop("__metadata__", {}), {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        chunk = data[begin:end]
        if info["dtype"] == "BF16":
            t = torch.from_numpy(np.frombuffer(chunk, dtype="<i2").copy()).view(torch.bfloat16)
        else:
            t = torch.from_numpy(np.frombuffer(chunk, dtype=NUMPY[info["dtype"]]).copy())
        tensors[name] = t.reshape(info["shape"])
    return tensors, metadata


# ---- the models ----------------------------------------------------------------------------------
V, E, H = 11, 5, 7           # language model: vocabulary, embedding, hidden
T, B = 6, 2                  # its input: [T, B] token ids (sequence-first, like nn.LSTM's default)
GRU_I, GRU_H, GRU_T = 4, 3, 5
LIN_IN, LIN_OUT, LIN_N = 6, 4, 3


class LanguageModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(V, E)
        self.lstm = nn.LSTM(E, H, num_layers=2)
        self.head = nn.Linear(H, V)

    def forward(self, tokens):
        out, (h_n, c_n) = self.lstm(self.embed(tokens))
        return {"logits": self.head(out), "h_n": h_n, "c_n": c_n}


def make(kind):
    if kind == "lm":
        return LanguageModel()
    if kind == "gru":
        return nn.GRU(GRU_I, GRU_H, num_layers=2, bidirectional=True, batch_first=True)
    return nn.Linear(LIN_IN, LIN_OUT)


def run(kind, model, x):
    with torch.no_grad():
        if kind == "lm":
            return model(x)
        if kind == "gru":
            out, h_n = model(x)
            return {"output": out, "h_n": h_n}
        return {"output": model(x)}


def torch_to_library():
    os.makedirs(TORCH_WRITTEN, exist_ok=True)
    for kind, seed, low in (("lm", 901, True), ("gru", 902, False), ("linear", 903, True)):
        torch.manual_seed(seed)
        torch.set_default_dtype(torch.float64)  # initialised in double: the F64 file holds more than float32 values
        model = make(kind)
        torch.set_default_dtype(torch.float32)
        g = torch.Generator().manual_seed(seed + 1000)
        if kind == "lm":
            x = torch.randint(0, V, (T, B), generator=g)
        elif kind == "gru":
            x = torch.randn(B, GRU_T, GRU_I, generator=g, dtype=torch.float64)
        else:
            x = torch.randn(LIN_N, LIN_IN, generator=g, dtype=torch.float64)
        state = model.state_dict()
        fixture = {"input": x}
        variants = [("f64", torch.float64), ("f32", torch.float32)] + ([("f16", torch.float16), ("bf16", torch.bfloat16)] if low else [])
        for tag, dtype in variants:
            stored = {k: v.to(dtype) for k, v in state.items()}
            save_safetensors(os.path.join(TORCH_WRITTEN, f"{kind}_{tag}.safetensors"), stored, {"format": "pt", "source": "fixtures_serialization.py"})
            if dtype == torch.float32:  # PyTorch's own float32 computation
                m, xin = make(kind).float(), (x if kind == "lm" else x.float())
            else:                       # float64 computation with the stored (possibly rounded) weights
                m, xin = make(kind).double(), x
            m.load_state_dict({k: v.to(m.state_dict()[k].dtype) for k, v in stored.items()})
            for key, value in run(kind, m, xin).items():
                fixture[f"{key}.{tag}"] = value
        write_fixture(f"serialization_{kind}", fixture, {"kind": kind, "variants": [t for t, _ in variants]})

    # Integer tensors: token ids in both widths, a scalar, and values at the edges of exactness.
    g = torch.Generator().manual_seed(904)
    tokens = torch.randint(0, V, (T, B), generator=g)
    save_safetensors(os.path.join(TORCH_WRITTEN, "ints.safetensors"), {
        "tokens": tokens,                                                         # I64 [T, B]
        "tokens_i32": tokens.to(torch.int32),                                     # I32 [T, B]
        "step": torch.tensor(12345, dtype=torch.int64),                           # I64 scalar, shape []
        "exact_f32": torch.tensor([2**24, -2**24, 3 * 2**40, 0], dtype=torch.int64),  # exact in float and double
        "exact_f64_only": torch.tensor([2**24 + 1, 2**53], dtype=torch.int64),        # exact in double, not float
        "inexact": torch.tensor([2**53 + 1, 2**62 + 1], dtype=torch.int64),          # exact in neither
        "i32_edges": torch.tensor([-2**31, 2**31 - 1, -1, 7], dtype=torch.int32),
    })
    write_fixture("serialization_ints", {"tokens": tokens})


def library_to_torch():
    names = sorted(f[:-len(".safetensors")] for f in os.listdir(LIBRARY_WRITTEN)
                   if f.endswith(".safetensors") and not f.endswith(".io.safetensors")) if os.path.isdir(LIBRARY_WRITTEN) else []
    if not names:
        raise SystemExit(f"no library-written files in {LIBRARY_WRITTEN}: run the C# test first "
                         "(NP_WRITE_LIBRARY_FIXTURES=1 dotnet test -c Release --filter FullyQualifiedName~SafeTensorsInteropTests)")
    for name in names:
        state, meta = load_safetensors(os.path.join(LIBRARY_WRITTEN, name + ".safetensors"))
        io, _ = load_safetensors(os.path.join(LIBRARY_WRITTEN, name + ".io.safetensors"))
        kind, tag = name.rsplit("_", 1)
        dtype = {"f64": torch.float64, "f32": torch.float32}[tag]
        atol = {"f64": 1e-12, "f32": 2e-5}[tag]
        model = make(kind).to(dtype)
        model.load_state_dict(state, strict=True)  # the library's names are PyTorch's keys: no mapping
        x = io["input"].long() if kind == "lm" else io["input"].to(dtype)
        worst = 0.0
        for key, value in run(kind, model, x).items():
            expected = io[key]
            if tuple(expected.shape) != tuple(value.shape):
                raise AssertionError(f"{name}: {key} has shape {tuple(value.shape)} in PyTorch, {tuple(expected.shape)} in the library")
            diff = (value.double() - expected.double()).abs().max().item()
            worst = max(worst, diff)
            if diff > atol:
                raise AssertionError(f"{name}: PyTorch's {key} differs from the library's by {diff:.3e} (tolerance {atol:g})")
        print(f"OK {name}: PyTorch reproduces the library's outputs (max |diff| {worst:.2e}, tolerance {atol:g}; metadata {meta})")


if __name__ == "__main__":
    torch_to_library()
    library_to_torch()
