"""The C64 chat program in VICE (x64 with Open ROMs), against the Python side.

- the 6502 BPE encoder (asm/tokenizer.s) against Tokenizer.encode, many strings
  in one VICE run;
- the 6502 sampler (asm/program_sampler.s) against soulplayer.sampling, over
  every id but PAD/UNK and over masked candidate sets (corpus mode);
- the reply trie as the 6502 reads it (asm/replies.s) against ReplyTrie;
- the whole program: prompts typed with -keybuf, the screen read each time
  `soul_input` is reached, compared with chat.reply_text (what `soul chat`
  prints), greedy and sampled, in free and corpus reply mode; keyboard fuzz;
  q quits to READY.;
- the PRG inside the d64 equals build/soulplayer.prg.
"""
import random
import re
from pathlib import Path

import pytest

from soulplayer.chat import choose_next, fit_input, reply_text
from soulplayer.config import SEP, ModelConfig
from soulplayer.gen.replies_inc import render_replies_inc
from soulplayer.gen.tokenizer_inc import render_program_inc
from soulplayer.replies import CORPUS, LEAF, ReplyTrie, read_replies, replies_beside
from soulplayer.sampling import Sampler, pick, prng_next, seed_state, weights
from soulplayer.soulfile import load_soul
from soulplayer.tokenizer import BASE_CHARS, Tokenizer
from soulplayer.tools import build, vice
from soulplayer.tools.vice_chat import SCREEN, SCREEN_END, last_exchange, screen_text
from conftest import run_soul

ROOT = Path(__file__).resolve().parents[1]
WORDS = ("you", "you're", "i'm", "happy", "feel", "here.", "wonderful!", "the", "love", "good",
         "what", "care", "thing", "hear", "like", "one", "eee", "ppp", "you!", "ful!")


def _gen_incs(tok, out_dir, name="soul"):
    const, data = render_program_inc(tok, ModelConfig(), name)
    (out_dir / "program_const.inc").write_text(const)
    (out_dir / "program_data.inc").write_text(data)


def _bytes_rows(values, per_row=16):
    return "\n".join("        .byte " + ", ".join(str(v) for v in values[i:i + per_row])
                     for i in range(0, len(values), per_row))


def random_texts(rng, n, max_len):
    texts = []
    for _ in range(n):
        if rng.random() < 0.5:
            t = "".join(rng.choice(BASE_CHARS) for _ in range(rng.randint(0, max_len)))
        else:
            t = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 8)))
        texts.append(t[:max_len])
    return texts


# ------------------------------------------------------------ BPE encoder

ENCODER_DRIVER = r"""
; encode each case (count, base ids...; count 255 ends) and append
; enc_len, enc_buf[0..enc_len) to `out`
        .import bpe_encode, line_ids, enc_buf, enc_len
        .export main, driver_done, out
        .segment "ZEROPAGE"
src:    .res 2
dst:    .res 2
count:  .res 1
        .segment "CODE"
main:   lda #$36                ; BASIC ROM out: BSS is RAM under it (asm/soul.cfg)
        sta $01
        lda #<cases
        sta src
        lda #>cases
        sta src+1
        lda #<out
        sta dst
        lda #>out
        sta dst+1
case:   ldy #0
        lda (src),y
        cmp #255
        beq driver_done
        sta count
        tax
        beq encode
copy:   iny
        lda (src),y
        sta line_ids-1,y
        dex
        bne copy
encode: lda count               ; src += count + 1
        sec
        adc src
        sta src
        bcc :+
        inc src+1
:       lda count
        jsr bpe_encode
        ldy #0
        sta (dst),y
        tax
        beq next
store:  lda enc_buf,y
        iny
        sta (dst),y
        dex
        bne store
next:   iny                     ; dst += enc_len + 1
        tya
        clc
        adc dst
        sta dst
        bcc case
        inc dst+1
        jmp case
driver_done: jmp driver_done
        .segment "RODATA"
cases:
{cases}
        .byte 255
        .segment "BSS"
out:    .res {out_size}
"""


