"""Chat with the real C64 program in headless VICE (`soul chat --engine vice`).

    chat_replies(soul_path, tokenizer_path, ["hello", "how are you"]) -> [reply, reply]

One VICE session (x64, open-roms) autostarts the chat program built for the
soul (cached in build/vice-chat/<hash>/), types every line with -keybuf (F1,
temperature and seed first when sampling), and each time the program waits
for a line again (`soul_input`) dumps the screen RAM at $0400. The reply is
read off that screen: the text after `NAME> ` up to the new `YOU> `. The
monitor also stops at `soul_token` (the chosen id in A) for every token, so
trailing spaces, which a screen cannot show, come out exact; the two must
agree, or it is an error.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from soulplayer.errors import SoulError
from soulplayer.paths import BUILD_DIR, default_name, load_pair
from soulplayer.replies import replies_beside

from . import build, vice

SCREEN, SCREEN_END = 0x0400, 0x07E7
COLS, ROWS = 40, 25
PET_F1 = "\\x85"                      # -keybuf escape for F1
PROMPT = "YOU> "
BOOT_LIMIT_CYCLES = 10_000_000
LINE_LIMIT_CYCLES = 60_000_000        # typing a line and a full-context reply, with room
SECONDS_PER_LINE = 10
_STOP_RE = re.compile(r"^#(\d+) \(Stop on\s+exec ([0-9a-fA-F]{4})\)")
_REG_A_RE = re.compile(r"^\.C:[0-9a-fA-F]{4} .*\bA:([0-9a-fA-F]{2})\b")


def screen_text(screen: bytes) -> list:
    """Screen codes (lower/upper case charset) -> 25 strings of 40 characters.

    Lowercase letters read as a-z, the upper case ones (the soul's name) as
    A-Z, space, digits and punctuation as themselves, anything else as '~'."""
    chars = []
    for code in screen:
        c = code & 0x7F                      # reversed (the cursor) reads as plain
        if c == 0:
            chars.append("@")
        elif 1 <= c <= 26:
            chars.append(chr(ord("a") + c - 1))
        elif 0x41 <= c <= 0x5A or 0x20 <= c <= 0x3F:
            chars.append(chr(c))
        else:
            chars.append("~")
    text = "".join(chars)
    return [text[r * COLS:(r + 1) * COLS] for r in range(ROWS)]


def exchange_rows(rows, name):
    """(prompt rows, reply rows) of the last finished exchange on the screen:
    the rows from the second-to-last `YOU> ` up to the last one, the prompt
    without `YOU> `, the reply without `NAME> `."""
    starts = [i for i, r in enumerate(rows) if r.startswith(PROMPT)]
    if len(starts) < 2:
        raise SoulError("VICE: no finished exchange on the C64 screen:\n" + "\n".join(rows))
    prompt_rows, reply_rows, in_reply = [], [], False
    for r in rows[starts[-2]:starts[-1]]:
        if r.startswith(f"{name}> "):
            in_reply = True
            r = r[len(name) + 2:]
        elif not in_reply and not prompt_rows:
            r = r[len(PROMPT):]
        (reply_rows if in_reply else prompt_rows).append(r)
    return prompt_rows, reply_rows


def last_exchange(rows, name):
    """(prompt, reply) of the last finished exchange, trailing spaces stripped."""
    prompt_rows, reply_rows = exchange_rows(rows, name)
    return "".join(prompt_rows).rstrip(), "".join(reply_rows).rstrip()


def _build_key(soul_path, tokenizer_path, name, mode, replies_path) -> str:
    h = hashlib.sha256()
    for f in (Path(soul_path), Path(tokenizer_path), Path(replies_path or replies_beside(soul_path))):
        h.update(f.read_bytes() if f.is_file() else b"-")
    h.update(f"{name}\0{mode}".encode())
    build.sources_digest(h)
    return h.hexdigest()[:16]


def cached_program(soul_path, tokenizer_path, name, build_root=None, mode=None, replies_path=None):
    """The chat program for the soul, built once into build/vice-chat/<hash>/."""
    from .commands_program import build_program
    key = _build_key(soul_path, tokenizer_path, name, mode, replies_path)
    out = Path(build_root or BUILD_DIR / "vice-chat") / key
    prg, lbl = out / "soulplayer.prg", out / "soulplayer.lbl"
    if prg.is_file() and lbl.is_file():
        return prg, vice.parse_labels(lbl)
    art = build_program(soul_path, tokenizer_path, out, name, mode=mode, replies_path=replies_path)
    return art.prg, art.labels


def keyboard_text(lines, tenths=0, seed=1, asks_mode=False) -> str:
    """What to type: F1 + temperature + seed when sampling (and RETURN to keep
    the reply mode on a disk with replies, which asks for it), then each line + RETURN."""
    keys = (f"{PET_F1}{tenths}\n{seed}\n" + ("\n" if asks_mode else "")) if tenths else ""
    return keys + "".join(line + "\n" for line in lines)


def chat_replies(soul_path, tokenizer_path, lines, *, name=None, temperature=0.0, seed=1,
                 mode=None, replies_path=None, emulator="x64", build_root=None, timeout=None) -> list:
    """The C64 program's reply to each line (fitted, non-empty lines, as the
    C64's line editor would hold them), typed one after another in one session."""
    from soulplayer.gen.tokenizer_inc import check_name
    from soulplayer.paths import tokenizer_beside
    from soulplayer.replies import load_reply_mode
    from soulplayer.sampling import Sampler

    tokenizer_path = Path(tokenizer_path) if tokenizer_path else tokenizer_beside(soul_path)
    soul, tok = load_pair(soul_path, tokenizer_path)
    name = check_name(name or default_name(soul_path))
    if not lines:
        return []
    if any(not line or line != line.lower() for line in lines):
        raise SoulError("chat_replies takes fitted, non-empty lines")
    tenths = Sampler(temperature, seed).tenths          # checks both as soul chat does
    on_disk = load_reply_mode(soul_path, tok, mode, replies_path).trie is not None   # F1 asks the mode
    prg, labels = cached_program(soul_path, tokenizer_path, name, build_root, mode, replies_path)
    first = 2 + (1 if tenths else 0)                   # soul_input hit after the first line
    hits = range(first, first + len(lines))
    cmds, input_stops = [], {}
    for n, hit in enumerate(hits, 1):                  # checkpoint n dumps the screen at `hit`
        last = n == len(lines)
        cmds += [f"break {labels['soul_input']:04x}", f"ignore +{n} +{hit - 1}",
                 f'command +{n} "bsave \\"s{n}.bin\\" 0 {SCREEN:04x} {SCREEN_END:04x} ; '
                 + ("quit" if last else f"delete +{n} ; x") + '"']
        input_stops[n] = n - 1
    token_stop = len(lines) + 1
    cmds += [f"break {labels['soul_token']:04x}", f'command +{token_stop} "x"']
    outputs = [f"s{n}.bin" for n in range(1, len(lines) + 1)]
    session = vice.launch(prg, cmds, outputs=outputs, keybuf=keyboard_text(lines, tenths, seed, on_disk),
                          emulator=emulator,
                          limit_cycles=vice.BOOT_CYCLES + BOOT_LIMIT_CYCLES + LINE_LIMIT_CYCLES * len(lines),
                          timeout=timeout or 60 + SECONDS_PER_LINE * len(lines), what="the chat program")
    missing = [f for f in outputs if f not in session.files]
    if missing:
        raise SoulError(f"VICE: the chat program answered {len(lines) - len(missing)} of {len(lines)} lines "
                        f"(exit code {session.exit_code})")
    tokens = _tokens_per_exchange(session.log, input_stops, token_stop, len(lines))
    replies = []
    for n, line in enumerate(lines):
        prompt_rows, reply_rows = exchange_rows(screen_text(session.files[f"s{n + 1}.bin"]), name)
        shown, on_screen = "".join(prompt_rows).rstrip(), "".join(reply_rows).rstrip()
        reply = tok.decode(tokens[n])
        if shown != line.rstrip() or on_screen != reply.rstrip():
            raise SoulError(f"VICE: line {n + 1}: the screen shows {shown!r} -> {on_screen!r}, "
                            f"but the program chose {reply!r} for {line!r}")
        if len(reply_rows) != reply_row_count(name, reply):
            raise SoulError(f"VICE: line {n + 1}: the reply {reply!r} takes {len(reply_rows)} screen rows, "
                            f"not {reply_row_count(name, reply)} (a blank row after it?)")
        replies.append(reply)
    return replies


def reply_row_count(name, reply) -> int:
    """Rows `NAME> reply` takes on the screen; the next prompt starts on the
    row after, even when the reply ends in the last column."""
    return max(1, -(-(len(name) + 2 + len(reply)) // COLS))


def _tokens_per_exchange(log: str, input_stops: dict, token_stop: int, n_lines: int) -> list:
    """The ids in A at each soul_token stop, grouped by the screen dump that
    followed them (exchange n ends at input checkpoint n + 1)."""
    groups, current, stop = [], [], None
    for line in log.splitlines():
        m = _STOP_RE.match(line)
        if m:
            stop = int(m.group(1))
            if stop in input_stops:
                groups.append(current)
                current, stop = [], None
            continue
        m = _REG_A_RE.match(line)
        if m and stop == token_stop:
            current.append(int(m.group(1), 16))
            stop = None
    if len(groups) != n_lines:
        raise SoulError(f"VICE: the monitor log shows {len(groups)} of {n_lines} replies")
    return groups
