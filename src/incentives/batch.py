"""Populations: assess a register of enterprises from CSV, JSONL, Parquet or xlsx, chunk by chunk.

A register is a table of enterprises and a table of records joined by ``credit_code`` (the layout is
in docs/batch.md). Every row becomes the real ``Enterprise`` model and its terms are checked against
the vocabulary; a bad row never stops the run: it goes to ``errors.csv`` with its file, row and
reason. Memory stays flat in the number of enterprises when the records are grouped in the
enterprises' order (as ``incentives synth`` writes them); otherwise the records are indexed in
memory and the summary says so. Money stays ``Decimal`` from the cell to the totals.

>>> summary = run_batch("register/enterprises.csv", "out", "rules", dt.date(2026, 6, 30))  # doctest: +SKIP
>>> summary.total.amount                                                                   # doctest: +SKIP
Decimal('123456789.01')
"""

from __future__ import annotations

import argparse
import collections
import copy
import dataclasses
import csv
import datetime as dt
import json
import multiprocessing
import re
import shutil
import sys
import time
import typing
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

from pydantic import ValidationError

from incentives import _yaml
from incentives.engine import AwardRow, assess, award_rows
from incentives.errors import IncentivesError, Location, SourceError
from incentives.facts import RATE_FIELDS, RECORD_MODELS, Enterprise, Profile, facts_error
from incentives.outcomes import Award
from incentives.reform import Reform, ReformReport, apply_reform, load_reform
from incentives.rulebook import Rulebook, load_rulebook

ZERO = Decimal("0.00")
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet", ".xlsx": "xlsx"}

# ------------------------------------------------------------------------------------ the layout
ENTERPRISE_COLUMNS = ("credit_code", "name", "city", "county", "clusters", "industries", "size")
RECORD_FIELDS = tuple(dict.fromkeys(  # every field of every record kind, in the order facts.py declares them
    name for model in RECORD_MODELS.values() for name in model.model_fields
    if name not in ("id", "kind", "date", "note")))
RECORD_COLUMNS = ("credit_code", "record_id", "kind", "date", *RECORD_FIELDS)
OPTIONAL_RECORD_COLUMNS = ("note",)
REQUIRED_COLUMNS = {"enterprises": ("credit_code", "name", "city"),
                    "records": ("credit_code", "record_id", "kind", "date")}
LIST_SEPARATOR = ";"
ERROR_COLUMNS = ("source", "row", "record_row", "credit_code", "field", "reason")
XLSX_MAX_ROWS = 1_048_575  # data rows under a header


def _type_of(annotation: Any) -> str:
    """text | bool | money | date, from a model field's annotation (``X | None`` unwrapped)."""
    for arg in typing.get_args(annotation) or (annotation,):
        if arg is type(None):
            continue
        if typing.get_args(arg):
            return _type_of(arg)
        for py_type, name in ((bool, "bool"), (Decimal, "money"), (dt.date, "date")):
            if arg is py_type:
                return name
    return "text"


COLUMN_TYPES: dict[str, str] = {"clusters": "list", "industries": "list", "date": "date"} | {
    name: ("rate" if f"{kind}.{name}" in RATE_FIELDS else _type_of(info.annotation))
    for kind, model in RECORD_MODELS.items() for name, info in model.model_fields.items() if name in RECORD_FIELDS}


def payer_columns(rulebook: Rulebook) -> tuple[str, ...]:
    """The payers a rulebook may name (its vocabulary's ``payer`` terms), sorted."""
    return tuple(sorted(rulebook.vocabulary.terms.get("payer", {})))


def award_columns(payers: Iterable[str]) -> tuple[str, ...]:
    return ("credit_code", "name", "city", "county", "rule_id", "title", "status", "amount", "amount_max",
            *(f"payer_{p}" for p in payers), "payers_unspecified", "record_id", "document_number", "clause", "quote")


def records_path_for(enterprises: Path) -> Path:
    """The records table beside an enterprises table: ``enterprises`` in the name becomes ``records``."""
    if "enterprises" not in enterprises.name:
        raise SourceError("cannot tell where the records are: name the input '…enterprises…' or pass --records",
                          location=Location(str(enterprises)))
    return enterprises.with_name(enterprises.name.replace("enterprises", "records"))


def file_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise SourceError(f"unknown table format {path.suffix!r}: use one of {', '.join(FORMATS)}",
                          location=Location(str(path)))
    return fmt


