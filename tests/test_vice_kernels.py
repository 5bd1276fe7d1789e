"""Engine kernels in VICE == the integer reference: matmul (squares sum with
two- and three-byte slots, the fast path's limit and the exact fallback beyond
it, bias, every shift incl. negative and huge, saturation both ways), embedding
(shifts above and below 8, saturation), residual add (and the sum of squares
it leaves for rmsnorm_s), ReLU, argmax.

One driver (tests/asm/kernel_driver.s) runs a stream of kernel calls per VICE
session; each soul below is one build and one session.
"""
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from soulplayer import numerics
from soulplayer.config import ModelConfig
from soulplayer.soulfile import KIND_INT16, Soul, Tensor, record_layout
from soulplayer.gen import weights as gen_weights
from soulplayer.tools import engine_vice, vice

DRIVER = Path(__file__).parent / "asm" / "kernel_driver.s"
CFG = ModelConfig()
ED, FF, VS = CFG.embed_dim, CFG.ff_dim, CFG.vocab_size
# shifts the 6502 matmul handles (every int8 shift is exact in the reference)
SHIFTS = [-20, -16, -3, -1, 0, 1, 3, 4, 7, 8, 9, 12, 15, 16, 23, 31, 32]
OUT_SHIFTS = [-3, 0, 6, 7, 8, 16]


def make_soul(seed, te_shift, pe_shift, big):
    rng = np.random.default_rng(seed)
    tensors = {}
    for name, kind, rows, cols in record_layout(CFG):
        lim = (32767 if big else 2000) if kind == KIND_INT16 else (127 if big else 30)
        vals = rng.integers(-lim, lim + 1, (rows, cols))
        if big and name == "out":
            vals[:3] = 127          # extreme rows: every product at its maximum / minimum
            vals[3:6] = -128
        tensors[name] = Tensor(vals.astype(np.int64), 6, kind)
    tensors["te"].shift, tensors["pe"].shift = te_shift, pe_shift
    return Soul(CFG, tensors)


def i16(v):
    return np.asarray(v, dtype=np.int64).astype("<i2").tobytes()


STREAM_MAX = 2048 - 1           # kt_cmds in the driver, less the end mark


def run(soul, tmp_path, cmds):
    """cmds: list of (bytes, expected output length) -> list of output byte strings.
    As many commands per VICE session as the driver's buffers hold; two at a time."""
    eb = engine_vice.build_engine(soul, tmp_path, "kernels", driver=DRIVER)
    capacity = engine_vice.MEM_END - eb.art.labels["drv_out"]
    chunks, cur = [], []
    for c in cmds:
        if cur and (sum(len(b) for b, _ in cur) + len(c[0]) > STREAM_MAX
                    or sum(n for _, n in cur) + c[1] > capacity):
            chunks.append(cur)
            cur = []
        cur.append(c)
    chunks.append(cur)

    def session(chunk):
        stream = b"".join(c for c, _ in chunk) + b"\0"
        r = vice.run_checked(eb.art.prg, labels=eb.art.labels, done="drv_done",
                             pokes=[("kt_cmds", stream)],
                             dumps=[("out", "drv_out", sum(n for _, n in chunk))],
                             limit_cycles=400_000 * len(chunk) + 4_000_000)   # + engine_init
        data, out, pos = r.memory("out"), [], 0
        for _, n in chunk:
            out.append(data[pos:pos + n])
            pos += n
        return out

    with ThreadPoolExecutor(2) as pool:
        return [o for part in pool.map(session, chunks) for o in part]


XT = gen_weights.MM_TABLE_XMAX


def edge_inputs(rng, soul):
    xs = [np.full(ED, 32767), np.full(ED, -32768), np.zeros(ED, np.int64),
          np.where(np.arange(ED) % 2, 32767, -32768), rng.integers(-300, 300, ED),
          np.array([-1, 0, 1, 127, 128, -128, -129, 255, 256, -256, -255, 32767, -32768] * 3)[:ED],
          # two-byte slots (|x| <= 127) next to three-byte ones, and the squares
          # tables' ends (|x| <= MM_TABLE_XMAX with the fast path)
          np.array([127, -127, 128, -128, 1, -1, XT, -XT, 126, -126, XT - 1, 1 - XT, 0, 5, -5, 64] * 2)[:ED]]
    xs += [rng.integers(-32768, 32768, ED) for _ in range(4)]
    # each matrix's fast-path limit (gen.weights.fast_xmax): at it, and one beyond (the fallback)
    for name, bias in (("l0.fc1_w", "l0.fc1_b"), ("out", None)):
        b = soul[bias].values if bias else np.zeros(soul[name].values.shape[0], np.int64)
        xmax = gen_weights.fast_xmax(soul[name].values, b)
        xs += [np.where(np.arange(ED) % 3, rng.integers(-xmax, xmax + 1, ED), xmax),
               np.where(np.arange(ED) % 3, rng.integers(-xmax, xmax + 1, ED), -xmax),
               np.where(np.arange(ED) == 7, -xmax - 1, rng.integers(-xmax, xmax + 1, ED))]
    # the slots keep their tail (two- or three-byte) from the last vector:
    # switch each slot both ways
    xs += [rng.integers(-127, 128, ED), rng.integers(128, 1000, ED) * rng.choice([-1, 1], ED),
           rng.integers(-127, 128, ED)]
    return xs


