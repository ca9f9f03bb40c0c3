"""A CSV table's bytes in blocks of whole lines, each parsed by polars where it is plain, in a thread of the
table's own, from before the engine loads.

``incentives batch`` spends its first few tenths of a second on one core, importing the engine and loading
the rules; the other core has nothing to do. ``read_ahead`` (called by the command, ``incentives.__main__``,
before it imports anything heavy) starts, for a CSV table named on the command line, a thread that reads and
parses up to ``AHEAD`` blocks; ``columnar.TableReader`` ``claim``s it when it opens the same file, unchanged,
at the same block size, and the thread reads on through the table, ``KEPT`` blocks ahead of the reader,
which keys each block while the next is parsed (a reader with nothing claimed starts such a thread of its
own). Nothing else changes: the blocks are the ones the reader would have read, parsed by the same code. A
table never claimed is let go when the process ends.

This module imports numpy, polars and ``_output`` only, so that it can run while the rest is imported.
"""

from __future__ import annotations

import atexit
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import polars as pl

from incentives._output import file_identity

BLOCK_BYTES = 8 << 20   # bytes of the enterprises table read per chunk (about 100,000 enterprises)
AHEAD = 8               # blocks of each table parsed before the engine is loaded, at most: past the start's idle time
KEPT = 2                # blocks parsed and not taken yet, at most, once the reader takes them
_WINDOW = 1 << 21       # bytes ``plain_lines`` looks at at once: few calls, masks made once per thread
_SCRATCH = threading.local()


# ------------------------------------------------------------------------------------ blocks of lines
class LineBlocks:
    """A file's bytes after its header line, in blocks of whole lines of about ``block_bytes``, read into
    one buffer kept for the whole file (a fresh buffer per block is fresh memory for the kernel to map and
    clear). ``long``: a line longer than a block was met, so blocks no longer fall where a plain scan's did."""

    def __init__(self, path: Path, block_bytes: int) -> None:
        self.block_bytes = block_bytes
        self.file = open(path, "rb")
        self.header = self.file.readline()
        self.long = False
        self._buffer, self._held = bytearray(block_bytes), 0   # held: the start of a line the last block left

    def close(self) -> None:
        self.file.close()

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        buffer, held = self._buffer, self._held
        if len(buffer) < held + self.block_bytes:
            buffer.extend(bytes(held + self.block_bytes - len(buffer)))
        with memoryview(buffer) as view:
            end = held + (self.file.readinto(view[held:held + self.block_bytes]) or 0)
        if end == 0:
            raise StopIteration
        cut, more = buffer.rfind(b"\n", 0, end) + 1, b""
        if cut == 0:
            self.long = True
            cut, more = end, self.file.read()
        with memoryview(buffer) as view:
            block, rest = bytes(view[:cut]), bytes(view[cut:end])
        buffer[:len(rest)] = rest
        self._held = len(rest)
        return block + more if more else block


def _masks() -> tuple[Any, Any, Any]:
    if len(getattr(_SCRATCH, "masks", ((),))[0]) < _WINDOW + 2:
        _SCRATCH.masks = tuple(np.empty(_WINDOW + 2, dtype=bool) for _ in range(3))
    masks: tuple[Any, Any, Any] = _SCRATCH.masks
    return masks


def plain_lines(block: bytes, width: int, ends: list[Any] | None = None) -> int | None:
    """The number of lines of a block that polars reads as the line reader would (no quote, no blank line,
    a carriage return only before a newline, every row of the header's width: polars pads a short row),
    ``None`` for any other. By numpy over boolean masks of the bytes, a window at a time into masks made
    once per thread: no array of positions is built (five times the cost), no fresh memory is touched.
    ``ends``: where given, the positions of the newlines are appended to it, a window at a time."""
    if b'"' in block or block[:1] == b"\n" or block[-1:] == b"\r":
        return None
    returns = b"\r" in block
    if returns and block[:2] == b"\r\n":
        return None   # a blank first line
    octets = np.frombuffer(block, dtype=np.uint8)
    a, b, c = _masks()
    lines = commas = 0
    for start in range(0, octets.size, _WINDOW):
        part = octets[start:start + _WINDOW + 2]   # two bytes past the window: a pair across its end is seen
        n, own = part.size, min(_WINDOW, part.size)
        lf = np.equal(part, 10, out=a[:n])
        lines += int(np.count_nonzero(lf[:own]))
        if ends is not None:
            ends.append(np.flatnonzero(lf[:own]) + start)
        commas += int(np.count_nonzero(np.equal(part[:own], 44, out=b[:own])))
        if np.logical_and(lf[:-1], lf[1:], out=b[:n - 1]).any():
            return None   # a blank line: a newline where a line begins
        if returns:
            cr = np.equal(part, 13, out=c[:n])
            if np.greater(cr[:-1], lf[1:], out=b[:n - 1]).any():
                return None   # a carriage return not before a newline
            if n > 2 and np.logical_and(np.logical_and(lf[:-2], cr[1:-1], out=b[:n - 2]), lf[2:], out=b[:n - 2]).any():
                return None   # a blank line ended by a carriage return and a newline
    lines += not block.endswith(b"\n")
    return lines if commas == lines * (width - 1) else None