def require(module: str) -> Any:
    """Import an optional dependency, or explain how to install it."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError as e:
        package = module.split(".")[0]
        raise IncentivesError(f"this needs {package}: pip install 'incentives[batch]' "
                              f"(or pip install {package})") from e


# ------------------------------------------------------------------------------------ reading
_ABSENT = object()


@dataclass(slots=True)
class _Row:
    """A row as read: its cells stay raw until a worker parses them, so the reading process stays light."""

    number: int                 # 1-based data row (header excluded)
    line: int                   # where to look: CSV/JSONL line, xlsx sheet row, Parquet data row
    cells: Any                  # a table row's cells (list), or a JSONL line's object (dict)
    code: str = ""              # the credit code, normalised, for the join
    problem: str | None = None


@dataclass(frozen=True)
class _Table:
    path: Path
    fmt: str
    sheet: str                  # enterprises | records
    columns: dict[str, int]     # column name → 1-based position

    @property
    def label(self) -> str:
        return f"{self.path}[{self.sheet}]" if self.fmt == "xlsx" else str(self.path)


def _cell(name: str, value: Any) -> Any:
    """A cell as the facts models read it, or ``_ABSENT``: an empty cell is an absent fact, never zero."""
    if value is None:
        return _ABSENT
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return _ABSENT
    kind = COLUMN_TYPES.get(name, "text")
    if kind == "list":
        parts = value.split(LIST_SEPARATOR) if isinstance(value, str) else value
        return [str(p).strip() for p in parts if p is not None and str(p).strip()]
    if kind == "date" and isinstance(value, dt.datetime):
        return value.date()
    if kind == "text" and not isinstance(value, str):
        return str(int(value) if isinstance(value, float) and value.is_integer() else value)
    return value


def _header(table_kind: str, names: list[str], label: str) -> dict[str, int]:
    allowed = ENTERPRISE_COLUMNS if table_kind == "enterprises" else RECORD_COLUMNS + OPTIONAL_RECORD_COLUMNS
    columns: dict[str, int] = {}
    for i, raw in enumerate(names, 1):
        name = str(raw or "").strip().lstrip("\ufeff")
        if name not in allowed:
            raise SourceError(f"unknown column {name!r} in the {table_kind} table; columns: {', '.join(allowed)}",
                              location=Location(label, 1, i))
        if name in columns:
            raise SourceError(f"column {name!r} appears twice", location=Location(label, 1, i))
        columns[name] = i
    missing = [c for c in REQUIRED_COLUMNS[table_kind] if c not in columns]
    if missing:
        raise SourceError(f"the {table_kind} table has no column {', '.join(map(repr, missing))}",
                          location=Location(label, 1))
    return columns


def _open_table(path: Path, fmt: str, sheet: str, book: Any = None) -> _Table:
    """Read the header only, so a table that cannot be read fails before the run starts.

    ``book`` is the open workbook of an xlsx file: opening one reads every sheet, so it is opened once.
    """
    label = f"{path}[{sheet}]" if fmt == "xlsx" else str(path)
    if not path.is_file():
        raise SourceError("no such file", location=Location(label))
    if fmt == "csv":
        with _text(path) as f:
            names = next(csv.reader(f), None)
    elif fmt == "parquet":
        names = require("pyarrow.parquet").ParquetFile(path).schema_arrow.names
    else:
        if sheet not in book.sheetnames:
            raise SourceError(f"the workbook has no sheet {sheet!r} (sheets: {', '.join(book.sheetnames)})",
                              location=Location(str(path)))
        names = list(next(book[sheet].iter_rows(max_row=1, values_only=True), ()))
        while names and names[-1] is None:
            names.pop()
    if not names:
        raise SourceError("the table is empty: the first row must name the columns", location=Location(label, 1))
    return _Table(path, fmt, sheet, _header(sheet, list(names), label))


def _text(path: Path) -> IO[str]:
    try:
        return open(path, newline="", encoding="utf-8-sig")
    except OSError as e:
        raise SourceError(f"cannot read file: {e}", location=Location(str(path))) from e


def _rows(table: _Table, book: Any = None) -> Iterator[_Row]:
    """The data rows of a table, blank rows skipped (but counted)."""
    names = list(table.columns)
    code = table.columns["credit_code"] - 1
    try:
        if table.fmt == "csv":
            with _text(table.path) as f:
                reader = csv.reader(f)
                next(reader)
                line = reader.line_num + 1
                for n, raw in enumerate(reader, 1):
                    if raw:
                        yield _Row(n, line, raw, _key(raw[code]) if len(raw) > code else "")
                    line = reader.line_num + 1
        elif table.fmt == "parquet":
            pf = require("pyarrow.parquet").ParquetFile(table.path)
            n = 0
            for batch in pf.iter_batches(batch_size=4096, columns=names):
                columns = batch.to_pydict()
                for values in zip(*(columns[c] for c in names)):
                    n += 1
                    yield _Row(n, n, list(values), _key(values[code]))
        else:
            for n, raw in enumerate(book[table.sheet].iter_rows(min_row=2, values_only=True), 1):
                cells = list(raw)
                while len(cells) > len(names) and cells[-1] is None:
                    cells.pop()
                if any(c is not None and c != "" for c in cells):
                    yield _Row(n, n + 1, cells, _key(cells[code]) if len(cells) > code else "")
    except UnicodeDecodeError as e:
        raise SourceError(f"not UTF-8 text: {e}", location=Location(table.label)) from e
    except csv.Error as e:
        raise SourceError(f"not valid CSV: {e}", location=Location(table.label)) from e


def _parse(table: _Table, row: _Row) -> tuple[dict[str, Any], str | None]:
    """A row's non-empty cells by column, and what is wrong with the row's shape, if anything."""
    values = {}
    for name, value in zip(table.columns, row.cells):
        if value is None or value == "":  # most cells of a records table: skip them cheaply
            continue
        value = _cell(name, value)
        if value is not _ABSENT:
            values[name] = value
    width = len(table.columns)
    problem = None if len(row.cells) <= width else \
        f"{Location(table.label, row.line)}: row has {len(row.cells)} values, the header names {width} columns"
    return values, problem


def _jsonl_rows(path: Path) -> Iterator[_Row]:
    """One enterprise per line in the facts format; numbers with a point become exact Decimals."""
    with _text(path) as f:
        for n, text in enumerate(f, 1):
            if not text.strip():
                continue
            try:
                data = json.loads(text, parse_float=Decimal)
            except json.JSONDecodeError as e:
                yield _Row(n, n, {}, problem=f"{path}:{n}:{e.colno}: not valid JSON: {e.msg}")
                continue
            if not isinstance(data, dict):
                yield _Row(n, n, {}, problem=f"{path}:{n}: a line holds one object "
                                             "{\"enterprise\": …, \"records\": […]}")
                continue
            yield _Row(n, n, data)


def _key(value: Any) -> str:
    return str(value).strip().upper() if value is not None else ""


def _codes(table: _Table, book: Any = None) -> Iterator[str]:
    """The credit-code column alone, read as cheaply as the format allows."""
    column = table.columns["credit_code"] - 1
    if table.fmt == "csv":
        with _text(table.path) as f:
            reader = csv.reader(f)
            next(reader)
            yield from (_key(row[column]) if len(row) > column else "" for row in reader if row)
    elif table.fmt == "parquet":
        pf = require("pyarrow.parquet").ParquetFile(table.path)
        for batch in pf.iter_batches(batch_size=65536, columns=["credit_code"]):
            yield from map(_key, batch.column(0).to_pylist())
    else:
        yield from (r.code for r in _rows(table, book))


def _grouped_in_order(enterprises: Iterator[str], records: Iterator[str]) -> bool:
    """Whether each credit code's records are contiguous and in the enterprises' order (O(1) memory)."""
    previous = None
    for code in records:
        if code != previous:
            if code not in enterprises:  # advances the enterprises up to the first with this code
                return False
            previous = code
    return True


class _Source:
    """The enterprises of a register with their records, and how the two tables were joined."""

    def __init__(self, enterprises: Path, records: Path | None) -> None:
        self.fmt = file_format(enterprises)
        self.path = enterprises
        self.orphans: list[_Row] = []
        self.books: dict[Path, Any] = {}  # open xlsx workbooks
        if self.fmt == "jsonl":
            if records is not None:
                raise SourceError("a JSONL register holds its records inline: --records is for csv, parquet and xlsx",
                                  location=Location(str(records)))
            if not enterprises.is_file():
                raise SourceError("no such file", location=Location(str(enterprises)))
            self.table, self.records, self.join = None, None, "inline"
            return
        rec_path = records or (enterprises if self.fmt == "xlsx" else records_path_for(enterprises))
        self.table = _open_table(enterprises, self.fmt, "enterprises", self._book(enterprises))
        self.records = _open_table(rec_path, file_format(rec_path), "records", self._book(rec_path))
        ordered = _grouped_in_order(_codes(self.table, self._book(enterprises)),
                                    _codes(self.records, self._book(rec_path)))
        self.join = "merge" if ordered else "index"

    def _book(self, path: Path) -> Any:
        if path.suffix.lower() != ".xlsx" or not path.is_file():
            return None
        if path not in self.books:
            self.books[path] = require("openpyxl").load_workbook(path, read_only=True, data_only=True)
        return self.books[path]

    def close(self) -> None:
        for book in self.books.values():
            book.close()

    @property
    def join_note(self) -> str:
        return {"inline": "records inline, one enterprise per line",
                "merge": "records grouped in the enterprises' order: joined by a streaming merge",
                "index": "records not grouped in the enterprises' order: indexed in memory by credit code "
                         "(memory grows with the records table)"}[self.join]

    def orphan_error(self, orphan: _Row) -> tuple[Any, ...]:
        """The errors.csv row of a record whose credit code no enterprise has."""
        assert self.table is not None and self.records is not None
        column = self.records.columns["credit_code"]
        code = orphan.cells[column - 1] if len(orphan.cells) >= column else None
        reason = f"{Location(self.records.label, orphan.line, self.records.columns['credit_code'])}: " \
                 f"credit_code: no enterprise with credit code {code!r} in {self.table.label}"
        return (self.records.label, None, orphan.number, code, "credit_code", reason)

    def items(self) -> Iterator[tuple[_Row, list[_Row]]]:
        if self.table is None:
            yield from ((row, []) for row in _jsonl_rows(self.path))
            return
        assert self.records is not None
        ents, recs = self._book(self.table.path), self._book(self.records.path)
        if self.join == "merge":
            records = _rows(self.records, recs)
            pending = next(records, None)
            for row in _rows(self.table, ents):
                mine = []
                while pending is not None and pending.code == row.code:
                    mine.append(pending)
                    pending = next(records, None)
                yield row, mine
            self.orphans = [] if pending is None else [pending, *records]  # none when the check held
            return
        index: dict[str, list[_Row]] = {}
        for record in _rows(self.records, recs):
            index.setdefault(record.code, []).append(record)
        for row in _rows(self.table, ents):
            yield row, index.pop(row.code, [])
        self.orphans = sorted((r for rows in index.values() for r in rows), key=lambda r: r.number)


# ------------------------------------------------------------------------------------ assessing
@dataclass
class Total:
    """Awards counted and money summed, exactly: ``amount`` determined, ``amount_max`` with ceilings."""

    awards: int = 0
    amount: Decimal = ZERO
    amount_max: Decimal = ZERO

    def add(self, other: Total) -> None:
        self.awards += other.awards
        self.amount += other.amount
        self.amount_max += other.amount_max

    def as_dict(self) -> dict[str, Any]:
        return {"awards": self.awards, "amount": str(self.amount), "amount_max": str(self.amount_max)}


DIMENSIONS = ("status", "city", "county", "payer", "rule")
UNKNOWN_COUNTY = "(unknown)"


@dataclass
class _Tally:
    counts: collections.Counter[str] = field(default_factory=collections.Counter)
    total: Total = field(default_factory=Total)
    dims: dict[str, dict[str, Total]] = field(default_factory=lambda: {d: {} for d in DIMENSIONS})
    no_rules: collections.Counter[str] = field(default_factory=collections.Counter)

    def _add(self, dim: str, key: str, amount: Decimal, amount_max: Decimal) -> None:
        bucket = self.dims[dim].get(key)
        if bucket is None:
            bucket = self.dims[dim][key] = Total()
        bucket.awards += 1
        bucket.amount += amount
        bucket.amount_max += amount_max

    def award(self, profile: Profile, award: Award | AwardRow) -> None:
        fixed = award.status == "fixed"
        amount = award.amount if fixed and award.amount is not None else ZERO
        top = award.amount_max if award.amount_max is not None else ZERO
        self.total.add(Total(1, amount, top))
        self._add("status", award.status, amount, top)
        self._add("city", profile.city, amount, top)
        self._add("county", f"{profile.city}/{profile.county or UNKNOWN_COUNTY}", amount, top)
        self._add("rule", award.rule_id, amount, top)
        if award.payers_unspecified:
            self._add("payer", "unspecified", amount, top)
        for payer, share in award.payers.items():
            self._add("payer", payer, share if fixed else ZERO, share)

    def merge(self, other: _Tally) -> None:
        self.counts.update(other.counts)
        self.no_rules.update(other.no_rules)
        self.total.add(other.total)
        for dim, buckets in other.dims.items():
            mine = self.dims[dim]
            for key, bucket in buckets.items():
                mine.setdefault(key, Total()).add(bucket)


@dataclass
class _ChunkResult:
    awards: list[tuple[Any, ...]]
    errors: list[tuple[Any, ...]]
    tally: _Tally
    reform: ReformReport | None = None


@dataclass
class _RowDocument(_yaml.Document):
    """Locates a validation problem in the row (or record row) it came from."""

    row: _Row | None = None
    records: list[_Row] = field(default_factory=list)
    tables: tuple[_Table | None, _Table | None] = (None, None)
    record: int | None = None   # the record a problem was located in

    def locate(self, key: _yaml.Key) -> Location:
        line = self.row.line if self.row else None
        ents, recs = self.tables
        if len(key) >= 2 and key[0] == "records" and isinstance(key[1], int):
            self.record = key[1]
            if recs is not None and key[1] < len(self.records):
                name = str(key[2]) if len(key) > 2 else "kind"
                return Location(recs.label, self.records[key[1]].line, recs.columns.get(_COLUMN_OF.get(name, name)))
        if ents is None:
            return Location(self.path, line)
        name = str(key[1]) if len(key) > 1 and key[0] == "enterprise" else ""
        return Location(ents.label, line, ents.columns.get(name))


_COLUMN_OF = {"id": "record_id"}
_FIELD_OF = {"record_id": "id"}


class _Assessor:
    """Validates and assesses chunks of rows, in the parent or in a worker.

    A worker gets the assessor without its rulebook and loads the rulebook itself, once (see
    ``_init_worker``): compiled rules hold functions that do not pickle.
    """

    def __init__(self, rulebook: Rulebook, as_of: dt.date, tables: tuple[_Table | None, _Table | None],
                 path: str, as_text: bool) -> None:
        self.book = rulebook
        self.as_of = as_of
        self.tables = tables
        self.path = path
        self.payers = payer_columns(rulebook)
        self.as_text = as_text  # award rows as CSV text, made here so that workers share the work
        self.reform: Reform | None = None
        self.reform_book: Rulebook | None = None

    def run(self, chunk: list[tuple[_Row, list[_Row]]]) -> _ChunkResult:
        result = _ChunkResult([], [], _Tally(), ReformReport() if self.reform_book else None)
        counts = result.tally.counts
        for row, records in chunk:
            counts["enterprises_read"] += 1
            counts["records_read"] += len(records) if self.tables[0] is not None else _jsonl_records(row.cells)
            enterprise = self._enterprise(row, records, result.errors)
            if enterprise is None:
                counts["bad_enterprises"] += 1
                continue
            try:
                if self.reform_book is None:
                    awards: list[Any] = award_rows(enterprise, self.book, self.as_of, terms_checked=True)
                else:
                    assessment = assess(enterprise, self.book, self.as_of, explain=False)
                    awards = list(assessment.awards)
            except IncentivesError as e:
                result.errors.append(self._error(self.tables[0].label if self.tables[0] else self.path, row, None,
                                                 enterprise.profile.credit_code, e.field, f"{e} (assessment failed)"))
                counts["bad_enterprises"] += 1
                continue
            counts["assessed"] += 1
            profile = enterprise.profile
            if profile.city not in self.book.files:
                result.tally.no_rules[profile.city] += 1
            if awards:
                counts["with_awards"] += 1
            for award in awards:
                result.awards.append(self._award_row(profile, award))
                result.tally.award(profile, award)
            if result.reform is not None and self.reform_book is not None:
                result.reform.add(assessment, assess(enterprise, self.reform_book, self.as_of, explain=False))
        counts["errors"] += len(result.errors)
        result.errors = [tuple(map(_text_value, e)) for e in result.errors]
        return result

    def _enterprise(self, row: _Row, records: list[_Row], errors: list[tuple[Any, ...]]) -> Enterprise | None:
        """The row as a validated ``Enterprise`` with its terms checked, or ``None`` after noting why not."""
        ents, recs = self.tables
        if ents is None or recs is None:  # JSONL: the line is the facts
            data, code = row.cells, _jsonl_code(row.cells)
            if row.problem:
                errors.append(self._error(self.path, row, None, code, None, row.problem))
                return None
        else:
            values, problem = _parse(ents, row)
            code = values.get("credit_code")
            if problem:
                errors.append(self._error(ents.label, row, None, code, None, problem))
                return None
            facts = []
            for rec in records:
                fields, problem = _parse(recs, rec)
                if problem:
                    errors.append(self._error(recs.label, row, rec, code, None, problem + _WHOLE))
                    return None
                facts.append(_record(fields))
            data = {"enterprise": values, "records": facts}
        doc = _RowDocument(data=data, path=self.path, row=row, records=records, tables=self.tables)
        try:
            enterprise = Enterprise.model_validate(data)
            error: IncentivesError | None = None
        except ValidationError as e:
            error = facts_error(e, doc)
        if error is None:
            try:
                enterprise.check_terms(self.book.vocabulary, doc)
                return enterprise
            except IncentivesError as e:
                error = e
        record: _Row | None = None
        if doc.record is not None:  # a record's row, or for JSONL its place in the line's list
            record = records[doc.record] if doc.record < len(records) else _Row(doc.record + 1, row.line, {})
        reason = str(error) + (_WHOLE if record is not None else "")
        errors.append(self._error(error.location.path or self.path, row, record, code, error.field, reason))
        return None

    @staticmethod
    def _error(source: str, row: _Row, record: _Row | None, code: Any, field_name: str | None,
               reason: str) -> tuple[Any, ...]:
        return (source, row.number, record.number if record else None, code, field_name, reason)

    def _award_row(self, p: Profile, a: Award | AwardRow) -> tuple[Any, ...]:
        rule = self.book.by_id[a.rule_id]
        row = (p.credit_code, p.name, p.city, p.county, a.rule_id, rule.rule.title.zh, a.status, a.amount,
               a.amount_max, *(a.payers.get(payer) for payer in self.payers), a.payers_unspecified, a.record_id,
               rule.document.number, rule.rule.cite.clause, rule.rule.cite.quote)
        return tuple(map(_text_value, row)) if self.as_text else row


_WHOLE = " (a record of this enterprise is bad, so the whole enterprise is not assessed)"


def _record(values: dict[str, Any]) -> dict[str, Any]:
    return {_FIELD_OF.get(k, k): v for k, v in values.items() if k != "credit_code"}


def _jsonl_records(data: dict[str, Any]) -> int:
    records = data.get("records")
    return len(records) if isinstance(records, list) else 0


def _jsonl_code(data: dict[str, Any]) -> Any:
    profile = data.get("enterprise")
    return profile.get("credit_code") if isinstance(profile, dict) else None


_worker: _Assessor | IncentivesError | None = None


def _init_worker(assessor: _Assessor, rules: str, digest: str) -> None:
    """Load the rulebook once per worker. A failure is raised by the first chunk, not here: a Pool
    whose initializer raises restarts the worker for ever."""
    global _worker
    try:
        book = load_rulebook(rules)
    except IncentivesError as e:
        _worker = e
        return
    if book.hash != digest:
        _worker = IncentivesError("these rules are not those the batch started with: they changed on disk, or "
                                  "the rulebook was not loaded from here (pass its path for workers > 1)",
                                  location=Location(rules))
        return
    assessor.book = book
    if assessor.reform is not None:
        assessor.reform_book = apply_reform(book, assessor.reform)
    _worker = assessor


def _work(chunk: list[tuple[_Row, list[_Row]]]) -> _ChunkResult:
    if not isinstance(_worker, _Assessor):
        raise _worker or IncentivesError("worker not initialised")
    return _worker.run(chunk)


def _rules_path(rulebook: Rulebook | str | Path) -> str:
    """Where a worker loads the rulebook from: the path given, or the directory of its vocabulary."""
    return str(Path(rulebook.vocabulary.path).parent if isinstance(rulebook, Rulebook) else rulebook)


def _chunks(items: Iterator[tuple[_Row, list[_Row]]], size: int) -> Iterator[list[tuple[_Row, list[_Row]]]]:
    chunk: list[tuple[_Row, list[_Row]]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _results(assessor: _Assessor, chunks: Iterator[list[tuple[_Row, list[_Row]]]], workers: int,
             rules: str) -> Iterator[_ChunkResult]:
    """Chunk results in input order; at most two chunks per worker are in flight, so memory stays flat."""
    if workers <= 1:
        yield from map(assessor.run, chunks)
        return
    bare = copy.copy(assessor)
    bare.book = None  # type: ignore[assignment]  # each worker loads its own
    bare.reform_book = None
    with multiprocessing.get_context().Pool(workers, initializer=_init_worker,
                                            initargs=(bare, rules, assessor.book.hash)) as pool:
        pending: collections.deque[Any] = collections.deque()
        for chunk in chunks:
            pending.append(pool.apply_async(_work, (chunk,)))
            if len(pending) >= 2 * workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


# ------------------------------------------------------------------------------------ writing
def _text_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, (Decimal, dt.date)) else value


class _AwardWriter:
    """``awards.<fmt>``: one row per award, written chunk by chunk."""

    def __init__(self, path: Path, fmt: str, columns: tuple[str, ...]) -> None:
        self.path, self.fmt, self.columns = path, fmt, columns
        self.rows = 0
        if fmt == "csv":
            self.file: Any = open(path, "w", newline="", encoding="utf-8")
            self.csv = csv.writer(self.file)
            self.csv.writerow(columns)
        elif fmt == "jsonl":
            self.file = open(path, "w", encoding="utf-8")
        elif fmt == "parquet":
            pa, pq = require("pyarrow"), require("pyarrow.parquet")
            money = pa.decimal128(38, 2)
            types = {"amount": money, "amount_max": money, "payers_unspecified": pa.bool_()} | {
                c: money for c in columns if c.startswith("payer_")}
            self.schema = pa.schema([(c, types.get(c, pa.string())) for c in columns])
            self.file = pq.ParquetWriter(path, self.schema)
        else:
            self.book = require("openpyxl").Workbook(write_only=True)
            self.sheet = self.book.create_sheet("awards")
            self.sheet.append(list(columns))

    def write(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows += len(rows)
        if self.fmt == "csv":
            self.csv.writerows(rows)  # already text
        elif self.fmt == "jsonl":
            for row in rows:
                item = {c: (str(v) if isinstance(v, Decimal) else v) for c, v in zip(self.columns, row)}
                self.file.write(json.dumps(item, ensure_ascii=False) + "\n")
        elif self.fmt == "parquet":
            if rows:
                pa = require("pyarrow")
                columns = list(zip(*rows))
                self.file.write_table(pa.Table.from_arrays(
                    [pa.array(col, type=f.type) for col, f in zip(columns, self.schema)], schema=self.schema))
        else:
            if self.rows > XLSX_MAX_ROWS:
                raise SourceError(f"more than {XLSX_MAX_ROWS} awards do not fit in one xlsx sheet: "
                                  "write them as csv or parquet (--format)", location=Location(str(self.path)))
            for row in rows:  # already text, so money stays exact; an empty cell is left out
                self.sheet.append([v if v != "" else None for v in row])

    def close(self) -> None:
        if self.fmt == "xlsx":
            self.book.save(self.path)
            deterministic_xlsx(self.path, [(self.rows + 1, len(self.columns))])
        else:
            self.file.close()


def deterministic_xlsx(path: Path, sizes: list[tuple[int, int]]) -> None:
    """Rewrite an xlsx written by openpyxl so that the same content gives the same bytes.

    The save time and zip times are fixed, and each sheet gets the ``<dimension>`` that write-only
    mode leaves out (``sizes``: rows and columns of each sheet, in order); without it a reader has to
    parse the whole sheet just to learn its size.
    """
    column = require("openpyxl.utils").get_column_letter
    dimensions = {f"xl/worksheets/sheet{n}.xml": f'<dimension ref="A1:{column(max(cols, 1))}{max(rows, 1)}" />'.encode()
                  for n, (rows, cols) in enumerate(sizes, 1)}
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            out = zipfile.ZipInfo(info.filename, (1980, 1, 1, 0, 0, 0))
            out.compress_type = zipfile.ZIP_DEFLATED
            out.external_attr = info.external_attr
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*", rb"\g<1>2000-01-01T00:00:00Z",
                              src.read(info))
                dst.writestr(out, data)
                continue
            with src.open(info) as fin, dst.open(out, "w") as fout:
                head = fin.read(1 << 16)
                if info.filename in dimensions and b"<dimension" not in head:
                    head = head.replace(b"</sheetPr>", b"</sheetPr>" + dimensions[info.filename], 1)
                fout.write(head)
                shutil.copyfileobj(fin, fout, 1 << 20)
    tmp.replace(path)


# ------------------------------------------------------------------------------------ the run
@dataclass(frozen=True)
class BatchSummary:
    """What a batch run read, assessed and found; written as ``summary.json`` and ``summary.csv``."""

    enterprises: str
    records: str | None
    format: str
    output_dir: str
    as_of: dt.date
    rulebook_hash: str
    join: str                       # inline | merge | index
    join_note: str
    enterprises_read: int
    assessed: int
    with_awards: int
    errors: int
    bad_enterprises: int
    orphan_records: int
    records_read: int
    total: Total
    by: dict[str, dict[str, Total]]  # dimension (status, city, county, payer, rule) → key → total
    rule_titles: dict[str, tuple[str, str]]
    cities_without_rules: dict[str, int]
    seconds: float
    workers: int
    chunk_size: int
    reform: ReformReport | None = None      # baseline against reform, when run with one

    @property
    def enterprises_per_second(self) -> float:
        return self.enterprises_read / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        def dimension(name: str) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for key, bucket in sorted(self.by[name].items()):
                entry = bucket.as_dict()
                if name == "county":
                    entry = {"city": key.partition("/")[0], "county": key.partition("/")[2]} | entry
                elif name == "rule":
                    zh, en = self.rule_titles.get(key, (key, key))
                    entry = {"title": zh, "title_en": en} | entry
                out[key] = entry
            return out

        return {
            "input": {"enterprises": self.enterprises, "records": self.records, "format": self.format},
            "output_dir": self.output_dir,
            "as_of": self.as_of.isoformat(),
            "rulebook_hash": self.rulebook_hash,
            "join": self.join,
            "join_note": self.join_note,
            "counts": {"enterprises_read": self.enterprises_read, "assessed": self.assessed,
                       "with_awards": self.with_awards, "errors": self.errors,
                       "bad_enterprises": self.bad_enterprises, "orphan_records": self.orphan_records,
                       "records_read": self.records_read, "awards": self.total.awards},
            "total": self.total.as_dict(),
            **{f"by_{name}": dimension(name) for name in DIMENSIONS},
            "cities_without_rules": dict(sorted(self.cities_without_rules.items())),
            "seconds": round(self.seconds, 3),
            "enterprises_per_second": round(self.enterprises_per_second, 1),
            "workers": self.workers,
            "chunk_size": self.chunk_size,
        }

    def csv_rows(self) -> list[tuple[str, str, int, str, str]]:
        rows = [("total", "", self.total.awards, str(self.total.amount), str(self.total.amount_max))]
        for name in DIMENSIONS:
            rows += [(name, key, b.awards, str(b.amount), str(b.amount_max))
                     for key, b in sorted(self.by[name].items())]
        return rows


class _Progress:
    """A one-line bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, total: int | None, enabled: bool | None, stream: IO[str] = sys.stderr) -> None:
        self.total, self.stream = total, stream
        self.enabled = stream.isatty() if enabled is None else enabled
        self.start = self.last = time.perf_counter()

    def update(self, done: int, final: bool = False) -> None:
        now = time.perf_counter()
        if not self.enabled or (now - self.last < 0.2 and not final):
            return
        self.last = now
        rate = done / (now - self.start) if now > self.start else 0.0
        if self.total:
            filled = min(30, 30 * done // self.total)
            bar = f"[{'#' * filled}{'.' * (30 - filled)}] {done}/{self.total}"
        else:
            bar = f"{done} enterprises"
        self.stream.write(f"\r{bar} {rate:,.0f}/s" + ("\n" if final else ""))
        self.stream.flush()


def _count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b""))


