"""asm/attention.s in VICE == soulplayer.numerics.attention_head, bit for bit.

The driver (tests/asm/attention_driver.s) runs a script: fill the KV cache
with attn_store_kv, then attention_head for many (block, positions, q). Each
scenario refills the whole cache (every layer, every position) from one value
regime:
- moderate: scores spread over the EXP table (m - sf crosses 127 sometimes);
- full: random int16 everywhere (scores up to ~2^33, one-hot weights);
- extreme: k, v, q only -32768 / 32767 / 0 (q.k at the 35-bit limits);
- tiny: small values (near-uniform weights, negative sums with remainders);
- small: |q|, |k| < 256 (the two-product path; scores hover around 0);
- equal: every position has the same key (W = 255 * n) and negative values;
- ramp: scores stepping by ~11/16 per position so m - sf runs past 127;
- vsmall, vspread: values on the weighted sum's cases (high byte 0, -1, 1,
  -2 and others, low byte 0), with large or spread weights;
- edge, edgeq: q at the fast scores' limits -1792..1791 and just past them
  (the general path), with keys at the int16 limits or small;
- divedge: equal keys (W = 255 * n), values whose mean sits on the division's
  boundaries: out = -257, -256, 255, 256, +-512, -2049, -2048, 2047, 2048
  (the 8-step division takes -256 * W <= N < 256 * W directly, up to
  +-2048 * W after reducing N >> 8 by multiples of W, the 16-step one the
  rest), with and without a remainder, and the int16 limits.
For each: every head block, n = 1, 2, CONTEXT and a random n. The cache
itself is dumped at the end and checked against the documented layout.
Configs: the default (ED 32, 4 heads of 8, context 20, 2 layers), two
small ones (context 12; heads of 8 and of 4), context 48, one head of 32,
heads of 16 and eight heads of 4 at context 40 (N_HEADS * CONTEXT > 256).
"""
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from conftest import squares_image_inc
from soulplayer.numerics import attention_head
from soulplayer.tools import build, vice

ROOT = Path(__file__).resolve().parents[1]
DRIVER = ROOT / "tests" / "asm" / "attention_driver.s"
SOURCES = [build.ASM_DIR / "basic_stub.s", DRIVER, DRIVER.parent / "squares_tables.s"] + [
    build.ASM_DIR / s for s in ("attention.s", "divide.s", "exp_table.s")]


@dataclass(frozen=True)
class Dims:
    ed: int
    hd: int
    nh: int
    sl: int
    nl: int

    def defines(self):
        return {"EMBED_DIM": self.ed, "HEAD_DIM": self.hd, "N_HEADS": self.nh,
                "CONTEXT": self.sl, "N_LAYERS": self.nl}


DEFAULT = Dims(32, 8, 4, 20, 2)
SMALL8 = Dims(16, 8, 2, 12, 2)
SMALL4 = Dims(16, 4, 4, 12, 1)
CTX48 = Dims(32, 8, 4, 48, 1)       # the longest context souls use (v rows past X = 255)
WIDE = Dims(32, 32, 1, 10, 2)       # the widest head: MAX_HEAD_DIM
HD16 = Dims(32, 16, 2, 10, 1)       # the widest head with the fast scores
MANYH = Dims(32, 4, 8, 40, 1)       # N_HEADS * CONTEXT > 256: the Kc rows step by operand


def _rows(vals, per=16):
    vals = [int(v) & 0xFF for v in vals]
    return "\n".join("        .byte " + ",".join(f"${v:02x}" for v in vals[i:i + per])
                     for i in range(0, len(vals), per))


def _le16(vals):
    out = []
    for v in vals:
        out += [int(v) & 0xFF, (int(v) >> 8) & 0xFF]
    return out


