"""`soul build` (the chat program -> PRG, d64, VICE labels, ld65 map) and
`soul flash` (the d64 -> a real 1541 through OpenCBM, verified)."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import click

from soulplayer.errors import SoulError
from soulplayer.fileio import atomic_write_text
from soulplayer.paths import DEFAULT_SOUL, default_name, load_pair
from soulplayer.replies import MODES

from . import build as asm_build
from .disk import write_d64

PRG_NAME = "soulplayer"
PROFILE_LABELS = ("soul_token", "soul_input")
_VICE_LABEL = re.compile(r"^al [0-9A-Fa-f]{6} \.[A-Za-z_][A-Za-z0-9_]*$")


def vice_label_text(lbl_text: str) -> str:
    """ld65's -Ln file as VICE reads it without complaint: drop names VICE
    cannot parse (ca65's macro-local symbols), and at the profiling labels'
    addresses keep only soul_token/soul_input so the monitor shows them."""
    lines = [l for l in lbl_text.splitlines() if _VICE_LABEL.match(l)]
    keep = {l.split()[1] for l in lines if l.split()[2][1:] in PROFILE_LABELS}
    lines = [l for l in lines if l.split()[1] not in keep or l.split()[2][1:] in PROFILE_LABELS]
    return "\n".join(lines) + "\n"


def build_program(soul_path, tokenizer_path, out_dir, name=None, mode=None, replies_path=None):
    """Render, assemble and link the chat program for a soul; write the d64.

    The soul's replies (replies_path, default: replies.txt beside the soul)
    go on the disk as the reply trie when there are any; `mode` is the reply
    mode the program starts in (soulplayer.replies.load_reply_mode).
    Returns the build.Artifacts of build/soulplayer.prg (+ .lbl, .map, .dbg)."""
    from soulplayer.gen.weights import generate as generate_engine_incs
    from soulplayer.gen.tokenizer_inc import check_name, render_program_inc
    from soulplayer.gen.replies_inc import render_replies_inc
    from soulplayer.replies import load_reply_mode

    soul, tok = load_pair(soul_path, tokenizer_path)
    name = check_name(name or default_name(soul_path))
    out_dir = Path(out_dir)
    gen_dir = out_dir / "gen"
    generate_engine_incs(soul, gen_dir, name.lower())
    const, data = render_program_inc(tok, soul.config, name)
    atomic_write_text(gen_dir / "program_const.inc", const)
    atomic_write_text(gen_dir / "program_data.inc", data)
    replies = load_reply_mode(soul_path, tok, mode, replies_path)
    const, data = render_replies_inc(replies.trie, replies.mode)
    atomic_write_text(gen_dir / "replies.inc", const)
    atomic_write_text(gen_dir / "replies_data.inc", data)
    sources = asm_build.program_sources(soul.config)
    art = asm_build.build_prg(sources, out_dir / "obj", PRG_NAME, include_dirs=[gen_dir])
    asm_build.check_load_image(asm_build.memory_budget(art.map))   # BASIC works after LOAD
    for src in (art.prg, art.map, art.dbg):
        src.replace(out_dir / src.name)
    atomic_write_text(out_dir / art.lbl.name, vice_label_text(art.lbl.read_text()))
    art = asm_build.Artifacts(*(out_dir / p.name for p in (art.prg, art.lbl, art.map, art.dbg)),
                              art.labels)
    write_d64(art.prg, out_dir / f"{PRG_NAME}.d64")
    return art


@click.command()
@click.option("--soul", "soul_path", type=click.Path(dir_okay=False), default=str(DEFAULT_SOUL),
              show_default=True, help="soul.bin to put on the disk")
@click.option("--tokenizer", "tokenizer_path", type=click.Path(dir_okay=False), default=None,
              help="its tokenizer.json  [default: tokenizer.json beside the soul]")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="build", show_default=True,
              help="output folder")
@click.option("--name", default=None, help="the soul's name on the C64 screen (default: from the file name)")
@click.option("--mode", type=click.Choice(MODES), default=None,
              help="the reply mode the C64 starts in (F1 changes it): free or corpus; "
                   "default: corpus when the soul has its replies file, else free")
@click.option("--replies", "replies_path", type=click.Path(dir_okay=False), default=None,
              help="the corpus replies for the disk  [default: replies.txt beside the soul]")
def build(soul_path, tokenizer_path, out_dir, name, mode, replies_path):
    """Build the C64 program: soulplayer.prg, .d64 (file SOULPLAYER), .lbl, .map."""
    art = build_program(soul_path, tokenizer_path, out_dir, name, mode, replies_path)
    size = art.prg.stat().st_size
    click.echo(f"{art.prg} ({size} bytes), {Path(out_dir) / (PRG_NAME + '.d64')}: "
               f"LOAD\"SOULPLAYER\",8,1 then RUN; labels {art.lbl}, map {art.map}")
    click.echo(asm_build.format_budget(asm_build.memory_budget(art.map)))


@click.command()
@click.option("--disk", "d64_path", type=click.Path(dir_okay=False), default="build/soulplayer.d64",
              show_default=True, help="d64 image to write")
@click.option("--drive", default=8, show_default=True, help="the 1541's device number")
@click.option("--yes", is_flag=True, help="do not ask: overwrite the whole floppy")
def flash(d64_path, drive, yes):
    """Write the d64 to a real 1541 with OpenCBM's d64copy and verify it by reading it back.

    Everything on the floppy in the drive is overwritten."""
    from .flash import check_ready, flash as flash_disk
    image = check_ready(d64_path, drive)    # image, tools and drive before asking
    if not yes:
        if not _stdin_is_terminal():
            raise SoulError(f"refusing to overwrite the floppy in drive {drive} without --yes")
        if not click.confirm(f"This erases the whole floppy in drive {drive}. Write {d64_path}?"):
            raise SoulError("nothing written")
    flash_disk(d64_path, drive, image)
    click.echo(f"drive {drive}: {d64_path} written and verified")


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()