# output ranges of one sweep (count, shift), from row 0 up: the fused tails
# (shifts 6, 7, 8) next to mm_finish's (3, 9) and each other, as in the q/k/v sweep
FC1_RANGES = [(20, 6), (20, 3), (24, 8)]
OUT_RANGES = [(40, 7), (41, 9), (47, 6)]
assert sum(n for n, _ in FC1_RANGES) == FF and sum(n for n, _ in OUT_RANGES) == VS


def matmul_cmd(sel, ranges, x):
    """The driver's matmul record and its output length (sel 0: fc1, interleaved;
    sel 1: out, low bytes then high bytes)."""
    head = [1, sel, len(ranges)] + [b for n, k in ranges for b in (n, k & 0xFF)]
    return bytes(head) + i16(x), 2 * sum(n for n, _ in ranges)


def ranges_want(w, b, ranges, x):
    """The reference outputs of one sweep over ranges (count, shift) from row 0 up."""
    row0 = np.cumsum([0] + [n for n, _ in ranges])
    return sum((numerics.matmul(w[r:r + n], k, x, None if b is None else b[r:r + n], post_shift=0).tolist()
                for r, (n, k) in zip(row0, ranges)), [])


def matmul_result(sel, data):
    if sel == 0:
        return np.frombuffer(data, "<i2").tolist()
    n = len(data) // 2
    return (np.frombuffer(data[:n], np.uint8).astype(np.int64)
            | (np.frombuffer(data[n:], np.int8).astype(np.int64) << 8)).tolist()


@pytest.mark.parametrize("big", [True, False])
def test_matmul_every_shift(tmp_path, big):
    soul = make_soul(11 + big, 5, 5, big)
    rng = np.random.default_rng(5)
    mats = [(soul["l0.fc1_w"].values, soul["l0.fc1_b"].values, SHIFTS, FC1_RANGES),
            (soul["out"].values, None, OUT_SHIFTS, OUT_RANGES)]
    cmds, want = [], []
    for i, x in enumerate(edge_inputs(rng, soul)):
        for sel, (w, b, shifts, ranges) in enumerate(mats):
            cases = [[(w.shape[0], k)] for k in (shifts if i < 7 else shifts[::3])]
            for rs in cases + [ranges]:
                cmds.append((sel, rs, matmul_cmd(sel, rs, x)))
                want.append(ranges_want(w, b, rs, x))
    got = run(soul, tmp_path, [c for _, _, c in cmds])
    sat = 0
    for (sel, rs, c), g, w in zip(cmds, got, want):
        assert matmul_result(sel, g) == w, f"sel {sel} ranges {rs} x {np.frombuffer(c[0][3 + 2 * len(rs):], '<i2')[:4]}"
        sat += int(np.sum(np.abs(w) >= 32767))
    if big:
        assert sat > 100       # the big soul really exercises saturation


def test_matmul_slot_classes(tmp_path):
    # mm_fast's column classes at each matrix's own weight bias beta (asm/matmul.s:
    # m = x - beta, page h' and low byte L'): h' = 0 with L' >= 128 (mm_sqc),
    # L' < 128 (page MM_P) and L' = 0 (x = beta - 256 with a weight -beta: x + w
    # = -256, three bytes), h' = 1 below and at t2lim, three bytes beyond; the
    # slots' tails switched both ways between consecutive vectors
    soul = make_soul(21, 5, 5, big=False)
    rng = np.random.default_rng(21)
    mats = []
    for name, bias, lo, hi in (("l0.fc1_w", "l0.fc1_b", -100, 20), ("out", None, -5, 120)):
        w = rng.integers(lo, hi + 1, soul[name].values.shape)
        w[0], w[1] = lo, hi                 # every column holds -beta and the largest weight
        soul[name].values = w
        b = soul[bias].values if bias else None
        beta = gen_weights.weight_bias(w, b)
        xmax = gen_weights.fast_xmax(w, np.zeros(w.shape[0], np.int64) if b is None else b)
        t2 = gen_weights.two_byte_top(w, beta, xmax)
        assert beta == -lo and 0 < t2 < 256 - beta
        edges = [beta - 256, beta - 255, beta - 129, beta - 128, beta - 127, beta - 1, beta, beta + 1,
                 beta + t2 - 1, beta + t2, 255, 256, -255, -256, -beta, 0, xmax, -xmax]
        mats.append((w, b, edges))
    cmds, want = [], []
    for i in range(8):
        for sel, (w, b, edges) in enumerate(mats):
            if i % 2:                       # every slot three bytes, then back
                x = rng.integers(300, 1500, ED) * rng.choice([-1, 1], ED)
            else:
                x = rng.permutation(np.resize(np.roll(edges, i), ED))
            ranges = [(w.shape[0], 7)]
            cmds.append(matmul_cmd(sel, ranges, x))
            want.append(numerics.matmul(w, 7, x, b, post_shift=0).tolist())
    got = run(soul, tmp_path, cmds)
    for i, (g, wv) in enumerate(zip(got, want)):
        assert matmul_result(i % 2, g) == wv, f"vector {i // 2} matrix {i % 2}"


