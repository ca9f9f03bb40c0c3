"""The safe YAML loader: every probe that once raised a raw exception now gives a located ``SourceError``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Callable

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from incentives import IncentivesError, SourceError, _yaml, load_enterprise
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


@pytest.mark.parametrize("text, line, where, match", [
    ('{"a": ,}', None, "f.json:1:7", "not valid JSON: Expecting value"),
    ('{"a":\n ,}', 4, "f.json:4:2", "not valid JSON: Expecting value"),      # a line of JSON Lines keeps its number
    ("[" * 100_000 + "]" * 100_000, 3, "f.json:3:", "not valid JSON: nested too deep"),   # RecursionError
    ('{"n": ' + "9" * 5000 + "}", None, "f.json:", "not valid JSON: Exceeds the limit"),  # ValueError: > 4,300 digits
])
def test_every_json_failure_is_located(text: str, line: int | None, where: str, match: str) -> None:
    with pytest.raises(SourceError, match=match) as e:
        _yaml.parse_json(text, "f.json", line)
    assert str(e.value).startswith(where)
    assert _yaml.parse_json('{"n": [1, "二"]}', "f.json") == {"n": [1, "二"]}
    assert _yaml.parse_json('\ufeff{"n": 1}', "f.json") == {"n": 1}        # a byte-order mark, as decode drops it


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


def test_utf16_says_so(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    for encoding in ("utf-16", "utf-16-be"):
        data = "a: 甲\n".encode(encoding)
        path.write_bytes(data if data[:2] in (b"\xff\xfe", b"\xfe\xff") else b"\xfe\xff" + data)
        with pytest.raises(SourceError, match=r"f.yaml:1:1: UTF-16 text \(it starts with a UTF-16 byte-order mark\): "
                                              "save it as UTF-8"):
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


def test_a_date_that_does_not_exist_names_its_field_path_as_other_bad_values_do(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A plain ``2026-02-30`` fails as the YAML is read, before the models see it: it is located at its value
    and named by its field path (``records.2.date``), as a value the models refuse is."""
    facts = tmp_path / "facts.yaml"
    facts.write_text("enterprise:\n  name: 甲\n  credit_code: 91131026MA0FHN2P7X\n  city: langfang\n"
                     "  founded: 2026-02-29\nrecords:\n  - {id: a, kind: project, date: 2026-01-05}\n"
                     "  - {id: b, kind: project, date: 2026-01-06}\n"
                     "  - {id: c, kind: project, date: 2026-02-30}\n", encoding="utf-8")
    assert main(["evaluate", str(facts), "--as-of", "2026-06-30"]) == 2
    assert capsys.readouterr().err == (f"incentives: {facts}:5:12: enterprise.founded: '2026-02-29' is not a date "
                                       "that exists (write YYYY-MM-DD)\n")
    facts.write_text(facts.read_text("utf-8").replace("2026-02-29", "2024-02-29"), encoding="utf-8")
    assert main(["explain", str(facts), "--rule", "lf.digital_pilot", "--as-of", "2026-06-30"]) == 2
    assert capsys.readouterr().err == (f"incentives: {facts}:9:34: records.2.date: '2026-02-30' is not a date that "
                                       "exists (write YYYY-MM-DD)\n")
    with pytest.raises(SourceError) as e:
        parse("- [x, {day: 2025-02-30}]", "f.yaml")
    assert (str(e.value), e.value.field) == (
        "f.yaml:1:13: 0.1.day: '2025-02-30' is not a date that exists (write YYYY-MM-DD)", "0.1.day")


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


# libyaml reads the text where PyYAML has it (ten times faster); PyYAML's Python parser is the reference.
# Whichever reads it, a text gives the same Document (data, positions, texts) or the same located error.

def _outcome(read: Callable[[str], _yaml.Document], text: str) -> tuple[object, ...]:
    try:
        doc = read(text)
    except SourceError as e:
        return ("error", str(e))
    return ("document", repr(doc.data), doc.positions, doc.texts)


def _both(text: str) -> tuple[tuple[object, ...], tuple[object, ...]]:
    return (_outcome(lambda t: parse(t, "f.yaml"), text),
            _outcome(lambda t: _yaml._pure(_yaml._json_tabs(t), "f.yaml"), text))


PIECES = ["a", "k", "甲乙", "1", "-1", "1.5", "1e5", "0777", "1:1", "2024-02-29", "2025-02-30", "~", "null", "true",
          ": ", ":", "- ", "-", "? ", "?", ", ", "[", "]", "{", "}", "'", '"', "#c", " #", "&a ", "*a", "<<: ", "!!str ",
          "!x ", "!!int ", "!!python/object ", "\n", "\n  ", "\n    ", " ", "\t", "|", ">", "|-\n  ", ">#", "---\n", "...\n",
          "%YAML 1.1\n", "\\", "\\x41", "\\U0001F600", "\\U00110000", "\ufeff", "\x85", "\u2028", "\r", "\x07", "\x00", "9" * 5000]
SCALARS = st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(), st.none(), st.dates(),
                    st.sampled_from(PIECES), st.text(alphabet="ab 甲:#-?'\"\n[]{},&*!|>", max_size=8))
DATA = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.one_of(st.text(max_size=5), st.integers()), inner, max_size=4), max_leaves=25)


