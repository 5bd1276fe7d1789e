"""Where things are, and the defaults every command shares.

The data folders (asm/, models/, corpus/) sit beside the `soulplayer` package
folder in a source tree (the editable install `make` makes); a wheel
(`pip install .`) carries them inside the package as package data
(pyproject.toml maps them to soulplayer/asm, soulplayer/models,
soulplayer/corpus). DATA_ROOT is whichever of the two holds them.

`load_pair(soul, tokenizer)` is how every command loads a soul with its
tokenizer: the tokenizer defaults to tokenizer.json beside the soul, and a
tokenizer that is not the one the soul was trained with is a one-line error.
"""
from __future__ import annotations

import re
from pathlib import Path

from .errors import SoulError
from .soulfile import load_soul
from .tokenizer import Tokenizer

PACKAGE_DIR = Path(__file__).resolve().parent


def _data_root() -> Path:
    if (PACKAGE_DIR / "asm").is_dir():          # installed from a wheel: package data
        return PACKAGE_DIR
    return PACKAGE_DIR.parent                   # the source tree (editable install)


DATA_ROOT = _data_root()
SOURCE_TREE = DATA_ROOT == PACKAGE_DIR.parent   # True in a checkout, False in a wheel
ASM_DIR = DATA_ROOT / "asm"
MODELS_DIR = DATA_ROOT / "models"
CORPUS_DIR = DATA_ROOT / "corpus"
DEFAULT_SOUL = MODELS_DIR / "soul.bin"
DEFAULT_TOKENIZER = MODELS_DIR / "tokenizer.json"
DEFAULT_CORPUS = CORPUS_DIR / "default.txt"
TOKENIZER_NAME = "tokenizer.json"
# cached builds (the VICE engine, the headless chat program): the checkout's
# build/ folder, or build/ in the current folder for an installed copy
BUILD_DIR = (DATA_ROOT if SOURCE_TREE else Path.cwd()) / "build"


def tokenizer_beside(soul_path) -> Path:
    """The default tokenizer of a soul: tokenizer.json in the soul's folder."""
    return Path(soul_path).parent / TOKENIZER_NAME


def check_pair(soul, tok, soul_path, tokenizer_path) -> None:
    """SoulError unless `tok` can be the tokenizer of `soul`."""
    if soul.fingerprint is not None and soul.fingerprint != tok.fingerprint():
        raise SoulError(f"{tokenizer_path} is not the tokenizer {soul_path} was trained with "
                        f"(fingerprint {tok.fingerprint().hex()}, the soul wants {soul.fingerprint.hex()}); "
                        f"give the tokenizer.json written with it: --tokenizer (make: TOKENIZER=)")
    if tok.vocab_size > soul.config.vocab_size:
        raise SoulError(f"{tokenizer_path}: {tok.vocab_size} tokens but {soul_path} has a vocabulary "
                        f"of {soul.config.vocab_size}")


def load_pair(soul_path, tokenizer_path=None):
    """(Soul, Tokenizer); tokenizer_path None: tokenizer.json beside the soul."""
    soul = load_soul(soul_path)
    if tokenizer_path is None:
        tokenizer_path = tokenizer_beside(soul_path)
        if not tokenizer_path.is_file():
            raise SoulError(f"{soul_path}: no {TOKENIZER_NAME} beside it; give its tokenizer with "
                            f"--tokenizer (make: TOKENIZER=)")
    tok = Tokenizer.load(tokenizer_path)
    check_pair(soul, tok, soul_path, tokenizer_path)
    return soul, tok


def default_name(soul_path) -> str:
    """The soul's screen name from its file name: models/soul.bin -> SOUL."""
    name = re.sub(r"[^A-Z0-9 .\-]", "-", Path(soul_path).stem.upper())[:16]
    return name or "SOUL"
