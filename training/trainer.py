"""The training loop: QAT with the int8 score (integer reference) choosing the best soul.

Run directory layout:
    DIR/checkpoints/epoch_NNNN.pt   every evaluation, all kept
    DIR/checkpoints/last.pt     where a new run resumes (written at every evaluation
                                and on Ctrl-C, always at an epoch boundary)
    DIR/tokenizer.json          (trained from the corpus) written just after the first last.pt,
                                so it never stands in a folder without checkpoints/last.pt
    DIR/soul.bin, replies.txt, weights.inc, training.png, score.json   at the end (best
                                checkpoint; replies.txt: the kept replies, soulplayer.replies)

Nothing is written before the folder is checked: a last.pt from another corpus or other
settings is refused, and so is a folder holding soul.bin or tokenizer.json without
checkpoints/last.pt (e.g. models/, the shipped soul) unless force=True (`soul train --force`).
"""
import copy
import hashlib
import io
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from soulplayer.config import ModelConfig
from soulplayer.errors import SoulError
from soulplayer.fileio import atomic_write_bytes, atomic_write_text
from soulplayer.replies import REPLIES_NAME, write_replies
from soulplayer.soulfile import parse_soul, save_soul, soul_bytes
from soulplayer.tokenizer import Tokenizer

from . import score as scoring
from .augment import Augmenter
from .bpe import train_tokenizer
from .corpus import check_lengths, require_usable
from .data import batch_tensors, make_examples
from .export import to_soul
from .model import QATModel, loss_fn
from .plot import write_training_png

CHECKPOINT_VERSION = 2


@dataclass
class TrainConfig:
    epochs: int = 600                  # copying unseen words needs the longer run (template benchmarks)
    batch_size: int = 0          # 0: auto, n/8 clamped to 4..32 (small corpora get enough steps)
    lr: float = 4e-3
    min_lr_frac: float = 0.05
    warmup_epochs: int = 5
    weight_decay: float = 0.1          # on matrices and embeddings; RMSNorm gains and biases get none
    label_smoothing: float = 0.1
    eval_every: int = 25
    seed: int = 0
    tie_embeddings: bool = True
    probes: int = 4
    augment: float = 0.8               # copy augmentation rate (augment.py); 0 = off
    random_words: float = 0.5          # share of augmentation words that are random letter strings


def prepare(corpus, config: ModelConfig, vocab_size=None):
    """Corpus -> (tokenizer, examples); drops what does not fit (reported in corpus.problems)."""
    texts = [t for ex in corpus.exchanges for t in (ex.input, ex.reply)]
    tok = train_tokenizer(texts, vocab_size or config.vocab_size)
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


