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
from soulplayer.paths import ASM_DIR

LINKER_CFG = ASM_DIR / "soul.cfg"


def sources_digest(h) -> None:
    """Feed a hashlib object everything a build depends on besides the soul: the
    asm/ sources, templates and linker config, and the Python that renders
    into them (soulplayer/spec.py, the gen/ modules), for build caches."""
    import soulplayer.gen
    from soulplayer import spec
    files = [f for f in sorted(ASM_DIR.iterdir()) if f.is_file()]
    files += [Path(spec.__file__)] + sorted(Path(soulplayer.gen.__file__).parent.glob("*.py"))
    for f in files:
        h.update(f.name.encode() + b"\0" + f.read_bytes())
# The product's sources (in asm/): the engine, then the chat program around it.
# Its model.inc/weights.inc come from soulplayer.gen.weights, the program's
# program_const.inc/program_data.inc from soulplayer.gen.tokenizer_inc, its
# replies.inc/replies_data.inc from soulplayer.gen.replies_inc.
ENGINE_SOURCES = ("engine.s", "matmul.s", "kernels.s")
ENGINE_B_SOURCES = ("rmsnorm.s", "attention.s", "divide.s", "exp_table.s")     # take engine_defines
PROGRAM_SOURCES = ("program.s", "input.s", "tokenizer.s", "program_sampler.s", "replies.s")

# what each memory area of asm/soul.cfg holds, for messages and the budget
AREA_ROLES = {"MAIN": "the load image, then work arrays and the KV cache",
              "UNDERIO": "RAM under I/O and KERNAL", "ZP": "zero page"}
BASIC_RAM_TOP = 0xA000          # the chat program's load image ends below this
_OVERFLOW_RE = re.compile(r"Segment '([^']+)' overflows memory area '([^']+)' by (\d+) bytes?")


@dataclass
class Artifacts:
    prg: Path
    lbl: Path
    map: Path
    dbg: Path
    labels: dict[str, int]


def engine_defines(config) -> dict:
    """The -D symbols ENGINE_B_SOURCES take."""
    from soulplayer.gen.weights import kc_underio
    return {"EMBED_DIM": config.embed_dim, "HEAD_DIM": config.head_dim, "N_HEADS": config.n_heads,
            "CONTEXT": config.context, "N_LAYERS": config.n_layers,
            "ATT_KC_UNDERIO": int(kc_underio(config))}


def engine_sources(config, extra=()) -> list:
    """Every engine source (with per-file defines) plus `extra`, stub first."""
    from soulplayer.gen.weights import check_engine_limits
    check_engine_limits(config)
    d = engine_defines(config)
    return ([ASM_DIR / "basic_stub.s"] + [ASM_DIR / s for s in ENGINE_SOURCES]
            + [(ASM_DIR / s, d) for s in ENGINE_B_SOURCES] + list(extra))


def program_sources(config) -> list:
    """The chat program's sources: the engine and PROGRAM_SOURCES."""
    return engine_sources(config, [ASM_DIR / s for s in PROGRAM_SOURCES])


def _tool(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise SoulError(f"{name} not found on PATH; run `make sys` (installs cc65)")
    return exe


def _memory_areas(cfg: Path) -> dict[str, tuple[int, int]]:
    """MEMORY { NAME: start = $X, size = $Y ... } -> {NAME: (start, end)}."""
    areas = {}
    text = re.sub(r"#[^\n]*", "", cfg.read_text())
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


def _segments(cfg: Path) -> dict[str, tuple[str, bool]]:
    """SEGMENTS { NAME: load = AREA, type = T ... } -> {NAME: (AREA, T == bss)}."""
    text = re.sub(r"#[^\n]*", "", cfg.read_text())
    block = re.search(r"SEGMENTS\s*\{(.*?)\}", text, re.S)
    out = {}
    for m in re.finditer(r"(\w+)\s*:\s*([^;]*);", block.group(1) if block else ""):
        attrs = dict(re.findall(r"(\w+)\s*=\s*([$%\w]+)", m.group(2)))
        if "load" in attrs:
            out[m.group(1)] = (attrs["load"], attrs.get("type") in ("bss", "zp"))
    return out


def memory_budget(map_path, cfg: Path = LINKER_CFG) -> dict:
    """Per memory area of the link (from ld65's map): {area: {"start", "end",
    "used", "free", "segments": {name: size}, "image_end": last byte of the
    load image (segments that are in the file) or None}}."""
    areas, segs = _memory_areas(Path(cfg)), _segments(Path(cfg))
    text = Path(map_path).read_text()
    block = text.split("Segment list:", 1)[1].split("Exports list", 1)[0] if "Segment list:" in text else ""
    out = {a: {"start": lo, "end": hi, "used": 0, "free": hi - lo + 1, "segments": {}, "image_end": None}
           for a, (lo, hi) in areas.items() if a not in ("ZP", "LOADADDR")}
    for m in re.finditer(r"^(\w+)\s+([0-9A-F]{6})\s+([0-9A-F]{6})\s+([0-9A-F]{6})", block, re.M):
        name, end, size = m.group(1), int(m.group(3), 16), int(m.group(4), 16)
        area, bss = segs.get(name, ("", True))
        a = out.get(area)
        if a is None or size == 0:
            continue
        a["segments"][name] = size
        # alignment gaps count as used: free is what is left after the last segment
        a["used"] = max(a["used"], end - a["start"] + 1)
        if not bss:
            a["image_end"] = end if a["image_end"] is None else max(a["image_end"], end)
    for a in out.values():
        a["free"] = a["end"] - a["start"] + 1 - a["used"]
    return out


def format_budget(budget: dict) -> str:
    """One line: 'memory: load image $0801-$9F5D (38749 bytes, 162 free below $A000); ...'."""
    parts = []
    for name, a in budget.items():
        if a["image_end"] is not None:
            n = a["image_end"] - a["start"] + 1
            parts.append(f"load image ${a['start']:04X}-${a['image_end']:04X} ({n} bytes, "
                         f"{BASIC_RAM_TOP - 1 - a['image_end']} free below ${BASIC_RAM_TOP:04X})")
        segs = ", ".join(f"{s} {n}" for s, n in a["segments"].items())
        parts.append(f"{name} ${a['start']:04X}-${a['end']:04X} ({AREA_ROLES.get(name, name)}): "
                     f"{a['used']} used [{segs}], {a['free']} free")
    return "memory: " + "; ".join(parts)


def check_load_image(budget: dict) -> None:
    """The chat program's load image must end below $A000 (BASIC's top of RAM):
    one line naming the bytes over, else nothing."""
    end = budget["MAIN"]["image_end"]
    if end is not None and end >= BASIC_RAM_TOP:
        raise SoulError(f"the program does not fit the C64 memory map: the load image ends at ${end:04X}, "
                        f"{end - BASIC_RAM_TOP + 1} bytes over ${BASIC_RAM_TOP - 1:04X} (BASIC's top of RAM)")


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
    spec.inc (soulplayer.spec's constants) is rendered into out_dir first.
    """
    from soulplayer.gen.spec_inc import write_spec_inc
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_spec_inc(out_dir / "spec.inc")
    incs = [Path(d) for d in include_dirs] + [out_dir, ASM_DIR]
    objs = []
    for src in sources:
        own = {}
        if isinstance(src, tuple):
            src, own = src
        src = Path(src)
        objs.append(assemble(src, out_dir / (src.name.replace(".", "_") + ".o"), incs,
                             {**(defines or {}), **own}))
    return link(objs, out_dir, name, cfg)
