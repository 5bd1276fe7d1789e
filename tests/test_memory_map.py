"""The default soul's load image ends below $A000 (BASIC's top of RAM), so
BASIC works after LOAD and after quitting; the build's memory budget agrees
with the PRG file."""
from soulplayer.tools import build

BASIC_RAM_TOP = 0xA000


def test_default_soul_load_image_ends_below_basic_top(tmp_path):
    from soulplayer.cli import DEFAULT_SOUL, DEFAULT_TOKENIZER
    from soulplayer.tools.commands_program import build_program
    art = build_program(DEFAULT_SOUL, DEFAULT_TOKENIZER, tmp_path)
    data = art.prg.read_bytes()
    load = data[0] | data[1] << 8
    end = load + len(data) - 2 - 1                  # the last byte LOAD writes
    assert load == 0x0801 and end < BASIC_RAM_TOP, f"load image ${load:04X}-${end:04X}"
    budget = build.memory_budget(art.map)
    main = budget["MAIN"]
    # only the load image is in MAIN, and it is exactly what the file holds
    assert main["last"] == end and main["start"] + main["used"] - 1 == end
    assert main["free"] == BASIC_RAM_TOP - 1 - end
    assert "BSS" not in main["segments"] and "KVCACHE" in budget["HIRAM"]["segments"]
    line = build.format_budget(budget)
    assert line.startswith("memory: MAIN $0801-$9FFF") and f"{main['free']} free" in line
