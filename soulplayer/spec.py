"""The numbers every engine shares, owned here (one source of truth).

The Python reference (numerics.py), the sampler (sampling.py), the generator
(gen/) and the 6502 engine all take these values from this module; the
assembly gets them through `spec.inc`, rendered from asm/spec.inc.j2 by
soulplayer.gen.spec_inc into every build folder, so no .s file retypes one.

- token ids, the numerics constants of shared/spec/numerics.md (shifts, the
  RMSNorm constants, the EXP table), the sampler's constants;
- the layer record of the engine's layer table (field names and sizes);
- the engine's limits: the largest dimensions the 6502 engine runs (checked by
  gen.weights before ca65 runs and `.assert`ed in the rendered model.inc).
"""
import math

# --- token ids --------------------------------------------------------------
PAD, SEP, UNK, END = 0, 1, 2, 3
SPECIALS = ("<PAD>", "<SEP>", "<UNK>", "<END>")
FIRST_BASE_ID = len(SPECIALS)           # the first character token

# --- numerics (shared/spec/numerics.md) -------------------------------------
POST_SHIFT = 1          # q, k, v, proj, fc1, fc2
OUT_POST_SHIFT = 0      # the output layer
SCORE_SHIFT = 14        # attention: sf = asr(score, 14)
ATT_FAST_HEAD_DIM = 16  # attention's squares scores take heads up to this wide (|2 score| < 2^31)
ATT_NZP_HEAD_DIM = 8    # attention keeps a head's weighted sums in zero page up to this wide
RMS_IN_SHIFT = 4        # RMSNorm: xs = asr(x, 4)
RMS_ONE_LOG2 = 19       # inv = min(INV_MAX, 2^19 // r)
RMS_ONE = 1 << RMS_ONE_LOG2
INV_MAX = 32767
RMS_OUT_SHIFT = 15      # y = asr(asr(x * inv, 15) * g, s_g)
EXP_VALUES = tuple([min(255, max(1, round(255 * math.exp(-i / 16)))) for i in range(127)] + [0])
EXP_MAX_INDEX = len(EXP_VALUES) - 1

# --- the C64 sampler (sampling.py, asm/program_sampler.s) -------------------
SAMPLE_K_NUMERATOR = 160    # k = 160 // tenths: k = 16 is T = 1.0
SAMPLE_SEED_ZERO = 0xACE1   # the PRNG state for seed 0 (xorshift never leaves 0)
SAMPLE_MAX_TENTHS = 99
SAMPLE_MAX_SEED = 99999     # five digits on the C64

# --- the engine's layer table: one record per layer (asm .struct LayerRec) --
# (name, ca65 size, what). gen.weights writes the records in this order.
LAYER_FIELDS = (
    ("qkv", "word", "q|k|v matmul descriptor"),
    ("proj", "word", "proj matmul descriptor"),
    ("fc1", "word", "fc1 matmul descriptor"),
    ("fc2", "word", "fc2 matmul descriptor"),
    ("n1", "word", "gains of the first RMSNorm"),
    ("n2", "word", "gains of the second RMSNorm"),
    ("n1_shift", "byte", "n1 gain shift"),
    ("n2_shift", "byte", "n2 gain shift"),
    ("q_shift", "byte", "matmul shifts: s_w + post-shift"),
    ("k_shift", "byte", ""),
    ("v_shift", "byte", ""),
    ("proj_shift", "byte", ""),
    ("fc1_shift", "byte", ""),
    ("fc2_shift", "byte", ""),
)

# --- the 6502 engine's limits ------------------------------------------------
# Each is a fact some loop or index of the engine relies on (the comment says
# which); memory is checked separately, by the linker.
MAX_VOCAB = 255         # token ids are bytes; logits indexed by X
MAX_EMBED = 42          # q|k|v: 3*ED matmul rows of int16 indexed by Y = 2*i (< 256)
MAX_FF = 127            # the fc1 output is int16 indexed by Y = 2*i
MAX_HEAD_DIM = 32       # a power of two; attention's slots are unrolled per dimension
MAX_HEADS = MAX_EMBED   # heads * head_dim = embed_dim
MAX_LAYERS = 6          # layers * heads <= 252: attention's block numbers are bytes
MAX_CONTEXT = 64        # positions are indexed by X; the division needs 255 * context < 2^15
EMBED_MIN_SHIFT = -15   # te/pe deshifted and summed in 32 bits (asm/kernels.s)
EMBED_MAX_SHIFT = 127
GAIN_MIN_SHIFT = -16    # RMSNorm gains: the s_g its final shift takes (asm/rmsnorm.s,
GAIN_MAX_SHIFT = 24     # tests/test_vice_rmsnorm.py checks the whole range)


def _range_problem(name, value, low, high, why):
    if value < low:
        return f"{name} {value} below {low}{why}"
    if value > high:
        return f"{name} {value} over {high}{why}"
    return None


def engine_limit_problems(config) -> list:
    """Why `config` does not fit the 6502 engine (empty when it does)."""
    c = config
    out = [
        _range_problem("vocab_size", c.vocab_size, 4, MAX_VOCAB, " (token ids are bytes)"),
        _range_problem("embed_dim", c.embed_dim, 1, MAX_EMBED, " (q|k|v vectors are indexed by Y = 2*i)"),
        _range_problem("ff_dim", c.ff_dim, 1, MAX_FF, " (vectors are indexed by Y = 2*i)"),
        _range_problem("head_dim", c.head_dim, 1, MAX_HEAD_DIM, " (attention unrolls one slot per dimension)"),
        None if c.head_dim & (c.head_dim - 1) == 0 else f"head_dim {c.head_dim} is not a power of two",
        _range_problem("n_heads", c.n_heads, 1, MAX_HEADS, ""),
        _range_problem("n_layers", c.n_layers, 1, MAX_LAYERS, " (layers * heads are numbered in a byte)"),
        _range_problem("context", c.context, 1, MAX_CONTEXT, ""),
    ]
    return [p for p in out if p]


def embed_shift_problem(name, shift):
    """Why a te/pe shift does not fit the engine's 32-bit embedding sum, or None."""
    return _range_problem(f"{name} shift", shift, EMBED_MIN_SHIFT, EMBED_MAX_SHIFT, "")


def gain_shift_problem(name, shift):
    """Why an RMSNorm gain's shift is outside what the engine's RMSNorm takes, or None."""
    return _range_problem(f"{name} shift", shift, GAIN_MIN_SHIFT, GAIN_MAX_SHIFT, "")
