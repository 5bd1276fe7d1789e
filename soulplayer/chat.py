"""Decoding, shared by `soul chat`, the trainer's scoring and (in 6502) the C64.

Input rule: the text is normalized (lowercase, characters outside the 35 dropped),
then taken one character at a time until the first character that does not fit:
one that would make the line longer than `max_input_chars` or encode to more than
`max_input_tokens` tokens. It and everything after it are dropped. The C64 applies
the same rule while the line is typed: once a key is refused the line is full and
refuses every further character until DEL shortens it.

Reply modes (soulplayer.replies): `generate` takes the reply trie in corpus
mode; each step then offers `choose` only the tokens that continue some corpus
reply (`allowed`), and free mode (no trie) offers every id but PAD and UNK.
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


def choose_next(logits, allowed=None) -> int:
    """Greedy: the first maximum over `allowed` ids (None: every id except PAD
    and UNK)."""
    logits = np.asarray(logits, dtype=np.int64)
    masked = np.full(len(logits), np.iinfo(np.int64).min, dtype=np.int64)
    if allowed is None:
        masked[:] = logits
        masked[list(NEVER_CHOSEN)] = np.iinfo(np.int64).min
    else:
        idx = np.asarray(allowed, dtype=np.int64)
        masked[idx] = logits[idx]
    return int(np.argmax(masked))  # argmax returns the first maximum


def generate(soul, ids, choose=choose_next, trie=None):
    """Feed the prompt ids, then yield reply tokens until SEP/END or a full context.

    With a ReplyTrie (corpus mode) each choice is `choose(logits, allowed)` over
    the tokens that continue a corpus reply; a node with one such token takes it
    without asking `choose` (no logits read, no sampler draw: the C64 skips the
    output layer there, and runs no step at all once one reply is left). Without
    a trie, `choose(logits)`. The stop token, when chosen, is yielded too (it
    prints as nothing)."""
    decoder = Decoder(soul)
    for t in ids:
        logits = decoder.step(t)
    length = len(ids)
    node = trie.root if trie is not None else None
    while length < soul.config.context:
        if trie is None:
            token = choose(logits)
        else:
            allowed = trie.allowed(node)
            token = allowed[0] if len(allowed) == 1 else choose(logits, allowed)
            node = trie.follow(node, token)
        yield token
        length += 1
        if token in STOP_TOKENS or length == soul.config.context:
            return
        logits = decoder.step(token)


def reply_ids(soul, tok: Tokenizer, text: str, choose=choose_next, trie=None) -> list:
    return list(generate(soul, prompt_ids(text, tok, soul.config), choose, trie))


def reply_text(soul, tok: Tokenizer, text: str, choose=choose_next, trie=None) -> str:
    return tok.decode(reply_ids(soul, tok, text, choose, trie))
