"""PyTorch peer cases for normalisation (issue 11), float32.

layernorm_fwdbwd   nn.LayerNorm(1024) on x [4096, 1024] with x.requires_grad: forward, y.backward(dy) with a
                   fixed random dy, then x.grad, weight.grad and bias.grad set to None (the cheapest reset).
"""
import torch

ROWS, D = 4096, 1024


def _layernorm_fwdbwd():
    g = torch.Generator().manual_seed(1)
    ln = torch.nn.LayerNorm(D)
    x = torch.randn(ROWS, D, generator=g).requires_grad_(True)
    dy = torch.randn(ROWS, D, generator=g)

    def step():
        ln(x).backward(dy)
        x.grad = None
        ln.weight.grad = None
        ln.bias.grad = None
    return step


CASES = {
    "layernorm_fwdbwd": _layernorm_fwdbwd,
}
