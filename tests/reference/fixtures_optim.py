"""Fixtures for optimisers and learning-rate schedules (PyTorch 1.13, float64).

Optimiser trajectories (optim_sgd, optim_adam, optim_rmsprop, optim_adagrad): 20 steps of torch.optim on a
problem that needs no loss code on either side. Parameters a [2, 3] and b [3] are dense; e [6, 3] is an
embedding-like table with a row-sparse gradient. The gradient at step t = 1..20 of element k (flat index)
of the parameter with number n (a 0, b 1, e 2) is

    g = A ⊙ (θ − C) + 0.3 · sin(0.7 t + 1.1 k + 0.5 n)          (a quadratic pull plus a wobble)

computed from θ before the step; the C# test computes the same formula. The sparse parameter is touched
at step t in rows R_t = [2t mod 6, (3t + 1) mod 6, 2t mod 6] (so one row twice: its gradient is 2g), and
in no row when t is a multiple of 7 (an empty sparse gradient: the step count still advances).

Options PyTorch refuses with a sparse gradient are emulated with PyTorch's own optimisers, as the C# side
documents them: lazy L2 weight decay adds λ·θ_r to the touched rows' gradients (SGD, Adagrad, Adam), AdamW's
lazy decoupled decay multiplies the touched rows by (1 − γλ) before SparseAdam's step. Adam/AdamW on a sparse
parameter is torch.optim.SparseAdam (the lazy rule). Adagrad's sums start at each group's
initial_accumulator_value (PyTorch's constructor uses its own argument for every group; the C# side the group's).

Keys: "<case>.<param>" of shape [20, *shape], θ after each step; the initial values and A, C are
"init.<param>", "A.<param>", "C.<param>". meta["cases"][case] gives the optimiser, its keyword arguments and
(optionally) parameter groups.

Schedules (optim_schedules): "<case>.lr" [steps + 1, groups] is every group's lr after construction and after
each scheduler.step(); OneCycleLR cases also store "<case>.momentum" (SGD) or "<case>.beta1" (Adam).
"""
import math
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch

from common import write_fixture

torch.set_default_dtype(torch.float64)
STEPS = 20
SHAPES = {"a": (2, 3), "b": (3,), "e": (6, 3)}
NUMBER = {"a": 0, "b": 1, "e": 2}


def problem():
    g = torch.Generator().manual_seed(20240901)
    init = {n: torch.randn(s, generator=g) for n, s in SHAPES.items()}
    A = {n: 0.5 + torch.rand(s, generator=g) for n, s in SHAPES.items()}
    C = {n: torch.randn(s, generator=g) for n, s in SHAPES.items()}
    return init, A, C


INIT, A, C = problem()


def dense_grad(name, theta, t):
    k = torch.arange(theta.numel(), dtype=torch.float64).reshape(theta.shape)
    return A[name] * (theta - C[name]) + 0.3 * torch.sin(0.7 * t + 1.1 * k + 0.5 * NUMBER[name])


def touched_rows(t):
    return [] if t % 7 == 0 else [(2 * t) % 6, (3 * t + 1) % 6, (2 * t) % 6]


def sparse_grad(theta, t):
    """The row-sparse gradient of e at step t, coalesced (duplicate rows summed)."""
    rows = touched_rows(t)
    full = dense_grad("e", theta, t)
    if not rows:
        # An empty gradient shaped like zero_() leaves it (2 sparse dims): SparseAdam 1.13 fails on an empty hybrid one.
        return torch.sparse_coo_tensor(torch.zeros((2, 0), dtype=torch.long), torch.zeros(0), (6, 3))
    idx = torch.tensor([rows])
    return torch.sparse_coo_tensor(idx, full[rows], (6, 3)).coalesce()


def make_params(names):
    return {n: torch.nn.Parameter(INIT[n].clone()) for n in names}


