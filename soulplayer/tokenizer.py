"""tokenizer.json and byte-pair encoding (see shared formats: ids 0-3 specials,
4-38 the 35 base characters, then one id per merge in merge order)."""
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from .config import SPECIALS
from .errors import SoulError
from .fileio import atomic_write_text

BASE_CHARS = " abcdefghijklmnopqrstuvwxyz.'!?,;:-"
FIRST_MERGE_ID = len(SPECIALS) + len(BASE_CHARS)  # 39
FINGERPRINT_BYTES = 8


def normalize(text: str) -> str:
    """Lowercase; characters outside the 35 are dropped (the rule everywhere)."""
    return "".join(ch for ch in text.lower() if ch in BASE_CHARS)


@dataclass
class Tokenizer:
    vocab: dict  # token text -> id
    merges: list  # [(a, b)] in order

    def __post_init__(self):
        self.id_to_text = {i: t for t, i in self.vocab.items()}
        # Merges that apply: a, b and a+b all in the vocabulary.
        self.merge_ids = [(self.vocab[a], self.vocab[b], self.vocab[a + b])
                          for a, b in self.merges
                          if a in self.vocab and b in self.vocab and a + b in self.vocab]

    @property
    def vocab_size(self) -> int:
        return max(self.vocab.values()) + 1

    def encode(self, text: str) -> list:
        ids = [self.vocab[ch] for ch in normalize(text)]
        for a, b, ab in self.merge_ids:
            out, i = [], 0
            while i < len(ids):
                if i + 1 < len(ids) and ids[i] == a and ids[i + 1] == b:
                    out.append(ab)
                    i += 2
                else:
                    out.append(ids[i])
                    i += 1
            ids = out
        return ids

    def token_text(self, token: int) -> str:
        """Printable text of a token; specials print as nothing."""
        if token < len(SPECIALS):
            return ""
        return self.id_to_text.get(token, "")

    def decode(self, ids) -> str:
        return "".join(self.token_text(t) for t in ids)

    def fingerprint(self) -> bytes:
        """8 bytes that identify what the tokenizer does: a hash of its tokens
        in id order and its merges (not of the JSON file's formatting)."""
        canon = json.dumps([[self.id_to_text[i] for i in range(self.vocab_size)],
                            [list(m) for m in self.merges]], separators=(",", ":"))
        return hashlib.sha256(canon.encode()).digest()[:FINGERPRINT_BYTES]

    def to_json(self) -> str:
        return json.dumps({"vocab": self.vocab, "merges": [list(m) for m in self.merges],
                           "vocab_size": self.vocab_size}, indent=1) + "\n"

    def save(self, path) -> None:
        atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path) -> "Tokenizer":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise SoulError(f"{path}: cannot read: {e.strerror}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise SoulError(f"{path}: not valid JSON: {e}") from None
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data, name="tokenizer.json") -> "Tokenizer":
        if not isinstance(data, dict):
            raise SoulError(f"{name}: expected a JSON object")
        for key in ("vocab", "merges"):
            if key not in data:
                raise SoulError(f"{name}: missing key '{key}'")
        vocab, merges = data["vocab"], data["merges"]
        if not isinstance(vocab, dict) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                  for v in vocab.values()):
            raise SoulError(f"{name}: 'vocab' must map token text to integer ids")
        for i, tok in enumerate(SPECIALS + tuple(BASE_CHARS)):
            if vocab.get(tok) != i:
                raise SoulError(f"{name}: vocab: {tok!r} must have id {i}")
        for text in vocab:
            if text not in SPECIALS and (not text or any(ch not in BASE_CHARS for ch in text)):
                raise SoulError(f"{name}: vocab: token {text!r} is not made of the 35 characters")
        ids = sorted(vocab.values())
        if ids != list(range(len(ids))):
            raise SoulError(f"{name}: vocab ids must be 0..{len(ids) - 1} without gaps or repeats")
        if not isinstance(merges, list):
            raise SoulError(f"{name}: 'merges' must be a list of pairs")
        for n, m in enumerate(merges):
            if not (isinstance(m, list) and len(m) == 2 and all(isinstance(x, str) and x for x in m)):
                raise SoulError(f"{name}: merges[{n}] is not a pair of strings")
        size = data.get("vocab_size", len(ids))
        if size != len(ids):
            raise SoulError(f"{name}: vocab_size {size} but the vocab has {len(ids)} ids")
        return cls(dict(vocab), [tuple(m) for m in merges])
