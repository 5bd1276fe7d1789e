"""The VICE harness itself: run, break at a label, dump RAM, count cycles, errors."""
import pytest

from soulplayer.errors import SoulError
from soulplayer.tools import build, vice

DRIVER = r"""
; fill `buf` with 0..255, count down 5 bytes into `small`, then `done`
        .export main, done, buf, small, loop_top
        .segment "CODE"
main:   ldx     #0
loop_top:
        txa
        sta     buf,x
        inx
        bne     loop_top
        ldx     #4
:       txa
        sta     small,x
        dex
        bpl     :-
done:   lda     #0
        sta     $d7ff           ; debug cartridge: VICE exits (only reached after the dumps)
        jmp     done
        .segment "BSS"
buf:    .res    256
small:  .res    5
"""

HANG = r"""
        .export main, done
        .segment "CODE"
main:   jmp     main
done:   rts
"""


def _build(tmp_path, text, name="t"):
    src = tmp_path / f"{name}.s"
    src.write_text(text)
    return build.build_prg([build.ASM_DIR / "basic_stub.s", src], tmp_path, name)


def test_dump_and_cycles(tmp_path):
    art = _build(tmp_path, DRIVER)
    r = vice.run_checked(art.prg, labels=art.labels, done="done", start="main",
                         dumps=[("buf", "buf", 256), ("small", "small", 5)],
                         profile=["loop_top"])
    assert r.memory("buf") == bytes(range(256))
    assert r.memory("small") == bytes(range(5))
    assert r.reached
    # 256 iterations of ~13 cycles + the small loop; x64 has no badline DMA
    assert 256 * 11 < r.cycles < 256 * 20
    assert len(r.events) == 256
    assert all(b.cycles > a.cycles for a, b in zip(r.events, r.events[1:]))


def test_cycles_x64sc(tmp_path):
    """The cycle-exact emulator the benchmark uses reads the stopwatch the same way."""
    art = _build(tmp_path, DRIVER)
    r = vice.run_checked(art.prg, labels=art.labels, start="main", emulator="x64sc",
                         dumps=[("buf", "buf", 256)])
    assert r.memory("buf") == bytes(range(256))
    assert 256 * 11 < r.cycles < 256 * 20


def test_hang_guard(tmp_path):
    art = _build(tmp_path, HANG)
    r = vice.run(art.prg, labels=art.labels, done="done", limit_cycles=200_000)
    assert not r.reached and r.exit_code == 1
    with pytest.raises(SoulError, match="did not reach 'done'"):
        vice.run_checked(art.prg, labels=art.labels, done="done", limit_cycles=200_000)


def test_missing_vice_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setattr(vice.shutil, "which", lambda name: None)
    with pytest.raises(SoulError, match="not found on PATH"):
        vice.check_tools("x64")
    monkeypatch.undo()
    monkeypatch.setattr(vice, "ROM_DIR", tmp_path)
    with pytest.raises(SoulError, match="ROMs missing"):
        vice.check_tools("x64")


def test_unknown_label(tmp_path):
    art = _build(tmp_path, DRIVER)
    with pytest.raises(SoulError, match="nolabel"):
        vice.run(art.prg, labels=art.labels, done="nolabel")


def test_link_overflow_message(tmp_path):
    big = DRIVER.replace('.segment "BSS"', '.segment "RODATA"\n        .res 60000\n        .segment "BSS"')
    with pytest.raises(SoulError, match=r"bytes over memory area MAIN \(\$0801-\$CFFF, the load image"):
        _build(tmp_path, big)


def test_many_stops_keep_their_commands(tmp_path):
    """Checkpoint numbers past 9 (the monitor reads numbers as hex unless marked)."""
    art = _build(tmp_path, DRIVER)
    dumps = [(f"b{i}", art.labels["buf"] + 16 * i, 3) for i in range(12)]
    r = vice.run_checked(art.prg, labels=art.labels, done="done", dumps=dumps)
    for i in range(12):
        assert r.memory(f"b{i}") == bytes(range(16 * i, 16 * i + 3))


def test_ambiguous_label_is_refused(tmp_path):
    lbl = tmp_path / "x.lbl"
    lbl.write_text("al 000810 .done\nal 000820 .done\nal 000830 .main\nal 000830 .main\n")
    labels = vice.parse_labels(lbl)
    assert labels["main"] == 0x830
    with pytest.raises(SoulError, match="'done' names two addresses"):
        vice.run(_build(tmp_path, DRIVER).prg, labels=labels, done="done")


def test_done_on_a_later_hit(tmp_path):
    """done_hit=N stops the N-th time the done label runs (the dump shows the loop state)."""
    art = _build(tmp_path, DRIVER)
    r = vice.run_checked(art.prg, labels=art.labels, done="loop_top", done_hit=5, dumps=[("buf", "buf", 8)])
    assert r.memory("buf")[:4] == bytes(range(4))          # four passes stored 0..3
    with pytest.raises(SoulError, match="done_hit > 1"):
        vice.run(art.prg, labels=art.labels, done="loop_top", done_hit=2, profile=["loop_top"])