class Trainer:
    def __init__(self, corpus, out_dir, tc: TrainConfig = TrainConfig(), config: ModelConfig = ModelConfig(),
                 log=print, progress=True):
        self.tc, self.config, self.out = tc, config, Path(out_dir)
        self.log = log
        self.progress = progress
        self.corpus = corpus
        self.tok, self.examples = prepare(corpus, config)
        self.inputs, self.targets, self.mask = batch_tensors(self.examples, config.context)
        self.augmenter = Augmenter(self.examples, self.tok, config, tc.augment, tc.random_words)
        torch.manual_seed(tc.seed)
        self.model = QATModel(config, tc.tie_embeddings)
        self.opt = torch.optim.AdamW(param_groups(self.model, tc), lr=tc.lr, betas=(0.9, 0.98))
        n = len(self.examples)
        self.batch_size = tc.batch_size or max(4, min(32, n // 8))
        self.steps_per_epoch = math.ceil(n / self.batch_size)
        total = self.steps_per_epoch * tc.epochs
        warm = self.steps_per_epoch * tc.warmup_epochs
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: lr_factor(s, total, warm, tc.min_lr_frac))
        self.gen = torch.Generator().manual_seed(tc.seed)
        self.epoch = 0
        self.history = []        # {"epoch", "loss", "exact", "token_acc"} per evaluation
        self.losses = []         # mean loss per epoch
        self.best = None         # {"epoch", "score", "soul": bytes}
        self.digest = corpus_digest(self.examples)
        step = max(1, n // tc.probes)
        self.probes = self.examples[::step][:tc.probes]

    # --- state -------------------------------------------------------------
    def state(self):
        return {
            "version": CHECKPOINT_VERSION, "epoch": self.epoch, "digest": self.digest,
            "train_config": asdict(self.tc), "model_config": asdict(self.config),
            "model": self.model.state_dict(), "opt": self.opt.state_dict(), "sched": self.sched.state_dict(),
            "rng": self.gen.get_state(), "torch_rng": torch.get_rng_state(),
            "history": self.history, "losses": self.losses, "best": self.best,
        }

    def load_state(self, st, where):
        if st.get("version") != CHECKPOINT_VERSION:
            raise SoulError(f"{where}: checkpoint version {st.get('version')}, expected {CHECKPOINT_VERSION} "
                            f"(an older trainer); use another --output or delete {self.out}")
        if st["digest"] != self.digest:
            raise SoulError(f"{where}: this run was trained on a different corpus; "
                            f"use another --output or delete {self.out}")
        if st["model_config"] != asdict(self.config):
            raise SoulError(f"{where}: this run has other model dimensions")
        mine, theirs = asdict(self.tc), st["train_config"]
        diff = [k for k in mine if k != "epochs" and mine[k] != theirs.get(k)]
        if diff or theirs.get("epochs") != mine["epochs"]:
            what = ", ".join(f"{k}={theirs.get(k)}" for k in (diff or ["epochs"]))
            raise SoulError(f"{where}: this run was started with {what}; resume with the same settings "
                            f"or use another --output")
        self.model.load_state_dict(st["model"])
        self.opt.load_state_dict(st["opt"])
        self.sched.load_state_dict(st["sched"])
        self.gen.set_state(st["rng"])
        torch.set_rng_state(st["torch_rng"])
        self.epoch, self.history, self.losses, self.best = st["epoch"], st["history"], st["losses"], st["best"]

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
            self.tok_written = True

    def check_output(self, force=False):
        """Refuse to overwrite a soul that no checkpoint of this trainer backs (unless force)."""
        if force or (self.ckpt_dir / "last.pt").exists():
            return
        found = [n for n in ("soul.bin", "tokenizer.json") if (self.out / n).exists()]
        if found:
            raise SoulError(f"{self.out}: holds {' and '.join(found)} but no checkpoints/last.pt to resume; "
                            f"use another --output, or --force to overwrite them")

    def try_resume(self) -> bool:
        path = self.ckpt_dir / "last.pt"
        if not path.exists():
            return False
        try:
            st = torch.load(path, weights_only=False)
        except Exception as e:  # a damaged file: say so in one line
            raise SoulError(f"{path}: cannot read checkpoint: {e}") from None
        self.load_state(st, str(path))
        return True

    # --- training ----------------------------------------------------------
    def epoch_tensors(self):
        """(inputs, targets, mask) for one epoch: the corpus, copy-augmented when it has shared words."""
        if not self.augmenter.active:
            return self.inputs, self.targets, self.mask
        return batch_tensors(self.augmenter.epoch(self.examples, self.gen), self.config.context)

    def train_epoch(self):
        self.model.train()
        n = len(self.examples)
        inputs, targets, mask = self.epoch_tensors()
        order = torch.randperm(n, generator=self.gen)
        total = 0.0
        for i in range(0, n, self.batch_size):
            idx = order[i:i + self.batch_size]
            logits = self.model(inputs[idx], quant=True)
            loss = loss_fn(logits, targets[idx], mask[idx], self.tc.label_smoothing)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.opt.step()
            self.sched.step()
            total += loss.item() * len(idx)
        return total / n

    def evaluate(self):
        soul = to_soul(self.model)
        s = scoring.int8_score(soul, self.examples)
        entry = {"epoch": self.epoch, "loss": self.losses[-1] if self.losses else None,
                 "exact": s.exact, "token_acc": s.token_acc}
        self.history.append(entry)
        if self.best is None or s.key() >= tuple(self.best["score"]):
            self.best = {"epoch": self.epoch, "score": list(s.key()), "soul": soul_bytes(soul)}
        return soul, s

    def show_probes(self, soul):
        from soulplayer.chat import generate, choose_next
        width = max(len(e.exchange.input) for e in self.probes)
        for e in self.probes:
            f = self.tok.decode(scoring.float_reply(self.model, e.prompt, self.config.context))
            i = self.tok.decode(list(generate(soul, e.prompt, choose_next)))
            mark = "=" if i == e.exchange.reply else "x"
            self.log(f"    {e.exchange.input:<{width}} | float: {f:<24} | int8: {i:<24} {mark}")

    def bar(self, loss, start):
        if not self.progress:
            return
        n = self.tc.epochs
        done = int(30 * self.epoch / n)
        best = f"{self.best['score'][0] * 100:5.1f}%" if self.best else "  -  "
        rate = (time.time() - start) / max(1, self.epoch - self.start_epoch)
        eta = rate * (n - self.epoch)
        sys.stderr.write(f"\r  [{'#' * done}{'.' * (30 - done)}] epoch {self.epoch}/{n} "
                         f"loss {loss:.3f} best int8 exact {best} eta {eta:4.0f}s ")
        sys.stderr.flush()

    def run(self, stop_at_epoch=None, force=False):
        """Train to tc.epochs (resuming from DIR/checkpoints/last.pt). stop_at_epoch simulates
        a Ctrl-C in the middle of that epoch (for tests); force overwrites a soul.bin/tokenizer.json
        that has no checkpoints/last.pt. Returns True when finished."""
        self.check_output(force)
        if self.try_resume():  # refuses another corpus or other settings before anything is written
            self.log(f"resuming {self.out} at epoch {self.epoch}/{self.tc.epochs}")
        self.out.mkdir(parents=True, exist_ok=True)
        self.tok_written = False
        self.start_epoch = self.epoch
        start = time.time()
        snapshot = copy.deepcopy(self.state())
        try:
            while self.epoch < self.tc.epochs:
                if stop_at_epoch is not None and self.epoch == stop_at_epoch:
                    self.train_epoch()  # partly done work is thrown away, as with a real Ctrl-C
                    raise KeyboardInterrupt
                loss = self.train_epoch()
                self.epoch += 1
                self.losses.append(loss)
                if self.epoch % self.tc.eval_every == 0 or self.epoch == self.tc.epochs:
                    soul, s = self.evaluate()
                    st = self.state()
                    self.save_checkpoint(st, f"epoch_{self.epoch:04d}.pt")
                    self.save_last(st)
                    if self.progress:
                        sys.stderr.write("\n")
                    self.log(f"  epoch {self.epoch}: loss {loss:.4f}  int8 exact {s.exact * 100:.1f}% "
                             f"({s.exact_count}/{s.n})  next-token {s.token_acc * 100:.1f}%")
                    self.show_probes(soul)
                self.bar(loss, start)
                snapshot = copy.deepcopy(self.state())
        except KeyboardInterrupt:
            if self.progress:
                sys.stderr.write("\n")
            self.save_last(snapshot)
            self.log(f"interrupted: saved epoch {snapshot['epoch']} to {self.ckpt_dir / 'last.pt'}; "
                     f"run the same command again to resume")
            return False
        if self.progress:
            sys.stderr.write("\n")
        self.finish()
        return True

    # --- outputs -----------------------------------------------------------
    def finish(self):
        soul = parse_soul(self.best["soul"], "best checkpoint")
        save_soul(soul, self.out / "soul.bin")
        self.tok.save(self.out / "tokenizer.json")
        write_replies(self.out / REPLIES_NAME, [ex.reply for ex in self.corpus.exchanges])  # corpus mode
        # float agreement uses the model of the best checkpoint
        best_ckpt = self.ckpt_dir / f"epoch_{self.best['epoch']:04d}.pt"
        model = QATModel(self.config, self.tc.tie_embeddings)
        model.load_state_dict(torch.load(best_ckpt, weights_only=False)["model"])
        report = scoring.decode_report(soul, self.examples)
        report["token_acc"] = self.best["score"][1]
        report["float_agreement"] = scoring.float_agreement(model, soul, self.examples, self.inputs, self.mask)
        report["best_epoch"] = self.best["epoch"]
        report["skipped_lines"] = len(self.corpus.problems)
        atomic_write_text(self.out / "score.json", json.dumps(report, indent=1) + "\n")
        write_training_png(self.out / "training.png", self.losses, self.history)
        self.write_inc(soul)
        self.report = report
        self.log(f"best epoch {self.best['epoch']}: int8 exact {report['exact'] * 100:.1f}% "
                 f"({report['exact_count']}/{report['n']}), ends on SEP/END {report['ends_on_stop'] * 100:.1f}%, "
                 f"next-token {report['token_acc'] * 100:.1f}%, float/int8 agreement "
                 f"{report['float_agreement'] * 100:.1f}%")
        self.log(f"wrote {self.out / 'soul.bin'}, tokenizer.json, {REPLIES_NAME}, training.png, score.json")
        return report

    def write_inc(self, soul):
        try:
            from soulplayer.gen.weights import write_weights_inc
        except ImportError:
            self.log("note: soulplayer.gen.weights is not available; weights.inc not written")
            return
        write_weights_inc(soul, self.out / "weights.inc")
