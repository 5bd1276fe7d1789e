"""`soul flash` with a fake OpenCBM d64copy and cbmctrl on PATH (no 1541 needed).

The fake keeps the "floppy" in a file ($FAKE_1541). FAKE_D64COPY_MODE:
ok (default), corrupt (a write changes one sector but exits 0, like the
real d64copy on a bad disk), nodrive (no drive answers: both tools fail)."""
import os
import stat
import sys

import pytest
from click.testing import CliRunner

from soulplayer.cli import main
from soulplayer.errors import SoulError
from soulplayer.tools.disk import D64_BYTES, read_prg, write_d64
from soulplayer.tools.flash import flash, track_sector

FAKE = r'''#!{python}
import os, sys
drive_file = os.environ["FAKE_1541"]
mode = os.environ.get("FAKE_D64COPY_MODE", "ok")
src, dst = sys.argv[-2], sys.argv[-1]
if mode == "nodrive":
    print("cbm_driver_open: No such device or address")
    sys.exit(1)
if src.isdigit():                    # read the disk into an image
    with open(drive_file, "rb") as f, open(dst, "wb") as g:
        g.write(f.read())
else:                                # write an image to the disk
    data = bytearray(open(src, "rb").read())
    if mode == "corrupt":
        data[0x16500] ^= 0xFF        # track 18 sector 0: the BAM
    with open(drive_file, "wb") as f:
        f.write(data)
print("357 blocks copied.")
'''

FAKE_CBMCTRL = r'''#!{python}
import os, sys
if os.environ.get("FAKE_D64COPY_MODE") == "nodrive":
    print("cbm_driver_open: No such device or address")
    sys.exit(1)
print("73,cbm dos v2.6 1541,00,00")
'''


@pytest.fixture
def fake_d64copy(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("d64copy", FAKE), ("cbmctrl", FAKE_CBMCTRL)):
        exe = bin_dir / name
        exe.write_text(text.replace("{python}", sys.executable))
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_1541", str(tmp_path / "floppy.img"))
    return tmp_path / "floppy.img"


@pytest.fixture
def disk(tmp_path):
    prg = tmp_path / "p.prg"
    prg.write_bytes(b"\x01\x08" + bytes(range(256)) * 20)
    return write_d64(prg, tmp_path / "soulplayer.d64")


def test_flash_writes_and_verifies(fake_d64copy, disk):
    result = CliRunner().invoke(main, ["flash", "--disk", str(disk), "--yes"])
    assert result.exit_code == 0, result.output
    assert "written and verified" in result.output
    assert fake_d64copy.read_bytes() == disk.read_bytes()


def test_failed_write_is_caught_by_readback(fake_d64copy, disk, monkeypatch):
    monkeypatch.setenv("FAKE_D64COPY_MODE", "corrupt")
    with pytest.raises(SoulError, match="verification failed, track 18 sector 0 differs"):
        flash(disk, 8)
    result = CliRunner().invoke(main, ["flash", "--disk", str(disk), "--yes"])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "soul: error: drive 8: verification failed" in result.output


def test_missing_d64copy_is_one_line(disk, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = CliRunner().invoke(main, ["flash", "--disk", str(disk), "--yes"])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert "d64copy not found" in result.output and "github.com/OpenCBM/OpenCBM" in result.output


def test_missing_drive_is_one_line(fake_d64copy, disk, monkeypatch):
    monkeypatch.setenv("FAKE_D64COPY_MODE", "nodrive")
    result = CliRunner().invoke(main, ["flash", "--disk", str(disk), "--yes"])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "drive 8: no drive answers" in result.output
    assert not fake_d64copy.exists()


def test_refuses_without_yes(fake_d64copy, disk):
    result = CliRunner().invoke(main, ["flash", "--disk", str(disk)], input="")
    assert result.exit_code == 1
    assert "without --yes" in result.output
    assert not fake_d64copy.exists()


def test_checks_come_before_the_question(fake_d64copy, disk, monkeypatch, tmp_path):
    """The image, the tools and the drive are checked before anyone is asked."""
    from soulplayer.tools import commands_program
    monkeypatch.setattr(commands_program, "_stdin_is_terminal", lambda: True)
    ask = "This erases the whole floppy"
    result = CliRunner().invoke(main, ["flash", "--disk", str(tmp_path / "none.d64")], input="y\n")
    assert result.exit_code == 1 and ask not in result.output and "run `make disk` first" in result.output
    monkeypatch.setenv("FAKE_D64COPY_MODE", "nodrive")
    result = CliRunner().invoke(main, ["flash", "--disk", str(disk)], input="y\n")
    assert result.exit_code == 1 and ask not in result.output and "drive 8: no drive answers" in result.output
    monkeypatch.setenv("FAKE_D64COPY_MODE", "ok")
    result = CliRunner().invoke(main, ["flash", "--disk", str(disk), "--drive", "7"], input="y\n")
    assert result.exit_code == 1 and ask not in result.output and "drive 7: a 1541 is drive 8" in result.output
    result = CliRunner().invoke(main, ["flash", "--disk", str(disk)], input="n\n")
    assert ask in result.output and "nothing written" in result.output and not fake_d64copy.exists()
    result = CliRunner().invoke(main, ["flash", "--disk", str(disk)], input="y\n")
    assert result.exit_code == 0 and fake_d64copy.read_bytes() == disk.read_bytes()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = CliRunner().invoke(main, ["flash", "--disk", str(disk)], input="y\n")
    assert result.exit_code == 1 and ask not in result.output and "d64copy not found" in result.output


def test_d64_holds_the_prg(disk, tmp_path):
    assert disk.stat().st_size == D64_BYTES
    assert read_prg(disk) == (tmp_path / "p.prg").read_bytes()
    assert track_sector(0) == (1, 0) and track_sector(0x16500) == (18, 0)
    assert track_sector(D64_BYTES - 1) == (35, 16)
