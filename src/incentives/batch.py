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
import contextlib
import copy
import dataclasses
import csv
import datetime as dt
import json
import multiprocessing
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Iterator

from pydantic import ValidationError

from incentives import _yaml
from incentives._output import Checkpoints, OutputFolder, input_entry, kept_state, scratch_folder, sigterm_unwinds
from incentives._tabular import (ERROR_COLUMNS, FORMATS, ZERO, AwardWriter, Misjudged, Row, Source, Table,
                                 award_columns, parse_row, payer_columns, require, text_value, yearly_column)
from incentives.engine import AwardRow, award_rows
from incentives.errors import IncentivesError, Location, ResumeError, SourceError
from incentives.facts import SCHEMA, Enterprise, Profile, facts_error
from incentives.messages import N_, Lang, gettext
from incentives.readings import add_reading_argument
from incentives.reform import Reform, ReformReport, apply_reform, load_reform
from incentives.divisions import LEVELS, UNKNOWN_COUNTY
from incentives.rulebook import Rulebook, load_rulebook

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


@dataclass
class _Tally:
    counts: collections.Counter[str] = field(default_factory=collections.Counter)
    total: Total = field(default_factory=Total)
    dims: dict[str, dict[str, Total]] = field(default_factory=lambda: {d: {} for d in DIMENSIONS})
    no_rules: collections.Counter[str] = field(default_factory=collections.Counter)
    county_unknown: collections.Counter[str] = field(default_factory=collections.Counter)   # city/county

    def _add(self, dim: str, key: str, amount: Decimal, amount_max: Decimal) -> None:
        bucket = self.dims[dim].get(key)
        if bucket is None:
            bucket = self.dims[dim][key] = Total()
        bucket.awards += 1
        bucket.amount += amount
        bucket.amount_max += amount_max

    def award(self, profile: Profile, award: AwardRow) -> None:
        fixed = award.status == "fixed"
        amount = award.amount if fixed and award.amount is not None else ZERO
        top = award.amount_max if award.amount_max is not None else ZERO
        total = self.total
        total.awards += 1
        total.amount += amount
        total.amount_max += top
        self._add("status", award.status, amount, top)
        self._add("city", profile.city, amount, top)
        self._add("county", f"{profile.city}/{profile.county or UNKNOWN_COUNTY}", amount, top)
        self._add("rule", award.rule_id, amount, top)
        if award.payers_unspecified:
            self._add("payer", "unspecified", amount, top)
        for payer, share in award.payers.items():
            self._add("payer", payer, share if fixed else ZERO, share)

    def to_json(self) -> dict[str, Any]:
        """The counts and totals so far, exactly (money as text), for a checkpoint."""
        return {"counts": dict(self.counts), "no_rules": dict(self.no_rules), "total": self.total.as_dict(),
                "dims": {dim: {key: t.as_dict() for key, t in buckets.items()} for dim, buckets in self.dims.items()},
                "county_unknown": dict(self.county_unknown)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _Tally:
        def total(entry: dict[str, Any]) -> Total:
            return Total(int(entry["awards"]), Decimal(entry["amount"]), Decimal(entry["amount_max"]))

        return cls(collections.Counter(data["counts"]), total(data["total"]),
                   {dim: {key: total(t) for key, t in data["dims"].get(dim, {}).items()} for dim in DIMENSIONS},
                   collections.Counter(data["no_rules"]), collections.Counter(data.get("county_unknown", {})))

    def merge(self, other: _Tally) -> None:
        self.counts.update(other.counts)
        self.no_rules.update(other.no_rules)
        self.county_unknown.update(other.county_unknown)
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
    frame: Any = None       # the columnar path's award rows as text columns (a polars DataFrame)


@dataclass
class _RowDocument(_yaml.Document):
    """Locates a validation problem in the row (or record row) it came from."""

    row: Row | None = None
    records: list[Row] = field(default_factory=list)
    tables: tuple[Table | None, Table | None] = (None, None)
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
        if len(key) > 2 and key[0] == "yearly":
            name = f"{key[2]}_{key[1]}"     # yearly.2024.revenue is the column revenue_2024
        return Location(ents.label, line, ents.columns.get(name))


_COLUMN_OF = {"id": "record_id"}
_FIELD_OF = {"record_id": "id"}


class _Assessor:
    """Validates and assesses chunks of rows, in the parent or in a worker.

    A worker gets the assessor without its rulebook and loads the rulebook itself, once (see
    ``_init_worker``): compiled rules hold functions that do not pickle.
    """

    def __init__(self, rulebook: Rulebook, as_of: dt.date, tables: tuple[Table | None, Table | None],
                 path: str, as_text: bool) -> None:
        self.book = rulebook
        self.as_of = as_of
        self.tables = tables
        self.path = path
        self.payers = payer_columns(rulebook)
        self.as_text = as_text  # award rows as CSV text, made here so that workers share the work
        self.reform: Reform | None = None
        self.reform_book: Rulebook | None = None
        self._cited: dict[str, tuple[str, tuple[Any, ...]]] = {}
        self.yearly = tables[0] is not None and any(map(yearly_column, tables[0].columns))  # figure columns?

    def run(self, chunk: list[tuple[Row, list[Row]]]) -> _ChunkResult:
        result = _ChunkResult([], [], _Tally(), ReformReport() if self.reform_book else None)
        counts = result.tally.counts
        tabular = self.tables[0] is not None
        records_read = assessed = records_assessed = with_awards = 0
        for row, records in chunk:
            held = len(records) if tabular else _jsonl_records(row.cells)
            records_read += held
            enterprise = self._enterprise(row, records, result.errors)
            if enterprise is None:
                counts["bad_enterprises"] += 1
                counts["records_rejected"] += held
                continue
            try:
                awards = award_rows(enterprise, self.book, self.as_of, terms_checked=True)
                reformed = None if self.reform_book is None else \
                    award_rows(enterprise, self.reform_book, self.as_of, terms_checked=True)
            except IncentivesError as e:
                result.errors.append(self._error(self.tables[0].label if self.tables[0] else self.path, row, None,
                                                 enterprise.profile.credit_code, e.field, f"{e} (assessment failed)"))
                counts["bad_enterprises"] += 1
                counts["records_rejected"] += held
                continue
            assessed += 1
            records_assessed += len(enterprise.records)
            profile = enterprise.profile
            if not self.book.places(enterprise):
                result.tally.no_rules[profile.city] += 1
            elif self.book.left_out(profile.city, profile.county):
                result.tally.county_unknown[f"{profile.city}/{profile.county or UNKNOWN_COUNTY}"] += 1
            if awards:
                with_awards += 1
            for award in awards:
                result.awards.append(self._award_row(profile, award))
                result.tally.award(profile, award)
            if result.reform is not None and reformed is not None:
                result.reform.add(profile, awards, reformed)
        counts.update(enterprises_read=len(chunk), records_read=records_read, assessed=assessed,
                      records_assessed=records_assessed, with_awards=with_awards, errors=len(result.errors))
        result.errors = [tuple(map(text_value, e)) for e in result.errors]
        return result

    def _enterprise(self, row: Row, records: list[Row], errors: list[tuple[Any, ...]]) -> Enterprise | None:
        """The row as a validated ``Enterprise`` with its terms checked, or ``None`` after noting why not."""
        ents, recs = self.tables
        if ents is None or recs is None:  # JSONL: the line is the facts
            data, code = row.cells, _jsonl_code(row.cells)
            if row.problem:
                errors.append(self._error(self.path, row, None, code, None, row.problem))
                return None
        else:
            values, problem = parse_row(ents, row)
            code = values.get("credit_code") or row.code or None
            if problem:
                errors.append(self._error(ents.label, row, None, code, None, problem))
                return None
            facts = []
            for rec in records:
                fields, problem = parse_row(recs, rec)
                if problem:
                    errors.append(self._error(recs.label, row, rec, code, None, problem + _WHOLE))
                    return None
                facts.append(_record(fields))
            data = {"enterprise": values, "records": facts, "yearly": _yearly(values) if self.yearly else {}}
        try:
            enterprise = Enterprise.model_validate(data)
        except ValidationError as e:
            doc = _RowDocument(data=data, path=self.path, row=row, records=records, tables=self.tables)
            error: IncentivesError = facts_error(e, doc)
        else:
            if not enterprise.term_problems(self.book.vocabulary, None, first_only=True):
                return enterprise
            doc = _RowDocument(data=data, path=self.path, row=row, records=records, tables=self.tables)
            error = enterprise.term_problems(self.book.vocabulary, doc, first_only=True)[0]  # now located
        record: Row | None = None
        if doc.record is not None:  # a record's row, or for JSONL its place in the line's list
            record = records[doc.record] if doc.record < len(records) else Row(doc.record + 1, row.line, {})
        reason = str(error) + (_WHOLE if record is not None else "")
        errors.append(self._error(error.location.path or self.path, row, record, code, error.field, reason))
        return None

    @staticmethod
    def _error(source: str, row: Row, record: Row | None, code: Any, field_name: str | None,
               reason: str) -> tuple[Any, ...]:
        return (source, row.number, record.number if record else None, code, field_name, reason)

    def _award_row(self, p: Profile, a: AwardRow) -> tuple[Any, ...]:
        cited = self._cited.get(a.rule_id)
        if cited is None:  # what every award of a rule repeats: its title, document, clause, quote, the rulebook
            rule = self.book.by_id[a.rule_id]
            cited = self._cited[a.rule_id] = (
                rule.rule.title.zh, tuple(map(text_value, (rule.document.number, rule.rule.cite.clause,
                                                           rule.rule.cite.quote, self.book.hash))))
        title, tail = cited
        if not self.as_text:
            return (p.credit_code, p.name, p.city, p.county, a.rule_id, title, a.status, a.amount, a.amount_max,
                    *(a.payers.get(payer) for payer in self.payers), a.payers_unspecified, a.record_id, *tail)
        return (p.credit_code, p.name, p.city, p.county or "", a.rule_id, title, a.status, _text(a.amount),
                _text(a.amount_max), *(_text(a.payers.get(payer)) for payer in self.payers),
                "true" if a.payers_unspecified else "false", a.record_id or "", *tail)


def _text(amount: Decimal | None) -> str:
    """An amount as the award rows write it (``text_value`` for the one type it can be)."""
    return "" if amount is None else str(amount)


_WHOLE = " (a record of this enterprise is bad, so the whole enterprise is not assessed)"


def _yearly(values: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """The yearly figures of an enterprise row (``revenue_2024``…), taken out of its profile values."""
    yearly: dict[int, dict[str, Any]] = {}
    for name in [n for n in values if n not in _PROFILE_FIELDS]:
        figure = yearly_column(name)
        if figure is not None:
            yearly.setdefault(figure[1], {})[figure[0]] = values.pop(name)
    return yearly


_PROFILE_FIELDS = frozenset(SCHEMA.profile_fields)


def _record(values: dict[str, Any]) -> dict[str, Any]:
    """A record row's values as the facts name them (``record_id`` is ``id``; the credit code is the join's)."""
    values.pop("credit_code", None)
    if "record_id" in values:
        values[_FIELD_OF["record_id"]] = values.pop("record_id")
    return values


def _jsonl_records(data: dict[str, Any]) -> int:
    records = data.get("records")
    return len(records) if isinstance(records, list) else 0


def _jsonl_code(data: dict[str, Any]) -> Any:
    profile = data.get("enterprise")
    return profile.get("credit_code") if isinstance(profile, dict) else None


_worker: _Assessor | IncentivesError | None = None


def _init_worker(assessor: _Assessor, rules: str, digest: str, readings: dict[str, str] | None = None) -> None:
    """Load the rulebook once per worker. A failure is raised by the first chunk, not here: a Pool
    whose initializer raises restarts the worker for ever. Ctrl-C is the main process's to handle:
    a worker ignores it (the main process ends the pool), and dies of SIGTERM as the pool ends it, so no
    worker prints a traceback."""
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the main process's handler is not the worker's: end quietly
    try:
        book = load_rulebook(rules, readings=readings)
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


def _work(packed: list[tuple[_Packed, list[_Packed]]]) -> _ChunkResult:
    if not isinstance(_worker, _Assessor):
        raise _worker or IncentivesError("worker not initialised")
    return _worker.run([(_unpack(row), [_unpack(r) for r in records]) for row, records in packed])


# A row as sent to a worker: text cells joined by the unit separator, so a chunk pickles and unpickles
# as a few strings per row rather than an object per cell (which cost a worker as much as assessing).
_Packed = tuple[int, int, Any, str, Any]
_SEP = "\x1f"


def _pack(row: Row) -> _Packed:
    cells = row.cells
    if isinstance(cells, list) and cells:
        try:
            joined = _SEP.join(cells)
        except TypeError:  # typed cells (xlsx, Parquet) go as they are
            joined = None
        if joined is not None and joined.count(_SEP) == len(cells) - 1:  # no cell holds the separator
            cells = joined
    return row.number, row.line, cells, row.code, row.problem


def _unpack(packed: _Packed) -> Row:
    number, line, cells, code, problem = packed
    return Row(number, line, cells.split(_SEP) if isinstance(cells, str) else cells, code, problem)


def _rules_path(rulebook: Rulebook | str | Path) -> str:
    """Where a worker loads the rulebook from: the path given, or the directory of its vocabulary."""
    return str(Path(rulebook.vocabulary.path).parent if isinstance(rulebook, Rulebook) else rulebook)


def _chunks(items: Iterator[tuple[Row, list[Row]]], size: int) -> Iterator[list[tuple[Row, list[Row]]]]:
    chunk: list[tuple[Row, list[Row]]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _results(assessor: _Assessor, chunks: Iterator[list[tuple[Row, list[Row]]]], workers: int,
             rules: str) -> Iterator[_ChunkResult]:
    """Chunk results in input order, from ``workers`` processes of which the main one is the first.

    The main process reads, joins and writes; it hands a chunk to the other workers while fewer than
    four each are in flight, and otherwise assesses the chunk itself rather than wait. So on two
    cores the main process and one worker share the work with no core idle or overcommitted, and
    a bounded number of chunks is held: memory stays flat.
    """
    if workers <= 1:
        yield from map(assessor.run, chunks)
        return
    bare = copy.copy(assessor)
    bare.book = None  # type: ignore[assignment]  # each worker loads its own
    bare.reform_book = None
    helpers = workers - 1
    with multiprocessing.get_context().Pool(helpers, initializer=_init_worker,
                                            initargs=(bare, rules, assessor.book.hash,
                                                      dict(assessor.book.readings))) as pool:
        pending: collections.deque[Any] = collections.deque()   # AsyncResults and results, in input order
        for chunk in chunks:
            if sum(not isinstance(p, _ChunkResult) for p in pending) < 4 * helpers:
                pending.append(pool.apply_async(_work, ([(_pack(row), list(map(_pack, recs)))
                                                         for row, recs in chunk],)))
            else:
                pending.append(assessor.run(chunk))
            while pending and (isinstance(pending[0], _ChunkResult) or pending[0].ready()
                               or len(pending) > 4 * workers):
                yield _got(pending.popleft())
        while pending:
            yield _got(pending.popleft())


def _got(pending: Any) -> _ChunkResult:
    return pending if isinstance(pending, _ChunkResult) else pending.get()


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
    rows: RowAccount | None = None          # every row accounted for
    manifest: dict[str, Any] = field(default_factory=dict)
    path: str = "rows"                      # columnar | rows: how the register was assessed
    paths: dict[str, int] = field(default_factory=dict)   # enterprises assessed by each path
    fallback_rules: list[str] = field(default_factory=list)  # rules the columnar path does not compile
    rule_levels: dict[str, str] = field(default_factory=dict)  # rule id → the level of its file's place
    counties_not_covered: dict[str, int] = field(default_factory=dict)  # city/county → enterprises

    @property
    def by_level(self) -> dict[str, Total]:
        """Awards by the level of the file that pays them (province, city, county), from ``by["rule"]``."""
        out = {level: Total() for level in LEVELS}
        for rule_id, bucket in self.by["rule"].items():
            out[self.rule_levels.get(rule_id, "city")].add(bucket)
        return out

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
            "rows": self.rows.to_dict() if self.rows else None,
            "total": self.total.as_dict(),
            **{f"by_{name}": dimension(name) for name in DIMENSIONS},
            "by_level": {level: bucket.as_dict() for level, bucket in self.by_level.items()},
            "cities_without_rules": dict(sorted(self.cities_without_rules.items())),
            "counties_not_covered": dict(sorted(self.counties_not_covered.items())),
            "seconds": round(self.seconds, 3),
            "enterprises_per_second": round(self.enterprises_per_second, 1),
            "workers": self.workers,
            "chunk_size": self.chunk_size,
            "path": {"used": self.path, **self.paths, "fallback_rules": self.fallback_rules},
        }

    def csv_rows(self) -> list[tuple[str, str, int, str, str]]:
        rows = [("total", "", self.total.awards, str(self.total.amount), str(self.total.amount_max))]
        for name in DIMENSIONS:
            rows += [(name, key, b.awards, str(b.amount), str(b.amount_max))
                     for key, b in sorted(self.by[name].items())]
        rows += [("level", key, b.awards, str(b.amount), str(b.amount_max)) for key, b in self.by_level.items()]
        return rows


@dataclass(frozen=True)
class RowAccount:
    """Every row of a register accounted for, whichever path read it.

    Each enterprise row is assessed or rejected (one row of the errors file each); each record row
    belongs to an assessed enterprise, is set aside with its rejected enterprise, or is an orphan
    (one row of the errors file each). ``balanced`` says both sums hold and the errors file has
    exactly the rows they name.
    """

    enterprise_rows: int
    assessed: int
    rejected: int
    record_rows: int
    records_assessed: int
    records_rejected: int       # set aside with their rejected enterprise
    orphan_records: int         # no enterprise row carries their credit code
    error_rows: int             # rows written to the errors file

    @property
    def balanced(self) -> bool:
        return (self.enterprise_rows == self.assessed + self.rejected
                and self.record_rows == self.records_assessed + self.records_rejected + self.orphan_records
                and self.error_rows == self.rejected + self.orphan_records)

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "balanced": self.balanced}

    def line(self, lang: Lang = "en") -> str:
        """The accounting in one line, as the command prints it."""
        line = gettext(N_("rows in: %(enterprise_rows)s enterprise rows = %(assessed)s assessed + %(rejected)s in "
                          "errors; %(record_rows)s record rows = %(records_assessed)s assessed + %(records_rejected)s "
                          "with a rejected enterprise + %(orphans)s orphan(s) in errors"), lang) % {
            "enterprise_rows": f"{self.enterprise_rows:,}", "assessed": f"{self.assessed:,}",
            "rejected": f"{self.rejected:,}", "record_rows": f"{self.record_rows:,}",
            "records_assessed": f"{self.records_assessed:,}", "records_rejected": f"{self.records_rejected:,}",
            "orphans": f"{self.orphan_records:,}"}
        return line if self.balanced else \
            gettext(N_("%(line)s (DOES NOT BALANCE: please report this)"), lang) % {"line": line}


class _Progress:
    """A one-line bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, total: int | None, enabled: bool | None, stream: IO[str] | None = None) -> None:
        # sys.stderr as it is now, not as it was at import (a test's capture may have replaced and closed it since)
        self.total, self.stream = total, stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
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


def _total_rows(source: Source) -> int | None:
    if source.fmt == "parquet":
        return int(require("pyarrow.parquet").ParquetFile(source.path).metadata.num_rows)
    if source.fmt in ("csv", "jsonl"):
        return _count_lines(source.path) - (source.fmt == "csv")
    return None


PATHS = ("columnar", "rows")


def _columnar(source: Source, path: str) -> bool:
    """Whether the columnar path reads ``source``: asked for (or the default; polars installed). Every format
    goes: CSV, Parquet, xlsx, JSONL; it plans by the files covering each enterprise, of any level, as the
    engine picks them."""
    return path == "columnar" and (source.fmt == "jsonl" or source.table is not None and source.records is not None)


def _register(source: Source, assessor: _Assessor, path: str, out_fmt: str, threads: int | None) -> Any:
    """The columnar reading of ``source`` where it applies (see ``_columnar``), else None."""
    if not _columnar(source, path):
        return None
    from incentives.columnar import Register

    if source.table is None or source.records is None:   # JSONL: the records are on their enterprise's line
        from incentives._blocks import JsonlReader, jsonl_tables

        register = Register(*jsonl_tables(source.path, source.name), assessor, join=source.join, threads=threads,
                            out_fmt=out_fmt)
        register.inline = JsonlReader(source.path, register.block_bytes, source.label)
    else:
        register = Register(source.table, source.records, assessor, join=source.join, threads=threads,
                            out_fmt=out_fmt)
    register.orphans = source.orphans  # filled as the records are read, and written to errors.csv at the end
    register.duplicates = source.duplicates_up_front()  # rows of a duplicated credit code: per-enterprise path
    register.plain_at = source.scanned.block_bytes if source.scanned is not None else 0  # blocks read as plain
    register.trusted = source.scanned is not None and source.scanned.trusted   # checked as they are read
    register.books = source.books   # an xlsx register's workbook, opened once
    assessor.as_text = True         # rows leaving the frames join the frames' award rows, all text
    return register


def _scan(path: str, trust: bool) -> Any:
    """The columnar path's reading of the credit codes (polars, vectorised), for the columnar path only;
    with ``trust``, the codes are taken on trust and checked as the register is read (``trust_codes``)."""
    if path != "columnar":
        return None
    from incentives.columnar import scan_codes, trust_codes

    return trust_codes if trust else scan_codes


def _default_path() -> str:
    """columnar where polars is installed (the ``batch`` extra), for every format; ``path="rows"``
    (``--path rows``) asks for the per-enterprise path."""
    try:
        import polars  # noqa: F401
    except ImportError:
        return "rows"
    return "columnar"


def run_batch(input: str | Path, output_dir: str | Path, rulebook: Rulebook | str | Path,
              as_of: dt.date | None = None, *, records: str | Path | None = None, chunk_size: int = 1000,
              workers: int | None = None, output_format: str | None = None, progress: bool | None = None,
              reform: Reform | None = None, path: str | None = None,
              readings: dict[str, str] | None = None, resume: bool = False,
              checkpoint_seconds: float = 2.0) -> BatchSummary:
    """Assess every enterprise of a register and write awards, errors and the summary to ``output_dir``.

    ``input`` is the enterprises table (.csv, .jsonl, .parquet or .xlsx); ``records`` defaults to the
    table beside it with ``enterprises`` in its name replaced by ``records`` (the ``records`` sheet
    for xlsx; inline for JSONL); ``-`` reads standard input (a JSONL register, or a CSV enterprises table with
    ``records``), which errors, the summary and the manifest call ``<stdin>``, and which ``resume`` goes on
    with only if it is the same bytes. Bad rows go to ``errors.csv`` and never stop the run. ``workers``
    processes each assess whole chunks on the per-enterprise path (default 1); on the columnar path,
    ``workers`` chunks are assessed at once in threads (default ``columnar.THREADS``). Output is in
    input order whatever the number of workers.
    Raises ``IncentivesError`` only for what stops every row: an unreadable file, an unknown column.
    With ``reform``, each enterprise is also assessed under the reformed rules: ``reform.json`` has
    baseline against reform by payer, county and rule, ``reform_changes.csv`` each enterprise whose
    total changes. ``readings`` chooses options of the rule files' readings (see ``incentives.readings``).
    While it runs, a checkpoint is written at most every ``checkpoint_seconds``; ``resume=True`` goes on
    from the last one a killed run for the same ``output_dir`` left (and starts anew when there is none),
    and raises ``ResumeError`` when the inputs, the rules or the options changed since that run began.
    """
    started = time.perf_counter()
    if chunk_size < 1 or (workers is not None and workers < 1):
        raise IncentivesError("chunk_size and workers must be at least 1")
    book = rulebook if isinstance(rulebook, Rulebook) else load_rulebook(rulebook, readings=readings)
    if readings and isinstance(rulebook, Rulebook):
        book = book.with_readings(readings)
    as_of = as_of or dt.date.today()
    path = path or _default_path()
    if path not in PATHS:
        raise IncentivesError(f"unknown path {path!r}: use one of {', '.join(PATHS)}")
    # standard input is kept apart from the results folder (a run replaces that whole) until the run ends; a
    # killed run's copy goes when the next run reads standard input
    stdin = str(input) == _yaml.STDIN
    with scratch_folder("incentives-stdin-") if stdin else contextlib.nullcontext() as folder:
        name = _yaml.label(input) if stdin else None   # what errors, the summary and the manifest call it
        if folder is not None:
            input = _spool_stdin(Path(folder))
            if records is None and input.suffix == ".csv":
                raise SourceError("standard input holds the enterprises table alone: name the records table with "
                                  "--records (or pipe a JSONL register, which holds its records inline)",
                                  location=Location(name))
        args = (input, name, output_dir, rulebook, book, as_of, records, chunk_size, workers, output_format, progress,
                reform, path, resume, checkpoint_seconds, started)
        try:
            return _assess(*args, trust=True)
        except Misjudged:   # a register read on trust had a duplicated code or records out of order: scan it first
            return _assess(*args, trust=False)


def _assess(input: str | Path, name: str | None, output_dir: str | Path, rulebook: Rulebook | str | Path,
            book: Rulebook, as_of: dt.date, records: str | Path | None, chunk_size: int, workers: int | None,
            output_format: str | None, progress: bool | None, reform: Reform | None, path: str, resume: bool,
            checkpoint_seconds: float, started: float, trust: bool) -> BatchSummary:
    if trust and resume:   # a run resumed goes on as it began: on trust, or after the scan
        kept = kept_state(Path(output_dir))
        trust = kept is None or bool(kept.get("trusted"))
    source = Source(Path(input), Path(records) if records is not None else None, _scan(path, trust), name)
    out_fmt = output_format or source.fmt
    if out_fmt not in FORMATS.values():
        raise IncentivesError(f"unknown output format {out_fmt!r}: use one of {', '.join(FORMATS.values())}")
    assessor = _Assessor(book, as_of, (source.table, source.records), source.label, out_fmt in ("csv", "xlsx"))
    if reform is not None:
        assessor.reform, assessor.reform_book = reform, apply_reform(book, reform)
    target = Path(output_dir)
    columnar = _columnar(source, path)
    resumable = out_fmt in AwardWriter.APPENDABLE
    if resume and not resumable:
        raise ResumeError("only a run writing csv or jsonl awards can be resumed", location=Location(str(target)))
    tables = [("enterprises", source.path, name), *([("records", source.records.path, None)] if source.records else [])]
    with ThreadPoolExecutor(1) as hashing, OutputFolder(target, resume=resume) as folder:
        hashed = hashing.submit(lambda: [input_entry(*table) for table in tables])  # while it reads
        checkpoints = None
        if resumable:
            run = {"rulebook_hash": book.hash, "rules": _rules_path(rulebook),
                   "as_of": as_of.isoformat(), "chunk_size": chunk_size, "format": out_fmt,
                   "path": "columnar" if columnar else "rows",
                   "reform": assessor.reform_book.hash if assessor.reform_book is not None else None}
            if columnar:   # a chunk is a block of the enterprises table: its size says where each chunk ends
                from incentives import columnar as frames

                run["block_bytes"] = frames.BLOCK_BYTES
            checkpoints = Checkpoints(folder.path, run, [f"awards.{out_fmt}", "errors.csv",
                                                         *(["reform_changes.csv"] if reform else [])], checkpoint_seconds,
                                      inputs=hashed.result, hashing=hashing)
        state = checkpoints.resume() if checkpoints is not None and folder.resumed else None
        if state is not None:
            folder.started = state["started"]
        summary = _run_into(folder.path, target, source, book, as_of, assessor, rulebook, reform, out_fmt,
                            chunk_size, workers, progress, started, path, checkpoints, state, folder.started)
        rows = summary.rows
        assert rows is not None
        resumed = {"resumed": checkpoints.resumes} if checkpoints is not None and checkpoints.resumes else {}
        manifest = folder.publish({
            "as_of": as_of.isoformat(), "rulebook_hash": book.hash, "inputs": hashed.result(), "rows": rows.to_dict(),
            "rows_in_files": {f"awards.{out_fmt}": summary.total.awards, "errors.csv": rows.error_rows}, **resumed},
            hashed=checkpoints.hashed() if checkpoints is not None else None)
    return dataclasses.replace(summary, manifest=manifest)


def _run_into(out: Path, target: Path, source: Source, book: Rulebook, as_of: dt.date, assessor: _Assessor,
              rulebook: Rulebook | str | Path, reform: Reform | None, out_fmt: str, chunk_size: int,
              workers: int | None, progress: bool | None, started: float, path: str = "rows", checkpoints: Checkpoints | None = None,
              state: dict[str, Any] | None = None, begun: str = "") -> BatchSummary:
    """Assess the register and write every result file into ``out`` (the partial folder); with ``state``
    (a checkpoint's), go on after the chunks it counts, appending to the files it describes."""
    comparison = None if reform is None else ReformReport.from_json(state["reform"]) if state is not None \
        else ReformReport()
    columns = award_columns(assessor.payers)
    tally = _Tally.from_json(state["tally"]) if state is not None else _Tally()
    done = int(state["chunks"]) if state is not None else 0
    bar = _Progress(None, progress)
    if bar.enabled:
        bar.total = _total_rows(source)
    awards = AwardWriter(out / f"awards.{out_fmt}", out_fmt, columns, append=state is not None)
    changes = open(out / "reform_changes.csv", "a" if state is not None else "w", newline="", encoding="utf-8") \
        if reform else None
    digest = book.hash
    error_rows = int(state["error_rows"]) if state is not None else 0
    try:
        changed = csv.writer(changes) if changes else None
        if changed and state is None:
            changed.writerow(("credit_code", "name", "change"))
        with open(out / "errors.csv", "a" if state is not None else "w", newline="", encoding="utf-8") as ef:
            errors = csv.writer(ef)
            if state is None:
                errors.writerow(ERROR_COLUMNS)
            register = _register(source, assessor, path, out_fmt, workers)
            chunks = _chunks(source.items(), chunk_size)
            if register is not None and state is not None:   # its blocks are read again, not assessed
                register.skip = done
                register.counts = dataclasses.replace(register.counts, **state["paths"])
            for _ in range(done if register is None else 0):  # read again (the duplicates and orphans need
                next(chunks, None)                              # every row), not assessed
            results = register.results() if register is not None else \
                _results(assessor, chunks, workers or 1, _rules_path(rulebook))
            for result in results:
                if result.frame is not None:
                    awards.write_frame(result.frame)
                else:
                    awards.write(result.awards)
                errors.writerows(e + (digest,) for e in result.errors)
                error_rows += len(result.errors)
                tally.merge(result.tally)
                if comparison is not None and result.reform is not None and changed is not None:
                    changed.writerows(result.reform.gains + result.reform.losses)  # streamed, not kept
                    comparison.merge(result.reform)
                done += 1
                if checkpoints is not None:
                    awards.flush()
                    ef.flush()
                    if changes:
                        changes.flush()
                    checkpoints.written()
                    if checkpoints.due():
                        checkpoints.save({"chunks": done, "error_rows": error_rows, "tally": tally.to_json(),
                                          "started": begun, "paths": register.counts.as_dict() if register else {},
                                          "trusted": register is not None and register.trusted,
                                          "reform": comparison.to_json() if comparison is not None else None})
                bar.update(tally.counts["enterprises_read"])
            errors.writerows([*(text_value(v) for v in source.orphan_error(orphan)), digest]
                             for orphan in source.orphans)
            error_rows += len(source.orphans)
            bar.update(tally.counts["enterprises_read"], final=True)
    finally:
        awards.close()
        source.close()
        if changes:
            changes.close()
    counts = tally.counts
    rows = RowAccount(enterprise_rows=counts["enterprises_read"], assessed=counts["assessed"],
                      rejected=counts["bad_enterprises"], record_rows=counts["records_read"] + len(source.orphans),
                      records_assessed=counts["records_assessed"], records_rejected=counts["records_rejected"],
                      orphan_records=len(source.orphans), error_rows=error_rows)
    summary = BatchSummary(
        enterprises=source.label, records=str(source.records.path) if source.records else None,
        format=source.fmt, output_dir=str(target), as_of=as_of, rulebook_hash=book.hash, join=source.join,
        join_note=source.join_note, enterprises_read=counts["enterprises_read"], assessed=counts["assessed"],
        with_awards=counts["with_awards"], errors=counts["errors"] + len(source.orphans),
        bad_enterprises=counts["bad_enterprises"], orphan_records=len(source.orphans),
        records_read=counts["records_read"] + len(source.orphans), total=tally.total, by=tally.dims,
        rule_titles={r.id: (r.rule.title.zh, r.rule.title.en) for r in book.rules},
        rule_levels={r.id: r.level for r in book.rules}, counties_not_covered=dict(tally.county_unknown),
        cities_without_rules=dict(tally.no_rules), seconds=time.perf_counter() - started,
        workers=register.threads if register is not None else workers or 1,
        chunk_size=chunk_size, rows=rows, path="columnar" if register is not None else "rows",
        paths=register.counts.as_dict() if register is not None else {},
        fallback_rules=register.frames.fallback_rules if register is not None else [])
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
def read_register(input: str | Path, rulebook: Rulebook, *, records: str | Path | None = None
                  ) -> Iterator[tuple[Enterprise | None, str | None]]:
    """Each enterprise of a register as ``batch`` reads it (validated, terms checked), or ``None``
    and the located reason its row is bad; for whatever consumes enterprises one by one (the ledger)."""
    source = Source(Path(input), Path(records) if records is not None else None)
    assessor = _Assessor(rulebook, dt.date.today(), (source.table, source.records), str(source.path), False)
    try:
        for row, rows in source.items():
            errors: list[tuple[Any, ...]] = []
            enterprise = assessor._enterprise(row, rows, errors)
            yield enterprise, (str(errors[0][-1]) if errors else None)
    finally:
        source.close()


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
    p.add_argument("input", help="enterprises table: .csv, .jsonl, .parquet or .xlsx (- reads JSONL or CSV from "
                   "standard input)")
    p.add_argument("-o", "--output", required=True, dest="output_dir", help="directory for the results")
    p.add_argument("--records", default=None, help="records table (default: the input's name with "
                   "'enterprises' replaced by 'records'; the records sheet for xlsx; inline for JSONL)")
    p.add_argument("--rules", default=None, help="rule directory or file (default: rules/ here, else the shipped rules)")
    p.add_argument("--as-of", type=parse_date, default=None, help="YYYY-MM-DD (default: today)")
    p.add_argument("--chunk-size", type=positive, default=1000, help="enterprises per chunk (default: 1000)")
    p.add_argument("--workers", type=positive, default=None,
                   help="processes assessing chunks on the rows path, the main one included (default: 1); "
                        "chunks assessed at once on the columnar path (default: 2)")
    p.add_argument("--format", choices=sorted(set(FORMATS.values())), default=None,
                   help="format of the awards file (default: the input's)")
    p.add_argument("--reform", default=None, help="reform file: also assess under the reformed rules and compare")
    p.add_argument("--path", choices=PATHS, default=None,
                   help="columnar (polars, the default where polars is installed) or rows (one enterprise at "
                        "a time); both read every format and write the same files")
    add_reading_argument(p)
    p.add_argument("--resume", action="store_true",
                   help="go on from the last checkpoint a killed run for the same output left (the same inputs, "
                        "rules and options; csv or jsonl awards); without one, start anew")
    p.add_argument("--checkpoint-seconds", type=_seconds, default=2.0,
                   help="at most how often a run records how far it got, for --resume (default: 2)")
    p.add_argument("--lang", choices=["zh", "en"], default="en", help="language of the summary printed (default en)")
    p.set_defaults(run=_run)


def _seconds(text: str) -> float:
    """An argparse type: a number of seconds ≥ 0."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"not a number of seconds ≥ 0: {text!r}")
    return value


def _run(args: argparse.Namespace) -> int:
    from incentives.readings import parse_choices
    from incentives.shipped import command_rules

    reform = load_reform(args.reform)[0] if args.reform else None
    with sigterm_unwinds():   # kill: the partial folder goes, as after Ctrl-C (exit 143, one line)
        s = run_batch(args.input, args.output_dir, command_rules(args.rules), args.as_of, records=args.records,
                      chunk_size=args.chunk_size, workers=args.workers, output_format=args.format, reform=reform,
                      path=args.path, readings=parse_choices(args.reading), resume=args.resume,
                      checkpoint_seconds=args.checkpoint_seconds)
    for resumed in s.manifest.get("resumed", []):
        print(gettext(N_("resumed after chunk %(chunk)s (%(at)s) of the run begun %(started)s"), args.lang) % {
            "chunk": f"{resumed['chunk']:,}", "at": resumed["at"], "started": s.manifest["started"]})
    for line in summary_lines(s, reform.title if reform is not None else None, args.lang):
        print(line)
    return 0


def summary_lines(s: BatchSummary, reform_title: str | None = None, lang: Lang = "en") -> list[str]:
    """What ``incentives batch`` prints after a run, in ``lang``: counts and money with separators."""
    from incentives.report import label, money

    def say(template: str, **args: Any) -> str:
        return gettext(template, lang) % args

    def yuan(amount: Decimal) -> str:
        return f"{amount:,.2f} yuan" if lang == "en" else money(amount, lang)

    line = say(N_("%(read)s enterprises read, %(assessed)s assessed, %(with_awards)s with awards, %(errors)s error(s)"),
               read=f"{s.enterprises_read:,}", assessed=f"{s.assessed:,}", with_awards=f"{s.with_awards:,}",
               errors=s.errors)
    lines = [say(N_("%(line)s (see %(path)s)"), line=line, path=Path(s.output_dir) / "errors.csv") if s.errors else line]
    if s.rows is not None:
        lines.append(s.rows.line(lang))
    lines.append(say(N_("%(awards)s award: %(amount)s determined, %(amount_max)s with ceilings") if s.total.awards == 1
                     else N_("%(awards)s awards: %(amount)s determined, %(amount_max)s with ceilings"),
                     awards=f"{s.total.awards:,}", amount=yuan(s.total.amount), amount_max=yuan(s.total.amount_max)))
    if s.reform is not None and reform_title is not None:
        from incentives.reform import render

        lines.append(render(s.reform, reform_title, lang))
    joint = "; " if lang == "en" else "；"
    if lang == "en":
        levels = [f"{level} {b.awards:,} award{'s' * (b.awards != 1)} {b.amount:,.2f} yuan" for level, b in s.by_level.items()]
        payers = [f"{payer} {b.amount:,.2f} yuan" for payer, b in sorted(s.by["payer"].items())]
    else:
        levels = [f"{label(level, lang)} {b.awards:,}笔 {money(b.amount, lang)}" for level, b in s.by_level.items()]
        payers = [f"{label(payer, lang)} {money(b.amount, lang)}" for payer, b in sorted(s.by["payer"].items())]
    lines.append(say(N_("by level: %(levels)s"), levels=joint.join(levels)))
    lines.append(say(N_("by payer: %(payers)s"), payers=joint.join(payers) or gettext("none", lang)))
    if s.counties_not_covered:
        lines.append(say(N_("county files not applied (county absent or not in the divisions table): %(counties)s"),
                         counties=", ".join(f"{c} ({n})" for c, n in sorted(s.counties_not_covered.items()))))
    if s.cities_without_rules:
        lines.append(say(N_("no rule file for: %(cities)s"),
                         cities=", ".join(f"{c} ({n})" for c, n in sorted(s.cities_without_rules.items()))))
    lines.append(say(N_("%(seconds)s s, %(speed)s enterprises/s; %(join_note)s"), seconds=f"{s.seconds:.2f}",
                     speed=f"{s.enterprises_per_second:,.0f}", join_note=gettext(s.join_note, lang)))
    if s.path == "columnar":
        lines.append(say(N_("columnar path: %(columnar)s enterprises in frames, %(rows)s one at a time (rows the column "
                            "checks did not pass), %(fallback)s by rules not compiled (%(rules)s)"),
                         columnar=f"{s.paths['columnar']:,}", rows=f"{s.paths['per_enterprise']:,}",
                         fallback=f"{s.paths['fallback']:,}",
                         rules=", ".join(s.fallback_rules) or gettext("none", lang)))
    lines.append(say(N_("results in %(dir)s"), dir=s.output_dir))
    return lines


def _spool_stdin(folder: Path) -> Path:
    """Standard input saved as the register file a run reads (workers reread it): JSONL when it starts with
    ``{``, CSV otherwise."""
    data = sys.stdin.buffer.read()
    fmt = "jsonl" if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") else "csv"
    path = folder / f"stdin-enterprises.{fmt}"
    path.write_bytes(data)
    return path
