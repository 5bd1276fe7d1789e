"""Reply modes in Python: the replies file, the trie, corpus-mode decoding
(every reply is a corpus reply, greedy and sampled), mode resolution and the
CLI's --mode/--replies. The C64 side is in test_vice_program.py."""
import random
from pathlib import Path

import pytest

from conftest import run_soul
from soulplayer.chat import choose_next, fit_input, reply_ids, reply_text
from soulplayer.paths import DEFAULT_SOUL, DEFAULT_TOKENIZER
from soulplayer.config import PAD, SEP, UNK, ModelConfig
from soulplayer.errors import SoulError
from soulplayer.gen.replies_inc import render_replies_inc, reply_bytes
from soulplayer.replies import (CORPUS, FREE, REPLIES_NAME, ReplyTrie, load_reply_mode, parse_replies,
                                read_replies, replies_beside, write_replies)
from soulplayer.sampling import Sampler, weights
from soulplayer.soulfile import load_soul
from soulplayer.tokenizer import Tokenizer

ROOT = Path(__file__).resolve().parents[1]
PARAPHRASES = ["hello", "helo there", "oh hi", "how r u", "how are you doing today", "i am so sad",
               "tell me a joke please", "whats your name", "thanks a lot!", "good night", "i love u",
               "what is the c64", "bye bye", "you are great", "who made you", "i feel happy today",
               "zzz qqq", "xylophone", "", "a b c d e f g h i j k l m n o p"]


@pytest.fixture(scope="module")
def default_soul():
    soul, tok = load_soul(DEFAULT_SOUL), Tokenizer.load(DEFAULT_TOKENIZER)
    return soul, tok, ReplyTrie.from_texts(read_replies(replies_beside(DEFAULT_SOUL)), tok)


def corpus_prompts():
    return [line.split("<SEP>")[1] for line in (ROOT / "corpus" / "default.txt").read_text().splitlines()
            if line.startswith("<SEP>")]


def test_replies_file_round_trip_and_errors(tmp_path):
    path = tmp_path / REPLIES_NAME
    write_replies(path, ["Hello!", "bye.", "hello!", "  ", "a, b; c: d - e? 'f'"])
    assert read_replies(path) == ["a, b; c: d - e? 'f'", "bye.", "hello!"]
    assert parse_replies("# comment\r\n\r\nYES\r\nno\r\nyes\r\n", "x") == ["yes", "no"]
    for text, where in (("ok\nnot ok #1\n", "line 2"), ("# only comments\n\n", "no replies")):
        with pytest.raises(SoulError, match=where):
            parse_replies(text, "r.txt")
    path.write_bytes(b"fine\n\xff\xfe bad\n")
    with pytest.raises(SoulError, match="line 2: not UTF-8"):
        read_replies(path)
    with pytest.raises(SoulError, match="no replies file"):
        read_replies(tmp_path / "missing.txt")
    with pytest.raises(SoulError, match="outside the alphabet"):
        write_replies(tmp_path / "bad.txt", ["caf\u00e9"])
    assert not (tmp_path / "bad.txt").exists()


def test_utf8_bom_is_not_a_reply(tmp_path):
    path = tmp_path / REPLIES_NAME
    path.write_bytes("\ufeffhi there\n".encode("utf-8"))
    assert read_replies(path) == ["hi there"]


def test_trie_holds_exactly_the_replies(default_soul):
    soul, tok, trie = default_soul
    texts = read_replies(replies_beside(DEFAULT_SOUL))
    want = sorted(tok.encode(t) + [SEP] for t in texts)
    assert trie.sequences() == want                       # depth first in id order = sorted
    assert len(set(map(tuple, want))) == len(texts)
    assert reply_bytes(trie) == [t | (0x80 if i == len(seq) - 2 else 0) for seq in want
                                 for i, t in enumerate(seq[:-1])]       # SEP implied after bit 7
    for node in range(len(trie)):                          # a node offers what continues its replies
        assert trie.allowed(node) == sorted(trie.children[node])
        assert PAD not in trie.allowed(node) and UNK not in trie.allowed(node)
    with pytest.raises(ValueError):
        ReplyTrie([[5, 6]])                                # no SEP at the end


