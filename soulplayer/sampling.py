"""The C64's integer sampler, reproduced exactly (asm/program_sampler.s).

Temperature T is a setting in tenths, t10 = 0..99 (0 = greedy, the default).
For t10 > 0 the sampler:

1. m = the largest logit over the candidates: every id except PAD and UNK in
   free mode, the tokens that continue a corpus reply in corpus mode
   (soulplayer.replies);
2. weight[i] = EXP[min(127, ((m - logit[i]) * k) >> 8)] with k = 160 // t10
   (EXP is the attention table, 255*e^(-j/16)), 0 for every other id;
   in real terms weight ~ e^(-(m - logit)/T) with the logits in Q8.8;
3. the 16-bit xorshift PRNG (shifts 7, 9, 8) advances once: state := next(state);
4. r = state mod W (W = sum of weights, >= 255); the token is the first id
   whose running weight sum exceeds r.

The PRNG state is seeded once per chat session (`--seed`, 0..65535; seed 0
becomes SEED_ZERO because xorshift never leaves 0) and carried from reply to
reply, exactly as on the C64, where F1 sets temperature and seed.
"""
import math

from .errors import SoulError
from .spec import EXP_MAX_INDEX, PAD, UNK
from .spec import EXP_VALUES as EXP
from .spec import SAMPLE_K_NUMERATOR as K_NUMERATOR  # k = 160 // t10: k = 16 means T = 1.0
from .spec import SAMPLE_MAX_SEED as MAX_SEED        # five digits on the C64
from .spec import SAMPLE_MAX_TENTHS as MAX_TENTHS
from .spec import SAMPLE_SEED_ZERO as SEED_ZERO      # the state used for seed 0


def temperature_tenths(temperature: float) -> int:
    """A temperature (0.0 .. 9.9, steps of 0.1) as the C64's integer setting."""
    if not math.isfinite(temperature):
        raise SoulError(f"--temperature {temperature}: use 0.0 to 9.9 in steps of 0.1 (0 = greedy)")
    tenths = round(temperature * 10)
    if not 0 <= tenths <= MAX_TENTHS or abs(temperature * 10 - tenths) > 1e-6:
        raise SoulError(f"--temperature {temperature}: use 0.0 to 9.9 in steps of 0.1 (0 = greedy)")
    return tenths


def seed_state(seed: int) -> int:
    """The PRNG state a seed sets. The C64 takes up to 5 digits and keeps the
    16-bit value (seed mod 65536) when F1 sets a seed; so does this."""
    if not 0 <= seed <= MAX_SEED:
        raise SoulError(f"--seed {seed}: use 0 to {MAX_SEED} (taken mod 65536, as on the C64)")
    return (seed & 0xFFFF) or SEED_ZERO


def prng_next(state: int) -> int:
    """16-bit xorshift (7, 9, 8): the same three steps as rng_next in 6502."""
    state ^= (state << 7) & 0xFFFF
    state ^= state >> 9
    state ^= (state << 8) & 0xFFFF
    return state


def weights(logits, tenths: int, allowed=None) -> list:
    """Integer weights per id for temperature `tenths` (> 0) over the `allowed`
    ids (None: every id but PAD and UNK)."""
    k = K_NUMERATOR // tenths
    if allowed is None:
        allowed = [i for i in range(len(logits)) if i not in (PAD, UNK)]
    top = max(int(logits[i]) for i in allowed)
    out = [0] * len(logits)
    for i in allowed:
        out[i] = int(EXP[min(EXP_MAX_INDEX, ((top - int(logits[i])) * k) >> 8)])
    return out


def pick(w: list, state: int) -> int:
    """The first id whose running sum of weights exceeds state mod sum(w)."""
    r = state % sum(w)
    running = 0
    for i, wi in enumerate(w):
        running += wi
        if r < running:
            return i
    raise AssertionError("unreachable: r < sum(w)")


class Sampler:
    """`choose(logits, allowed=None) -> id` for chat.generate; state carries
    across replies."""

    def __init__(self, temperature: float, seed: int):
        self.tenths = temperature_tenths(temperature)
        self.state = seed_state(seed)

    def choose(self, logits, allowed=None) -> int:
        if self.tenths == 0:
            from .chat import choose_next
            return choose_next(logits, allowed)
        self.state = prng_next(self.state)
        return pick(weights(logits, self.tenths, allowed), self.state)
