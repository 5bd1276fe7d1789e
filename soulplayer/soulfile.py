"""soul.bin: read and write the weights (v3 records, optional soulplayer header).

v3 (the original release): 24 records, each `u8 kind, u16 rows, u16 cols, i8 shift`
then rows*cols values (kind 0: int8, kind 1: int16 LE). No magic, default dims.

The project's own header: MAGIC, a version byte and the 7 dims (u16 LE each);
version 5 adds the 8-byte fingerprint of the soul's tokenizer
(Tokenizer.fingerprint). The records that follow are laid out exactly as in v3.
A soul that knows its tokenizer's fingerprint is written as version 5; one
without (read from a v3 or version 4 file) as v3 for the default dims (a v3
file round-trips byte-identical), else as version 4.
"""
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import ModelConfig
from .errors import SoulError
from .fileio import atomic_write_bytes
from .tokenizer import FINGERPRINT_BYTES

MAGIC = b"SOUL"
HEADER_VERSION = 5                 # written when the soul has a fingerprint
HEADER_VERSION_DIMS = 4            # dims only (still read; written without a fingerprint)
DIM_FIELDS = ("vocab_size", "embed_dim", "n_heads", "head_dim", "ff_dim", "n_layers", "context")
RECORD_HEADER = struct.Struct("<BHHb")
KIND_INT8, KIND_INT16 = 0, 1
MIN_VOCAB = 39
LAYER_RECORDS = ("n1", "q", "k", "v", "proj", "n2", "fc1_w", "fc1_b", "fc2_w", "fc2_b")


@dataclass
class Tensor:
    values: np.ndarray  # int64, rows x cols
    shift: int
    kind: int = KIND_INT8


@dataclass
class Soul:
    config: ModelConfig
    tensors: dict  # name -> Tensor, in record order
    fingerprint: bytes | None = None   # its tokenizer's (Tokenizer.fingerprint), if known

    def __getitem__(self, name) -> Tensor:
        return self.tensors[name]


def record_layout(c: ModelConfig):
    """[(name, kind, rows, cols)] in file order."""
    recs = [("te", KIND_INT8, c.vocab_size, c.embed_dim), ("pe", KIND_INT8, c.context, c.embed_dim)]
    for i in range(c.n_layers):
        shapes = {
            "n1": (KIND_INT8, c.embed_dim, 1), "q": (KIND_INT8, c.embed_dim, c.embed_dim),
            "k": (KIND_INT8, c.embed_dim, c.embed_dim), "v": (KIND_INT8, c.embed_dim, c.embed_dim),
            "proj": (KIND_INT8, c.embed_dim, c.embed_dim), "n2": (KIND_INT8, c.embed_dim, 1),
            "fc1_w": (KIND_INT8, c.ff_dim, c.embed_dim), "fc1_b": (KIND_INT16, c.ff_dim, 1),
            "fc2_w": (KIND_INT8, c.embed_dim, c.ff_dim), "fc2_b": (KIND_INT16, c.embed_dim, 1),
        }
        recs += [(f"l{i}.{n}", *shapes[n]) for n in LAYER_RECORDS]
    recs += [("norm", KIND_INT8, c.embed_dim, 1), ("out", KIND_INT8, c.vocab_size, c.embed_dim)]
    return recs


def _dtype(kind):
    return np.dtype("<i1") if kind == KIND_INT8 else np.dtype("<i2")


def _read_config(data: bytes, name: str):
    """Return (config, tokenizer fingerprint or None, offset of the first record)."""
    if not data.startswith(MAGIC):
        return ModelConfig(), None, 0
    if len(data) <= len(MAGIC):
        raise SoulError(f"{name}: truncated header: {len(data)} bytes")
    version = data[len(MAGIC)]
    if version not in (HEADER_VERSION_DIMS, HEADER_VERSION):
        raise SoulError(f"{name}: unknown header version {version} (this soulplayer reads "
                        f"{HEADER_VERSION_DIMS} and {HEADER_VERSION})")
    dims_end = len(MAGIC) + 1 + 2 * len(DIM_FIELDS)
    need = dims_end + (FINGERPRINT_BYTES if version == HEADER_VERSION else 0)
    if len(data) < need:
        raise SoulError(f"{name}: truncated header: {len(data)} of {need} bytes")
    fingerprint = bytes(data[dims_end:need]) if version == HEADER_VERSION else None
    dims = struct.unpack_from(f"<{len(DIM_FIELDS)}H", data, len(MAGIC) + 1)
    try:
        config = ModelConfig(**dict(zip(DIM_FIELDS, dims)))
    except ValueError as e:
        raise SoulError(f"{name}: bad dimensions in header: {e}") from None
    if min(dims) < 1:
        raise SoulError(f"{name}: bad dimensions in header: {dict(zip(DIM_FIELDS, dims))}")
    if config.vocab_size < MIN_VOCAB:
        raise SoulError(f"{name}: vocab_size {config.vocab_size} below {MIN_VOCAB} (4 specials + 35 characters)")
    if config.max_input_tokens < 1:
        raise SoulError(f"{name}: context {config.context} leaves no room for input "
                        f"(2 SEPs + {config.min_reply_tokens} reply tokens + at least 1)")
    return config, fingerprint, need


