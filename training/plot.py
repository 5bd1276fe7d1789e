"""training.png (matplotlib, Agg): the loss per epoch on a log scale (left axis; the first
epochs' loss is ~30x the final one) and, on the right axis in %, the int8 exact-reply
rate on the training corpus at each evaluation, plus the held-out exact and broken
rates (free reply mode) and the held-out exact rate in corpus mode when the run has
held-out prompts."""
import io

from soulplayer.fileio import atomic_write_bytes


def figure(losses, history):
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.5), dpi=100)
    ax = fig.add_subplot()
    epochs = range(1, len(losses) + 1)
    ax.plot(epochs, losses, color="tab:blue", label="loss")
    if any(v > 0 for v in losses):
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (log scale)", color="tab:blue")
    ax.set_xlim(0, max(1, len(losses)))
    right = ax.twinx()
    right.set_ylim(0, 100)
    right.set_ylabel("% of exchanges / prompts")
    at = [h["epoch"] for h in history]
    right.plot(at, [h["exact"] * 100 for h in history], color="tab:red", marker=".", label="int8 exact (corpus)")
    held = [h for h in history if "held_exact" in h]
    if held:
        right.plot([h["epoch"] for h in held], [h["held_exact"] * 100 for h in held], color="tab:green",
                   marker=".", label="held-out exact")
        right.plot([h["epoch"] for h in held], [h["held_broken"] * 100 for h in held], color="tab:orange",
                   marker=".", linestyle="--", label="held-out broken")
        right.plot([h["epoch"] for h in held], [h["held_corpus_exact"] * 100 for h in held],
                   color="tab:purple", marker=".", linestyle=":", label="held-out exact, corpus mode")
    lines = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    right.legend(lines, [line.get_label() for line in lines], loc="center right", fontsize="small")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def png_bytes(losses, history) -> bytes:
    buf = io.BytesIO()
    figure(losses, history).savefig(buf, format="png")
    return buf.getvalue()


def write_training_png(path, losses, history):
    atomic_write_bytes(path, png_bytes(losses, history))
