"""The shipped corpus files: corpus/default.txt (training) and corpus/heldout.txt
(unseen paraphrases of it) parse cleanly, fit the context and stay apart."""
from soulplayer.config import TRAIN_DEFAULT_CONTEXT, ModelConfig
from soulplayer.training.bpe import learn_tokenizer
from soulplayer.training.corpus import DEFAULT_CORPUS, check_lengths, parse_corpus

HELDOUT = DEFAULT_CORPUS.parent / "heldout.txt"
CONFIG = ModelConfig(context=TRAIN_DEFAULT_CONTEXT)  # the context of new default souls


def _parse(path):
    return parse_corpus(path.read_text(), path.name, CONFIG)


def test_corpus_files_parse_and_fit_the_training_context():
    default, heldout = _parse(DEFAULT_CORPUS), _parse(HELDOUT)
    assert default.problems == [] and heldout.problems == []
    tok = learn_tokenizer(default, CONFIG)
    for corpus in (default, heldout):
        n = len(corpus.exchanges)
        check_lengths(corpus, tok, CONFIG)
        assert corpus.problems == [] and len(corpus.exchanges) == n


def test_heldout_is_unseen_and_covers_every_reply():
    default, heldout = _parse(DEFAULT_CORPUS), _parse(HELDOUT)
    trained = {ex.input for ex in default.exchanges}
    assert [ex.input for ex in heldout.exchanges if ex.input in trained] == []
    assert {ex.reply for ex in heldout.exchanges} == {ex.reply for ex in default.exchanges}
