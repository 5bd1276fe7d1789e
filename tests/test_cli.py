"""The `soul` command as a user runs it: scripted chat, logits JSON, one-line errors."""
import json
from pathlib import Path

from conftest import run_soul as soul

from soulplayer.chat import choose_next, fit_input, prompt_ids, reply_text
from soulplayer.config import END, PAD, SEP, UNK, ModelConfig
from soulplayer.soulfile import load_soul
from soulplayer.tokenizer import Tokenizer

def test_scripted_chat_one_reply_per_line(original_soul_path, original_tokenizer_path):
    prompts = ["hello", "How are you?", "", "123", "q is not quit", "tell me about the c64 ~~~", "qq"]
    run = soul("chat", "--soul", original_soul_path, "--tokenizer", original_tokenizer_path,
               stdin="\n".join(prompts + ["  q  ", "never read"]) + "\n")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.split("\n")
    assert lines[-1] == "" and len(lines) == len(prompts) + 1  # a trimmed `q` stopped it
    s, tok = load_soul(original_soul_path), Tokenizer.load(original_tokenizer_path)
    fitted = [fit_input(p, tok, s.config) for p in prompts]
    assert lines[:-1] == [reply_text(s, tok, f) if f else "" for f in fitted]
    assert lines[0] == "hello! you're wonderful!"
    assert lines[2] == lines[3] == "" and lines[-2] != ""   # nothing typed: no reply; "qq" is a prompt
    # what the input rule changed beyond the case is said on stderr, by line number
    assert run.stderr == 'soul chat: line 6: (heard: "tell me about the")\n'


def test_logits_json_matches_golden(original_soul_path, original_tokenizer_path, teacher_forced):
    case = teacher_forced[0]
    run = soul("logits", "--soul", original_soul_path, "--tokenizer", original_tokenizer_path,
               "--text", case["prompt"])
    out = json.loads(run.stdout)
    assert out["ids"] == case["prompt_ids"] and out["logits"] == [case["logits"][0]]
    seq = case["prompt_ids"] + case["forced_ids"][:3]
    run = soul("logits", "--soul", original_soul_path, "--ids", ",".join(map(str, seq)), "--all-positions")
    out = json.loads(run.stdout)
    assert len(out["logits"]) == len(seq) and out["logits"][-1] == case["logits"][3]


def test_errors_are_one_line(original_soul_path, tmp_path):
    bad = tmp_path / "short.bin"
    bad.write_bytes(original_soul_path.read_bytes()[:50])
    for args in (["chat", "--soul", bad], ["logits", "--soul", original_soul_path, "--ids", "1,x"],
                 ["logits", "--soul", original_soul_path, "--ids", "1,128"],
                 ["logits", "--soul", original_soul_path, "--ids", ",".join(["1"] * 21)]):
        run = soul(*args)
        assert run.returncode == 1 and "Traceback" not in run.stderr
        assert run.stderr.startswith("soul: error: ") and run.stderr.count("\n") == 1, run.stderr


def test_greedy_never_picks_pad_or_unk_and_can_stop():
    logits = [0] * 128
    logits[PAD] = logits[UNK] = 900
    logits[SEP] = 500
    logits[END] = 500
    assert choose_next(logits) == SEP  # first maximum wins, and SEP is choosable
    logits[70] = 501
    assert choose_next(logits) == 70


def test_long_input_is_fitted(original_tokenizer_path):
    tok, config = Tokenizer.load(original_tokenizer_path), ModelConfig()
    text = "this is a very long line that goes on and on about everything under the sun"
    fitted = fit_input(text, tok, config)
    assert text.startswith(fitted) and len(fitted) <= config.max_input_chars
    assert len(tok.encode(fitted)) <= config.max_input_tokens
    ids = prompt_ids(text, tok, config)
    assert len(ids) <= config.context - config.min_reply_tokens
    assert fit_input("Hi THERE #1", tok, config) == "hi there "


def test_sampling_options(original_soul_path, original_tokenizer_path):
    from soulplayer.sampling import Sampler
    args = ["chat", "--soul", original_soul_path, "--tokenizer", original_tokenizer_path]
    for bad in (["--temperature", "nan"], ["--temperature", "inf"], ["--temperature", "0.25"],
                ["--seed", "100000"], ["--seed", "-5"]):
        run = soul(*args, *bad, stdin="hello\n")
        assert run.returncode == 1 and run.stderr.startswith("soul: error: --") and "Traceback" not in run.stderr
    # five-digit seeds are taken mod 65536, as the C64 keeps a 16-bit state
    s, tok = load_soul(original_soul_path), Tokenizer.load(original_tokenizer_path)
    run = soul(*args, "--temperature", "1.5", "--seed", "70000", stdin="hello\nhow are you\n")
    sampler = Sampler(1.5, 70000 - 65536)
    assert run.stdout.splitlines() == [reply_text(s, tok, t, sampler.choose) for t in ("hello", "how are you")]


def _pair_dir(tmp_path, soul_path, tokenizer_path, fingerprint_of=None):
    """A run folder: soul.bin (with the fingerprint of `fingerprint_of`) + tokenizer.json."""
    from soulplayer.soulfile import save_soul
    folder = tmp_path / "run"
    folder.mkdir()
    s = load_soul(soul_path)
    if fingerprint_of is not None:
        s.fingerprint = Tokenizer.load(fingerprint_of).fingerprint()
    save_soul(s, folder / "soul.bin")
    (folder / "tokenizer.json").write_bytes(Path(tokenizer_path).read_bytes())
    return folder


def test_tokenizer_defaults_to_the_one_beside_the_soul(original_soul_path, original_tokenizer_path, tmp_path):
    from click.testing import CliRunner
    from soulplayer.cli import main
    run_dir = _pair_dir(tmp_path, original_soul_path, original_tokenizer_path, original_tokenizer_path)
    result = CliRunner().invoke(main, ["chat", "--soul", str(run_dir / "soul.bin")], input="hello\n")
    assert result.exit_code == 0 and result.output == "hello! you're wonderful!\n"
    (run_dir / "tokenizer.json").unlink()
    result = CliRunner().invoke(main, ["chat", "--soul", str(run_dir / "soul.bin")], input="hello\n")
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "no tokenizer.json beside it" in result.output


def test_a_soul_with_another_tokenizer_is_one_line_everywhere(original_soul_path, original_tokenizer_path,
                                                             tmp_path):
    """The soul was trained with the golden tokenizer; models/tokenizer.json sits beside it."""
    from click.testing import CliRunner
    from soulplayer.cli import main
    from soulplayer.paths import DEFAULT_TOKENIZER
    run_dir = _pair_dir(tmp_path, original_soul_path, DEFAULT_TOKENIZER, original_tokenizer_path)
    s = str(run_dir / "soul.bin")
    for args in (["chat", "--soul", s], ["logits", "--soul", s, "--text", "hi"],
                 ["build", "--soul", s, "--out", str(tmp_path / "b")],
                 ["bench", "--soul", s, "--out", str(tmp_path / "b" / "bench.json")],
                 ["chat", "--soul", s, "--engine", "vice"]):
        result = CliRunner().invoke(main, args, input="hello\n")
        assert result.exit_code == 1 and result.output.count("\n") == 1, (args, result.output)
        assert "is not the tokenizer" in result.output or "tokens but" in result.output, result.output
    assert not (tmp_path / "b").exists()                  # refused before building anything
    result = CliRunner().invoke(main, ["chat", "--soul", s, "--tokenizer", str(original_tokenizer_path)],
                                input="hello\n")
    assert result.exit_code == 0 and result.output == "hello! you're wonderful!\n"
