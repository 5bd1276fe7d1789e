"""Input noise: teach a soul the replies of its corpus for inputs typed a little differently.

Each epoch, a fraction (`rate`) of the exchanges gets one random edit of its
input, drawn afresh every epoch; the reply stays as it is. The edits are the
ways people type a line the corpus did not foresee:

    letter   a letter dropped, doubled, swapped with its neighbour or replaced
    word     a word dropped (inputs of two words or more)
    filler   a filler word before or after the line ("oh", "well", "please", ...)
    punct    the end punctuation toggled (dropped, or . ! ? added)
    apos     the apostrophes dropped ("i'm" -> "im")

Words the reply repeats (`i like cats` -> `cats are great!`) are never edited,
so copying a word from the prompt stays exact. An edit that gives another
input of the corpus (its reply may differ), or a line the context cannot hold,
is not used: that exchange stays unchanged this epoch.
"""
import random
import re

WORD = re.compile(r"[a-z']+")
LETTERS = "abcdefghijklmnopqrstuvwxyz"
END_PUNCT = ".!?"
FILLERS = ("oh", "well", "please", "so", "hey", "um", "ok", "and", "but", "just", "now")
# kind -> weight: how often each edit is drawn among those that apply to a line
KINDS = {"drop": 2, "double": 1, "swap": 2, "replace": 2, "word": 2, "filler": 2, "punct": 2, "apos": 1}


def word_spans(text: str, keep: set) -> list:
    """(start, end) of the words that may be edited (not in `keep`)."""
    return [m.span() for m in WORD.finditer(text) if m.group() not in keep]


def letter_edit(text, kind, spans, rng):
    start, end = spans[rng.randrange(len(spans))]
    w = text[start:end]
    letters = [i for i, ch in enumerate(w) if ch != "'"]
    i = letters[rng.randrange(len(letters))]
    if kind == "drop":
        w = w[:i] + w[i + 1:]
    elif kind == "double":
        w = w[:i] + w[i] + w[i:]
    elif kind == "replace":
        w = w[:i] + rng.choice(LETTERS.replace(w[i], "")) + w[i + 1:]
    else:  # swap with the next letter
        if i + 1 >= len(w):
            i -= 1
        w = w[:i] + w[i + 1] + w[i] + w[i + 2:]
    return text[:start] + w + text[end:]


def drop_word(text, spans, rng):
    start, end = spans[rng.randrange(len(spans))]
    out = text[:start] + text[end:]
    return " ".join(out.split())


def add_filler(text, rng):
    word = FILLERS[rng.randrange(len(FILLERS))]
    if rng.random() < 0.6:
        return f"{word} {text}"
    body = text.rstrip(END_PUNCT + ",;:")
    return f"{body} {word}{text[len(body):]}"


def toggle_punct(text, rng):
    body = text.rstrip(END_PUNCT)
    if body != text:
        return body
    return text + END_PUNCT[rng.randrange(len(END_PUNCT))]


class Noiser:
    """One random edit per chosen input; a Python RNG seeded from the trainer's generator."""

    def __init__(self, inputs, rate: float, kinds=None):
        self.inputs = set(inputs)          # every corpus input: an edit must not make one of them
        self.rate = rate
        self.kinds = dict(KINDS if kinds is None else kinds)

    @property
    def active(self) -> bool:
        return self.rate > 0 and any(self.kinds.values())

    def applicable(self, text, spans) -> list:
        kinds = []
        for kind, weight in self.kinds.items():
            if weight <= 0:
                continue
            if kind in ("drop", "double", "replace") and spans:
                kinds.append(kind)
            elif kind == "swap" and any(end - start >= 2 for start, end in spans):
                kinds.append(kind)
            elif kind == "word" and spans and len(WORD.findall(text)) >= 2:
                kinds.append(kind)
            elif kind in ("filler", "punct") or (kind == "apos" and "'" in text):
                kinds.append(kind)
        return kinds

    def edit(self, text: str, keep: set, rng: random.Random) -> str:
        """`text` with one edit that leaves the words in `keep` alone (itself when none applies)."""
        spans = word_spans(text, keep)
        kinds = self.applicable(text, spans)
        if not kinds:
            return text
        kind = rng.choices(kinds, weights=[self.kinds[k] for k in kinds])[0]
        if kind in ("drop", "double", "replace"):
            return letter_edit(text, kind, spans, rng)
        if kind == "swap":
            return letter_edit(text, kind, [s for s in spans if s[1] - s[0] >= 2], rng)
        if kind == "word":
            return drop_word(text, spans, rng)
        if kind == "filler":
            return add_filler(text, rng)
        if kind == "punct":
            return toggle_punct(text, rng)
        return text.replace("'", "")

    def noisy(self, text: str, keep: set, rng: random.Random):
        """An edited input, or None when this one is left as it is (not drawn, or the edit is unusable)."""
        if rng.random() >= self.rate:
            return None
        out = self.edit(text, keep, rng).strip()
        if not out or out == text or out in self.inputs:
            return None
        return out
