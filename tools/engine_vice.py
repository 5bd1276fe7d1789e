"""The 6502 engine under VICE: build it for a soul, run token sequences, read logits.

    logits(soul_path, ids, all_positions=False) -> list[list[int]]

is what `soul logits --engine vice` calls. Tests use `run_cases` to batch many
sequences into few VICE sessions: a driver program (asm/engine_driver.s) walks
a table of cases (engine_reset, engine_step per id, copy the logits out after
the marked steps) and writes every requested logits vector to RAM after BSS;
the harness dumps that once. Cases that do not fit one session's free RAM are
split over several sessions, run two at a time.
"""
from __future__ import annotations

import hashlib
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from soulplayer.errors import SoulError
from soulplayer.gen import weights as gen_weights

from soulplayer.paths import ASM_DIR as ASM, BUILD_DIR

from . import build, vice
from .build import engine_sources

MEM_END = 0xD000                       # first byte after the program's RAM
CYCLES_PER_STEP_LIMIT = 20_000_000     # hang guard per engine_step (the target is ~1-2.5 M)
PARALLEL = 2
PREFILL = 2                            # an emit flag: run engine_prefill (no logits) for this id


def _wanted(e) -> bool:
    return e is True or e == 1


@dataclass
class EngineBuild:
    art: build.Artifacts
    config: object
    out_dir: Path


def build_engine(soul, out_dir, name="engine", driver=ASM / "engine_driver.s") -> EngineBuild:
    """Generate model.inc/weights.inc for `soul` into out_dir and link the
    engine with `driver` (a source exporting main) into out_dir/name.prg."""
    out_dir = Path(out_dir)
    gen_weights.generate(soul, out_dir, name)
    art = build.build_prg(engine_sources(soul.config, [driver]), out_dir, name, include_dirs=[out_dir])
    return EngineBuild(art, soul.config, out_dir)


def _soul_key(soul) -> str:
    h = hashlib.sha256()
    for n, t in soul.tensors.items():
        h.update(n.encode())
        h.update(struct.pack("<bB", t.shift, t.kind))
        h.update(np.ascontiguousarray(t.values, dtype=np.int64).tobytes())
    h.update(repr(soul.config).encode())
    build.sources_digest(h)
    return h.hexdigest()[:16]


def cached_engine(soul, build_root=None) -> EngineBuild:
    """build_engine into build/vice-engine/<hash of soul and asm>/ (reused)."""
    root = Path(build_root) if build_root else BUILD_DIR / "vice-engine"
    out_dir = root / _soul_key(soul)
    prg = out_dir / "engine.prg"
    if prg.is_file() and (out_dir / "engine.lbl").is_file():
        return EngineBuild(build.Artifacts(prg, out_dir / "engine.lbl", out_dir / "engine.map",
                                           out_dir / "engine.dbg", vice.parse_labels(out_dir / "engine.lbl")),
                           soul.config, out_dir)
    return build_engine(soul, out_dir)


def case_table(cases) -> bytes:
    """cases: [(ids, emit flags)] -> driver table: per case n, then n (id, emit)
    pairs (emit 1: copy the logits out, PREFILL: engine_prefill); a final 0."""
    out = bytearray()
    for ids, emit in cases:
        out.append(len(ids))
        for i, e in zip(ids, emit):
            out += bytes((i, PREFILL if e == PREFILL and e is not True else 1 if _wanted(e) else 0))
    out.append(0)
    return bytes(out)


def run_cases(eb: EngineBuild, cases, emulator="x64") -> list[list[list[int]]]:
    """cases: [(ids, emit)] with emit[i] true where the logits after ids[i]
    are wanted (PREFILL: step ids[i] with engine_prefill, no logits). Returns,
    per case, the list of wanted logits vectors."""
    c = eb.config
    vs = c.vocab_size
    labels = eb.art.labels
    for ids, emit in cases:
        if not 1 <= len(ids) <= c.context:
            raise SoulError(f"sequence length {len(ids)} outside 1..{c.context}")
        if any(not 0 <= i < vs for i in ids):
            raise SoulError(f"token id outside 0..{vs - 1} in {list(ids)}")
    table_addr, table_max = labels["drv_table"], labels["drv_table_end"] - labels["drv_table"]
    out_addr = labels["drv_out"]
    capacity = (MEM_END - out_addr) // (2 * vs)
    if capacity < 1:
        raise SoulError("no RAM left for the driver's logits buffer")
    # a case wanting more vectors than the buffer holds becomes several cases
    # (the same ids, cut after each group of wanted positions)
    pieces = []                                 # (case number, ids, emit)
    for n, (ids, emit) in enumerate(cases):
        wanted = [i for i, e in enumerate(emit) if _wanted(e)]
        plain = [PREFILL if e == PREFILL and e is not True else False for e in emit]
        if not wanted:
            pieces.append((n, list(ids), plain))
        for g in range(0, len(wanted), capacity):
            group = set(wanted[g:g + capacity])
            end = max(group) + 1
            pieces.append((n, list(ids[:end]), [True if i in group else plain[i] for i in range(end)]))
    # split into sessions: each within the RAM buffer and the table space
    chunks, cur, outs, tlen = [], [], 0, 1
    for n, ids, emit in pieces:
        k, tl = sum(1 for e in emit if _wanted(e)), 1 + 2 * len(ids)
        if cur and (outs + k > capacity or tlen + tl > table_max):
            chunks.append(cur)
            cur, outs, tlen = [], 0, 1
        cur.append((ids, emit))
        outs, tlen = outs + k, tlen + tl
    if cur:
        chunks.append(cur)

    def session(chunk):
        table = case_table(chunk)
        n_out = sum(sum(1 for e in emit if _wanted(e)) for _, emit in chunk)
        steps = sum(len(ids) for ids, _ in chunk)
        r = vice.run_checked(eb.art.prg, labels=labels, done="drv_done",
                             pokes=[(table_addr, table)],
                             dumps=[("out", out_addr, max(1, n_out) * 2 * vs)],
                             limit_cycles=CYCLES_PER_STEP_LIMIT * steps + 1_000_000,
                             emulator=emulator)
        data = r.memory("out")
        res, pos = [], 0
        for ids, emit in chunk:
            vecs = []
            for e in emit:
                if _wanted(e):
                    lo = np.frombuffer(data, np.uint8, vs, pos)
                    hi = np.frombuffer(data, np.uint8, vs, pos + vs)
                    vecs.append(((hi.astype(np.int64) << 8 | lo).astype(np.uint16).view(np.int16)
                                 .astype(int).tolist()))
                    pos += 2 * vs
            res.append(vecs)
        return res

    with ThreadPoolExecutor(max_workers=min(PARALLEL, len(chunks))) as pool:
        results = list(pool.map(session, chunks))
    merged = [[] for _ in cases]
    for (n, _, _), vecs in zip(pieces, (piece for chunk in results for piece in chunk)):
        merged[n].extend(vecs)
    return merged


def logits(soul_path, ids, all_positions=False) -> list[list[int]]:
    """The 6502 engine's logits for `ids` (one vector for the last position, or
    one per position with all_positions), computed in VICE (x64)."""
    from soulplayer.soulfile import load_soul
    soul = load_soul(soul_path)
    ids = [int(i) for i in ids]
    eb = cached_engine(soul)
    emit = [all_positions or i == len(ids) - 1 for i in range(len(ids))]
    return run_cases(eb, [(ids, emit)])[0]
