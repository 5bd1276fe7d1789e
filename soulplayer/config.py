"""Model dimensions and the fixed token ids, shared by every engine."""
from dataclasses import dataclass

from .spec import END, PAD, SEP, SPECIALS, UNK  # noqa: F401 (the ids live in spec.py)


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
    max_input_chars: int = 34
    min_reply_tokens: int = 6

    def __post_init__(self):
        if self.n_heads * self.head_dim != self.embed_dim:
            raise ValueError(f"n_heads*head_dim = {self.n_heads * self.head_dim} != embed_dim {self.embed_dim}")

    @property
    def max_input_tokens(self) -> int:
        """Prompt tokens allowed between the two SEPs."""
        return self.context - 2 - self.min_reply_tokens
