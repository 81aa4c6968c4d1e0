"""PyTorch peer cases for the losses (issue 9), float32.

ce_fwdbwd   F.cross_entropy (mean reduction, class-index targets) forward and backward on a
            requires_grad logits tensor [4096, 8192] with random targets; logits.grad is set to
            None between steps (the cheapest reset: no memset, the gradient is written, not added).
"""
import torch
import torch.nn.functional as F

N, C = 4096, 8192


def _ce_fwdbwd():
    g = torch.Generator().manual_seed(42)
    logits = torch.randn(N, C, generator=g).requires_grad_(True)
    target = torch.randint(0, C, (N,), generator=g)

    def step():
        F.cross_entropy(logits, target).backward()
        logits.grad = None
    return step


CASES = {
    "ce_fwdbwd": _ce_fwdbwd,
}