def regime(name, rng, dims):
    """(k/v generator (size) -> int array, q generator) for a scenario."""
    def uni(lim):
        return lambda n: rng.integers(-lim, lim + 1, n)
    if name == "moderate":
        return uni(1000), uni(1000), uni(1000)
    if name == "full":
        f = lambda n: rng.integers(-32768, 32768, n)
        return f, f, f
    if name == "extreme":
        e = lambda n: rng.choice([-32768, 32767], n)
        return e, e, lambda n: rng.choice([-32768, 32767, 0], n)
    if name == "tiny":
        return uni(40), lambda n: rng.integers(-40, 10, n), uni(40)
    if name == "small":             # |q| < 256: the two-product path; sums hover around 0
        return uni(255), lambda n: rng.integers(-32768, 32768, n), uni(255)
    if name in ("vsmall", "vspread"):
        # v = 256 vh + vl with the weighted sum's cases: vh 0, -1, 1, -2 (one
        # adc/sbc of w), others and the int16 limits (a second product), vl = 0;
        # vsmall: near-equal keys, so every w is large (the 17-bit vh = 1 and
        # vh = -2 cases); vspread: weights over the whole EXP table
        def v(n):
            vh = rng.choice([0, -1, 1, -2, 2, -3, 127, -128], n, p=[.2, .2, .2, .2, .05, .05, .05, .05])
            vl = rng.choice([0, 1, 127, 128, 254, 255, -1], n)
            vl = np.where(vl < 0, rng.integers(0, 256, n), vl)
            return 256 * vh + vl
        lim = 6 if name == "vsmall" else 300
        return uni(lim), v, uni(lim)
    if name in ("edge", "edgeq"):   # the fast scores' q range -1792..1791 and just past it
        # edge: k at the int16 limits (|2 score| near its 2^31 bound); edgeq: small
        # k, so that a wrong score shows in the weights
        def kv(n):
            if name == "edgeq":
                return rng.integers(-300, 301, n)
            return np.where(rng.random(n) < 0.5, rng.choice([-32768, 32767], n),
                            rng.integers(-32768, 32768, n))
        inside = [-1792, 1791, -1, 0, 127, 128, -128, -129, 255, 256, -256, -1537, 1536]
        outside = [-1793, 1792, 2047, -1920, -2048, -32768, 32767]

        def q(n):
            v = rng.choice(inside, n)
            if rng.random() < 0.5:  # some dimensions out of range: the general path
                m = rng.integers(1, n + 1)
                v[rng.choice(n, m, replace=False)] = rng.choice(outside, m)
            return v
        return kv, lambda n: rng.integers(-32768, 32768, n), q
    raise ValueError(name)


class Script:
    def __init__(self, dims: Dims):
        self.d = dims
        self.keys = np.zeros((dims.nl, dims.sl, dims.ed), np.int64)
        self.values = np.zeros_like(self.keys)
        self.lines = []
        self.expect = []
        self.calls = []

    def store(self, layer, t, k, v):
        self.keys[layer, t], self.values[layer, t] = k, v
        self.lines.append(_rows([1, layer, t] + _le16(k) + _le16(v)))

    def attend(self, block, n, q):
        d = self.d
        layer, h = divmod(block, d.nh)
        sl = slice(h * d.hd, (h + 1) * d.hd)
        self.expect.append(attention_head(q, self.keys[layer, :n, sl], self.values[layer, :n, sl]))
        self.calls.append((block, n, list(q)))
        self.lines.append(_rows([2, block, n] + _le16(q)))

    def text(self):
        return "\n".join([f"OUT_BYTES = {max(1, 2 * self.d.hd * len(self.expect))}",
                          '.segment "RODATA"', "att_script:"] + self.lines + ["        .byte 0", ""])


def fill_scenario(s: Script, name, rng):
    d = s.d
    if name in ("moderate", "full", "extreme", "tiny", "small", "edge", "edgeq", "vsmall", "vspread"):
        gk, gv, gq = regime(name, rng, d)
        for layer in range(d.nl):
            for t in range(d.sl):
                s.store(layer, t, gk(d.ed), gv(d.ed))
        qgen = gq
    elif name == "equal":
        key = rng.integers(-3000, 3000, d.ed)
        for layer in range(d.nl):
            for t in range(d.sl):
                s.store(layer, t, key, rng.integers(-32768, 100, d.ed))
        qgen = lambda n: rng.integers(-3000, 3000, n)
    elif name == "divedge":
        # position 0 gets v = c + delta, the others c: sum = n c + delta, so
        # out = c + floor(delta / n) = c (delta 0, or 1 when n > 1) or c - 1 (delta -1)
        cs = np.array([-32768, -32767, -2049, -2048, -2047, -513, -512, -257, -256, -255, -1, 0, 1,
                       255, 256, 257, 511, 512, 2047, 2048, 2049, 32767])
        base = rng.choice(cs, d.ed)
        delta = rng.choice([-1, 0, 1], d.ed)
        delta[base == -32768] = np.maximum(delta[base == -32768], 0)
        delta[base == 32767] = np.minimum(delta[base == 32767], 0)
        key = rng.integers(-3000, 3000, d.ed)
        for layer in range(d.nl):
            for t in range(d.sl):
                s.store(layer, t, key, base + delta if t == 0 else base)
        qgen = lambda n: rng.integers(-1500, 1500, n)
    elif name == "ramp":
        # k[t][0] = 300*t, q[0] = +-1024: sf steps ~18.75 per position (past 127 by t = 7)
        for layer in range(d.nl):
            for t in range(d.sl):
                k = rng.integers(-3, 4, d.ed)
                k[::d.hd] = 300 * t
                s.store(layer, t, k, rng.integers(-32768, 32768, d.ed))
        qgen = lambda n: np.concatenate([[rng.choice([-1024, 1024])], rng.integers(-2, 3, n - 1)])
    else:
        raise ValueError(name)
    for block in range(d.nl * d.nh):
        for n in sorted({1, 2, d.sl, *(int(v) for v in rng.integers(3, d.sl + 1, 2))}):
            s.attend(block, n, qgen(d.hd))


