#!/usr/bin/env python3
"""PyTorch fixtures for the losses (issue 9), all in float64.

Each file holds several cases; meta["cases"] lists them with their options, and every case's tensors
are stored under "<case>.<key>":
  x        the input (logits, log-probabilities, predictions)
  target   class indices or a tensor like x (KL: log-probabilities when log_target)
  weight   class / element weights, pos_weight (BCE), when the case has them
  loss     the loss PyTorch returns (a scalar [] for mean/sum/batchmean, the per-element losses for none)
  dloss    the upstream gradient used for backward: a scalar [] (mean/sum/batchmean) or per-element (none)
  dx       d(dloss · loss)/dx

Our logits keep the class axis last ([..., C]); PyTorch's is axis 1, so a 3-D case [B, T, C] is evaluated in
PyTorch on x.permute(0, 2, 1) and stored in our layout.

losses_cross_entropy       class-index targets: every reduction x weight x ignore_index (-100 with ignored
                           rows, or a valid class 2) x label_smoothing (0, 0.2) on [5, 4]; 3-D [2, 3, 4] cases;
                           logits of +-1e4
losses_cross_entropy_prob  class-probability targets: reduction x weight x label_smoothing, and a 3-D case
losses_nll                 NLL on log_softmax outputs: reduction x weight x ignore_index, and a 3-D case
losses_regression          MSE, L1, Huber (delta 1, 0.5, 2), SmoothL1 (beta 1, 0.5, 0) x reduction; the
                           differences lie on both sides of the threshold, away from it
losses_bce                 BCEWithLogits x reduction x weight (none, [C], full) x pos_weight (none, [C]);
                           logits include +-30 and +-1e4
losses_kl                  KLDiv x log_target x reduction (incl. batchmean); targets include zeros

Usage: /usr/bin/python3 tests/reference/fixtures_losses.py   (or make_fixtures.py)
"""
import itertools
import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from common import write_fixture  # noqa: E402

torch.manual_seed(9)
torch.set_default_dtype(torch.float64)

REDUCTIONS = ["mean", "sum", "none"]


def run(fn, x, reduction, extra):
    """Evaluates fn(x) and its gradient for a stored upstream gradient; returns the tensors of one case."""
    x = x.clone().requires_grad_(True)
    loss = fn(x)
    dloss = torch.randn(loss.shape) if reduction == "none" else torch.tensor(0.75 if extra.get("scaled") else 1.0)
    loss.backward(dloss)
    return {"loss": loss, "dloss": dloss, "dx": x.grad}


def add_case(cases, tensors, name, meta, values):
    cases.append(dict(name=name, **meta))
    for k, v in values.items():
        tensors[f"{name}.{k}"] = v


def add_run(cases, tensors, name, meta, fn, x, target, **optional):
    """One case from run(fn, x) at meta's reduction: x, target, loss, dloss, dx, then each optional tensor that is given."""
    values = dict(x=x, target=target, **run(fn, x, meta["reduction"], meta))
    values.update((k, v) for k, v in optional.items() if v is not None)
    add_case(cases, tensors, name, meta, values)


def class_logits_last(x):
    """PyTorch layout (classes on axis 1) of our [..., C] logits."""
    return x if x.dim() == 2 else x.movedim(-1, 1)


