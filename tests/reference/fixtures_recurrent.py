#!/usr/bin/env python3
"""PyTorch fixtures for the recurrent layers (nn.RNN, nn.LSTM, nn.GRU): issue 5.

Each case builds a float64 module with PyTorch's default initialisation under a fixed seed,
runs it on a small seeded input (T=5, B=3, I=5, H=3; the *_wide cases T=3, B=2, I=2, H=37 or 19) and stores, in
tests/NeuralPrimitives.Tests/Fixtures/recurrent_<case>.json:
  - every state_dict tensor under its PyTorch name (weight_ih_l0, weight_hh_l1_reverse, weight_hr_l0, ...)
  - "input" (in the module's layout: [B,T,I] if batch_first else [T,B,I]), "h0" ("c0") when given
  - "output", "h_n" ("c_n")
  - "R_out", "R_h" ("R_c"): fixed random weights of the loss
        L = sum(R_out * output) + sum(R_h * h_n) (+ sum(R_c * c_n))
    so dL/doutput = R_out, dL/dh_n = R_h, dL/dc_n = R_c (what the C# test passes to Backward)
  - "grad.input", "grad.h0" ("grad.c0") and "grad.<name>" for every parameter.
    grad.h0 / grad.c0 are stored even when no initial state is given (they are then the gradient
    with respect to the implicit zero state, which is what Backward returns as DH0 / DC0).
  - "clip.total_norm_2", "clip.total_norm_1", "clip.total_norm_inf": what
    torch.nn.utils.clip_grad_norm_(parameters, max_norm=0.05, norm_type=p) returns for those
    gradients, and "clipped.grad.<name>": the gradients after the 2-norm clip.
  - "lengths" for the variable-length cases, run through
    pack_padded_sequence(enforce_sorted=False) + pad_packed_sequence(total_length=T): outputs past
    a sequence's length are zero and h_n is the state at each sequence's own length.
meta: {mode, input_size, hidden_size, num_layers, bidirectional, batch_first, bias, nonlinearity,
       proj_size, has_h0, has_lengths, seq_len, batch}.

Cells (recurrent_cell_*.json): one step of nn.RNNCell / nn.LSTMCell / nn.GRUCell with input [B, I],
hx [B, H] (cx) when given, loss L = sum(R_h * h') (+ sum(R_c * c')), keys input, hx, cx, h, c, R_h,
R_c, grad.input, grad.hx, grad.cx, grad.<name>.

Usage: /usr/bin/python3 tests/reference/fixtures_recurrent.py   (or make_fixtures.py for all)
"""
import os
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import sys

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import write_fixture  # noqa: E402

T, B, I, H = 5, 3, 5, 3  # I = 5 differs from every layer-1 input size (2H = 6, 2·proj = 4)


def stored(m, *pairs):
    """The fixture's tensors: the parameters by name, each (key, tensor) pair whose tensor is not None (in order),
    then grad.<name> of every parameter."""
    tensors = dict(m.named_parameters())
    tensors.update((key, t) for key, t in pairs if t is not None)
    tensors.update(("grad." + pname, p.grad) for pname, p in m.named_parameters())
    return tensors


