"""The default soul's load image ends below $A000 (BASIC's top of RAM), so
BASIC works after LOAD and after quitting; the build's memory budget agrees
with the PRG file, and a load image past $A000 is one error line."""
import pytest

from soulplayer.errors import SoulError
from soulplayer.tools import build


def test_default_soul_load_image_ends_below_basic_top(tmp_path):
    from soulplayer.paths import DEFAULT_SOUL, DEFAULT_TOKENIZER
    from soulplayer.tools.commands_program import build_program
    art = build_program(DEFAULT_SOUL, DEFAULT_TOKENIZER, tmp_path)
    data = art.prg.read_bytes()
    load = data[0] | data[1] << 8
    end = load + len(data) - 2 - 1                  # the last byte LOAD writes
    assert load == 0x0801 and end < build.BASIC_RAM_TOP, f"load image ${load:04X}-${end:04X}"
    budget = build.memory_budget(art.map)
    main = budget["MAIN"]
    # the load image is exactly what the file holds; the work arrays lie beyond it
    assert main["image_end"] == end and main["used"] > end - main["start"] + 1
    assert {"KVCACHE", "BSS"} <= set(main["segments"]) and "SQUARES" in budget["UNDERIO"]["segments"]
    line = build.format_budget(budget)
    assert line.startswith(f"memory: load image $0801-${end:04X} ({end - 0x0800} bytes, "
                           f"{build.BASIC_RAM_TOP - 1 - end} free below $A000)")
    build.check_load_image(budget)                  # no error


def test_a_load_image_past_basic_top_is_one_line():
    budget = {"MAIN": {"image_end": 0xA123}}
    with pytest.raises(SoulError, match=r"^the program does not fit the C64 memory map: the load image "
                                        r"ends at \$A123, 292 bytes over \$9FFF \(BASIC's top of RAM\)$"):
        build.check_load_image(budget)
