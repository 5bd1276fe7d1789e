"""The 6502 engine at the limits soulplayer.spec states == the integer reference.

Memory does not hold a soul with every dimension at its maximum at once, so
each maximum is tested where it binds, with the other dimensions small (one
VICE session per soul, all logits of every position compared):
- MAX_VOCAB, MAX_EMBED and MAX_HEADS (heads of one dimension);
- MAX_FF (fc2 with its folded ReLU past Y = 127), MAX_LAYERS and MAX_CONTEXT;
- MAX_HEAD_DIM (one head of 32) at context 48.
"""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from conftest import random_soul
from soulplayer import numerics, spec
from soulplayer.config import ModelConfig
from soulplayer.errors import SoulError
from soulplayer.gen import weights as gen_weights
from soulplayer.tools import engine_vice

LIMIT_SOULS = {
    "vocab-embed-heads": ModelConfig(vocab_size=spec.MAX_VOCAB, embed_dim=spec.MAX_EMBED, n_heads=spec.MAX_HEADS,
                                     head_dim=spec.MAX_EMBED // spec.MAX_HEADS, ff_dim=8, n_layers=1, context=6),
    "ff-layers-context": ModelConfig(vocab_size=16, embed_dim=8, n_heads=1, head_dim=8, ff_dim=spec.MAX_FF,
                                     n_layers=spec.MAX_LAYERS, context=spec.MAX_CONTEXT),
    "head_dim-context48": ModelConfig(vocab_size=16, embed_dim=spec.MAX_HEAD_DIM, n_heads=1,
                                      head_dim=spec.MAX_HEAD_DIM, ff_dim=8, n_layers=1, context=48),
}


def _check(name, config, build_root):
    soul = random_soul(config, seed=len(name), big=name.startswith("ff"))
    eb = engine_vice.build_engine(soul, build_root / name)
    ids = np.random.default_rng(5).integers(0, config.vocab_size, config.context).tolist()
    got = engine_vice.run_cases(eb, [(ids, [True] * len(ids))])[0]
    want = numerics.forward(soul, ids).tolist()
    bad = next((t for t, (g, w) in enumerate(zip(got, want)) if g != w), None)
    return None if bad is None else f"{name}: position {bad} differs"


def test_engine_at_its_stated_limits(tmp_path):
    with ThreadPoolExecutor(max_workers=2) as pool:
        problems = list(pool.map(lambda kv: _check(*kv, tmp_path), LIMIT_SOULS.items()))
    assert problems == [None] * len(LIMIT_SOULS)


@pytest.mark.parametrize("field,value", [("vocab_size", spec.MAX_VOCAB + 1), ("ff_dim", spec.MAX_FF + 1),
                                         ("n_layers", spec.MAX_LAYERS + 1), ("context", spec.MAX_CONTEXT + 1)])
def test_one_over_a_limit_is_refused(field, value):
    config = ModelConfig(**{field: value})
    with pytest.raises(SoulError, match=f"{field} {value} over"):
        gen_weights.check_engine_limits(config)
