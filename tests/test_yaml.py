"""The safe YAML loader: every probe that once raised a raw exception now gives a located ``SourceError``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from incentives import IncentivesError, SourceError, load_enterprise
from incentives._yaml import MAX_BYTES, parse, read_text
from incentives.cli import main

LAUGHS = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefg", "bcdefgh"))


@pytest.mark.parametrize("text, where, match", [
    (LAUGHS, "f.yaml:1:8", "aliases expand past"),                     # grew past 3 GB
    ("&a [*a]", "f.yaml:1:1", "aliases expand past"),                   # RecursionError
    ("[" * 500 + "]" * 500, "f.yaml:1:101", "nested more than 100"),     # RecursionError
    ("".join("  " * i + "k:\n" for i in range(600)), "f.yaml:100:", "nested more than 100"),
    ("name: a\x01b", "f.yaml:1:8", "U\\+0001 is not allowed"),          # ReaderError, raised outside the try
    ("day: 2025-02-30", "f.yaml:1:6", "'2025-02-30' is not a date that exists"),   # ValueError
    ("day: !!timestamp x", "f.yaml:1:6", "'x' is not a date"),          # AttributeError
    ("n: " + "9" * 4400, "f.yaml:1:4", "cannot be read as int"),        # ValueError: > 4,300 digits
    ("n: !!int x", "f.yaml:1:4", "cannot be read as int"),
    ("n: !!float x", "f.yaml:1:4", "cannot be read as float"),
])
def test_every_loader_failure_is_located(text: str, where: str, match: str) -> None:
    with pytest.raises(SourceError, match=match) as e:
        parse(text, "f.yaml")
    assert str(e.value).startswith(where)


@pytest.mark.parametrize("text, value", [
    ("n: 0777", "0777"), ("n: 0x100", "0x100"), ("n: 1_000", "1_000"), ("n: 0b11", "0b11"),  # text, never octal
    ("n: 10", 10), ("n: -3", -3), ("n: 1e5", 100000.0), ("n: 2.5", 2.5), ("n: 1:1", "1:1"),
])
def test_numbers_are_decimal_notation_only(text: str, value: object) -> None:
    assert parse(text).data == {"n": value}


def test_json_indented_with_tabs_is_read_like_yaml() -> None:
    doc = parse('{\n\t"enterprise": {\n\t\t"name": "甲",\t"n": [1,\t2]\n\t}\n}\n', "f.json")
    assert doc.data == {"enterprise": {"name": "甲", "n": [1, 2]}}
    assert doc.locate(("enterprise", "n")).line == 3


def test_a_tab_in_yaml_that_is_not_json_is_still_an_error() -> None:
    with pytest.raises(SourceError, match="f.yaml:2:"):
        parse("a:\n\tb: 1\n", "f.yaml")


def test_read_text_refuses_devices_fifos_directories_and_huge_files(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not a regular file"):
        read_text("/dev/zero")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(SourceError, match="not a regular file"):  # would block for ever
        read_text(fifo)
    with pytest.raises(SourceError, match="not a regular file"):
        read_text(tmp_path)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (MAX_BYTES + 1))
    with pytest.raises(SourceError, match="more than the"):
        read_text(big)


def test_bad_utf8_is_located_at_its_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes("a: 甲\nb: x\xff\n".encode("utf-8").replace(b"\xc3\xbf", b"\xff"))
    with pytest.raises(SourceError, match=r"f.yaml:2:5: not UTF-8 text: byte 0xff"):
        read_text(path)


def test_crlf_and_bom_are_normalised(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes(b"\xef\xbb\xbfa: 1\r\nb: 2\r\n")
    assert read_text(path) == "a: 1\nb: 2\n"


@pytest.mark.parametrize("text", [LAUGHS, "&a [*a]", "[" * 600 + "]" * 600, "enterprise: {name: 2025-02-30}",
                                  "x: \x07", "records: [{amount: " + "9" * 5000 + "}]"])
def test_cli_exits_2_with_one_line_and_no_traceback(tmp_path: Path, text: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    facts = tmp_path / "facts.yaml"
    facts.write_text(text, encoding="utf-8")
    assert main(["evaluate", str(facts), "--as-of", "2026-06-30"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"incentives: {facts}") and err.count("\n") == 1 and "Traceback" not in err


def test_facts_from_a_dict_name_the_field_path() -> None:
    with pytest.raises(IncentivesError) as e:
        load_enterprise({"enterprise": {"name": "甲", "credit_code": "1", "city": "langfang"}})
    assert str(e.value).startswith("<dict>: enterprise.credit_code: a unified social credit code has 18")


def test_the_recursion_limit_is_not_what_stops_deep_documents() -> None:
    # The depth limit acts long before Python's stack would: the same error at any recursion limit.
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(400)
    try:
        with pytest.raises(SourceError, match="nested more than 100"):
            parse("[" * 300 + "]" * 300)
    finally:
        sys.setrecursionlimit(old)
