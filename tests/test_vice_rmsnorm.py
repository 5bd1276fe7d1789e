"""asm/rmsnorm.s in VICE == soulplayer.numerics.rmsnorm / isqrt, bit for bit.

One VICE run per embedding size (32: the default, 16: the small test config,
24: not a power of two, so the mean is a division; 44: above
RMS_DOUBLE_MAX_DIM, so s_g = 3..5 shift D instead of doubling g), each with
~150 RMSNorm cases (random and edge: zeros, +-32767/-32768 everywhere, r
around the r <= 16 clamp of inv, gains +-127/-128, every s_g of spec.py's
GAIN_MIN_SHIFT..GAIN_MAX_SHIFT, saturation both ways, s_g = 6 with x hi = 0
and -1 next to large x) and the isqrt cases (0, 1, every perfect square k^2
and k^2 +- 1 on a grid up to 2047^2, 2^22 - 1, 2^22, random). Cycles are
measured by `soul bench`, not here. The 6502 code's fast gain product needs
|u| + |g| < 2048 for u = asr(x * inv, 15), which test_u_bound checks for
every x.
"""
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import squares_image_inc
from soulplayer.numerics import isqrt, rmsnorm
from soulplayer.spec import GAIN_MAX_SHIFT, GAIN_MIN_SHIFT
from soulplayer.tools import build, vice

ROOT = Path(__file__).resolve().parents[1]
DRIVER = ROOT / "tests" / "asm" / "rmsnorm_driver.s"
SOURCES = [build.ASM_DIR / "basic_stub.s", DRIVER, DRIVER.parent / "squares_tables.s",
           build.ASM_DIR / "rmsnorm.s", build.ASM_DIR / "divide.s"]
SHIFT_MIN, SHIFT_MAX = GAIN_MIN_SHIFT, GAIN_MAX_SHIFT   # the s_g the engine takes (spec.py)
MAX_DIM = int(re.search(r"^RMS_MAX_DIM\s*=\s*(\d+)",
                        (build.ASM_DIR / "rmsnorm.s").read_text(), re.M).group(1))
# RMS_DOUBLE_MAX_DIM: up to this ED, s_g = 3..5 take u +- 2g (read from the source)
DOUBLE_MAX_DIM = int(re.search(r"^RMS_DOUBLE_MAX_DIM\s*=\s*(\d+)",
                               (build.ASM_DIR / "rmsnorm.s").read_text(), re.M).group(1))
ISQRT_MAX = 2**22                       # the largest ms: xs = -2048 everywhere


def _rows(vals, per=16):
    vals = [int(v) & 0xFF for v in vals]
    return "\n".join("        .byte " + ",".join(f"${v:02x}" for v in vals[i:i + per])
                     for i in range(0, len(vals), per))


