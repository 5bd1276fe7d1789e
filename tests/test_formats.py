"""soul.bin v3 and tokenizer.json: round trips, and every malformed file gets one line."""
import json
import struct

import pytest

from soulplayer.config import ModelConfig
from soulplayer.errors import SoulError
from soulplayer.soulfile import MAGIC, load_soul, parse_soul, save_soul, soul_bytes
from soulplayer.tokenizer import Tokenizer, normalize
from conftest import full_range_soul


def test_v3_round_trip_is_byte_identical(original_soul_path, tmp_path):
    data = original_soul_path.read_bytes()
    assert len(data) == 25904
    soul = load_soul(original_soul_path)
    assert soul.config == ModelConfig() and len(soul.tensors) == 24
    assert 5 <= min(t.shift for t in soul.tensors.values()) <= max(t.shift for t in soul.tensors.values()) <= 7
    save_soul(soul, tmp_path / "copy.bin")
    assert (tmp_path / "copy.bin").read_bytes() == data


def test_other_dims_carry_a_header(tmp_path):
    config = ModelConfig(vocab_size=64, embed_dim=16, n_heads=2, head_dim=8, ff_dim=32, n_layers=1, context=12)
    soul = full_range_soul(config, 3)
    save_soul(soul, tmp_path / "small.bin")
    data = (tmp_path / "small.bin").read_bytes()
    assert data.startswith(MAGIC)
    back = load_soul(tmp_path / "small.bin")
    assert back.config == config and soul_bytes(back) == data


def _patch(data, offset, fmt, value):
    data = bytearray(data)
    struct.pack_into(fmt, data, offset, value)
    return bytes(data)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d[:100], "record 0 (te): truncated: data needs 4096 bytes, 94 left"),
    (lambda d: d[:4102 + 3], "record 1 (pe): truncated: header needs 6 bytes, 3 left"),
    (lambda d: d[:-1], "record 23 (out): truncated"),
    (lambda d: d + b"\0\0", "2 bytes after the last record (out): file too long"),
    (lambda d: _patch(d, 0, "<B", 7), "record 0 (te): unknown kind 7"),
    (lambda d: _patch(d, 0, "<B", 1), "record 0 (te): kind 1, expected 0"),
    (lambda d: _patch(d, 1, "<H", 64), "record 0 (te): shape 64x32, expected 128x32"),
    (lambda d: _patch(d, 4102 + 3, "<H", 31), "record 1 (pe): shape 20x31, expected 20x32"),
    (lambda d: b"", "empty file"),
])
def test_bad_soul_files(original_soul_path, tmp_path, mutate, message):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(mutate(original_soul_path.read_bytes()))
    with pytest.raises(SoulError) as e:
        load_soul(bad)
    assert str(e.value).startswith(str(bad)) and message in str(e.value)
    assert "\n" not in str(e.value)


def test_bad_header():
    with pytest.raises(SoulError, match="truncated header"):
        parse_soul(MAGIC + b"\x04\x10", "x.bin")
    with pytest.raises(SoulError, match="unknown header version 9"):
        parse_soul(MAGIC + b"\x09" + bytes(14), "x.bin")
    with pytest.raises(SoulError, match="bad dimensions"):
        parse_soul(MAGIC + b"\x04" + struct.pack("<7H", 128, 32, 3, 8, 64, 2, 20), "x.bin")
    with pytest.raises(SoulError, match="vocab_size 20 below 39"):
        parse_soul(MAGIC + b"\x04" + struct.pack("<7H", 20, 32, 4, 8, 64, 2, 20), "x.bin")
    with pytest.raises(SoulError, match="context 8 leaves no room for input"):
        parse_soul(MAGIC + b"\x04" + struct.pack("<7H", 128, 32, 4, 8, 64, 2, 8), "x.bin")


def test_missing_soul_file(tmp_path):
    with pytest.raises(SoulError, match="cannot read"):
        load_soul(tmp_path / "nope.bin")


def test_tokenizer_encodes_golden_prompts(original_tokenizer_path, teacher_forced):
    tok = Tokenizer.load(original_tokenizer_path)
    assert tok.vocab_size == 128 and len(tok.merges) == 89
    for case in teacher_forced:
        assert [1] + tok.encode(case["prompt"]) + [1] == case["prompt_ids"]
    assert tok.decode(tok.encode("Hello, World! 42 :-)")) == "hello, world!  :-"


