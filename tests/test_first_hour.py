"""A new user's first hour: make disk/run keep the soul they chose, a missing
optional package is one line, the terminal chat edits lines, and the package
installs without the source tree."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SOUL_CLI
from soulplayer.gen.tokenizer_inc import name_petscii

ROOT = Path(__file__).resolve().parents[1]


def make(*args):
    return subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), *map(str, args)],
                          capture_output=True, text=True)


def test_make_run_runs_the_disk_last_built(original_soul_path, original_tokenizer_path, tmp_path):
    run_dir = tmp_path / "me"
    run_dir.mkdir()
    (run_dir / "soul.bin").write_bytes(original_soul_path.read_bytes())
    (run_dir / "tokenizer.json").write_bytes(original_tokenizer_path.read_bytes())
    out = tmp_path / "build"
    built = make("disk", f"BUILD={out}", f"SOUL={run_dir / 'soul.bin'}", "NAME=Ada 2")   # tokenizer beside
    assert built.returncode == 0, built.stderr
    d64 = (out / "soulplayer.d64").read_bytes()
    assert bytes(name_petscii("ADA 2")) in (out / "soulplayer.prg").read_bytes()
    # make run without SOUL: that disk, not a rebuild with the default soul
    ran = make("run", f"BUILD={out}", "X64SC=echo x64sc")
    assert ran.returncode == 0, ran.stderr
    assert f"-autostart {out}/soulplayer.d64" in ran.stdout and "soul build" not in ran.stdout
    assert (out / "soulplayer.d64").read_bytes() == d64
    # with SOUL given, make run builds that soul first
    plan = make("-n", "run", f"BUILD={out}", "SOUL=other/soul.bin", "TOKENIZER=other/t.json")
    lines = plan.stdout.splitlines()
    build_at = next(i for i, l in enumerate(lines) if "soul build" in l)
    assert "--soul other/soul.bin --tokenizer other/t.json" in lines[build_at]
    assert build_at < next(i for i, l in enumerate(lines) if "-autostart" in l)


def test_train_without_torch_is_one_line(tmp_path):
    """`soul train` after `make disk` (no torch): one line naming the install command."""
    code = ("import sys; sys.modules['torch'] = None; from soulplayer.cli import main; "
            f"sys.argv = ['soul', 'train', '--output', {str(tmp_path / 'run')!r}]; main()")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("soul: error: 'soul train' needs torch")
    assert "make venv-full" in run.stderr and "pip install -e '.[train]'" in run.stderr


def _read_until(fd, text, seen, timeout=30):
    import select
    import time
    end = time.time() + timeout
    while text not in seen[0]:
        ready, _, _ = select.select([fd], [], [], max(0.0, end - time.time()))
        if not ready:
            raise AssertionError(f"no {text!r} in {seen[0]!r}")
        try:
            seen[0] += os.read(fd, 4096).decode(errors="replace")
        except OSError:          # the child closed the terminal
            raise AssertionError(f"no {text!r} in {seen[0]!r}") from None
    head, seen[0] = seen[0].split(text, 1)
    return head


def test_terminal_chat_has_history_labels_and_quits_on_trimmed_q(original_soul_path, original_tokenizer_path):
    """In a terminal: the reply after the soul's name (SOUL>, as on the C64),
    Up recalls the last line (readline), a cut line says what the soul heard,
    and `  q  ` quits."""
    import pty
    master, slave = pty.openpty()
    proc = subprocess.Popen([str(SOUL_CLI), "chat", "--soul", str(original_soul_path), "--tokenizer",
                             str(original_tokenizer_path)], stdin=slave, stdout=slave, stderr=slave,
                            env={**os.environ, "TERM": "xterm"}, close_fds=True)
    os.close(slave)
    seen = [""]
    try:
        _read_until(master, "YOU> ", seen)
        os.write(master, b"hello\r")
        first = _read_until(master, "YOU> ", seen)
        os.write(master, b"\x1b[A\r")                    # Up: the last line again
        again = _read_until(master, "YOU> ", seen)
        os.write(master, b"tell me something nice\r")
        cut = _read_until(master, "YOU> ", seen)
        os.write(master, b"  q  \r")
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        os.close(master)
    assert "SOUL> hello! you're wonderful!" in first
    assert "SOUL> hello! you're wonderful!" in again and "[A" not in again
    from soulplayer.chat import fit_input
    from soulplayer.config import ModelConfig
    from soulplayer.tokenizer import Tokenizer
    heard = fit_input("tell me something nice", Tokenizer.load(original_tokenizer_path), ModelConfig())
    assert heard != "tell me something nice" and f'(heard: "{heard}")' in cut


def test_a_wheel_carries_asm_models_and_corpus(tmp_path):
    """`pip install .` (not editable): the wheel holds asm/, models/ and corpus/
    as package data, and the installed copy finds them there."""
    import zipfile
    src = tmp_path / "src"
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    for name in files.stdout.splitlines():
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes((ROOT / name).read_bytes())
    wheel = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            "-w", str(tmp_path / "dist"), str(src)], capture_output=True, text=True)
    assert wheel.returncode == 0, wheel.stderr
    site = tmp_path / "site"
    zipfile.ZipFile(next((tmp_path / "dist").glob("soulplayer-*.whl"))).extractall(site)   # what pip does
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "from soulplayer import paths; from soulplayer.tools import build; "
            "from soulplayer.training import corpus; from soulplayer.gen import weights; "
            "print(paths.DATA_ROOT, build.LINKER_CFG.is_file(), weights.ASM_DIR == build.ASM_DIR, "
            "corpus.DEFAULT_CORPUS.is_file(), paths.DEFAULT_SOUL.is_file(), paths.DEFAULT_TOKENIZER.is_file(), "
            "len(list(paths.ASM_DIR.glob('*.s'))))")
    run = subprocess.run([sys.executable, "-c", code, str(site)], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    n_asm = len(list((ROOT / "asm").glob("*.s")))
    assert run.stdout.split() == [str(site / "soulplayer"), "True", "True", "True", "True", "True", str(n_asm)]
    chat = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv.pop(1)); "
                           "from soulplayer.cli import main; main()", str(site), "chat"],
                          input="hello\n", capture_output=True, text=True, cwd=tmp_path)
    reference = subprocess.run([str(SOUL_CLI), "chat"], input="hello\n", capture_output=True, text=True)
    assert chat.returncode == 0 and chat.stdout == reference.stdout != "", chat.stderr


def _imports(path: Path) -> set:
    """Absolute names of the soulplayer modules a file imports (relative ones resolved)."""
    import ast
    package = {"soulplayer": "soulplayer", "tools": "soulplayer.tools", "gen": "soulplayer.gen",
               "training": "soulplayer.training"}[path.parent.name]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            mod = ".".join(p for p in (base, node.module) if p)
            names |= {mod} | {f"{mod}.{a.name}" for a in node.names}
    return {n for n in names if n.startswith("soulplayer")}


def test_dependencies_point_one_way():
    """cli -> tools, training, gen -> core: nothing imports the CLI back, and
    the core imports none of the layers above it."""
    cli = {"soulplayer.cli", "soulplayer.chat_cli"}
    upper = ("soulplayer.tools", "soulplayer.training", "soulplayer.gen")
    for folder in ("tools", "gen", "training", "soulplayer"):
        for path in sorted((ROOT / folder).glob("*.py")):
            if folder == "soulplayer" and path.stem in ("cli", "chat_cli"):
                continue
            names = _imports(path)
            assert not names & cli, f"{folder}/{path.name} imports the CLI"
            if folder == "soulplayer":
                assert not [n for n in names if n.startswith(upper)], f"core {path.name} imports {names}"
