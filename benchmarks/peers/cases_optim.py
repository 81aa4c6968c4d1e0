"""PyTorch peer cases for the optimiser step (issue 9), float32, 2 threads.

adamw_step          one torch.optim.AdamW step (lr 1e-3, weight_decay 0.01) over one 10,000,000-element
                    parameter with a fixed random gradient, with the FASTER of foreach=False and
                    foreach=True (both are timed briefly at set-up; stderr says which won).
adamw_step_foreach  the same with foreach=True (torch._foreach_* kernels over the parameter list).
adamw_step_single   the same with foreach=False (the single-tensor loop of in-place ops).
copy_400mb          dst.copy_(src) of 100,000,000 floats: the copy bandwidth the same machine reaches.
"""
import sys
import time

import torch

N = 10_000_000
COPY = 100_000_000


def _adamw(foreach):
    g = torch.Generator().manual_seed(0)
    p = torch.nn.Parameter(torch.randn(N, generator=g))
    p.grad = torch.randn(N, generator=g)
    opt = torch.optim.AdamW([p], lr=1e-3, weight_decay=0.01, foreach=foreach)
    opt.step()  # creates the state
    return opt.step


def _quick_ms(fn, runs=15):
    for _ in range(3):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter(); fn(); times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2] * 1e3


def _fastest():
    steps = {name: _adamw(foreach) for name, foreach in (("foreach=True", True), ("foreach=False", False))}
    ms = {name: _quick_ms(fn) for name, fn in steps.items()}
    best = min(ms, key=ms.get)
    print(f"adamw_step: {best} is faster ({', '.join(f'{k} {v:.1f} ms' for k, v in ms.items())})", file=sys.stderr)
    return steps[best]


def _copy():
    src = torch.ones(COPY)
    dst = torch.zeros(COPY)
    return lambda: dst.copy_(src)


CASES = {
    "adamw_step": _fastest,
    "adamw_step_foreach": lambda: _adamw(True),
    "adamw_step_single": lambda: _adamw(False),
    "copy_400mb": _copy,
}
