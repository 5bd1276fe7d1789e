"""Training: corpus errors, BPE determinism, the QAT model is the integer pass, tiny runs."""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from soulplayer import numerics  # noqa: E402
from soulplayer.cli import load_pair  # noqa: E402
from soulplayer.config import ModelConfig  # noqa: E402
from soulplayer.errors import SoulError  # noqa: E402
from soulplayer.soulfile import load_soul  # noqa: E402
from soulplayer.tokenizer import Tokenizer  # noqa: E402
from soulplayer.training.augment import Augmenter, swap_word  # noqa: E402
from soulplayer.training.bpe import train_tokenizer  # noqa: E402
from soulplayer.training.corpus import DEFAULT_CORPUS, parse_corpus, read_corpus  # noqa: E402
from soulplayer.training.export import from_soul, to_soul  # noqa: E402
from soulplayer.training.plot import loss_ypos, render  # noqa: E402
from soulplayer.training.score import decode_report, int8_score  # noqa: E402
from soulplayer.training.trainer import TrainConfig, Trainer, prepare  # noqa: E402

TINY = ModelConfig(vocab_size=64, embed_dim=16, n_heads=2, head_dim=8, ff_dim=32, n_layers=1, context=20)
TINY_CORPUS = """\
<SEP>hi<SEP>hello!<SEP>
<SEP>hello<SEP>hello!<SEP>
<SEP>bye<SEP>see you!<SEP>
<SEP>thanks<SEP>you are welcome.<SEP>
<SEP>how are you<SEP>i am fine.<SEP>
<SEP>i am sad<SEP>i am here.<SEP>
"""


def tiny_trainer(tmp_path, name="run", epochs=12, **kw):
    corpus = parse_corpus(TINY_CORPUS, "tiny.txt", TINY)
    tc = TrainConfig(epochs=epochs, batch_size=3, lr=2e-2, eval_every=4, warmup_epochs=1, **kw)
    return Trainer(corpus, tmp_path / name, tc, TINY, log=lambda *a: None, progress=False)


# --- corpus -------------------------------------------------------------------

def test_every_corpus_error_is_reported_with_its_line():
    text = "\n".join([
        "<SEP>hi<SEP>hello!<SEP>",             # 1 ok
        "hi<SEP>hello<SEP>",                   # 2 missing separators
        "<SEP>hi there<SEP>hello<SEP>more<SEP>",  # 3 too many separators
        "<SEP><SEP>hello<SEP>",                # 4 empty input
        "<SEP>yo<SEP> <SEP>",                  # 5 empty response
        "<SEP>caf\u00e9<SEP>ok<SEP>",          # 6 outside the alphabet
        "<SEP>hey<SEP>12 monkeys<SEP>",        # 7 outside the alphabet (reply)
        "# a comment",                         # 8 ignored
        "",                                    # 9 ignored
        "<SEP>hi<SEP>hello!<SEP>",             # 10 duplicate
        "<SEP>hi<SEP>go away<SEP>",            # 11 conflicting
        "<SEP>" + "a" * 40 + "<SEP>ok<SEP>",   # 12 input too long for a typed line
        "<SEP>abcdefg<SEP>" + "zyxwvutsrqponm" + "<SEP>",  # 13 too many tokens
    ])
    corpus = parse_corpus(text, "c.txt")
    tok, examples = prepare(corpus, ModelConfig())
    reasons = {p.line: p.reason for p in corpus.problems}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7, 10, 11, 12, 13]
    assert "missing separators" in reasons[2] and "missing separators" in reasons[3]
    assert reasons[4] == "empty input" and reasons[5] == "empty response"
    assert "outside the alphabet" in reasons[6] and "'é'" in reasons[6]
    assert "outside the alphabet in the response" in reasons[7]
    assert "duplicate of line 1" in reasons[10] and "line 1" in reasons[11]
    assert "too long" in reasons[12] and "too long for the context" in reasons[13]
    assert [e.exchange.line for e in examples] == [1]
    assert "1 exchanges kept, 10 lines skipped" in corpus.summary()