def test_6502_bpe_encoder_matches_python(original_tokenizer_path, tmp_path):
    tok = Tokenizer.load(original_tokenizer_path)
    cfg = ModelConfig()
    rng = random.Random(5)
    texts = ["", "q", "eee", "eeee", "you'you'you", "happpppy", "here.here.", "ful!ful!",
             "thatthat", "wonderful wonderful", "i'm", "you're wonderful!", "-;:,?!'. ",
             "a" * cfg.max_input_chars, "you" * 11]
    texts += [line.split("<SEP>")[1] for line in (ROOT / "corpus" / "default.txt").read_text().splitlines()
              if line.startswith("<SEP>")][:120]
    texts += random_texts(rng, 300, cfg.max_input_chars)
    texts = [t[:cfg.max_input_chars] for t in texts]
    case_bytes = []
    for t in texts:
        case_bytes += [len(t)] + [tok.vocab[ch] for ch in t]
    out_size = sum(len(t) + 1 for t in texts)
    _gen_incs(tok, tmp_path)
    src = tmp_path / "driver.s"
    src.write_text(ENCODER_DRIVER.replace("{cases}", _bytes_rows(case_bytes))
                   .replace("{out_size}", str(out_size)))
    art = build.build_prg([build.ASM_DIR / "basic_stub.s", build.ASM_DIR / "tokenizer.s", src],
                          tmp_path, "enc", include_dirs=[tmp_path])
    r = vice.run_checked(art.prg, labels=art.labels, done="driver_done", dumps=[("out", "out", out_size)])
    out, pos = r.memory("out"), 0
    for t in texts:
        n = out[pos]
        got = list(out[pos + 1:pos + 1 + n])
        pos += 1 + n
        assert got == tok.encode(t), f"6502 encodes {t!r} as {got}"


# ------------------------------------------------------------ sampler

def _sampler_driver(cases, seed):
    """6502 driver: per case set the temperature, load the logits and the
    candidates (mask_free, or a mask row), choose (masked_argmax for
    temperature 0, else sample_next); out = id, state low, state high per case."""
    code = [
        "        .import sample_next, set_temperature, set_seed, rng_lo, rng_hi",
        "        .import sample_mask, mask_free, masked_argmax",
        "        .export main, driver_done, out, logits_lo, logits_hi",
        '        .segment "CODE"',
        "main:   lda #$36                ; BASIC ROM out: BSS is RAM under it",
        "        sta $01",
        f"        lda #{seed & 0xFF}",
        f"        ldx #{seed >> 8}",
        "        jsr set_seed",
    ]
    data = ['        .segment "RODATA"']
    for c, (tenths, logits, allowed) in enumerate(cases):
        code += [f"        lda #{tenths}", "        jsr set_temperature", "        ldx #127",
                 f"l{c}:     lda lo{c},x", "        sta logits_lo,x", f"        lda hi{c},x",
                 "        sta logits_hi,x", "        dex", f"        bpl l{c}"]
        if allowed is None:
            code += ["        jsr mask_free"]
        else:
            code += ["        ldx #127", f"m{c}:     lda mask{c},x", "        sta sample_mask,x",
                     "        dex", f"        bpl m{c}"]
            data += [f"mask{c}:", _bytes_rows([int(i in allowed) for i in range(128)])]
        code += ["        jsr " + ("sample_next" if tenths else "masked_argmax"),
                 f"        sta out+{3 * c}", "        lda rng_lo",
                 f"        sta out+{3 * c + 1}", "        lda rng_hi", f"        sta out+{3 * c + 2}"]
        data += [f"lo{c}:", _bytes_rows([v & 0xFF for v in logits]),
                 f"hi{c}:", _bytes_rows([(v >> 8) & 0xFF for v in logits])]
    code += ["driver_done: jmp driver_done"]
    bss = ['        .segment "BSS"', "logits_lo: .res 128", "logits_hi: .res 128",
           f"out:    .res {3 * len(cases)}"]
    return "\n".join(code + data + bss) + "\n"


