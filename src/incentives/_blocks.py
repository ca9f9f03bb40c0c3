"""Parquet and xlsx tables, and JSONL registers, read as the blocks of text columns the columnar path assesses.

``columnar.TableReader`` reads a CSV table; the readers here give the same ``Block`` frames for the
other formats, so that validation, assessment and writing are shared. A cell becomes the text the
column checks read (a Parquet decimal ``300000.50``, a date ``2025-09-12``, a boolean ``true``, a list
``a;b``, an empty list ``;``), and the row keeps its cells as the per-enterprise path reads them (``_typed``: the Parquet
columns that are not text; ``_cells``: an xlsx row's values), for the rows that leave the frames. A
cell whose text would not say what the per-enterprise path reads from it (a list item holding ``;``, a float or a boolean in a text column, a timestamp with a time zone) marks its row
``_ragged``: that enterprise is assessed on the per-enterprise path, which reads the cell as ever.

Parquet is read a batch of rows at a time (memory bounded by the batch and the file's row groups),
and its cells are converted by polars, never one at a time in Python; xlsx, capped near a million
rows, is read by the existing xlsx reader and its rows are put into frames. A JSONL register is
decoded by polars a block of lines at a time (``JsonlReader``), its records exploded beside it.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import polars as pl

from incentives._tabular import (COLUMN_TYPES, ENTERPRISE_COLUMNS, LIST_SEPARATOR, OPTIONAL_RECORD_COLUMNS,
                                 RECORD_COLUMNS, RECORD_FIELDS, Row, Table, _ABSENT, _cell, _rows, jsonl_row,
                                 parquet_batches, parquet_file)

_S = pl.String
_ROW_BYTES = 80          # about the bytes of a CSV row: a block of rows as large as a CSV block of bytes
_FLOAT_DIGITS = 1e13     # a float up to here prints as the shortest text Python's repr gives, in ≤ 15 digits


def block_rows(block_bytes: int) -> int:
    """Rows per block for a table that is not read by bytes, the same order as a CSV block."""
    return max(1, block_bytes // _ROW_BYTES)


# ------------------------------------------------------------------------------------ Parquet
def _text(name: str, dtype: pl.DataType) -> tuple[pl.Expr, pl.Expr | None]:
    """Column ``name`` of type ``dtype`` as text, and where a cell is not told faithfully by that text
    (``None``: nowhere). ``_cell`` in ``_tabular`` is what the per-enterprise path reads from a cell."""
    col = pl.col(name)
    kind = COLUMN_TYPES.get(name, "text")
    present = col.is_not_null()
    if dtype == pl.String:
        return col, None
    if isinstance(dtype, (pl.Categorical, pl.Enum)) or dtype == pl.Null:
        return col.cast(_S), None
    if dtype.is_integer():
        return col.cast(_S), (present if kind == "list" else None)
    if dtype.is_float():
        if kind in ("money", "rate"):   # Decimal(repr(value)) on the other path: equal where ≤ 15 digits
            return col.cast(_S), present & ~(col.abs() < _FLOAT_DIGITS)
        return col.cast(_S), (None if kind in ("bool", "date") else present)  # those fail their check
    if isinstance(dtype, pl.Decimal):
        return col.cast(_S), (present if kind in ("text", "list") else None)
    if dtype == pl.Boolean:
        return col.cast(_S), (present if kind in ("text", "list") else None)
    if dtype == pl.Date:
        return col.dt.strftime("%Y-%m-%d"), (present if kind == "list" else None)
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is None and kind == "date":
        return col.dt.date().dt.strftime("%Y-%m-%d"), None
    if isinstance(dtype, pl.List) and (dtype.inner == pl.String or dtype.inner == pl.Null) and kind == "list":
        items = col.cast(pl.List(_S))
        joined = items.list.join(LIST_SEPARATOR, ignore_nulls=True)   # a list of none: ";" (known, empty)
        odd = items.list.eval(pl.element().str.contains(LIST_SEPARATOR, literal=True).fill_null(False)).list.any()
        return pl.when(joined.str.strip_chars() == "").then(pl.lit(LIST_SEPARATOR)).otherwise(joined), present & odd
    # anything else: present or not is all the checks may learn; the per-enterprise path reads the value
    return pl.when(present).then(pl.lit("\x00")).otherwise(None), present


def parquet_frame(frame: pl.DataFrame, start: int) -> pl.DataFrame:
    """A batch of a Parquet table as a block: text columns, ``_typed`` (the columns that are not text,
    as read), ``_number`` and ``_line`` from ``start`` + 1, ``_ragged`` where a cell is not told by its text."""
    texts, odd = [], []
    for name, dtype in frame.schema.items():
        text, unfaithful = _text(name, dtype)
        texts.append(text.alias(name))
        if unfaithful is not None:
            odd.append(unfaithful.fill_null(False))
    typed = [n for n, t in frame.schema.items() if t != pl.String]
    n = frame.height
    numbers = pl.int_range(start + 1, start + 1 + n, dtype=pl.Int64)
    return frame.select(
        *texts, _number=numbers, _line=numbers, _ragged=pl.any_horizontal(pl.lit(False), *odd),
        _problem=pl.lit(None, dtype=_S),
        **({"_typed": pl.struct(typed)} if typed else {}))


class ParquetReader:
    """A Parquet table in blocks of rows (batches of its row groups), as ``columnar.TableReader`` gives a CSV."""

    def __init__(self, table: Table, block_bytes: int) -> None:
        self.table = table
        self.file = parquet_file(table.path)
        self.rows = block_rows(block_bytes)

    def close(self) -> None:
        self.file.close()

    def blocks(self) -> Iterator[Any]:
        from incentives.columnar import Block

        start = 0
        for batch in parquet_batches(self.file, self.table.path, batch_size=self.rows, columns=list(self.table.columns)):
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            yield Block(parquet_frame(frame, start))
            start += frame.height


def parquet_codes(table: Table, rows: int) -> Iterator[pl.Series | None]:
    """The credit codes of a Parquet table a batch at a time, as the reader keys them (stripped, upper
    case), or ``None`` where a code is missing or not text (the pass that reads rows one by one decides)."""
    pf = parquet_file(table.path)
    try:
        for batch in parquet_batches(pf, table.path, batch_size=rows, columns=["credit_code"]):
            codes = pl.from_arrow(batch.column(0))
            assert isinstance(codes, pl.Series)
            if codes.dtype != pl.String and not codes.dtype.is_integer():
                yield None
                return
            codes = codes.cast(_S).str.strip_chars().str.to_uppercase()
            if codes.is_null().any() or (codes == "").any():
                yield None
                return
            yield codes
    finally:
        pf.close()


# ------------------------------------------------------------------------------------ xlsx
def xlsx_text(name: str, value: Any) -> tuple[str | None, bool]:
    """An xlsx cell as text, and whether that text tells what the per-enterprise path reads from it."""
    value = _cell(name, value)
    if value is _ABSENT:
        return None, True
    if isinstance(value, list):   # a list of none is ";" (known, empty), as a CSV cell writes it
        return LIST_SEPARATOR.join(value) or LIST_SEPARATOR, not any(LIST_SEPARATOR in v for v in value)
    if isinstance(value, bool):
        return ("true" if value else "false"), True
    if isinstance(value, float):
        return repr(value), True
    if isinstance(value, dt.datetime):  # only in a column that is not a date (a date column had .date())
        return str(value), True
    if isinstance(value, dt.date):
        return value.isoformat(), True
    if isinstance(value, (int, Decimal, str)):
        return str(value), True
    return str(value), COLUMN_TYPES.get(name, "text") not in ("text", "list")


class XlsxReader:
    """A sheet of an xlsx workbook in blocks of rows: the rows the per-enterprise reader yields, as frames."""

    def __init__(self, table: Table, block_bytes: int, book: Any) -> None:
        self.table, self.book = table, book
        self.rows = block_rows(block_bytes)

    def close(self) -> None:
        pass

    def blocks(self) -> Iterator[Any]:
        batch = []
        for row in _rows(self.table, self.book):
            batch.append(row)
            if len(batch) >= self.rows:
                yield self._block(batch)
                batch = []
        if batch:
            yield self._block(batch)

    def _block(self, rows: list[Any]) -> Any:
        from incentives.columnar import Block

        names = list(self.table.columns)
        width = len(names)
        columns: dict[str, list[str | None]] = {n: [] for n in names}
        ragged = []
        for row in rows:
            cells = row.cells
            faithful = len(cells) <= width
            for name, value in zip(names, cells + [None] * (width - len(cells))):
                text, ok = xlsx_text(name, value)
                columns[name].append(text)
                faithful = faithful and ok
            ragged.append(not faithful)
        frame = pl.DataFrame(columns, schema={n: _S for n in names})
        return Block(frame.with_columns(
            _number=pl.Series([r.number for r in rows], dtype=pl.Int64),
            _line=pl.Series([r.line for r in rows], dtype=pl.Int64),
            _ragged=pl.Series(ragged, dtype=pl.Boolean),
            _cells=pl.Series([r.cells for r in rows], dtype=pl.Object),
            _problem=pl.lit(None, dtype=_S)))


# ------------------------------------------------------------------------------------ JSONL
_PROFILE_FIELDS = ENTERPRISE_COLUMNS
_RECORD_KEYS = tuple(dict.fromkeys(("id", "kind", "date", "note", *RECORD_FIELDS)))
_KEY = r'"(?:[^"\\]|\\.)*"\s*:'     # a key of an object (a string value holding `":` counts too: never fewer)
_STRINGS = r'\[\s*(?:"(?:[^"\\]|\\.)*"\s*(?:,\s*"(?:[^"\\]|\\.)*"\s*)*)?\]'


def _jsonl_dtype() -> pl.Struct:
    """Every field of a line as text (a list field as a list of texts), for polars to decode the lines into."""
    def kind(name: str) -> pl.DataType:
        return pl.List(_S) if COLUMN_TYPES.get(name) == "list" else _S()

    return pl.Struct({"enterprise": pl.Struct({n: kind(n) for n in _PROFILE_FIELDS}),
                      "records": pl.List(pl.Struct({n: _S for n in _RECORD_KEYS}))})


def _unfaithful_text() -> str:
    """A line the decoding into texts might read otherwise than ``json.loads`` and the models do: a number
    with a point or an exponent (read as a float), a null (a key given as null is still a key), a control
    character, a surrogate escape, an escape in a key, a non-empty ``yearly``, and a number, boolean, list
    or object where the models want a text (which polars would turn into one)."""
    texts = sorted(n for n in {*_PROFILE_FIELDS, *_RECORD_KEYS} if COLUMN_TYPES.get(n, "text") == "text")
    return "|".join([
        r'[:\[,]\s*-?[0-9]+[.eE]', r'[:\[,]\s*null', r'[\x00-\x1f]', r'\\u[dD][89a-fA-F]',
        r'"(?:[^"\\]|\\[^u])*\\u(?:[^"\\]|\\.)*"\s*:', r'"yearly"\s*:\s*[^{\s]', r'"yearly"\s*:\s*\{\s*[^}\s]',
        rf'"(?:{"|".join(map(re.escape, texts))})"\s*:\s*[^"\s]'])


def _lists_of_texts(text: pl.Expr) -> pl.Expr:
    """Where each list field present is an array of strings (polars would make ``5`` or ``"a"`` a list)."""
    ok = pl.lit(True)
    for name in (n for n in _PROFILE_FIELDS if COLUMN_TYPES.get(n) == "list"):
        given = text.str.contains(rf'"{name}"\s*:')
        ok = ok & (~given | text.str.contains(rf'"{name}"\s*:\s*{_STRINGS}\s*[,}}]'))
    return ok


class JsonlReader:
    """A JSONL register in blocks of whole lines, each decoded by polars: the enterprises as a block of
    text columns (``_json``: the line itself, for the per-enterprise path), and their records exploded
    into a block of their own, keyed by the enterprise's credit code.

    A line the decoding might read otherwise than the per-enterprise path (see ``_unfaithful_text``),
    whose keys are not all known fields in their place (counted: a key given twice, an unknown key), or
    that is not JSON or not UTF-8, is ``_ragged``: the per-enterprise path reads it as ever. A block
    polars cannot decode is halved until the lines it cannot decode are found."""

    def __init__(self, path: Path, block_bytes: int, label: str | None = None) -> None:
        self.path = path
        self.label = label or str(path)   # how a line's problem names the file (<stdin> for a copy of standard input)
        self.block_bytes = block_bytes
        self.dtype = _jsonl_dtype()
        self.odd = _unfaithful_text()

    def close(self) -> None:
        pass

    def row(self, raw: dict[str, Any]) -> Row:
        """A line that left the frames, as the per-enterprise path reads it."""
        text = raw["_json"]
        if text is None:    # not UTF-8: read from the file again (rare)
            with open(self.path, "rb") as f:
                for n, line in enumerate(f, 1):
                    if n == raw["_number"]:
                        break
            found = jsonl_row(self.label, n, line)
        else:
            found = jsonl_row(self.label, raw["_number"], text.encode("utf-8"))
        return found

    def blocks(self) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
        for lines in self.lines():
            yield self._frames(lines)

    def lines(self) -> Iterator[pl.DataFrame]:
        """The file in blocks of its non-blank lines (``_json``, with ``_number``)."""
        number = 0
        with open(self.path, "rb") as f:
            rest = b""
            first = True
            while True:
                data = rest + f.read(self.block_bytes)
                if not data:
                    return
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    data += f.read()
                    cut = len(data)
                block, rest = data[:cut], data[cut:]
                if first and block.startswith(b"\xef\xbb\xbf"):
                    block = block[3:]
                first = False
                lines = self._lines(block, number)
                number += block.count(b"\n") + (not block.endswith(b"\n"))
                yield lines

    def _lines(self, block: bytes, number: int) -> pl.DataFrame:
        """The non-blank lines of a block with their numbers; a line that is not UTF-8 has no text."""
        try:
            texts = pl.Series("_json", [block.decode("utf-8")]).str.split("\n").explode()
        except UnicodeDecodeError:
            texts = pl.Series("_json", [_utf8(line) for line in block.split(b"\n")], dtype=_S)
        if block.endswith(b"\n"):   # every line had its newline: the last piece is empty
            texts = texts.head(-1) + "\n"
        else:
            texts = pl.concat([texts.head(-1) + "\n", texts.tail(1)])
        frame = pl.DataFrame({"_json": texts}).with_columns(
            _number=pl.int_range(number + 1, number + 1 + texts.len(), dtype=pl.Int64))
        bad = frame.filter(pl.col("_json").is_null())["_number"]
        return frame.filter(pl.col("_json").is_null() | (pl.col("_json").str.strip_chars(_ASCII_SPACE) != "")
                            ).with_columns(_utf8=~pl.col("_number").is_in(bad.implode()))

    def _decode(self, texts: pl.Series) -> pl.Series:
        """The lines decoded; a line polars cannot decode is null (halving the block to find it)."""
        try:
            return texts.str.json_decode(self.dtype)
        except pl.exceptions.PolarsError:
            if texts.len() <= 1:
                return pl.Series(texts.name, [None] * texts.len(), dtype=self.dtype)
            half = texts.len() // 2
            return pl.concat([self._decode(texts.head(half)), self._decode(texts.slice(half))])

    def _frames(self, lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        text = pl.col("_json")
        plain = text.str.strip_chars_end("\r\n")
        lines = lines.with_columns(
            _odd=(text.is_null() | plain.str.contains(self.odd) | ~_lists_of_texts(plain)).fill_null(True),
            _keys=plain.str.count_matches(_KEY), _empty_yearly=plain.str.contains(r'"yearly"\s*:\s*\{\s*\}'),
            _regex_key=plain.str.extract(r'"credit_code"\s*:\s*"([^"]{0,40})"', 1).str.strip_chars()
            .str.to_uppercase().fill_null(""))
        decoded = self._decode(lines["_json"].str.strip_chars_end("\r\n").fill_null("{}"))
        lines = lines.with_columns(_d=decoded)
        ent, recs = pl.col("_d").struct.field("enterprise"), pl.col("_d").struct.field("records")
        fields = [ent.struct.field(n) for n in _PROFILE_FIELDS]
        rfields = [pl.element().struct.field(n) for n in _RECORD_KEYS]
        counted = (ent.is_not_null().cast(pl.Int64) + recs.is_not_null().cast(pl.Int64)
                   + pl.col("_empty_yearly").cast(pl.Int64)
                   + pl.sum_horizontal([f.is_not_null().cast(pl.Int64) for f in fields])
                   + recs.list.eval(pl.sum_horizontal([f.is_not_null().cast(pl.Int64) for f in rfields]))
                   .list.sum().fill_null(0))
        blank = pl.any_horizontal(pl.lit(False), *(
            (f.list.eval(pl.element().str.strip_chars() == "").list.any() if COLUMN_TYPES.get(n) == "list"
             else f.str.strip_chars() == "").fill_null(False) for n, f in zip(_PROFILE_FIELDS, fields)))
        rblank = recs.list.eval(pl.any_horizontal(pl.lit(False), *((f.str.strip_chars() == "").fill_null(False)
                                                                  for f in rfields))).list.any().fill_null(False)
        columns = []
        for n, f in zip(_PROFILE_FIELDS, fields):
            if COLUMN_TYPES.get(n) == "list":
                joined = f.list.join(LIST_SEPARATOR, ignore_nulls=True)
                odd = f.list.eval(pl.element().str.contains(LIST_SEPARATOR, literal=True)).list.any().fill_null(False)
                blank = blank | odd
                f = pl.when(f.is_null()).then(None).when(joined.str.strip_chars() == "").then(
                    pl.lit(LIST_SEPARATOR)).otherwise(joined)
            columns.append(f.alias(n))
        code = ent.struct.field("credit_code").str.strip_chars().str.to_uppercase().fill_null("")
        ragged = (pl.col("_odd") | pl.col("_d").is_null() | (pl.col("_keys") != counted) | blank | rblank
                  | (code != pl.col("_regex_key")))
        ents = lines.select(*columns, "_number", _line=pl.col("_number"), _ragged=ragged.fill_null(True),
                            _problem=pl.lit(None, dtype=_S), _json=pl.when(pl.col("_utf8")).then(text))
        exploded = lines.select("_number", ent.struct.field("credit_code").alias("credit_code"), recs.alias("_r")
                                ).explode("_r").filter(pl.col("_r").is_not_null())
        exploded = exploded.with_columns(_i=pl.int_range(pl.len(), dtype=pl.Int64).over("_number"))
        records = exploded.select(
            "credit_code", *(pl.col("_r").struct.field(n).alias("record_id" if n == "id" else n) for n in _RECORD_KEYS),
            _number=pl.col("_i") + 1, _line=pl.col("_number"), _ragged=pl.lit(False), _problem=pl.lit(None, dtype=_S))
        return ents, records


_ASCII_SPACE = " \t\n\r\x0b\x0c"   # what ``bytes.strip`` takes away: a line of other spaces is not blank


_CODE_KEY = r'"credit_code"\s*:\s*"([^"]{0,40})"'   # as ``_tabular._jsonl_key`` finds a line's code


def jsonl_duplicates(path: Path, block_bytes: int) -> dict[str, list[int]] | None:
    """The credit codes on more than one line of a JSONL register, with their line numbers, found as
    ``_tabular._jsonl_key`` finds each line's code but by polars, keeping 8 bytes a line (a hash) and
    checking the codes exactly, in a second pass, only where two hashes meet. ``None`` where a line is
    not UTF-8 or a code is not ASCII text: the pass that reads the lines one by one decides then."""
    reader = JsonlReader(path, block_bytes)

    def codes() -> Iterator[pl.DataFrame | None]:
        for lines in reader.lines():
            found = lines.select("_number", _code=pl.col("_json").str.extract(_CODE_KEY, 1).str.strip_chars()
                                 .str.to_uppercase().fill_null(""))
            if lines["_json"].null_count() or found["_code"].str.contains(r"[^\x00-\x7f]").any():
                yield None
                return
            yield found.filter(pl.col("_code") != "")

    hashes = []
    for found in codes():
        if found is None:
            return None
        hashes.append(found["_code"].hash())
    every = pl.concat(hashes) if hashes else pl.Series([], dtype=pl.UInt64)
    twice = every.filter(every.is_duplicated()).unique().implode()
    if not len(twice[0]):
        return {}
    met = [f.filter(f["_code"].hash().is_in(twice)) for f in codes() if f is not None]
    rows = pl.concat(met).group_by("_code", maintain_order=True).agg(pl.col("_number")).filter(
        pl.col("_number").list.len() > 1)
    return dict(zip(rows["_code"].to_list(), rows["_number"].to_list()))


def _utf8(line: bytes) -> str | None:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return None


def jsonl_tables(path: Path, name: str | None = None) -> tuple[Table, Table]:
    """The columns a JSONL register's lines are decoded into, as the two tables of the other formats
    (``name``: how messages name the file, where not by its path)."""
    return (Table(path, "jsonl", "enterprises", {n: i for i, n in enumerate(ENTERPRISE_COLUMNS, 1)}, name),
            Table(path, "jsonl", "records", {n: i for i, n in enumerate((*RECORD_COLUMNS, *OPTIONAL_RECORD_COLUMNS), 1)},
                  name))
