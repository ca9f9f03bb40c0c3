"""A batch's first blocks read while the engine loads (``incentives.readahead``): the blocks a reader
would have read, handed over only for the file it opens, unchanged, and let go when never claimed."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import incentives.__main__ as command
import incentives.columnar as columnar
from incentives import _output, readahead
from incentives.batch import run_batch
from incentives.synth import synthesize, write_register

from conftest import shared_rulebook

AS_OF = dt.date(2026, 6, 30)
BLOCK = 4096
OUTPUTS = ("awards.csv", "errors.csv", "summary.csv")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def nothing_left_read_ahead() -> Any:
    yield
    readahead._let_go()


def register(folder: Path, n: int = 300, seed: int = 5) -> tuple[Path, Path]:
    items = list(synthesize("all", n, seed=seed, rulebook=shared_rulebook(), as_of=AS_OF))
    enterprises, records = write_register(items, folder, "csv")
    return enterprises, records


def count_blocks(table: Path) -> int:
    lines = readahead.LineBlocks(table, BLOCK)
    try:
        return sum(1 for _ in lines)
    finally:
        lines.close()


def outputs(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in OUTPUTS}


def batch(enterprises: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(columnar, "BLOCK_BYTES", BLOCK)
    return run_batch(enterprises, out, shared_rulebook(), AS_OF, path="columnar")


@pytest.mark.parametrize("bent", ["plain", "quoted", "blank line", "long line", "trailing commas"])
def test_a_register_read_ahead_gives_what_it_gives_read_as_it_goes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   bent: str) -> None:
    """Every block the thread read ahead is taken, in order, and the reader reads on from where it stopped:
    the same awards, errors and summary, whether a block is plain or goes to the line reader."""
    enterprises, records = register(tmp_path / "register")
    head, _, body = enterprises.read_bytes().partition(b"\r\n")
    lines = body.split(b"\r\n")
    if bent == "quoted":        # a quoted name in the first block, and one in the fourth
        for i in (3, 60):
            code, name, rest = lines[i].split(b",", 2)
            lines[i] = b",".join([code, b'"' + name + b'"', rest])
    elif bent == "blank line":  # a blank line in the second block
        lines.insert(40, b"")
    elif bent == "long line":   # a line longer than a block in the second block
        lines[35] = lines[35].replace(b",", b"," + "长".encode() * 2000, 1)
    elif bent == "trailing commas":
        head, lines = head + b",", [line + b"," if line else line for line in lines]
        records.write_bytes(records.read_bytes().replace(b"\r\n", b",\r\n"))
    enterprises.write_bytes(head + b"\r\n" + b"\r\n".join(lines))
    read = batch(enterprises, tmp_path / "read", monkeypatch)
    parsed: list[str] = []
    parse = readahead.parse
    monkeypatch.setattr(readahead, "parse", lambda *a: parsed.append(threading.current_thread().name) or parse(*a))
    readahead.read_ahead(enterprises, BLOCK, count=3)
    readahead.read_ahead(records, BLOCK, count=3)
    ahead = batch(enterprises, tmp_path / "ahead", monkeypatch)
    assert readahead._AHEAD == {}   # both claimed
    assert outputs(tmp_path / "ahead") == outputs(tmp_path / "read")
    assert ahead.rows == read.rows and ahead.assessed == read.assessed == 300
    # every block parsed once, by the thread that began while the engine loaded
    blocks = [count_blocks(table) for table in (enterprises, records)]
    assert parsed.count("incentives-readahead") == len(parsed) == sum(blocks)


def test_a_table_changed_after_it_was_read_ahead_is_read_anew(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    enterprises, records = register(tmp_path / "register", seed=5)
    readahead.read_ahead(enterprises, BLOCK, count=3)
    readahead.read_ahead(records, BLOCK, count=3)
    time.sleep(0.05)   # the thread has read its blocks of the old tables
    other, other_records = register(tmp_path / "other", seed=6)
    os.replace(other, enterprises)
    os.replace(other_records, records)
    ahead = batch(enterprises, tmp_path / "ahead", monkeypatch)
    assert readahead._AHEAD == {}
    read = batch(enterprises, tmp_path / "read", monkeypatch)
    assert outputs(tmp_path / "ahead") == outputs(tmp_path / "read") and ahead.rows == read.rows


def test_blocks_read_at_another_size_are_not_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    enterprises, records = register(tmp_path / "register")
    readahead.read_ahead(enterprises, BLOCK * 2, count=3)
    assert readahead.claim(enterprises, BLOCK, 7) is None
    ahead = readahead.claim(enterprises, BLOCK * 2, 7)
    assert ahead is not None and readahead.claim(enterprises, BLOCK * 2, 7) is None   # once
    ahead.stop()


def test_a_table_whose_header_holds_a_quote_is_left_to_the_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The width of a quoted header is the reader's to tell: nothing is read ahead, no thread is started,
    and the batch reads the register as it goes."""
    enterprises, records = register(tmp_path / "register", n=60)
    head, _, body = enterprises.read_bytes().partition(b"\r\n")
    enterprises.write_bytes(head.replace(b"name", b'"name"') + b"\r\n" + body)
    readahead.read_ahead(enterprises, BLOCK, count=3)
    assert readahead._AHEAD == {}
    assert not [t for t in threading.enumerate() if t.name == "incentives-readahead" and t.is_alive()]
    assert batch(enterprises, tmp_path / "out", monkeypatch).assessed == 60


