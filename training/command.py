"""`soul train [CORPUS] ...` and `soul eval --soul S PROMPTS_FILE` (registered lazily by soulplayer.cli).

torch is imported only once training starts: `--check` and `soul eval` run without it."""
import sys
from pathlib import Path

import click

from soulplayer.config import TRAIN_DEFAULT_CONTEXT, ModelConfig
from soulplayer.errors import SoulError

from .train_config import MAX_EPOCHS, MIN_EPOCHS, STEP_BUDGET, TrainConfig

DEFAULT_OUTPUT = "runs/default"
HEAD_DIM = ModelConfig.head_dim   # --embed keeps the heads this size
SHOWN_PROBLEMS = 10       # skipped lines listed when training starts (`--check` lists all)


def model_config(context, embed, ff, layers) -> ModelConfig:
    if embed % HEAD_DIM:
        raise SoulError(f"--embed {embed}: must be a multiple of the head size {HEAD_DIM}")
    try:
        config = ModelConfig(embed_dim=embed, n_heads=embed // HEAD_DIM, head_dim=HEAD_DIM, ff_dim=ff,
                             n_layers=layers, context=context)
    except ValueError as e:
        raise SoulError(f"bad dimensions: {e}") from None
    if config.max_input_tokens < 1:
        raise SoulError(f"--context {context} leaves no room for a prompt "
                        f"(2 <SEP> + {config.min_reply_tokens} reply tokens + at least 1)")
    return config


def check_corpus(corpus, config):
    """`--check`: per line the tokens it needs against the context, and what to shorten."""
    from .bpe import learn_tokenizer
    from .corpus import check_lengths, check_report
    tok = learn_tokenizer(corpus, config)
    click.echo(f"{corpus.name}: context {config.context} (a prompt holds {config.max_input_tokens} tokens "
               f"and {config.max_input_chars} characters), tokenizer of {tok.vocab_size} tokens learned "
               f"as training learns it")
    for line in check_report(corpus, tok, config):
        click.echo(f"  {line}")
    check_lengths(corpus, tok, config)
    click.echo(corpus.summary())
    warn_dropped(corpus)


def warn_dropped(corpus):
    warning = corpus.warning()
    if warning:
        click.echo(warning, err=True)


def show_problems(corpus, resuming):
    click.echo(corpus.summary())
    if not corpus.problems:
        return
    if resuming:
        click.echo(f"  (the skipped lines were listed when this run started; "
                   f"`soul train --check {corpus.name}` lists them)", err=True)
    else:
        for problem in corpus.problems[:SHOWN_PROBLEMS]:
            click.echo(f"  {corpus.name}: {problem}", err=True)
        if len(corpus.problems) > SHOWN_PROBLEMS:
            click.echo(f"  ... and {len(corpus.problems) - SHOWN_PROBLEMS} more "
                       f"(`soul train --check {corpus.name}` lists every line)", err=True)
    warn_dropped(corpus)


def read_holdout(path):
    if path is None:
        return None
    from .heldout import read_prompts
    return str(path), read_prompts(path)


@click.command("train")
@click.argument("corpus", required=False, type=click.Path(dir_okay=False))
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help=f"Most training epochs (default: about {STEP_BUDGET} optimizer steps, "
                   f"{MIN_EPOCHS}..{MAX_EPOCHS} epochs); more than "
                   "a finished run had goes on training it.")
@click.option("--patience", type=click.IntRange(min=0), default=None,
              help=f"Stop when the int8 score has not improved for this many epochs "
                   f"(default {TrainConfig.patience}; 0 = never).")
@click.option("--output", "-o", default=DEFAULT_OUTPUT, show_default=True, type=click.Path(file_okay=False),
              help="Run directory: checkpoints/, soul.bin, tokenizer.json, weights.inc, training.png.")
@click.option("--context", type=click.IntRange(min=9, max=255), default=TRAIN_DEFAULT_CONTEXT, show_default=True,
              help="Tokens a soul sees: prompt, reply and 3 <SEP>.")
@click.option("--embed", type=click.IntRange(min=8), default=32, show_default=True, help="Embedding width.")
@click.option("--ff", type=click.IntRange(min=1), default=64, show_default=True, help="Feed-forward width.")
@click.option("--layers", type=click.IntRange(min=1), default=2, show_default=True, help="Transformer layers.")
@click.option("--noise", type=click.FloatRange(0.0, 1.0), default=None,
              help=f"Share of inputs given a random typing edit each epoch (default {TrainConfig.noise}; 0 = off).")
@click.option("--no-noise", is_flag=True, help="Train without input noise (same as --noise 0).")
@click.option("--holdout", type=click.Path(dir_okay=False),
              help="Held-out prompts (corpus format) scored at every evaluation: exact, well-formed, broken.")
@click.option("--check", is_flag=True, help="Only parse and tokenize the corpus: per line the tokens it "
                                            "needs against the context and what to shorten.")
@click.option("--no-c64-check", is_flag=True, help="Do not check that the soul fits the C64 program first.")
@click.option("--keep-checkpoints", is_flag=True, help="Keep the checkpoint of every evaluation.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--eval-every", type=click.IntRange(min=1), default=None,
              help=f"Score the int8 soul every N epochs (default {TrainConfig.eval_every}).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--force", is_flag=True,
              help="Overwrite soul.bin/tokenizer.json in an --output that has no checkpoints/last.pt.")
