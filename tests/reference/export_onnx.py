#!/usr/bin/env python3
"""Exports the ONNX Runtime peer's models into benchmarks/models/ (torch.onnx.export, opset 14).

  sgemm256/512/1024   C = A·B, A and B float32 inputs [n, n]          (ONNX MatMul)
  dgemm256/512/1024   the same in float64                             (ONNX MatMul, double)
  rnn_fwd, lstm_fwd, gru_fwd
                      one-layer, one-direction nn.RNN(tanh)/nn.LSTM/nn.GRU forward, float32,
                      x [T=64, B=32, I=128], H=256, zero initial state; returns the output
                      sequence [T, B, H]. The graph must contain ORT's fused RNN/LSTM/GRU op:
                      this script checks it (and fails otherwise).

Shapes are fixed (no dynamic axes); the C# peer (benchmarks/NeuralPrimitives.Benchmarks/Compare/
OnnxPeer.cs) builds random inputs from the model's input metadata. The model names match the
case names of the comparison runner.

Usage: /usr/bin/python3 tests/reference/export_onnx.py [names...]
Needs only torch (the `onnx` Python package is not required: the graph check below reads the
protobuf wire format directly).
"""
import os
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import sys

import torch

OPSET = 14
MODELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "benchmarks", "models")
T, B, I, H = 64, 32, 128, 256


class MatMul(torch.nn.Module):
    def forward(self, a, b):
        return torch.matmul(a, b)


class SelfAttention(torch.nn.Module):
    """nn.MultiheadAttention self-attention, batch-first, output only (need_weights=False)."""

    def __init__(self, embed_dim, num_heads):
        super().__init__()
        self.mha = torch.nn.MultiheadAttention(embed_dim, num_heads, batch_first=True)

    def forward(self, x):
        m = self.mha
        t = x.transpose(0, 1)  # the functional form is sequence-first
        out, _ = torch.nn.functional.multi_head_attention_forward(
            t, t, t, m.embed_dim, m.num_heads, m.in_proj_weight, m.in_proj_bias, None, None, False, 0.0,
            m.out_proj.weight, m.out_proj.bias, training=False, need_weights=False)
        return out.transpose(0, 1)


class Recurrent(torch.nn.Module):
    """Wraps nn.RNN/LSTM/GRU so that only the output sequence is returned."""

    def __init__(self, cell):
        super().__init__()
        self.rnn = cell

    def forward(self, x):
        return self.rnn(x)[0]


# --- minimal protobuf reader: ModelProto.graph (7) -> GraphProto.node (1) -> NodeProto.op_type (4)
def _varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]; i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return result, i


def _fields(buf):
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            val, i = _varint(buf, i)
        elif wire == 1:
            val, i = buf[i:i + 8], i + 8
        elif wire == 2:
            n, i = _varint(buf, i)
            val, i = buf[i:i + n], i + n
        elif wire == 5:
            val, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield field, val


def op_types(path):
    with open(path, "rb") as f:
        model = f.read()
    graph = next(v for k, v in _fields(model) if k == 7)
    ops = []
    for k, node in _fields(graph):
        if k == 1:
            ops.append(next(v for f, v in _fields(node) if f == 4).decode())
    return ops


def export(name, module, inputs, input_names, required_op):
    path = os.path.join(MODELS, name + ".onnx")
    module.eval()
    with torch.no_grad():
        torch.onnx.export(module, inputs, path, opset_version=OPSET, input_names=input_names,
                          output_names=["y"], do_constant_folding=True)
    ops = op_types(path)
    if required_op not in ops:
        sys.exit(f"{name}: expected a fused {required_op} node, graph has {ops}")
    print(f"wrote {os.path.relpath(path)} ({os.path.getsize(path)} bytes), ops: {' '.join(ops)}")


def main(names):
    os.makedirs(MODELS, exist_ok=True)
    torch.manual_seed(0)
    todo = {}
    for n in (256, 512, 1024):
        for prefix, dtype in (("sgemm", torch.float32), ("dgemm", torch.float64)):
            a = torch.randn(n, n, dtype=dtype); b = torch.randn(n, n, dtype=dtype)
            todo[f"{prefix}{n}"] = (MatMul(), (a, b), ["A", "B"], "MatMul")
    x = torch.randn(T, B, I)
    todo["rnn_fwd"] = (Recurrent(torch.nn.RNN(I, H, nonlinearity="tanh")), (x,), ["x"], "RNN")
    todo["lstm_fwd"] = (Recurrent(torch.nn.LSTM(I, H)), (x,), ["x"], "LSTM")
    todo["gru_fwd"] = (Recurrent(torch.nn.GRU(I, H)), (x,), ["x"], "GRU")
    todo["mha_fwd"] = (SelfAttention(256, 8), (torch.randn(8, 128, 256),), ["x"], "Softmax")
    for name in names or list(todo):
        export(name, *todo[name])


if __name__ == "__main__":
    main(sys.argv[1:])
