#!/usr/bin/env python3
"""PyTorch peer of samples/CharLm: the same character-level LSTM language model, data split,
batching, optimiser, learning-rate schedule, clipping and wall-clock budget, so that the validation
loss reached in the same time can be compared side by side.

Usage: OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 benchmarks/peers/charlm_peer.py [--time 180] [--hidden 384]
       [--layers 1] [--seq-len 64] [--batch 64] [--lr 5e-3] [--warmup 50] [--min-lr-ratio 0.1]
       [--dropout 0.1] [--weight-decay 0.01] [--clip 1.0] [--embed 64 (0 = hidden)] [--seed 1] [--steps 0]
       [--threads 2] [--corpus samples/CharLm/data/tinyshakespeare.txt]
Prints one JSON object (the same fields as the sample's metrics.json) on stdout.

The recipe (identical in samples/CharLm):
  vocabulary  the sorted distinct characters of the corpus; train = first 90 %, validation = last 10 %
  batches     B parallel streams over the training text (stream b starts at b·len/B), each step feeds
              the next seq-len characters of every stream and carries the LSTM state across steps
              (truncated BPTT); a stream wraps to its start at the end of its share
  model       Embedding(V, E) -> LSTM(E, H, layers) -> Dropout(p) -> Linear(H, V); E = 64 by default (a character
              needs no 512-wide vector, and the input projection then costs an eighth of the recurrent one)
  loss        mean cross-entropy over the B·T predictions
  optimiser   AdamW(lr, betas (0.9, 0.999), weight decay wd on matrices only), clip_grad_norm_(clip)
  schedule    linear warm-up over `warmup` steps, then cosine from lr to lr·min_ratio over the rest of
              the budget, progress measured in wall-clock time (or in steps when --steps is given)
  validation  mean cross-entropy over the whole validation split, as 64 parallel streams carrying
              their state, in chunks of seq-len characters
"""
import os
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import argparse, json, math, time

import torch
import torch.nn as nn
import torch.nn.functional as F


class CharLm(nn.Module):
    def __init__(self, vocab, embed, hidden, layers, dropout):
        super().__init__()
        self.encoder = nn.Embedding(vocab, embed)
        self.rnn = nn.LSTM(embed, hidden, layers)
        self.drop = nn.Dropout(dropout)
        self.decoder = nn.Linear(hidden, vocab)

    def forward(self, x, state):
        y, state = self.rnn(self.encoder(x), state)
        return self.decoder(self.drop(y)), state


def streams(data, n):
    """n equal contiguous shares of data (the tail that does not divide is dropped)."""
    share = len(data) // n
    return data[: share * n].view(n, share).t().contiguous()  # [share, n]


def lr_at(progress, step, a):
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    p = min(1.0, progress)
    lo = a.lr * a.min_lr_ratio
    return lo + 0.5 * (a.lr - lo) * (1 + math.cos(math.pi * p))


@torch.no_grad()
def validate(model, val, seq_len):
    model.eval()
    s = streams(val, 64)
    state, total, count = None, 0.0, 0
    for t0 in range(0, s.size(0) - 1, seq_len):
        x = s[t0 : min(t0 + seq_len, s.size(0) - 1)]
        y = s[t0 + 1 : t0 + 1 + x.size(0)]
        logits, state = model(x, state)
        total += F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1), reduction="sum").item()
        count += y.numel()
    model.train()
    return total / count


def main():
    ap = argparse.ArgumentParser()
    for name, default in [("time", 180.0), ("hidden", 384), ("layers", 1), ("seq-len", 64), ("batch", 64), ("lr", 5e-3),
                          ("warmup", 50), ("min-lr-ratio", 0.1), ("dropout", 0.1), ("weight-decay", 0.01), ("clip", 1.0),
                          ("embed", 64), ("seed", 1), ("steps", 0), ("threads", 2)]:
        ap.add_argument("--" + name, type=type(default), default=default)
    ap.add_argument("--corpus", default=os.path.join(os.path.dirname(__file__), "..", "..", "samples", "CharLm", "data", "tinyshakespeare.txt"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    text = open(a.corpus, encoding="utf-8").read()
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([index[c] for c in text], dtype=torch.long)
    n_train = int(len(data) * 0.9)
    train, val = data[:n_train], data[n_train:]
    embed = a.embed or a.hidden
    model = CharLm(len(chars), embed, a.hidden, a.layers, a.dropout)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=a.lr)
    s = streams(train, a.batch)
    pos, state, step, loss = 0, None, 0, float("nan")
    t_start = time.perf_counter()
    budget = a.time
    while True:
        elapsed = time.perf_counter() - t_start
        if elapsed >= budget or (a.steps and step >= a.steps):
            break
        progress = (step / a.steps) if a.steps else elapsed / budget
        for g in opt.param_groups:
            g["lr"] = lr_at(progress, step, a)
        if pos + a.seq_len + 1 > s.size(0):
            pos, state = 0, None
        x, y = s[pos : pos + a.seq_len], s[pos + 1 : pos + 1 + a.seq_len]
        pos += a.seq_len
        if state is not None:
            state = tuple(h.detach() for h in state)
        logits, state = model(x, state)
        l = F.cross_entropy(logits.reshape(-1, len(chars)), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        l.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
        opt.step()
        loss = l.item()
        step += 1
    train_seconds = time.perf_counter() - t_start
    val_loss = validate(model, val, a.seq_len)
    print(json.dumps({
        "implementation": "pytorch " + torch.__version__, "model": "lstm", "hidden": a.hidden, "layers": a.layers, "embed": embed,
        "seq_len": a.seq_len, "batch": a.batch, "lr": a.lr, "schedule": f"warmup {a.warmup} then cosine to {a.min_lr_ratio}x over the budget",
        "dropout": a.dropout, "weight_decay": a.weight_decay, "clip": a.clip, "steps": step, "seconds": round(train_seconds, 1),
        "train_loss": round(loss, 4), "val_loss": round(val_loss, 4), "val_perplexity": round(math.exp(val_loss), 3),
        "chars_per_second": round(step * a.batch * a.seq_len / train_seconds),
    }))


if __name__ == "__main__":
    main()