def test_6502_sampler_matches_python(original_tokenizer_path, tmp_path):
    rng = random.Random(7)
    cases = []
    for c in range(90):
        tenths = rng.choice([1, 3, 5, 8, 10, 15, 20, 50, 99] + ([0] * 3 if c >= 60 else []))
        kind = c % 4
        if kind == 0:      # typical logits: a few thousand around zero
            logits = [rng.randint(-3000, 3000) for _ in range(128)]
        elif kind == 1:    # extremes: saturated values, the max at PAD/UNK must not count
            logits = [rng.choice([-32768, 32767, 0, -1, 1]) for _ in range(128)]
            logits[0] = logits[2] = 32767
        elif kind == 2:    # a near tie among a handful
            logits = [rng.randint(-32768, -20000) for _ in range(128)]
            for i in rng.sample(range(3, 128), 5):
                logits[i] = 1000 + rng.randint(0, 40)
        else:              # flat: every id about equally likely
            logits = [rng.randint(-5, 5) for _ in range(128)]
        allowed = None     # free mode; from case 60 on a corpus-mode candidate set
        if c >= 60:
            allowed = sorted(rng.sample(range(1, 128), rng.choice([1, 2, 5, 30])))
            allowed = [i for i in allowed if i != 2] or [1]
            if c % 5 == 0:  # the best logit of all is no candidate
                logits[max(set(range(3, 128)) - set(allowed))] = 32767
        cases.append((tenths, logits, allowed))
    seed = 4242
    _gen_incs(Tokenizer.load(original_tokenizer_path), tmp_path)
    src = tmp_path / "driver.s"
    src.write_text(_sampler_driver(cases, seed))
    art = build.build_prg([build.ASM_DIR / "basic_stub.s", build.ASM_DIR / "tokenizer.s",
                           build.ASM_DIR / "program_sampler.s", build.ASM_DIR / "exp_table.s", src],
                          tmp_path, "sampler", include_dirs=[tmp_path])
    r = vice.run_checked(art.prg, labels=art.labels, done="driver_done", dumps=[("out", "out", 3 * len(cases))])
    out = r.memory("out")
    state = seed_state(seed)
    for c, (tenths, logits, allowed) in enumerate(cases):
        if tenths == 0:
            want = choose_next(logits, allowed)
        else:
            state = prng_next(state)
            want = pick(weights(logits, tenths, allowed), state)
        if allowed is not None:
            assert want in allowed
        got, got_state = out[3 * c], out[3 * c + 1] | out[3 * c + 2] << 8
        assert got_state == state, f"case {c}: PRNG state {got_state:#06x}, Python {state:#06x}"
        assert got == want, f"case {c} (t={tenths / 10}): 6502 chose {got}, Python {want}"
    assert len({out[3 * c] for c in range(len(cases))}) > 10   # really sampling, not one id


# ------------------------------------------------------------ reply trie

TRIE_DRIVER = r"""
; for each walk (token ids ending with SEP; a 0 ends the table): trie_reset,
; then per token: trie_mask, append the marked ids and $ff to `out`,
; trie_follow the token
        .import trie_reset, trie_mask, trie_follow, sample_mask
        .export main, driver_done, out, logits_lo, logits_hi
        .segment "ZEROPAGE"
src:    .res 2
dst:    .res 2
        .segment "BSS"
tok:    .res 1
logits_lo: .res 128
logits_hi: .res 128
        .segment "CODE"
main:   lda #<walks
        sta src
        lda #>walks
        sta src+1
        lda #<out
        sta dst
        lda #>out
        sta dst+1
walk:   ldy #0
        lda (src),y
        beq driver_done
        jsr trie_reset
step:   jsr trie_mask
        ldx #0
        ldy #0
scan:   lda sample_mask,x
        beq :+
        txa
        sta (dst),y
        iny
:       inx
        cpx #{vs}
        bne scan
        lda #$ff
        sta (dst),y
        iny
        tya
        clc
        adc dst
        sta dst
        bcc :+
        inc dst+1
:       ldy #0
        lda (src),y
        sta tok
        jsr trie_follow
        inc src
        bne :+
        inc src+1
:       lda tok
        cmp #{sep}
        bne step
        jmp walk
driver_done: jmp driver_done
        .segment "RODATA"
walks:
{walks}
        .byte 0
        .segment "BSS"
out:    .res {out_size}
"""