def run(case, opt_name, kwargs, names, groups=None, sparse_opt=None, lazy_wd=None):
    """Runs STEPS steps and returns {"<case>.<name>": [STEPS, *shape]}.

    groups: list of dicts {"params": [names], hyperparameters...} (PyTorch's param groups), else one list.
    sparse_opt: (class, kwargs) for the sparse parameter e when opt_name cannot take it (Adam -> SparseAdam).
    lazy_wd: ("l2", λ) or ("decoupled", λ, lr): emulate lazy weight decay on e's touched rows.
    """
    params = make_params(names)
    dense = [n for n in names if n != "e"]
    cls = getattr(torch.optim, opt_name)
    opts = []
    if groups:
        opts.append(cls([dict(g, params=[params[n] for n in g["params"]]) for g in groups], **kwargs))
        if opt_name == "Adagrad":
            # PyTorch fills every sum with the constructor's initial_accumulator_value, ignoring a group's own;
            # the C# Adagrad uses the group's value, so start PyTorch's sums there too.
            for g in opts[0].param_groups:
                for q in g["params"]:
                    opts[0].state[q]["sum"].fill_(g["initial_accumulator_value"])
    elif sparse_opt:
        if dense:
            opts.append(cls([params[n] for n in dense], **kwargs))
        opts.append(sparse_opt[0]([params["e"]], **sparse_opt[1]))
    else:
        opts.append(cls([params[n] for n in names], **kwargs))
    traj = {n: [] for n in names}
    for t in range(1, STEPS + 1):
        for n, p in params.items():
            if n == "e":
                grad = sparse_grad(p.detach(), t)
                if lazy_wd and grad._nnz() > 0:
                    rows = grad._indices()[0]
                    if lazy_wd[0] == "l2":
                        grad = torch.sparse_coo_tensor(grad._indices(), grad._values() + lazy_wd[1] * p.detach()[rows], (6, 3))
                    else:
                        with torch.no_grad():
                            p[rows] *= 1 - lazy_wd[2] * lazy_wd[1]
                p.grad = grad
            else:
                p.grad = dense_grad(n, p.detach(), t)
        for o in opts:
            o.step()
        for n, p in params.items():
            traj[n].append(p.detach().clone())
    return {f"{case}.{n}": torch.stack(v) for n, v in traj.items()}


def problem_tensors():
    out = {}
    for n in SHAPES:
        out[f"init.{n}"], out[f"A.{n}"], out[f"C.{n}"] = INIT[n], A[n], C[n]
    return out


def write_optimizer_fixture(name, cases):
    tensors, meta = problem_tensors(), {"steps": STEPS, "cases": {}}
    for case, spec in cases.items():
        spec = dict(spec)
        names = spec.pop("names", ["a", "b"])
        tensors.update(run(case, spec["optimizer"], spec.get("kwargs", {}), names, groups=spec.get("groups"),
                           sparse_opt=spec.pop("sparse_opt", None), lazy_wd=spec.pop("lazy_wd", None)))
        meta["cases"][case] = dict(spec, names=names)
    write_fixture(name, tensors, meta)