def train(corpus, epochs, patience, output, context, embed, ff, layers, noise, no_noise, holdout, check,
          no_c64_check, keep_checkpoints, seed, eval_every, quiet, force):
    """Train a soul from CORPUS (default: the built-in corpus).

    Running the same command again resumes an interrupted run (Ctrl-C saves soul.bin too);
    with a larger --epochs it goes on training a finished one.
    A folder holding a soul but no checkpoints (e.g. models/) is refused without --force.
    The best checkpoint is chosen by the int8 score of the integer reference."""
    from .corpus import read_corpus
    config = model_config(context, embed, ff, layers)
    parsed = read_corpus(corpus, config)
    if check:
        check_corpus(parsed, config)
        return
    held = read_holdout(holdout)
    import torch

    from .trainer import Trainer

    # one thread: these matrices are tiny, and a second thread only waits at every op (measured:
    # 0.18 s of CPU per epoch with one thread, 3.6 s with two on a busy 2-core machine)
    torch.set_num_threads(1)
    tc = TrainConfig(seed=seed, keep_checkpoints=keep_checkpoints)
    for name, value in (("epochs", epochs), ("patience", patience), ("eval_every", eval_every),
                        ("noise", 0.0 if no_noise else noise)):
        if value is not None:
            setattr(tc, name, value)
    terminal = sys.stdout.isatty() and sys.stderr.isatty()
    trainer = Trainer(parsed, output, tc, config, log=click.echo, progress=terminal and not quiet, holdout=held)
    show_problems(parsed, resuming=(trainer.ckpt_dir / "last.pt").exists())
    if held is not None:
        from .heldout import describe, unknown_expected
        click.echo(describe(held[1], held[0]))
        odd = unknown_expected(held[1], trainer.replies)
        if odd:
            click.echo(f"  {held[0]}: {len(odd)} expected replies are no reply of the corpus (never exact), "
                       f"first on line {odd[0].line}", err=True)
    if not no_c64_check:
        from .c64check import check_c64_budget
        click.echo(check_c64_budget(config, trainer.tok, trainer.replies).line(config))
    if not trainer.run(force=force):
        raise SystemExit(130)


@click.command("eval")
@click.argument("prompts_file", type=click.Path(dir_okay=False))
@click.option("--soul", "soul_path", type=click.Path(dir_okay=False), default=None,
              help="soul.bin to score (default: the shipped soul)")
@click.option("--tokenizer", "tokenizer_path", type=click.Path(dir_okay=False), default=None,
              help="its tokenizer.json (default: tokenizer.json beside the soul)")
@click.option("--corpus", "corpus_path", type=click.Path(dir_okay=False), default=None,
              help="judge well-formed replies by this corpus's replies (default: the soul's replies, "
                   "else the built-in corpus)")
@click.option("--show", is_flag=True, help="One line per prompt: mark, input, reply (and the expected one).")
@click.option("--mode", type=click.Choice(["free", "corpus", "both"]), default="both", show_default=True,
              help="reply mode(s) to score (corpus needs the soul's replies.txt or --replies; "
                   "both: free, then corpus when the soul has replies)")
@click.option("--replies", "replies_path", type=click.Path(dir_okay=False), default=None,
              help="the replies corpus mode follows  [default: replies.txt beside the soul]")
@click.option("--temperature", type=float, default=0.0, show_default=True,
              help="0 = greedy; otherwise sample as soul chat does (a fresh sampler per mode)")
@click.option("--seed", type=int, default=1, show_default=True, help="sampler seed (with --temperature)")
def eval_soul(prompts_file, soul_path, tokenizer_path, corpus_path, show, mode, replies_path, temperature,
              seed):
    """Score a soul on PROMPTS_FILE (`<SEP>typed input<SEP>expected reply<SEP>` lines) with the integer
    reference, greedy: exact (the expected reply), well-formed (some reply of the corpus), broken (none);
    in each reply mode (soulplayer.replies)."""
    from soulplayer.paths import DEFAULT_SOUL, load_pair
    from soulplayer.replies import CORPUS, FREE, load_reply_mode, read_replies
    from soulplayer.sampling import Sampler

    from .corpus import read_corpus
    from .heldout import read_prompts, score_prompts, unknown_expected
    soul_path = Path(soul_path) if soul_path else DEFAULT_SOUL
    soul, tok = load_pair(soul_path, tokenizer_path)
    choice = load_reply_mode(soul_path, tok, None if mode == "both" else mode, replies_path)
    if corpus_path is None and choice.trie is not None:
        replies, judge = set(read_replies(choice.path)), str(choice.path)
    else:
        parsed = read_corpus(corpus_path, soul.config)
        replies, judge = {ex.reply for ex in parsed.exchanges}, parsed.name
    prompts = read_prompts(prompts_file)
    odd = unknown_expected(prompts, replies)
    if odd:
        click.echo(f"note: {len(odd)} expected replies are no reply of {judge} (never exact), "
                   f"first on line {odd[0].line}", err=True)
    modes = {"free": [FREE], "corpus": [CORPUS], "both": [FREE] + ([CORPUS] if choice.trie else [])}[mode]
    for m in modes:
        score = score_prompts(soul, tok, prompts, replies, Sampler(temperature, seed).choose,
                              choice.trie if m == CORPUS else None)
        if show:
            for a in score.answers:
                mark = "=" if a.exact else ("~" if a.well_formed else "x")
                extra = "" if a.exact else f"   (expected: {a.prompt.expected})"
                click.echo(f"{mark} {a.prompt.input} -> {a.reply}{extra}")
        sampled = f", T={temperature} seed {seed}" if temperature else ""
        click.echo(f"{prompts_file}: {score.n} prompts, {soul_path}, {m} mode{sampled}: {score.summary()} "
                   f"(well-formed: a reply of {judge})")
