#!/usr/bin/env python3
"""PyTorch fixtures for the transformer layers and stacks (issue 11), float64, dropout 0.

Each case <name> writes two safetensors files to tests/NeuralPrimitives.Tests/Fixtures/transformer/:
  <name>.safetensors      the module's state_dict (PyTorch's keys), loaded by the tests through LoadStateDict
  <name>.io.safetensors   the inputs (src / tgt / memory), the masks, the output y, a fixed random upstream
                          gradient dy, and the gradients of L = sum(dy * y): d_<input> for every input and
                          grad.<key> for EVERY parameter of the state_dict.
Masks: boolean masks (PyTorch's nn.MultiheadAttention convention, true = ignore) are stored as 0/1 under
"<mask>.bool"; float (additive) masks as themselves under "<mask>.float" (−inf where masked).
The modules run in training mode with dropout = 0 (so PyTorch takes its reference path, not the fast path).

Cases (d_model 8, nhead 2, dim_feedforward 16; S = 5 source positions, T = 4 target positions, N = 3):
  enc_post_relu          nn.TransformerEncoderLayer, post-norm, ReLU, seq-first; float src_mask + src_key_padding_mask
  enc_pre_gelu_bf        norm_first, GELU, batch_first; boolean src_mask + src_key_padding_mask
  dec_post_relu          nn.TransformerDecoderLayer, post-norm, ReLU, seq-first; causal float tgt_mask,
                         boolean memory_mask, tgt and memory key padding
  dec_pre_gelu_bf        norm_first, GELU, batch_first; causal tgt_mask (generate_square_subsequent_mask),
                         memory_key_padding_mask
  transformer_post_relu  nn.Transformer, 2 encoder + 2 decoder layers, post-norm, ReLU, seq-first; causal tgt_mask,
                         src and memory key padding (the same), tgt key padding
  transformer_pre_gelu_bf norm_first, GELU, batch_first; float src_mask, causal tgt_mask, boolean memory_mask

Run through make_fixtures.py: /usr/bin/python3 tests/reference/make_fixtures.py
"""
import os
import sys
import zlib

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
from torch import nn  # noqa: E402

from common import FIXTURES  # noqa: E402
from fixtures_serialization import save_safetensors  # noqa: E402

OUT = os.path.join(FIXTURES, "transformer")
E, H, FF, S, T, N = 8, 2, 16, 5, 4, 3
torch.set_default_dtype(torch.float64)


def seq(length, batch_first):
    return torch.randn(N, length, E) if batch_first else torch.randn(length, N, E)


def padding(length):
    """[N, length] booleans, true = ignore; never a whole row (PyTorch gives NaN there, the library zeros)."""
    m = torch.rand(N, length) < 0.3
    m[:, 0] = False
    return m


def causal(length):
    return nn.Transformer.generate_square_subsequent_mask(length).to(torch.float64)


def float_mask(l, s):
    m = torch.randn(l, s)
    m[0, 1] = float("-inf")   # one masked pair in an additive mask
    return m


def bool_mask(l, s):
    m = torch.rand(l, s) < 0.3
    m[:, 0] = False           # every query keeps key 0
    return m


def write(name, module, inputs, masks, forward):
    """Forward with the inputs requiring grad, backward of sum(dy * y), and the two files."""
    os.makedirs(OUT, exist_ok=True)
    module.train()
    xs = {k: v.clone().requires_grad_(True) for k, v in inputs.items()}
    y = forward(module, xs, masks)
    dy = torch.randn(y.shape)
    (dy * y).sum().backward()
    save_safetensors(os.path.join(OUT, name + ".safetensors"),
                     {k: v.detach().clone() for k, v in module.state_dict().items()},
                     {"format": "pt", "source": "fixtures_transformer.py"})
    io = {}
    for k, x in xs.items():
        io[k] = x.detach()
        io["d_" + k] = x.grad
    for k, m in masks.items():
        if m is not None:
            io[k + (".bool" if m.dtype == torch.bool else ".float")] = m.to(torch.float64)
    io["y"] = y.detach()
    io["dy"] = dy
    for k, p in module.named_parameters():
        io["grad." + k] = p.grad
    save_safetensors(os.path.join(OUT, name + ".io.safetensors"), io, {"source": "fixtures_transformer.py"})


def encoder_layer(name, norm_first, activation, batch_first, src_mask, kpm):
    torch.manual_seed(zlib.crc32(name.encode()))
    layer = nn.TransformerEncoderLayer(E, H, FF, dropout=0.0, activation=activation, batch_first=batch_first, norm_first=norm_first)
    with torch.no_grad():   # non-zero biases and norm parameters, so that their gradients are not checked at a special point
        for p in layer.parameters():
            if p.dim() == 1:
                p.add_(torch.randn(p.shape) * 0.3)
    write(name, layer, {"src": seq(S, batch_first)}, {"src_mask": src_mask, "src_key_padding_mask": kpm},
          lambda m, x, k: m(x["src"], src_mask=k["src_mask"], src_key_padding_mask=k["src_key_padding_mask"]))


def decoder_layer(name, norm_first, activation, batch_first, tgt_mask, memory_mask, tgt_kpm, memory_kpm):
    torch.manual_seed(zlib.crc32(name.encode()))
    layer = nn.TransformerDecoderLayer(E, H, FF, dropout=0.0, activation=activation, batch_first=batch_first, norm_first=norm_first)
    with torch.no_grad():
        for p in layer.parameters():
            if p.dim() == 1:
                p.add_(torch.randn(p.shape) * 0.3)
    write(name, layer, {"tgt": seq(T, batch_first), "memory": seq(S, batch_first)},
          {"tgt_mask": tgt_mask, "memory_mask": memory_mask, "tgt_key_padding_mask": tgt_kpm, "memory_key_padding_mask": memory_kpm},
          lambda m, x, k: m(x["tgt"], x["memory"], **k))


def transformer(name, norm_first, activation, batch_first, masks):
    torch.manual_seed(zlib.crc32(name.encode()))
    model = nn.Transformer(E, H, 2, 2, FF, dropout=0.0, activation=activation, batch_first=batch_first, norm_first=norm_first)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1:
                p.add_(torch.randn(p.shape) * 0.3)
    write(name, model, {"src": seq(S, batch_first), "tgt": seq(T, batch_first)}, masks,
          lambda m, x, k: m(x["src"], x["tgt"], **k))


def main():
    torch.manual_seed(0)
    encoder_layer("enc_post_relu", False, "relu", False, float_mask(S, S), padding(S))
    encoder_layer("enc_pre_gelu_bf", True, "gelu", True, bool_mask(S, S), padding(S))
    decoder_layer("dec_post_relu", False, "relu", False, causal(T), bool_mask(T, S), padding(T), padding(S))
    decoder_layer("dec_pre_gelu_bf", True, "gelu", True, causal(T), None, None, padding(S))
    src_pad = padding(S)
    transformer("transformer_post_relu", False, "relu", False,
                {"tgt_mask": causal(T), "src_key_padding_mask": src_pad, "tgt_key_padding_mask": padding(T),
                 "memory_key_padding_mask": src_pad})
    transformer("transformer_pre_gelu_bf", True, "gelu", True,
                {"src_mask": float_mask(S, S), "tgt_mask": causal(T), "memory_mask": bool_mask(T, S)})


if __name__ == "__main__":
    main()