def _total_rows(source: _Source) -> int | None:
    if source.fmt == "parquet":
        return int(require("pyarrow.parquet").ParquetFile(source.path).metadata.num_rows)
    if source.fmt in ("csv", "jsonl"):
        return _count_lines(source.path) - (source.fmt == "csv")
    return None


def run_batch(input: str | Path, output_dir: str | Path, rulebook: Rulebook | str | Path,
              as_of: dt.date | None = None, *, records: str | Path | None = None, chunk_size: int = 1000,
              workers: int = 1, output_format: str | None = None, progress: bool | None = None,
              reform: Reform | None = None) -> BatchSummary:
    """Assess every enterprise of a register and write awards, errors and the summary to ``output_dir``.

    ``input`` is the enterprises table (.csv, .jsonl, .parquet or .xlsx); ``records`` defaults to the
    table beside it with ``enterprises`` in its name replaced by ``records`` (the ``records`` sheet
    for xlsx; inline for JSONL). Bad rows go to ``errors.csv`` and never stop the run. ``workers``
    processes each assess whole chunks; output is in input order whatever the number of workers.
    Raises ``IncentivesError`` only for what stops every row: an unreadable file, an unknown column.
    With ``reform``, each enterprise is also assessed under the reformed rules: ``reform.json`` has
    baseline against reform by payer, county and rule, ``reform_changes.csv`` each enterprise whose
    total changes.
    """
    started = time.perf_counter()
    if chunk_size < 1 or workers < 1:
        raise IncentivesError("chunk_size and workers must be at least 1")
    book = rulebook if isinstance(rulebook, Rulebook) else load_rulebook(rulebook)
    as_of = as_of or dt.date.today()
    source = _Source(Path(input), Path(records) if records is not None else None)
    out_fmt = output_format or source.fmt
    if out_fmt not in FORMATS.values():
        raise IncentivesError(f"unknown output format {out_fmt!r}: use one of {', '.join(FORMATS.values())}")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    assessor = _Assessor(book, as_of, (source.table, source.records), str(source.path), out_fmt in ("csv", "xlsx"))
    comparison = ReformReport() if reform else None
    if reform is not None:
        assessor.reform, assessor.reform_book = reform, apply_reform(book, reform)
    columns = award_columns(assessor.payers)
    tally = _Tally()
    bar = _Progress(None, progress)
    if bar.enabled:
        bar.total = _total_rows(source)
    awards = _AwardWriter(out / f"awards.{out_fmt}", out_fmt, columns)
    changes = open(out / "reform_changes.csv", "w", newline="", encoding="utf-8") if reform else None
    try:
        changed = csv.writer(changes) if changes else None
        if changed:
            changed.writerow(("credit_code", "name", "change"))
        with open(out / "errors.csv", "w", newline="", encoding="utf-8") as ef:
            errors = csv.writer(ef)
            errors.writerow(ERROR_COLUMNS)
            for result in _results(assessor, _chunks(source.items(), chunk_size), workers, _rules_path(rulebook)):
                awards.write(result.awards)
                errors.writerows(result.errors)
                tally.merge(result.tally)
                if comparison is not None and result.reform is not None and changed is not None:
                    changed.writerows(result.reform.gains + result.reform.losses)  # streamed, not kept
                    comparison.merge(result.reform)
                bar.update(tally.counts["enterprises_read"])
            errors.writerows([_text_value(v) for v in source.orphan_error(orphan)] for orphan in source.orphans)
            bar.update(tally.counts["enterprises_read"], final=True)
    finally:
        awards.close()
        source.close()
        if changes:
            changes.close()
    counts = tally.counts
    summary = BatchSummary(
        enterprises=str(source.path), records=str(source.records.path) if source.records else None,
        format=source.fmt, output_dir=str(out), as_of=as_of, rulebook_hash=book.hash, join=source.join,
        join_note=source.join_note, enterprises_read=counts["enterprises_read"], assessed=counts["assessed"],
        with_awards=counts["with_awards"], errors=counts["errors"] + len(source.orphans),
        bad_enterprises=counts["bad_enterprises"], orphan_records=len(source.orphans),
        records_read=counts["records_read"] + len(source.orphans), total=tally.total, by=tally.dims,
        rule_titles={r.id: (r.rule.title.zh, r.rule.title.en) for r in book.rules},
        cities_without_rules=dict(tally.no_rules), seconds=time.perf_counter() - started, workers=workers,
        chunk_size=chunk_size)
    (out / "summary.json").write_text(json.dumps(summary.to_dict(), ensure_ascii=False, indent=2) + "\n",
                                      encoding="utf-8")
    if comparison is not None and reform is not None:
        (out / "reform.json").write_text(json.dumps(comparison.to_dict(reform.title), ensure_ascii=False, indent=2)
                                         + "\n", encoding="utf-8")
        summary = dataclasses.replace(summary, reform=comparison)
    with open(out / "summary.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(("dimension", "key", "awards", "amount", "amount_max"))
        writer.writerows(summary.csv_rows())
    return summary


# ------------------------------------------------------------------------------------ command line
def parse_date(text: str) -> dt.date:
    """An argparse type: YYYY-MM-DD."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from e


def positive(text: str) -> int:
    """An argparse type: a whole number ≥ 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a whole number ≥ 1: {text!r}")
    return value


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``incentives batch`` to the command line."""
    p = sub.add_parser("batch", help="assess a register of enterprises (CSV, JSONL, Parquet or xlsx)",
                       description="Assess every enterprise of a register; write awards, errors.csv and the summary.")
    p.add_argument("input", help="enterprises table: .csv, .jsonl, .parquet or .xlsx")
    p.add_argument("-o", "--output", required=True, dest="output_dir", help="directory for the results")
    p.add_argument("--records", default=None, help="records table (default: the input's name with "
                   "'enterprises' replaced by 'records'; the records sheet for xlsx; inline for JSONL)")
    p.add_argument("--rules", default="rules", help="rule directory or file (default: rules)")
    p.add_argument("--as-of", type=parse_date, default=None, help="YYYY-MM-DD (default: today)")
    p.add_argument("--chunk-size", type=positive, default=1000, help="enterprises per chunk (default: 1000)")
    p.add_argument("--workers", type=positive, default=1, help="processes assessing chunks (default: 1)")
    p.add_argument("--format", choices=sorted(set(FORMATS.values())), default=None,
                   help="format of the awards file (default: the input's)")
    p.add_argument("--reform", default=None, help="reform file: also assess under the reformed rules and compare")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    reform = load_reform(args.reform)[0] if args.reform else None
    s = run_batch(args.input, args.output_dir, args.rules, args.as_of, records=args.records,
                  chunk_size=args.chunk_size, workers=args.workers, output_format=args.format, reform=reform)
    print(f"{s.enterprises_read} enterprises read, {s.assessed} assessed, {s.with_awards} with awards, "
          f"{s.errors} error(s)" + (f" (see {Path(s.output_dir) / 'errors.csv'})" if s.errors else ""))
    print(f"{s.total.awards} award{'s' * (s.total.awards != 1)}: {s.total.amount} yuan determined, "
          f"{s.total.amount_max} yuan with ceilings")
    if s.reform is not None and reform is not None:
        from incentives.reform import render

        print(render(s.reform, reform.title))
    if s.cities_without_rules:
        print("no rule file for: " + ", ".join(f"{c} ({n})" for c, n in sorted(s.cities_without_rules.items())))
    print(f"{s.seconds:.2f} s, {s.enterprises_per_second:,.0f} enterprises/s; {s.join_note}")
    print(f"results in {s.output_dir}")
    return 0

