"""The training loop: QAT with the int8 score (integer reference) choosing the best soul.

Run directory layout:
    DIR/checkpoints/last.pt     where a new run resumes (written at every evaluation
                                and on Ctrl-C, always at an epoch boundary)
    DIR/checkpoints/best.pt     the state at the best evaluation so far
    DIR/checkpoints/epoch_NNNN.pt   every evaluation, only with keep_checkpoints
    DIR/tokenizer.json          (trained from the corpus) written just after the first last.pt,
                                so it never stands in a folder without checkpoints/last.pt
    DIR/replies.txt             the replies of the exchanges kept, one per line (corpus reply
                                mode, soulplayer.replies), written with tokenizer.json
    DIR/soul.bin                the best soul so far: written whenever the best int8 score
                                improves and on Ctrl-C (so a run can be chatted with at any time)
    DIR/weights.inc, training.png, score.json   at the end

Nothing is written before the folder is checked: a last.pt from another corpus or other
settings is refused, and so is a folder holding soul.bin or tokenizer.json without
checkpoints/last.pt (e.g. models/, the shipped soul) unless force=True (`soul train --force`).
A run may be resumed with another `epochs` (extending a finished run), `patience` or
`keep_checkpoints`.
"""
import copy
import hashlib
import io
import json
import math
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from soulplayer.config import ModelConfig
from soulplayer.errors import SoulError
from soulplayer.fileio import atomic_write_bytes, atomic_write_text
from soulplayer.replies import REPLIES_NAME, ReplyTrie, write_replies
from soulplayer.soulfile import parse_soul, save_soul, soul_bytes

from . import score as scoring
from .augment import Augmenter
from .bpe import learn_tokenizer
from .corpus import check_lengths, require_usable
from .data import batch_tensors, make_examples, sequence_lengths
from .export import to_soul
from .heldout import score_prompts
from .model import QATModel, loss_fn
from .train_config import MAX_EPOCHS, MIN_EPOCHS, STEP_BUDGET, TrainConfig

CHECKPOINT_VERSION = 3
RESUME_MAY_CHANGE = ("epochs", "patience", "keep_checkpoints")


def prepare(corpus, config: ModelConfig, vocab_size=None):
    """Corpus -> (tokenizer, examples); drops what does not fit (reported in corpus.problems)."""
    tok = learn_tokenizer(corpus, config, vocab_size)
    check_lengths(corpus, tok, config)
    require_usable(corpus)
    examples = make_examples(corpus, tok, config)
    require_usable(corpus)
    return tok, examples


def corpus_digest(examples) -> str:
    h = hashlib.sha256()
    for e in examples:
        h.update(repr((e.prompt, e.reply)).encode())
    return h.hexdigest()


def param_groups(model, tc: TrainConfig):
    """AdamW groups: weight decay on matrices and embeddings, none on RMSNorm gains and biases
    (decaying a gain pulls it towards 0, not towards 'no effect')."""
    params = list(model.parameters())
    return [{"params": [p for p in params if p.dim() > 1], "weight_decay": tc.weight_decay},
            {"params": [p for p in params if p.dim() == 1], "weight_decay": 0.0}]


def lr_factor(step, total_steps, warmup_steps, min_frac):
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return min_frac + (1 - min_frac) * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


def auto_epochs(steps_per_epoch: int) -> int:
    return max(MIN_EPOCHS, min(MAX_EPOCHS, round(STEP_BUDGET / steps_per_epoch)))


def length_batches(order, lengths, size, gen, pool=8):
    """Batches of `size` from a shuffled `order`, each pool of `pool` batches sorted by length (so a
    batch is trimmed to little padding), in a shuffled batch order. A corpus of one pool or less
    keeps plain shuffled batches (sorting would give the same batches every epoch)."""
    if len(order) <= size * pool:
        return [order[i:i + size] for i in range(0, len(order), size)]
    batches = []
    for i in range(0, len(order), size * pool):
        chunk = order[i:i + size * pool]
        chunk = chunk[torch.argsort(lengths[chunk], stable=True)]
        batches += [chunk[j:j + size] for j in range(0, len(chunk), size)]
    return [batches[k] for k in torch.randperm(len(batches), generator=gen).tolist()]


def duration(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s} s" if m else f"{s} s"