def test_nothing_usable_is_an_error(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("hello\n<SEP><SEP><SEP>\n")
    with pytest.raises(SoulError, match="bad.txt: no usable exchange"):
        read_corpus(path)
    with pytest.raises(SoulError, match="cannot read"):
        read_corpus(tmp_path / "missing.txt")


def test_default_corpus_fits():
    corpus = read_corpus(DEFAULT_CORPUS)
    tok, examples = prepare(corpus, ModelConfig(context=48))  # written for the 48-token context
    assert corpus.problems == [] and len(examples) >= 900
    assert all(len(e.ids) <= 48 for e in examples)


# --- tokenizer ----------------------------------------------------------------

def test_tokenizer_training_is_deterministic():
    texts = [line for line in DEFAULT_CORPUS.read_text().splitlines() if not line.startswith("#")]
    a = train_tokenizer(texts)
    b = train_tokenizer(list(reversed(texts)))
    assert a.merges == b.merges and a.vocab == b.vocab
    assert a.vocab_size == 128 and len(a.merges) == 89
    assert all(" " not in x + y for x, y in a.merges)
    again = Tokenizer.from_dict(json.loads(a.to_json()))
    assert again.encode("hello, how are you?") == a.encode("hello, how are you?")


def test_tokenizer_stops_when_no_pair_repeats():
    tok = train_tokenizer(["ab"])
    assert tok.merges == [] and tok.vocab_size == 39


# --- copy augmentation -----------------------------------------------------------

def test_swap_word_replaces_whole_words_on_both_sides():
    assert swap_word("i like cats, cats!", "cats", "owls") == "i like owls, owls!"
    assert swap_word("scats cat's cat", "cat", "dog") == "scats cat's dog"


def test_copy_augmentation_swaps_a_shared_word_the_same_way_in_prompt_and_reply():
    corpus = parse_corpus(TINY_CORPUS + "<SEP>i like cats<SEP>cats are great!<SEP>\n", "tiny.txt", TINY)
    tok, examples = prepare(corpus, TINY)
    aug = Augmenter(examples, tok, TINY, rate=1.0, random_words=0.5)
    assert all(aug.encode(t) == tok.encode(t) for e in examples for t in (e.exchange.input, e.exchange.reply))
    assert aug.active and [bool(s) for s in aug.shared] == [False, True, False, False, False, True, True]
    runs = [aug.epoch(examples, torch.Generator().manual_seed(3)) for _ in range(2)]
    assert [(e.prompt, e.reply) for e in runs[0]] == [(e.prompt, e.reply) for e in runs[1]]  # deterministic
    changed = 0
    for shared, before, after in zip(aug.shared, examples, runs[0]):
        if not shared:
            assert after is before
        elif after is not before:
            changed += 1
            prompt, reply = tok.decode(after.prompt[1:-1]), tok.decode(after.reply[:-1])
            new = (set(prompt.split()) - set(before.exchange.input.split())).pop()
            assert new in reply.split() or new + "!" in reply.split() or new + "." in reply.split()
            assert len(after.prompt) + len(after.reply) <= TINY.context
    assert changed
    off = Augmenter(examples, tok, TINY, rate=0.0)
    assert not off.active


def test_training_png_draws_the_loss_on_a_log_scale():
    losses = [27.0, 9.0, 3.0, 1.0]                  # a first epoch ~30x the last no longer flattens the rest
    ypos, ticks = loss_ypos(losses, 300, 40)
    steps = [ypos(a) - ypos(b) for a, b in zip(losses, losses[1:])]
    assert max(steps) - min(steps) < 1e-9 and 40 <= ypos(27.0) < ypos(1.0) <= 300
    assert ticks == [1.0, 2.0, 5.0, 10.0, 20.0]
    assert render(losses, [{"epoch": 4, "exact": 1.0}]).shape == render([], []).shape


# --- the QAT model is the integer pass ------------------------------------------

def test_qat_forward_is_bit_exact_with_the_reference(original_soul_path, teacher_forced):
    soul = load_soul(original_soul_path)
    model = from_soul(soul)
    case = teacher_forced[3]
    ids = (case["prompt_ids"] + case["forced_ids"])[:20]
    with torch.no_grad():
        got = model(torch.tensor([ids]), quant=True)[0].numpy().astype(np.int64)
    assert np.array_equal(got, numerics.forward(soul, ids))


def test_export_matches_training_forward():
    torch.manual_seed(1)
    from soulplayer.training.model import QATModel
    model = QATModel(TINY)
    soul = to_soul(model)
    ids = [1, 5, 9, 40, 1, 7, 3]
    with torch.no_grad():
        got = model(torch.tensor([ids]), quant=True)[0].numpy().astype(np.int64)
    assert np.array_equal(got, numerics.forward(soul, ids))


# --- training runs --------------------------------------------------------------

def test_tiny_corpus_trains_to_a_loadable_soul_with_the_reported_score(tmp_path):
    tr = tiny_trainer(tmp_path, epochs=48)
    assert tr.run()
    out = tmp_path / "run"
    soul, tok = load_pair(out / "soul.bin", out / "tokenizer.json")  # as chat/disk load them
    assert soul.config == TINY and tok.vocab_size <= TINY.vocab_size
    assert (out / "training.png").read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in (out / "checkpoints").iterdir())[:2] == ["epoch_0004.pt", "epoch_0008.pt"]
    reported = json.loads((out / "score.json").read_text())
    # the soul on disk, through the integer reference, gives what the trainer reported
    corpus = parse_corpus(TINY_CORPUS, "tiny.txt", TINY)
    tok2, examples = prepare(corpus, TINY)
    assert tok2.merges == tok.merges
    s = int8_score(soul, examples)
    assert [s.exact, s.token_acc] == tr.best["score"]
    again = decode_report(soul, examples)
    assert again["exact"] == reported["exact"] and again["ends_on_stop"] == reported["ends_on_stop"]
    assert reported["exact"] == 1.0 and reported["ends_on_stop"] == 1.0


