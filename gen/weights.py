"""soul -> ca65: the weights as data (`write_weights_inc`) and the rendered
model constants (`render_model_inc`, from asm/model.inc.j2).

Layout (all in segment WEIGHTS; labels exported by asm/engine.s, which
includes the file). The matrices' weights come first (`matrices`: out, then
per layer qkv, proj, fc1, fc2) from a page start + 1, because the slots read
column c as `M_w + c*R - 1 + X`, X = R..1: a column of 32, 64 or 128 rows then
crosses a page only at its last row (a cycle per crossing read); then the
embeddings, the gains and per matrix its E_r room, bias and descriptor (the
E_r arrays, read as E - 1 + X too, after a byte of padding):

- `w_te`: the token embedding in the output layer's layout (below: column-major,
  +128), te[tok][i] at w_te + i*VS + tok; a tied soul (te's int8 values equal
  out's, whatever the shifts) stores it once: `w_te = out_w`.
  `w_pe`: the position embedding, column-major int8, pe[pos][i] at
  w_pe + i*CONTEXT + pos. (`embed_lines`; asm/kernels.s `embed` reads both.)
- the matmuls `out` and per layer i `l{i}_qkv` (q, k, v rows fused: 3*ED rows),
  `l{i}_proj`, `l{i}_fc1`, `l{i}_fc2`; the gains `w_l{i}_n1`, `w_l{i}_n2` and
  `w_norm` (int8).
- a matmul M (R rows x C cols) is stored for the squares matmul of asm/matmul.s
  (2*sum w*x = sum (x+w)^2 - sum x^2 - sum w^2): `M_w`: column-major, each
  weight biased by the matrix's beta (`weight_bias`: the least that keeps
  w + beta >= 0; 128 for a tied soul's out, whose bytes embed reads as
  te + 128), column c at M_w + c*R;
  `M_e`: room (not in the load image; ENGBSS under I/O when all of them fit
  in MM_ENGBSS_ROOM beside the engine's work arrays there, else BSS) for the per-row constants
  E_r = 2*b_r - sum_c w_rc^2 modulo 2^24 - 1 (`row_constants`), three arrays
  of R bytes (bytes 0, 1, 2), which engine_init computes at start from the
  weights and the bias (the load image must end below $A000); `M_bias` (layers with a bias only):
  R low bytes, then R high bytes of the int16 bias (engine_init computes E_r
  from it); `M_desc`: the descriptor, `.struct MM_DESC` of asm/matmul.inc (w, e,
  bias or 0, rows, cols, xmax, 2 xmax + 1, beta, t2lim: `two_byte_top`, hhi and
  hlo: `index_pages`, qmax and 2 qmax + 1: `q_limit`). xmax is the largest |x| for which every row's
  true sum stays below 2^22 in magnitude (`fast_xmax`), so the modular sum is
  exact; other input vectors take the exact fallback. Shifts (s_w + post-shift)
  live in `layer_table` and model.inc (the fused q/k/v rows have three).
- `layer_table`: per layer a `.struct LayerRec` record (spec.LAYER_FIELDS:
  descriptor and gain addresses, shifts; `layer_table_lines`); `mm_desc_list`:
  every descriptor, for engine_init.
"""
from pathlib import Path

import numpy as np
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from ..errors import SoulError
from ..fileio import atomic_write_text
from ..paths import ASM_DIR
from ..spec import (ATT_FAST_HEAD_DIM, ATT_NZP_HEAD_DIM, LAYER_FIELDS, POST_SHIFT, SCORE_SHIFT, embed_shift_problem,
                    engine_limit_problems, gain_shift_problem)

