"""The web page (`make web`): the floppy's program on the 6502.ts core.

- web/test/host.test.mjs (node --test): the host layer alone: banking, the
  CHROUT screen editor, GETIN, the IRQ through CINV, a missing ROM routine;
- in Node: the page's machine (web/src/c64.js) runs the built program to its
  YOU> prompt, then its engine_step for token sequences; every logit after
  every step equals the integer reference (numerics.Decoder);
- the 6502.ts core counts cycles as VICE does: the engine driver PRG with the
  CIA interrupt masked and the screen blanked (so VICE's clock counts CPU
  cycles only) takes the same cycles per engine_step in both;
- in headless Chromium (Debian's, driven over the DevTools protocol): the
  page built into a folder and served on 127.0.0.1 types its ?say= lines;
  each YOU> line is the fitted input and each reply is what `soul chat`
  prints; the page asks for nothing outside its folder and throws nothing.
"""
import functools
import http.server
import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest

from conftest import run_soul
from soulplayer.chat import STOP_TOKENS, fit_input, generate, prompt_ids
from soulplayer.numerics import Decoder
from soulplayer.soulfile import load_soul
from soulplayer.tokenizer import Tokenizer
from soulplayer.tools import engine_vice, vice
from soulplayer.paths import default_name
from soulplayer.tools.commands_program import build_program

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "web"
SOUL = ROOT / "models" / "soul.bin"
TOKENIZER = ROOT / "models" / "tokenizer.json"
CHARGEN = Path("/usr/share/open-roms/C64/chargen")
# the last is cut by the input rule: the C64's line editor refuses its tail
PROMPTS = ("hello", "How are you?", "tell me a very long story about the commodore sixty four please")


