"""Integer reference == the original release's golden logits; KV cache == full recompute."""
import numpy as np
import pytest

from soulplayer.config import ModelConfig
from soulplayer.numerics import EXP, Decoder, attention_head, forward, isqrt, matmul, rmsnorm
from soulplayer.soulfile import Tensor, load_soul
from soulplayer.tokenizer import Tokenizer

from conftest import full_range_soul

SPEC_EXP_HEAD = [255, 240, 225, 211, 199, 187, 175, 165, 155, 145, 136, 128, 120, 113, 106, 100,
                 94, 88, 83, 78, 73, 69, 64, 61, 57, 53, 50, 47, 44, 42, 39, 37,
                 35, 32, 30, 29, 27, 25, 24, 22, 21, 20, 18, 17, 16, 15, 14, 14,
                 13, 12, 11, 11, 10, 9, 9, 8, 8, 7, 7, 6, 6, 6, 5, 5,
                 5, 4, 4, 4, 4, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2]


def test_exp_table_matches_spec():
    assert list(EXP[:83]) == SPEC_EXP_HEAD
    assert list(EXP[83:127]) == [1] * 44 and EXP[127] == 0 and len(EXP) == 128


def test_teacher_forced_golden(original_soul_path, original_tokenizer_path, teacher_forced):
    soul, tok = load_soul(original_soul_path), Tokenizer.load(original_tokenizer_path)
    assert len(teacher_forced) == 24
    for case in teacher_forced:
        assert [1] + tok.encode(case["prompt"]) + [1] == case["prompt_ids"], case["prompt"]
        seq = case["prompt_ids"] + case["forced_ids"]
        full = forward(soul, seq)
        decoder = Decoder(soul)
        cached = [decoder.step(t) for t in seq]
        for k, want in enumerate(case["logits"]):
            n = len(case["prompt_ids"]) + k
            assert full[n - 1].tolist() == want, (case["prompt"], k)
            assert cached[n - 1].tolist() == want, (case["prompt"], k)


def test_synthetic_golden_every_prefix(synthetic_cases):
    for path, cases in synthetic_cases:
        soul = load_soul(path)
        for case in cases:
            full = forward(soul, case["ids"])
            decoder = Decoder(soul)
            for n, want in enumerate(case["logits"]):
                assert decoder.step(case["ids"][n]).tolist() == want, (path.name, n)
                assert full[n].tolist() == want, (path.name, n)


def test_synthetic_saturates(synthetic_cases):
    """_1 must really exercise the clamps, or the test above proves less than it claims."""
    path, cases = synthetic_cases[1]
    logits = np.array([row for c in cases for row in c["logits"]])
    assert (logits == 32767).any() and (logits == -32768).any()


@pytest.mark.parametrize("config", [
    ModelConfig(),
    ModelConfig(vocab_size=64, embed_dim=16, n_heads=2, head_dim=8, ff_dim=32, n_layers=1, context=12),
    ModelConfig(vocab_size=96, embed_dim=24, n_heads=3, head_dim=8, ff_dim=48, n_layers=3, context=8),
])
def test_kv_cache_equals_full_recompute(config):
    soul = full_range_soul(config, seed=config.embed_dim)
    ids = list(np.random.default_rng(1).integers(0, config.vocab_size, config.context))
    full = forward(soul, ids)
    decoder = Decoder(soul)
    for t, token in enumerate(ids):
        assert np.array_equal(decoder.step(int(token)), full[t])


def test_isqrt_exact_over_whole_range():
    for n in list(range(0, 70000)) + [2**22 - 1, 2**22, 2**22 + 1, 2**28 - 1]:
        r = isqrt(n)
        assert r * r <= n < (r + 1) ** 2


def test_rmsnorm_big_values_not_capped():
    """ms >= 65536 must use the true square root (the original returned 255)."""
    x = np.full(32, 32767)
    g = np.full(32, 64)
    ms = ((32767 >> 4) ** 2 * 32) // 32
    assert ms >= 65536
    r = isqrt(ms)
    inv = min(32767, 2**19 // r)
    expected = min(32767, ((32767 * inv) >> 15) * 64 >> 6)
    assert rmsnorm(x, g, 6).tolist() == [expected] * 32


def test_attention_floor_division_of_negative_sums():
    q = np.zeros(8, dtype=np.int64)
    keys = np.zeros((3, 8), dtype=np.int64)
    values = np.full((3, 8), -1)
    values[0] = 0
    # All scores 0 -> equal weights 255: sum = -510, W = 765, floor(-510/765) = -1 (not 0).
    assert attention_head(q, keys, values).tolist() == [-1] * 8


def test_huge_shifts_saturate_like_the_6502():
    """Shift counts past int64's width must still give the exact clamped result."""
    w = np.array([[1, -1, 0]])
    x = np.array([5, 0, 7])
    assert matmul(w, -200, x, post_shift=0).tolist() == [32767]
    assert matmul(-w, -200, x, post_shift=0).tolist() == [-32768]
    assert matmul(w, 200, x, post_shift=0).tolist() == [0]
    assert matmul(-w, 200, x, post_shift=0).tolist() == [-1]
    assert matmul(np.zeros((1, 3), dtype=int), -200, x, post_shift=0).tolist() == [0]


def test_embedding_terms_are_exact_before_saturation():
    """te << 20 plus pe << 21 must not cancel to 0 (exact sum saturates to -32768)."""
    from soulplayer.numerics import embed
    config = ModelConfig(vocab_size=4, embed_dim=8, n_heads=1, head_dim=8, ff_dim=8, n_layers=1, context=2)
    soul = full_range_soul(config, 0)
    soul.tensors["te"] = Tensor(np.ones((4, 8), dtype=np.int64), -12, 0)
    soul.tensors["pe"] = Tensor(-np.ones((2, 8), dtype=np.int64), -13, 0)
    assert embed(soul, 0, 0).tolist() == [-32768] * 8
