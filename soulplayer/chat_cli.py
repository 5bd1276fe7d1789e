"""`soul chat`'s conversation: the terminal loop and the scripted mode.

Interactive (stdin a terminal): `YOU> ` with readline editing and history,
the reply after the soul's name as the C64 prints it (`SOUL> `). Scripted
(stdin not a terminal): one reply per input line on stdout, nothing else there.
Either way each line is first fitted as the C64's line editor fits it
(chat.fit_input); when that changed the line, what the soul heard is shown
(on stderr in scripted mode). A line that is `q` with only spaces around it
quits, as on the C64; so does the end of input.

Engines: `ref` decodes with the integer reference here; `vice` types the lines
into the real C64 program in headless VICE and reads the replies off its
screen (soulplayer.tools.vice_chat).
"""
from __future__ import annotations

import sys

import click

from .chat import QUIT_LINE, fit_input, generate, prompt_ids
from .paths import default_name, load_pair
from .replies import CORPUS, load_reply_mode
from .sampling import Sampler


def is_quit(line: str) -> bool:
    """`q` alone, spaces around it allowed (the C64's rule too)."""
    return line.strip(" ") == QUIT_LINE


def heard_note(raw: str, line: str) -> str | None:
    """What the soul heard, when the input rule changed more than the case."""
    return None if line == raw.lower() else f'(heard: "{line}")'


class Conversation:
    """The replies of one engine, line by line (the sampler's state carries over)."""

    def __init__(self, soul_path, tokenizer_path, temperature, seed, name, engine, mode=None, replies_path=None):
        self.soul, self.tok = load_pair(soul_path, tokenizer_path)
        self.sampler = Sampler(temperature, seed)       # temperature 0: greedy choose_next
        self.replies = load_reply_mode(soul_path, self.tok, mode, replies_path)
        self.trie = self.replies.trie if self.replies.mode == CORPUS else None
        self.soul_path, self.tokenizer_path = soul_path, tokenizer_path
        self.replies_path = replies_path
        self.temperature, self.seed, self.name, self.engine = temperature, seed, name, engine
        self.history = []                               # lines answered so far (vice replays them)

    def fit(self, raw: str) -> str:
        return fit_input(raw, self.tok, self.soul.config)

    def stream(self, line):
        """Yield the reply's pieces of text for a fitted, non-empty line."""
        if self.engine == "vice":
            yield self.replies_vice([line])[0]
            return
        ids = prompt_ids(line, self.tok, self.soul.config)     # (line is fitted already)
        for token in generate(self.soul, ids, self.sampler.choose, self.trie):
            yield self.tok.token_text(token)

    def replies_vice(self, lines):
        """The C64 program's replies to `lines`, after the ones already answered
        (one VICE session types them all, so sampling continues exactly)."""
        from .tools.vice_chat import chat_replies
        replies = chat_replies(self.soul_path, self.tokenizer_path, self.history + lines, name=self.name,
                               temperature=self.temperature, seed=self.seed,
                               mode=self.replies.mode, replies_path=self.replies_path)
        self.history += lines
        return replies[-len(lines):]


def scripted(conv: Conversation, stream=None) -> None:
    """One line out per line in (empty when the fitted line is empty). The
    reference answers each line as it arrives; VICE types them all in one session."""
    fitted = []
    for number, raw in enumerate(stream or sys.stdin, 1):
        raw = raw.rstrip("\r\n")
        line = conv.fit(raw)
        if is_quit(line):
            break
        note = heard_note(raw, line)
        if note and line:
            click.echo(f"soul chat: line {number}: {note}", err=True)
        if conv.engine == "vice":
            fitted.append(line)
        else:
            click.echo("".join(conv.stream(line)) if line else "")   # empty: no reply, as on the C64
    asked = [l for l in fitted if l]
    replies = iter(conv.replies_vice(asked) if asked else [])
    for line in fitted:
        click.echo(next(replies) if line else "")


def _line_editing() -> None:
    """input() gets GNU readline's editing and history (arrows, Ctrl-R) once
    the module is imported; without it arrows would arrive as escape bytes."""
    try:
        import readline  # noqa: F401
    except ImportError:      # Python built without readline: plain input()
        pass


def interactive(conv: Conversation) -> None:
    _line_editing()
    click.echo(f"soulplayer chat with {conv.name} ({conv.replies.mode} replies): type a line; q alone quits"
               + (" (each reply runs the C64 program in VICE)." if conv.engine == "vice" else "."))
    while True:
        try:
            raw = input("YOU> ")
        except (EOFError, KeyboardInterrupt):
            click.echo()
            return
        line = conv.fit(raw)
        if is_quit(line):
            return
        note = heard_note(raw, line)
        if note:
            click.echo(note)
        if not line:
            continue
        click.echo(f"{conv.name}> ", nl=False)
        for piece in conv.stream(line):
            click.echo(piece, nl=False)
        click.echo()


def run_chat(soul_path, tokenizer_path=None, *, temperature=0.0, seed=1, name=None, engine="ref",
             mode=None, replies_path=None) -> None:
    from .gen.tokenizer_inc import check_name
    name = check_name(name or default_name(soul_path))
    conv = Conversation(soul_path, tokenizer_path, temperature, seed, name, engine, mode, replies_path)
    if sys.stdin.isatty():
        interactive(conv)
    else:
        scripted(conv)