def test_6502_reply_trie_matches_python(tmp_path):
    """The trie on the disk, walked by replies.s, offers at every step exactly
    the tokens ReplyTrie.allowed offers, along every reply (so at every node):
    the default soul's replies plus many random ones (wide nodes, > 256 bytes)."""
    from soulplayer.paths import DEFAULT_SOUL, DEFAULT_TOKENIZER
    tok = Tokenizer.load(DEFAULT_TOKENIZER)
    rng = random.Random(11)
    texts = read_replies(replies_beside(DEFAULT_SOUL))
    texts += [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4))) for _ in range(150)]
    texts += ["".join(rng.choice(BASE_CHARS) for _ in range(rng.randint(1, 9))) for _ in range(80)]
    trie = ReplyTrie.from_texts(texts, tok)
    walks = trie.sequences()
    assert 200 < len(walks) <= 255 and max(len(c) for c in trie.children) > 40
    want = []
    for seq in walks:
        node = trie.root
        for t in seq:
            want += trie.allowed(node) + [0xFF]
            node = trie.follow(node, t)
    _gen_incs(tok, tmp_path)
    const, data = render_replies_inc(trie, CORPUS)
    (tmp_path / "replies.inc").write_text(const)
    (tmp_path / "replies_data.inc").write_text(data)
    src = tmp_path / "driver.s"
    src.write_text(TRIE_DRIVER.replace("{walks}", _bytes_rows([t for seq in walks for t in seq]))
                   .replace("{out_size}", str(len(want))).replace("{vs}", "128").replace("{sep}", str(SEP)))
    art = build.build_prg([build.ASM_DIR / "basic_stub.s", build.ASM_DIR / "tokenizer.s",
                           build.ASM_DIR / "program_sampler.s", build.ASM_DIR / "exp_table.s",
                           build.ASM_DIR / "replies.s", src],
                          tmp_path, "trie", include_dirs=[tmp_path])
    r = vice.run_checked(art.prg, labels=art.labels, done="driver_done", dumps=[("out", "out", len(want))])
    assert list(r.memory("out")) == want


def test_sampler_class_follows_the_rule():
    s = Sampler(0.8, 0)
    assert s.tenths == 8 and s.state == 0xACE1
    logits = [0] * 128
    logits[5] = 5000
    assert s.choose(logits) == 5 and s.state == prng_next(0xACE1)
    assert Sampler(0.0, 9).choose(logits) == 5          # greedy ignores the PRNG
    assert weights(logits, 10)[0] == weights(logits, 10)[2] == 0


# ------------------------------------------------------------ whole program

SYS_PROBE = 828     # `sys 828` typed after q: BASIC is back and runs commands


def run_chat(prg, labels, keys: str, inputs: int, *, emulator="x64", limit_cycles=2_000_000_000,
             quit_to_basic=False, screenshot=None, timeout=150, d64=None):
    """Type `keys` into the program; the screen each time soul_input is reached,
    for the first `inputs` times (the last one ends the run), or, with
    quit_to_basic, until BASIC runs the `sys 828` typed after q (the screen
    then is the last one). With d64, VICE autostarts the disk image instead
    (LOAD"*",8,1 and RUN typed by VICE).

    Returns (list of screens, VICE exit code)."""
    addr = labels["soul_input"]
    cmds = []
    for k in range(1, inputs + 1):
        last = k == inputs and not quit_to_basic
        cmds += [f"break {addr:04x}"]
        if k > 1:   # the monitor reads numbers as hex unless marked + (decimal)
            cmds += [f"ignore +{k} +{k - 1}"]
        cmds += [f'command +{k} "bsave \\"s{k}.bin\\" 0 {SCREEN:04x} {SCREEN_END:04x} ; '
                 + ("quit" if last else f"delete +{k} ; x") + '"']
    if quit_to_basic:
        cmds += [f"break {SYS_PROBE:04x}",
                 f'command +{inputs + 1} "bsave \\"basic.bin\\" 0 {SCREEN:04x} {SCREEN_END:04x} ; quit"']
    outputs = [f"s{k}.bin" for k in range(1, inputs + 1)] + ["basic.bin"]
    session = vice.launch(d64 or prg, cmds, outputs=outputs, keybuf=keys, emulator=emulator,
                          limit_cycles=limit_cycles, screenshot=screenshot, timeout=timeout)
    screens = [session.files[f] for f in outputs if f in session.files]
    return screens, session.exit_code


def keyboard_line(keys: list, tok, config) -> str:
    """What the C64's line editor holds after these PETSCII keys (no RETURN):
    letters fold, unknown keys drop, DEL deletes (and clears `full`), and a
    character that would break the fit_input limits is refused and makes the
    line full: later characters are refused too until DEL."""
    from soulplayer.gen.tokenizer_inc import keyboard_table
    table, line, full = keyboard_table(), "", False
    for k in keys:
        if k == 0x14:
            line, full = line[:-1], False
        elif table[k] and not full:
            longer = line + BASE_CHARS[table[k] - 4]
            if len(longer) <= config.max_input_chars and len(tok.encode(longer)) <= config.max_input_tokens:
                line = longer
            else:
                full = True
    return line


def keybuf_escape(keys: list) -> str:
    """PETSCII key codes -> a VICE -keybuf string (\\xNN for each code)."""
    return "".join(f"\\x{k:02x}" for k in keys)


