"""`soul`: the command line. Commands from the other packages load lazily, so
`soul chat` starts without importing torch or the 6502 toolchain."""
import importlib
import json
import sys
import time

import click

from .chat import prompt_ids
from .errors import SoulError
from .paths import DEFAULT_SOUL, load_pair
from .replies import MODES
from .soulfile import load_soul

LAZY_COMMANDS = {
    "train": "soulplayer.training.command:train",
    "eval": "soulplayer.training.command:eval_soul",
    "build": "soulplayer.tools.commands_program:build",
    "flash": "soulplayer.tools.commands_program:flash",
    "bench": "soulplayer.tools.commands:bench",
}


class SoulGroup(click.Group):
    """Loads LAZY_COMMANDS on demand; turns SoulError into one line on stderr."""

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def get_command(self, ctx, name):
        if name in LAZY_COMMANDS and name not in self.commands:
            module, attr = LAZY_COMMANDS[name].split(":")
            try:
                return getattr(importlib.import_module(module), attr)
            except ModuleNotFoundError as e:
                return _unavailable(name, missing_extra(e, name) or e)
            except (ImportError, AttributeError) as e:
                return _unavailable(name, e)
        return super().get_command(ctx, name)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SoulError as e:
            click.echo(f"soul: error: {e}", err=True)
            sys.exit(1)
        except ModuleNotFoundError as e:
            hint = missing_extra(e, ctx.invoked_subcommand)
            if hint is None:
                raise
            click.echo(f"soul: error: {hint}", err=True)
            sys.exit(1)


# modules of the optional extras (pyproject.toml) and the extra that brings each
EXTRA_MODULES = {"torch": "train", "matplotlib": "train", "tqdm": "train", "pytest": "test"}


def missing_extra(error: ModuleNotFoundError, command) -> str | None:
    """One line naming the install command for a missing optional module, or None."""
    root = (error.name or "").split(".")[0]
    extra = EXTRA_MODULES.get(root)
    if extra is None:
        return None
    return (f"'soul {command}' needs {root}, which is not installed (`make disk` installs only what "
            f"the disk needs): run `make venv-full`, or .venv/bin/pip install -e '.[{extra}]'")


def _unavailable(name, error):
    """Stands in for a command whose module cannot load, so `soul --help` still works."""
    def fail():
        raise SoulError(str(error) if isinstance(error, str) else f"'{name}' is not available: {error}")
    return click.Command(name, callback=fail, help=f"(not available: {error})",
                         context_settings={"ignore_unknown_options": True, "allow_extra_args": True})


soul_option = click.option("--soul", "soul_path", type=click.Path(dir_okay=False), default=str(DEFAULT_SOUL),
                           show_default=True, help="soul.bin to run")
tokenizer_option = click.option("--tokenizer", "tokenizer_path", type=click.Path(dir_okay=False),
                                default=None, help="its tokenizer.json  [default: tokenizer.json beside the soul]")
mode_option = click.option("--mode", type=click.Choice(MODES), default=None,
                           help="replies: free (any tokens) or corpus (only the corpus's replies)  "
                                "[default: corpus when the soul has its replies file, else free]")
replies_option = click.option("--replies", "replies_path", type=click.Path(dir_okay=False), default=None,
                              help="the corpus replies, one per line  [default: replies.txt beside the soul]")


@click.group(cls=SoulGroup)
def main():
    """soulplayer: train a tiny transformer and run it bit-exact on a C64."""


@main.command()
@soul_option
@tokenizer_option
@click.option("--temperature", type=float, default=0.0, show_default=True,
              help="0 = greedy; otherwise sample exactly as the C64 does")
@click.option("--seed", type=int, default=1, show_default=True,
              help="sampler seed 0..99999, taken mod 65536 as on the C64 (with --temperature)")
@click.option("--name", default=None,
              help="the soul's name, its reply label (default: from the file name, as `soul build` names it)")
@click.option("--engine", type=click.Choice(["ref", "vice"]), default="ref", show_default=True,
              help="ref: the Python integer reference; vice: the real C64 program in headless VICE")
@mode_option
@replies_option
def chat(soul_path, tokenizer_path, temperature, seed, name, engine, mode, replies_path):
    """Talk to a soul, decoding exactly as the C64 does. `q` alone quits.

    Each line is fitted as the C64's line editor fits it (lowercase, unknown
    characters dropped, cut at the input limits); a line that is empty then gets
    no reply. With stdin not a terminal: one prompt per line in, one reply per
    line out."""
    from .chat_cli import run_chat
    run_chat(soul_path, tokenizer_path, temperature=temperature, seed=seed, name=name, engine=engine,
             mode=mode, replies_path=replies_path)


def _parse_ids(text, vocab_size, context):
    try:
        ids = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise SoulError(f"--ids: expected comma-separated integers, got {text!r}") from None
    if not 1 <= len(ids) <= context:
        raise SoulError(f"--ids: {len(ids)} ids; a sequence has 1..{context}")
    bad = [i for i in ids if not 0 <= i < vocab_size]
    if bad:
        raise SoulError(f"--ids: id {bad[0]} outside 0..{vocab_size - 1}")
    return ids


@main.command()
@soul_option
@tokenizer_option
@click.option("--text", help="a prompt, framed as chat frames it: [SEP] text [SEP]")
@click.option("--ids", "ids_text", help="raw token ids, e.g. 1,49,16")
@click.option("--all-positions", is_flag=True, help="logits of every position, not only the last")
@click.option("--engine", type=click.Choice(["ref", "vice"]), default="ref", show_default=True,
              help="ref: Python integer reference; vice: the 6502 engine in VICE")
def logits(soul_path, tokenizer_path, text, ids_text, all_positions, engine):
    """Print JSON {"ids": [...], "logits": [[...]]} for a token sequence."""
    if (text is None) == (ids_text is None):
        raise SoulError("give exactly one of --text or --ids")
    if text is not None:
        soul, tok = load_pair(soul_path, tokenizer_path)
        ids = prompt_ids(text, tok, soul.config)
    else:
        soul = load_soul(soul_path)
        ids = _parse_ids(ids_text, soul.config.vocab_size, soul.config.context)
    if engine == "vice":
        from .tools.engine_vice import logits as vice_logits
        rows = vice_logits(soul_path, ids, all_positions)
    else:
        from .numerics import forward
        full = forward(soul, ids)
        rows = [list(map(int, r)) for r in (full if all_positions else full[-1:])]
    click.echo(json.dumps({"ids": ids, "logits": rows}))


@main.command("bench-ref")
@soul_option
@click.option("--tokens", type=click.IntRange(min=1), default=200, show_default=True, help="tokens to time")
def bench_ref(soul_path, tokens):
    """Time the Python integer reference (KV cache) per token."""
    from .numerics import Decoder, forward
    soul = load_soul(soul_path)
    ctx = soul.config.context
    ids = [(7 * i + 5) % soul.config.vocab_size for i in range(ctx)]
    start, done = time.perf_counter(), 0
    while done < tokens:
        decoder = Decoder(soul)
        for t in ids:
            decoder.step(t)
        done += ctx
    cached = (time.perf_counter() - start) / done * 1e3
    start = time.perf_counter()
    for n in range(1, ctx + 1):
        forward(soul, ids[:n])
    full = (time.perf_counter() - start) / ctx * 1e3
    click.echo(f"KV cache:       {cached:.3f} ms/token ({done} tokens)")
    click.echo(f"full recompute: {full:.3f} ms/token (mean over positions 1..{ctx})")
