"""Copy augmentation: teach the model to repeat prompt words through attention.

When a word occurs in both the input and the reply of an exchange
(`i like cats` -> `cats are great!`) and the corpus has the same reply with
other words in its place (`i like dogs` -> `dogs are great!`, ...; MIN_FILLERS
different words), the reply copies it from the prompt: a copied word. A word shared by chance (`how old?`
-> `very old!`, the only `very ...!` reply) is not one, and is left alone.
Each epoch, a fraction (`rate`) of the exchanges with a copied word has one swapped
for another, the same swap on both sides (`i like owls` -> `owls are great!`):
a word of the corpus, or (`random_words` of the time) a random string of
letters (`i like zqeh` -> `zqeh are great!`). The model then cannot memorize the
word with the template and has to look it up in the prompt, token by token, so
it also copies words it never saw in that template, or never saw at all.
Nothing about the corpus is assumed beyond that rule; exchanges without a
copied word never change, and a swap that would not fit the context is skipped.

Words are runs of letters and apostrophes; punctuation around them stays.
BPE never merges across a space, so a text is encoded word by word (cached).

The same per-epoch pass applies the input noise of noise.py (after the swap,
so a swapped word the reply repeats is never edited).
"""
import random
import re

import torch

from soulplayer.config import SEP

from .data import Example
from .noise import LETTERS, WORD, Noiser
MIN_LETTERS, MAX_LETTERS = 2, 7


def words(text: str) -> set:
    return set(WORD.findall(text))


def swap_word(text: str, old: str, new: str) -> str:
    return re.sub(rf"(?<![a-z']){re.escape(old)}(?![a-z'])", new, text)


SLOT = "\x00"
MIN_FILLERS = 4    # a reply is a template when it occurs with this many different words in the slot


def copied_words(pairs) -> list:
    """Per (input, reply): the sorted words the reply copies from the input, i.e. shared words
    whose reply, with the word taken out, occurs in the corpus with MIN_FILLERS or more different
    words (`good morning!`, `good evening!`, `good night!` are three greetings, not a template)."""
    shared = [sorted(words(i) & words(r)) for i, r in pairs]
    fillers = {}
    for (_, reply), ws in zip(pairs, shared):
        for w in ws:
            fillers.setdefault(swap_word(reply, w, SLOT), set()).add(w)
    return [[w for w in ws if len(fillers[swap_word(r, w, SLOT)]) >= MIN_FILLERS] for (_, r), ws in zip(pairs, shared)]


class Augmenter:
    """Per-epoch copy-augmented and noisy examples; draws only from the trainer's generator (resumable)."""

    def __init__(self, examples, tok, config, rate: float, random_words: float = 0.0, noise: float = 0.0):
        self.tok, self.config, self.rate, self.random_words = tok, config, rate, random_words
        self.space = tok.vocab[" "]
        self.cache = {}
        self.shared = copied_words([(e.exchange.input, e.exchange.reply) for e in examples])
        self.pool = sorted({w for e in examples for w in words(e.exchange.input) | words(e.exchange.reply)})
        self.noiser = Noiser([e.exchange.input for e in examples], noise)

    @property
    def copying(self) -> bool:
        return self.rate > 0 and any(self.shared) and len(self.pool) > 1

    @property
    def active(self) -> bool:
        return self.copying or self.noiser.active

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

    def swapped(self, example, shared, gen):
        """(input, reply) with one of the shared words swapped, the same on both sides."""
        old = shared[int(torch.randint(len(shared), (1,), generator=gen))]
        new = self.new_word(gen)
        inp, reply = example.exchange.input, example.exchange.reply
        if new == old:
            return inp, reply
        return swap_word(inp, old, new), swap_word(reply, old, new)

    def epoch(self, examples, gen):
        """This epoch's examples: each one with a shared word is swapped with probability `rate`,
        then each input is edited with the noise rate; a change that does not fit is not used."""
        copying = self.copying
        draws = torch.rand(len(examples), generator=gen).tolist() if copying else [1.0] * len(examples)
        rng = random.Random(int(torch.randint(1 << 62, (1,), generator=gen))) if self.noiser.active else None
        out = []
        for e, shared, d in zip(examples, self.shared, draws):
            inp, reply = e.exchange.input, e.exchange.reply
            if copying and shared and d < self.rate:
                inp, reply = self.swapped(e, shared, gen)
            if rng is not None:
                inp = self.noiser.noisy(inp, words(reply), rng) or inp
            if (inp, reply) == (e.exchange.input, e.exchange.reply):
                out.append(e)
                continue
            prompt, ids = [SEP] + self.encode(inp) + [SEP], self.encode(reply) + [SEP]
            out.append(Example(e.exchange, prompt, ids) if self.fits(inp, prompt, ids) else e)
        return out
