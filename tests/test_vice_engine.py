"""The 6502 forward step in VICE == the integer reference, through the KV cache.

Every case is a whole sequence fed token by token (engine_reset, engine_step
or engine_prefill per id); the logits after the marked steps are compared, all
of them.
Cases are batched: a few VICE sessions per soul (tools/engine_vice.py).
"""
import numpy as np
import pytest

from soulplayer import numerics
from soulplayer.config import ModelConfig
from soulplayer.soulfile import KIND_INT8, Tensor, load_soul
from soulplayer.tools import engine_vice

from conftest import random_soul


@pytest.fixture(scope="module")
def build_root(tmp_path_factory):
    return tmp_path_factory.mktemp("engine")


def test_original_teacher_forced(original_soul_path, teacher_forced, build_root):
    """Every golden case, the prompt tokens before the last one through
    engine_prefill (no logits, as the C64 program feeds them): the logits
    from there on are the golden ones."""
    soul = load_soul(original_soul_path)
    eb = engine_vice.build_engine(soul, build_root / "original")
    cases = []
    for c in teacher_forced:
        ids = list(c["prompt_ids"]) + list(c["forced_ids"])
        first = len(c["prompt_ids"]) - 1
        emit = [True if i >= first else engine_vice.PREFILL for i in range(len(ids))]
        assert sum(e is True for e in emit) == len(c["logits"])
        cases.append((ids, emit))
    got = engine_vice.run_cases(eb, cases)
    for c, g in zip(teacher_forced, got):
        for k, (want, have) in enumerate(zip(c["logits"], g)):
            assert have == want, f"prompt {c['prompt']!r}, step {k}: first diff at id " \
                                 f"{next(i for i, (a, b) in enumerate(zip(want, have)) if a != b)}"


def test_synthetic_every_prefix(synthetic_cases, build_root):
    for path, cases in synthetic_cases:
        soul = load_soul(path)
        eb = engine_vice.build_engine(soul, build_root / path.stem)
        got = engine_vice.run_cases(eb, [(c["ids"], [True] * len(c["ids"])) for c in cases])
        for c, g in zip(cases, got):
            assert g == c["logits"], f"{path.name} ids {c['ids']}"


SMALL = ModelConfig(vocab_size=64, embed_dim=16, n_heads=2, head_dim=8, ff_dim=32, n_layers=1, context=12)


@pytest.mark.parametrize("big", [False, True])
def test_non_default_config(big, build_root):
    soul = random_soul(SMALL, seed=7 + big, big=big)
    eb = engine_vice.build_engine(soul, build_root / f"small{int(big)}")
    rng = np.random.default_rng(3)
    seqs = [rng.integers(0, SMALL.vocab_size, SMALL.context).tolist() for _ in range(4)]
    seqs.append([1])
    got = engine_vice.run_cases(eb, [(s, [True] * len(s)) for s in seqs])
    for s, g in zip(seqs, got):
        want = numerics.forward(soul, s).tolist()
        assert g == want, f"ids {s}"


def test_cases_larger_than_the_buffer_are_split(build_root, monkeypatch):
    """A case wanting more logits vectors than fit in RAM is run in pieces."""
    soul = random_soul(SMALL, seed=11)
    eb = engine_vice.build_engine(soul, build_root / "split")
    vector = 2 * SMALL.vocab_size
    monkeypatch.setattr(engine_vice, "MEM_END", eb.art.labels["drv_out"] + 3 * vector + vector // 2)
    seqs = [np.random.default_rng(n).integers(0, SMALL.vocab_size, SMALL.context).tolist() for n in range(2)]
    emit = [[True] * SMALL.context, [i % 2 == 0 for i in range(SMALL.context)]]
    got = engine_vice.run_cases(eb, list(zip(seqs, emit)))
    for s, e, g in zip(seqs, emit, got):
        want = [row for row, keep in zip(numerics.forward(soul, s).tolist(), e) if keep]
        assert g == want


def test_soul_logits_engine_vice_equals_ref(original_soul_path, original_tokenizer_path, tmp_path):
    """`soul logits --engine vice` prints the reference's JSON, every position."""
    import json
    from conftest import run_soul as soul
    args = ["logits", "--soul", original_soul_path, "--tokenizer", original_tokenizer_path,
            "--text", "how are you?", "--all-positions"]
    ref = soul(*args, "--engine", "ref")
    vice = soul(*args, "--engine", "vice")
    assert vice.returncode == 0, vice.stderr
    assert json.loads(vice.stdout) == json.loads(ref.stdout)
    assert len(json.loads(ref.stdout)["logits"]) > 3


@pytest.mark.parametrize("tie", [True, False])
def test_tied_and_untied_embeddings(tie, build_root):
    """te is read from the output layer's layout: a tied soul (te's int8 values
    equal out's, here with another shift) keeps one copy (w_te is out_w), an
    untied one its own; both give the reference's logits at every position."""
    soul = random_soul(SMALL, seed=21 + tie)
    te = soul.tensors["te"]
    if tie:
        soul.tensors["out"] = Tensor(te.values.copy(), te.shift + 1, KIND_INT8)
    eb = engine_vice.build_engine(soul, build_root / f"tied{int(tie)}")
    labels = eb.art.labels
    assert (labels["w_te"] == labels["out_w"]) is tie
    rng = np.random.default_rng(5)
    seqs = [rng.integers(0, SMALL.vocab_size, SMALL.context).tolist() for _ in range(2)]
    seqs.append(list(range(SMALL.vocab_size - SMALL.context, SMALL.vocab_size)))   # the last ids
    got = engine_vice.run_cases(eb, [(s, [True] * len(s)) for s in seqs])
    for s, g in zip(seqs, got):
        assert g == numerics.forward(soul, s).tolist(), f"ids {s}"