@st.composite
def yaml_texts(draw: st.DrawFn) -> str:
    """Text of every kind: YAML punctuation strung together, or data written as YAML or JSON in any style, perhaps cut."""
    if draw(st.booleans()):
        return "".join(draw(st.lists(st.sampled_from(PIECES), max_size=25)))
    data = draw(DATA)
    if draw(st.integers(0, 5)) == 0:
        text = json.dumps(data, default=str, ensure_ascii=draw(st.booleans()), indent=draw(st.sampled_from([None, 1, "\t"])))
    else:
        text = yaml.safe_dump(data, allow_unicode=draw(st.booleans()), default_flow_style=draw(st.sampled_from([None, False, True])),
                              width=draw(st.sampled_from([20, 80, 1000])), indent=draw(st.sampled_from([2, 4])),
                              default_style=draw(st.sampled_from([None, "'", '"', "|"])))
    for _ in range(draw(st.integers(0, 2))):  # where the two parsers are known to part ways, most often
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from([*UNALIKE, *PIECES])) + text[at + draw(st.integers(0, 2)):]
    return text.rstrip("\n") if draw(st.booleans()) else text


UNALIKE = ["\t", " \t", "\ufeff", "\x85", "\u2028", "\u2029", "?", "? ", " ?", "|#", ">#", "|-#", "{? }", "[a, ? ]", "{a: }", "[b?]"]


@settings(max_examples=500)
@given(text=yaml_texts())
def test_libyaml_and_the_python_parser_give_the_same_document_or_error(text: str) -> None:
    fast, reference = _both(text)
    assert fast == reference


@pytest.mark.parametrize("text", ["!!int '-10000000': !\x85n: ull 'null'\n", "a: !\u2028b\n", "a: !\u2029b\n",
                                  "- !\n", "a: ! #c\n", "#c- !!null 'null'\n- ! #!int '0'\n"])
def test_a_line_break_beyond_ascii_or_an_empty_node_after_a_tag_reads_as_pyyaml_reads_it(text: str) -> None:
    fast, reference = _both(text)
    assert fast == reference


HOSTILE = [LAUGHS, "&a [*a]", "[" * 100_000, "[" * 100_000 + "]" * 100_000, "{a: " * 100_000, "[a: " * 100_000,
           "- " * 100_000 + "x", "? " * 100_000, "a:\n  - " + "[{b: " * 50_000, "".join(" " * i + "k:\n" for i in range(300)),
           "a: 1\na: 2\n", "a: !!python/object:os.system x\n", "a: !!set {x}\n", "day: 2025-02-30\n", "n: " + "9" * 4400 + "\n",
           "x: \x07\n", "a: \"\\U00110000\"\n", "a: \"\\U99999999\"\n", "a: &x {p: 1}\nb:\n  <<: *x\n  p: 2\n",
           "a: &x {p: 1}\nb:\n  <<: [*x, *x]\n", "a: [1, 2\n", "a: 'x\n", "{a: 1}}\n", "a:\n\tb: 1\n", "\ufeffa: 1\n", "a: |#\n  x\n"]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_texts_fail_alike_in_both_parsers_and_nothing_crashes(text: str) -> None:
    for ending in ("", "\n"):
        fast, reference = _both(text + ending)
        assert fast == reference
    if _yaml._CLoader is not None:  # libyaml alone, before any fallback: a YAML error or a located one, no crash
        try:
            _yaml._document(_yaml._CLoader, text + "\n", "f.yaml")
        except (yaml.YAMLError, SourceError):
            pass


@pytest.mark.parametrize("text", [
    "n: 0777\n", "n: 1:1\n", "n: 1e5\n", "n: 2.5E-3\n", "n: .inf\n", "n: 0x10\n", "n: 1_000\n", "d: 2024-02-29\n",
    "d: 2024-02-29 10:00:00\n", "b: yes\n", "s: '0777'\n", "m:\n  <<: {a: 1}\n  b: 2\n", "t: |\n  x\n  y\n", "e:\n", "[]\n", "",
])
def test_ordinary_values_are_the_same_from_both_parsers(text: str) -> None:
    fast, reference = _both(text)
    assert fast == reference and fast[0] == "document"


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML built without libyaml: the Python parser reads everything")
@pytest.mark.parametrize("text", ["a: x\ty\n", "a:\n\ufeff  b\n", "a: [1,\n\ufeff2]\n", "a: >#c\n  x\n", "? ", "- ?",
                                  "{? }\n", "{a: }\n", "[a: ]\n", "[b?]\n", "{a: b?c}\n"])
def test_where_libyaml_reads_otherwise_the_python_parser_decides(text: str) -> None:
    class Unguarded(_yaml._CLoader):  # type: ignore[valid-type,misc]
        compose_node = _yaml._Limits.compose_node   # without the check of plain values inside [...] and {...}

    alone = _outcome(lambda t: _yaml._document(Unguarded, t, "f.yaml"), text)
    fast, reference = _both(text)
    assert alone != reference and fast == reference


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML built without libyaml: the Python parser reads everything")
def test_the_shipped_files_are_read_by_libyaml_into_the_same_documents() -> None:
    root = Path(__file__).resolve().parent.parent
    files = [*root.glob("rules/**/*.yaml"), *root.glob("src/incentives/*.yaml"), *root.glob("examples/**/*.yaml")]
    assert len(files) > 10
    for path in files:
        text = read_text(path)
        assert _yaml._libyaml_reads_alike(text), path
        fast = _outcome(lambda t: _yaml._document(_yaml._CLoader, t, str(path)), text)  # type: ignore[arg-type]
        assert fast == _outcome(lambda t: _yaml._pure(t, str(path)), text), path