@given(st.lists(st.sampled_from([b"a", b",", "名".encode(), b"\r\n", b"\n", b"x" * 50]), max_size=300).map(b"".join),
       st.sampled_from([1, 7, 64, 4096]))
@settings(max_examples=60, deadline=None)
def test_blocks_of_lines_are_the_file_after_its_header_cut_after_a_newline(tmp_path_factory: pytest.TempPathFactory,
                                                                           body: bytes, size: int) -> None:
    path = tmp_path_factory.mktemp("lines") / "t.csv"
    path.write_bytes(b"credit_code,name\r\n" + body)
    lines = readahead.LineBlocks(path, size)
    try:
        blocks = list(lines)
    finally:
        lines.close()
    assert b"".join(blocks) == body and all(blocks)
    assert all(b.endswith(b"\n") for b in blocks[:-1])   # no line cut across two blocks


@pytest.mark.parametrize("argv, ahead, hashed", [
    (["batch", "r/enterprises.csv", "-o", "out"], ["r/enterprises.csv", "r/records.csv"], None),
    (["batch", "-o", "out", "r/enterprises.csv", "--records", "x.csv"], ["r/enterprises.csv", "x.csv"], None),
    (["batch", "--records=x.csv", "r/enterprises.csv"], ["r/enterprises.csv", "x.csv"], None),
    (["batch", "r/firms.csv", "--records", "r/recs.csv"], ["r/firms.csv", "r/recs.csv"], None),
    (["batch", "r/firms.csv"], ["r/firms.csv"], None),   # no records beside it: the batch says so
    (["batch", "r/enterprises.csv", "--path", "rows"], [], ["r/enterprises.csv", "r/records.csv"]),
    (["batch", "r/enterprises.csv", "--path=rows"], [], ["r/enterprises.csv", "r/records.csv"]),
    (["batch", "r/enterprises.parquet"], [], ["r/enterprises.parquet", "r/records.parquet"]),
    (["batch", "r/enterprises.jsonl"], [], ["r/enterprises.jsonl"]),   # its records are in it
    (["batch", "-", "--records", "r/records.csv"], [], []),
])
def test_the_command_line_names_the_tables_to_hash_and_read_ahead(monkeypatch: pytest.MonkeyPatch, argv: list[str],
                                                                  ahead: list[str], hashed: list[str] | None) -> None:
    asked: list[str] = []
    digested: list[str] = []
    monkeypatch.setattr(readahead, "read_ahead", lambda path, *a, **k: asked.append(str(path)))
    monkeypatch.setattr(_output, "digest_early", lambda paths: digested.extend(str(p) for p in paths))
    command.begin_batch(argv)
    assert asked == [str(Path(p)) for p in ahead]
    assert digested == [str(Path(p)) for p in (ahead if hashed is None else hashed)]


def test_another_command_hashes_and_reads_nothing_early(monkeypatch: pytest.MonkeyPatch) -> None:
    import incentives.cli

    monkeypatch.setattr(command, "begin_batch", lambda argv: pytest.fail(f"began {argv}"))
    monkeypatch.setattr(incentives.cli, "main", lambda argv: 0)
    monkeypatch.setattr(sys, "argv", ["incentives", "evaluate", "r/enterprises.csv"])
    assert command.main() == 0


def test_an_input_hashed_early_is_taken_only_unchanged(tmp_path: Path) -> None:
    """The digest the early thread found is the file's, as ``file_digest`` computes it; a file changed since
    (here: another size) is hashed again, and a path that is no file is let be."""
    import hashlib

    table = tmp_path / "enterprises.csv"
    table.write_bytes(b"credit_code\n" * 5000)
    _output.digest_early([table, tmp_path / "missing.csv", tmp_path])
    assert list(_output._EARLY) == [str(table.resolve())]
    assert _output.file_digest(table) == "sha256:" + hashlib.sha256(table.read_bytes()).hexdigest()
    assert not _output._EARLY   # taken once
    _output.digest_early([table])
    _output._EARLY[str(table.resolve())].done.wait()
    table.write_bytes(b"credit_code\nchanged\n")
    assert _output.file_digest(table) == "sha256:" + hashlib.sha256(b"credit_code\nchanged\n").hexdigest()


