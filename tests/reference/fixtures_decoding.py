#!/usr/bin/env python3
"""PyTorch fixtures for the recurrent language model (Models/RecurrentLanguageModel.cs): issue 12.

The module is PyTorch's examples/word_language_model RNNModel (encoder = nn.Embedding, rnn = nn.LSTM/GRU/RNN,
decoder = nn.Linear, optional tied weights, the example's init_weights), written out below in float64 without
its dropout (p = 0) and returning logits instead of log_softmax (the C# model leaves the log-softmax to the loss).
Each case, in tests/NeuralPrimitives.Tests/Fixtures/decoding_rnnlm_<case>.json, stores:
  - every state_dict tensor under its PyTorch name (encoder.weight, rnn.weight_ih_l0, ..., decoder.weight, decoder.bias;
    a tied decoder.weight is the same tensor as encoder.weight)
  - "tokens" [T, B] (time-major ints), "h0" [L, B, H] (and "c0" for the LSTM): a random initial state
  - "logits" [T, B, V], "h_n" ("c_n"): the forward result
  - "R" [T, B, V]: fixed random weights of the loss L = sum(R * logits), so dL/dlogits = R (what the C# test passes
    to Backward; the final state gets no gradient, as in truncated BPTT)
  - "grad.<name>" for every state_dict name (for tied weights both names hold the one shared gradient)
  - "greedy.prompt" [P], "greedy.tokens" [N], "greedy.logits" [N, V]: greedy decoding of N tokens after the prompt,
    one step at a time from the carried (h, c), and the logits each token was chosen from
meta: {rnn_type, ntoken, ninp, nhid, nlayers, tied, seq_len, batch}.

Usage: OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 tests/reference/fixtures_decoding.py   (or make_fixtures.py for all)
"""
import os
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import write_fixture  # noqa: E402

T, B = 5, 3


class RNNModel(nn.Module):
    """word_language_model's RNNModel without dropout, returning logits."""

    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, tie_weights=False):
        super().__init__()
        self.encoder = nn.Embedding(ntoken, ninp)
        if rnn_type in ("LSTM", "GRU"):
            self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers)
        else:
            self.rnn = nn.RNN(ninp, nhid, nlayers, nonlinearity={"RNN_TANH": "tanh", "RNN_RELU": "relu"}[rnn_type])
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            self.decoder.weight = self.encoder.weight
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, tokens, hidden):
        output, hidden = self.rnn(self.encoder(tokens), hidden)
        return self.decoder(output), hidden


def make_case(name, rnn_type, seed, ntoken, ninp, nhid, nlayers, tied=False):
    torch.manual_seed(seed)
    m = RNNModel(rnn_type, ntoken, ninp, nhid, nlayers, tie_weights=tied).double()
    # Larger weights than the example's ±0.1 so that the logits vary visibly and every gradient is far from zero.
    with torch.no_grad():
        for p in m.parameters():
            p.uniform_(-0.8, 0.8)
    lstm = rnn_type == "LSTM"
    tokens = torch.randint(0, ntoken, (T, B))
    h0 = torch.randn(nlayers, B, nhid, dtype=torch.float64) * 0.5
    c0 = torch.randn(nlayers, B, nhid, dtype=torch.float64) * 0.5 if lstm else None
    logits, hn = m(tokens, (h0, c0) if lstm else h0)
    r = torch.randn_like(logits)
    (r * logits).sum().backward()

    tensors = {k: v for k, v in m.state_dict().items()}
    tensors.update({"tokens": tokens, "h0": h0, "logits": logits, "R": r})
    if lstm:
        hn, cn = hn
        tensors.update({"c0": c0, "c_n": cn})
    tensors["h_n"] = hn
    for key in m.state_dict().keys():
        module_path, _, attribute = key.rpartition(".")
        tensors["grad." + key] = getattr(m.get_submodule(module_path), attribute).grad

    # Greedy decoding, one token at a time from the carried state (batch 1).
    prompt = torch.randint(0, ntoken, (4,))
    with torch.no_grad():
        z, state = m(prompt.view(-1, 1), None)
        last = z[-1, 0]
        chosen, rows = [], []
        for _ in range(6):
            token = int(torch.argmax(last))
            chosen.append(token)
            rows.append(last.clone())
            z, state = m(torch.tensor([[token]]), state)
            last = z[-1, 0]
    tensors.update({"greedy.prompt": prompt, "greedy.tokens": torch.tensor(chosen), "greedy.logits": torch.stack(rows)})
    meta = {"rnn_type": rnn_type, "ntoken": ntoken, "ninp": ninp, "nhid": nhid, "nlayers": nlayers, "tied": tied,
            "seq_len": T, "batch": B}
    write_fixture("decoding_rnnlm_" + name, tensors, meta)


make_case("lstm", "LSTM", 120, ntoken=7, ninp=4, nhid=5, nlayers=2)
make_case("gru_tied", "GRU", 121, ntoken=6, ninp=4, nhid=4, nlayers=1, tied=True)
make_case("rnn_tanh", "RNN_TANH", 122, ntoken=5, ninp=3, nhid=4, nlayers=2)
make_case("rnn_relu_tied", "RNN_RELU", 123, ntoken=6, ninp=3, nhid=3, nlayers=1, tied=True)
