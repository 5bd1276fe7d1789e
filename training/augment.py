"""Copy augmentation: teach the model to repeat prompt words through attention.

When a word occurs in both the input and the reply of an exchange
(`i like cats` -> `cats are great!`), the reply copies it from the prompt.
Each epoch, a fraction (`rate`) of such exchanges has one shared word swapped
for another, the same swap on both sides (`i like owls` -> `owls are great!`):
a word of the corpus, or (`random_words` of the time) a random string of
letters (`i like zqeh` -> `zqeh are great!`). The model then cannot memorize the
word with the template and has to look it up in the prompt, token by token, so
it also copies words it never saw in that template, or never saw at all.
Nothing about the corpus is assumed beyond "a shared word is copied";
exchanges without a shared word never change, and a swap that would not fit
the context is skipped.

Words are runs of letters and apostrophes; punctuation around them stays.
BPE never merges across a space, so a text is encoded word by word (cached).
"""
import re

import torch

from soulplayer.config import SEP

from .data import Example

WORD = re.compile(r"[a-z']+")
LETTERS = "abcdefghijklmnopqrstuvwxyz"
MIN_LETTERS, MAX_LETTERS = 2, 7


def words(text: str) -> set:
    return set(WORD.findall(text))


def swap_word(text: str, old: str, new: str) -> str:
    return re.sub(rf"(?<![a-z']){re.escape(old)}(?![a-z'])", new, text)


class Augmenter:
    """Per-epoch copy-augmented examples; draws only from the trainer's generator (resumable)."""

    def __init__(self, examples, tok, config, rate: float, random_words: float = 0.0):
        self.tok, self.config, self.rate, self.random_words = tok, config, rate, random_words
        self.space = tok.vocab[" "]
        self.cache = {}
        self.shared = [sorted(words(e.exchange.input) & words(e.exchange.reply)) for e in examples]
        self.pool = sorted({w for e in examples for w in words(e.exchange.input) | words(e.exchange.reply)})

    @property
    def active(self) -> bool:
        return self.rate > 0 and any(self.shared) and len(self.pool) > 1

    def encode(self, text: str) -> list:
        ids = []
        for i, word in enumerate(text.split(" ")):
            if i:
                ids.append(self.space)
            if word not in self.cache:
                self.cache[word] = self.tok.encode(word)
            ids.extend(self.cache[word])
        return ids

    def fits(self, inp: str, prompt: list, reply: list) -> bool:
        return (len(inp) <= self.config.max_input_chars and len(prompt) - 2 <= self.config.max_input_tokens
                and len(prompt) + len(reply) <= self.config.context)

    def new_word(self, gen) -> str:
        """A corpus word, or (with probability random_words) a random string of letters."""
        if float(torch.rand(1, generator=gen)) < self.random_words:
            n = int(torch.randint(MIN_LETTERS, MAX_LETTERS + 1, (1,), generator=gen))
            return "".join(LETTERS[i] for i in torch.randint(len(LETTERS), (n,), generator=gen).tolist())
        return self.pool[int(torch.randint(len(self.pool), (1,), generator=gen))]

    def variant(self, example, shared, gen):
        """The example with one of its shared words swapped (itself when the swap does not fit)."""
        old = shared[int(torch.randint(len(shared), (1,), generator=gen))]
        new = self.new_word(gen)
        if new == old:
            return example
        inp, reply = swap_word(example.exchange.input, old, new), swap_word(example.exchange.reply, old, new)
        prompt, out = [SEP] + self.encode(inp) + [SEP], self.encode(reply) + [SEP]
        return Example(example.exchange, prompt, out) if self.fits(inp, prompt, out) else example

    def epoch(self, examples, gen):
        """This epoch's examples: each one with a shared word is swapped with probability `rate`."""
        draws = torch.rand(len(examples), generator=gen).tolist()
        return [self.variant(e, s, gen) if s and d < self.rate else e
                for e, s, d in zip(examples, self.shared, draws)]
