"""The QAT transformer: a PyTorch mirror of the integer forward pass (numerics.md).

Everything runs in float64 on *integer units*: activations are Q8.8 values
(real x 256), weights are int8 with a per-tensor power-of-two shift. With
`quant=True` every rounding of the integer pass is applied in the forward
direction (weight rounding, each asr as a floor, the EXP table in attention)
with straight-through gradients, so the forward is the integer reference's
arithmetic bit for bit (float64 holds every intermediate sum exactly).
With `quant=False` the same graph runs without any rounding: the float model.

Parameters are kept at real scale (weight real = int / 2^shift). The shift of
each tensor is chosen from its current maximum: the largest s with
max|w| * 2^s <= 127, the same rule the export uses.
"""
import math

import torch
import torch.nn as nn

from soulplayer.config import PAD, UNK, ModelConfig
from soulplayer.numerics import EXP
from soulplayer.spec import (INV_MAX, OUT_POST_SHIFT, POST_SHIFT, RMS_IN_SHIFT, RMS_ONE, RMS_OUT_SHIFT,
                             SCORE_SHIFT)

DTYPE = torch.float64
INT16_MIN, INT16_MAX = -32768.0, 32767.0
MIN_SHIFT, MAX_SHIFT = -8, 15
EXP_TABLE = torch.tensor(EXP.tolist(), dtype=DTYPE)


def choose_shift(absmax: float) -> int:
    """Largest s with absmax * 2^s <= 127 (power-of-two scale of an int8 tensor)."""
    if not absmax > 0:
        return MAX_SHIFT
    s = math.floor(math.log2(127.0 / absmax))
    while s > MIN_SHIFT and absmax * 2.0 ** s > 127.0:
        s -= 1
    while s < MAX_SHIFT and absmax * 2.0 ** (s + 1) <= 127.0:
        s += 1
    return max(MIN_SHIFT, min(MAX_SHIFT, s))


def ste(x, rounded):
    """Forward: `rounded`; backward: identity (straight-through)."""
    return x + (rounded - x).detach()


class Quant:
    """Rounding helpers; all identities when quant is off (the float model)."""

    def __init__(self, on: bool):
        self.on = on

    def floor(self, x):
        return ste(x, torch.floor(x)) if self.on else x

    def round(self, x):
        return ste(x, torch.round(x)) if self.on else x

    def weight(self, w, lo=-128.0, hi=127.0):
        """Real weight -> (integer-valued weight, shift)."""
        s = choose_shift(float(w.detach().abs().max()))
        return self.round(w * 2.0 ** s).clamp(lo, hi), s

    def bias(self, b, s_w):
        return self.round(b * 2.0 ** (8 + s_w)).clamp(INT16_MIN, INT16_MAX)


def sat16(x):
    return x.clamp(INT16_MIN, INT16_MAX)


