"""Held-out prompts: how a soul answers inputs it was not trained on.

A prompts file has the corpus format, `<SEP>typed input<SEP>expected reply<SEP>`
(same cleaning: BOM, curly quotes, dashes, capitals). Each input goes through
chat's input rule as typed (a line longer than a prompt holds is cut, as in
`soul chat`), the integer reference decodes the reply greedily, and the reply is

    exact        the expected reply
    well-formed  some reply of the training corpus (exact ones included)
    broken       no reply of the training corpus (spliced fragments, a reply cut short)

judged by the text a user sees: a reply that fills the context just as its
last token comes (no room left for the SEP) reads the same as one that ends.

No torch here: `soul eval` runs without the train extra.
"""
from dataclasses import dataclass, field

from soulplayer.chat import choose_next, reply_text
from soulplayer.errors import SoulError
from soulplayer.fileio import read_text
from soulplayer.tokenizer import normalize

from .corpus import SEP_TEXT, clean_text, plural


@dataclass
class Prompt:
    line: int
    input: str
    expected: str


@dataclass
class Answer:
    prompt: Prompt
    reply: str
    exact: bool
    well_formed: bool


@dataclass
class HeldOutScore:
    answers: list = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.answers)

    def count(self, what) -> int:
        return sum(getattr(a, what) for a in self.answers)

    @property
    def exact(self) -> float:
        return self.count("exact") / self.n

    @property
    def well_formed(self) -> float:
        return self.count("well_formed") / self.n

    @property
    def broken(self) -> float:
        return 1.0 - self.well_formed

    def figures(self) -> dict:
        return {"n": self.n, "exact": self.exact, "well_formed": self.well_formed, "broken": self.broken}

    def summary(self) -> str:
        return (f"exact {self.exact * 100:.1f}% ({self.count('exact')}/{self.n}), "
                f"well-formed {self.well_formed * 100:.1f}%, broken {self.broken * 100:.1f}%")


def parse_prompts(text: str, name: str) -> list:
    """-> [Prompt]; a line that is not `<SEP>input<SEP>reply<SEP>` is an error naming it."""
    prompts = []
    for number, raw in enumerate(clean_text(text).splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not line.startswith(SEP_TEXT) or not line.endswith(SEP_TEXT) or line.count(SEP_TEXT) != 3:
            raise SoulError(f"{name}: line {number}: expected {SEP_TEXT}input{SEP_TEXT}expected reply{SEP_TEXT}")
        _, inp, reply, _ = line.split(SEP_TEXT)
        prompts.append(Prompt(number, inp.strip(), normalize(reply.strip())))
    if not prompts:
        raise SoulError(f"{name}: no prompts")
    return prompts


def read_prompts(path) -> list:
    return parse_prompts(read_text(path), str(path))


def score_prompts(soul, tok, prompts, replies, choose=choose_next, trie=None) -> HeldOutScore:
    """Every prompt's greedy int8 reply against its expected reply and the corpus replies."""
    known = set(replies)
    score = HeldOutScore()
    for p in prompts:
        reply = reply_text(soul, tok, p.input, choose, trie)      # decoded as `soul chat` decodes it
        score.answers.append(Answer(p, reply, reply == p.expected, reply in known))
    return score


def unknown_expected(prompts, replies) -> list:
    """Prompts whose expected reply is no reply of the corpus (they can never be exact)."""
    known = set(replies)
    return [p for p in prompts if p.expected not in known]


def describe(prompts, name) -> str:
    return f"{name}: {plural(len(prompts), 'held-out prompt')}"
