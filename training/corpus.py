"""Corpus files: one exchange per line, `<SEP>input<SEP>response<SEP>`.

Blank lines and lines starting with `#` are ignored. Files are taken as people
write them: a UTF-8 BOM is dropped, CRLF line ends are fine, curly quotes become
`'`, en/em dashes `-`, an ellipsis `...`, a no-break space a space, and capitals
are folded. Any other character outside the 35 of the alphabet makes the line bad.
Every bad line is reported with its number and reason and skipped; a corpus
with no usable line is an error.
"""
from dataclasses import dataclass, field
from pathlib import Path

from soulplayer.chat import fit_input
from soulplayer.config import ModelConfig
from soulplayer.errors import SoulError
from soulplayer.fileio import read_text
from soulplayer.paths import DEFAULT_CORPUS
from soulplayer.tokenizer import BASE_CHARS

SEP_TEXT = "<SEP>"
# typographic characters editors put in, and what they stand for in the alphabet
TYPOGRAPHY = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u02bc": "'", "\u2032": "'",
    "\u201c": "'", "\u201d": "'", "\u201e": "'", "\u201f": "'", "\u00b4": "'", "`": "'",
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u2026": "...", "\u00a0": " ", "\t": " ",
})
DROPPED_WARNING = 0.25      # warn loudly when more than this share of the exchange lines is dropped


@dataclass
class Exchange:
    line: int
    input: str
    reply: str


@dataclass
class Problem:
    line: int
    reason: str

    def __str__(self):
        return f"line {self.line}: {self.reason}"


@dataclass
class Corpus:
    name: str
    exchanges: list
    problems: list = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.name}: {plural(len(self.exchanges), 'exchange')} kept, "
                f"{plural(len(self.problems), 'line')} skipped")

    def dropped_share(self) -> float:
        """Skipped lines as a share of every exchange line (comments and blank lines not counted)."""
        total = len(self.exchanges) + len(self.problems)
        return len(self.problems) / total if total else 0.0

    def warning(self):
        """A loud multi-line warning when more than a quarter of the lines were dropped, else None."""
        share = self.dropped_share()
        if share <= DROPPED_WARNING:
            return None
        return (f"WARNING: {self.name}: {len(self.problems)} of {len(self.exchanges) + len(self.problems)} "
                f"lines ({share * 100:.0f} %) are skipped and will not be learned.\n"
                f"WARNING: `soul train --check {self.name}` shows what each line needs; a longer --context "
                f"or shorter lines keep them.")


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def clean_text(text: str) -> str:
    """A corpus file's text as people write it -> the text the parser reads (BOM, quotes, dashes)."""
    return text.removeprefix("\ufeff").translate(TYPOGRAPHY)


def parse_line(text: str, config: ModelConfig):
    """-> (input, reply) or raise ValueError(reason). Length is checked later (needs the tokenizer)."""
    text = text.strip()
    if not text.startswith(SEP_TEXT) or not text.endswith(SEP_TEXT) or text.count(SEP_TEXT) != 3:
        raise ValueError(f"missing separators: expected {SEP_TEXT}input{SEP_TEXT}response{SEP_TEXT}, "
                         f"found {text.count(SEP_TEXT)} {SEP_TEXT}")
    _, inp, reply, _ = text.split(SEP_TEXT)
    inp, reply = inp.strip().lower(), reply.strip().lower()
    for what, part in (("input", inp), ("response", reply)):
        if not part:
            raise ValueError(f"empty {what}")
        bad = sorted({ch for ch in part if ch not in BASE_CHARS})
        if bad:
            shown = " ".join(repr(ch) for ch in bad)
            raise ValueError(f"characters outside the alphabet in the {what}: {shown} "
                             f"(allowed: a-z, space and . ' ! ? , ; : -)")
    if len(inp) > config.max_input_chars:
        raise ValueError(f"too long for the context: input has {len(inp)} characters, "
                         f"a typed line holds {config.max_input_chars}")
    return inp, reply


