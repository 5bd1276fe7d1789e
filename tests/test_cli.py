"""The `soul` command as a user runs it: scripted chat, logits JSON, one-line errors."""
import json
import subprocess
import sys
from pathlib import Path

from soulplayer.chat import choose_next, fit_input, prompt_ids, reply_text
from soulplayer.config import END, PAD, SEP, UNK, ModelConfig
from soulplayer.soulfile import load_soul
from soulplayer.tokenizer import Tokenizer

SOUL_CLI = Path(sys.executable).parent / "soul"


def soul(*args, stdin=""):
    return subprocess.run([str(SOUL_CLI), *map(str, args)], input=stdin, capture_output=True, text=True)


def test_scripted_chat_one_reply_per_line(original_soul_path, original_tokenizer_path):
    prompts = ["hello", "How are you?", "", "123", "q is not quit", "tell me about the c64 ~~~", " q"]
    run = soul("chat", "--soul", original_soul_path, "--tokenizer", original_tokenizer_path,
               stdin="\n".join(prompts + ["Q1", "never read"]) + "\n")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.split("\n")
    assert lines[-1] == "" and len(lines) == len(prompts) + 1  # `q` alone stopped it
    s, tok = load_soul(original_soul_path), Tokenizer.load(original_tokenizer_path)
    fitted = [fit_input(p, tok, s.config) for p in prompts]
    assert lines[:-1] == [reply_text(s, tok, f) if f else "" for f in fitted]
    assert lines[0] == "hello! you're wonderful!"
    assert lines[2] == lines[3] == "" and lines[-2] != ""   # nothing typed: no reply; " q" is a prompt


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
