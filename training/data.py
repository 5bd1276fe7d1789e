"""Exchanges -> token tensors for training, and the teacher-forced targets for scoring.

A training sequence is `[SEP] input [SEP] reply [SEP]`: the prompt exactly as chat
builds it, then the reply and the closing SEP that ends it (the corpus line's
last `<SEP>`). The loss covers the reply tokens and that SEP.
"""
from dataclasses import dataclass

import torch

from soulplayer.chat import prompt_ids
from soulplayer.config import PAD, SEP

from .corpus import Problem


@dataclass
class Example:
    exchange: object
    prompt: list   # [SEP] + input + [SEP]
    reply: list    # reply tokens + [SEP]

    @property
    def ids(self):
        return self.prompt + self.reply


def make_examples(corpus, tok, config):
    """Encode every exchange; ones the chat input rule would cut are reported and dropped."""
    examples, kept = [], []
    for ex in corpus.exchanges:
        prompt = prompt_ids(ex.input, tok, config)
        if prompt != [SEP] + tok.encode(ex.input) + [SEP]:
            corpus.problems.append(Problem(ex.line, "too long for the context: chat would cut this input"))
            continue
        kept.append(ex)
        examples.append(Example(ex, prompt, tok.encode(ex.reply) + [SEP]))
    corpus.exchanges = kept
    corpus.problems.sort(key=lambda p: p.line)
    return examples


def batch_tensors(examples, context):
    """-> inputs [N, context-1], targets [N, context-1], mask [N, context-1] (reply + end)."""
    T = context - 1
    n = len(examples)
    inputs = torch.full((n, T), PAD, dtype=torch.long)
    targets = torch.full((n, T), PAD, dtype=torch.long)
    mask = torch.zeros((n, T), dtype=torch.float64)
    for row, e in enumerate(examples):
        ids = e.ids
        inputs[row, :len(ids) - 1] = torch.tensor(ids[:-1])
        targets[row, :len(ids) - 1] = torch.tensor(ids[1:])
        mask[row, len(e.prompt) - 1:len(ids) - 1] = 1.0
    return inputs, targets, mask


def sequence_lengths(examples):
    """-> [N] the positions each row of batch_tensors uses (its ids minus the last)."""
    return torch.tensor([len(e.ids) - 1 for e in examples], dtype=torch.long)
