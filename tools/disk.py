"""Write the chat program onto a 1541 disk image (build/soulplayer.d64).

The image holds one PRG file, SOULPLAYER, so `LOAD"SOULPLAYER",8,1` and
`RUN` work on a C64 (and `LOAD"*",8,1`). Written with the `d64` library into
a temporary image, then moved into place atomically.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from d64 import DiskImage

from soulplayer.errors import SoulError
from soulplayer.fileio import usual_mode

FILE_NAME = b"SOULPLAYER"
DISK_NAME = b"SOULPLAYER"
DISK_ID = b"SP"
D64_BYTES = 174848              # 35 tracks, no error bytes


def write_d64(prg_path, d64_path) -> Path:
    """Create d64_path holding prg_path as the PRG file SOULPLAYER."""
    prg_path, d64_path = Path(prg_path), Path(d64_path)
    try:
        data = prg_path.read_bytes()
    except OSError as e:
        raise SoulError(f"{prg_path}: cannot read: {e.strerror}") from None
    if len(data) < 3:
        raise SoulError(f"{prg_path}: not a PRG (shorter than a load address and one byte)")
    d64_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d64_path.parent, prefix=f".{d64_path.name}.", suffix=".tmp")
    os.close(fd)
    os.unlink(tmp)              # DiskImage.create makes the file itself
    try:
        DiskImage.create("d64", Path(tmp), DISK_NAME, DISK_ID)
        with DiskImage(Path(tmp), "w") as img:
            with img.path(FILE_NAME).open("w", ftype="prg") as f:
                f.write(data)
        os.chmod(tmp, usual_mode())
        os.replace(tmp, d64_path)
    except Exception as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, SoulError):
            raise
        raise SoulError(f"{d64_path}: cannot write the disk image: {e}") from None
    return d64_path


def read_prg(d64_path, name: bytes = FILE_NAME) -> bytes:
    """The bytes of PRG file `name` on a d64 image (load address included)."""
    d64_path = Path(d64_path)
    try:
        with DiskImage(d64_path) as img:
            path = img.path(name)
            if not path.exists():
                raise SoulError(f"{d64_path}: no file {name.decode()} on the disk")
            with path.open() as f:
                return f.read()
    except SoulError:
        raise
    except Exception as e:
        raise SoulError(f"{d64_path}: not a readable d64 image: {e}") from None