# Bytes that begin every character polars' ``strip_chars`` removes (Unicode White_Space) but the carriage
# return, which a plain block holds only before a newline, where polars drops it; looked for one byte at a
# time (memchr: 0.1 ms a block, where a search for two bytes costs 50 times more in CJK text). U+3000 is
# searched whole only where its first byte, which CJK punctuation shares, is there.
_SPACE_BYTES = (b" ", b"\t", b"\x0b", b"\x0c", b"\xc2", b"\xe1", b"\xe2")


def spaced(block: bytes) -> bool:
    """Whether a block may hold a character ``strip_chars`` removes (most of U+0080-U+2FFF counted in)."""
    return any(b in block for b in _SPACE_BYTES) or (b"\xe3" in block and "\u3000".encode() in block)


@dataclass
class Parsed:
    """A block and what polars made of it: ``lines`` where it is plain (``None``: not, or not counted),
    ``frame`` its rows as text columns ``column_1``… where polars read it (``None``: it refused)."""

    block: bytes
    lines: int | None
    frame: pl.DataFrame | None
    spaced: bool


class Filled:
    """Which columns of a CSV table have held a value in the blocks polars read whole (by position; ``None``
    until one was). Most registers leave many record columns empty (a Langfang register fills 16 of 29);
    polars reads a block on the filled ones alone in half the time, and ``_read_filled`` proves the rest
    empty, line by line, from the bytes, or the block is read whole after all."""

    def __init__(self) -> None:
        self.columns: list[int] | None = None

    def narrow(self, width: int) -> list[int] | None:
        """The columns to read a block of ``width`` on, where they are few enough to be worth it."""
        return self.columns if self.columns is not None and len(self.columns) * 4 <= width * 3 else None

    def learn(self, frame: pl.DataFrame) -> None:
        held = {i for i, name in enumerate(frame.columns) if frame.get_column(name).null_count() < frame.height}
        self.columns = sorted(held | set(self.columns or ()))


def parse(block: bytes, width: int, plain: bool = False, filled: Filled | None = None) -> Parsed:
    """``block`` read by polars as ``width`` text columns where it is plain; with ``plain``, it is known
    plain already (the scan found every block so) and its lines are not counted. With ``filled``, the
    columns found empty so far are not read where the block's bytes show them empty still."""
    narrow = filled.narrow(width) if filled is not None else None
    ends: list[Any] | None = None if plain or narrow is None else []
    lines = None if plain else plain_lines(block, width, ends)
    frame = None
    if plain or lines is not None:
        frame = _read_filled(block, width, narrow, _line_ends(block, ends)) if narrow is not None else None
        if frame is None:
            try:
                frame = pl.read_csv(block, has_header=False, schema=_text_schema(width), infer_schema=False)
            except pl.exceptions.PolarsError:
                frame = None  # a ragged row, a byte that is not UTF-8: the line reader says what
            else:
                if filled is not None:
                    filled.learn(frame)
    return Parsed(block, lines, frame, spaced(block))


def _text_schema(width: int) -> dict[str, pl.DataType]:
    return {f"column_{i + 1}": pl.String() for i in range(width)}


def _read_filled(block: bytes, width: int, columns: list[int], ends: Any) -> pl.DataFrame | None:
    """A plain block read on ``columns`` alone, the others null, where that is what reading it whole gives:
    every line's bytes are its cells in ``columns``, ``width - 1`` commas and its line end. A line with
    another cell filled, or with more or fewer commas, is longer or shorter than that (the block's commas
    were counted: a short line comes with a long one), and the block is then read whole (``None``)."""
    try:
        part = pl.read_csv(block, has_header=False, schema=_text_schema(width), infer_schema=False, columns=columns)
    except pl.exceptions.PolarsError:
        return None
    if len(ends) != part.height:
        return None
    octets = np.frombuffer(block, dtype=np.uint8)
    starts = np.concatenate((np.zeros(1, dtype=ends.dtype), ends[:-1] + 1))
    returns = (ends > starts) & (octets[np.maximum(ends - 1, 0)] == 13)   # polars drops a return before the newline
    expected = ends - starts - returns - (width - 1)
    cells = part.select(pl.sum_horizontal(pl.col(c).str.len_bytes() for c in part.columns)).to_series()  # nulls: 0
    if not np.array_equal(cells.to_numpy(), expected):
        return None
    names = list(_text_schema(width))
    return part.with_columns(pl.lit(None, dtype=pl.String).alias(n) for n in names if n not in part.columns).select(names)


