"""gen/weights.py: the matmul data layout asm/matmul.s reads, and its checks."""
import numpy as np
import pytest

from soulplayer.errors import SoulError
from soulplayer.gen import weights


def test_matmul_layout_bias_and_none():
    w = np.array([[1, -2], [127, -128], [0, 5]])
    text = "\n".join(weights._matmul_lines("m", w, np.array([-1, 300, 0])))
    assert "m_bias:" in text and ".word   m_w, m_bias" in text
    # column-major, biased: column 0 = 1, 127, 0 -> $81, $ff, $80
    assert "$81,$ff,$80,$7e,$00,$85" in text
    # bias lo bytes, then hi bytes
    assert "$ff,$2c,$00" in text and "$ff,$01,$00" in text
    text = "\n".join(weights._matmul_lines("n", w))
    assert "n_bias" not in text and ".word   n_w, 0" in text


def test_matmul_bias_must_be_int16():
    with pytest.raises(SoulError, match="bias outside int16"):
        weights._matmul_lines("m", np.ones((2, 2), np.int64), np.array([40000, 0]))