def test_resume_after_interrupt_gives_the_same_soul(tmp_path):
    whole = tiny_trainer(tmp_path, "whole")
    assert whole.augmenter.active               # the copy augmentation draws from the saved RNG too
    assert whole.run()
    cut = tiny_trainer(tmp_path, "cut")
    assert not cut.run(stop_at_epoch=6)          # Ctrl-C in the middle of epoch 7
    resumed = tiny_trainer(tmp_path, "cut")
    assert resumed.run()
    assert (tmp_path / "cut" / "soul.bin").read_bytes() == (tmp_path / "whole" / "soul.bin").read_bytes()
    assert resumed.history == whole.history and resumed.losses == whole.losses


def test_resume_refuses_other_settings(tmp_path):
    first = tiny_trainer(tmp_path, epochs=4)
    assert not first.run(stop_at_epoch=2)
    other = tiny_trainer(tmp_path, epochs=4, seed=5)
    with pytest.raises(SoulError, match="seed=0"):
        other.run()


def test_retraining_a_run_on_another_corpus_is_refused_and_changes_nothing(tmp_path):
    assert tiny_trainer(tmp_path, epochs=4).run()
    out = tmp_path / "run"
    before = {n: (out / n).read_bytes() for n in ("soul.bin", "tokenizer.json")}
    corpus = parse_corpus(TINY_CORPUS + "<SEP>good night<SEP>sleep well!<SEP>\n", "other.txt", TINY)
    tc = TrainConfig(epochs=4, batch_size=3, lr=2e-2, eval_every=4, warmup_epochs=1)
    other = Trainer(corpus, out, tc, TINY, log=lambda *a: None, progress=False)
    assert other.tok.to_json() != Tokenizer.load(out / "tokenizer.json").to_json()
    with pytest.raises(SoulError, match="different corpus"):
        other.run()
    assert {n: (out / n).read_bytes() for n in before} == before


def test_a_soul_without_checkpoints_is_not_overwritten_without_force(tmp_path):
    from click.testing import CliRunner
    from soulplayer.training.command import train
    out = tmp_path / "run"
    out.mkdir()
    (out / "soul.bin").write_bytes(b"shipped soul")
    with pytest.raises(SoulError, match="no checkpoints/last.pt.*--force"):
        tiny_trainer(tmp_path, epochs=4).run()
    assert sorted(p.name for p in out.iterdir()) == ["soul.bin"]
    assert (out / "soul.bin").read_bytes() == b"shipped soul"
    corpus = tmp_path / "tiny.txt"
    corpus.write_text(TINY_CORPUS)
    res = CliRunner().invoke(train, [str(corpus), "--output", str(out), "--epochs", "1", "-q"])
    assert isinstance(res.exception, SoulError) and "--force" in str(res.exception)
    assert (out / "soul.bin").read_bytes() == b"shipped soul"
    assert tiny_trainer(tmp_path, epochs=4).run(force=True)
    assert (out / "soul.bin").read_bytes() != b"shipped soul"
    load_pair(out / "soul.bin", out / "tokenizer.json")
    assert tiny_trainer(tmp_path, epochs=4).run()   # now backed by checkpoints: re-running is fine
