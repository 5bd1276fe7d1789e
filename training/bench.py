"""Training benchmarks (the README's figures):
`python -m soulplayer.training.bench [default|space|template|food]`.

- default:  the built-in corpus; time to the soul, int8 exact %, ends on SEP/END %, float/int8 agreement.
- space:    a second corpus on another topic, generated here (the trainer is not tuned to one file).
- template: `<SEP>i like cats<SEP>cats are great!<SEP>`-style templates over many words with 20 % of
            the exchanges held out: int8 exact % on the trained and on the held-out ones.
- food:     the same measure on other templates over other words (not the file the trainer was tuned on).
"""
import random
import sys
import tempfile
import time
from pathlib import Path

import torch

from soulplayer.chat import choose_next, generate
from soulplayer.config import SEP, TRAIN_DEFAULT_CONTEXT, ModelConfig

from .corpus import parse_corpus
from .trainer import TrainConfig, Trainer

WORDS = ("cats dogs birds frogs books cars trees games songs stars cakes boats bikes hats shoes "
         "socks apples pears plums kites rocks shells clouds flowers robots disks chips ducks bears "
         "lions wolves foxes owls bees ants trains planes drums bells moons").split()
TEMPLATES = [
    ("i like {w}", "{w} are great!"),
    ("do you like {w}?", "i love {w}!"),
    ("i hate {w}", "no {w}?"),
    ("{w}!", "{w} are fun."),
]

FOODS = ("milk tea soup rice bread jam honey corn beans nuts figs limes peas eggs fish ham cheese pie "
         "toast buns grapes melons lemons olives peppers carrots onions leeks yams dates kiwis").split()
FOOD_TEMPLATES = [
    ("can i have {w}?", "yes, {w} for you."),
    ("we ate {w}", "was the {w} good?"),
    ("{w} please", "here is {w}."),
    ("no more {w}", "ok, no {w}."),
]

TEMPLATE_SETS = {"template": (WORDS, TEMPLATES), "food": (FOODS, FOOD_TEMPLATES)}

SPACE = [
    ("the sun is a star.", ["what is the sun?", "is the sun a star?", "tell me about the sun", "the sun"]),
    ("the moon is rock.", ["what is the moon?", "the moon", "is the moon cheese?", "moon"]),
    ("mars is red and cold.", ["what is mars?", "tell me about mars", "mars", "is mars red?"]),
    ("a rocket flies up.", ["what is a rocket?", "rocket", "how do we fly to space?", "can we fly up?"]),
    ("space is dark and big.", ["what is space?", "space", "is space big?", "is space dark?"]),
    ("eight planets go round.", ["how many planets?", "planets", "name the planets", "what are planets?"]),
    ("stars are far suns.", ["what are stars?", "stars", "why do stars shine?", "are stars suns?"]),
    ("hello, space cadet!", ["hi", "hello", "hey", "good day", "greetings"]),
    ("bye, cadet. look up!", ["bye", "goodbye", "see you", "farewell", "i must go"]),
    ("a comet has a tail.", ["what is a comet?", "comet", "do comets have tails?", "tell me about comets"]),
    ("we need air in space.", ["can i breathe in space?", "is there air in space?", "air", "what do i need?"]),
    ("it is very cold.", ["is space cold?", "how cold is it?", "cold", "is it hot up there?"]),
]


def template_corpus(seed=0, holdout=0.2, words=WORDS, templates=TEMPLATES):
    pairs = [(t.format(w=w), r.format(w=w)) for w in words for t, r in templates]
    rng = random.Random(seed)
    rng.shuffle(pairs)
    n = int(len(pairs) * holdout)
    return pairs[n:], pairs[:n]


def space_corpus():
    return [(i, r) for r, ins in SPACE for i in ins]


def to_text(pairs):
    return "".join(f"<SEP>{i}<SEP>{r}<SEP>\n" for i, r in pairs)


def fitting(pairs, tok, config):
    return [(i, r) for i, r in pairs
            if len(tok.encode(i)) <= config.max_input_tokens and len(tok.encode(i) + tok.encode(r)) + 3 <= config.context]


def exact_rate(soul, tok, pairs, config):
    hits = 0
    pairs = fitting(pairs, tok, config)
    for i, r in pairs:
        prompt = [SEP] + tok.encode(i) + [SEP]
        hits += list(generate(soul, prompt, choose_next)) == tok.encode(r) + [SEP]
    return hits / len(pairs)


def train(name, text, out):
    config = ModelConfig(context=TRAIN_DEFAULT_CONTEXT)      # what `soul train` gives new souls
    corpus = parse_corpus(text, name, config)
    t = time.time()
    tr = Trainer(corpus, out, TrainConfig(), config, progress=False, log=lambda *a: None)
    tr.run()
    return tr, time.time() - t


def main(which):
    torch.set_num_threads(1)   # as `soul train` (training/command.py says why)
    with tempfile.TemporaryDirectory() as tmp:
        if which in ("default", "space"):
            if which == "default":
                from .corpus import DEFAULT_CORPUS
                text = DEFAULT_CORPUS.read_text()
            else:
                text = to_text(space_corpus())
            tr, secs = train(which, text, Path(tmp) / which)
            r = tr.report
            print(f"{which}: {r['n']} exchanges, {secs:.0f} s, int8 exact {r['exact'] * 100:.1f}%, "
                  f"ends on SEP/END {r['ends_on_stop'] * 100:.1f}%, next-token {r['token_acc'] * 100:.1f}%, "
                  f"float/int8 agreement {r['float_agreement'] * 100:.1f}% (best epoch {r['best_epoch']})")
        elif which in ("template", "food"):
            trained, held = template_corpus(0, 0.2, *TEMPLATE_SETS[which])
            tr, secs = train(which, to_text(trained), Path(tmp) / which)
            from soulplayer.soulfile import load_soul
            soul = load_soul(Path(tmp) / which / "soul.bin")
            a = exact_rate(soul, tr.tok, trained, tr.config)
            b = exact_rate(soul, tr.tok, held, tr.config)
            trained, held = fitting(trained, tr.tok, tr.config), fitting(held, tr.tok, tr.config)
            print(f"{which}: {len(trained)} trained, {len(held)} held out (that fit), {secs:.0f} s: "
                  f"int8 exact trained {a * 100:.1f}%, held-out {b * 100:.1f}%")
        else:
            raise SystemExit(f"unknown benchmark {which!r}: default, space, template or food")


if __name__ == "__main__":
    for arg in sys.argv[1:] or ["default"]:
        main(arg)