def test_tokenizer_round_trip(original_tokenizer_path, tmp_path):
    tok = Tokenizer.load(original_tokenizer_path)
    tok.save(tmp_path / "t.json")
    again = Tokenizer.load(tmp_path / "t.json")
    assert again.vocab == tok.vocab and again.merges == tok.merges


def test_normalize_drops_unknown_characters():
    assert normalize("Héllo\tWORLD 1984!") == "hlloworld !"


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"merges": []}', "missing key 'vocab'"),
    ('{"vocab": {}}', "missing key 'merges'"),
    ('{"vocab": {"<PAD>": 0}, "merges": []}', "'<SEP>' must have id 1"),
])
def test_bad_tokenizer_files(tmp_path, content, message):
    bad = tmp_path / "tok.json"
    bad.write_text(content)
    with pytest.raises(SoulError) as e:
        Tokenizer.load(bad)
    assert str(e.value).startswith(str(bad)) and message in str(e.value)


def test_bad_tokenizer_merges_and_ids(original_tokenizer_path, tmp_path):
    data = json.loads(original_tokenizer_path.read_text())
    for change, message in [
        (lambda d: d["merges"].append(["a"]), r"merges\[89\] is not a pair"),
        (lambda d: d["vocab"].update({"zz": 500}), "without gaps"),
        (lambda d: d.update({"vocab_size": 99}), "vocab_size 99"),
        (lambda d: d["vocab"].update({"X1": 128}), "token 'X1' is not made of the 35 characters"),
        (lambda d: d["vocab"].update({"": 128}), "token '' is not made of"),
    ]:
        broken = json.loads(json.dumps(data))
        change(broken)
        (tmp_path / "t.json").write_text(json.dumps(broken))
        with pytest.raises(SoulError, match=message):
            Tokenizer.load(tmp_path / "t.json")


def test_saved_files_get_the_usual_mode(tmp_path):
    import os
    from soulplayer.fileio import atomic_write_text
    atomic_write_text(tmp_path / "a.txt", "x")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~mask


def test_soul_carries_its_tokenizers_fingerprint(original_soul_path, original_tokenizer_path, tmp_path):
    v3 = original_soul_path.read_bytes()
    soul, tok = load_soul(original_soul_path), Tokenizer.load(original_tokenizer_path)
    assert soul.fingerprint is None                       # v3 knows no tokenizer
    soul.fingerprint = tok.fingerprint()
    save_soul(soul, tmp_path / "v5.bin")
    data = (tmp_path / "v5.bin").read_bytes()
    header = MAGIC + b"\x05" + struct.pack("<7H", 128, 32, 4, 8, 64, 2, 20) + tok.fingerprint()
    assert data == header + v3                            # the project's header, then v3's records
    back = load_soul(tmp_path / "v5.bin")
    assert back.fingerprint == tok.fingerprint() and soul_bytes(back) == data
    # version 4 (dims only) still loads; without a fingerprint default dims are written as v3
    v4 = MAGIC + b"\x04" + struct.pack("<7H", 128, 32, 4, 8, 64, 2, 20) + v3
    assert parse_soul(v4).fingerprint is None and soul_bytes(parse_soul(v4)) == v3
    with pytest.raises(SoulError, match="truncated header: 22 of 27 bytes"):
        parse_soul(header[:22], "x.bin")


def test_fingerprint_is_what_the_tokenizer_does(original_tokenizer_path, tmp_path):
    tok = Tokenizer.load(original_tokenizer_path)
    data = json.loads(original_tokenizer_path.read_text())
    (tmp_path / "t.json").write_text(json.dumps(data, indent=4, sort_keys=True))   # other formatting
    assert Tokenizer.load(tmp_path / "t.json").fingerprint() == tok.fingerprint()
    data["merges"][3], data["merges"][4] = data["merges"][4], data["merges"][3]     # other merge order
    (tmp_path / "t.json").write_text(json.dumps(data))
    assert Tokenizer.load(tmp_path / "t.json").fingerprint() != tok.fingerprint()
