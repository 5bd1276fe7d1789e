"""Before any training time is spent: does a soul of these dimensions fit the C64 program?

The check builds the real chat program (the same path as `soul build`) for a
stand-in soul of the chosen dimensions (all weights zero: the program's size
depends only on the dimensions, and on te being tied to out, as the trainer
ties them: one copy of the 4 KB table for the default dims) with the tokenizer the run learned and the
corpus replies the disk will carry (corpus reply mode), and reads
the linker's figures. A soul that does not fit stops here with the build's own
one-line error (which names the memory region and the bytes over).
"""
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from soulplayer.errors import SoulError
from soulplayer.soulfile import Soul, Tensor, record_layout, save_soul


@dataclass
class Budget:
    used: int      # bytes of RAM the program takes in its memory areas
    free: int      # bytes left there

    def line(self, config) -> str:
        return f"context {config.context} needs {self.used} bytes, {self.free} free"


def stand_in_soul(config) -> Soul:
    """Zero weights of the given dimensions (shift 0: inside every engine limit)."""
    return Soul(config, {name: Tensor(np.zeros((rows, cols), np.int64), 0, kind)
                         for name, kind, rows, cols in record_layout(config)})


def budget_from_map(map_path) -> Budget:
    """Used and free bytes summed over the program's memory areas (soul build's budget)."""
    from soulplayer.tools.build import memory_budget
    areas = memory_budget(map_path).values()
    return Budget(sum(a["used"] for a in areas), sum(a["free"] for a in areas))


def check_c64_budget(config, tok, replies=()) -> Budget:
    """Build the chat program for a stand-in soul of `config`'s dims (with the corpus `replies`,
    whose trie goes on the disk too); -> its Budget, or a SoulError that names the dims, the
    build's cause and the option that skips the check."""
    from soulplayer.replies import REPLIES_NAME, write_replies
    from soulplayer.tools.commands_program import build_program
    dims = (f"context {config.context}, embed {config.embed_dim}, ff {config.ff_dim}, "
            f"layers {config.n_layers}")
    with tempfile.TemporaryDirectory(prefix="soul-c64check-") as tmp:
        tmp = Path(tmp)
        soul_path, tok_path = tmp / "soul.bin", tmp / "tokenizer.json"
        save_soul(stand_in_soul(config), soul_path)
        tok.save(tok_path)
        if replies:
            write_replies(tmp / REPLIES_NAME, replies)
        try:
            art = build_program(soul_path, tok_path, tmp / "build")
        except SoulError as e:
            raise SoulError(f"{dims}: {e} (--no-c64-check trains anyway)") from None
        return budget_from_map(art.map)
