"""`soul train [CORPUS] [--epochs N] [--output DIR] [--seed S] [--force]` (registered lazily by soulplayer.cli)."""
import click

DEFAULT_OUTPUT = "runs/default"


@click.command("train")
@click.argument("corpus", required=False, type=click.Path(dir_okay=False))
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Training epochs (default 600).")
@click.option("--output", "-o", default=DEFAULT_OUTPUT, show_default=True, type=click.Path(file_okay=False),
              help="Run directory: checkpoints/, soul.bin, tokenizer.json, weights.inc, training.png.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--eval-every", type=click.IntRange(min=1), default=None,
              help="Score the int8 soul (and show probe replies) every N epochs (default 25).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--force", is_flag=True,
              help="Overwrite soul.bin/tokenizer.json in an --output that has no checkpoints/last.pt.")
def train(corpus, epochs, output, seed, eval_every, quiet, force):
    """Train a soul from CORPUS (default: the built-in corpus).

    Running the same command again resumes an interrupted run (Ctrl-C saves).
    A folder holding a soul but no checkpoints (e.g. models/) is refused without --force.
    The best checkpoint is chosen by the int8 score of the integer reference."""
    import torch

    from .corpus import read_corpus
    from .trainer import TrainConfig, Trainer

    torch.set_num_threads(min(2, torch.get_num_threads()))
    tc = TrainConfig(seed=seed)
    if epochs is not None:
        tc.epochs = epochs
    if eval_every is not None:
        tc.eval_every = eval_every
    parsed = read_corpus(corpus)
    trainer = Trainer(parsed, output, tc, progress=not quiet, log=click.echo)
    click.echo(parsed.summary())
    for problem in parsed.problems:
        click.echo(f"  {parsed.name}: {problem}", err=True)
    if not trainer.run(force=force):
        raise SystemExit(130)
