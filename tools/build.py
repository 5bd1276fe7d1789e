"""Assemble (ca65) and link (ld65 with asm/soul.cfg) a PRG; readable errors.

    art = build_prg(["asm/basic_stub.s", "build/t/driver.s", ...], out_dir, "driver",
                    include_dirs=["build/t", "asm"])
    art.prg, art.lbl, art.map, art.dbg, art.labels["engine_step"]

ld65's memory-overflow report becomes one SoulError line, e.g.
"the program does not fit: segment WEIGHTS is 1234 bytes over memory area MAIN
($0801-$CFFF)".
"""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from soulplayer.errors import SoulError

REPO = Path(__file__).resolve().parent.parent
ASM_DIR = REPO / "asm"
LINKER_CFG = ASM_DIR / "soul.cfg"

# what each memory area of asm/soul.cfg holds, for messages and the budget
AREA_ROLES = {"MAIN": "the load image, below BASIC's $A000", "HIRAM": "RAM under BASIC ROM",
              "UNDERIO": "RAM under I/O and KERNAL", "ZP": "zero page"}
_OVERFLOW_RE = re.compile(r"Segment '([^']+)' overflows memory area '([^']+)' by (\d+) bytes?")


@dataclass
class Artifacts:
    prg: Path
    lbl: Path
    map: Path
    dbg: Path
    labels: dict[str, int]