def test_shipped_replies_are_default_corpus_replies():
    """models/replies.txt holds replies of corpus/default.txt that the shipped
    soul's tokenizer and context keep (training writes the replies of the corpus
    the soul was trained on; retraining the default soul rewrites the file)."""
    from soulplayer.training.corpus import check_lengths, read_corpus
    tok, config = Tokenizer.load(DEFAULT_TOKENIZER), load_soul(DEFAULT_SOUL).config
    corpus = check_lengths(read_corpus(None, config), tok, config)
    kept = [e for e in corpus.exchanges if fit_input(e.input, tok, config) == e.input]   # as make_examples
    shipped = read_replies(replies_beside(DEFAULT_SOUL))
    assert shipped == sorted(shipped) and len(shipped) >= 40
    assert set(shipped) <= {e.reply for e in kept}


def test_choose_among_allowed_first_maximum():
    logits = [0] * 128
    logits[PAD] = logits[UNK] = 900
    logits[40], logits[50], logits[60] = 7, 9, 9
    assert choose_next(logits) == 50                        # free: PAD and UNK never
    assert choose_next(logits, [40, 60, 50]) == 50          # first maximum by id, not by list order
    assert choose_next(logits, [40]) == 40
    logits = [-32768] * 128
    assert choose_next(logits, [70, 9]) == 9
    w = weights([5] * 128, 10, [7, 8])
    assert w[7] == w[8] == 255 and sum(w) == 510


def _is_corpus_reply(ids, trie, context, prompt_len):
    """A whole corpus reply, or the start of one cut by a full context."""
    if ids in trie.sequences():
        return True
    return prompt_len + len(ids) == context and any(s[:len(ids)] == ids for s in trie.sequences())


def test_corpus_mode_only_says_corpus_replies(default_soul):
    soul, tok, trie = default_soul
    rng = random.Random(9)
    prompts = PARAPHRASES + rng.sample(corpus_prompts(), 12)
    whole = 0
    for temperature, seed in ((0.0, 1), (0.8, 7), (2.0, 12345), (9.9, 3)):
        sampler = Sampler(temperature, seed)
        for p in prompts:
            n = len(tok.encode(fit_input(p, tok, soul.config))) + 2
            ids = reply_ids(soul, tok, p, sampler.choose, trie)
            assert _is_corpus_reply(ids, trie, soul.config.context, n), (temperature, p, tok.decode(ids))
            whole += ids in trie.sequences()
    assert whole >= 0.8 * 4 * len(prompts)


def test_corpus_mode_equals_free_mode_when_free_says_a_corpus_reply(default_soul):
    """The candidates always hold the greedy free choice along a corpus reply."""
    soul, tok, trie = default_soul
    same = 0
    for p in corpus_prompts()[::20] + PARAPHRASES:
        free = reply_ids(soul, tok, p)
        if free in trie.sequences():
            assert reply_ids(soul, tok, p, trie=trie) == free
            same += 1
    assert same >= 30


def test_mode_resolution(tmp_path, original_soul_path, original_tokenizer_path):
    tok = Tokenizer.load(original_tokenizer_path)
    assert load_reply_mode(original_soul_path, tok).mode == FREE          # no replies.txt beside it
    assert load_reply_mode(original_soul_path, tok, FREE).trie is None
    with pytest.raises(SoulError, match=f"{original_soul_path.parent / REPLIES_NAME}.*not found"):
        load_reply_mode(original_soul_path, tok, CORPUS)
    with pytest.raises(SoulError, match="no replies file"):
        load_reply_mode(original_soul_path, tok, FREE, tmp_path / "none.txt")
    soul_copy = tmp_path / "soul.bin"
    soul_copy.write_bytes(original_soul_path.read_bytes())
    write_replies(tmp_path / REPLIES_NAME, ["hello!", "bye."])
    choice = load_reply_mode(soul_copy, tok)
    assert choice.mode == CORPUS and len(choice.trie.sequences()) == 2
    assert load_reply_mode(soul_copy, tok, FREE).mode == FREE


def test_render_refuses_corpus_without_replies():
    with pytest.raises(SoulError, match="needs the soul's replies"):
        render_replies_inc(None, CORPUS)
    const, data = render_replies_inc(None, FREE)
    assert "HAVE_REPLIES = 0" in const and "REPLY_COUNT = 0" in const