@pytest.fixture(scope="module")
def soul_pair(original_soul_path, original_tokenizer_path):
    return load_soul(original_soul_path), Tokenizer.load(original_tokenizer_path)


@pytest.fixture(scope="module")
def program(original_soul_path, original_tokenizer_path, tmp_path_factory):
    from soulplayer.tools.commands_program import build_program
    out = tmp_path_factory.mktemp("program")
    return build_program(original_soul_path, original_tokenizer_path, out, "SOUL")


def _check_exchanges(screens, texts, soul, tok, choose_factory=None, name="SOUL", trie=None):
    """The screens after each of `texts`: the C64's reply is `soul chat`'s
    (trie: corpus mode)."""
    choose = choose_factory() if choose_factory else choose_next
    assert len(screens) == len(texts) + 1, "the program did not come back to YOU> after every line"
    for text, screen in zip(texts, screens[1:]):
        shown, reply = last_exchange(screen_text(screen), name)
        assert shown == fit_input(text, tok, soul.config).rstrip(), f"typed {text!r}"
        want = reply_text(soul, tok, text, choose, trie)
        assert reply == want.rstrip(), f"{text!r}: C64 said {reply!r}, Python {want!r}"


PROMPTS = ["hello", "hi", "how are you", "i'm sad", "I LOVE YOU", "What is love?",
           "thank you!!", "you're amazing", "tell me something nice",
           "you you you you you you you you you you you you you",       # too long: refused keys
           "this is a very long line that goes on and on",     # a later key would fit: still refused
           "#1 friend @home, 42% <ok> +=/*", "quick question", "bye"]


def test_chat_matches_soul_chat(program, soul_pair):
    soul, tok = soul_pair
    keys = "".join(p + "\n" for p in PROMPTS)
    screens, _ = run_chat(program.prg, program.labels, keys, len(PROMPTS) + 1)
    _check_exchanges(screens, PROMPTS, soul, tok)


def test_sampling_matches_python(program, soul_pair):
    soul, tok = soul_pair
    texts = ["hello", "i feel down", "hello", "what is love"]
    keys = ("\\x85" + "8\n" + "1234\n" + "".join(t + "\n" for t in texts)
            + "\\x85" + "0\n" + "\n" + "hello\n")               # back to greedy, seed kept
    screens, _ = run_chat(program.prg, program.labels, keys, len(texts) + 4)
    sampler = Sampler(0.8, 1234)
    _check_exchanges(screens[1:len(texts) + 2], texts, soul, tok, lambda: sampler.choose)
    sampled = [last_exchange(screen_text(s), "SOUL")[1] for s in screens[2:len(texts) + 2]]
    assert sampled != [reply_text(soul, tok, t).rstrip() for t in texts]   # it did sample
    assert last_exchange(screen_text(screens[-1]), "SOUL") == ("hello", reply_text(soul, tok, "hello").rstrip())


def test_keyboard_fuzz_then_a_right_reply(program, soul_pair):
    soul, tok = soul_pair
    rng = random.Random(64)
    safe = [k for k in range(1, 256) if k not in (0x0D, 0x85, 0x5C)]
    lines = []
    for n in range(5):
        kind = n % 5
        if kind == 0:       # random keys, any code
            keys = [rng.choice(safe) for _ in range(rng.randint(5, 40))]
        elif kind == 1:     # DEL storm inside typing
            keys = [rng.choice([0x14] * 3 + list(range(0x41, 0x5B)) + [0x20]) for _ in range(60)]
        elif kind == 2:     # far too long, shifted letters
            keys = [rng.choice(list(range(0xC1, 0xDB)) + [0x20, 0x27, 0x21]) for _ in range(70)]
        elif kind == 3:     # empty RETURN
            keys = []
        else:               # DEL on an empty line, then a word
            keys = [0x14] * 5 + [0x48, 0x49]
        lines.append(keys)
    lines.append(list(b"\x48\x45\x4c\x4c\x4f"))          # "hello"
    typed = [keyboard_line(k, tok, soul.config) for k in lines]
    assert "q" not in typed and sum(1 for t in typed if t) >= 4
    assert any(len(k) > soul.config.max_input_chars and len(t) < len(k) for k, t in zip(lines, typed))
    keybuf = "".join(keybuf_escape(k) + "\n" for k in lines)
    screens, _ = run_chat(program.prg, program.labels, keybuf, len(lines) + 1)
    assert len(screens) == len(lines) + 1
    for keys, screen in zip(lines, screens[1:]):
        rows = screen_text(screen)
        line = keyboard_line(keys, tok, soul.config)
        if not line:                                  # empty: a new prompt, no reply
            prompts = [i for i, r in enumerate(rows) if r.startswith("YOU>")]
            assert len(prompts) >= 2 and rows[prompts[-2]].rstrip() == "YOU>"
            assert not any(r.startswith("SOUL>") for r in rows[prompts[-2]:])
            continue
        shown, reply = last_exchange(rows, "SOUL")
        assert shown == line.rstrip()
        assert reply == reply_text(soul, tok, line).rstrip()


