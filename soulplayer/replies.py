"""Reply modes and the reply trie (the same rule in `soul chat` and on the C64).

- `free`: every step chooses among all ids but PAD and UNK (greedy: the first
  maximum; sampled: soulplayer.sampling), the decoding of the original release.
- `corpus`: every step chooses only among the tokens that continue some reply
  of the training corpus, tokenized with the soul's tokenizer and ended by its
  SEP; the same candidate set for greedy and for sampling. So a reply is always
  one of the corpus's replies (or its beginning, when the context fills first).

The replies travel beside the soul as `replies.txt` (REPLIES_NAME): UTF-8 text,
one reply per line in the corpus alphabet (lowercase letters, space and
`. ' ! ? , ; : -`; capitals fold), blank lines and `#` lines ignored. Training
writes it next to soul.bin; it holds text, not ids, so it is tokenized with the
soul's own tokenizer when loaded.

`ReplyTrie` is the trie of those token sequences: node 0 is the root; a node's
children are (token, child node) sorted by token id; the SEP edge ends a reply
and leads to no node (LEAF). gen/replies_inc.py writes it as ca65 data for
asm/replies.s.
"""
from dataclasses import dataclass
from pathlib import Path

from .config import SEP
from .errors import SoulError
from .fileio import atomic_write_text, read_text
from .tokenizer import BASE_CHARS, Tokenizer

FREE, CORPUS = "free", "corpus"
MODES = (FREE, CORPUS)
MODE_IDS = {FREE: 0, CORPUS: 1}       # the C64's reply_mode byte (replies.inc)
DEFAULT_MODE = CORPUS                 # measured: README "Reply modes"
REPLIES_NAME = "replies.txt"
LEAF = -1                             # where a SEP edge leads
HEADER = ("# soulplayer replies: the corpus replies this soul was trained on, one per line.\n"
          "# `soul chat --mode corpus` and the C64's corpus mode only say these.\n")


def replies_beside(soul_path) -> Path:
    """The replies file that belongs to a soul: replies.txt in its folder."""
    return Path(soul_path).parent / REPLIES_NAME


def parse_replies(text: str, name: str) -> list:
    """replies.txt text -> the reply texts (unique, in file order)."""
    out, seen = [], set()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip().lower()
        if not line or line.startswith("#"):
            continue
        bad = sorted({ch for ch in line if ch not in BASE_CHARS})
        if bad:
            shown = " ".join(repr(ch) for ch in bad)
            raise SoulError(f"{name}: line {number}: characters outside the alphabet: {shown} "
                            f"(allowed: a-z, space and . ' ! ? , ; : -)")
        if line not in seen:
            seen.add(line)
            out.append(line)
    if not out:
        raise SoulError(f"{name}: no replies in the file")
    return out


def read_replies(path) -> list:
    text = read_text(path, f"no replies file (training writes {REPLIES_NAME} beside soul.bin)")
    return parse_replies(text.removeprefix("\ufeff"), str(path))


def write_replies(path, texts) -> None:
    """Atomically write reply texts (sorted, each once) in the replies.txt format."""
    unique = sorted({t.strip().lower() for t in texts if t.strip()})
    parse_replies(HEADER + "\n".join(unique), str(path))     # refuses what a reader would refuse
    atomic_write_text(path, HEADER + "".join(t + "\n" for t in unique))


class ReplyTrie:
    """The token trie of replies, each a sequence ending with its one SEP."""

    root = 0

    def __init__(self, sequences):
        self.children = [{}]              # node -> {token: child node or LEAF}
        for seq in sequences:
            seq = list(seq)
            if not seq or seq[-1] != SEP or SEP in seq[:-1]:
                raise ValueError(f"a reply must end with its only SEP: {seq}")
            node = 0
            for token in seq[:-1]:
                nxt = self.children[node].get(token)
                if nxt is None:
                    nxt = len(self.children)
                    self.children.append({})
                    self.children[node][token] = nxt
                node = nxt
            self.children[node][SEP] = LEAF

    @classmethod
    def from_texts(cls, texts, tok: Tokenizer) -> "ReplyTrie":
        return cls(tok.encode(t) + [SEP] for t in texts)

    def allowed(self, node: int) -> list:
        """The tokens that continue some reply from `node`, in id order."""
        return sorted(self.children[node])

    def follow(self, node: int, token: int) -> int:
        return self.children[node][token]

    def edges(self, node: int) -> list:
        """[(token, child)] in id order."""
        return sorted(self.children[node].items())

    def sequences(self) -> list:
        """Every reply as token ids with its SEP (depth first, in id order)."""
        out = []

        def walk(node, prefix):
            for token, child in self.edges(node):
                if child == LEAF:
                    out.append(prefix + [token])
                else:
                    walk(child, prefix + [token])
        walk(self.root, [])
        return out

    def __len__(self) -> int:
        return len(self.children)


@dataclass
class ReplyChoice:
    """What a chat or a build decided: the mode, and the trie when there are replies."""
    mode: str
    trie: "ReplyTrie | None"
    path: Path


def load_reply_mode(soul_path, tok: Tokenizer, mode=None, replies_path=None) -> ReplyChoice:
    """Resolve --mode/--replies for a soul.

    replies_path None: the file beside the soul, optional (a soul without one
    runs in free mode); given: it must exist. mode None: DEFAULT_MODE when there
    are replies, else free; `corpus` without replies is an error naming the file."""
    path = Path(replies_path) if replies_path is not None else replies_beside(soul_path)
    if mode is not None and mode not in MODES:
        raise SoulError(f"--mode {mode}: use one of {', '.join(MODES)}")
    if replies_path is None and not path.exists():
        if mode == CORPUS:
            raise SoulError(f"--mode corpus needs the soul's replies: {path} not found "
                            f"(training writes it beside soul.bin; or give --replies)")
        return ReplyChoice(FREE, None, path)
    trie = ReplyTrie.from_texts(read_replies(path), tok)
    return ReplyChoice(mode or DEFAULT_MODE, trie, path)
