"""GEMM cases for the PyTorch peer (torch_peer.py): C = A·B into a preallocated out= tensor.

Same names and shapes as benchmarks/NeuralPrimitives.Benchmarks/Compare/GemmSuite.cs:
sgemmN (float32) and dgemmN (float64), square n×n, row-major (contiguous), beta = 0.
sgemm_tn_MxNxK: C[m, n] = Aᵀ·B with A stored [k, m] (the GPT step's weight gradients dYᵀ·X);
sgemm_nn_MxNxK: the same m, n, k with A stored [m, k].
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


def _rect(transpose_a, m, n, k, dtype):
    def setup():
        g = torch.Generator().manual_seed(42)
        a = torch.randn(k, m, generator=g, dtype=dtype) if transpose_a else torch.randn(m, k, generator=g, dtype=dtype)
        b = torch.randn(k, n, generator=g, dtype=dtype)
        c = torch.empty(m, n, dtype=dtype)
        op_a = a.t() if transpose_a else a
        return lambda: torch.mm(op_a, b, out=c)
    return setup


CASES = {}
for _n in (256, 512, 1024):
    CASES[f"sgemm{_n}"] = _square(_n, torch.float32)
for _n in (256, 512, 1024):
    CASES[f"dgemm{_n}"] = _square(_n, torch.float64)
for _m, _n in ((256, 256), (768, 256), (1024, 256), (256, 1024)):
    CASES[f"sgemm_tn_{_m}x{_n}x2048"] = _rect(True, _m, _n, 2048, torch.float32)
    CASES[f"sgemm_nn_{_m}x{_n}x2048"] = _rect(False, _m, _n, 2048, torch.float32)