def test_q_alone_quits_to_basic(program, soul_pair):
    """q with spaces around it quits (as in soul chat); two q's are a prompt."""
    soul, tok = soul_pair
    screens, _ = run_chat(program.prg, program.labels, "q is not quit\n q q\n  q \nsys828\n", 3,
                          quit_to_basic=True)
    assert len(screens) == 4, "BASIC did not run `sys 828` after q"
    for text, screen in zip(("q is not quit", " q q"), screens[1:3]):
        shown, reply = last_exchange(screen_text(screen), "SOUL")
        assert shown == text and reply == reply_text(soul, tok, text).rstrip()
    basic = screen_text(screens[3])
    assert any(r.rstrip() == "ready." for r in basic), "\n".join(basic)
    assert not any("YOU>" in r for r in basic)       # the chat screen is cleared


def test_d64_holds_the_program(program):
    from soulplayer.tools.disk import read_prg
    assert read_prg(program.prg.parent / "soulplayer.d64") == program.prg.read_bytes()
    for label in ("soul_token", "soul_input", "engine_step", "main"):
        assert label in program.labels
    lbl = program.lbl.read_text().splitlines()
    at_token = [l for l in lbl if l.split()[1] == f"{program.labels['soul_token']:06X}"]
    assert at_token == [f"al {program.labels['soul_token']:06X} .soul_token"]   # VICE shows this name
    assert all(re.match(r"^al [0-9A-F]{6} \.[A-Za-z_]\w*$", l) for l in lbl)


def test_the_disk_loads_and_runs(program, soul_pair):
    soul, tok = soul_pair
    screens, _ = run_chat(program.prg, program.labels, "hi\n", 2, d64=program.prg.parent / "soulplayer.d64")
    assert len(screens) == 2, "the program from the d64 never waited for input"
    rows = screen_text(screens[0])
    assert any(r.startswith("SoulPlayer: SOUL") for r in rows)
    assert last_exchange(screen_text(screens[1]), "SOUL")[1] == reply_text(soul, tok, "hi").rstrip()


def test_shipped_soul_on_the_c64_equals_soul_chat(tmp_path):
    """The disk `make disk` builds: the default soul's C64 replies are chat's, in
    the disk's default reply mode (corpus) and, switched with F1, in free mode,
    greedy and sampled, all in one VICE session."""
    from soulplayer.paths import DEFAULT_SOUL, DEFAULT_TOKENIZER
    from soulplayer.tools.commands_program import build_program
    art = build_program(DEFAULT_SOUL, DEFAULT_TOKENIZER, tmp_path)
    soul, tok = load_soul(DEFAULT_SOUL), Tokenizer.load(DEFAULT_TOKENIZER)
    trie = ReplyTrie.from_texts(read_replies(replies_beside(DEFAULT_SOUL)), tok)
    corpus_greedy = ["hello", "thank you", "tell me a joke", "whats ur name", "oh hi"]
    corpus_sampled = ["how r u", "tell me a joke", "i am so sad"]
    free_greedy = ["tell me a joke", "bye"]
    free_sampled = ["oh hi", "how r u"]
    keys = ("".join(t + "\n" for t in corpus_greedy)
            + "\\x85" + "12\n" + "77\n" + "\n" + "".join(t + "\n" for t in corpus_sampled)   # mode kept
            + "\\x85" + "0\n" + "\n" + "0\n" + "".join(t + "\n" for t in free_greedy)
            + "\\x85" + "8\n" + "\n" + "\n" + "".join(t + "\n" for t in free_sampled))
    n = len(corpus_greedy) + len(corpus_sampled) + len(free_greedy) + len(free_sampled) + 4
    screens, _ = run_chat(art.prg, art.labels, keys, n)
    assert len(screens) == n
    assert "Replies: corpus" in [r.rstrip() for r in screen_text(screens[0])]   # the disk's default
    sampler = Sampler(1.2, 77)                          # the PRNG carries from mode to mode
    a = len(corpus_greedy) + 1
    _check_exchanges(screens[:a], corpus_greedy, soul, tok, trie=trie)
    _check_exchanges(screens[a:a + len(corpus_sampled) + 1], corpus_sampled, soul, tok,
                     lambda: sampler.choose, trie=trie)
    a += len(corpus_sampled) + 1
    assert "Replies: free" in [r.rstrip() for r in screen_text(screens[a])]
    _check_exchanges(screens[a:a + len(free_greedy) + 1], free_greedy, soul, tok)
    a += len(free_greedy) + 1
    sampler.tenths = 8                                  # F1: 0.8, the seed kept
    _check_exchanges(screens[a:], free_sampled, soul, tok, lambda: sampler.choose)