# asm/matmul.s sums 2*(W.x + b) modulo 2^24 - 1: exact while |W.x + b| < 2^22
MM_SUM_LIMIT = 1 << 22
MM_MOD = (1 << 24) - 1
# the squares tables cover x + w = -2048..2047 (asm/matmul.s), so the fast path
# takes |x| <= 2047 - 127 at most
MM_TABLE_XMAX = 1920
# the exact fallback runs the fast path with the signed low byte r of the columns
# beyond the limit (|r| <= 128), so every matrix's limit must reach 128
MM_FALLBACK_X = 128
# the row loop's q-block (asm/matmul.s) adds 256 ((q + w)^2 - w^2 + 2^15) per row
# for one column beyond the tables' reach, x = 256 q + r: a 16-bit value for
# |q| <= 90 (q^2 + 2 q w + 2^15 stays within 0..65535 for w = -128..127)
MM_QBLOCK_QMAX = 90
# the row loop's output index table after the squares (asm/matmul.s mm_dbl:
# Y = 2 X for X = 0..127)
MM_INDEX_LEN = 128
# byte 1 of n^2 for n = -128..254, page aligned after mm_dbl (asm/matmul.s
# mm_sqc: the two-byte slots with -128 <= x - beta < 0 read it)
MM_SQC_LEN = 384
# RAM under I/O and KERNAL (asm/soul.cfg UNDERIO, $D000-$FFF9) less the squares
# tables of asm/matmul.s (bytes 1, 2: 4 KB each; byte 0: 384) and the index
# tables: the E_r arrays go there (segment ENGBSS) when they fit, else to BSS
# (matmul.s asserts this)
MM_ENGBSS_ROOM = (0xFFFA - 0xD000) - (2 * 4096 + 384) - MM_INDEX_LEN - MM_SQC_LEN


def _bytes_lines(values, per_line=16) -> list:
    vals = [int(v) & 0xFF for v in np.asarray(values).reshape(-1)]
    return ["        .byte   " + ",".join(f"${v:02x}" for v in vals[i:i + per_line])
            for i in range(0, len(vals), per_line)]


def _matmul_lines(label, w, bias=None, e_segment="BSS", beta=None) -> list:
    """A matrix's weights, then its E_r room, bias and descriptor."""
    beta = weight_bias(w, bias) if beta is None else beta
    return _matrix_w_lines(label, w, beta) + _matmul_desc_lines(label, w, bias, e_segment, beta)


def weight_bias(w, b=None) -> int:
    """The matrix's weight bias beta (stored w + beta, 0..255): the least that
    keeps every weight >= 0, at least 1 and at least 256 - xmax (asm/matmul.s
    mm_fast: the slots read their squares at x - beta + (w + beta), so a
    small beta seldom crosses a page; its two-byte columns x = beta - 255 ..
    beta - 1 must lie within the fast path's limit)."""
    w = np.asarray(w, dtype=np.int64)
    b = np.zeros(w.shape[0], np.int64) if b is None else b
    return max(1, -int(w.min()), 256 - fast_xmax(w, b))


def two_byte_top(w, beta, xmax) -> int:
    """The column setup's two-byte limit for x >= beta (asm/matmul.s mm_fast,
    `t2lim`): x - beta below it keeps every (x + w)^2 below 2^16 (x + w <= 255)
    and x within the fast path's limit."""
    wmax = max(0, int(np.asarray(w, dtype=np.int64).max()))
    return min(256 - wmax - beta, xmax + 1 - beta)


def index_pages(xmax, beta) -> tuple:
    """mm_fast's range check on the squares index page MM_P + h' of a column,
    h' = ((x - beta) >> 8) + 1 (asm/matmul.s): pages from MM_P + lo (h' of x =
    -xmax, + 1) up to below MM_P + hi (h' of x = xmax) hold only |x| <= xmax.
    Returns (hi, lo mod 256): the descriptor's `hhi`, `hlo`."""
    return ((xmax - beta) >> 8) + 1, (((-xmax - beta) >> 8) + 2) & 0xFF


def _matrix_w_lines(label, w, beta) -> list:
    """`label_w`: the weights column-major, biased (w + beta)."""
    w = np.asarray(w, dtype=np.int64)
    rows, cols = w.shape
    return [f"; {label}: {rows} rows x {cols} cols, column-major, +{beta}",
            f"{label}_w:"] + _bytes_lines((w.T + beta).reshape(-1))


