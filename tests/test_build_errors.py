"""`soul build` on souls the C64 cannot hold: one line that says why, no traceback."""
from soulplayer.config import ModelConfig
from soulplayer.soulfile import save_soul
from conftest import full_range_soul
from conftest import run_soul as soul


def _build(tmp_path, config, tokenizer):
    save_soul(full_range_soul(config, 1), tmp_path / "big.bin")
    return soul("build", "--soul", tmp_path / "big.bin", "--tokenizer", tokenizer, "--out", tmp_path / "out")


def test_too_wide_for_the_engine(tmp_path, original_tokenizer_path):
    run = _build(tmp_path, ModelConfig(embed_dim=48, n_heads=6, ff_dim=96), original_tokenizer_path)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr == ("soul: error: this soul does not fit the 6502 engine: "
                          "embed_dim 48 over 42 (q|k|v vectors are indexed by Y = 2*i)\n")


def test_too_big_for_memory_says_how_much(tmp_path, original_tokenizer_path):
    run = _build(tmp_path, ModelConfig(embed_dim=40, n_heads=5, ff_dim=120), original_tokenizer_path)
    assert run.returncode == 1 and run.stderr.count("\n") == 1
    assert run.stderr.startswith("soul: error: the program does not fit the C64 memory map: segment ")
    assert "bytes over memory area MAIN ($0801-$CFFF, the load image" in run.stderr


def test_embedding_shift_the_engine_cannot_sum(tmp_path, original_soul_path, original_tokenizer_path):
    from soulplayer.soulfile import load_soul
    s = load_soul(original_soul_path)
    s.tensors["pe"].shift = -16
    save_soul(s, tmp_path / "s.bin")
    run = soul("build", "--soul", tmp_path / "s.bin", "--tokenizer", original_tokenizer_path,
               "--out", tmp_path / "out")
    assert run.returncode == 1
    assert run.stderr == "soul: error: this soul does not fit the 6502 engine: pe shift -16 below -15\n"


def test_gain_shift_outside_what_the_engine_takes(tmp_path, original_soul_path, original_tokenizer_path):
    from soulplayer.soulfile import load_soul
    from soulplayer.spec import GAIN_MAX_SHIFT
    s = load_soul(original_soul_path)
    s.tensors["l1.n2"].shift = GAIN_MAX_SHIFT + 1
    save_soul(s, tmp_path / "s.bin")
    run = soul("build", "--soul", tmp_path / "s.bin", "--tokenizer", original_tokenizer_path,
               "--out", tmp_path / "out")
    assert run.returncode == 1
    assert run.stderr == (f"soul: error: this soul does not fit the 6502 engine: "
                          f"l1.n2 shift {GAIN_MAX_SHIFT + 1} over {GAIN_MAX_SHIFT}\n")