def test_matmul_q_block(tmp_path):
    # a column beyond the squares tables' reach with |q| <= qmax (x = 256 q + r,
    # gen.weights.q_limit) takes one of the row loop's two q-blocks, the other
    # beyond columns mm_columns: q = +-qmax at the edges (fc1's qmax 90 with weights
    # -128 and 127 in that column: the q-block's 16-bit value at its ends) and
    # one past them, the tables' reach +-1, both signs; two to four beyond
    # columns (both q-blocks, and mm_columns for the rest), in either order;
    # fused and acc tails; each vector after one that took them
    soul = make_soul(31, 5, 5, big=False)
    rng = np.random.default_rng(31)
    w = rng.integers(-1, 2, soul["l0.fc1_w"].values.shape)
    w[:, 5] = np.where(np.arange(FF) % 2, 127, -128)
    soul["l0.fc1_w"].values = w
    b = soul["l0.fc1_b"].values
    mats = [(w, b, FC1_RANGES), (soul["out"].values, None, OUT_RANGES)]
    cmds, want = [], []
    for sel, (wm, bm, ranges) in enumerate(mats):
        qmax = gen_weights.q_limit(wm, np.zeros(wm.shape[0], np.int64) if bm is None else bm)
        assert qmax == 90 if sel == 0 else 4 <= qmax < 90
        top, edge = 256 * qmax + 127, XT + 1
        singles = [top, -top - 1, top + 1, -top - 2, edge, -edge, 2047, -2048, 2048, -2049, 256 + XT, -256 - XT]
        xs = []
        for v in singles:
            x = rng.integers(-XT, XT + 1, ED)
            x[5] = v
            xs.append(x)
        for cols in ((top, top + 1), (top + 1, -top - 1), (-edge, edge), (edge, 30000), (-top - 1, edge, top),
                     (edge, -edge, -top - 1, 2100)):
            x = rng.integers(-XT, XT + 1, ED)
            x[[5, 9, 13, 20][:len(cols)]] = cols
            xs.append(x)
        xs.append(rng.integers(-XT, XT + 1, ED))
        for x in xs:
            for rs in ([(wm.shape[0], 7)], ranges):
                cmds.append((sel, matmul_cmd(sel, rs, x)))
                want.append(ranges_want(wm, bm, rs, x))
    got = run(soul, tmp_path, [c for _, c in cmds])
    for i, ((sel, _), g, wv) in enumerate(zip(cmds, got, want)):
        assert matmul_result(sel, g) == wv, f"case {i} matrix {sel}"


# both shifts >= 1 take embed's 16-bit sum (no saturation possible; (1, 1) its
# equal-shift form at the edge: h = (te + pe) << 7, (4, 4) the largest equal
# shift whose squares take the shifted index; (5, 5) (the original soul's),
# (6, 6) and (8, 8) the direct squares of the biased sum, (8, 8) with no shift
# step; (9, 9) equal shifts above 8, which take the unequal form; (7, 8) (the
# default soul's) and (8, 14) unequal with |h| < 2048, the direct squares of
# xs, (11, 3) beyond); (0, 1) and (-1, 0) the 32-bit one, which saturates
@pytest.mark.parametrize("te_shift,pe_shift", [(11, 3), (1, 1), (4, 4), (5, 5), (6, 6), (8, 8), (9, 9), (7, 8),
                                               (-1, 0), (0, 1), (17, 8), (8, 14), (-12, -13), (-15, -15)])