def test_the_command_reads_ahead_and_writes_what_the_library_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``incentives batch`` (here ``python -m incentives``) from another folder, against ``run_batch``."""
    enterprises, _ = register(tmp_path / "register", n=2000)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    code = ("import atexit, sys, incentives.readahead as r; r.BLOCK_BYTES = 4096; claim = r.claim; taken = []; "
            "r.claim = lambda *a: taken.append(claim(*a)) or taken[-1]; "
            "atexit.register(lambda: print('taken', sum(t is not None for t in taken), file=sys.stderr)); "
            "import incentives.columnar as c; c.BLOCK_BYTES = 4096; "
            "import runpy; sys.argv[0] = 'incentives'; runpy.run_module('incentives', run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", code, "batch", str(enterprises), "-o", str(tmp_path / "command"),
                           "--as-of", AS_OF.isoformat()], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "taken 2" in done.stderr   # both tables' first blocks were read ahead and taken
    batch(enterprises, tmp_path / "library", monkeypatch)
    assert outputs(tmp_path / "command") == outputs(tmp_path / "library")


@pytest.mark.parametrize("args, code", [(["--path", "rows"], 0), (["--no-such-option"], 2)])
def test_a_command_that_never_takes_what_was_read_ahead_ends_at_once(tmp_path: Path, args: list[str],
                                                                      code: int) -> None:
    enterprises, _ = register(tmp_path / "register", n=50)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-m", "incentives", "batch", str(enterprises), "-o", str(tmp_path / "out"),
                           "--as-of", AS_OF.isoformat(), *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr


# ------------------------------------------------------------------------------------ filled columns
CELL = st.sampled_from(["", "", "", "a", "长春", " b ", "12.5", "\t"])


@st.composite
def csv_block(draw: Any) -> tuple[bytes, int]:
    """Lines of ``width`` cells, mostly empty; some lines with a comma too many or too few (a long and a short
    line together keep the block's count of commas), carriage returns or not, the last newline or not."""
    width = draw(st.integers(min_value=1, max_value=6))
    rows = draw(st.lists(st.lists(CELL, min_size=width, max_size=width), min_size=1, max_size=8))
    if width > 1 and len(rows) > 1 and draw(st.booleans()):
        # polars refuses a block whose first line is not of the schema's width, whatever it reads: the
        # pair is put after it mostly, where only the whole read sees the line too long
        first = draw(st.sampled_from([0, 1, 1, 1])) if len(rows) > 2 else 0
        long, short = draw(st.permutations(range(first, len(rows))))[:2]
        rows[long] = rows[long] + [draw(CELL)]                  # a cell too many, empty or not
        rows[short] = rows[short][:-1]                         # and one too few
    end = draw(st.sampled_from(["\n", "\r\n"]))
    text = end.join(",".join(row) for row in rows) + draw(st.sampled_from([end, ""]))
    return text.encode(), width


@given(csv_block(), st.sets(st.integers(min_value=0, max_value=5)), st.booleans(),
       st.sampled_from([3, 7, readahead._WINDOW]))
@example((b"a,,,,\r\ne,,,,,\r\nf,,,\r\n", 5), {0, 2}, False, readahead._WINDOW)
@settings(max_examples=400, deadline=None)
def test_a_block_read_on_its_filled_columns_is_the_block_read_whole(made: tuple[bytes, int], learnt: set[int],
                                                                     plain: bool, window: int) -> None:
    """Whichever columns earlier blocks filled: where a cell outside them holds a value, or a line has a
    comma too many (with an empty cell after it) beside one with a comma too few, the block is read whole,
    and polars refuses it as before; otherwise the frame is the one read whole, the other columns null."""
    block, width = made
    whole = readahead.parse(block, width)
    if plain and whole.lines is None:
        return   # ``plain`` is claimed only of a block the scan found plain
    filled = readahead.Filled()
    filled.columns = sorted(c for c in learnt if c < width)
    default, readahead._WINDOW = readahead._WINDOW, window
    try:
        narrow = readahead.parse(block, width, plain, filled)
    finally:
        readahead._WINDOW = default
    assert narrow.lines == (None if plain else whole.lines)
    assert (narrow.frame is None) == (whole.frame is None)
    if whole.frame is not None:
        assert narrow.frame is not None and narrow.frame.equals(whole.frame)
        assert narrow.frame.columns == whole.frame.columns


def test_a_column_filled_late_is_read_and_learnt() -> None:
    filled = readahead.Filled()
    first = readahead.parse(b"a,,,,\r\nb,,,,\r\n", 5, filled=filled)
    assert filled.columns == [0] and first.frame is not None
    later = readahead.parse(b"c,,,,\r\nd,,x,,\r\n", 5, filled=filled)    # column 2 holds a value now
    assert later.frame is not None and later.frame["column_3"].to_list() == [None, "x"]
    assert filled.columns == [0, 2]
    ragged = readahead.parse(b"e,,,,,\r\nf,,,\r\n", 5, filled=filled)    # a comma too many, one too few
    assert ragged.lines == 2 and ragged.frame is None                    # the line reader says which
