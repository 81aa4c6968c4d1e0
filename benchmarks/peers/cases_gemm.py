"""GEMM cases for the PyTorch peer (torch_peer.py): C = A·B into a preallocated out= tensor.

Same names and shapes as benchmarks/NeuralPrimitives.Benchmarks/Compare/GemmSuite.cs:
sgemmN (float32) and dgemmN (float64), square n×n, row-major (contiguous), beta = 0.
"""
import torch


def _square(n, dtype):
    def setup():
        g = torch.Generator().manual_seed(42)
        a = torch.randn(n, n, generator=g, dtype=dtype)
        b = torch.randn(n, n, generator=g, dtype=dtype)
        c = torch.empty(n, n, dtype=dtype)
        return lambda: torch.mm(a, b, out=c)
    return setup


CASES = {}
for _n in (256, 512, 1024):
    CASES[f"sgemm{_n}"] = _square(_n, torch.float32)
for _n in (256, 512, 1024):
    CASES[f"dgemm{_n}"] = _square(_n, torch.float64)