def run_script(tmp_path, s: Script, emulator="x64", profile=()):
    d = s.d
    (tmp_path / "attention_cases.inc").write_text(s.text())
    (tmp_path / "squares_image.inc").write_text(squares_image_inc())
    art = build.build_prg(SOURCES, tmp_path, "att", include_dirs=[tmp_path], defines=d.defines())
    cache = d.nl * d.ed * d.sl
    r = vice.run_checked(art.prg, labels=art.labels, done="done", profile=profile, emulator=emulator,
                         dumps=[("out", "att_results", max(1, 2 * d.hd * len(s.expect))),
                                ("klo", "kv_k_lo", cache), ("khi", "kv_k_hi", cache),
                                ("vlo", "kv_v_lo", cache), ("vhi", "kv_v_hi", cache)],
                         limit_cycles=150_000_000)
    return r


def check(r, s: Script):
    d = s.d
    got = np.frombuffer(r.memory("out"), dtype="<i2").reshape(len(s.expect), d.hd)
    for i, (want, (block, n, q)) in enumerate(zip(s.expect, s.calls)):
        assert list(got[i]) == list(want), f"call {i}: block {block} n {n} q {q}"
    # cache layout: k row (layer*ED + j), column t, high bytes ^ $80;
    # v row (layer*CONTEXT + t), column j, as it is
    raw = lambda name, shape: np.frombuffer(r.memory(name), np.uint8).reshape(shape).astype(np.int64)
    word = lambda lo, hi, shape, flip: (lambda a: np.where(a >= 32768, a - 65536, a))(
        raw(lo, shape) | ((raw(hi, shape) ^ flip) << 8))
    k = word("klo", "khi", (d.nl, d.ed, d.sl), 0x80).transpose(0, 2, 1)
    v = word("vlo", "vhi", (d.nl, d.sl, d.ed), 0)
    assert (k == s.keys).all() and (v == s.values).all()


@pytest.mark.parametrize("dims,names", [
    (DEFAULT, ("moderate", "full", "extreme")),
    (DEFAULT, ("tiny", "small", "equal", "ramp")),
    (SMALL8, ("moderate", "full", "extreme", "tiny", "small", "equal", "ramp")),
    (SMALL4, ("moderate", "extreme", "tiny", "small", "equal", "ramp", "divedge")),
    (CTX48, ("moderate", "full", "ramp")),
    (CTX48, ("vsmall", "equal")),   # W up to 255 * 48
    (WIDE, ("moderate", "extreme", "small")),
    (DEFAULT, ("edge", "edgeq", "divedge", "divedge")),
    (DEFAULT, ("vsmall", "vspread", "vsmall")),
    (HD16, ("edge", "edgeq", "moderate")),
    (MANYH, ("moderate", "ramp")),
], ids=["default-a", "default-b", "ed16-hd8-sl12", "ed16-hd4-sl12", "ed32-hd8-sl48", "ed32-hd8-sl48-maxw", "ed32-hd32-sl10",
        "default-edge", "default-vh", "ed32-hd16-sl10", "ed32-hd4x8-sl40"])
def test_attention_matches_reference(tmp_path, dims, names):
    rng = np.random.default_rng(zlib.crc32(",".join(names).encode()) + dims.ed)
    s = Script(dims)
    for name in names:
        fill_scenario(s, name, rng)
    check(run_script(tmp_path, s), s)


def test_attention_in_x64sc(tmp_path):
    """The cycle-exact emulator (the one the benchmark uses) computes the same outputs."""
    rng = np.random.default_rng(5)
    s = Script(DEFAULT)
    for t in range(DEFAULT.sl):
        s.store(0, t, rng.integers(-1000, 1000, DEFAULT.ed), rng.integers(-32768, 32768, DEFAULT.ed))
    for n in (1, 10, 20):
        s.attend(0, n, rng.integers(-1000, 1000, DEFAULT.hd))
    r = run_script(tmp_path, s, emulator="x64sc")
    check_out = np.frombuffer(r.memory("out"), dtype="<i2").reshape(3, DEFAULT.hd)
    assert [list(x) for x in check_out] == [list(x) for x in s.expect]