def _tool(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise SoulError(f"{name} not found on PATH; run `make sys` (installs cc65)")
    return exe


def _memory_areas(cfg: Path) -> dict[str, tuple[int, int]]:
    """MEMORY { NAME: start = $X, size = $Y ... } -> {NAME: (start, end)}."""
    areas = {}
    text = cfg.read_text()
    block = re.search(r"MEMORY\s*\{(.*?)\}", text, re.S)
    for m in re.finditer(r"(\w+)\s*:\s*([^;]*);", block.group(1) if block else ""):
        attrs = dict(re.findall(r"(\w+)\s*=\s*([$%\w]+)", m.group(2)))
        try:
            start = int(attrs["start"].replace("$", "0x"), 0)
            size = int(attrs["size"].replace("$", "0x"), 0)
        except (KeyError, ValueError):
            continue
        areas[m.group(1)] = (start, start + size - 1)
    return areas


def overflow_message(ld65_output: str, cfg: Path = LINKER_CFG) -> str | None:
    """One line for ld65's 'overflows memory area' warnings, or None."""
    hits = _OVERFLOW_RE.findall(ld65_output)
    if not hits:
        return None
    areas = _memory_areas(cfg)
    parts = []
    for seg, area, n in hits:
        role = f", {AREA_ROLES[area]}" if area in AREA_ROLES else ""
        rng = f" (${areas[area][0]:04X}-${areas[area][1]:04X}{role})" if area in areas else ""
        parts.append(f"segment {seg} is {n} bytes over memory area {area}{rng}")
    return "the program does not fit the C64 memory map: " + "; ".join(parts)


def _segment_areas(cfg: Path) -> dict[str, str]:
    """SEGMENTS { NAME: load = AREA ... } -> {NAME: AREA}."""
    block = re.search(r"SEGMENTS\s*\{(.*?)\}", cfg.read_text(), re.S)
    return {m.group(1): m.group(2) for m in
            re.finditer(r"(\w+)\s*:\s*load\s*=\s*(\w+)", block.group(1) if block else "")}


def memory_budget(map_path, cfg: Path = LINKER_CFG) -> dict:
    """Per memory area of the link (from ld65's map): {area: {"start", "end",
    "used", "free", "segments": {name: size}, "last": last byte used}}."""
    areas, seg_area = _memory_areas(Path(cfg)), _segment_areas(Path(cfg))
    text = Path(map_path).read_text()
    block = text.split("Segment list:", 1)[1].split("Exports list", 1)[0] if "Segment list:" in text else ""
    out = {a: {"start": lo, "end": hi, "used": 0, "free": hi - lo + 1, "segments": {}, "last": None}
           for a, (lo, hi) in areas.items() if a not in ("ZP", "LOADADDR")}
    for m in re.finditer(r"^(\w+)\s+([0-9A-F]{6})\s+([0-9A-F]{6})\s+([0-9A-F]{6})", block, re.M):
        name, start, end, size = m.group(1), int(m.group(2), 16), int(m.group(3), 16), int(m.group(4), 16)
        a = out.get(seg_area.get(name, ""))
        if a is None or size == 0:
            continue
        a["segments"][name] = size
        a["last"] = end if a["last"] is None else max(a["last"], end)
    for a in out.values():
        # alignment gaps count as used: free is what is left after the last segment
        a["used"] = 0 if a["last"] is None else a["last"] - a["start"] + 1
        a["free"] = a["end"] - a["start"] + 1 - a["used"]
    return out


def format_budget(budget: dict) -> str:
    """One line: 'memory: MAIN $0801-$9F5D (38749 bytes, the load image ...), 162 free; ...'."""
    parts = []
    for name, a in budget.items():
        segs = ", ".join(f"{s} {n}" for s, n in a["segments"].items())
        role = AREA_ROLES.get(name, name)
        parts.append(f"{name} ${a['start']:04X}-${a['end']:04X} ({role}): {a['used']} used"
                     + (f" [{segs}]" if segs else "") + f", {a['free']} free")
    return "memory: " + "; ".join(parts)


def _run(args, what: str, cwd=None) -> str:
    p = subprocess.run(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        raise _ToolFailed(what, p.stdout)
    return p.stdout


class _ToolFailed(Exception):
    def __init__(self, what, output):
        super().__init__(what)
        self.what, self.output = what, output


def _first_error(output: str) -> str:
    for line in output.splitlines():
        if "Error" in line or "error" in line:
            return line.strip()
    lines = [l.strip() for l in output.splitlines() if l.strip()]
    return lines[-1] if lines else "failed"


def assemble(src, obj, include_dirs=(), defines=None) -> Path:
    """ca65 -g src -> obj (with include dirs and -D name=value defines)."""
    args = [_tool("ca65"), "-g", "-o", str(obj)]
    for d in include_dirs:
        args += ["-I", str(d)]
    for k, v in (defines or {}).items():
        args += ["-D", f"{k}={v}"]
    args.append(str(src))
    try:
        _run(args, f"ca65 {src}")
    except _ToolFailed as e:
        raise SoulError(f"assembling {Path(src).name} failed: {_first_error(e.output)}") from None
    return Path(obj)


def link(objs, out_dir, name, cfg=LINKER_CFG) -> Artifacts:
    out_dir = Path(out_dir)
    prg, lbl, mp, dbg = (out_dir / f"{name}{ext}" for ext in (".prg", ".lbl", ".map", ".dbg"))
    args = [_tool("ld65"), "-C", str(cfg), "-m", str(mp), "-Ln", str(lbl), "--dbgfile", str(dbg),
            "-o", str(prg)] + [str(o) for o in objs]
    try:
        _run(args, "ld65")
    except _ToolFailed as e:
        msg = overflow_message(e.output, Path(cfg))
        raise SoulError(msg or f"linking {name} failed: {_first_error(e.output)}") from None
    from .vice import parse_labels
    return Artifacts(prg, lbl, mp, dbg, parse_labels(lbl))


def build_prg(sources, out_dir, name, include_dirs=(), defines=None, cfg=LINKER_CFG) -> Artifacts:
    """Assemble every source into out_dir and link them into out_dir/name.prg.

    A source is a path or (path, {symbol: value}) for defines of that file only.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    incs = [Path(d) for d in include_dirs] + [ASM_DIR]
    objs = []
    for src in sources:
        own = {}
        if isinstance(src, tuple):
            src, own = src
        src = Path(src)
        objs.append(assemble(src, out_dir / (src.name.replace(".", "_") + ".o"), incs,
                             {**(defines or {}), **own}))
    return link(objs, out_dir, name, cfg)
