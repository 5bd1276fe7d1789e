"""The int8 score, measured with the integer reference (soulplayer.numerics + chat).

Greedy decoding reproduces a reply exactly iff, fed the reply itself, the choice
at every reply position is the reply's next token (and then the closing SEP):
so one teacher-forced `numerics.forward` per exchange gives both the exact-reply
rate and the next-token accuracy. `greedy_replies` runs real chat decoding.
"""
from dataclasses import dataclass

import torch

from soulplayer import numerics
from soulplayer.chat import STOP_TOKENS, choose_next, generate

from .model import choose


@dataclass
class Score:
    exact: float           # fraction of exchanges whose greedy int8 reply is the corpus reply
    token_acc: float       # fraction of reply tokens (incl. the closing SEP) predicted right
    exact_count: int = 0
    n: int = 0

    def key(self):
        return (self.exact, self.token_acc)


def int8_choices(soul, example):
    """Greedy choices at the reply positions, teacher-forced, by the integer reference."""
    ids = example.ids
    logits = numerics.forward(soul, ids[:-1])
    start = len(example.prompt) - 1
    return [choose_next(row) for row in logits[start:]]


def int8_score(soul, examples) -> Score:
    exact = right = total = 0
    for e in examples:
        got = int8_choices(soul, e)
        hits = sum(g == t for g, t in zip(got, e.reply))
        right += hits
        total += len(e.reply)
        exact += hits == len(e.reply)
    return Score(exact / len(examples), right / total, exact, len(examples))


def float_agreement(model, soul, examples, inputs, mask) -> float:
    """Next-token agreement between the float model (no rounding) and the integer reference
    on the reply positions."""
    with torch.no_grad():
        fl = choose(model(inputs, quant=False))
    agree = total = 0
    for row, e in enumerate(examples):
        got = int8_choices(soul, e)
        start = len(e.prompt) - 1
        f = fl[row, start:start + len(got)].tolist()
        agree += sum(a == b for a, b in zip(got, f))
        total += len(got)
    return agree / total


def greedy_replies(soul, examples):
    """Chat decoding of every corpus prompt: [(reply ids incl. stop token if any)]."""
    return [list(generate(soul, e.prompt, choose_next)) for e in examples]


def decode_report(soul, examples):
    """Exact rate and ends-on-stop rate from real greedy decoding."""
    replies = greedy_replies(soul, examples)
    exact = sum(r == e.reply for r, e in zip(replies, examples))
    stopped = sum(bool(r) and r[-1] in STOP_TOKENS for r in replies)
    return {"exact": exact / len(examples), "ends_on_stop": stopped / len(examples),
            "exact_count": exact, "stopped_count": stopped, "n": len(examples)}


def float_reply(model, prompt, context):
    """Greedy reply of the float model (for the probe display)."""
    ids = list(prompt)
    out = []
    with torch.no_grad():
        while len(ids) < context:
            logits = model(torch.tensor([ids]), quant=False)[0, -1]
            t = int(choose(logits))
            out.append(t)
            ids.append(t)
            if t in STOP_TOKENS:
                break
    return out