def _matmul_desc_lines(label, w, bias=None, e_segment="BSS", beta=None) -> list:
    """`label_e` (E_r room in e_segment), `label_bias` and `label_desc`; checks the matrix."""
    w = np.asarray(w, dtype=np.int64)
    rows, cols = w.shape
    if not 1 <= rows <= 255 or not 1 <= cols <= 255:
        raise SoulError(f"matmul {label}: {rows}x{cols} is outside the engine's 1..255 rows/cols")
    if w.min() < -128 or w.max() > 127:
        raise SoulError(f"matmul {label}: weights outside int8")
    b = np.zeros(rows, np.int64) if bias is None else np.asarray(bias, dtype=np.int64).reshape(-1)
    if b.min() < -32768 or b.max() > 32767:
        raise SoulError(f"matmul {label}: bias outside int16")
    if fast_bound(w, b, MM_FALLBACK_X) >= MM_SUM_LIMIT:
        raise SoulError(f"matmul {label}: a sum can reach 2^22 even for inputs within "
                        f"+-{MM_FALLBACK_X} (the engine's exact fallback)")
    xmax, least = fast_xmax(w, b), weight_bias(w, b)
    beta = least if beta is None else beta
    if not least <= beta <= min(255 - int(w.max()), 128):
        raise SoulError(f"matmul {label}: weight bias {beta} does not fit its weights")
    out = [f'        .segment "{e_segment}"  ; E_r: computed by engine_init (row_constants)',
           f"{label}_e:     .res    3 * {rows}",
           '        .segment "WEIGHTS"']
    if bias is not None:
        out.append(f"{label}_bias:")
        out += _bytes_lines(b & 0xFF)
        out += _bytes_lines((b >> 8) & 0xFF)
    hhi, hlo = index_pages(xmax, beta)
    qmax = q_limit(w, b)
    out += [f"{label}_desc:",
            f"        .word   {label}_w, {label}_e, {label + '_bias' if bias is not None else 0}",
            f"        .byte   {rows}, {cols}",
            f"        .word   {xmax}, {2 * xmax + 1}",
            f"        .byte   {beta}, {two_byte_top(w, beta, xmax)}, {hhi}, {hlo}",
            f"        .byte   {qmax}, {2 * qmax + 1}",
            f"        .assert * - {label}_desc = .sizeof(MM_DESC), error, \"{label}: descriptor layout\""]
    return out


def fast_bound(w, b, xmax) -> int:
    """The largest |sum_c w_rc x_c + b_r| over rows for inputs with |x| <= xmax."""
    w = np.asarray(w, dtype=np.int64)
    return int((np.abs(w).sum(axis=1) * xmax + np.abs(np.asarray(b, dtype=np.int64))).max())