def test_five_digit_seed_matches_python(program, soul_pair):
    """A seed over 65535 typed on the C64 samples as `soul chat --seed` with it does."""
    soul, tok = soul_pair
    texts = ["hello", "how are you"]
    keys = "\\x85" + "15\n" + "70000\n" + "".join(t + "\n" for t in texts)
    screens, _ = run_chat(program.prg, program.labels, keys, len(texts) + 2)
    sampler = Sampler(1.5, 70000)
    _check_exchanges(screens[1:], texts, soul, tok, lambda: sampler.choose)


def test_headless_chat_prints_what_soul_chat_prints(original_soul_path, original_tokenizer_path):
    """`soul chat --engine vice` types the lines into the C64 program in VICE and
    reads each reply off the screen. With this name, `NAME> ` and the reply to
    hello end exactly in column 40: vice_chat checks that the next prompt
    follows on the next row (no blank line)."""
    name, hello = "SOUL OF THE 64", "hello! you're wonderful!"
    assert len(name) + 2 + len(hello) == 40
    stdin = "hello\n\nHow are you?\ntell me something nice\n  q  \nnever read\n"
    args = ["chat", "--soul", original_soul_path, "--tokenizer", original_tokenizer_path, "--name", name]
    ref, c64 = run_soul(*args, stdin=stdin), run_soul(*args, "--engine", "vice", stdin=stdin)
    assert ref.returncode == 0 and c64.returncode == 0, c64.stderr
    assert c64.stdout == ref.stdout and c64.stderr == ref.stderr
    assert ref.stdout.splitlines()[0] == hello and len(ref.stdout.splitlines()) == 4


def test_headless_chat_sampled_in_corpus_mode():
    """`soul chat --engine vice` with the default soul, whose disk carries its
    replies: sampled in corpus mode (F1 then also asks for the mode, which the
    typed keys keep) it prints what the reference prints."""
    stdin = "how r u\ntell me a joke\n"
    args = ["chat", "--temperature", "0.7", "--seed", "5"]
    ref, c64 = run_soul(*args, stdin=stdin), run_soul(*args, "--engine", "vice", stdin=stdin)
    assert ref.returncode == 0 and c64.returncode == 0, c64.stderr
    assert c64.stdout == ref.stdout and len(ref.stdout.splitlines()) == 2