def make_case(name, mode, seed, num_layers=2, bidirectional=True, batch_first=True, bias=True,
              nonlinearity="tanh", proj_size=0, has_h0=False, lengths=None, sizes=(T, B, I, H), clip=True):
    T, B, I, H = sizes
    torch.manual_seed(seed)
    kw = dict(num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first, bias=bias)
    if mode == "RNN":
        m = nn.RNN(I, H, nonlinearity=nonlinearity, **kw)
    elif mode == "LSTM":
        m = nn.LSTM(I, H, proj_size=proj_size, **kw)
    else:
        m = nn.GRU(I, H, **kw)
    m = m.double()
    D = 2 if bidirectional else 1
    Hout = proj_size if proj_size > 0 else H
    lstm = mode == "LSTM"

    x = torch.randn((B, T, I) if batch_first else (T, B, I), dtype=torch.float64, requires_grad=True)
    h0_given = torch.randn(num_layers * D, B, Hout, dtype=torch.float64) if has_h0 else torch.zeros(num_layers * D, B, Hout, dtype=torch.float64)
    c0_given = (torch.randn(num_layers * D, B, H, dtype=torch.float64) if has_h0 else torch.zeros(num_layers * D, B, H, dtype=torch.float64)) if lstm else None
    h0 = h0_given.clone().requires_grad_(True)
    c0 = c0_given.clone().requires_grad_(True) if lstm else None
    state = (h0, c0) if lstm else h0

    if lengths is not None:
        packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False)
        out_packed, hn = m(packed, state)
        out, _ = pad_packed_sequence(out_packed, batch_first=batch_first, total_length=T)
    else:
        out, hn = m(x, state)
    cn = r_c = None
    if lstm:
        hn, cn = hn

    r_out = torch.randn_like(out)
    r_h = torch.randn_like(hn)
    loss = (r_out * out).sum() + (r_h * hn).sum()
    if lstm:
        r_c = torch.randn_like(cn)
        loss = loss + (r_c * cn).sum()
    loss.backward()

    tensors = stored(m, ("input", x), ("h0", h0_given if has_h0 else None), ("c0", c0_given if has_h0 else None),
                     ("lengths", torch.tensor(lengths, dtype=torch.float64) if lengths is not None else None),
                     ("output", out), ("h_n", hn), ("R_out", r_out), ("R_h", r_h), ("c_n", cn), ("R_c", r_c),
                     ("grad.input", x.grad), ("grad.h0", h0.grad), ("grad.c0", c0.grad if lstm else None))

    # Gradient clipping of all parameter gradients (PyTorch's clip_grad_norm_ returns the norm
    # before clipping); the clipped gradients follow from it: grad · min(max_norm / (norm + 1e-6), 1).
    for norm_type, key in ((2.0, "clip.total_norm_2"), (1.0, "clip.total_norm_1"), (float("inf"), "clip.total_norm_inf")) if clip else ():
        saved = [p.grad.clone() for p in m.parameters()]
        tensors[key] = torch.tensor([float(nn.utils.clip_grad_norm_(m.parameters(), max_norm=0.05, norm_type=norm_type))], dtype=torch.float64)
        if norm_type == 2.0:
            for pname, p in m.named_parameters():
                tensors["clipped.grad." + pname] = p.grad.clone()
        for p, g in zip(m.parameters(), saved):
            p.grad.copy_(g)

    if lengths is not None:  # sanity: padded outputs are exactly zero past each length
        for b, n in enumerate(lengths):
            tail = out[b, n:] if batch_first else out[n:, b]
            assert torch.all(tail == 0)

    meta = dict(mode=mode, input_size=I, hidden_size=H, num_layers=num_layers, bidirectional=bidirectional,
                batch_first=batch_first, bias=bias, nonlinearity=nonlinearity, proj_size=proj_size,
                has_h0=has_h0, has_lengths=lengths is not None, seq_len=T, batch=B,
                param_names=[n for n, _ in m.named_parameters()],
                torch_version=torch.__version__)
    write_fixture("recurrent_" + name, tensors, meta)