def optimizers():
    sparse_adam = lambda lr, betas=(0.9, 0.999), eps=1e-8: (torch.optim.SparseAdam, dict(lr=lr, betas=betas, eps=eps))
    write_optimizer_fixture("optim_sgd", {
        "plain": dict(optimizer="SGD", kwargs=dict(lr=0.1)),
        "momentum": dict(optimizer="SGD", kwargs=dict(lr=0.1, momentum=0.9)),
        "dampening": dict(optimizer="SGD", kwargs=dict(lr=0.1, momentum=0.8, dampening=0.5)),
        "nesterov": dict(optimizer="SGD", kwargs=dict(lr=0.1, momentum=0.9, nesterov=True)),
        "weight_decay": dict(optimizer="SGD", kwargs=dict(lr=0.1, momentum=0.5, weight_decay=0.2)),
        "maximize": dict(optimizer="SGD", kwargs=dict(lr=0.05, momentum=0.3, maximize=True)),
        "groups": dict(optimizer="SGD", kwargs=dict(lr=0.1, momentum=0.9),
                       groups=[dict(params=["a"], lr=0.05, weight_decay=0.1), dict(params=["b"], nesterov=True)]),
        "sparse": dict(optimizer="SGD", kwargs=dict(lr=0.1), names=["e"]),
        "sparse_momentum": dict(optimizer="SGD", kwargs=dict(lr=0.1, momentum=0.9, dampening=0.2), names=["e"]),
        "sparse_nesterov_wd": dict(optimizer="SGD", kwargs=dict(lr=0.1, momentum=0.9, nesterov=True), names=["e"],
                                   lazy_wd=("l2", 0.3), csharp_kwargs=dict(weight_decay=0.3)),
    })
    write_optimizer_fixture("optim_adam", {
        "adam": dict(optimizer="Adam", kwargs=dict(lr=0.05)),
        "adam_betas_eps": dict(optimizer="Adam", kwargs=dict(lr=0.05, betas=(0.8, 0.95), eps=1e-3)),
        "adam_l2": dict(optimizer="Adam", kwargs=dict(lr=0.05, weight_decay=0.5)),
        "adam_amsgrad": dict(optimizer="Adam", kwargs=dict(lr=0.05, amsgrad=True, weight_decay=0.1)),
        "adam_maximize": dict(optimizer="Adam", kwargs=dict(lr=0.02, maximize=True)),
        "adamw": dict(optimizer="AdamW", kwargs=dict(lr=0.05)),
        "adamw_decay": dict(optimizer="AdamW", kwargs=dict(lr=0.05, weight_decay=0.5)),
        "adamw_amsgrad": dict(optimizer="AdamW", kwargs=dict(lr=0.05, weight_decay=0.2, amsgrad=True, betas=(0.5, 0.9))),
        "adamw_groups": dict(optimizer="AdamW", kwargs=dict(lr=0.05, weight_decay=0.3),
                             groups=[dict(params=["a"], weight_decay=0.0), dict(params=["b"], lr=0.1, betas=(0.7, 0.99))]),
        "adam_sparse": dict(optimizer="Adam", kwargs=dict(lr=0.05), names=["a", "b", "e"], sparse_opt=sparse_adam(0.05)),
        "adam_sparse_l2": dict(optimizer="Adam", kwargs=dict(lr=0.05, weight_decay=0.4), names=["e"],
                               sparse_opt=sparse_adam(0.05), lazy_wd=("l2", 0.4)),
        "adamw_sparse": dict(optimizer="AdamW", kwargs=dict(lr=0.05, weight_decay=0.4, betas=(0.8, 0.9)), names=["a", "e"],
                             sparse_opt=sparse_adam(0.05, (0.8, 0.9)), lazy_wd=("decoupled", 0.4, 0.05)),
    })
    write_optimizer_fixture("optim_rmsprop", {
        "rmsprop": dict(optimizer="RMSprop", kwargs=dict(lr=0.01)),
        "rmsprop_alpha_eps": dict(optimizer="RMSprop", kwargs=dict(lr=0.02, alpha=0.9, eps=1e-4)),
        "rmsprop_centered": dict(optimizer="RMSprop", kwargs=dict(lr=0.01, centered=True)),
        "rmsprop_momentum": dict(optimizer="RMSprop", kwargs=dict(lr=0.01, momentum=0.8)),
        "rmsprop_all": dict(optimizer="RMSprop", kwargs=dict(lr=0.01, momentum=0.7, centered=True, weight_decay=0.2, maximize=True)),
    })
    write_optimizer_fixture("optim_adagrad", {
        "adagrad": dict(optimizer="Adagrad", kwargs=dict(lr=0.1)),
        "adagrad_lr_decay": dict(optimizer="Adagrad", kwargs=dict(lr=0.1, lr_decay=0.05)),
        "adagrad_wd_init": dict(optimizer="Adagrad", kwargs=dict(lr=0.1, weight_decay=0.2, initial_accumulator_value=0.5, eps=1e-6)),
        "adagrad_groups": dict(optimizer="Adagrad", kwargs=dict(lr=0.1),
                               groups=[dict(params=["a"], lr_decay=0.1), dict(params=["b"], initial_accumulator_value=1.0)]),
        "adagrad_sparse": dict(optimizer="Adagrad", kwargs=dict(lr=0.1, lr_decay=0.02), names=["e"]),
        "adagrad_sparse_wd": dict(optimizer="Adagrad", kwargs=dict(lr=0.1, initial_accumulator_value=0.1), names=["e"],
                                  lazy_wd=("l2", 0.25), csharp_kwargs=dict(weight_decay=0.25)),
    })


def lr_sequence(sched, opt, steps, momentum_key=None):
    lrs, moms = [[g["lr"] for g in opt.param_groups]], []
    if momentum_key:
        moms.append([g["momentum"] if momentum_key == "momentum" else g["betas"][0] for g in opt.param_groups])
    for _ in range(steps):
        opt.step()
        sched.step()
        lrs.append(list(sched.get_last_lr()))
        if momentum_key:
            moms.append([g["momentum"] if momentum_key == "momentum" else g["betas"][0] for g in opt.param_groups])
    return torch.tensor(lrs), (torch.tensor(moms) if momentum_key else None)


