"""PyTorch peer cases for embeddings (issue 4): V = 50,000, D = 256, indices [32, 128], float32.

emb_fwd            nn.Embedding forward (grad enabled, as a training step runs it).
emb_fwdbwd         forward, out.sum().backward(), weight.grad = None: PyTorch's default dense gradient.
                   set_to_none is the cheaper way to reset it (zeroing in place adds a 51 MB memset and an
                   extra accumulate pass), so this is the fastest dense training loop, not a handicapped one.
emb_fwdbwd_dense   the same as emb_fwdbwd (our side uses a dense gradient for this name).
emb_fwdbwd_sparse  the same with nn.Embedding(sparse=True) (a sparse COO gradient, then set to None).
embbag_fwd         nn.EmbeddingBag(mode="sum"), the same indices flattened as 32 bags of 128 (1-D + offsets).
embbag_fwdbwd      forward, out.sum().backward(), weight.grad = None (dense gradient).
"""
import torch

V, D, B, T = 50_000, 256, 32, 128


def _indices():
    g = torch.Generator().manual_seed(42)
    return torch.randint(0, V, (B, T), generator=g)


def _fwd():
    emb = torch.nn.Embedding(V, D)
    idx = _indices()
    return lambda: emb(idx)


def _fwdbwd(sparse):
    def setup():
        emb = torch.nn.Embedding(V, D, sparse=sparse)
        idx = _indices()

        def step():
            out = emb(idx)
            out.sum().backward()
            emb.weight.grad = None
        return step
    return setup


def _bag(backward):
    def setup():
        bag = torch.nn.EmbeddingBag(V, D, mode="sum")
        idx = _indices().flatten()
        offsets = torch.arange(0, B * T, T)
        if not backward:
            return lambda: bag(idx, offsets)

        def step():
            bag(idx, offsets).sum().backward()
            bag.weight.grad = None
        return step
    return setup


CASES = {
    "emb_fwd": _fwd,
    "emb_fwdbwd": _fwdbwd(False),
    "emb_fwdbwd_dense": _fwdbwd(False),
    "emb_fwdbwd_sparse": _fwdbwd(True),
    "embbag_fwd": _bag(False),
    "embbag_fwdbwd": _bag(True),
}