class Trainer:
    def __init__(self, corpus, out_dir, tc: TrainConfig = TrainConfig(), config: ModelConfig = ModelConfig(),
                 log=print, progress=True, holdout=None):
        """holdout: None or (name, [heldout.Prompt]) scored at every evaluation."""
        self.tc, self.config, self.out = tc, config, Path(out_dir)
        self.log = log
        self.progress = progress
        self.corpus = corpus
        self.holdout = holdout
        self.tok, self.examples = prepare(corpus, config)
        self.replies = sorted({e.exchange.reply for e in self.examples})
        self.trie = ReplyTrie.from_texts(self.replies, self.tok) if holdout is not None else None
        self.inputs, self.targets, self.mask = batch_tensors(self.examples, config.context)
        self.lengths = sequence_lengths(self.examples)
        self.augmenter = Augmenter(self.examples, self.tok, config, tc.augment, tc.random_words, tc.noise)
        torch.manual_seed(tc.seed)
        self.model = QATModel(config, tc.tie_embeddings)
        self.opt = torch.optim.AdamW(param_groups(self.model, tc), lr=tc.lr, betas=(0.9, 0.98))
        n = len(self.examples)
        self.batch_size = tc.batch_size or max(4, min(32, n // 8))
        self.steps_per_epoch = math.ceil(n / self.batch_size)
        if not tc.epochs:
            self.tc = tc = replace(tc, epochs=auto_epochs(self.steps_per_epoch))
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda step: self.lr_lambda(step))
        self.gen = torch.Generator().manual_seed(tc.seed)
        self.epoch = 0
        self.history = []        # {"epoch", "loss", "exact", "token_acc"[, "held_*"]} per evaluation
        self.losses = []         # mean loss per epoch
        self.best = None         # {"epoch", "score", "soul": bytes}
        self.improved = 0        # epoch of the last strict improvement of the best score
        self.stopped = None      # epoch at which patience ended the run
        self.digest = corpus_digest(self.examples)
        self.report = None
        self.bar = None
        step = max(1, n // tc.probes)
        self.probes = self.examples[::step][:tc.probes]

    def lr_lambda(self, step):
        """The cosine schedule over tc.epochs (read at each step, so extending a run stretches it)."""
        return lr_factor(step, self.steps_per_epoch * self.tc.epochs,
                         self.steps_per_epoch * self.tc.warmup_epochs, self.tc.min_lr_frac)

    # --- state -------------------------------------------------------------
    def state(self):
        return {
            "version": CHECKPOINT_VERSION, "epoch": self.epoch, "digest": self.digest,
            "train_config": asdict(self.tc), "model_config": asdict(self.config),
            "model": self.model.state_dict(), "opt": self.opt.state_dict(), "sched": self.sched.state_dict(),
            "rng": self.gen.get_state(), "torch_rng": torch.get_rng_state(),
            "history": self.history, "losses": self.losses, "best": self.best,
            "improved": self.improved, "stopped": self.stopped,
        }

    def load_state(self, st, where):
        if st.get("version") != CHECKPOINT_VERSION:
            raise SoulError(f"{where}: checkpoint version {st.get('version')}, expected {CHECKPOINT_VERSION} "
                            f"(another trainer version); use another --output or delete {self.out}")
        if st["digest"] != self.digest:
            raise SoulError(f"{where}: this run was trained on a different corpus; "
                            f"use another --output or delete {self.out}")
        if st["model_config"] != asdict(self.config):
            theirs = {k: v for k, v in st["model_config"].items() if asdict(self.config).get(k) != v}
            raise SoulError(f"{where}: this run has other model dimensions "
                            f"({', '.join(f'{k}={v}' for k, v in theirs.items())})")
        mine, theirs = asdict(self.tc), st["train_config"]
        diff = [k for k in mine if k not in RESUME_MAY_CHANGE and mine[k] != theirs.get(k)]
        if diff:
            what = ", ".join(f"{k}={theirs.get(k)}" for k in diff)
            raise SoulError(f"{where}: this run was started with {what}; resume with the same settings "
                            f"or use another --output")
        if st["epoch"] > self.tc.epochs:
            raise SoulError(f"{where}: this run is at epoch {st['epoch']}; --epochs {self.tc.epochs} cannot "
                            f"shorten it (give --epochs {st['epoch']} or more)")
        self.model.load_state_dict(st["model"])
        self.opt.load_state_dict(st["opt"])
        self.sched.load_state_dict(st["sched"])
        self.gen.set_state(st["rng"])
        torch.set_rng_state(st["torch_rng"])
        self.epoch, self.history, self.losses, self.best = st["epoch"], st["history"], st["losses"], st["best"]
        self.improved, self.stopped = st["improved"], st["stopped"]
        if self.stopped is not None and self.tc.epochs > theirs["epochs"]:
            self.stopped, self.improved = None, self.epoch      # extended: patience counts afresh
        return theirs["epochs"]

    @property
    def ckpt_dir(self):
        return self.out / "checkpoints"

    def save_checkpoint(self, st, name):
        buf = io.BytesIO()
        torch.save(st, buf)
        atomic_write_bytes(self.ckpt_dir / name, buf.getvalue())

    def save_last(self, st):
        """last.pt, then (once per run) tokenizer.json: tokenizer.json only ever stands beside a last.pt."""
        self.save_checkpoint(st, "last.pt")
        if not self.tok_written:
            self.tok.save(self.out / "tokenizer.json")
            self.write_replies()
            self.tok_written = True

    def write_replies(self):
        """replies.txt: what corpus reply mode may say (the kept exchanges' replies)."""
        write_replies(self.out / REPLIES_NAME, self.replies)

    def save_best_soul(self):
        """soul.bin := the best soul so far (only ever beside a last.pt and its tokenizer.json)."""
        atomic_write_bytes(self.out / "soul.bin", self.best["soul"])

    def check_output(self, force=False):
        """Refuse to overwrite a soul that no checkpoint of this trainer backs (unless force)."""
        if force or (self.ckpt_dir / "last.pt").exists():
            return
        found = [n for n in ("soul.bin", "tokenizer.json") if (self.out / n).exists()]
        if found:
            raise SoulError(f"{self.out}: holds {' and '.join(found)} but no checkpoints/last.pt to resume; "
                            f"use another --output, or --force to overwrite them")

    def try_resume(self):
        """Load checkpoints/last.pt if there is one: -> the epochs it was started with, or None."""
        path = self.ckpt_dir / "last.pt"
        if not path.exists():
            return None
        try:
            st = torch.load(path, weights_only=False)
        except Exception as e:  # a damaged file: say so in one line
            raise SoulError(f"{path}: cannot read checkpoint: {e}") from None
        return self.load_state(st, str(path))

    # --- training ----------------------------------------------------------
    def epoch_tensors(self):
        """(inputs, targets, mask, lengths) for one epoch: the corpus, copy-augmented and noisy."""
        if not self.augmenter.active:
            return self.inputs, self.targets, self.mask, self.lengths
        examples = self.augmenter.epoch(self.examples, self.gen)
        return (*batch_tensors(examples, self.config.context), sequence_lengths(examples))

    def train_epoch(self):
        self.model.train()
        n = len(self.examples)
        inputs, targets, mask, lengths = self.epoch_tensors()
        order = torch.randperm(n, generator=self.gen)
        total = 0.0
        for idx in length_batches(order, lengths, self.batch_size, self.gen):
            T = int(lengths[idx].max())          # causal: the padding after the longest changes nothing
            logits = self.model(inputs[idx, :T], quant=True)
            loss = loss_fn(logits, targets[idx, :T], mask[idx, :T], self.tc.label_smoothing)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.opt.step()
            self.sched.step()
            total += loss.item() * len(idx)
        return total / n

    def evaluate(self):
        """Score the int8 soul; -> (soul, score, held-out score or None, best changed)."""
        soul = to_soul(self.model, self.tok)
        s = scoring.int8_score(soul, self.examples)
        entry = {"epoch": self.epoch, "loss": self.losses[-1] if self.losses else None,
                 "exact": s.exact, "token_acc": s.token_acc}
        held = None
        if self.holdout is not None:
            held = self.score_holdout(soul)
            entry.update(held_exact=held[0].exact, held_well_formed=held[0].well_formed,
                         held_broken=held[0].broken, held_corpus_exact=held[1].exact)
        self.history.append(entry)
        changed = False
        if self.best is None or s.key() > tuple(self.best["score"]):
            self.improved = self.epoch
        if self.best is None or s.key() >= tuple(self.best["score"]):
            self.best = {"epoch": self.epoch, "score": list(s.key()), "soul": soul_bytes(soul)}
            changed = True
        return soul, s, held, changed

    def score_holdout(self, soul):
        """The held-out prompts in both reply modes: (free, corpus) HeldOutScores."""
        return (score_prompts(soul, self.tok, self.holdout[1], self.replies),
                score_prompts(soul, self.tok, self.holdout[1], self.replies, trie=self.trie))

    def out_of_patience(self) -> bool:
        return self.tc.patience > 0 and self.epoch - self.improved >= self.tc.patience

    def probe_lines(self, soul):
        from soulplayer.chat import generate, choose_next
        width = max(len(e.exchange.input) for e in self.probes)
        for e in self.probes:
            f = self.tok.decode(scoring.float_reply(self.model, e.prompt, self.config.context))
            i = self.tok.decode(list(generate(soul, e.prompt, choose_next)))
            mark = "=" if i == e.exchange.reply else "x"
            yield f"    {e.exchange.input:<{width}} | float: {f:<24} | int8: {i:<24} {mark}"

    def eval_line(self, loss, s, held) -> str:
        line = (f"  epoch {self.epoch}: loss {loss:.4f}  int8 exact {s.exact * 100:.1f}% "
                f"({s.exact_count}/{s.n})  next-token {s.token_acc * 100:.1f}%")
        if held is not None:
            free, corpus = held
            line += (f"  held-out: free exact {free.exact * 100:.1f}% broken {free.broken * 100:.1f}%, "
                     f"corpus exact {corpus.exact * 100:.1f}%")
        return line

    def make_bar(self):
        """A tqdm bar on stderr when progress is on (a terminal), else None."""
        if not self.progress:
            return None
        from tqdm import tqdm
        return tqdm(total=self.tc.epochs, initial=self.epoch, unit="epoch", file=sys.stderr,
                    dynamic_ncols=True, leave=False, bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} "
                    "[{elapsed}<{remaining}]{postfix}")

    def say(self, text):
        """A log line that does not tear the progress bar."""
        if self.bar is not None:
            self.bar.clear()
            self.log(text)
            self.bar.refresh()
        else:
            self.log(text)

    def checkpoint(self, loss):
        """An evaluation: scores, checkpoints, soul.bin when the best changed; the log line."""
        soul, s, held, changed = self.evaluate()
        if self.out_of_patience() and self.epoch < self.tc.epochs:
            self.stopped = self.epoch
        st = self.state()
        self.save_last(st)
        if changed:
            self.save_checkpoint(st, "best.pt")
            self.save_best_soul()
        if self.tc.keep_checkpoints:
            self.save_checkpoint(st, f"epoch_{self.epoch:04d}.pt")
        self.say(self.eval_line(loss, s, held))
        if self.progress:
            for line in self.probe_lines(soul):
                self.say(line)

    def run(self, stop_at_epoch=None, force=False):
        """Train to tc.epochs or until patience runs out (resuming from DIR/checkpoints/last.pt).
        stop_at_epoch simulates a Ctrl-C in the middle of that epoch (for tests); force overwrites
        a soul.bin/tokenizer.json that has no checkpoints/last.pt. Returns True when finished."""
        self.check_output(force)
        started_with = self.try_resume()  # refuses another corpus or other settings before anything is written
        if started_with is not None:
            more = f" (extended from {started_with})" if self.tc.epochs > started_with else ""
            self.log(f"resuming {self.out} at epoch {self.epoch}/{self.tc.epochs}{more}")
        self.out.mkdir(parents=True, exist_ok=True)
        self.tok_written = False
        self.start_epoch = self.epoch
        self.started = time.time()
        snapshot = copy.deepcopy(self.state())
        self.bar = self.make_bar()
        try:
            while self.epoch < self.tc.epochs and self.stopped is None:
                if stop_at_epoch is not None and self.epoch == stop_at_epoch:
                    self.train_epoch()  # partly done work is thrown away, as with a real Ctrl-C
                    raise KeyboardInterrupt
                loss = self.train_epoch()
                self.epoch += 1
                self.losses.append(loss)
                if self.epoch % self.tc.eval_every == 0 or self.epoch == self.tc.epochs:
                    self.checkpoint(loss)
                if self.bar is not None:
                    best = f"{self.best['score'][0] * 100:.1f}%" if self.best else "-"
                    self.bar.set_postfix_str(f"loss {loss:.3f} best int8 exact {best}", refresh=False)
                    self.bar.update(1)
                snapshot = copy.deepcopy(self.state())
        except KeyboardInterrupt:
            self.close_bar()
            self.interrupted(snapshot)
            return False
        self.close_bar()
        if self.stopped is not None:
            self.log(f"stopped at epoch {self.stopped}: the int8 score has not improved since epoch "
                     f"{self.improved} (patience {self.tc.patience})")
        self.finish()
        return True

    def close_bar(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def interrupted(self, snapshot):
        """Ctrl-C: last.pt at the last whole epoch, and soul.bin (the best so far, or that epoch's)."""
        self.save_last(snapshot)
        if self.best is None:
            model = QATModel(self.config, self.tc.tie_embeddings)
            model.load_state_dict(snapshot["model"])
            atomic_write_bytes(self.out / "soul.bin", soul_bytes(to_soul(model, self.tok)))
            which = f"epoch {snapshot['epoch']}, not yet scored"
        else:
            self.save_best_soul()
            which = f"best so far: epoch {self.best['epoch']}, int8 exact {self.best['score'][0] * 100:.1f}%"
        self.log(f"interrupted: saved epoch {snapshot['epoch']} to {self.ckpt_dir / 'last.pt'} and "
                 f"{self.out / 'soul.bin'} ({which}); run the same command again to resume")

    # --- outputs -----------------------------------------------------------
    def finish(self):
        from .plot import write_training_png
        soul = parse_soul(self.best["soul"], "best checkpoint")
        save_soul(soul, self.out / "soul.bin")
        self.tok.save(self.out / "tokenizer.json")
        self.write_replies()
        # float agreement uses the model of the best checkpoint
        model = QATModel(self.config, self.tc.tie_embeddings)
        model.load_state_dict(torch.load(self.ckpt_dir / "best.pt", weights_only=False)["model"])
        report = scoring.decode_report(soul, self.examples)
        report["token_acc"] = self.best["score"][1]
        report["float_agreement"] = scoring.float_agreement(model, soul, self.examples, self.inputs, self.mask)
        report["best_epoch"] = self.best["epoch"]
        report["epochs"] = self.epoch
        report["stopped_early"] = self.stopped is not None
        report["skipped_lines"] = len(self.corpus.problems)
        report["context"] = self.config.context
        held = None
        if self.holdout is not None:
            held = self.score_holdout(soul)
            report["holdout"] = {"file": self.holdout[0], "free": held[0].figures(), "corpus": held[1].figures()}
        atomic_write_text(self.out / "score.json", json.dumps(report, indent=1) + "\n")
        write_training_png(self.out / "training.png", self.losses, self.history)
        self.write_inc(soul)
        self.report = report
        self.log(f"best epoch {self.best['epoch']}: int8 exact {report['exact'] * 100:.1f}% "
                 f"({report['exact_count']}/{report['n']}), ends on SEP/END {report['ends_on_stop'] * 100:.1f}%, "
                 f"next-token {report['token_acc'] * 100:.1f}%, float/int8 agreement "
                 f"{report['float_agreement'] * 100:.1f}%")
        if held is not None:
            self.log(f"held-out ({self.holdout[0]}), free mode: {held[0].summary()}")
            self.log(f"held-out ({self.holdout[0]}), corpus mode: {held[1].summary()}")
        self.log(f"wrote {self.out / 'soul.bin'}, tokenizer.json, {REPLIES_NAME}, training.png, score.json "
                 f"({duration(time.time() - self.started)} this session)")
        self.log(self.next_steps())
        return report

    def next_steps(self) -> str:
        soul, tok = self.out / "soul.bin", self.out / "tokenizer.json"
        return "\n".join([
            "next:",
            f"  soul chat --soul {soul} --tokenizer {tok}",
            f"  make disk SOUL={soul} TOKENIZER={tok}",
            f"  soul eval --soul {soul} --tokenizer {tok} PROMPTS_FILE    # unseen wordings",
            f"  soul train ... --epochs {self.tc.epochs + 200}    # the same command with more epochs "
            f"goes on from here",
        ])

    def write_inc(self, soul):
        try:
            from soulplayer.gen.weights import write_weights_inc
        except ImportError:
            self.log("note: soulplayer.gen.weights is not available; weights.inc not written")
            return
        write_weights_inc(soul, self.out / "weights.inc")
