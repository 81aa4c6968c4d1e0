"""Recurrent cases of the PyTorch peer (issue 5): T=64, B=32, I=128, H=256, one layer, one direction, float32.

  <kind>_fwd     forward in inference mode: module.eval() under torch.no_grad()
  <kind>_fwdbwd  training step without the optimiser: zero the grads, forward (train mode),
                 output.sum().backward()  (dOutput = ones, as the C# suite does)
The input is [T, B, I] (batch_first=False) and the initial state is the implicit zero state.
Names match benchmarks/NeuralPrimitives.Benchmarks/Compare/RecurrentSuite.cs.
"""
import torch
from torch import nn

T, B, I, H = 64, 32, 128, 256


def _module(kind):
    torch.manual_seed(0)
    if kind == "rnn":
        return nn.RNN(I, H)  # tanh
    if kind == "lstm":
        return nn.LSTM(I, H)
    return nn.GRU(I, H)


def _fwd(kind):
    def setup():
        m = _module(kind).eval()
        x = torch.randn(T, B, I)

        def run():
            with torch.no_grad():
                m(x)
        return run
    return setup


def _fwdbwd(kind):
    def setup():
        m = _module(kind).train()
        x = torch.randn(T, B, I, requires_grad=True)

        def run():
            m.zero_grad(set_to_none=False)
            x.grad = None
            out, _ = m(x)
            out.sum().backward()
        return run
    return setup


CASES = {}
for _kind in ("rnn", "lstm", "gru"):
    CASES[f"{_kind}_fwd"] = _fwd(_kind)
    CASES[f"{_kind}_fwdbwd"] = _fwdbwd(_kind)
