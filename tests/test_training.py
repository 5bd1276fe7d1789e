"""Training: corpus errors, BPE determinism, the QAT model is the integer pass, tiny runs."""
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)    # as `soul train`: tiny matrices, and a second thread only waits

from soulplayer import numerics  # noqa: E402
from soulplayer.paths import load_pair  # noqa: E402
from soulplayer.config import ModelConfig  # noqa: E402
from soulplayer.errors import SoulError  # noqa: E402
from soulplayer.soulfile import load_soul  # noqa: E402
from soulplayer.tokenizer import Tokenizer  # noqa: E402
from soulplayer.training.augment import Augmenter, swap_word  # noqa: E402
from soulplayer.training.bpe import train_tokenizer  # noqa: E402
from soulplayer.training.corpus import DEFAULT_CORPUS, parse_corpus, read_corpus  # noqa: E402
from soulplayer.training.export import from_soul, to_soul  # noqa: E402
from soulplayer.training.plot import figure, png_bytes  # noqa: E402
from soulplayer.training.score import decode_report, int8_score  # noqa: E402
from soulplayer.training.trainer import TrainConfig, Trainer, prepare  # noqa: E402

MODELS = Path(__file__).resolve().parents[1] / "models"
TINY = ModelConfig(vocab_size=64, embed_dim=16, n_heads=2, head_dim=8, ff_dim=32, n_layers=1, context=20)
TINY_CORPUS = """\
<SEP>hi<SEP>hello!<SEP>
<SEP>hello<SEP>hello!<SEP>
<SEP>bye<SEP>see you!<SEP>
<SEP>thanks<SEP>you are welcome.<SEP>
<SEP>how are you<SEP>i am fine.<SEP>
<SEP>i am sad<SEP>i am here.<SEP>
"""


TINY_HELDOUT = """\
<SEP>hi!<SEP>hello!<SEP>
<SEP>oh bye<SEP>see you!<SEP>
<SEP>thank you<SEP>you are welcome.<SEP>
<SEP>how r you<SEP>i am fine.<SEP>
"""


def tiny_trainer(tmp_path, name="run", epochs=12, holdout=None, **kw):
    corpus = parse_corpus(TINY_CORPUS, "tiny.txt", TINY)
    tc = TrainConfig(epochs=epochs, batch_size=3, lr=2e-2, eval_every=4, warmup_epochs=1, **kw)
    return Trainer(corpus, tmp_path / name, tc, TINY, log=lambda *a: None, progress=False, holdout=holdout)


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
    assert corpus.summary() == "c.txt: 1 exchange kept, 10 lines skipped"


