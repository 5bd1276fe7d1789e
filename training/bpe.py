"""Tokenizer training: byte-pair merges over the corpus (formats.md).

Words are the runs of characters between spaces, so no merge ever contains a
space. Each round merges the most frequent adjacent pair inside words; ties go
to the pair whose texts sort first, so a corpus always gives the same merges.
A pair whose text is already a token is never chosen (every merge adds one id).
Merges are applied the same way `Tokenizer.encode` applies them: left to
right, non-overlapping.
"""
from collections import Counter

from soulplayer.config import SPECIALS
from soulplayer.tokenizer import BASE_CHARS, Tokenizer, normalize


def word_counts(texts) -> Counter:
    counts = Counter()
    for text in texts:
        counts.update(w for w in normalize(text).split(" ") if w)
    return counts


def merge_word(word: tuple, a: str, b: str) -> tuple:
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and word[i] == a and word[i + 1] == b:
            out.append(a + b)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def train_tokenizer(texts, vocab_size: int = 128, min_count: int = 2) -> Tokenizer:
    vocab = {t: i for i, t in enumerate(SPECIALS + tuple(BASE_CHARS))}
    words = {tuple(w): n for w, n in word_counts(texts).items()}
    merges = []
    while len(vocab) < vocab_size:
        pairs = Counter()
        for word, n in words.items():
            for a, b in zip(word, word[1:]):
                if a + b not in vocab:
                    pairs[a, b] += n
        if not pairs:
            break
        (a, b), count = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        if count < min_count:
            break
        merges.append((a, b))
        vocab[a + b] = len(vocab)
        merged = {}
        for word, n in words.items():
            w = merge_word(word, a, b)
            merged[w] = merged.get(w, 0) + n
        words = merged
    return Tokenizer(vocab, merges)


def learn_tokenizer(corpus, config, vocab_size=None) -> Tokenizer:
    """The tokenizer training learns from a parsed corpus (before the length check)."""
    texts = [t for ex in corpus.exchanges for t in (ex.input, ex.reply)]
    return train_tokenizer(texts, vocab_size or config.vocab_size)
