"""Decoding, shared by `soul chat`, the trainer's scoring and (in 6502) the C64.

Input rule: the text is normalized (lowercase, characters outside the 35 dropped),
then taken one character at a time until the first character that does not fit:
one that would make the line longer than `max_input_chars` or encode to more than
`max_input_tokens` tokens. It and everything after it are dropped. The C64 applies
the same rule while the line is typed: once a key is refused the line is full and
refuses every further character until DEL shortens it.
"""
import numpy as np

from .config import END, PAD, SEP, UNK, ModelConfig
from .numerics import Decoder
from .tokenizer import Tokenizer, normalize

NEVER_CHOSEN = (PAD, UNK)
QUIT_LINE = "q"          # a fitted line of just this quits (chat and the C64)
STOP_TOKENS = (SEP, END)


def fit_input(text: str, tok: Tokenizer, config: ModelConfig) -> str:
    line = ""
    for ch in normalize(text):
        longer = line + ch
        if len(longer) > config.max_input_chars or len(tok.encode(longer)) > config.max_input_tokens:
            break
        line = longer
    return line


def prompt_ids(text: str, tok: Tokenizer, config: ModelConfig) -> list:
    return [SEP] + tok.encode(fit_input(text, tok, config)) + [SEP]


def choose_next(logits) -> int:
    """Greedy: the first maximum over every id except PAD and UNK."""
    masked = np.array(logits, dtype=np.int64)
    masked[list(NEVER_CHOSEN)] = np.iinfo(np.int64).min
    return int(np.argmax(masked))  # argmax returns the first maximum


def generate(soul, ids, choose=choose_next):
    """Feed the prompt ids, then yield reply tokens until SEP/END or a full context.

    The stop token, when chosen, is yielded too (it prints as nothing)."""
    decoder = Decoder(soul)
    for t in ids:
        logits = decoder.step(t)
    length = len(ids)
    while length < soul.config.context:
        token = choose(logits)
        yield token
        length += 1
        if token in STOP_TOKENS or length == soul.config.context:
            return
        logits = decoder.step(token)


def reply_ids(soul, tok: Tokenizer, text: str, choose=choose_next) -> list:
    return list(generate(soul, prompt_ids(text, tok, soul.config), choose))


def reply_text(soul, tok: Tokenizer, text: str, choose=choose_next) -> str:
    return tok.decode(reply_ids(soul, tok, text, choose))
