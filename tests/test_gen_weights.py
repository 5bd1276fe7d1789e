"""gen/weights.py: the matmul data layout asm/matmul.s reads, and its checks."""
import numpy as np
import pytest

from soulplayer.errors import SoulError
from soulplayer.gen import weights


def test_matmul_layout_bias_and_none():
    w = np.array([[1, -2], [127, -128], [0, 5]])
    text = "\n".join(weights._matmul_lines("m", w, np.array([-1, 300, 0])))
    assert "m_bias:" in text and ".word   m_w, m_e, m_bias\n" in text and ".word   1920, 3841" in text
    # column-major, biased: column 0 = 1, 127, 0 -> $81, $ff, $80
    assert "$81,$ff,$80,$7e,$00,$85" in text
    # bias lo bytes, then hi bytes
    assert "$ff,$2c,$00" in text and "$ff,$01,$00" in text
    text = "\n".join(weights._matmul_lines("n", w))
    assert "n_bias" not in text and ".word   n_w, n_e, 0\n" in text


def test_row_constants_and_fast_limit():
    rng = np.random.default_rng(3)
    w = rng.integers(-128, 128, (40, 64))
    b = rng.integers(-32768, 32768, 40)
    e = weights.row_constants(w, b)
    # E_r = 2 b_r - sum w^2 as a residue modulo 2^24 - 1
    assert ((e - (2 * b - (w * w).sum(axis=1))) % weights.MM_MOD == 0).all()
    assert e.min() >= 0 and e.max() < weights.MM_MOD
    xmax = weights.fast_xmax(w, b)
    # the largest limit whose worst row stays below 2^22 (the modular sum is exact)
    assert weights.fast_bound(w, b, xmax) < weights.MM_SUM_LIMIT <= weights.fast_bound(w, b, xmax + 1)
    assert weights.fast_xmax(np.zeros((2, 2), np.int64), np.zeros(2, np.int64)) == weights.MM_TABLE_XMAX


def test_q_limit_keeps_the_sums_exact():
    # the q-blocks (asm/matmul.s) take a column x = 256 q + r (|x| <= 256 |q| +
    # 128) when |q| <= qmax: every row must stay below 2^22 for inputs that
    # large, and qmax is the largest such up to a cap that keeps the q-block's
    # 16-bit value q^2 + 2 q w + 2^15 within 0..65535
    rng = np.random.default_rng(4)
    for lim, cols in ((127, 32), (10, 32), (1, 64)):
        w = rng.integers(-lim, lim + 1, (64, cols))
        b = rng.integers(-2000, 2001, 64)
        q = weights.q_limit(w, b)
        assert weights.fast_bound(w, b, 256 * q + 128) < weights.MM_SUM_LIMIT
        assert q == weights.MM_QBLOCK_QMAX or weights.fast_bound(w, b, 256 * (q + 1) + 128) >= weights.MM_SUM_LIMIT
    qm, wv = weights.MM_QBLOCK_QMAX, np.arange(-128, 128)
    for qq in (qm, -qm):
        d = qq * qq + 2 * qq * wv + (1 << 15)
        assert d.min() >= 0 and d.max() < 1 << 16
    text = "\n".join(weights._matmul_lines("m", np.array([[1, -2], [3, 0]])))
    assert ".byte   90, 181" in text      # qmax, 2 qmax + 1 after the index pages


def test_matmul_fallback_bound_is_checked():
    # 255 columns of -128 with a full bias: even inputs within +-128 can reach 2^22
    with pytest.raises(SoulError, match="reach 2\\^22"):
        weights._matmul_lines("m", np.full((2, 255), -128), np.array([32767, 0]))


def test_matmul_bias_must_be_int16():
    with pytest.raises(SoulError, match="bias outside int16"):
        weights._matmul_lines("m", np.ones((2, 2), np.int64), np.array([40000, 0]))