def make_cell_case(name, mode, seed, bias=True, nonlinearity="tanh", has_hx=True):
    """One step of nn.RNNCell / nn.LSTMCell / nn.GRUCell: input [B, I], hx [B, H] (cx [B, H]).
    Loss L = sum(R_h * h') (+ sum(R_c * c')); stores h, c, grad.input, grad.hx (grad.cx), grad.<param>."""
    torch.manual_seed(seed)
    if mode == "RNNCell":
        m = nn.RNNCell(I, H, bias=bias, nonlinearity=nonlinearity)
    elif mode == "LSTMCell":
        m = nn.LSTMCell(I, H, bias=bias)
    else:
        m = nn.GRUCell(I, H, bias=bias)
    m = m.double()
    lstm = mode == "LSTMCell"
    x = torch.randn(B, I, dtype=torch.float64, requires_grad=True)
    hx_given = torch.randn(B, H, dtype=torch.float64) if has_hx else torch.zeros(B, H, dtype=torch.float64)
    cx_given = (torch.randn(B, H, dtype=torch.float64) if has_hx else torch.zeros(B, H, dtype=torch.float64)) if lstm else None
    hx = hx_given.clone().requires_grad_(True)
    cx = cx_given.clone().requires_grad_(True) if lstm else None
    c = r_c = None
    if lstm:
        h, c = m(x, (hx, cx))
    else:
        h = m(x, hx)
    r_h = torch.randn_like(h)
    loss = (r_h * h).sum()
    if lstm:
        r_c = torch.randn_like(c)
        loss = loss + (r_c * c).sum()
    loss.backward()
    tensors = stored(m, ("input", x), ("hx", hx_given if has_hx else None), ("cx", cx_given if has_hx else None),
                     ("h", h), ("R_h", r_h), ("c", c), ("R_c", r_c),
                     ("grad.input", x.grad), ("grad.hx", hx.grad), ("grad.cx", cx.grad if lstm else None))
    meta = dict(mode=mode, input_size=I, hidden_size=H, bias=bias, nonlinearity=nonlinearity, has_hx=has_hx, batch=B,
                param_names=[n for n, _ in m.named_parameters()], torch_version=torch.__version__)
    write_fixture("recurrent_" + name, tensors, meta)


def main():
    torch.set_num_threads(1)
    make_case("rnn_tanh", "RNN", 501, nonlinearity="tanh")
    make_case("rnn_relu", "RNN", 502, nonlinearity="relu", batch_first=False, has_h0=True)
    make_case("lstm", "LSTM", 503, has_h0=True)
    make_case("lstm_proj", "LSTM", 504, proj_size=2)
    make_case("gru", "GRU", 505, has_h0=True)
    make_case("gru_nobias_unidir", "GRU", 506, num_layers=2, bidirectional=False, batch_first=False, bias=False)
    # Variable lengths, unsorted, one sequence at full length and one of length 1.
    make_case("rnn_tanh_lengths", "RNN", 507, lengths=[3, 5, 1], has_h0=True)
    make_case("lstm_lengths", "LSTM", 508, lengths=[2, 5, 4], has_h0=True)
    make_case("lstm_proj_lengths", "LSTM", 509, proj_size=2, lengths=[4, 1, 5], batch_first=False)
    make_case("gru_lengths", "GRU", 510, lengths=[5, 3, 2])
    # Wide hidden sizes: the step equations' vector body AND scalar tail (Vector<T> of 4, 8 or 16 lanes:
    # 37 = 2·16 + 5 = 4·8 + 5 = 9·4 + 1, and 19 = 16 + 3 = 2·8 + 3 = 4·4 + 3), with the gate blocks of a
    # row (a_i at 0, a_f at H, …) off any vector boundary. One layer, one direction, short T, small B and
    # I, with h0 and lengths; the LSTM and GRU use H = 19 because their W_hh [G·H, H] would make an
    # H = 37 file ~250 KB (a projected LSTM's W_hh is [4H, P]: it keeps H = 37).
    wide = dict(num_layers=1, bidirectional=False, batch_first=False, has_h0=True, lengths=[3, 2], clip=False)
    make_case("rnn_tanh_wide", "RNN", 511, nonlinearity="tanh", sizes=(3, 2, 2, 37), **wide)
    make_case("rnn_relu_wide", "RNN", 512, nonlinearity="relu", sizes=(3, 2, 2, 37), **wide)
    make_case("lstm_proj_wide", "LSTM", 513, proj_size=5, sizes=(3, 2, 2, 37), **wide)
    make_case("lstm_wide", "LSTM", 514, sizes=(3, 2, 2, 19), **wide)
    make_case("gru_wide", "GRU", 515, sizes=(3, 2, 2, 19), **wide)
    # Cells (one step).
    make_cell_case("cell_rnn_tanh", "RNNCell", 521, nonlinearity="tanh")
    make_cell_case("cell_rnn_relu", "RNNCell", 522, nonlinearity="relu", has_hx=False)
    make_cell_case("cell_lstm", "LSTMCell", 523)
    make_cell_case("cell_lstm_nohx", "LSTMCell", 524, has_hx=False, bias=False)
    make_cell_case("cell_gru", "GRUCell", 525)


if __name__ == "__main__":
    main()