def test_input_rule_follows_the_context():
    """One source: ModelConfig derives the prompt limit from the context, and the
    C64 line editor's MAX_INPUT_TOKENS is generated from it."""
    from soulplayer.config import REPLY_ROOM
    from soulplayer.gen.tokenizer_inc import render_program_inc
    assert ModelConfig().max_input_tokens == 20 - 2 - REPLY_ROOM == 12
    tok = Tokenizer.load(DEFAULT_TOKENIZER)
    for context in (20, 48):
        const, _ = render_program_inc(tok, ModelConfig(context=context), "SOUL")
        assert f"MAX_INPUT_TOKENS = {context - 2 - REPLY_ROOM}\n" in const
        assert f"REPLY_ROOM = {REPLY_ROOM}\n" in const and f"CONTEXT = {context}\n" in const


def test_chat_mode_option(tmp_path, original_soul_path, original_tokenizer_path, default_soul):
    args = ["chat", "--soul", original_soul_path, "--tokenizer", original_tokenizer_path]
    run = run_soul(*args, "--mode", "corpus", stdin="hello\n")
    assert run.returncode == 1 and run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert run.stderr.startswith("soul: error: --mode corpus") and str(original_soul_path.parent) in run.stderr
    replies = tmp_path / "r.txt"
    write_replies(replies, ["hello! you're wonderful!", "i'm here for you.", "bye."])
    prompts = ["hello", "i'm sad", "tell me about the c64"]
    run = run_soul(*args, "--mode", "corpus", "--replies", replies, "--temperature", "0.5", "--seed", "3",
                   stdin="".join(p + "\n" for p in prompts))
    assert run.returncode == 0, run.stderr
    s, tok = load_soul(original_soul_path), Tokenizer.load(original_tokenizer_path)
    trie, sampler = ReplyTrie.from_texts(read_replies(replies), tok), Sampler(0.5, 3)
    want = [reply_text(s, tok, p, sampler.choose, trie) for p in prompts]
    assert run.stdout.splitlines() == want
    assert set(want) <= set(read_replies(replies))
    soul, tok, trie = default_soul                     # the default soul: corpus mode by default
    run = run_soul("chat", stdin="how r u\n")
    assert run.stdout.splitlines() == [reply_text(soul, tok, "how r u", trie=trie)]
    run = run_soul("chat", "--mode", "free", stdin="how r u\n")
    assert run.stdout.splitlines() == [reply_text(soul, tok, "how r u")]


def test_soul_eval_scores_both_reply_modes(tmp_path, original_soul_path, original_tokenizer_path):
    f = tmp_path / "held.txt"
    f.write_text("# held out\n<SEP>hello<SEP>hello! how are you?<SEP>\n\n<SEP>helo<SEP>hello! how are you?<SEP>\n"
                 "<SEP>tell me a joke<SEP>syntax error!<SEP>\n")
    run = run_soul("eval", f)
    assert run.returncode == 0, run.stderr
    free, corpus = run.stdout.splitlines()
    from soulplayer.paths import load_pair
    from soulplayer.training.heldout import read_prompts, score_prompts
    soul, tok = load_pair(DEFAULT_SOUL, DEFAULT_TOKENIZER)     # the same scores computed here
    replies, prompts = read_replies(DEFAULT_SOUL.parent / REPLIES_NAME), read_prompts(f)
    trie = ReplyTrie.from_texts(replies, tok)
    assert f"free mode: {score_prompts(soul, tok, prompts, replies).summary()}" in free
    assert f"corpus mode: {score_prompts(soul, tok, prompts, replies, trie=trie).summary()}" in corpus
    assert "broken 0.0%" in corpus
    run = run_soul("eval", f, "--soul", original_soul_path, "--tokenizer", original_tokenizer_path)
    assert run.returncode == 0 and len(run.stdout.splitlines()) == 1 and "free mode:" in run.stdout
    run = run_soul("eval", f, "--soul", original_soul_path, "--tokenizer", original_tokenizer_path,
                   "--mode", "corpus")
    assert run.returncode == 1 and run.stderr.startswith("soul: error: --mode corpus needs the soul's replies")


def test_build_corpus_mode_without_replies_is_one_line(tmp_path, original_soul_path, original_tokenizer_path):
    run = run_soul("build", "--soul", original_soul_path, "--tokenizer", original_tokenizer_path,
                   "--mode", "corpus", "--out", tmp_path / "b")
    assert run.returncode == 1 and run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert run.stderr.startswith("soul: error: --mode corpus needs the soul's replies: "
                                 f"{original_soul_path.parent / REPLIES_NAME} not found")
