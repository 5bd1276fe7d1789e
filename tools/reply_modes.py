"""Compare the reply modes on prompts with expected replies (the README's table).

    python -m soulplayer.tools.reply_modes corpus/heldout.txt [--soul S --tokenizer T
                                             --replies R --temperature 0.8 --seed 1]

PROMPTS is in corpus line format (`<SEP>input<SEP>expected reply<SEP>`, `#`
lines and blank lines skipped). For each mode it prints how many replies are
exact (the expected reply), broken (no reply of the corpus: a spliced or cut
reply) and otherwise well-formed (a corpus reply, not the expected one).
"""
import sys
from pathlib import Path

import click

from soulplayer.chat import choose_next, reply_text
from soulplayer.paths import DEFAULT_SOUL, DEFAULT_TOKENIZER, load_pair
from soulplayer.errors import SoulError
from soulplayer.replies import CORPUS, MODES, load_reply_mode, read_replies
from soulplayer.sampling import Sampler

SEP_TEXT = "<SEP>"


def read_prompts(path) -> list:
    """[(input, expected reply)] from a file in corpus line format."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as e:
        raise SoulError(f"{path}: cannot read: {e.strerror}") from None
    pairs = []
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(SEP_TEXT)
        if len(parts) != 4 or parts[0] or parts[3]:
            raise SoulError(f"{path}: line {number}: expected {SEP_TEXT}input{SEP_TEXT}reply{SEP_TEXT}")
        pairs.append((parts[1].strip().lower(), parts[2].strip().lower()))
    if not pairs:
        raise SoulError(f"{path}: no prompts")
    return pairs


def score(soul, tok, pairs, replies: set, trie=None, choose=choose_next) -> dict:
    """{'exact', 'broken', 'other', 'n', 'broken_examples'} for one mode."""
    exact = broken = 0
    examples = []
    for prompt, want in pairs:
        got = reply_text(soul, tok, prompt, choose, trie)
        exact += got == want
        if got not in replies:
            broken += 1
            examples.append((prompt, got))
    return {"exact": exact, "broken": broken, "other": len(pairs) - exact - broken, "n": len(pairs),
            "broken_examples": examples}


@click.command()
@click.argument("prompts", type=click.Path(dir_okay=False))
@click.option("--soul", "soul_path", default=str(DEFAULT_SOUL), show_default=True)
@click.option("--tokenizer", "tokenizer_path", default=str(DEFAULT_TOKENIZER), show_default=True)
@click.option("--replies", "replies_path", default=None, help="[default: replies.txt beside the soul]")
@click.option("--temperature", type=float, default=0.0, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--show-broken", is_flag=True, help="list the broken replies")
def main(prompts, soul_path, tokenizer_path, replies_path, temperature, seed, show_broken):
    """Exact / broken replies per reply mode on PROMPTS."""
    try:
        soul, tok = load_pair(soul_path, tokenizer_path)
        choice = load_reply_mode(soul_path, tok, CORPUS, replies_path)
        replies = set(read_replies(choice.path))
        pairs = read_prompts(prompts)
    except SoulError as e:
        click.echo(f"soul: error: {e}", err=True)
        sys.exit(1)
    for mode in MODES:
        sampler = Sampler(temperature, seed)
        r = score(soul, tok, pairs, replies, choice.trie if mode == CORPUS else None, sampler.choose)
        n = r["n"]
        click.echo(f"{mode:6s} (T={temperature}): exact {r['exact']}/{n} ({100 * r['exact'] / n:.1f} %), "
                   f"broken {r['broken']}/{n} ({100 * r['broken'] / n:.1f} %), "
                   f"other corpus reply {r['other']}/{n}")
        if show_broken:
            for prompt, got in r["broken_examples"]:
                click.echo(f"    {prompt!r} -> {got!r}")


if __name__ == "__main__":
    main()
