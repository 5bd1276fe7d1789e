"""training.png without matplotlib: float loss (blue, left, log scale: the first epochs'
loss is ~30x the final one) and int8 exact-reply rate (red, right, 0-100 %) against
epochs, rasterized with numpy, encoded with zlib."""
import math
import struct
import zlib

import numpy as np

from soulplayer.fileio import atomic_write_bytes

W, H, M = 640, 360, 40
BG, AXIS, GRID = (255, 255, 255), (0, 0, 0), (225, 225, 225)
BLUE, RED, GREEN = (30, 90, 200), (210, 40, 40), (40, 150, 60)

# 3x5 glyphs for the few labels drawn
FONT = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001001001001",
    "8": "111101111101111", "9": "111101111001111", "%": "101001010100101", ".": "000000000000010",
    " ": "000000000000000", "L": "100100100100111", "O": "111101101101111", "S": "111100111001111",
    "I": "111010010010111", "N": "111101101101101", "T": "111010010010010", "8x": "",
    "E": "111100111100111", "X": "101101010101101", "A": "010101111101101", "C": "111100100100111",
    "P": "111101111100100", "H": "101101111101101", "-": "000000111000000",
}


def png_bytes(img: np.ndarray) -> bytes:
    h, w, _ = img.shape
    raw = b"".join(b"\x00" + img[y].astype(np.uint8).tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def text(img, x, y, s, color, scale=2):
    for ch in s.upper():
        glyph = FONT.get(ch)
        if glyph:
            for i, bit in enumerate(glyph):
                if bit == "1":
                    gx, gy = x + (i % 3) * scale, y + (i // 3) * scale
                    img[gy:gy + scale, gx:gx + scale] = color
        x += 4 * scale


def line(img, x0, y0, x1, y1, color):
    n = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
    xs = np.rint(np.linspace(x0, x1, n)).astype(int)
    ys = np.rint(np.linspace(y0, y1, n)).astype(int)
    for dx in (0, 1):
        img[np.clip(ys, 0, H - 1), np.clip(xs + dx, 0, W - 1)] = color


def polyline(img, xs, ys, color):
    for i in range(len(xs) - 1):
        line(img, xs[i], ys[i], xs[i + 1], ys[i + 1], color)
    if len(xs) == 1:
        line(img, xs[0], ys[0], xs[0], ys[0], color)


def log_range(values):
    """(log10 low, log10 high) just around the positive values."""
    pos = [v for v in values if v > 0] or [1.0]
    lo, hi = math.log10(min(pos)), math.log10(max(pos))
    pad = max(0.05, 0.03 * (hi - lo))
    return lo - pad, hi + pad


def log_ticks(lo, hi):
    """1-2-5 steps between 10^lo and 10^hi (decades only when the range is wide)."""
    steps = (1,) if hi - lo > 2.5 else (1, 2, 5)
    return [m * 10.0 ** d for d in range(math.floor(lo), math.ceil(hi) + 1) for m in steps
            if lo <= math.log10(m * 10.0 ** d) <= hi]


def loss_ypos(losses, y0, y1):
    """-> (ypos(loss) on a log scale from row y0 (lowest loss) to y1 (highest), its ticks)."""
    lo, hi = log_range(losses)

    def ypos(v):
        return y0 + (y1 - y0) * (math.log10(max(v, 10.0 ** lo)) - lo) / (hi - lo)

    return ypos, log_ticks(lo, hi)


def draw_loss(img, losses, xpos, x0, x1, y0, y1):
    """The loss on a log scale (the first epochs' loss is ~30x the final one), blue labels on the left."""
    ypos, ticks = loss_ypos(losses, y0, y1)
    for v in ticks:
        y = int(round(ypos(v)))
        img[y, x0:x1:3] = BLUE
        label = f"{v:g}"
        text(img, max(0, x0 - 6 - 8 * len(label)), y - 5, label, BLUE)
    polyline(img, [xpos(i + 1) for i in range(len(losses))], [ypos(v) for v in losses], BLUE)


def render(losses, history) -> np.ndarray:
    img = np.full((H, W, 3), BG, dtype=np.uint8)
    x0, x1, y0, y1 = M, W - M, H - M, M   # plot box (y grows downwards)
    for k in range(5):
        y = int(y0 + (y1 - y0) * k / 4)
        img[y, x0:x1] = GRID
        text(img, x1 + 4, y - 5, f"{25 * k}%", RED)
    img[y1:y0, x0] = AXIS
    img[y0, x0:x1] = AXIS
    epochs = max(1, len(losses))

    def xpos(e):
        return x0 + (x1 - x0) * e / epochs

    if losses:
        draw_loss(img, losses, xpos, x0, x1, y0, y1)
    if history:
        polyline(img, [xpos(h["epoch"]) for h in history],
                 [y0 + (y1 - y0) * h["exact"] for h in history], RED)
    text(img, x0 + 10, 8, "LOSS", BLUE)
    text(img, x0 + 60, 8, "INT8 EXACT", RED)
    text(img, x0 - 4, y0 + 10, "0", AXIS)
    text(img, (x0 + x1) // 2 - 20, y0 + 10, "EPOCH", AXIS)
    text(img, x1 - 40, y0 + 10, f"{epochs}", AXIS)
    return img


def write_training_png(path, losses, history):
    atomic_write_bytes(path, png_bytes(render(losses, history)))