def _line_ends(block: bytes, found: list[Any] | None = None) -> Any:
    """Where each line of a block ends: its newline, or the block's end for a last line without one;
    ``found``: the newlines' positions already found, window by window (``plain_lines``)."""
    octets = np.frombuffer(block, dtype=np.uint8)
    if found is None:
        scratch = _masks()[0]
        found = [np.flatnonzero(np.equal(octets[at:at + _WINDOW], 10, out=scratch[:min(_WINDOW, octets.size - at)]))
                 + at for at in range(0, octets.size, _WINDOW)]
    if not block.endswith(b"\n"):
        found = [*found, np.array([len(block)], dtype=np.intp)]
    return np.concatenate(found) if found else np.zeros(0, dtype=np.intp)


# ------------------------------------------------------------------------------------ reading ahead
class ReadAhead:
    """A CSV table's blocks, read and parsed in a thread of their own ahead of the reader, which keys them
    meanwhile (``columnar.Register``): at most ``limit`` parsed blocks not taken yet, ``AHEAD`` while the
    engine loads, ``KEPT`` once the reader takes them (``reading``)."""

    def __init__(self, path: Path, block_bytes: int, limit: int, width: int | None = None) -> None:
        self.path = path
        self.identity = file_identity(path)
        self.lines = LineBlocks(path, block_bytes)
        if width is None:
            header = self.lines.header.removeprefix(b"\xef\xbb\xbf")
            if b'"' in header:   # its width is the reader's to tell
                self.lines.close()
                raise ValueError("a quoted header")
            width = header.count(b",") + 1
        self.width = width
        self.filled = Filled()
        self.plain = False   # every block found plain by the reader's scan: their lines are not counted
        self.limit = limit
        self._held = 0       # blocks parsed and not taken yet
        self._room = threading.Condition()
        self._parsed: queue.Queue[Parsed | BaseException | None] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="incentives-readahead", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while self._room_for_one():
                block = next(self.lines, None)
                if block is None:
                    break
                parsed = parse(block, self.width, self.plain and not self.lines.long, self.filled)
                with self._room:
                    self._held += 1
                self._parsed.put(parsed)
        except BaseException as e:   # handed to the reader, which raises it where it would have met it
            self._parsed.put(e)
        self._parsed.put(None)

    def _room_for_one(self) -> bool:
        with self._room:
            self._room.wait_for(lambda: self._stop.is_set() or self._held < self.limit)
            return not self._stop.is_set()

    def reading(self, plain: bool) -> None:
        """The reader takes the blocks from now on: ``KEPT`` ahead of it, its scan's ``plain`` for the next."""
        with self._room:
            self.plain, self.limit = plain, KEPT
            self._room.notify()

    def parsed(self) -> Iterator[Parsed]:
        """Every block of the table, in order, as they come."""
        while (item := self._parsed.get()) is not None:
            with self._room:
                self._held -= 1
                self._room.notify()
            if isinstance(item, BaseException):
                raise item
            yield item

    def stop(self) -> None:
        with self._room:
            self._stop.set()
            self._room.notify()
        self._thread.join()
        self.lines.close()


_AHEAD: dict[tuple[str, int], ReadAhead] = {}
_LOCK = threading.Lock()


def read_ahead(path: str | Path, block_bytes: int | None = None, count: int = AHEAD) -> None:
    """Start reading the CSV table at ``path``, up to ``count`` blocks until a reader claims it (nothing where
    it cannot be opened or its header holds a quote: the reader will say what is wrong, as ever)."""
    path, block_bytes = Path(path), block_bytes or BLOCK_BYTES
    try:
        if path.suffix.lower() != ".csv" or not path.is_file():
            return
        ahead = ReadAhead(path, block_bytes, count)
    except (OSError, ValueError):
        return
    with _LOCK:
        _AHEAD[(str(path.resolve()), block_bytes)] = ahead


def claim(path: str | Path, block_bytes: int, width: int) -> ReadAhead | None:
    """The blocks read ahead of the table at ``path`` at ``block_bytes``, once, if the file is still the one
    read and its header's width (``width`` cells, as the reader reads it) the one they were parsed at."""
    with _LOCK:
        ahead = _AHEAD.pop((str(Path(path).resolve()), block_bytes), None)
    if ahead is None:
        return None
    try:
        same = file_identity(ahead.path) == ahead.identity and ahead.width == width
    except OSError:
        same = False
    if not same:
        ahead.stop()
        return None
    return ahead


def _let_go() -> None:
    with _LOCK:
        left = list(_AHEAD.values())
        _AHEAD.clear()
    for ahead in left:
        ahead.stop()


atexit.register(_let_go)   # what no reader took is let go before the interpreter ends