def sum_xmax(w, b) -> int:
    """The largest input limit with every row's |W.x + b| < 2^22 (the modular
    sum exact), whatever the squares tables reach."""
    w = np.asarray(w, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64).reshape(-1)
    wsum = np.abs(w).sum(axis=1)
    room = MM_SUM_LIMIT - 1 - np.abs(b)
    used = wsum > 0
    return min([1 << 15] + (room[used] // wsum[used]).tolist())


def q_limit(w, b) -> int:
    """The q-block's limit qmax (asm/matmul.s mm_fast): a column beyond the fast
    path's limit, x = 256 q + r (r the signed low byte, |x| <= 256 |q| + 128),
    may take the q-block when |q| <= qmax: then every input of the sweep is
    within sum_xmax and the modular sum stays exact."""
    return max(0, min(MM_QBLOCK_QMAX, (sum_xmax(w, b) - MM_FALLBACK_X) // 256))


def fast_xmax(w, b) -> int:
    """The fast path's input limit for a matrix: the largest xmax <= MM_TABLE_XMAX
    with every row's |W.x + b| < 2^22 for |x| <= xmax (build-time bound)."""
    b = np.asarray(b, dtype=np.int64).reshape(-1)
    xmax = min(MM_TABLE_XMAX, sum_xmax(w, b))
    assert fast_bound(w, b, xmax) < MM_SUM_LIMIT
    return xmax


def row_constants(w, b) -> np.ndarray:
    """E_r = 2*b_r - sum_c w_rc^2, modulo 2^24 - 1 (0 .. 2^24 - 2)."""
    w = np.asarray(w, dtype=np.int64)
    return (2 * np.asarray(b, dtype=np.int64).reshape(-1) - (w * w).sum(axis=1)) % MM_MOD


def engbss_work_bytes(config) -> int:
    """The work arrays segment ENGBSS (under I/O) always holds: those only code
    inside engine_step touches. engine.s: vec_q, vec_k, vec_v, vec_att (2*ED
    each) and vec_h, vec_a, vec_y (2*ED each), vec_z (2*FF); matmul.s: mm_bq,
    mm_bw (2 per slot); attention.s: att_s0..4,
    att_pos_lo/hi (a byte per position each), att_n0..3 (a byte per head
    dimension each) for heads wider than ATT_NZP_HEAD_DIM (narrower ones keep
    them in zero page). engine.s .asserts the segment's size against engbss_bytes."""
    c = config
    sums = 4 * c.head_dim if c.head_dim > ATT_NZP_HEAD_DIM else 0
    return 7 * 2 * c.embed_dim + 2 * c.ff_dim + 4 * mm_slots(c) + 7 * c.context + sums


def e_bytes(config) -> int:
    """The E_r arrays of every matrix: 3 bytes per row, after a byte of padding
    (weights_inc_text)."""
    c = config
    return 1 + 3 * (c.n_layers * (3 * c.embed_dim + c.embed_dim + c.ff_dim + c.embed_dim) + c.vocab_size)


def e_segment(config) -> str:
    """Where the E_r arrays go: under I/O (ENGBSS) when they fit beside the
    work arrays there, else BSS."""
    return "ENGBSS" if engbss_work_bytes(config) + e_bytes(config) <= MM_ENGBSS_ROOM else "BSS"


def kc_bytes(config) -> int:
    """Bytes of attention's per-key sums Kc (asm/attention.s att_kc): 4 per
    layer, head and position when the heads take the squares scores."""
    c = config
    fast = c.head_dim <= ATT_FAST_HEAD_DIM and SCORE_SHIFT == 14
    return 4 * c.n_layers * c.n_heads * c.context if fast else 0


def _engbss_without_kc(config) -> int:
    return engbss_work_bytes(config) + (e_bytes(config) if e_segment(config) == "ENGBSS" else 0)


def kc_underio(config) -> bool:
    """Kc goes under I/O (ENGBSS; only engine_step touches it) when it fits
    beside the work arrays and E_r there, else beside the KV cache."""
    return kc_bytes(config) > 0 and _engbss_without_kc(config) + kc_bytes(config) <= MM_ENGBSS_ROOM


def engbss_bytes(config) -> int:
    """Segment ENGBSS's size: the work arrays, E_r and Kc when they go there."""
    return _engbss_without_kc(config) + (kc_bytes(config) if kc_underio(config) else 0)


def tied(soul) -> bool:
    """Does the soul's token embedding hold the output layer's int8 values (the
    trainer ties them)? Then the program keeps one copy (shifts may differ)."""
    te, out = soul.tensors["te"].values, soul.tensors["out"].values
    return te.shape == out.shape and bool(np.array_equal(te, out))


def embed_lines(soul) -> list:
    """`w_te` (out's layout: column-major, +128; or out_w itself when tied) and
    `w_pe` (column-major, not biased)."""
    t = soul.tensors
    if tied(soul):
        lines = ["w_te            = out_w         ; tied: te[tok][i] = out[tok][i] (out_w's bias is 128 then)"]
    else:
        lines = ["w_te:           ; te column-major, +128 (out's layout): te[tok][i] at w_te + i*VS + tok"]
        lines += _bytes_lines(np.asarray(t["te"].values, dtype=np.int64).T + 128)
    lines.append("w_pe:           ; pe column-major: pe[pos][i] at w_pe + i*CONTEXT + pos")
    lines += _bytes_lines(np.asarray(t["pe"].values, dtype=np.int64).T)
    return lines


def matrices(soul) -> dict:
    """{label: (weights, bias or None)} of every matmul, in the engine's order:
    out first (the most rows), then per layer qkv (q, k, v rows fused), proj,
    fc1, fc2."""
    t = soul.tensors
    mats = {"out": (t["out"].values, None)}
    for i in range(soul.config.n_layers):
        p = f"l{i}"
        mats[f"{p}_qkv"] = (np.concatenate([t[f"{p}.{m}"].values for m in ("q", "k", "v")]), None)
        mats[f"{p}_proj"] = (t[f"{p}.proj"].values, None)
        mats[f"{p}_fc1"] = (t[f"{p}.fc1_w"].values, t[f"{p}.fc1_b"].values)
        mats[f"{p}_fc2"] = (t[f"{p}.fc2_w"].values, t[f"{p}.fc2_b"].values)
    return mats


def weights_inc_text(soul) -> str:
    c = soul.config
    t = soul.tensors
    seg = e_segment(c)
    mats = matrices(soul)
    lines = ["; weights.inc - GENERATED by soulplayer.gen.weights.write_weights_inc (do not edit)",
             f"; dims: VS={c.vocab_size} ED={c.embed_dim} NH={c.n_heads} HD={c.head_dim} "
             f"FF={c.ff_dim} NL={c.n_layers} SL={c.context}",
             '        .segment "WEIGHTS"',
             "; the matrices first, from a page start + 1 (WEIGHTS is page aligned): the slots",
             "; read column c as w_c - 1 + X, X = rows..1, so a column of 32, 64 or 128 rows",
             "; that starts there never crosses a page (each crossing costs a cycle per row)",
             "        .byte   0"]
    # a tied soul's embedding reads out_w as te + 128 (asm/kernels.s embed)
    betas = {label: 128 if label == "out" and tied(soul) else weight_bias(w, b) for label, (w, b) in mats.items()}
    for label, (w, _) in mats.items():
        lines += _matrix_w_lines(label, w, betas[label])
    lines += embed_lines(soul)
    for i in range(c.n_layers):
        for g in ("n1", "n2"):
            lines.append(f"w_l{i}_{g}:")
            lines += _bytes_lines(t[f"l{i}.{g}"].values)
    lines.append("w_norm:")
    lines += _bytes_lines(t["norm"].values)
    # one byte before the E_r arrays: they are read as E - 1 + X too, and ENGBSS
    # starts at a page + 128 (asm/soul.cfg: after the squares, mm_dbl, mm_sqc)
    lines += [f'        .segment "{seg}"', "mm_e_pad:       .res    1", '        .segment "WEIGHTS"']
    for label, (w, b) in mats.items():
        lines += _matmul_desc_lines(label, w, b, seg, betas[label])
    lines.append("; every matmul descriptor, for engine_init (E_r); 0 ends the list")
    lines.append("mm_desc_list:")
    for i in range(c.n_layers):
        lines.append("        .word   " + ", ".join(f"l{i}_{m}_desc" for m in ("qkv", "proj", "fc1", "fc2")))
    lines.append("        .word   out_desc, 0")
    lines += layer_table_lines(soul)
    return "\n".join(lines) + "\n"


def layer_record(soul, i) -> dict:
    """Layer i's record of the engine's layer table: {field: ca65 expression}
    for every field of spec.LAYER_FIELDS."""
    t, p = soul.tensors, f"l{i}"
    rec = {m: f"{p}_{m}_desc" for m in ("qkv", "proj", "fc1", "fc2")}
    rec.update({g: f"w_{p}_{g}" for g in ("n1", "n2")})
    rec.update({f"{g}_shift": f"<({t[f'{p}.{g}'].shift})" for g in ("n1", "n2")})
    for field, tensor in (("q", "q"), ("k", "k"), ("v", "v"), ("proj", "proj"), ("fc1", "fc1_w"), ("fc2", "fc2_w")):
        rec[f"{field}_shift"] = f"<({t[f'{p}.{tensor}'].shift + POST_SHIFT})"
    return rec


def layer_table_lines(soul) -> list:
    """`layer_table`: one .struct LayerRec (spec.inc) per layer, fields in
    spec.LAYER_FIELDS order; the .assert checks the record size."""
    lines = ["; per layer one LayerRec (spec.inc, soulplayer.spec.LAYER_FIELDS)", "layer_table:"]
    for i in range(soul.config.n_layers):
        rec = layer_record(soul, i)
        for name, size, _ in LAYER_FIELDS:
            lines.append(f"        .{size:<6} {rec[name]:<24} ; l{i}.{name}")
    lines.append(f"        .assert * - layer_table = {soul.config.n_layers} * .sizeof(LayerRec), error, "
                 '"layer_table: records disagree with LayerRec"')
    return lines


def write_weights_inc(soul, path) -> Path:
    """Write the soul's tensors as ca65 data (see the module doc) to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, weights_inc_text(soul))
    return path


def check_engine_limits(config, soul=None) -> None:
    """The sizes (and embedding and gain shifts) the 6502 engine handles:
    soulplayer.spec's limits, which model.inc and spec.inc also .assert. One
    line naming the first one a soul breaks, before ca65 runs."""
    problems = engine_limit_problems(config)
    if soul is not None:
        problems += [p for p in (embed_shift_problem(n, soul[n].shift) for n in ("te", "pe")) if p]
        gains = [f"l{i}.{g}" for i in range(config.n_layers) for g in ("n1", "n2")] + ["norm"]
        problems += [p for p in (gain_shift_problem(n, soul[n].shift) for n in gains) if p]
    if problems:
        raise SoulError(f"this soul does not fit the 6502 engine: {problems[0]}")


def max_rows(config) -> int:
    return max(3 * config.embed_dim, config.ff_dim, config.vocab_size, config.embed_dim)


def render_template(template: str, out_path, **context) -> Path:
    """Render asm/<template> (Jinja, StrictUndefined) to out_path."""
    env = Environment(loader=FileSystemLoader(str(ASM_DIR)), undefined=StrictUndefined,
                      keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    text = env.get_template(template).render(**context)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_path, text)
    return out_path


def mm_slots(config) -> int:
    """Unrolled multiply-add slots of asm/matmul.s: one per input column of the widest matrix."""
    return max(config.embed_dim, config.ff_dim)


def render_mm_slots(config, out_path) -> Path:
    return render_template("mm_slots.s.j2", out_path, n_slots=mm_slots(config))


def render_model_inc(soul, out_path, name="soul") -> Path:
    shifts = {n: t.shift for n, t in soul.tensors.items()}
    return render_template("model.inc.j2", out_path, c=soul.config, shifts=shifts,
                           max_rows=max_rows(soul.config), name=name,
                           mm_table_xmax=MM_TABLE_XMAX, mm_fallback_x=MM_FALLBACK_X,
                           mm_slots=mm_slots(soul.config), mm_engbss_room=MM_ENGBSS_ROOM,
                           mm_index_len=MM_INDEX_LEN, mm_sqc_len=MM_SQC_LEN,
                           engbss_bytes=engbss_bytes(soul.config))


def generate(soul, out_dir, name="soul") -> dict:
    """The generated includes into out_dir: {'model', 'weights', 'mm_slots': path}."""
    check_engine_limits(soul.config, soul)
    out_dir = Path(out_dir)
    return {"model": render_model_inc(soul, out_dir / "model.inc", name),
            "weights": write_weights_inc(soul, out_dir / "weights.inc"),
            "mm_slots": render_mm_slots(soul.config, out_dir / "mm_slots.inc")}