def test_embed_shifts(tmp_path, te_shift, pe_shift):
    soul = make_soul(3, te_shift, pe_shift, big=True)
    pairs = [(t, p) for t in (0, 1, 2, 3, 64, 127) for p in (0, 7, CFG.context - 1)]
    got = run(soul, tmp_path, [(bytes([2, t, p]), 2 * ED + 4) for t, p in pairs])
    hits = set()
    for (t, p), g in zip(pairs, got):
        want = numerics.embed(soul, t, p)
        assert np.frombuffer(g[:2 * ED], "<i2").tolist() == want.tolist(), f"tok {t} pos {p}"
        assert int.from_bytes(g[2 * ED:], "little") == int(np.sum((want >> 4) ** 2)), f"S tok {t} pos {p}"
        hits |= {int(v) for v in want if abs(v) >= 32767}
    if te_shift in (-1, 0):
        assert {32767, -32768} <= hits    # saturation both ways


def test_residual_relu_argmax(tmp_path):
    soul = make_soul(1, 5, 5, big=False)
    rng = np.random.default_rng(9)
    cmds, checks = [], []
    for _ in range(6):
        h, y = rng.integers(-32768, 32768, ED), rng.integers(-32768, 32768, ED)
        h[:4], y[:4] = [32767, -32768, 20000, -1], [1, -1, 20000, 1]
        cmds.append((bytes([3]) + i16(h) + i16(y), 2 * ED + 4))
        checks.append(("res", numerics.sat16(h + y)))
    # the sum of squares' two-byte path (|xs| < 256) and its edges: xs = -256
    # (h = -4096..-4081, xs^2 = 65536), -255, 255, 256, -257
    edges = np.array([-4096, -4081, -4082, -4080, -4097, 4080, 4095, 4096, -4112, -4113, 0, -1, 15, -16, -17,
                      255, 256, -256, -257, 4111, 32767, -32768, 100, -100, 2047, -2048, 1000, -1000, 3, -3, 8000, -4090])
    for y in (np.zeros(ED, np.int64), rng.integers(-8, 8, ED)):
        h = np.clip(edges[:ED] - y, -32768, 32767)
        cmds.append((bytes([3]) + i16(h) + i16(y), 2 * ED + 4))
        checks.append(("res", numerics.sat16(h + y)))
    # fc2 over relu(v), the ReLU folded into the sweep (mm_relu): x < 0 reads
    # as 0 on the fast path (huge negatives included) and next to the fallback
    w2, b2 = soul["l0.fc2_w"].values, soul["l0.fc2_b"].values
    xmax = gen_weights.fast_xmax(w2, b2)
    vs = [rng.integers(-32768, 32768, FF), np.where(rng.random(FF) < 0.5, -32768, rng.integers(0, xmax + 1, FF)),
          np.where(np.arange(FF) % 2, rng.integers(-xmax, xmax + 1, FF), -rng.integers(1, 128, FF)),
          np.where(np.arange(FF) == 5, xmax + 1, rng.integers(-3000, xmax + 1, FF)),
          np.full(FF, -1), np.where(np.arange(FF) % 3, 127, -128)]
    vs[0][:4] = [0, -1, 1, -32768]
    for v, k in zip(vs, [8, 8, 7, 6, 8, 3]):
        cmds.append((bytes([4, k]) + i16(v), 2 * ED))
        checks.append(("relu", numerics.matmul(w2, k, np.maximum(0, v), b2, post_shift=0)))
    cases = [rng.integers(-32768, 32768, VS) for _ in range(4)]
    cases.append(np.full(VS, -32768))                      # all equal: SEP (1) wins
    c = np.zeros(VS, np.int64); c[0] = c[2] = 30000; c[70] = c[90] = 5; cases.append(c)   # PAD/UNK skipped, first max
    c = np.full(VS, -5); c[127] = 32767; cases.append(c)
    c = np.full(VS, 0); c[5] = -1; c[1] = -2; cases.append(c)   # ties at 0: id 3
    for lg in cases:
        cmds.append((bytes([5]) + bytes((lg & 0xFF).astype(np.uint8)) + bytes(((lg >> 8) & 0xFF).astype(np.uint8)), 1))
        masked = np.where(np.isin(np.arange(VS), [0, 2]), np.iinfo(np.int64).min, lg)
        checks.append(("argmax", int(np.argmax(masked))))
    got = run(soul, tmp_path, cmds)
    for (kind, want), g in zip(checks, got):
        if kind == "argmax":
            assert g[0] == want
        elif kind == "res":             # h, then the sum of squares rmsnorm_s takes
            assert np.frombuffer(g[:2 * ED], "<i2").tolist() == want.tolist(), kind
            assert int.from_bytes(g[2 * ED:], "little") == int(np.sum((want >> 4) ** 2)), kind
        else:
            assert np.frombuffer(g, "<i2").tolist() == want.tolist(), kind
