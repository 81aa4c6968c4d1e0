"""PyTorch peer cases for a whole training step (issue 9), float32, 2 threads.

lstm_lm_step   Embedding(65, 256) -> LSTM(256, 256) -> Linear(256, 65) on [T=64, B=64] random indices: forward,
               F.cross_entropy against random targets, backward, clip_grad_norm_(1.0), AdamW(lr=2e-3) step
               (foreach left at its default), zero_grad(set_to_none=True) — the sample's baseline model.
"""
import torch
import torch.nn.functional as F

V, D, T, B = 65, 256, 64, 64


def _lstm_lm_step():
    torch.manual_seed(0)
    embed, lstm, head = torch.nn.Embedding(V, D), torch.nn.LSTM(D, D), torch.nn.Linear(D, V)
    params = [*embed.parameters(), *lstm.parameters(), *head.parameters()]
    opt = torch.optim.AdamW(params, lr=2e-3)
    x = torch.randint(0, V, (T, B))
    y = torch.randint(0, V, (T, B))

    def loss():
        hidden, _ = lstm(embed(x))
        return F.cross_entropy(head(hidden).reshape(-1, V), y.reshape(-1))

    return training_step(params, opt, loss)


def training_step(params, opt, loss):
    """One step of a peer training case (shared with cases_gpt.py): loss() forward, backward, clip_grad_norm_(1.0),
    the optimiser's step, zero_grad(set_to_none=True)."""
    def step():
        loss().backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


CASES = {"lstm_lm_step": _lstm_lm_step}
