"""Shared test fixtures: the golden data lives in ../shared/golden/ (never copied here)."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT.parent / "shared" / "golden"
SOUL_CLI = Path(sys.executable).parent / "soul"


def run_soul(*args, stdin="", env=None):
    """The `soul` command as a user runs it (stdin not a terminal)."""
    return subprocess.run([str(SOUL_CLI), *map(str, args)], input=stdin, capture_output=True, text=True,
                          env=env)


def golden_path(*parts) -> Path:
    path = GOLDEN.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"golden data missing: {path} (the shared/ folder must sit beside the repo)")
    return path


@pytest.fixture(scope="session")
def original_soul_path():
    return golden_path("original", "soul.bin")


@pytest.fixture(scope="session")
def original_tokenizer_path():
    return golden_path("original", "tokenizer.json")


@pytest.fixture(scope="session")
def teacher_forced():
    return json.loads(golden_path("original", "teacher_forced.json").read_text())["cases"]


@pytest.fixture(scope="session")
def synthetic_cases():
    """[(soul path, [{ids, logits}])] for both synthetic souls."""
    data = json.loads(golden_path("synthetic", "cases.json").read_text())
    return [(golden_path("synthetic", s["soul"]), s["cases"]) for s in data]


def random_soul(config, seed: int, big: bool = False):
    """A random soul of any dims: int8 weights and int16 biases over their whole
    range with small shifts when big (saturation everywhere), else moderate."""
    import numpy as np
    from soulplayer.soulfile import KIND_INT16, Soul, Tensor, record_layout
    rng = np.random.default_rng(seed)
    tensors = {}
    for name, kind, rows, cols in record_layout(config):
        lim = (32767 if big else 3000) if kind == KIND_INT16 else (127 if big else 40)
        shift = int(rng.integers(1, 4)) if big else int(rng.integers(5, 8))
        tensors[name] = Tensor(rng.integers(-lim, lim + 1, (rows, cols)).astype(np.int64), shift, kind)
    return Soul(config, tensors)


def full_range_soul(config, seed: int):
    """A random soul whose int8/int16 values span their whole ranges (-128..127,
    -32768..32767), shifts 1..7: the reference and format tests' worst case."""
    import numpy as np
    from soulplayer.soulfile import Soul, Tensor, record_layout
    rng = np.random.default_rng(seed)
    tensors = {}
    for name, kind, rows, cols in record_layout(config):
        lim = 128 if kind == 0 else 32768
        tensors[name] = Tensor(rng.integers(-lim, lim, (rows, cols)), int(rng.integers(1, 8)), kind)
    return Soul(config, tensors)


def squares_image_inc():
    """squares_image.inc for tests/asm/squares_tables.s: the matmul's squares
    tables (sizes read from asm/matmul.s), computed here independently, for
    the kernel drivers that read them without linking the matmul."""
    src = (ROOT / "asm" / "matmul.s").read_text()
    size = {k: int(re.search(rf"^{k}\s*=\s*(\d+)", src, re.M).group(1))
            for k in ("MM_SQ_LEN", "MM_SQ_ZERO", "MM_SQ0_PERIOD")}
    n_len, zero = size["MM_SQ_LEN"], size["MM_SQ_ZERO"]
    sq0_len = size["MM_SQ0_PERIOD"] + 256
    pad = -(-sq0_len // 256) * 256
    sq = [(i - zero) ** 2 for i in range(n_len)]
    image = ([(v >> 8) & 255 for v in sq] + [(v >> 16) & 255 for v in sq]
             + [(j * j) & 255 for j in range(sq0_len)] + [0] * (pad - sq0_len))
    rows = ["        .byte " + ",".join(f"${v:02x}" for v in image[i:i + 32])
            for i in range(0, len(image), 32)]
    return "\n".join([f"SQ_LEN = {n_len}", f"SQ_ZERO = {zero}", f"SQ0_PAD = {pad}",
                      '.segment "RODATA"', "sq_image:"] + rows + [""])