def test_nothing_usable_is_an_error(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("hello\n<SEP><SEP><SEP>\n")
    with pytest.raises(SoulError, match="bad.txt: no usable exchange"):
        read_corpus(path)
    with pytest.raises(SoulError, match="cannot read"):
        read_corpus(tmp_path / "missing.txt")


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


TEMPLATE = "".join(f"<SEP>i like {w}<SEP>{w} are great!<SEP>\n" for w in ("cats", "dogs", "owls", "cows"))


def test_copy_augmentation_swaps_a_copied_word_the_same_way_in_prompt_and_reply():
    corpus = parse_corpus(TINY_CORPUS + TEMPLATE, "tiny.txt", TINY)
    tok, examples = prepare(corpus, TINY)
    aug = Augmenter(examples, tok, TINY, rate=1.0, random_words=0.5)
    assert all(aug.encode(t) == tok.encode(t) for e in examples for t in (e.exchange.input, e.exchange.reply))
    # "i am sad" -> "i am here." shares words by chance (no other "i am ..." reply): only the template copies
    assert aug.active and aug.shared == [[]] * 6 + [["cats"], ["dogs"], ["owls"], ["cows"]]
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
            assert reply == f"{new} are great!"
            assert len(after.prompt) + len(after.reply) <= TINY.context
    assert changed
    off = Augmenter(examples, tok, TINY, rate=0.0)
    assert not off.active
    assert not Augmenter(examples[:6], tok, TINY, rate=1.0).active     # no template: nothing to copy


def test_training_png_draws_the_loss_on_a_log_scale_and_the_held_out_curves():
    history = [{"epoch": 2, "exact": 0.5, "held_exact": 0.25, "held_broken": 0.5, "held_corpus_exact": 0.5},
               {"epoch": 4, "exact": 1.0, "held_exact": 0.75, "held_broken": 0.0, "held_corpus_exact": 1.0}]
    ax, right = figure([27.0, 9.0, 3.0, 1.0], history).axes
    assert ax.get_yscale() == "log" and list(ax.get_lines()[0].get_ydata()) == [27.0, 9.0, 3.0, 1.0]
    curves = {line.get_label(): list(line.get_ydata()) for line in right.get_lines()}
    assert curves == {"int8 exact (corpus)": [50.0, 100.0], "held-out exact": [25.0, 75.0],
                      "held-out broken": [50.0, 0.0], "held-out exact, corpus mode": [50.0, 100.0]}
    without = figure([1.0], [{"epoch": 1, "exact": 0.0}]).axes[1]
    assert [line.get_label() for line in without.get_lines()] == ["int8 exact (corpus)"]
    assert png_bytes([], []).startswith(b"\x89PNG")


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
    from click.testing import CliRunner
    from soulplayer.training.command import eval_soul
    from soulplayer.training.heldout import parse_prompts
    held = parse_prompts(TINY_HELDOUT, "held.txt")
    tr = tiny_trainer(tmp_path, epochs=64, holdout=("held.txt", held))
    assert tr.run()
    out = tmp_path / "run"
    # held-out figures at every evaluation, and `soul eval` on the written soul gives the final ones
    assert all({"held_exact", "held_well_formed", "held_broken", "held_corpus_exact"} <= set(h)
               for h in tr.history)
    (tmp_path / "held.txt").write_text(TINY_HELDOUT)
    (tmp_path / "tiny.txt").write_text(TINY_CORPUS)
    for mode in ("free", "corpus"):
        res = CliRunner().invoke(eval_soul, ["--soul", str(out / "soul.bin"), "--mode", mode, "--show",
                                             str(tmp_path / "held.txt")])
        assert res.exit_code == 0, res.output
        h = tr.report["holdout"][mode]
        assert h["n"] == 4 and h["broken"] == 1 - h["well_formed"] and h["exact"] <= h["well_formed"]
        assert (f"{mode} mode: exact {h['exact'] * 100:.1f}% ({round(h['exact'] * 4)}/4), well-formed "
                f"{h['well_formed'] * 100:.1f}%, broken {h['broken'] * 100:.1f}%") in res.output
        shown = res.output.splitlines()[:4]
        assert [line[0] for line in shown].count("=") == round(h["exact"] * 4)
        assert shown[0].startswith(("= hi! -> hello!", "~ hi! -> ", "x hi! -> "))
    assert tr.report["holdout"]["corpus"]["broken"] == 0.0     # the trie only says corpus replies
    soul, tok = load_pair(out / "soul.bin", out / "tokenizer.json")  # as chat/disk load them
    assert soul.config == TINY and tok.vocab_size <= TINY.vocab_size
    assert (out / "training.png").read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["best.pt", "last.pt"]
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
    from soulplayer.replies import load_reply_mode       # replies.txt beside the soul: corpus mode
    assert load_reply_mode(out / "soul.bin", tok).trie.sequences() == sorted(map(list, {tuple(e.reply)
                                                                                        for e in examples}))


def test_resume_after_interrupt_gives_the_same_soul(tmp_path):
    whole = tiny_trainer(tmp_path, "whole")
    assert whole.augmenter.active               # the copy augmentation draws from the saved RNG too
    assert whole.run()
    cut = tiny_trainer(tmp_path, "cut")
    assert not cut.run(stop_at_epoch=6)          # Ctrl-C in the middle of epoch 7
    assert (tmp_path / "cut" / "soul.bin").read_bytes() == cut.best["soul"]   # the best so far (epoch 4)
    load_pair(tmp_path / "cut" / "soul.bin", tmp_path / "cut" / "tokenizer.json")
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


# --- corpus files as people write them, and --check ------------------------------

def test_corpus_files_as_people_write_them(tmp_path):
    path = tmp_path / "typed.txt"
    text = ("<SEP>Hi There<SEP>Hello!<SEP>\r\n"
            "<SEP>I\u2019m sad<SEP>I\u2019m here \u2014 always.<SEP>\r\n"
            "<SEP>say \u201cyes\u201d<SEP>ok\u2026 yes \u2013 fine<SEP>\r\n")
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    corpus = read_corpus(path)
    assert corpus.problems == []
    assert [(e.input, e.reply) for e in corpus.exchanges] == [
        ("hi there", "hello!"), ("i'm sad", "i'm here - always."), ("say 'yes'", "ok... yes - fine")]


CHECK_CORPUS = TINY_CORPUS + """\
<SEP>tell me<SEP>once upon a time there was a cat who sat.<SEP>
<SEP>hi<SEP>go away<SEP>
"""


def test_check_reports_each_line_and_drops_what_training_drops(tmp_path):
    from click.testing import CliRunner
    from soulplayer.training.command import train
    path = tmp_path / "c.txt"
    path.write_text(CHECK_CORPUS)
    res = CliRunner().invoke(train, [str(path), "--check", "--context", "30"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    rows = [line.strip() for line in lines if line.startswith("  line ")]
    assert [r.split(":")[0] for r in rows] == [f"line {n}" for n in range(1, 9)]
    assert rows[0].startswith("line 1: ") and "/30 tokens (input " in rows[0]
    assert "the context holds 30; shorten the reply by" in rows[6]
    assert rows[7] == "line 8: skipped: conflicting reply: the same input is answered differently on line 1"
    assert lines[-1] == f"{path}: 6 exchanges kept, 2 lines skipped"
    assert "WARNING" not in res.output
    # the lines --check calls too long are the lines training drops
    corpus = parse_corpus(CHECK_CORPUS, "c.txt", ModelConfig(context=30))
    prepare(corpus, ModelConfig(context=30))
    assert [p.line for p in corpus.problems] == [7, 8]
    res = CliRunner().invoke(train, [str(path), "--check", "--context", "10"])
    assert "WARNING: " in res.output and "lines (" in res.output


# --- input noise -----------------------------------------------------------------------

def test_each_noise_kind_makes_one_edit_of_its_kind_and_spares_the_copied_words():
    import random
    from soulplayer.training.noise import KINDS, Noiser
    text, keep = "i'm so happy with cats!", {"cats"}
    seen = {}
    for kind in KINDS:
        noiser = Noiser([text, "so happy with cats!"], rate=1.0, kinds={kind: 1})
        rng = random.Random(7)
        for _ in range(30):
            out = noiser.noisy(text, keep, rng)
            if out is None:
                continue
            seen.setdefault(kind, set()).add(out)
            assert "cats" in out and out != "so happy with cats!"   # spared word; no corpus input
            a, b = text.split(), out.split()
            if kind in ("drop", "double", "swap", "replace"):
                assert len(a) == len(b) and sum(x != y for x, y in zip(a, b)) == 1
                x, y = next((x, y) for x, y in zip(a, b) if x != y)
                assert len(y) - len(x) == {"drop": -1, "double": 1, "swap": 0, "replace": 0}[kind]
                if kind == "swap":
                    assert sorted(x) == sorted(y)
            elif kind == "word":
                assert len(b) == len(a) - 1
            elif kind == "filler":
                assert len(b) == len(a) + 1
            elif kind == "punct":
                assert out == text[:-1] or out[:-1] == text
            elif kind == "apos":
                assert out == text.replace("'", "")
    assert set(seen) == set(KINDS) and all(len(v) >= 2 or k in ("punct", "apos") for k, v in seen.items())


def test_noise_edits_inputs_only_and_is_fresh_each_epoch():
    corpus = parse_corpus(TINY_CORPUS, "tiny.txt", TINY)
    tok, examples = prepare(corpus, TINY)
    aug = Augmenter(examples, tok, TINY, rate=0.0, noise=1.0)
    gen = torch.Generator().manual_seed(1)
    first, second = aug.epoch(examples, gen), aug.epoch(examples, gen)
    for run in (first, second):
        assert [e.reply for e in run] == [e.reply for e in examples]
        assert all(len(e.prompt) + len(e.reply) <= TINY.context for e in run)
    changed = [tok.decode(e.prompt[1:-1]) for e in first if e is not examples[first.index(e)]]
    assert len(changed) >= 4 and not set(changed) & {e.exchange.input for e in examples}
    assert [e.prompt for e in first] != [e.prompt for e in second]
    again = aug.epoch(examples, torch.Generator().manual_seed(1))
    assert [e.prompt for e in again] == [e.prompt for e in first]
    assert not Augmenter(examples, tok, TINY, rate=0.0, noise=0.0).active


def test_patience_stops_a_run_and_more_epochs_extend_it(tmp_path):
    logged = []
    tr = tiny_trainer(tmp_path, epochs=40, patience=4)
    assert tr.run()
    stop = tr.epoch
    assert tr.stopped == stop < 40 and stop - tr.improved >= 4 and tr.report["stopped_early"]
    assert (tmp_path / "run" / "soul.bin").read_bytes() == tr.best["soul"]
    same = tiny_trainer(tmp_path, epochs=40, patience=4)
    assert same.run() and same.epoch == stop                    # finished: nothing more to train
    more = tiny_trainer(tmp_path, epochs=44, patience=4)      # more than the run had: patience afresh
    more.log = logged.append
    assert more.run()
    assert more.epoch >= stop + 4 and more.history[:len(tr.history)] == tr.history
    assert f"resuming {tmp_path / 'run'} at epoch {stop}/44 (extended from 40)" in logged
    with pytest.raises(SoulError, match="cannot shorten"):
        tiny_trainer(tmp_path, epochs=4).run()
    checkpoints = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert checkpoints == ["best.pt", "last.pt"]
    kept = tiny_trainer(tmp_path, "kept", epochs=8, keep_checkpoints=True)
    assert kept.run()
    assert sorted(p.name for p in (tmp_path / "kept" / "checkpoints").iterdir()) == [
        "best.pt", "epoch_0004.pt", "epoch_0008.pt", "last.pt"]


def test_train_command_piped_prints_one_line_per_evaluation_and_the_next_commands(tmp_path):
    from click.testing import CliRunner
    from soulplayer.training.command import train
    corpus = tmp_path / "c.txt"
    corpus.write_text(TINY_CORPUS + "<SEP>hi<SEP>go away<SEP>\n")
    out = tmp_path / "run"
    args = [str(corpus), "--output", str(out), "--context", "20", "--embed", "16", "--ff", "32",
            "--layers", "1", "--eval-every", "4", "--no-c64-check"]
    res = CliRunner().invoke(train, args + ["--epochs", "8"])
    assert res.exit_code == 0, res.output
    assert "\r" not in res.output and "it/s" not in res.output and "epoch/s" not in res.output
    assert [line.split(":")[0] for line in res.output.splitlines() if line.startswith("  epoch ")] == [
        "  epoch 4", "  epoch 8"]
    assert "c.txt: 6 exchanges kept, 1 line skipped" in res.output
    assert "line 7: conflicting reply" in res.output
    assert f"soul chat --soul {out / 'soul.bin'} --tokenizer {out / 'tokenizer.json'}" in res.output
    assert f"make disk SOUL={out / 'soul.bin'} TOKENIZER={out / 'tokenizer.json'}" in res.output
    assert load_soul(out / "soul.bin").config == ModelConfig(vocab_size=128, embed_dim=16, n_heads=2,
                                                             head_dim=8, ff_dim=32, n_layers=1, context=20)
    res = CliRunner().invoke(train, args + ["--epochs", "12"])
    assert res.exit_code == 0, res.output
    assert "line 7: conflicting reply" not in res.output and "--check" in res.output
    assert [line.split(":")[0] for line in res.output.splitlines() if line.startswith("  epoch ")] == [
        "  epoch 12"]


def test_c64_check_measures_the_real_program_and_stops_a_soul_that_does_not_fit(tmp_path):
    from click.testing import CliRunner
    from soulplayer.tools.commands_program import build_program
    from soulplayer.training.c64check import budget_from_map, check_c64_budget
    from soulplayer.training.command import train
    tok = Tokenizer.load(MODELS / "tokenizer.json")
    shipped = budget_from_map(build_program(MODELS / "soul.bin", MODELS / "tokenizer.json",
                                            tmp_path / "b").map)
    from soulplayer.replies import read_replies
    stand_in = check_c64_budget(load_soul(MODELS / "soul.bin").config, tok, read_replies(MODELS / "replies.txt"))
    assert stand_in.used + stand_in.free == shipped.used + shipped.free
    assert stand_in.used >= shipped.used            # the stand-in never promises more room than there is
    with pytest.raises(SoulError, match=r"layers 4: the program does not fit the C64 memory map: segment \w+ is "
                                        r"\d+ bytes over memory area .*--no-c64-check"):
        check_c64_budget(ModelConfig(n_layers=4), tok)
    corpus = tmp_path / "c.txt"
    corpus.write_text(TINY_CORPUS)
    res = CliRunner().invoke(train, [str(corpus), "--output", str(tmp_path / "run"), "--layers", "4"])
    assert isinstance(res.exception, SoulError) and "--no-c64-check" in str(res.exception)
    assert not (tmp_path / "run").exists()                      # failed before any training


def test_default_epochs_follow_the_corpus_size(tmp_path):
    from soulplayer.training.train_config import MAX_EPOCHS, STEP_BUDGET
    from soulplayer.training.trainer import auto_epochs
    small = tiny_trainer(tmp_path, epochs=0)                 # 6 exchanges, 2 steps an epoch
    assert small.tc.epochs == MAX_EPOCHS and TrainConfig().epochs == 0
    assert auto_epochs(31) == round(STEP_BUDGET / 31) and auto_epochs(10 ** 6) == 100