def parse_soul(data: bytes, name: str = "soul.bin") -> Soul:
    config, fingerprint, pos = _read_config(data, name)
    tensors = {}
    layout = record_layout(config)
    for index, (rec, kind, rows, cols) in enumerate(layout):
        where = f"{name}: record {index} ({rec})"
        if pos + RECORD_HEADER.size > len(data):
            raise SoulError(f"{where}: truncated: header needs {RECORD_HEADER.size} bytes, {len(data) - pos} left")
        k, r, c, shift = RECORD_HEADER.unpack_from(data, pos)
        pos += RECORD_HEADER.size
        if k not in (KIND_INT8, KIND_INT16):
            raise SoulError(f"{where}: unknown kind {k}")
        if k != kind:
            raise SoulError(f"{where}: kind {k}, expected {kind}")
        if (r, c) != (rows, cols):
            raise SoulError(f"{where}: shape {r}x{c}, expected {rows}x{cols}")
        size = rows * cols * _dtype(kind).itemsize
        if pos + size > len(data):
            raise SoulError(f"{where}: truncated: data needs {size} bytes, {len(data) - pos} left")
        values = np.frombuffer(data, _dtype(kind), rows * cols, pos).astype(np.int64).reshape(rows, cols)
        tensors[rec] = Tensor(values, shift, kind)
        pos += size
    if pos != len(data):
        raise SoulError(f"{name}: {len(data) - pos} bytes after the last record ({layout[-1][0]}): file too long")
    return Soul(config, tensors, fingerprint)


def load_soul(path) -> Soul:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SoulError(f"{path}: cannot read: {e.strerror}") from None
    if not data:
        raise SoulError(f"{path}: empty file")
    return parse_soul(data, str(path))


def soul_bytes(soul: Soul) -> bytes:
    """Serialize: version 5 with the tokenizer's fingerprint when the soul has
    one; otherwise version 4 for other dims, or a plain v3 file (the original
    release's layout) for the default dims."""
    out = bytearray()
    default = ModelConfig()
    other_dims = any(getattr(soul.config, f) != getattr(default, f) for f in DIM_FIELDS)
    if soul.fingerprint is not None or other_dims:
        fingerprint = soul.fingerprint
        if fingerprint is not None and len(fingerprint) != FINGERPRINT_BYTES:
            raise SoulError(f"tokenizer fingerprint of {len(fingerprint)} bytes, expected {FINGERPRINT_BYTES}")
        out += MAGIC + bytes([HEADER_VERSION_DIMS if fingerprint is None else HEADER_VERSION])
        out += struct.pack(f"<{len(DIM_FIELDS)}H", *(getattr(soul.config, f) for f in DIM_FIELDS))
        out += fingerprint or b""
    for name, kind, rows, cols in record_layout(soul.config):
        t = soul.tensors[name]
        values = np.asarray(t.values).reshape(rows, cols)
        info = np.iinfo(_dtype(kind))
        if values.min(initial=0) < info.min or values.max(initial=0) > info.max:
            raise SoulError(f"{name}: values outside {_dtype(kind).name} range")
        if not -128 <= t.shift <= 127:
            raise SoulError(f"{name}: shift {t.shift} does not fit int8")
        out += RECORD_HEADER.pack(kind, rows, cols, t.shift)
        out += values.astype(_dtype(kind)).tobytes()
    return bytes(out)


def save_soul(soul: Soul, path) -> None:
    atomic_write_bytes(path, soul_bytes(soul))