def parse_corpus(text: str, name: str, config: ModelConfig = ModelConfig()) -> Corpus:
    corpus = Corpus(name, [])
    seen = {}
    for number, raw in enumerate(clean_text(text).splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        try:
            inp, reply = parse_line(raw, config)
        except ValueError as e:
            corpus.problems.append(Problem(number, str(e)))
            continue
        if inp in seen:
            first = seen[inp]
            why = ("duplicate of line" if first.reply == reply
                   else "conflicting reply: the same input is answered differently on line")
            corpus.problems.append(Problem(number, f"{why} {first.line}"))
            continue
        seen[inp] = Exchange(number, inp, reply)
        corpus.exchanges.append(seen[inp])
    return corpus


@dataclass
class Fit:
    """How one exchange fits the context once tokenized: the figures `soul train --check` prints."""
    exchange: Exchange
    input_tokens: int
    reply_tokens: int
    context: int
    problem: str = None     # why it is dropped (None: it fits)
    advice: str = ""        # what to shorten

    @property
    def total(self) -> int:
        return self.input_tokens + self.reply_tokens + 3     # three <SEP>

    def __str__(self):
        figures = (f"{self.total}/{self.context} tokens (input {self.input_tokens} + reply "
                   f"{self.reply_tokens} + 3 <SEP>)")
        if self.problem is None:
            return f"line {self.exchange.line}: {figures}"
        return f"line {self.exchange.line}: {figures}: {self.problem}; {self.advice}"


def about_chars(text: str, tokens: int, cut: int) -> int:
    """Characters of `text` that hold about `cut` of its `tokens` tokens."""
    return max(cut, -(-cut * len(text) // max(1, tokens)))


def fit_exchange(ex: Exchange, tok, config: ModelConfig) -> Fit:
    n_in, n_out = len(tok.encode(ex.input)), len(tok.encode(ex.reply))
    fit = Fit(ex, n_in, n_out, config.context)
    if n_in > config.max_input_tokens:
        cut = n_in - config.max_input_tokens
        fit.problem = f"input is {n_in} tokens, a prompt holds {config.max_input_tokens}"
        fit.advice = f"shorten the input by {cut} tokens (about {about_chars(ex.input, n_in, cut)} characters)"
    elif fit.total > config.context:
        cut = fit.total - config.context
        fit.problem = f"{fit.total} tokens with the 3 <SEP>, the context holds {config.context}"
        fit.advice = (f"shorten the reply by {cut} tokens (about {about_chars(ex.reply, n_out, cut)} "
                      f"characters) or the input by as many")
    elif fit_input(ex.input, tok, config) != ex.input:
        fit.problem = "chat would cut this input (a shorter start of it is already too many tokens)"
        fit.advice = "shorten the input by a word"
    return fit


def check_lengths(corpus: Corpus, tok, config: ModelConfig) -> Corpus:
    """Drop exchanges that do not fit the context once tokenized (framing included)."""
    kept = []
    for ex in corpus.exchanges:
        fit = fit_exchange(ex, tok, config)
        if fit.problem is None:
            kept.append(ex)
        else:
            corpus.problems.append(Problem(ex.line, f"too long for the context: {fit.problem}; {fit.advice}"))
    corpus.exchanges = kept
    corpus.problems.sort(key=lambda p: p.line)
    return corpus


def check_report(corpus: Corpus, tok, config: ModelConfig) -> list:
    """`soul train --check`: one line per corpus line (fits, too long and what to shorten, or why
    it is skipped), in file order; the corpus itself is left as parsed."""
    rows = [(f.exchange.line, str(f)) for f in (fit_exchange(ex, tok, config) for ex in corpus.exchanges)]
    rows += [(p.line, f"line {p.line}: skipped: {p.reason}") for p in corpus.problems]
    return [text for _, text in sorted(rows)]


def require_usable(corpus: Corpus) -> Corpus:
    if not corpus.exchanges:
        detail = f" (first problem: {corpus.problems[0]})" if corpus.problems else ""
        raise SoulError(f"{corpus.name}: no usable exchange{detail}")
    return corpus


def read_corpus(path, config: ModelConfig = ModelConfig()) -> Corpus:
    """Parse a corpus file (None = the built-in default). Lengths are checked after BPE."""
    path = Path(path) if path is not None else DEFAULT_CORPUS
    return require_usable(parse_corpus(read_text(path), str(path), config))