def test_default_dims_at_the_training_context_chat_on_the_c64(tmp_path):
    """`soul train`'s default soul shape (default dims, TRAIN_DEFAULT_CONTEXT,
    te tied to out, the shipped tokenizer and replies on the disk) builds within
    the memory map and its program answers as `soul chat` does: a corpus-mode
    reply, then, switched to free mode with F1, a full-line prompt whose reply
    runs to the end of the context (every KV cache position), in one VICE run."""
    import shutil
    from conftest import random_soul
    from soulplayer.paths import DEFAULT_SOUL, DEFAULT_TOKENIZER
    from soulplayer.config import TRAIN_DEFAULT_CONTEXT
    from soulplayer.chat import prompt_ids, reply_ids
    from soulplayer.soulfile import Tensor, save_soul
    from soulplayer.tools.commands_program import build_program
    config = ModelConfig(context=TRAIN_DEFAULT_CONTEXT)
    tok = Tokenizer.load(DEFAULT_TOKENIZER)
    soul = random_soul(config, seed=1)
    te = soul.tensors["te"]
    soul.tensors["out"] = Tensor(te.values.copy(), te.shift, te.kind)      # tied, as training ties them
    soul.fingerprint = tok.fingerprint()
    save_soul(soul, tmp_path / "soul.bin")
    shutil.copy(DEFAULT_TOKENIZER, tmp_path / "tokenizer.json")
    shutil.copy(replies_beside(DEFAULT_SOUL), replies_beside(tmp_path / "soul.bin"))
    art = build_program(tmp_path / "soul.bin", tmp_path / "tokenizer.json", tmp_path / "build", "SOUL")
    soul = load_soul(tmp_path / "soul.bin")
    trie = ReplyTrie.from_texts(read_replies(replies_beside(tmp_path / "soul.bin")), tok)
    line = "tell me something nice about cats!"
    assert len(prompt_ids(line, tok, config)) + len(reply_ids(soul, tok, line)) == config.context
    keys = "hello\n" + "\\x85" + "0\n" + "\n" + "0\n" + line + "\n"
    screens, _ = run_chat(art.prg, art.labels, keys, 4)
    assert len(screens) == 4
    _check_exchanges(screens[:2], ["hello"], soul, tok, trie=trie)
    assert "Replies: free" in [r.rstrip() for r in screen_text(screens[2])]
    _check_exchanges(screens[2:], [line], soul, tok)


def test_forced_corpus_tokens_skip_logits_as_soul_chat_does(tmp_path):
    """Corpus mode skips the logits no choice reads: a trie node with one token
    takes it without logits or a sampler draw (the step before it runs without
    the output layer), and once one reply is left no step runs at all. A random
    soul (its choices at the branching nodes depend on every KV cache entry)
    and replies built to hit each case: a root with one token, a forced token
    whose replies branch later, one reply left, a reply cut by the full
    context; greedy and sampled, the C64 == soul chat."""
    from conftest import random_soul
    from soulplayer.chat import prompt_ids
    from soulplayer.paths import DEFAULT_TOKENIZER
    from soulplayer.replies import write_replies
    from soulplayer.soulfile import save_soul
    from soulplayer.tools.commands_program import build_program
    tok = Tokenizer.load(DEFAULT_TOKENIZER)
    config = ModelConfig()
    soul = random_soul(config, seed=11)
    # te tied to out, as the trainer ties them: one 4 KB copy, so the load
    # image stays well below $A000 whatever the engine's code size
    soul.tensors["te"].values = soul.tensors["out"].values.copy()
    soul.fingerprint = tok.fingerprint()
    save_soul(soul, tmp_path / "soul.bin")
    replies = ["i am fine, thanks", "i am fine, and you?", "i am here with you now", "i like you a lot, really",
               "i like cats and dogs and birds and fish and frogs"]
    write_replies(replies_beside(tmp_path / "soul.bin"), replies)
    trie = ReplyTrie.from_texts(replies, tok)
    # the trie has each case: a forced root, a forced node above a branch, a choice
    def below(node):                                    # the replies through node
        return sum(1 if c == LEAF else below(c) for _, c in trie.edges(node))
    nodes = [trie.root]
    for node in nodes:
        nodes += [c for _, c in trie.edges(node) if c != LEAF]
    assert len(trie.allowed(trie.root)) == 1
    assert any(len(trie.allowed(n)) == 1 and below(n) > 1 for n in nodes[1:])
    assert any(len(trie.allowed(n)) > 1 for n in nodes)
    long_line = "you you you you you you you you you you you you"
    # every reply is cut after long_line, whichever the soul picks
    assert len(prompt_ids(long_line, tok, config)) + min(len(tok.encode(r)) + 1 for r in replies) > config.context
    art = build_program(tmp_path / "soul.bin", DEFAULT_TOKENIZER, tmp_path / "build", "SOUL", mode=CORPUS)
    greedy = ["hello", "how are you", long_line, "cats"]
    sampled = ["hello", "what do you like", long_line, "hello", "dogs"]
    keys = ("".join(t + "\n" for t in greedy)
            + "\\x85" + "15\n" + "321\n" + "\n" + "".join(t + "\n" for t in sampled))
    screens, _ = run_chat(art.prg, art.labels, keys, len(greedy) + len(sampled) + 2)
    soul = load_soul(tmp_path / "soul.bin")
    _check_exchanges(screens[:len(greedy) + 1], greedy, soul, tok, trie=trie)
    sampler = Sampler(1.5, 321)
    _check_exchanges(screens[len(greedy) + 1:], sampled, soul, tok, lambda: sampler.choose, trie=trie)
