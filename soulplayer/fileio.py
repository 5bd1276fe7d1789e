"""Files: atomic writes (a kill at any moment leaves either the old file or the new one) and reading text."""
import os
import tempfile
from pathlib import Path


def usual_mode() -> int:
    """The mode a plain new file gets (0666 less the umask); mkstemp gives 0600."""
    return 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, usual_mode())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def read_text(path, missing: str | None = None) -> str:
    """A UTF-8 text file (a byte-order mark is kept for the parser to drop), or a
    one-line SoulError naming the file (and the line of a bad byte); `missing`
    replaces the message for a file that does not exist."""
    from .errors import SoulError
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SoulError(f"{path}: {missing or 'cannot read: No such file or directory'}") from None
    except OSError as e:
        raise SoulError(f"{path}: cannot read: {e.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise SoulError(f"{path}: line {line}: not UTF-8 text") from None