def rms_cases(ed: int, rng: np.random.Generator):
    """[(x int16[ed], g int8[ed], s_g)]: edges first, then random."""
    cases = []
    full = lambda: rng.integers(-32768, 32768, ed)
    gain = lambda: rng.integers(-128, 128, ed)
    cases.append((np.zeros(ed, np.int64), gain(), 6))                    # ms = 1
    cases.append((np.full(ed, 32767), np.full(ed, 127), 0))              # saturates up
    cases.append((np.full(ed, -32768), np.full(ed, 127), 0))             # saturates down
    cases.append((np.full(ed, -32768), np.full(ed, -128), 0))            # max ms = 2^22
    cases.append((np.full(ed, -32768), np.full(ed, -128), SHIFT_MAX))
    cases.append((np.full(ed, 32767), np.full(ed, -128), SHIFT_MIN))
    alt = np.array([32767, -32768] * (ed // 2) + [5] * (ed % 2))
    cases.append((alt, np.full(ed, 100), 7))
    cases.append((np.arange(ed) - ed // 2, gain(), 0))                   # tiny: xs in {-1, 0}
    for v in (1, 15, 16, 17, 18, 255, 256, 2047, -2048, -17):           # r = |v|: inv clamp edge
        x = np.full(ed, 16 * v) + rng.integers(0, 16, ed)
        cases.append((x, gain(), int(rng.integers(0, 8))))
    for s in range(SHIFT_MIN, SHIFT_MAX + 1):                            # every shift
        cases.append((full(), gain(), s))
    for s in range(0, 8):                                                # big gains, small shifts
        x = rng.integers(-32768, 32768, ed) // int(rng.choice([1, 16, 256]))
        cases.append((x, rng.choice([-128, 127, -127, 126], ed), s))
    for n in range(6):                                                   # s_g = 6, x hi = 0 and -1:
        x = rng.integers(-256, 256, ed)                                  # the quarter-square gain product
        x[:4] = [-256, -1, 0, 255]
        x[4 + n % 3] = [32767, -32768, 4000][n % 3]                       # inv not clamped
        g = rng.integers(-128, 128, ed)
        g[7:13] = [0, 1, 127, -1, -128, 126]
        cases.append((x, g if n else np.abs(g).clip(0, 127), 6))
    while len(cases) < 150:
        scale = int(rng.choice([1, 4, 16, 64, 256, 4096]))
        x = rng.integers(-32768, 32768, ed) // scale
        if rng.random() < 0.2:
            x[rng.integers(0, ed)] = rng.choice([-32768, 32767])
        cases.append((x, gain(), int(rng.integers(-2, 10))))
    return cases


def sqrt_cases(rng):
    vals = {0, 1, 2, 3, 4, 5, 8, 9, 10, 65535, 65536, 65537, ISQRT_MAX - 1, ISQRT_MAX}
    for k in list(range(0, 40)) + list(range(40, 2048, 17)) + [255, 256, 1023, 1024, 2047]:
        vals |= {k * k, max(0, k * k - 1), k * k + 1}
    vals |= {int(v) for v in rng.integers(0, ISQRT_MAX + 1, 60)}
    return sorted(v for v in vals if v <= ISQRT_MAX)


def build_and_run(tmp_path, ed, cases, roots, emulator="x64"):
    lines = [f"RMS_CASES = {len(cases)}", f"SQRT_CASES = {len(roots)}", '.segment "RODATA"', "rms_cases:"]
    for x, g, s in cases:
        xb = []
        for v in x:
            xb += [int(v) & 0xFF, (int(v) >> 8) & 0xFF]
        lines.append(_rows([s & 0xFF] + list(g) + xb))
    lines.append("sqrt_cases:")
    lines.append(_rows([b for v in roots for b in (v & 0xFF, (v >> 8) & 0xFF, v >> 16)]))
    (tmp_path / "rmsnorm_cases.inc").write_text("\n".join(lines) + "\n")
    (tmp_path / "squares_image.inc").write_text(squares_image_inc())
    art = build.build_prg(SOURCES, tmp_path, "rms", include_dirs=[tmp_path],
                          defines={"EMBED_DIM": ed})
    r = vice.run_checked(art.prg, labels=art.labels, done="done",
                         dumps=[("y", "rms_out", len(cases) * 2 * ed), ("r", "sqrt_out", 2 * len(roots))],
                         emulator=emulator, limit_cycles=60_000_000)
    y = np.frombuffer(r.memory("y"), dtype="<i2").reshape(len(cases), ed)
    q = np.frombuffer(r.memory("r"), dtype="<u2")
    return y, q


@pytest.mark.parametrize("ed", [32, 16, 24, 44])
def test_rmsnorm_matches_reference(tmp_path, ed):
    rng = np.random.default_rng(1000 + ed)
    cases = rms_cases(ed, rng)
    roots = sqrt_cases(rng)
    y, q = build_and_run(tmp_path, ed, cases, roots)
    for n, (x, g, s) in enumerate(cases):
        want = rmsnorm(x, g, s)
        assert list(y[n]) == list(want), f"case {n}: s_g={s} x={list(x)} g={list(g)}"
    assert [int(v) for v in q] == [isqrt(v) for v in roots]


def test_u_bound():
    """asm/rmsnorm.s takes u + g and u - g from the squares tables (-2048..2047):
    for every ED up to RMS_MAX_DIM and every int16 x, |u| + 128 < 2048, and
    |u| + 256 < 2048 up to RMS_DOUBLE_MAX_DIM (the doubled gain). The
    largest element alone is the worst case (any other element only raises r),
    so every x in -32768..32767 with the rest zero covers all vectors."""
    from soulplayer.spec import INV_MAX, MAX_EMBED, RMS_ONE
    assert MAX_EMBED <= MAX_DIM
    assert DOUBLE_MAX_DIM < 44 <= MAX_DIM       # ED 44 above: the shifted path
    x = np.arange(-32768, 32768, dtype=np.int64)
    xs = x >> 4
    for ed in range(1, MAX_DIM + 1):
        ms = np.maximum(1, xs * xs // ed)
        r = np.maximum(1, np.floor(np.sqrt(ms.astype(np.float64))).astype(np.int64))
        r -= r * r > ms                              # exact floor square root
        r += (r + 1) * (r + 1) <= ms
        u = (x * np.minimum(INV_MAX, RMS_ONE // r)) >> 15
        assert int(np.abs(u).max()) + 128 < 2048, ed
        if ed <= DOUBLE_MAX_DIM:
            assert int(np.abs(u).max()) + 256 < 2048, ed
        if ed == MAX_DIM:
            assert [isqrt(int(m)) for m in ms[::997]] == list(r[::997])
