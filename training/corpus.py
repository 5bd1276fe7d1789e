"""Corpus files: one exchange per line, `<SEP>input<SEP>response<SEP>`.

Blank lines and lines starting with `#` are ignored. Text is lowercased;
any other character outside the 35 of the alphabet makes the line bad.
Every bad line is reported with its number and reason and skipped; a corpus
with no usable line is an error.
"""
from dataclasses import dataclass, field
from pathlib import Path

from soulplayer.config import ModelConfig
from soulplayer.errors import SoulError
from soulplayer.paths import DEFAULT_CORPUS  # noqa: F401 (the built-in corpus)
from soulplayer.tokenizer import BASE_CHARS

SEP_TEXT = "<SEP>"


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
        return f"{self.name}: {len(self.exchanges)} exchanges kept, {len(self.problems)} lines skipped"


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
    for number, raw in enumerate(text.splitlines(), 1):
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


def check_lengths(corpus: Corpus, tok, config: ModelConfig) -> Corpus:
    """Drop exchanges that do not fit the context once tokenized (framing included)."""
    kept = []
    for ex in corpus.exchanges:
        n_in, n_out = len(tok.encode(ex.input)), len(tok.encode(ex.reply))
        total = n_in + n_out + 3
        if n_in > config.max_input_tokens:
            corpus.problems.append(Problem(ex.line, f"too long for the context: input is {n_in} tokens, "
                                                    f"a prompt holds {config.max_input_tokens}"))
        elif total > config.context:
            corpus.problems.append(Problem(ex.line, f"too long for the context: {total} tokens with the "
                                                    f"3 <SEP>, the context holds {config.context}"))
        else:
            kept.append(ex)
    corpus.exchanges = kept
    corpus.problems.sort(key=lambda p: p.line)
    return corpus


def require_usable(corpus: Corpus) -> Corpus:
    if not corpus.exchanges:
        detail = f" (first problem: {corpus.problems[0]})" if corpus.problems else ""
        raise SoulError(f"{corpus.name}: no usable exchange{detail}")
    return corpus


def read_corpus(path, config: ModelConfig = ModelConfig()) -> Corpus:
    """Parse a corpus file (None = the built-in default). Lengths are checked after BPE."""
    path = Path(path) if path is not None else DEFAULT_CORPUS
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as e:
        raise SoulError(f"{path}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError as e:
        line = path.read_bytes()[:e.start].count(b"\n") + 1
        raise SoulError(f"{path}: line {line}: not UTF-8 text") from None
    return require_usable(parse_corpus(text, str(path), config))
