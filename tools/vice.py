"""Headless VICE harness: run a PRG, stop at a label, dump RAM, read cycle counts.

One call = one private VICE session in its own temp dir (safe in parallel):

    r = run("build/t.prg", labels="build/t.lbl", done="done",
            dumps=[("out", "out_buf", 256)], emulator="x64")
    r.memory("out")          # bytes
    r.cycles                 # stopwatch cycles from `start` (if given) to `done`

How it works: the PRG is injected by autostart (`-autostartprgmode 1`, VICE
types RUN), a monitor script (`-moncommands`) sets exec breakpoints; at `done`
each dump is one breakpoint whose command is `bsave "dN.bin" ...` (VICE takes
only one quoted file name per command string), the last one `quit`s.
`-limitcycles` is the hang guard. Cycle figures come from the monitor's
stopwatch, which the break line prints (VIC-II DMA included: use x64sc, PAL,
screen on, for real C64 time; x64 gives identical results about 8x faster).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from soulplayer.errors import SoulError

ROM_DIR = Path(os.environ.get("SOUL_C64_ROMS", "/usr/share/open-roms/C64"))
ROM_FILES = ("kernal", "basic", "chargen")
EMULATORS = ("x64", "x64sc")
DEFAULT_LIMIT_CYCLES = 400_000_000
BOOT_CYCLES = 3_500_000          # KERNAL boot + autostart typing RUN, roughly
# A d64 is read through the virtual drive: open-roms ships no 1541 ROM.
DISK_FLAGS = ["+drive8truedrive", "-virtualdev8", "-iecdevice8"]

# A break line: "#2 (Stop on  exec 081a)   87/$057,  12/$0c" then
# ".C:081a  A9 07  LDA #$07  - A:FF X:00 Y:00 SP:f9 ..-...Z.   3292"
_STOP_RE = re.compile(r"^#(\d+) \(Stop on\s+exec ([0-9a-fA-F]{4})\)")
_CPU_RE = re.compile(r"^\.C:([0-9a-fA-F]{4}) .*?\s(\d+)\s*$")


@dataclass
class Dump:
    name: str
    start: int | str        # address or label
    length: int             # bytes


@dataclass
class Event:
    """One profile stop: the label hit and the stopwatch reading there."""
    label: str
    address: int
    cycles: int


@dataclass
class RunResult:
    exit_code: int
    reached: bool                       # the done label was reached
    dumps: dict[str, bytes]
    cycles: int | None                  # stopwatch at done (reset at `start`)
    events: list[Event] = field(default_factory=list)
    log: str = ""                       # the monitor log

    def memory(self, name: str) -> bytes:
        return self.dumps[name]


AMBIGUOUS = -1    # a name that ld65's flattened label file gives two addresses


def parse_labels(path) -> dict[str, int]:
    """ld65 -Ln file ("al 00081A .done") -> {"done": 0x081a}.

    -Ln flattens scopes, so a local label in one .proc can share its name with
    another symbol; such names map to AMBIGUOUS and cannot be used as stops."""
    labels: dict[str, int] = {}
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "al":
            name, addr = parts[2].lstrip("."), int(parts[1], 16)
            labels[name] = addr if labels.get(name, addr) == addr else AMBIGUOUS
    return labels


def check_tools(emulator: str = "x64") -> str:
    """Path of the emulator binary; SoulError (one line) if VICE or the ROMs are missing."""
    if emulator not in EMULATORS:
        raise SoulError(f"unknown emulator {emulator!r} (use one of {', '.join(EMULATORS)})")
    exe = shutil.which(emulator)
    if exe is None:
        raise SoulError(f"VICE emulator '{emulator}' not found on PATH; run `make sys` (installs vice)")
    missing = [f for f in ROM_FILES if not (ROM_DIR / f).is_file()]
    if missing:
        raise SoulError(f"C64 ROMs missing in {ROM_DIR}: {', '.join(missing)}; run `make sys` (installs open-roms)")
    return exe


def _addr(where, labels: dict[str, int]) -> int:
    if isinstance(where, int):
        return where
    addr = labels.get(where)
    if addr is None:
        raise SoulError(f"label '{where}' not in the program's labels")
    if addr == AMBIGUOUS:
        raise SoulError(f"label '{where}' names two addresses in the program's labels; export a unique name")
    return addr


@dataclass
class Session:
    exit_code: int
    files: dict[str, bytes]             # the requested output files VICE wrote
    log: str                            # the monitor log


def launch(image, mon_commands, *, inputs=None, outputs=(), keybuf=None, emulator="x64",
           limit_cycles=DEFAULT_LIMIT_CYCLES, screenshot=None, timeout=300.0, extra_args=(),
           what="the program") -> Session:
    """One headless VICE session in a private temp dir: autostart `image` (a PRG,
    or a d64 through the virtual drive: no 1541 ROM needed), run the monitor
    commands, and collect the files they write (names in `outputs`).

    inputs: {file name: bytes} placed beside it (for `bload`)."""
    exe = check_tools(emulator)
    image = Path(image).resolve()
    if not image.is_file():
        raise SoulError(f"{image}: no such file")
    disk = image.suffix.lower() == ".d64"
    with tempfile.TemporaryDirectory(prefix="soulvice-") as tmp:
        tmpd = Path(tmp)
        name = "disk.d64" if disk else "prog.prg"
        shutil.copyfile(image, tmpd / name)
        for fname, data in (inputs or {}).items():
            (tmpd / fname).write_bytes(data)
        (tmpd / "mon.txt").write_text("\n".join(mon_commands) + "\n")
        args = [exe, "-console", "-default",
                "-kernal", str(ROM_DIR / "kernal"), "-basic", str(ROM_DIR / "basic"),
                "-chargen", str(ROM_DIR / "chargen"),
                "+sound", "-warp", "-debugcart", "-limitcycles", str(int(limit_cycles)),
                "-moncommands", "mon.txt", "-monlog", "-monlogname", "mon.log"]
        if keybuf is not None:
            args += ["-keybuf", keybuf]
        if screenshot is not None:
            args += ["-exitscreenshot", "shot.png"]
        args += list(extra_args)
        args += DISK_FLAGS if disk else ["-autostartprgmode", "1"]
        args += ["-autostart", name]
        try:
            proc = subprocess.run(args, cwd=tmpd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise SoulError(f"VICE ({emulator}) ran past {timeout:.0f} s on {what}") from None
        log_path = tmpd / "mon.log"
        log = log_path.read_text(errors="replace") if log_path.is_file() else ""
        files = {f: (tmpd / f).read_bytes() for f in outputs if (tmpd / f).is_file()}
        if screenshot is not None and (tmpd / "shot.png").is_file():
            shutil.copyfile(tmpd / "shot.png", screenshot)
    return Session(proc.returncode, files, log)


def run(prg, *, labels=None, done="done", done_hit=1, start=None, dumps=(), profile=(), pokes=(), poke_at="main",
        keybuf: str | None = None, limit_cycles: int = DEFAULT_LIMIT_CYCLES,
        emulator: str = "x64", screenshot=None, timeout: float = 300.0,
        extra_args=()) -> RunResult:
    """Run `prg` headless until the `done` label (address or label name) is
    executed for the `done_hit`-th time.

    labels: path to an ld65 -Ln file or a dict name -> address.
    start: label/address where the stopwatch is reset (default: never; the
        stopwatch then counts from power-on).
    dumps: Dump or (name, start, length) tuples, saved when `done` is reached.
    profile: labels/addresses whose every execution is logged as an Event
        (stopwatch reading, no reset) - used by the benchmark.
    pokes: (label/address, bytes) written into RAM when `poke_at` (default
        `main`, i.e. after the PRG is in memory) is executed.
    keybuf: text typed into the keyboard buffer after RUN ("\\n" = RETURN).
    screenshot: path of a PNG written when VICE exits.
    """
    prg = Path(prg).resolve()
    if labels is None:
        lbl = prg.with_suffix(".lbl")
        labels = parse_labels(lbl) if lbl.is_file() else {}
    elif not isinstance(labels, dict):
        labels = parse_labels(labels)
    dumps = [d if isinstance(d, Dump) else Dump(*d) for d in dumps]
    done_addr = _addr(done, labels)

    # every stop is a breakpoint with one command (VICE takes one quoted file
    # name per command string); several at one address run in order, the
    # last of them resumes ("x") or ends ("quit") the emulation.
    stops: dict[int, list[tuple[str, str]]] = {}      # addr -> [(kind, command)]

    def at(addr: int, kind: str, command: str):
        stops.setdefault(addr, []).append((kind, command))

    poke_files = []
    for i, (where, data) in enumerate(pokes):
        poke_files.append((f"p{i}.bin", bytes(data)))
        at(_addr(poke_at, labels), "poke", f'bload \\"p{i}.bin\\" 0 {_addr(where, labels):04x}')
    if start is not None:
        at(_addr(start, labels), "start", "sw reset")
    for p in profile:
        at(_addr(p, labels), "profile:" + (p if isinstance(p, str) else f"${_addr(p, labels):04x}"), "")
    files = []
    for i, d in enumerate(dumps):
        a = _addr(d.start, labels)
        end = a + d.length - 1
        if d.length < 1 or end > 0xFFFF:
            raise SoulError(f"dump '{d.name}': bad range ${a:04x}+{d.length}")
        files.append(f"d{i}.bin")
        # RAM, whatever is banked in (BSS lies under BASIC ROM, asm/soul.cfg)
        at(done_addr, "dump", f'bank ram ; bsave \\"d{i}.bin\\" 0 {a:04x} {end:04x}')
    at(done_addr, "done", 'bsave \\"reached.bin\\" 0 0002 0002')
    if done_hit > 1 and any(kind not in ("dump", "done") for kind, _ in stops[done_addr]):
        raise SoulError("done_hit > 1: no other stop may share the done address")

    cmds: list[str] = []
    kinds: dict[int, str] = {}          # checkpoint number -> kind
    n = 0
    for addr, items in stops.items():
        for j, (kind, command) in enumerate(items):
            n += 1
            last = j == len(items) - 1
            if last:
                command = (command + " ; " if command else "") + ("quit" if addr == done_addr else "x")
            cmds.append(f"break {addr:04x}")
            cmds.append(f'command +{n} "{command}"')   # '+': decimal (the monitor reads hex)
            if addr == done_addr and done_hit > 1:
                cmds.append(f"ignore +{n} +{done_hit - 1}")
            kinds[n] = kind

    outputs = files + ["reached.bin"]
    session = launch(prg, cmds, inputs=dict(poke_files), outputs=outputs, keybuf=keybuf,
                     emulator=emulator, limit_cycles=int(limit_cycles) + BOOT_CYCLES,
                     screenshot=screenshot, timeout=timeout, extra_args=extra_args,
                     what=f"{prg.name} without reaching '{done}'")
    log = session.log
    reached = "reached.bin" in session.files
    out = {d.name: session.files[f] for d, f in zip(dumps, files) if f in session.files}

    cycles = None
    events: list[Event] = []
    stop_id = None
    for line in log.splitlines():
        m = _STOP_RE.match(line)
        if m:
            stop_id = int(m.group(1))
            continue
        m = _CPU_RE.match(line)
        if m and stop_id is not None:
            cyc = int(m.group(2))
            kind = kinds.get(stop_id, "")
            if kind.startswith("profile:"):
                events.append(Event(kind[len("profile:"):], int(m.group(1), 16), cyc))
            elif kind in ("dump", "done") and cycles is None:
                cycles = cyc
            stop_id = None
    return RunResult(session.exit_code, reached, out, cycles, events, log)


def run_checked(prg, **kw) -> RunResult:
    """run(), raising SoulError if the done label was not reached."""
    r = run(prg, **kw)
    if not r.reached:
        lim = kw.get("limit_cycles", DEFAULT_LIMIT_CYCLES)
        why = "hit the cycle limit" if r.exit_code == 1 else f"VICE exit code {r.exit_code}"
        raise SoulError(f"{Path(prg).name}: did not reach '{kw.get('done', 'done')}' "
                        f"within {lim} cycles ({why})")
    return r