def cross_entropy():
    cases, tensors = [], {}
    C = 4
    for i, (reduction, weighted, ignore, smoothing) in enumerate(itertools.product(REDUCTIONS, [False, True], [-100, 2], [0.0, 0.2])):
        x = torch.randn(5, C) * 2
        y = torch.randint(0, C, (5,))
        y[1] = ignore  # one ignored row (ignore = 2 is also a valid class: rows with class 2 are ignored)
        if ignore == -100:
            y[3] = -100
        w = torch.rand(C) + 0.5 if weighted else None
        meta = dict(reduction=reduction, ignore_index=ignore, label_smoothing=smoothing, weighted=weighted, scaled=i % 2 == 1)
        fn = lambda t: F.cross_entropy(class_logits_last(t), y, weight=w, ignore_index=ignore, reduction=reduction, label_smoothing=smoothing)
        add_run(cases, tensors, f"c{i}", meta, fn, x, y, weight=w)
    # 3-D logits [B, T, C] with the class axis last.
    for j, (reduction, weighted, smoothing) in enumerate([("mean", False, 0.0), ("mean", True, 0.1), ("sum", True, 0.0), ("none", False, 0.3)]):
        x = torch.randn(2, 3, C)
        y = torch.randint(0, C, (2, 3))
        y[0, 1] = -100
        w = torch.rand(C) + 0.5 if weighted else None
        meta = dict(reduction=reduction, ignore_index=-100, label_smoothing=smoothing, weighted=weighted, scaled=j == 2)
        fn = lambda t: F.cross_entropy(t.movedim(-1, 1), y, weight=w, reduction=reduction, label_smoothing=smoothing)
        add_run(cases, tensors, f"d{j}", meta, fn, x, y, weight=w)
    # Logits of +-1e4: finite and exact thanks to the max shift.
    x = torch.tensor([[1e4, -1e4, 1e4 - 1, 0.0, 1e4 - 3],
                      [-1e4, -1e4 + 2, -1e4 + 1, -1e4 + 0.5, -1e4 - 7],
                      [1e4, 1e4, 1e4, 1e4, 1e4],
                      [-1e4, 1e4, 0.0, 5.0, -3.0]])
    y = torch.tensor([2, 4, 0, 0])
    for j, (reduction, smoothing) in enumerate([("mean", 0.0), ("none", 0.25)]):
        meta = dict(reduction=reduction, ignore_index=-100, label_smoothing=smoothing, weighted=False, scaled=False)
        fn = lambda t: F.cross_entropy(t, y, reduction=reduction, label_smoothing=smoothing)
        add_run(cases, tensors, f"h{j}", meta, fn, x, y)
    write_fixture("losses_cross_entropy", tensors, {"cases": cases})


def cross_entropy_prob():
    cases, tensors = [], {}
    C = 5
    for i, (reduction, weighted, smoothing) in enumerate(itertools.product(REDUCTIONS, [False, True], [0.0, 0.2])):
        x = torch.randn(4, C) * 2
        t = torch.softmax(torch.randn(4, C) * 2, -1)
        w = torch.rand(C) + 0.5 if weighted else None
        meta = dict(reduction=reduction, label_smoothing=smoothing, weighted=weighted, scaled=i % 2 == 1)
        fn = lambda z: F.cross_entropy(z, t, weight=w, reduction=reduction, label_smoothing=smoothing)
        add_run(cases, tensors, f"p{i}", meta, fn, x, t, weight=w)
    x = torch.randn(2, 3, C)
    t = torch.softmax(torch.randn(2, 3, C), -1)
    meta = dict(reduction="mean", label_smoothing=0.1, weighted=False, scaled=False)
    fn = lambda z: F.cross_entropy(z.movedim(-1, 1), t.movedim(-1, 1), reduction="mean", label_smoothing=0.1)
    add_run(cases, tensors, "q0", meta, fn, x, t)
    write_fixture("losses_cross_entropy_prob", tensors, {"cases": cases})


def nll():
    cases, tensors = [], {}
    C = 4
    for i, (reduction, weighted, ignore) in enumerate(itertools.product(REDUCTIONS, [False, True], [-100, 1])):
        x = F.log_softmax(torch.randn(6, C) * 2, -1)
        y = torch.randint(0, C, (6,))
        y[2] = ignore
        w = torch.rand(C) + 0.5 if weighted else None
        meta = dict(reduction=reduction, ignore_index=ignore, weighted=weighted, scaled=i % 2 == 1)
        fn = lambda t: F.nll_loss(t, y, weight=w, ignore_index=ignore, reduction=reduction)
        add_run(cases, tensors, f"n{i}", meta, fn, x, y, weight=w)
    x = F.log_softmax(torch.randn(2, 3, C), -1)
    y = torch.randint(0, C, (2, 3))
    w = torch.rand(C) + 0.5
    meta = dict(reduction="mean", ignore_index=-100, weighted=True, scaled=False)
    fn = lambda t: F.nll_loss(t.movedim(-1, 1), y, weight=w, reduction="mean")
    add_case(cases, tensors, "m0", meta, dict(x=x, target=y, weight=w, **run(fn, x, "mean", meta)))
    write_fixture("losses_nll", tensors, {"cases": cases})