def test_attention_kc_goes_under_io_only_where_it_fits_beside_the_row_constants():
    from soulplayer.config import ModelConfig
    # context 12: the row constants and Kc both fit under I/O beside the work arrays
    small = ModelConfig(context=12)
    assert weights.kc_bytes(small) == 4 * 2 * 4 * 12
    assert weights.e_segment(small) == "ENGBSS" and weights.kc_underio(small)
    assert weights.engbss_bytes(small) == (weights.engbss_work_bytes(small) + weights.e_bytes(small)
                                           + weights.kc_bytes(small)) <= weights.MM_ENGBSS_ROOM
    wide = ModelConfig(embed_dim=32, n_heads=1, head_dim=32)      # the general scores only: no Kc
    assert weights.kc_bytes(wide) == 0 and not weights.kc_underio(wide)
    # context 20 and 64: the row constants (3 bytes a row) fit under I/O, Kc beside them not
    assert not weights.kc_underio(ModelConfig()) and weights.e_segment(ModelConfig()) == "ENGBSS"
    big = ModelConfig(context=64)
    e = 3 * (2 * (5 * 32 + 64) + 128)       # rows: q|k|v, proj, fc1, fc2 per layer; out
    assert weights.e_segment(big) == "ENGBSS" and e <= weights.MM_ENGBSS_ROOM
    assert e + weights.kc_bytes(big) > weights.MM_ENGBSS_ROOM and not weights.kc_underio(big)


def test_weight_bias_and_two_byte_limit():
    # beta: the least bias keeping w + beta >= 0, at least 1 and 256 - xmax
    # (mm_fast's two-byte columns x = beta - 255 .. beta - 1 stay within xmax)
    pos = np.array([[0, 5], [127, 3]])                  # no negative weight
    neg = np.array([[-1, -5], [-20, -3]])               # no positive weight
    full = np.array([[127, -128]])
    assert weights.weight_bias(pos) == 1 and weights.two_byte_top(pos, 1, 1920) == 128
    assert weights.weight_bias(neg) == 20 and weights.two_byte_top(neg, 20, 1920) == 236
    assert weights.weight_bias(full) == 128 and weights.two_byte_top(full, 128, 1920) == 1
    # a limit below 256 raises beta and caps the two-byte columns at x <= xmax
    w = np.full((2, 200), 100)
    b = np.array([0, 0])
    xmax = weights.fast_xmax(w, b)
    assert 128 <= xmax < 256 and weights.weight_bias(w, b) == 256 - xmax
    assert weights.two_byte_top(w, 256 - xmax, xmax) == min(156 - (256 - xmax), 2 * xmax - 255)
    text = "\n".join(weights._matmul_lines("m", neg))
    assert "+20" in text and ".byte   2, 2\n" in text and ".byte   20, 236, 8, 250" in text
    with pytest.raises(SoulError, match="weight bias"):
        weights._matmul_lines("m", neg, beta=19)


def test_index_pages():
    # mm_fast's range pages: MM_P + h', h' = ((x - beta) >> 8) + 1; the pages
    # from h'(-xmax) + 1 up to below h'(xmax) hold only |x| <= xmax
    def h(x, beta):
        return ((x - beta) >> 8) + 1
    for xmax, beta in ((1920, 1), (1920, 128), (128, 128), (300, 100), (1643, 127), (255, 1)):
        hi, lo = weights.index_pages(xmax, beta)
        assert hi == h(xmax, beta) and lo == (h(-xmax, beta) + 1) & 0xFF
        for x in range(-2200, 2200):
            inside = h(-xmax, beta) + 1 <= h(x, beta) < hi
            assert not inside or abs(x) <= xmax


def test_the_limit_raises_beta_only_beyond_the_engine():
    # within the engine's column limit (spec.MAX_FF) xmax >= 255, and 255 only for
    # a row of -128s with |bias| = 32768, whose beta is 128 anyway: the 256 -
    # xmax term of weight_bias binds only for wider matrices (above: 200 columns)
    from soulplayer import spec
    w, b = np.full((1, spec.MAX_FF), -128), np.array([-32768])
    assert weights.fast_xmax(w, b) == 255 and weights.weight_bias(w, b) == 128
    w[0, 0] = -127
    assert weights.fast_xmax(w, b) >= 256
    assert weights.fast_xmax(np.full((1, spec.MAX_FF), 127), b) >= 256
