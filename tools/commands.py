"""`soul bench`: cycles per token of the 6502 engine, measured in x64sc, and
the whole program's reply time for one typed line.

One VICE session (x64sc: cycle exact, PAL, screen on, so VIC-II DMA is
included) feeds a CONTEXT-token sequence through engine_step; the monitor
stops at every kernel entry and at engine_step's start and end, and the
stopwatch readings there give each position's cycles and each kernel's share
(the time from a kernel's entry to the next stop; the glue code of
engine_step between kernels counts as "engine").
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from soulplayer.paths import DEFAULT_SOUL
from soulplayer.errors import SoulError
from soulplayer.replies import FREE

KERNELS = ("embed", "rmsnorm_s", "mm_sweep", "mm_finish", "attn_store_kv", "attention_head",
           "residual_add")
BENCH_TOKENS_SEED = 20240


def bench_ids(config) -> list:
    """A fixed, ordinary-looking sequence: SEP, some ids >= 4, SEP, ... (full context)."""
    ids = [1]
    x = BENCH_TOKENS_SEED
    while len(ids) < config.context:
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        ids.append(4 + x % (config.vocab_size - 4))
    ids[min(8, config.context - 1)] = 1
    return ids


def measure(soul, out_dir, emulator="x64sc") -> dict:
    """Per-position cycles and per-kernel shares for `soul` (see module doc)."""
    from . import engine_vice, vice
    eb = engine_vice.build_engine(soul, Path(out_dir) / "bench-engine")
    ids = bench_ids(soul.config)
    labels = eb.art.labels
    table = engine_vice.case_table([(ids, [False] * len(ids))])
    r = vice.run_checked(eb.art.prg, labels=labels, done="drv_done",
                         pokes=[(labels["drv_table"], table)],
                         profile=["engine_step", "engine_step_done", *KERNELS],
                         limit_cycles=engine_vice.CYCLES_PER_STEP_LIMIT * len(ids),
                         emulator=emulator, timeout=600)
    positions = []
    cur = None
    for ev, nxt in zip(r.events, r.events[1:] + [None]):
        if ev.label == "engine_step":
            cur = {"position": len(positions) + 1, "token": ids[len(positions)], "start": ev.cycles,
                   "kernels": {}}
            last_label, last_cyc = "engine", ev.cycles
            continue
        if cur is None:
            continue
        cur["kernels"][last_label] = cur["kernels"].get(last_label, 0) + ev.cycles - last_cyc
        last_label, last_cyc = ev.label, ev.cycles
        if ev.label == "engine_step_done":
            cur["cycles"] = ev.cycles - cur.pop("start")
            positions.append(cur)
            cur = None
    if len(positions) != len(ids):
        raise SoulError(f"bench: measured {len(positions)} of {len(ids)} positions")
    total = sum(p["cycles"] for p in positions)
    shares = {}
    for p in positions:
        for k, v in p["kernels"].items():
            shares[k] = shares.get(k, 0) + v
    return {
        "emulator": emulator,
        "video": "PAL, screen on (VIC-II DMA included)",
        "ids": ids,
        "positions": positions,
        "mean_cycles": total / len(positions),
        "max_cycles": max(p["cycles"] for p in positions),
        "kernel_share": {k: v / total for k, v in sorted(shares.items(), key=lambda kv: -kv[1])},
    }


PAL_HZ = 985248
REPLY_CYCLES_LIMIT = 600_000_000


def measure_reply(soul_path, tokenizer_path, text, out_dir, mode, emulator="x64sc") -> dict:
    """The whole chat program in x64sc, started in reply `mode`: `text` typed
    at the prompt; cycles from engine_reset (RETURN taken, line encoded) to each
    soul_token and to the next soul_input (the new YOU> prompt)."""
    from . import vice
    from .commands_program import build_program
    art = build_program(soul_path, tokenizer_path, Path(out_dir) / "bench-program", mode=mode)
    r = vice.run_checked(art.prg, labels=art.labels, done="soul_input", done_hit=2,
                         profile=["engine_reset", "soul_token"], keybuf=text + "\n",
                         limit_cycles=REPLY_CYCLES_LIMIT, emulator=emulator, timeout=600)
    start = next(e.cycles for e in r.events if e.label == "engine_reset")
    tokens = [e.cycles - start for e in r.events if e.label == "soul_token"]
    gaps = [b - a for a, b in zip(tokens, tokens[1:])]
    return {"text": text, "mode": mode, "tokens": len(tokens), "first_token_cycles": tokens[0],
            "mean_cycles_between_tokens": sum(gaps) / len(gaps) if gaps else None,
            "reply_cycles": r.cycles - start, "reply_seconds_pal": (r.cycles - start) / PAL_HZ}


def format_reply(rep: dict) -> str:
    between = rep["mean_cycles_between_tokens"]
    return (f"reply to {rep['text']!r} ({rep['mode']} mode): {rep['tokens']} tokens (the stop token included), "
            f"{rep['reply_seconds_pal']:.1f} s from RETURN to the next YOU> on a PAL C64; "
            f"first token after {rep['first_token_cycles'] / PAL_HZ:.1f} s"
            + (f", then {between / PAL_HZ:.2f} s per token" if between else ""))


def format_table(res: dict) -> str:
    kern = list(res["kernel_share"])
    width = {k: max(10, len(k)) for k in kern}
    lines = [f"{'pos':>3} {'cycles':>10}  " + " ".join(f"{k:>{width[k]}}" for k in kern)]
    for p in res["positions"]:
        lines.append(f"{p['position']:>3} {p['cycles']:>10,}  "
                     + " ".join(f"{p['kernels'].get(k, 0):>{width[k]},}" for k in kern))
    lines.append(f"mean {res['mean_cycles']:,.0f} cycles per token ({res['mean_cycles'] / PAL_HZ:.2f} s "
                 f"on a PAL C64); max {res['max_cycles']:,}")
    lines.append("share: " + ", ".join(f"{k} {v:.1%}" for k, v in res["kernel_share"].items()))
    return "\n".join(lines)


@click.command()
@click.option("--soul", "soul_path", type=click.Path(dir_okay=False), default=str(DEFAULT_SOUL),
              show_default=True, help="soul.bin to benchmark")
@click.option("--tokenizer", "tokenizer_path", type=click.Path(dir_okay=False), default=None,
              help="its tokenizer.json, for the whole-program reply timing [default: beside the soul]")
@click.option("--reply", "reply_text", default="hello", show_default=True,
              help="time the whole program's reply to this line ('' to skip)")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default="build/bench.json",
              show_default=True, help="where the JSON results go")
@click.option("--emulator", type=click.Choice(["x64sc", "x64"]), default="x64sc", show_default=True)
def bench(soul_path, tokenizer_path, reply_text, out_path, emulator):
    """Cycles per token of the 6502 engine at every context position (VICE)."""
    from soulplayer.fileio import atomic_write_text
    from soulplayer.paths import load_pair
    from soulplayer.replies import load_reply_mode
    from soulplayer.soulfile import load_soul
    # check both files (and the replies) before a minute of measuring
    if reply_text:
        soul, tok = load_pair(soul_path, tokenizer_path)
        default_mode = load_reply_mode(soul_path, tok).mode
    else:
        soul = load_soul(soul_path)
    out_path = Path(out_path)
    res = measure(soul, out_path.parent, emulator)
    res["soul"] = str(soul_path)
    if reply_text:
        # the soul's default reply mode, and free mode (every token's logits) too
        modes = {"reply": default_mode} | ({"reply_free": FREE} if default_mode != FREE else {})
        for key, mode in modes.items():
            res[key] = measure_reply(soul_path, tokenizer_path, reply_text, out_path.parent, mode, emulator)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_path, json.dumps(res, indent=1) + "\n")
    click.echo(format_table(res))
    for key in ("reply", "reply_free"):
        if key in res:
            click.echo(format_reply(res[key]))
    click.echo(f"wrote {out_path}")
