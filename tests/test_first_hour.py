"""A new user's first hour: make disk/run keep the soul they chose, a missing
optional package is one line, the terminal chat edits lines, and the package
installs without the source tree."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from soulplayer.gen.tokenizer_inc import name_petscii

ROOT = Path(__file__).resolve().parents[1]
SOUL_CLI = Path(sys.executable).parent / "soul"


def make(*args):
    return subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), *map(str, args)],
                          capture_output=True, text=True)


def test_make_run_runs_the_disk_last_built(original_soul_path, original_tokenizer_path, tmp_path):
    run_dir = tmp_path / "me"
    run_dir.mkdir()
    (run_dir / "soul.bin").write_bytes(original_soul_path.read_bytes())
    (run_dir / "tokenizer.json").write_bytes(original_tokenizer_path.read_bytes())
    out = tmp_path / "build"
    built = make("disk", f"BUILD={out}", f"SOUL={run_dir / 'soul.bin'}", "NAME=Ada 2")   # tokenizer beside
    assert built.returncode == 0, built.stderr
    d64 = (out / "soulplayer.d64").read_bytes()
    assert bytes(name_petscii("ADA 2")) in (out / "soulplayer.prg").read_bytes()
    # make run without SOUL: that disk, not a rebuild with the default soul
    ran = make("run", f"BUILD={out}", "X64SC=echo x64sc")
    assert ran.returncode == 0, ran.stderr
    assert f"-autostart {out}/soulplayer.d64" in ran.stdout and "soul build" not in ran.stdout
    assert (out / "soulplayer.d64").read_bytes() == d64
    # with SOUL given, make run builds that soul first
    plan = make("-n", "run", f"BUILD={out}", "SOUL=other/soul.bin", "TOKENIZER=other/t.json")
    lines = plan.stdout.splitlines()
    build_at = next(i for i, l in enumerate(lines) if "soul build" in l)
    assert "--soul other/soul.bin --tokenizer other/t.json" in lines[build_at]
    assert build_at < next(i for i, l in enumerate(lines) if "-autostart" in l)
