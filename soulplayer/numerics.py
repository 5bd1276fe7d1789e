"""The integer forward pass (shared spec numerics.md), the ground truth for every engine.

All values are Python/numpy int64: every intermediate sum is exact (the widest,
an attention score, needs 35 bits). `forward` recomputes the whole sequence;
`Decoder` keeps a KV cache and must give the same logits.
"""
import math

import numpy as np

from .soulfile import Soul
from .spec import (EXP_MAX_INDEX, EXP_VALUES, INV_MAX, OUT_POST_SHIFT, POST_SHIFT,
                   RMS_IN_SHIFT, RMS_ONE, RMS_OUT_SHIFT, SCORE_SHIFT)

INT16_MIN, INT16_MAX = -32768, 32767
EXP = np.array(EXP_VALUES, dtype=np.int64)


# Right shifts are clamped at 62: every value here is below 2^36 in magnitude, so
# that already gives the final 0 or -1. Left shifts up to 26 stay exact in int64;
# longer ones (only possible with extreme negative shifts) use Python integers.
MAX_RIGHT_SHIFT, MAX_INT64_LEFT_SHIFT = 62, 26


def asr(v, k: int):
    """Arithmetic shift right (floor division by 2^k); k < 0 shifts left. Exact."""
    if k >= 0:
        return v >> min(k, MAX_RIGHT_SHIFT)
    if -k <= MAX_INT64_LEFT_SHIFT:
        return v << -k
    return np.asarray(v, dtype=object) << -k


def sat16(v):
    return np.clip(v, INT16_MIN, INT16_MAX).astype(np.int64)


def isqrt(n: int) -> int:
    return math.isqrt(int(n))


def deshift(v, s: int):
    """A weight-scale tensor (real = v / 2^s) to Q8.8."""
    return asr(v, s - 8)


def embed(soul: Soul, token: int, pos: int) -> np.ndarray:
    te, pe = soul["te"], soul["pe"]
    return sat16(deshift(te.values[token], te.shift) + deshift(pe.values[pos], pe.shift))


def matmul(w, s_w: int, x, bias=None, post_shift: int = POST_SHIFT) -> np.ndarray:
    """y = sat16(asr(W.x (+ b), s_w + p)); x may be [cols] or [T, cols]."""
    acc = np.asarray(x, dtype=np.int64) @ np.asarray(w, dtype=np.int64).T
    if bias is not None:
        acc = acc + np.asarray(bias, dtype=np.int64).reshape(-1)
    return sat16(asr(acc, s_w + post_shift))


def rmsnorm(x, g, s_g: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.int64)
    xs = x >> RMS_IN_SHIFT
    ms = max(1, int(np.dot(xs, xs)) // len(x))
    r = max(1, isqrt(ms))
    inv = min(INV_MAX, RMS_ONE // r)
    g = np.asarray(g, dtype=np.int64).reshape(-1)
    return sat16(asr(((x * inv) >> RMS_OUT_SHIFT) * g, s_g))


def attention_head(q, keys, values) -> np.ndarray:
    """q: [HD]; keys, values: [t+1, HD] for positions 0..t. Returns [HD] int16."""
    scores = np.asarray(keys, dtype=np.int64) @ np.asarray(q, dtype=np.int64)
    sf = scores >> SCORE_SHIFT
    w = EXP[np.minimum(EXP_MAX_INDEX, sf.max() - sf)]
    total = int(w.sum())
    return sat16((w @ np.asarray(values, dtype=np.int64)) // total)


def _layer_tensors(soul: Soul, i: int):
    return {n: soul[f"l{i}.{n}"] for n in ("n1", "q", "k", "v", "proj", "n2", "fc1_w", "fc1_b", "fc2_w", "fc2_b")}


def _mm(t, x, bias=None, post_shift=POST_SHIFT):
    return matmul(t.values, t.shift, x, None if bias is None else bias.values, post_shift)


class Decoder:
    """Incremental forward pass with a KV cache: step(token) -> logits of that position."""

    def __init__(self, soul: Soul):
        self.soul = soul
        self.config = soul.config
        self.layers = [_layer_tensors(soul, i) for i in range(self.config.n_layers)]
        c = self.config
        self.keys = np.zeros((c.n_layers, c.context, c.embed_dim), dtype=np.int64)
        self.values = np.zeros_like(self.keys)
        self.pos = 0

    def step(self, token: int) -> np.ndarray:
        c, t = self.config, self.pos
        if t >= c.context:
            raise ValueError(f"context full ({c.context} tokens)")
        if not 0 <= token < c.vocab_size:
            raise ValueError(f"token id {token} outside 0..{c.vocab_size - 1}")
        h = embed(self.soul, token, t)
        for i, L in enumerate(self.layers):
            a = rmsnorm(h, L["n1"].values, L["n1"].shift)
            q = _mm(L["q"], a)
            self.keys[i, t] = _mm(L["k"], a)
            self.values[i, t] = _mm(L["v"], a)
            att = np.concatenate([
                attention_head(q[d:d + c.head_dim], self.keys[i, :t + 1, d:d + c.head_dim],
                               self.values[i, :t + 1, d:d + c.head_dim])
                for d in range(0, c.embed_dim, c.head_dim)])
            h = sat16(h + _mm(L["proj"], att))
            f = rmsnorm(h, L["n2"].values, L["n2"].shift)
            z = np.maximum(0, _mm(L["fc1_w"], f, L["fc1_b"]))
            h = sat16(h + _mm(L["fc2_w"], z, L["fc2_b"]))
        self.pos += 1
        norm = self.soul["norm"]
        return _mm(self.soul["out"], rmsnorm(h, norm.values, norm.shift), post_shift=OUT_POST_SHIFT)


def forward(soul: Soul, ids) -> np.ndarray:
    """Full recompute of every position (no cache): logits [T, VS]."""
    c = soul.config
    ids = list(ids)
    if not 1 <= len(ids) <= c.context:
        raise ValueError(f"sequence length {len(ids)} outside 1..{c.context}")
    h = np.stack([embed(soul, tok, t) for t, tok in enumerate(ids)])
    for i in range(c.n_layers):
        L = _layer_tensors(soul, i)
        a = np.stack([rmsnorm(row, L["n1"].values, L["n1"].shift) for row in h])
        q, k, v = _mm(L["q"], a), _mm(L["k"], a), _mm(L["v"], a)
        att = np.array([np.concatenate([
            attention_head(q[t, d:d + c.head_dim], k[:t + 1, d:d + c.head_dim], v[:t + 1, d:d + c.head_dim])
            for d in range(0, c.embed_dim, c.head_dim)]) for t in range(len(ids))])
        h = sat16(h + _mm(L["proj"], att))
        f = np.stack([rmsnorm(row, L["n2"].values, L["n2"].shift) for row in h])
        z = np.maximum(0, _mm(L["fc1_w"], f, L["fc1_b"]))
        h = sat16(h + _mm(L["fc2_w"], z, L["fc2_b"]))
    norm = soul["norm"]
    hn = np.stack([rmsnorm(row, norm.values, norm.shift) for row in h])
    return _mm(soul["out"], hn, post_shift=OUT_POST_SHIFT)
