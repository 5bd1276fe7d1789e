"""QAT model <-> Soul: the int8 tensors, shifts and int16 biases the forward pass used."""
import numpy as np
import torch

from soulplayer.soulfile import KIND_INT8, KIND_INT16, Soul, Tensor

from .model import DTYPE, QATModel, Quant


def _int(x) -> np.ndarray:
    return np.rint(x.detach().cpu().numpy()).astype(np.int64)


def to_soul(model: QATModel, tokenizer=None) -> Soul:
    """The int8 soul; with its tokenizer, the soul carries its fingerprint (soul.bin v5)."""
    Q = Quant(True)
    tensors = {}

    def weight(name, w, column=False):
        wi, s = Q.weight(w)
        values = _int(wi).reshape(-1, 1) if column else _int(wi)
        tensors[name] = Tensor(values, s, KIND_INT8)
        return s

    weight("te", model.te)
    weight("pe", model.pe)
    for i, L in enumerate(model.layers):
        for n in ("n1", "q", "k", "v", "proj", "n2", "fc1_w", "fc1_b", "fc2_w", "fc2_b"):
            if n.endswith("_b"):
                s = tensors[f"l{i}.{n[:-2]}_w"].shift
                tensors[f"l{i}.{n}"] = Tensor(_int(Q.bias(L[n], s)).reshape(-1, 1), s, KIND_INT16)
            else:
                weight(f"l{i}.{n}", L[n], column=n in ("n1", "n2"))
    weight("norm", model.norm, column=True)
    weight("out", model.out_weight())
    return Soul(model.config, tensors, tokenizer.fingerprint() if tokenizer is not None else None)


def from_soul(soul: Soul) -> QATModel:
    """A model whose quantized forward is the soul's integer pass (for tests and fine-tuning)."""
    model = QATModel(soul.config, tie_embeddings=False)

    def real(name):
        t = soul[name]
        if t.kind == KIND_INT16:  # a bias is at its matmul's accumulator scale
            scale = 2.0 ** (8 + soul[name[:-2] + "_w"].shift)
        else:
            scale = 2.0 ** t.shift
        return torch.tensor(t.values, dtype=DTYPE) / scale

    with torch.no_grad():
        model.te.copy_(real("te"))
        model.pe.copy_(real("pe"))
        for i, L in enumerate(model.layers):
            for n in L:
                L[n].copy_(real(f"l{i}.{n}").reshape(L[n].shape))
        model.norm.copy_(real("norm").reshape(-1))
        model.out.copy_(real("out"))
    return model