class QATModel(nn.Module):
    def __init__(self, config: ModelConfig, tie_embeddings: bool = True):
        super().__init__()
        c = self.config = config
        self.tie_embeddings = tie_embeddings
        ed, ff = c.embed_dim, c.ff_dim

        def mat(rows, cols, std=None):
            return nn.Parameter(torch.randn(rows, cols, dtype=DTYPE) * (std or cols ** -0.5))

        self.te = mat(c.vocab_size, ed, 1.0)
        self.pe = mat(c.context, ed, 0.5)
        self.layers = nn.ModuleList()
        for _ in range(c.n_layers):
            L = nn.ParameterDict({
                "n1": nn.Parameter(torch.ones(ed, dtype=DTYPE)),
                "q": mat(ed, ed), "k": mat(ed, ed), "v": mat(ed, ed),
                "proj": mat(ed, ed, ed ** -0.5 / c.n_layers),
                "n2": nn.Parameter(torch.ones(ed, dtype=DTYPE)),
                "fc1_w": mat(ff, ed), "fc1_b": nn.Parameter(torch.zeros(ff, dtype=DTYPE)),
                "fc2_w": mat(ed, ff, ff ** -0.5 / c.n_layers), "fc2_b": nn.Parameter(torch.zeros(ed, dtype=DTYPE)),
            })
            self.layers.append(L)
        self.norm = nn.Parameter(torch.ones(ed, dtype=DTYPE))
        self.out = None if tie_embeddings else mat(c.vocab_size, ed)

    def out_weight(self):
        return self.te if self.tie_embeddings else self.out

    # --- the integer pass's building blocks (x in Q8.8 units) -------------
    def embed(self, ids, Q):
        T = ids.shape[1]
        te, s_te = Q.weight(self.te)
        pe, s_pe = Q.weight(self.pe[:T])
        return sat16(deshift(te, s_te, Q)[ids] + deshift(pe, s_pe, Q)[None])

    @staticmethod
    def matmul(x, w, Q, bias=None, post_shift=POST_SHIFT):
        wi, s = Q.weight(w)
        acc = x @ wi.T
        if bias is not None:
            acc = acc + Q.bias(bias, s)
        return sat16(Q.floor(acc / 2.0 ** (s + post_shift)))

    @staticmethod
    def rmsnorm(x, g, Q):
        ed = x.shape[-1]
        gi, s_g = Q.weight(g)
        xs = Q.floor(x / 2.0 ** RMS_IN_SHIFT)
        ms = Q.floor((xs * xs).sum(-1, keepdim=True) / ed).clamp(min=1.0)
        r = Q.floor(torch.sqrt(ms)).clamp(min=1.0)
        inv = Q.floor(RMS_ONE / r).clamp(max=float(INV_MAX))
        return sat16(Q.floor(Q.floor(x * inv / 2.0 ** RMS_OUT_SHIFT) * gi / 2.0 ** s_g))

    def attention(self, q, k, v, Q):
        B, T, _ = q.shape
        H, D = self.config.n_heads, self.config.head_dim
        q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in (q, k, v))
        sf = Q.floor((q @ k.transpose(-1, -2)) / 2.0 ** SCORE_SHIFT)  # score x 4, in 1/16 steps
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        sf = sf.masked_fill(~causal, -1e30)
        d = sf.max(-1, keepdim=True).values.detach() - sf
        soft = 255.0 * torch.exp(-d / 16.0)
        if Q.on:
            table = EXP_TABLE[d.detach().clamp(max=127.0).long()]
            w = ste(soft, table)
        else:
            w = soft
        out = Q.floor((w @ v) / w.sum(-1, keepdim=True))
        return sat16(out).transpose(1, 2).reshape(B, T, H * D)

    def forward(self, ids, quant: bool = True):
        """ids [B, T] long -> logits [B, T, VS] in int16 units (float64)."""
        Q = Quant(quant)
        h = self.embed(ids, Q)
        for L in self.layers:
            a = self.rmsnorm(h, L["n1"], Q)
            q, k, v = (self.matmul(a, L[n], Q) for n in ("q", "k", "v"))
            h = sat16(h + self.matmul(self.attention(q, k, v, Q), L["proj"], Q))
            f = self.rmsnorm(h, L["n2"], Q)
            z = torch.relu(self.matmul(f, L["fc1_w"], Q, L["fc1_b"]))
            h = sat16(h + self.matmul(z, L["fc2_w"], Q, L["fc2_b"]))
        return self.matmul(self.rmsnorm(h, self.norm, Q), self.out_weight(), Q, post_shift=OUT_POST_SHIFT)


def deshift(v, s, Q):
    """A weight-scale tensor (real = v / 2^s) to Q8.8, as the integer embedding does."""
    return v * 2.0 ** (8 - s) if s <= 8 else Q.floor(v / 2.0 ** (s - 8))


def loss_fn(logits, targets, mask, smoothing: float):
    """Label-smoothed cross-entropy on masked positions, over the ids decoding can choose.

    logits are int16 units; /256 gives the real values the float model would see."""
    x = logits / 256.0
    never = torch.zeros(x.shape[-1], dtype=torch.bool)
    never[[PAD, UNK]] = True
    x = x.masked_fill(never, -1e9)
    logp = torch.log_softmax(x, -1)
    nll = -logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    smooth = -(logp.masked_fill(never, 0.0).sum(-1)) / float((~never).sum())
    per = (1.0 - smoothing) * nll + smoothing * smooth
    return (per * mask).sum() / mask.sum()


def choose(logits):
    """Greedy choice as in soulplayer.chat: argmax except PAD/UNK, first max wins."""
    x = logits.clone()
    x[..., [PAD, UNK]] = -1e30
    return x.argmax(-1)
