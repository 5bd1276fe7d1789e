"""Model dimensions and the fixed token ids, shared by every engine."""
from dataclasses import dataclass

from .spec import END, PAD, SEP, SPECIALS, UNK  # noqa: F401 (the ids live in spec.py)

# The context `soul train` gives new souls: the longest the C64 program's memory map and
# engine allow (ModelConfig keeps 20, so v3 souls, which carry no dims, load unchanged).
TRAIN_DEFAULT_CONTEXT = 40
# The input rule: a typed line fits one C64 screen line after "YOU> ", and its
# tokens leave the context room for the two SEPs and REPLY_ROOM reply tokens:
# max_input_tokens = context - 2 - REPLY_ROOM (12 for a context of 20).
SCREEN_LINE_CHARS = 34
REPLY_ROOM = 6


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int = 128
    embed_dim: int = 32
    n_heads: int = 4
    head_dim: int = 8
    ff_dim: int = 64
    n_layers: int = 2
    context: int = 20
    # Input limits (not stored in soul.bin): a typed line keeps room for a reply
    # and fits one C64 screen line after the "YOU> " prompt.
    max_input_chars: int = SCREEN_LINE_CHARS
    min_reply_tokens: int = REPLY_ROOM

    def __post_init__(self):
        if self.n_heads * self.head_dim != self.embed_dim:
            raise ValueError(f"n_heads*head_dim = {self.n_heads * self.head_dim} != embed_dim {self.embed_dim}")

    @property
    def max_input_tokens(self) -> int:
        """Prompt tokens allowed between the two SEPs: follows the context."""
        return self.context - 2 - self.min_reply_tokens
