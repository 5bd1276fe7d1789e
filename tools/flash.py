"""Write a d64 image to a real 1541 with OpenCBM's d64copy, then verify.

Before anything is written (or the user asked), check_ready checks the image,
the tools and that the drive answers (OpenCBM's `cbmctrl status`).
d64copy exits 0 even when a write fails, so the disk is read back (d64copy
from the drive into a temporary image) and compared with the image, block by
block. OpenCBM is not packaged in Debian/Ubuntu: it comes from its upstream
project, https://github.com/OpenCBM/OpenCBM (build from source, with a
ZoomFloppy/XUM1541 or XU1541 cable; see its README for the kernel driver).
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from soulplayer.errors import SoulError

from .disk import D64_BYTES

D64COPY = "d64copy"
CBMCTRL = "cbmctrl"             # OpenCBM's drive control tool: `cbmctrl status 8` asks the drive
STATUS_TIMEOUT_S = 20
OPENCBM_HINT = ("OpenCBM is not in Debian: build it from https://github.com/OpenCBM/OpenCBM "
                "(needs a ZoomFloppy/XUM1541 or XU1541 cable)")
ERROR_INFO_BYTES = 683          # d64 with one error byte per sector
# sectors per track on a 1541: tracks 1-17, 18-24, 25-30, 31-35
ZONES = ((17, 21), (24, 19), (30, 18), (35, 17))
SECTOR_BYTES = 256
TIMEOUT_S = 600


def track_sector(offset: int) -> tuple[int, int]:
    """(track, sector) of a byte offset in a 35-track d64 image."""
    block = offset // SECTOR_BYTES
    track = 1
    for last, per_track in ZONES:
        while track <= last:
            if block < per_track:
                return track, block
            block -= per_track
            track += 1
    raise ValueError(f"offset {offset} beyond 35 tracks")


def find_tool(name: str = D64COPY) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise SoulError(f"{name} not found on PATH; {OPENCBM_HINT}")
    return exe


def find_d64copy() -> str:
    return find_tool(D64COPY)


def _last_line(text: str) -> str:
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    return lines[-1] if lines else "no output"


def _d64copy(exe: str, source: str, target: str, drive: int, what: str) -> None:
    try:
        p = subprocess.run([exe, source, target], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise SoulError(f"drive {drive}: d64copy did not finish {what} within {TIMEOUT_S} s") from None
    except OSError as e:
        raise SoulError(f"{exe}: cannot run: {e.strerror}") from None
    if p.returncode != 0:
        raise SoulError(f"drive {drive}: d64copy failed {what} (is the drive on and the cable "
                        f"connected?): {_last_line(p.stdout)}")


def first_difference(a: bytes, b: bytes) -> int | None:
    """Offset of the first differing byte of two disk images, None if equal."""
    for off in range(0, max(len(a), len(b)), SECTOR_BYTES):
        if a[off:off + SECTOR_BYTES] != b[off:off + SECTOR_BYTES]:
            return off
    return None


def read_image(d64_path) -> bytes:
    """The 35-track image (error bytes dropped); SoulError if it is not one."""
    d64_path = Path(d64_path)
    try:
        image = d64_path.read_bytes()
    except OSError as e:
        raise SoulError(f"{d64_path}: cannot read: {e.strerror} (run `make disk` first)") from None
    if len(image) not in (D64_BYTES, D64_BYTES + ERROR_INFO_BYTES):
        raise SoulError(f"{d64_path}: {len(image)} bytes is not a 35-track d64 image")
    return image[:D64_BYTES]


def drive_status(drive: int) -> str:
    """The drive's status line (`cbmctrl status`); SoulError when no drive answers."""
    exe = find_tool(CBMCTRL)
    try:
        p = subprocess.run([exe, "status", str(drive)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, text=True, timeout=STATUS_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise SoulError(f"drive {drive}: no answer within {STATUS_TIMEOUT_S} s (is it on and the cable "
                        "connected?)") from None
    except OSError as e:
        raise SoulError(f"{exe}: cannot run: {e.strerror}") from None
    status = _last_line(p.stdout)
    if p.returncode != 0 or not status[:2].isdigit():
        raise SoulError(f"drive {drive}: no drive answers (is it on and the cable connected?): {status}")
    return status


def check_ready(d64_path, drive: int = 8) -> bytes:
    """Everything flash needs, checked before anyone is asked to risk a floppy:
    the image, the drive number, d64copy and cbmctrl, and a drive that answers.
    Returns the image."""
    image = read_image(d64_path)
    if not 8 <= drive <= 11:
        raise SoulError(f"drive {drive}: a 1541 is drive 8, 9, 10 or 11")
    find_d64copy()
    drive_status(drive)
    return image


def flash(d64_path, drive: int = 8, image: bytes | None = None) -> None:
    """Write d64_path to the 1541 `drive` and verify it by reading it back
    (image: what check_ready returned, when the caller ran it already)."""
    if image is None:
        image = check_ready(d64_path, drive)
    exe = find_d64copy()
    _d64copy(exe, str(d64_path), str(drive), drive, "writing the disk")
    with tempfile.TemporaryDirectory(prefix="soulflash-") as tmp:
        back_path = Path(tmp) / "readback.d64"
        _d64copy(exe, str(drive), str(back_path), drive, "reading the disk back")
        if not back_path.is_file():
            raise SoulError(f"drive {drive}: d64copy wrote no image when reading the disk back")
        back = back_path.read_bytes()[:D64_BYTES]
    diff = first_difference(image, back)
    if diff is not None:
        if diff >= len(back):
            where = f"the read-back image ends after {len(back)} bytes"
        else:
            track, sector = track_sector(diff)
            where = f"track {track} sector {sector} differs"
        raise SoulError(f"drive {drive}: verification failed, {where} (d64copy reported success; "
                        "try another floppy)")
