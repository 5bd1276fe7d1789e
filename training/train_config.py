"""The trainer's settings (`TrainConfig`) and the auto-epoch budget, without
torch: `soul train --help` and `--check` read the defaults from here."""
from dataclasses import dataclass

# auto epochs: about this many optimizer steps, within MIN..MAX epochs (a small corpus gets
# MAX_EPOCHS; the 994 exchanges of the built-in corpus at context 40 get 450: fewer left one
# exchange not exact)
STEP_BUDGET, MIN_EPOCHS, MAX_EPOCHS = 14400, 100, 600


@dataclass
class TrainConfig:
    epochs: int = 0                    # the most epochs; 0: auto_epochs (early stop usually ends sooner)
    patience: int = 100                # stop when the int8 score has not improved for this many epochs (0: never)
    batch_size: int = 0          # 0: auto, n/8 clamped to 4..32 (small corpora get enough steps)
    lr: float = 4e-3
    min_lr_frac: float = 0.05
    warmup_epochs: int = 5
    weight_decay: float = 0.1          # on matrices and embeddings; RMSNorm gains and biases get none
    label_smoothing: float = 0.1
    eval_every: int = 50               # an evaluation of the built-in corpus costs ~4 s (about 8 epochs)
    seed: int = 0
    tie_embeddings: bool = True
    probes: int = 4
    augment: float = 0.8               # copy augmentation rate (augment.py); 0 = off
    random_words: float = 0.5          # share of augmentation words that are random letter strings
    noise: float = 0.5                 # share of inputs edited each epoch (noise.py); 0 = off
    keep_checkpoints: bool = False     # keep checkpoints/epoch_NNNN.pt of every evaluation
