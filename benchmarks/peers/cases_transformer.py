"""Transformer cases of the PyTorch peer (issue 11), float32, 2 threads. Names match Compare/TransformerSuite.cs.

  encoder_fwd     nn.TransformerEncoderLayer(256, 8, dim_feedforward=1024, dropout=0, activation="relu",
                  batch_first=True) on x [8, 128, 256], eval() under no_grad() (PyTorch 1.13 takes its native
                  fast path here, torch._transformer_encoder_layer_fwd)
  encoder_fwdbwd  train mode (dropout 0): zero the grads, forward, y.backward(dy) with a fixed random dy
                  (x.requires_grad, as the C# suite returns dInput)
"""
import torch
from torch import nn

B, L, D, H, FF = 8, 128, 256, 8, 1024


def _layer():
    torch.manual_seed(0)
    return nn.TransformerEncoderLayer(D, H, FF, dropout=0.0, activation="relu", batch_first=True)


def encoder_fwd():
    m = _layer().eval()
    x = torch.randn(B, L, D)

    def run():
        with torch.no_grad():
            m(x)
    return run


def encoder_fwdbwd():
    m = _layer().train()
    x = torch.randn(B, L, D, requires_grad=True)
    dy = torch.randn(B, L, D)

    def run():
        m.zero_grad(set_to_none=False)
        x.grad = None
        m(x).backward(dy)
    return run


CASES = {
    "encoder_fwd": encoder_fwd,
    "encoder_fwdbwd": encoder_fwdbwd,
}