def schedules():
    S = torch.optim.lr_scheduler
    p = [torch.nn.Parameter(torch.zeros(1)) for _ in range(2)]

    def opt(kind, lrs, **kw):
        cls = {"SGD": torch.optim.SGD, "Adam": torch.optim.Adam, "Adagrad": torch.optim.Adagrad}[kind]
        return cls([dict(params=[p[i]], lr=lr) for i, lr in enumerate(lrs)], lr=lrs[0], **kw)

    cases = {
        "step": ("SGD", [0.1, 0.03], {}, lambda o: S.StepLR(o, step_size=7, gamma=0.5), 40, None,
                 dict(kind="StepLR", step_size=7, gamma=0.5)),
        "exponential": ("SGD", [0.1], {}, lambda o: S.ExponentialLR(o, gamma=0.9), 35, None,
                        dict(kind="ExponentialLR", gamma=0.9)),
        "cosine": ("SGD", [0.1, 0.02], {}, lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.001), 45, None,
                   dict(kind="CosineAnnealingLR", T_max=10, eta_min=0.001)),
        "cosine_eta0": ("SGD", [0.5], {}, lambda o: S.CosineAnnealingLR(o, T_max=7), 30, None,
                        dict(kind="CosineAnnealingLR", T_max=7, eta_min=0.0)),
        "linear_warmup": ("SGD", [0.1, 0.01], {}, lambda o: S.LinearLR(o, start_factor=0.25, total_iters=8), 30, None,
                          dict(kind="LinearLR", start_factor=0.25, end_factor=1.0, total_iters=8)),
        "linear_decay": ("SGD", [0.1], {}, lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=20), 30, None,
                         dict(kind="LinearLR", start_factor=1.0, end_factor=0.1, total_iters=20)),
        "onecycle_cos": ("SGD", [0.01], dict(momentum=0.9),
                         lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=30), 29, "momentum",
                         dict(kind="OneCycleLR", max_lr=[0.1], total_steps=30, pct_start=0.3, anneal_strategy="cos",
                              three_phase=False, div_factor=25.0, final_div_factor=1e4, cycle_momentum=True,
                              base_momentum=0.85, max_momentum=0.95)),
        "onecycle_linear_adam": ("Adam", [0.01, 0.01], {},
                                 lambda o: S.OneCycleLR(o, max_lr=[0.1, 0.02], total_steps=40, pct_start=0.25,
                                                        anneal_strategy="linear", div_factor=10.0, final_div_factor=100.0,
                                                        base_momentum=0.8, max_momentum=0.9), 39, "beta1",
                                 dict(kind="OneCycleLR", max_lr=[0.1, 0.02], total_steps=40, pct_start=0.25,
                                      anneal_strategy="linear", three_phase=False, div_factor=10.0, final_div_factor=100.0,
                                      cycle_momentum=True, base_momentum=0.8, max_momentum=0.9)),
        "onecycle_three_phase": ("SGD", [0.01], dict(momentum=0.9),
                                 lambda o: S.OneCycleLR(o, max_lr=0.2, total_steps=31, three_phase=True, pct_start=0.2), 30,
                                 "momentum",
                                 dict(kind="OneCycleLR", max_lr=[0.2], total_steps=31, pct_start=0.2, anneal_strategy="cos",
                                      three_phase=True, div_factor=25.0, final_div_factor=1e4, cycle_momentum=True,
                                      base_momentum=0.85, max_momentum=0.95)),
        "onecycle_adagrad": ("Adagrad", [0.01], {},
                             lambda o: S.OneCycleLR(o, max_lr=0.05, total_steps=32, cycle_momentum=False), 32, None,
                             dict(kind="OneCycleLR", max_lr=[0.05], total_steps=32, pct_start=0.3, anneal_strategy="cos",
                                  three_phase=False, div_factor=25.0, final_div_factor=1e4, cycle_momentum=False,
                                  base_momentum=0.85, max_momentum=0.95)),
    }
    tensors, meta = {}, {"cases": {}}
    for case, (kind, lrs, kw, make, steps, mkey, spec) in cases.items():
        o = opt(kind, lrs, **kw)
        lr, mom = lr_sequence(make(o), o, steps, mkey)
        tensors[f"{case}.lr"] = lr
        if mom is not None:
            tensors[f"{case}.{mkey}"] = mom
        meta["cases"][case] = dict(spec, optimizer=kind, lrs=lrs, steps=steps, optimizer_kwargs=kw)

    # nanoGPT's get_lr (train.py): linear warm-up, cosine decay to min_lr until lr_decay_iters, then min_lr.
    learning_rate, min_lr, warmup_iters, lr_decay_iters = 1e-3, 1e-4, 5, 25

    def get_lr(it):
        if it < warmup_iters:
            return learning_rate * (it + 1) / (warmup_iters + 1)
        if it > lr_decay_iters:
            return min_lr
        decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
        coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
        return min_lr + coeff * (learning_rate - min_lr)

    tensors["nanogpt.lr"] = torch.tensor([[get_lr(it)] for it in range(36)])
    meta["cases"]["nanogpt"] = dict(kind="WarmupCosineLR", lrs=[learning_rate], min_lr=min_lr, warmup_iters=warmup_iters,
                                    lr_decay_iters=lr_decay_iters, steps=35)
    write_fixture("optim_schedules", tensors, meta)


if __name__ == "__main__":
    optimizers()
    schedules()