def regression():
    cases, tensors = [], {}
    # Differences in +-[0.05, 0.4] and +-[0.6, 3] for every threshold used (0.5, 1, 2): never within 0.05 of one.
    mags = torch.tensor([0.05, 0.2, 0.4, 0.6, 0.8, 0.95, 1.1, 1.5, 1.9, 2.1, 2.6, 3.0])
    signs = torch.tensor([1, -1, -1, 1, -1, 1, 1, -1, 1, -1, -1, 1])
    losses = [("mse", {}, lambda a, b, r: F.mse_loss(a, b, reduction=r)),
              ("l1", {}, lambda a, b, r: F.l1_loss(a, b, reduction=r))]
    for d in [1.0, 0.5, 2.0]:
        losses.append(("huber", {"delta": d}, lambda a, b, r, d=d: F.huber_loss(a, b, reduction=r, delta=d)))
    for beta in [1.0, 0.5, 0.0]:
        losses.append(("smooth_l1", {"beta": beta}, lambda a, b, r, beta=beta: F.smooth_l1_loss(a, b, reduction=r, beta=beta)))
    i = 0
    for kind, opts, fn in losses:
        for reduction in REDUCTIONS:
            t = torch.randn(3, 4)
            x = t + (mags * signs)[torch.randperm(12)].reshape(3, 4)
            meta = dict(loss=kind, reduction=reduction, scaled=i % 2 == 1, **opts)
            add_run(cases, tensors, f"r{i}", meta, lambda z: fn(z, t, reduction), x, t)
            i += 1
    write_fixture("losses_regression", tensors, {"cases": cases})


def bce():
    cases, tensors = [], {}
    C = 3
    i = 0
    for reduction, weight_kind, pos in itertools.product(REDUCTIONS, ["none", "class", "full"], [False, True]):
        x = torch.randn(4, C) * 3
        x[0] = torch.tensor([30.0, -30.0, 1e4])
        x[1, 2] = -1e4
        t = torch.rand(4, C)
        t[0] = torch.tensor([1.0, 0.0, 0.0])
        w = {"none": None, "class": torch.rand(C) + 0.5, "full": torch.rand(4, C) + 0.5}[weight_kind]
        pw = torch.rand(C) * 3 + 0.2 if pos else None
        meta = dict(reduction=reduction, weight=weight_kind, pos_weight=pos, scaled=i % 2 == 1)
        fn = lambda z: F.binary_cross_entropy_with_logits(z, t, weight=w, pos_weight=pw, reduction=reduction)
        add_run(cases, tensors, f"b{i}", meta, fn, x, t, weight=w, pos_weight=pw)
        i += 1
    write_fixture("losses_bce", tensors, {"cases": cases})


def kl():
    cases, tensors = [], {}
    i = 0
    for log_target, reduction in itertools.product([False, True], ["mean", "batchmean", "sum", "none"]):
        x = F.log_softmax(torch.randn(3, 5), -1)
        p = torch.softmax(torch.randn(3, 5) * 2, -1)
        if not log_target:
            p[0, 1] = 0.0  # 0·log 0 = 0 (with log_target, log 0 = -inf would give NaN in PyTorch too)
        t = p.log() if log_target else p
        meta = dict(reduction=reduction, log_target=log_target, scaled=i % 2 == 1)
        fn = lambda z: F.kl_div(z, t, reduction=reduction, log_target=log_target)
        add_run(cases, tensors, f"k{i}", meta, fn, x, t)
        i += 1
    write_fixture("losses_kl", tensors, {"cases": cases})


if __name__ == "__main__":
    cross_entropy()
    cross_entropy_prob()
    nll()
    regression()
    bce()
    kl()