def _node(*args, timeout=120) -> str:
    node = shutil.which("node")
    assert node, "node not found: run make sys (tools/bootstrap.sh installs nodejs)"
    p = subprocess.run([node, *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout


def _npm_ci():
    """web/node_modules from the lockfile (what make web-deps does), once."""
    stamp = WEB / "node_modules" / ".package-lock.json"
    if stamp.exists() and stamp.stat().st_mtime >= (WEB / "package-lock.json").stat().st_mtime:
        return
    npm = shutil.which("npm")
    assert npm, "npm not found: run make sys (tools/bootstrap.sh installs npm)"
    subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=WEB, check=True, capture_output=True)


@pytest.fixture(scope="module")
def web_build(tmp_path_factory):
    """The default soul's program and the page folder built from it (as make web)."""
    _npm_ci()
    out = tmp_path_factory.mktemp("web")
    art = build_program(SOUL, TOKENIZER, out / "build")
    _node(WEB / "build.mjs", "--prg", art.prg, "--lbl", art.lbl, "--chargen", CHARGEN,
          "--stop-ids", ",".join(map(str, STOP_TOKENS)), "--out", out / "web")
    return art, out / "web"


def test_host_layer_node_tests():
    _npm_ci()
    out = _node("--test", WEB / "test" / "host.test.mjs")
    assert "# fail 0" in out and "# pass 0" not in out


@pytest.fixture(scope="module")
def soul_pair():
    return load_soul(SOUL), Tokenizer.load(TOKENIZER)


def test_page_machine_runs_the_engine_bit_exact(web_build, soul_pair):
    art, _ = web_build
    soul, tok = soul_pair
    cfg = soul.config
    prompt = prompt_ids("hello", tok, cfg)
    chat_seq = prompt + list(generate(soul, prompt))[:-1]          # a conversation, teacher-forced
    rng = np.random.default_rng(11)
    full = [int(i) for i in rng.integers(0, cfg.vocab_size, cfg.context)]   # every id allowed, whole context
    seqs = [chat_seq, full]
    out = json.loads(_node(WEB / "test" / "engine_logits.mjs", art.prg, art.lbl, cfg.vocab_size,
                           *(",".join(map(str, s)) for s in seqs)))
    for seq, got in zip(seqs, out["logits"]):
        dec = Decoder(soul)
        want = [dec.step(t).tolist() for t in seq]
        assert len(got) == len(seq)
        for pos, (g, w) in enumerate(zip(got, want)):
            assert g == w, f"sequence {seq}: logits differ at position {pos + 1}"


# $DC0D = $7F masks every CIA 1 interrupt; $D011 = $0B blanks the screen (no
# badlines from the next frame on), so cycles are the CPU's own
QUIET_POKES = ((0xDC0D, b"\x7f"), (0xD011, b"\x0b"))


def _step_cycles(events) -> list:
    """[(label, cycles)] -> cycles of each engine_step .. engine_step_done."""
    out, start = [], None
    for label, cycles in events:
        if label == "engine_step":
            start = cycles
        elif label == "engine_step_done" and start is not None:
            out.append(cycles - start)
    return out


def test_page_core_counts_cycles_as_vice(soul_pair):
    soul, _ = soul_pair
    eb = engine_vice.cached_engine(soul)
    labels = eb.art.labels
    # the first case's one step absorbs the rest of the frame the screen was
    # blanked in; the second is compared
    cases = [([1], [False]), ([1, 49, 16], [False] * 3)]
    table = engine_vice.case_table(cases)
    pokes = [(labels["drv_table"], table), *QUIET_POKES]
    profile = ["engine_step", "engine_step_done"]
    r = vice.run_checked(eb.art.prg, labels=labels, done="drv_done", pokes=pokes, profile=profile,
                         limit_cycles=engine_vice.CYCLES_PER_STEP_LIMIT * 4)
    in_vice = _step_cycles([(e.label, e.cycles) for e in r.events])[1:]
    poke_arg = ",".join(f"{addr:04x}={bytes(data).hex()}" for addr, data in pokes)
    page = json.loads(_node(WEB / "test" / "engine_cycles.mjs", eb.art.prg, eb.art.lbl, "drv_done",
                            poke_arg, ",".join(profile)))
    assert page["done"] and page["halted"] is None
    in_page = _step_cycles(page["events"])[1:]
    assert len(in_vice) == 3 and min(in_vice) > 500_000       # whole engine steps were timed
    assert in_page == in_vice


def _serve(folder):
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _exchanges(transcript: str, name: str) -> list:
    """[(typed line, reply)] from the transcript's YOU>/NAME> line pairs."""
    lines = transcript.split("\n")
    pairs = []
    for i, line in enumerate(lines[:-1]):
        if line.startswith("YOU> ") and lines[i + 1].startswith(f"{name}>"):
            pairs.append((line[len("YOU> "):], lines[i + 1][len(name) + 1:].strip()))
    return pairs


def test_page_says_what_soul_chat_says(web_build, soul_pair):
    _, folder = web_build
    soul, tok = soul_pair
    chat = run_soul("chat", "--soul", SOUL, "--tokenizer", TOKENIZER, stdin="\n".join(PROMPTS) + "\n")
    assert chat.returncode == 0, chat.stderr
    want_replies = chat.stdout.splitlines()
    assert len(want_replies) == len(PROMPTS)

    server = _serve(folder)
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        url = base + "index.html?" + "&".join("say=" + quote(p) for p in PROMPTS)
        page = json.loads(_node(WEB / "test" / "browser.mjs", url, "--timeout", 90, timeout=150))
    finally:
        server.shutdown()
    assert page["errors"] == []
    assert page["state"]["halted"] is None
    got = _exchanges(page["transcript"], default_name(SOUL))
    # a screen line shows no trailing spaces: the fitted line without them
    assert got == [(fit_input(p, tok, soul.config).rstrip(), r) for p, r in zip(PROMPTS, want_replies)]
    assert page["requests"] and all(u.startswith(base) for u in page["requests"]), page["requests"]
