"""The columnar population path: a register assessed as polars frames, a chunk of rows at a time.

``incentives batch`` runs a register here (``_blocks`` reads Parquet, xlsx and JSONL as the same
blocks of text columns as a CSV; the per-enterprise path in ``batch.py`` remains for ``--path rows``). The awards, errors and summary are those of the
per-enterprise path, row for row:

- Reading: each table is read in blocks of whole lines by polars, a block ahead in a thread of its
  own; records are joined to their enterprise by a streaming merge when they are grouped in the
  enterprises' order, else indexed. A CSV or Parquet register is first read on trust (codes unique,
  records in order) and checked as it is read; where the trust fails, it is read again after
  ``scan_codes`` (``trust_codes``, ``Misjudged``).
- Validation as columns: credit-code check digits (a weighted sum mod 31), required cells, types
  in their plain written form (``300000.50``, ``true``, ``2025-09-12``), fields the record kind
  has, terms of the vocabulary. A row that does not pass, and every row of its enterprise, goes to
  the per-enterprise path, which reports the same error as ever or accepts a value written
  another way (``30万元``).
- Matching: each rule's condition tree compiled a second time into a polars expression. A missing
  fact is a null; polars' Kleene ``&``/``|`` are the three-valued ``all``/``any``; a rule pays
  where the expression is true. Rules are planned by their file: an enterprise's records meet the
  rules of the files covering it (province, city, county: ``Rulebook.covering``).
- Pricing in integer fen with half-up rounding (fixed, up_to, rate or matching with cap, brackets,
  multiplier); limits, conflicts, ``additional`` groups and caps as window operations in the
  engine's order (record date, record id, rule position); payer shares by largest remainder.
- A rule this module cannot compile (a rate fact, two caps, a money bound finer than the fen)
  falls back: every enterprise its file covers with a record such a rule could reward is assessed
  on the per-enterprise path, and the summary counts them.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import queue
import re
import tempfile
import threading
import types
import typing
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator, Literal

import numpy as np
import polars as pl

from incentives import readahead
from incentives._output import scratch_folder
from incentives.readahead import LineBlocks, plain_lines
from incentives._tabular import ENTERPRISE_COLUMNS, RECORD_COLUMNS, AwardWriter, Misjudged, Row, Table, _lines, csv_row
from incentives.amounts import Amount, Tier
from incentives.conditions import All, Any_, Node, Op, Test
from incentives.divisions import LEVELS, UNKNOWN_COUNTY
from incentives.errors import Location, SourceError
from incentives.facts import _CODE_CHARS, _CODE_WEIGHTS, DERIVED_FACTS, RATE_FIELDS, RECORD_MODELS, field_kind
from incentives.rulebook import CompiledRule, Rulebook

# A chunk's frames are in memory already: polars' in-memory engine runs their lazy queries 10-25% faster
# than the streaming engine its default picks (3-5 ms a chunk, one thread, alternated in one process).
IN_MEMORY: Literal["in-memory"] = "in-memory"
BLOCK_BYTES = readahead.BLOCK_BYTES   # bytes of the enterprises table read per chunk (about 100,000 enterprises)
THREADS = 2                     # chunks assessed at once (each holds a chunk's frames in memory)
_S = pl.String


class NotVectorised(Exception):
    """A rule form this module does not compile: its enterprises take the per-enterprise path."""


# ------------------------------------------------------------------------------------ reading
@dataclass
class Block:
    """Rows of one table as string columns, with their 1-based data-row numbers and lines."""

    frame: pl.DataFrame     # one String column per header column, plus _number, _line, _ragged, and
    # _cells (every value of the row) and _problem (what is wrong with it) where it was read line by line


class TableReader:
    """A CSV table read in blocks of whole lines: by polars where a block is plain (no quote, no
    carriage return but before a newline, no blank line), by the csv module otherwise, with the same row
    numbers. A thread reads and parses the blocks (``readahead.ReadAhead``), begun while the engine loaded
    where the command started it (``readahead.claim``)."""

    def __init__(self, table: Table, block_bytes: int, plain: bool = False) -> None:
        self.table = table
        self.names = list(table.columns)
        self.block_bytes = block_bytes
        self.width = len(self.names) + table.unnamed   # the header's cells, named or not
        claimed = readahead.claim(table.path, block_bytes, self.width) if table.name is None else None
        self.ahead = claimed or readahead.ReadAhead(table.path, block_bytes, readahead.KEPT, self.width)
        self.ahead.reading(plain)
        self.number = 0     # data rows seen (blank rows counted, as the csv path counts them)
        self.line = 2       # the line the next row starts on

    def close(self) -> None:
        self.ahead.stop()   # its thread may still be reading: stopped, then the file closed

    def blocks(self) -> Iterator[Block]:
        for parsed in self.ahead.parsed():
            yield self._block(parsed)

    def _block(self, parsed: readahead.Parsed) -> Block:
        frame, width = parsed.frame, len(self.names)
        if frame is not None:
            frame.columns = self.names + [f"_unnamed{i}" for i in range(self.table.unnamed)]
            if self.table.unnamed:   # a header's trailing commas: a value under no name, the csv module's reading says where
                unnamed = frame.columns[width:]
                frame = None if frame.select(pl.any_horizontal(pl.col(unnamed).str.strip_chars() != "")).to_series() \
                    .any() else frame.drop(unnamed)
        lines = parsed.lines if parsed.lines is not None else frame.height if frame is not None else 0
        if frame is None or frame.height != lines:
            return self._parse_csv(parsed.block, width)
        start, line0 = self.number, self.line
        self.number += lines
        self.line += lines
        return Block(frame.with_columns(
            _number=pl.int_range(start + 1, start + 1 + lines, dtype=pl.Int64),
            _line=pl.int_range(line0, line0 + lines, dtype=pl.Int64),
            _ragged=pl.lit(False), _cells=pl.lit(None, dtype=pl.List(_S)), _problem=pl.lit(None, dtype=_S),
            _bare=pl.lit(not parsed.spaced)))

    def _parse_csv(self, block: bytes, width: int) -> Block:
        """A block that is not plain, line by line as the per-enterprise path reads it (``csv_row``): a
        line that is not UTF-8, whose quotes do not close, or of the wrong width keeps its problem, and
        its enterprise goes to the per-enterprise path, which reports it; the lines after it are read."""
        rows: list[Row] = []
        for raw in _lines(io.BytesIO(block)):
            self.number += 1
            row = csv_row(self.table, self.number, raw)
            if row is not None:
                rows.append(row)
        self.line = self.number + 2
        columns = {n: [r.cells[i] if i < len(r.cells) and not r.problem else None for r in rows]
                   for i, n in enumerate(self.names)}
        if rows and any(r.problem for r in rows):   # the key of a bad row, as well as it could be read
            columns["credit_code"] = [r.code if r.problem else c for r, c in zip(rows, columns["credit_code"])]
        frame = pl.DataFrame(columns, schema={n: _S for n in self.names}).with_columns(
            _number=pl.Series([r.number for r in rows], dtype=pl.Int64),
            _line=pl.Series([r.line for r in rows], dtype=pl.Int64),
            _ragged=pl.Series([r.problem is not None or len(r.cells) != width for r in rows], dtype=pl.Boolean),
            _cells=pl.Series([r.cells for r in rows], dtype=pl.List(pl.String)),
            _problem=pl.Series([r.problem for r in rows], dtype=pl.String), _bare=pl.lit(False))
        return Block(frame)


# ------------------------------------------------------------------------------------ validation
_MONEY_RE = r"^[0-9]{1,15}(\.[0-9]{1,2})?$"   # fen fit in 64 bits; a larger sum takes the per-enterprise path
_DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_RATE_RE = r"^(0(\.[0-9]+)?|1(\.0+)?|\.[0-9]+)$"
SIZES = ("micro", "small", "medium", "large")
_OWN = ("credit_code", "record_id", "kind", "date", "note")


def bare(frame: pl.DataFrame) -> bool:
    """Whether every row of a block comes from plain CSV bytes holding no white space (``_bare``): each cell
    is then stripped already and an empty one null, so ``_blank`` has nothing to do (most registers)."""
    return "_bare" in frame.columns and bool(frame["_bare"].all())


def _blank(name: str, bare: bool = False) -> pl.Expr:
    if bare:
        return pl.col(name)
    value = pl.col(name).str.strip_chars()
    return pl.when(value == "").then(None).otherwise(value).alias(name)


# a byte → its value in a code, 255 where a code may not hold it: a table for ``bytes.translate``
_CODE_VALUES = bytes(_CODE_CHARS.index(chr(b)) if chr(b) in _CODE_CHARS else 255 for b in range(256))


def check_digit_ok(codes: pl.Series) -> pl.Series:
    """Whether each code is 18 allowed characters with the right check digit (GB 32100), by numpy over the
    codes of 18 bytes laid end to end: their values by one ``bytes.translate``, and the weighted sum a column
    at a time, added in place (a regular expression, numpy's take, a matrix product over small integers or
    a row-wise reduction costs more)."""
    sized = (codes.str.len_bytes() == 18).fill_null(False)
    whole = bool(sized.all())
    if not whole and not sized.any():
        return pl.Series(codes.name, np.zeros(codes.len(), dtype=bool))
    text = (codes if whole else codes.filter(sized)).str.join("").item().encode("utf-8").translate(_CODE_VALUES)
    values = np.frombuffer(text, dtype=np.uint8).reshape(-1, 18)
    total = values[:, 0].astype(np.int32)
    for i, weight in enumerate(_CODE_WEIGHTS[1:], start=1):
        total += values[:, i] * np.int32(weight)
    good = values[:, 17] == (31 - total % 31) % 31
    if 255 in text:   # a byte no code holds (most blocks have none)
        good &= (values != 255).all(axis=1)
    if whole:
        return pl.Series(codes.name, good)
    ok = np.zeros(codes.len(), dtype=bool)
    ok[np.flatnonzero(sized.to_numpy())] = good
    return pl.Series(codes.name, ok)


def _fen(text: pl.Expr) -> pl.Expr:
    """``300000.5`` → 30000050, for text already matched by ``_MONEY_RE`` (15 digits, 2 decimals at most):
    polars reads such a decimal exactly, five times faster than splitting the text."""
    return (text.cast(pl.Decimal(17, 2), strict=False) * 100).cast(pl.Int64)


def _terms_pattern(terms: Any) -> str:
    """A list cell (``a;b``, empty parts allowed) whose every part is one of ``terms``."""
    one = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)) or "(?!)"
    return rf"^\s*(?:{one})?\s*(?:;\s*(?:{one})?\s*)*$"


def _list(text: pl.Expr) -> pl.Expr:
    return text.str.split(";").list.eval(pl.element().str.strip_chars()).list.eval(
        pl.element().filter(pl.element() != ""))


_PROFILE = ("credit_code", "name", "city", "county", "clusters", "industries", "size")


def enterprises_frame(frame: pl.DataFrame, book: Rulebook) -> pl.DataFrame:
    """A keyed block's enterprises (``Register._keyed_ents``) typed, with ``_ok``: true where the row passes
    every check the models make."""
    vocab = book.vocabulary
    cols = frame.columns
    stripped = bare(frame)
    get = {c: (_blank(c, stripped) if c in cols else pl.lit(None, dtype=_S)) for c in ENTERPRISE_COLUMNS}
    code = pl.when(pl.col("_key") != "").then(pl.col("_key"))   # the reader's key: stripped, upper case
    industries = vocab.terms.get("enterprise.industries", {})
    sizes = [s for s in SIZES if vocab.has("enterprise.size", s)] if vocab.knows("enterprise.size") else list(SIZES)
    typed = frame.select(
        pl.col("_number"), pl.col("_line"), pl.col("_ragged"),
        code.alias("credit_code"), get["name"].alias("name"), get["city"].alias("city"),
        # a column not checked here (a profile field added to the schema, a yearly figure): empty
        pl.all_horizontal(pl.lit(True), *(_blank(c, stripped).is_null() for c in cols if not c.startswith("_")
                                          and c not in _PROFILE)).alias("_known"),
        get["county"].alias("county"), get["clusters"].alias("_clusters"), get["industries"].alias("_industries"),
        get["size"].alias("enterprise.size"))
    ok = (~pl.col("_ragged") & pl.col("name").is_not_null() & pl.col("city").is_not_null()
          & (pl.col("enterprise.size").is_null() | pl.col("enterprise.size").is_in(sizes)))
    return typed.with_columns(_ok=ok & pl.col("_known") & check_digit_ok(typed["credit_code"])
                              & _each_value(typed["_industries"], lambda v: v.str.contains(_terms_pattern(industries))))


def _each_value(column: pl.Series, test: Callable[[pl.Series], pl.Series]) -> pl.Series:
    """``test`` of each cell of a column of few values (a regular expression costs a microsecond a row),
    run once per value: true where the cell is empty or its value passes."""
    values = column.drop_nulls().unique()
    return column.is_null() | column.is_in(values.filter(test(values)).implode())


def _plain(info: Any) -> bool:
    """Whether a field is one the column checks cover: text, money, rate, bool or date, no constraint."""
    args = [a for a in typing.get_args(info.annotation) if a is not type(None)]
    inner = args[0] if typing.get_origin(info.annotation) in (typing.Union, types.UnionType) and len(args) == 1 \
        else info.annotation
    if typing.get_origin(inner) is typing.Annotated:
        inner = typing.get_args(inner)[0]
    from pydantic.functional_validators import BeforeValidator

    if inner is Decimal:  # money and rates: parsed by their own validator, checked here by their written form
        return all(isinstance(m, BeforeValidator) for m in info.metadata)
    return not info.metadata and inner in (str, bool, dt.date)


def _record_types() -> dict[str, str]:
    """Each record field's type for the columns: money, rate, bool, date, text, or other (not checked:
    a record with a value there goes to the per-enterprise path)."""
    found: dict[str, str] = {}
    for kind, model in RECORD_MODELS.items():
        for name, info in model.model_fields.items():
            if name in ("id", "kind", "date", "note"):
                continue
            ftype = "rate" if f"{kind}.{name}" in RATE_FIELDS else field_kind(info.annotation)
            ftype = ftype if _plain(info) else "other"
            found[name] = ftype if found.get(name, ftype) == ftype else "other"
    return found


RECORD_TYPES = _record_types()


def records_frame(frame: pl.DataFrame, book: Rulebook, achieved: set[str] | None = None) -> pl.DataFrame:
    """The records typed (money in fen, dates, booleans), with ``_ok`` where every check passes; ``_ach``
    for the kinds ``achieved`` (every kind by default: see ``Frames.achieved``), null for the others."""
    vocab = book.vocabulary
    # a column with no value in this block is checked as one the table does not have: the same verdicts
    present = [c for c in frame.columns if (c in RECORD_COLUMNS or c == "note") and frame[c].null_count() < frame.height]
    if not bare(frame):
        frame = frame.with_columns(_blank(c) for c in present)   # stripped, an empty cell null: once
    col = {c: pl.col(c) if c in present else pl.lit(None, dtype=_S) for c in (*RECORD_COLUMNS, "note")}
    if "date" in present:   # parsed once: the checks and the typed column read it
        frame = frame.with_columns(_date=pl.col("date").str.to_date("%Y-%m-%d", strict=False))
    kind = col["kind"]
    # the kinds the block holds: a check about another kind has no row to refuse (a row of an unknown kind
    # is refused by the first checks whatever the others say)
    held = set(frame["kind"].unique().to_list()) & set(RECORD_MODELS) if "kind" in present else set()
    date = pl.col("_date") if "date" in present else pl.lit(None, dtype=pl.Date)
    checks = [~pl.col("_ragged"), pl.col("_code").is_not_null(), col["record_id"].is_not_null(),
              kind.is_in(list(RECORD_MODELS)).fill_null(False),
              col["date"].str.contains(_DATE_RE).fill_null(False), date.is_not_null()]
    out: list[pl.Expr] = [pl.col("_number"), pl.col("_line"), pl.col("_ragged"), pl.col("_code"),
                          col["record_id"].alias("record.id"), kind.alias("record.kind"), date.alias("record.date")]
    for name, ftype in RECORD_TYPES.items():
        value = col[name]
        kinds = [k for k, m in RECORD_MODELS.items() if name in m.model_fields]
        required = [k for k in kinds if RECORD_MODELS[k].model_fields[name].is_required()]
        if name in present and not held <= set(kinds):
            checks.append(value.is_null() | kind.is_in(kinds).fill_null(False))
        if held & set(required):
            checks.append(~(kind.is_in(required).fill_null(False) & value.is_null()))
        if name not in present:
            out.append(pl.lit(None, dtype={"money": pl.Int64, "bool": pl.Boolean}.get(ftype, _S)).alias(f"record.{name}"))
            continue
        if ftype == "money":
            checks.append(value.is_null() | value.str.contains(_MONEY_RE))
            typed = pl.when(value.str.contains(_MONEY_RE)).then(_fen(value)).otherwise(None)
        elif ftype == "bool":
            checks.append(value.is_null() | value.is_in(["true", "false"]))
            typed = value == "true"
        elif ftype == "rate":
            checks.append(value.is_null() | value.str.contains(_RATE_RE))
            typed = value
        elif ftype != "text":
            checks.append(value.is_null())
            typed = value
        else:
            typed = value
            for k in kinds:
                vfield = f"{k}.{name}"
                if k in held and vocab.knows(vfield):
                    checks.append(~((kind == k).fill_null(False) & value.is_not_null()
                                    & ~value.is_in(list(vocab.terms[vfield]))))
        out.append(typed.alias(f"record.{name}"))
    checked = frame.lazy().select(*out, pl.all_horizontal(checks).alias("_ok")).collect(engine=IN_MEMORY)  # lazy:
    return checked.with_columns(_achieved(frame, col, held if achieved is None else held & achieved))  # shared parts


def _achieved(frame: pl.DataFrame, col: dict[str, pl.Expr], kinds: set[str]) -> pl.Series:
    """``_ach`` of a block's records, computed over the rows of ``kinds`` alone (a few of a block: polars
    computes every branch of the identity's ``when`` chain over every row it is given), null elsewhere."""
    empty = pl.repeat(None, frame.height, dtype=_S, eager=True).alias("_ach")
    if not kinds:
        return empty
    rows = frame.select(col["kind"].is_in(sorted(kinds)).fill_null(False)).to_series()
    if not rows.any():
        return empty
    identities = frame.lazy().filter(rows).select(_achievement(col, kinds)).collect(engine=IN_MEMORY)  # their columns only
    return empty.scatter(rows.arg_true(), identities.to_series())


def _achievement(col: dict[str, pl.Expr], kinds: set[str]) -> pl.Expr:
    """``_ach``: the record's achievement identity as one text (``Record.achievement``): its kind and the
    values of the kind's ``same_achievement`` fields where all are given, else of its identity fields, or,
    where the kind has none or one is empty, its own id; for ``kinds`` only (those the block holds that a
    rule reads it of), else null."""
    sep = "\x1f"
    own = pl.concat_str([pl.lit("#"), col["kind"], col["record_id"]], separator=sep)
    ach: Any = None
    # fields that identify it on their own come first; their text is marked "=" apart from the others
    marks: tuple[tuple[str, list[pl.Expr]], ...] = (("same_achievement_fields", [pl.lit("=")]),
                                                    ("achievement_fields", []))
    for attr, mark in marks:
        for kind, model in RECORD_MODELS.items():
            names = getattr(model, attr)
            if not names or kind not in kinds:
                continue
            values = [col[n].str.strip_chars() for n in names]
            when = (col["kind"] == kind) & pl.all_horizontal([v.is_not_null() & (v != "") for v in values])
            text = pl.concat_str([pl.lit(kind), *mark, *values], separator=sep)
            ach = pl.when(when).then(text) if ach is None else ach.when(when).then(text)
    mine = (own if ach is None else ach.otherwise(own))
    return pl.when(col["kind"].is_in(sorted(kinds))).then(mine).alias("_ach")


# ------------------------------------------------------------------------------------ rules as expressions
def _leaf(test: Test, columns: dict[str, pl.DataType]) -> pl.Expr:
    fact, op, value = test.fact, test.op, test.value
    if fact not in columns:
        raise NotVectorised(f"{fact} is not a column")
    col = pl.col(fact)
    dtype = columns[fact]
    if fact.partition(".")[2] in RECORD_TYPES and RECORD_TYPES[fact.partition(".")[2]] == "rate" \
            and fact.startswith("record."):
        raise NotVectorised(f"{fact} is a rate")
    lit: Any = value
    if isinstance(value, Decimal):
        if dtype != pl.Int64:
            raise NotVectorised(f"{fact} compared with a number")
        fen = value * 100
        if fen != fen.to_integral_value():
            raise NotVectorised(f"{value} is finer than the fen")
        lit = int(fen)
    compare: pl.Expr
    if op is Op.IS:
        compare = col == lit
    elif op is Op.IS_NOT:
        compare = col != lit
    elif op is Op.ONE_OF:
        compare = col.is_in(list(lit))
    elif op in (Op.AT_LEAST, Op.ON_OR_AFTER):
        compare = col >= lit
    elif op is Op.MORE_THAN:
        compare = col > lit
    elif op in (Op.AT_MOST, Op.ON_OR_BEFORE):
        compare = col <= lit
    elif op is Op.LESS_THAN:
        compare = col < lit
    elif op is Op.INCLUDES and isinstance(dtype, pl.List):
        compare = col.list.contains(lit)
    elif op is Op.INCLUDES_ANY and isinstance(dtype, pl.List):
        compare = pl.any_horizontal([col.list.contains(v) for v in lit])
    elif op is Op.NOT_EMPTY and isinstance(dtype, pl.List):
        compare = (col.list.len() > 0) == bool(lit)
    else:
        raise NotVectorised(f"{op.value} on {fact}")
    return compare   # null where the fact is: polars' comparisons, is_in and list.contains give null for a null


def truth(node: Node, columns: dict[str, pl.DataType]) -> pl.Expr:
    """The tree as a nullable boolean expression: true, false, or null where it is unknown."""
    if isinstance(node, Test):
        return _leaf(node, columns)
    if not isinstance(node, (All, Any_)):
        raise NotVectorised(f"{type(node).__name__} conditions read the whole enterprise")
    parts = [truth(c, columns) for c in node.children]
    if not parts:
        return pl.lit(isinstance(node, All), dtype=pl.Boolean)
    out = parts[0]
    for p in parts[1:]:
        out = (out & p) if isinstance(node, All) else (out | p)
    return out


def _times(fen: pl.Expr, factor: Decimal) -> pl.Expr:
    """``fen × factor`` rounded half up to the fen, in integers (fen is never negative)."""
    p, q = factor.as_integer_ratio()
    if q > 10**18 or p > 10**18:
        raise NotVectorised(f"factor {factor} has too many digits for integer columns")
    wide = fen.cast(pl.Int128)
    return ((wide * (2 * p) + q) // (2 * q)).cast(pl.Int64)


def _cap(amount: pl.Expr, cap: Decimal | None) -> pl.Expr:
    if cap is None:
        return amount
    cap_fen = _fen_of(cap)
    return pl.when(amount > cap_fen).then(pl.lit(cap_fen, dtype=pl.Int64)).otherwise(amount)


def _fen_of(money: Decimal) -> int:
    from incentives.money import to_fen
    return int(to_fen(money) * 100)


def _bound(money: Decimal) -> int:
    fen = money * 100
    if fen != fen.to_integral_value():
        raise NotVectorised(f"bound {money} is finer than the fen")
    return int(fen)


def _money_column(fact: str, columns: dict[str, pl.DataType]) -> pl.Expr:
    if fact not in columns or columns[fact] != pl.Int64:
        raise NotVectorised(f"{fact} is not a money column")
    return pl.col(fact)


def price(amount: Amount, tier_trees: tuple[All, ...], book: Rulebook, columns: dict[str, pl.DataType],
          depth: int = 0) -> tuple[pl.Expr, pl.Expr]:
    """(priced, fen): whether the amount is determined on the row, and its fen (null for no sum)."""
    if depth > 8:
        raise NotVectorised("multipliers nested too deep")
    none = pl.lit(None, dtype=pl.Int64)
    form = amount.form
    if form not in _PRICED or amount.at_most is not None or amount.reads_whole:
        raise NotVectorised(f"amount form {form}")
    if form in ("unquantified", "non_monetary"):
        return pl.lit(True), none
    if form in ("fixed", "up_to"):
        value = amount.fixed if form == "fixed" else amount.up_to
        assert value is not None
        return pl.lit(True), pl.lit(_fen_of(value), dtype=pl.Int64)
    if form == "multiplier":
        assert amount.of_rule is not None and amount.multiplier is not None
        inner = book.by_id[amount.of_rule]
        ok, fen = price(inner.rule.amount, inner.tier_trees, book, columns, depth + 1)
        return ok, pl.when(fen.is_null()).then(none).otherwise(_cap(_times(fen, amount.multiplier), amount.cap))
    if form == "brackets":
        assert amount.brackets is not None
        base = _money_column(amount.brackets.of, columns)
        chain: Any = None
        found = pl.lit(False)
        for tier, tree in zip(amount.brackets.tiers, tier_trees):
            inside = _contains(tier, base) & truth(tree, columns).fill_null(False)
            if tier.fixed is not None:
                tier_fen: pl.Expr = pl.lit(_fen_of(tier.fixed), dtype=pl.Int64)
            else:
                assert tier.rate is not None
                tier_fen = _cap(_times(base, tier.rate), tier.cap)
            chain = pl.when(inside).then(tier_fen) if chain is None else chain.when(inside).then(tier_fen)
            found = found | inside
        return base.is_not_null() & found, chain.otherwise(none)
    base = _money_column(amount.of or "", columns)
    rate = amount.rate if form == "rate" else amount.matching
    assert rate is not None
    return base.is_not_null(), _cap(_times(base, rate), amount.cap)


_PRICED = ("fixed", "up_to", "unquantified", "non_monetary", "multiplier", "brackets", "rate", "matching")


def _contains(tier: Tier, base: pl.Expr) -> pl.Expr:
    out = base.is_not_null()
    for bound, compare in ((tier.at_least, base.__ge__), (tier.more_than, base.__gt__),
                           (tier.at_most, base.__le__), (tier.less_than, base.__lt__)):
        if bound is not None:
            out = out & compare(_bound(bound))
    return out


@dataclass
class Plan:
    """A rule compiled for frames: its position in the engine's order, its condition and price."""

    rule: CompiledRule
    position: int
    holds: pl.Expr
    priced: pl.Expr
    fen: pl.Expr
    base: pl.Expr | None = None   # ``base_needs: achieved``: a record holding its base's achievement


@dataclass
class PlacePlans:
    """The rules of one file (a province's, a city's or a county's), compiled for frames."""

    by_kind: dict[str, list[Plan]] = field(default_factory=dict)
    fallback: list[CompiledRule] = field(default_factory=list)   # rules not compiled
    reach: list[pl.Expr] = field(default_factory=list)           # the records each of them might reward


def _reach(rule: CompiledRule, columns: dict[str, pl.DataType]) -> pl.Expr:
    """The records a rule the frames do not price might reward: of its kind, where its conditions hold or
    cannot be told (a condition the frames do not compile: every record of the kind). Only their
    enterprises go to the per-enterprise path; a rule that rewards none of an enterprise's records
    changes nothing the frames decide for it (limits, conflicts, groups and caps count paying rules)."""
    of_kind = pl.col("record.kind") == str(rule.rule.rewards["kind"])
    try:
        return of_kind & truth(rule.tree, columns).fill_null(True)
    except NotVectorised:
        return of_kind


def _engine_order(book: Rulebook) -> dict[str, int]:
    """Each rule's place in the engine's order: the files covering an enterprise from the province down
    (``Rulebook.covering``), each file's rules as written. One enterprise's files are of three levels,
    so ordering every rule by its file's level, then as loaded, orders the rules of any one path."""
    ranked = sorted(enumerate(book.rules), key=lambda nr: (LEVELS.index(nr[1].level), nr[0]))
    return {r.id: n for n, (_, r) in enumerate(ranked)}


def _rule_table(book: Rulebook, payers: tuple[str, ...]) -> pl.DataFrame:
    """One row per rule: what combination and the award rows need, keyed by ``_rule`` position."""
    rows: dict[str, list[Any]] = {k: [] for k in (
        "_rule", "rule_id", "title", "status", "_limit", "_group", "_all", "_adds_to", "_needs", "_cap_name", "_cap",
        "_cap_year", "document_number", "clause", "quote", "_specified", "_den")}
    for p in payers:
        rows[f"_w_{p}"] = []
        rows[f"_o_{p}"] = []
    ranks = _engine_order(book)
    for r in book.rules:
        cap = r.caps[0] if len(r.caps) == 1 else None
        rows["_rule"].append(ranks[r.id])
        rows["rule_id"].append(r.id)
        rows["title"].append(r.rule.title.zh)
        rows["status"].append(r.rule.amount.status)
        rows["_limit"].append(r.rule.limit)
        rows["_group"].append(r.rule.group)
        rows["_all"].append(r.group is not None and r.group.combine != "highest")
        rows["_adds_to"].append(ranks.get(r.adds_to) if r.adds_to else None)
        rows["_needs"].append(r.group.base_needs if r.group is not None else "paid")
        rows["_cap_name"].append(cap[0] if cap else None)
        rows["_cap"].append(_fen_of(cap[1]) if cap else None)
        rows["_cap_year"].append(bool(cap[2]) if cap else False)
        rows["document_number"].append(r.document.number)
        rows["clause"].append(r.rule.cite.clause)
        rows["quote"].append(r.rule.cite.quote)
        rows["_specified"].append(r.shares is not None)
        den, weights = 1, {}
        if r.shares is not None and _split_vectorised(r):
            ratios = {p: s.as_integer_ratio() for p, s in r.shares.items()}
            den = math.lcm(*(d for _, d in ratios.values())) if ratios else 1
            weights = {p: num * (den // d) for p, (num, d) in ratios.items()}
        rows["_den"].append(den)
        order = list(weights)
        for p in payers:
            rows[f"_w_{p}"].append(weights.get(p))
            rows[f"_o_{p}"].append(order.index(p) if p in weights else None)
    schema = {**dict.fromkeys(rows, pl.String), "_all": pl.Boolean, "_cap_year": pl.Boolean, "_specified": pl.Boolean,
              "_rule": pl.Int64, "_adds_to": pl.Int64, "_cap": pl.Int64, "_den": pl.Int128,   # typed with no rule too
              **{f"_w_{p}": pl.Int128 for p in payers}, **{f"_o_{p}": pl.Int64 for p in payers}}
    return pl.DataFrame(rows, schema_overrides=schema)


_RULES = 1 << 20   # more than a rulebook's rules: an enterprise and a rule position as one integer
_STEPS = ("_rule", "_limit", "_group", "_all", "_adds_to", "_needs", "_cap_name", "_cap", "_cap_year")
_NO_BASES = pl.DataFrame(schema={"_e": pl.Int64, "_rule": pl.Int64, "_since": pl.Date})


def _refuse(c: pl.DataFrame, rows: pl.Series, keep: pl.Expr) -> pl.DataFrame:
    """``c`` less those of ``rows`` (a mask) where ``keep``, read over those rows alone, is false."""
    if not rows.any():
        return c
    return c.filter((~rows).scatter(rows.arg_true(), c.filter(rows).select(keep).to_series()))


def _split_vectorised(rule: CompiledRule) -> bool:
    """Whether the shares fit integer columns: a denominator of at most 10^20 (1:2 written as 1/3 has 10^28)."""
    if rule.shares is None:
        return True
    return math.lcm(*(s.as_integer_ratio()[1] for s in rule.shares.values())) <= 10**20


def _columns(book: Rulebook) -> dict[str, pl.DataType]:
    columns: dict[str, pl.DataType] = {
        "record.kind": pl.String(), "record.date": pl.Date(), "record.id": pl.String(),
        "enterprise.clusters": pl.List(pl.String()), "enterprise.industries": pl.List(pl.String()),
        "enterprise.size": pl.String(), "enterprise.sme": pl.Boolean(), "enterprise.city": pl.String()}
    for fact in DERIVED_FACTS:
        columns[fact] = pl.List(pl.String())
    for name, ftype in RECORD_TYPES.items():
        if ftype in ("money", "bool", "text"):
            columns[f"record.{name}"] = {"money": pl.Int64(), "bool": pl.Boolean()}.get(ftype, pl.String())
    return columns


# ------------------------------------------------------------------------------------ assessing a chunk
@dataclass
class Verdict:
    """What the frames decided for a chunk: award rows, and the enterprises left to the other path."""

    awards: pl.DataFrame            # one row per award, in the engine's order within each enterprise
    slow: set[int]                  # enterprise positions (``_e``) for the per-enterprise path
    fallback: int                   # of those, the enterprises sent there by a rule not compiled


class Frames:
    """A rulebook compiled for frames: plans per file, the rule table, and the assessment of a chunk.

    An enterprise is assessed against the plans of every file covering it, as the engine picks them
    (``Rulebook.covering``: its province's, city's and county's files, by id or name): each distinct
    set of covering files is a numbered path, and each file's plans read the records of the
    enterprises whose path holds it."""

    def __init__(self, book: Rulebook, as_of: dt.date, payers: tuple[str, ...]) -> None:
        self.book, self.as_of, self.payers = book, as_of, payers
        self.columns = _columns(book)
        self.rules = _rule_table(book, payers)
        self.steps = self.rules.select(_STEPS)              # what ``combine`` reads
        self.texts = self.rules.drop(_STEPS[1:])            # the rest, joined to the rows it keeps
        self.places: dict[str, PlacePlans] = {}
        self.paths: dict[tuple[str, ...], int] = {}     # the files covering an enterprise → its path's number
        self.on_path: dict[str, list[int]] = {}         # a file → the paths that hold it
        self._numbering = threading.Lock()              # chunks may be assessed at once
        order = _engine_order(book)
        for place, loaded in book.files.items():
            plans = PlacePlans()
            for rule in loaded.rules:
                if rule.reported:
                    continue  # a reported amount is shown beside the official one, never a row
                try:
                    if rule.rule.limit not in ("once_per_record", "once_per_enterprise", "once_per_year",
                                               "once_per_achievement"):
                        raise NotVectorised(f"limit {rule.rule.limit}")
                    if len(rule.caps) > 1:
                        raise NotVectorised("two caps")
                    if not _split_vectorised(rule):
                        raise NotVectorised("payer shares with too many digits")
                    holds = truth(rule.tree, self.columns).fill_null(False)
                    priced, fen = price(rule.rule.amount, rule.tier_trees, book, self.columns)
                    base = pl.all_horizontal([_leaf(t, self.columns) for t in rule.base_selectors]).fill_null(False) \
                        if rule.group is not None and rule.group.base_needs == "achieved" and rule.adds_to else None
                except NotVectorised:
                    plans.fallback.append(rule)
                    plans.reach.append(_reach(rule, self.columns))
                    continue
                plans.by_kind.setdefault(str(rule.rule.rewards["kind"]), []).append(
                    Plan(rule, order[rule.id], holds, priced, fen, base))
            if plans.by_kind or plans.fallback:
                self.places[place] = plans
        exprs = [e for plans in self.places.values() for e in plans.reach] + [
            e for plans in self.places.values() for kind_plans in plans.by_kind.values()
            for plan in kind_plans for e in (plan.holds, plan.priced, plan.fen, *([plan.base] if plan.base is not None else []))]
        self.read = {name for e in exprs for name in e.meta.root_names()}   # the columns a rule reads

    @property
    def achieved(self) -> set[str]:
        """The record kinds whose achievement identity (``_ach``) a compiled rule reads: ``once_per_achievement``."""
        return {kind for plans in self.places.values() for kind, kind_plans in plans.by_kind.items()
                if any(plan.rule.rule.limit == "once_per_achievement" for plan in kind_plans)}

    @property
    def fallback_rules(self) -> list[str]:
        return [r.id for plans in self.places.values() for r in plans.fallback]

    def path(self, city: str, county: str | None) -> int:
        """The number of the path of files covering an enterprise of ``city`` and ``county``."""
        files = self.book.covering(city, county)
        with self._numbering:
            number = self.paths.get(files)
            if number is None:
                number = self.paths[files] = len(self.paths)
                for place in files:
                    self.on_path.setdefault(place, []).append(number)
        return number

    def assess(self, ents: pl.DataFrame, recs: pl.DataFrame) -> Verdict:
        """``ents``: valid enterprises with ``_e``; ``recs``: their valid records with ``_e`` and ``_r``."""
        everything = recs
        recs = recs.filter(pl.col("record.date") <= self.as_of)
        having = ents.join(recs.select("_e").unique(), on="_e", how="semi")  # lists only where a record reads them
        if "enterprise.recognitions" in self.read:
            recognitions = (everything.filter(pl.col("record.kind") == "recognition")   # dated or not yet
                            .select("_e", "record.title").unique().sort("_e", "record.title")   # 3× a list's sort
                            .group_by("_e", maintain_order=True).agg(pl.col("record.title").alias("enterprise.recognitions")))
            having = having.join(recognitions, on="_e", how="left").with_columns(
                pl.col("enterprise.recognitions").fill_null(pl.lit([], dtype=pl.List(pl.String))))
        where = having.select("city", "county").unique()
        where = where.with_columns(_path=pl.Series([self.path(c, k) for c, k in where.iter_rows()], dtype=pl.Int64))
        having = having.join(where, on=["city", "county"], how="left", nulls_equal=True)
        facts = {"enterprise.city": pl.col("city"), "enterprise.clusters": _list(pl.col("_clusters")),
                 "enterprise.industries": _list(pl.col("_industries")), "enterprise.size": pl.col("enterprise.size"),
                 "enterprise.sme": pl.col("enterprise.size") != "large",
                 "enterprise.recognitions": pl.col("enterprise.recognitions")}
        joined = recs.join(having.select("_e", "_path", *(fact.alias(name) for name, fact in facts.items()
                                                          if name in self.read)), on="_e", how="left")
        present = set(where["_path"].to_list())
        with self._numbering:
            on_path = {place: [n for n in self.on_path.get(place, ()) if n in present] for place in self.places}
        slow: set[int] = set()
        fallback = 0
        for place, plans in self.places.items():
            if plans.fallback and on_path[place]:
                sent = set(joined.filter(pl.col("_path").is_in(on_path[place]) & pl.any_horizontal(plans.reach))
                           ["_e"].unique().to_list())
                fallback += len(sent - slow)
                slow |= sent
        lazy = joined.lazy()
        if slow:   # such an enterprise is assessed on the other path by every file covering it
            lazy = lazy.filter(~pl.col("_e").is_in(list(slow)))
        pieces: list[pl.LazyFrame] = []
        for place, plans in self.places.items():
            if not on_path[place]:
                continue
            here = lazy.filter(pl.col("_path").is_in(on_path[place]))
            for kind, kind_plans in plans.by_kind.items():
                of_kind = here.filter(pl.col("record.kind") == kind)
                for plan in kind_plans:
                    pieces.append(of_kind.filter(plan.holds & plan.priced).select(
                        "_e", "_r", "record.id", "record.date", "_ach", plan.fen.alias("_fen"),
                        pl.lit(plan.position, dtype=pl.Int64).alias("_rule")))
        schema = {"_e": pl.Int64, "_r": pl.Int64, "record.id": pl.String, "record.date": pl.Date, "_ach": pl.String,
                  "_fen": pl.Int64, "_rule": pl.Int64}
        candidates = pl.concat(pieces).collect(engine=IN_MEMORY) if pieces else pl.DataFrame(schema=schema)
        return Verdict(self.combine(candidates, self._achieved_since(joined)), slow, fallback)

    def _achieved_since(self, joined: pl.DataFrame) -> pl.DataFrame:
        """For each rule whose group's base must be achieved (``base_needs: achieved``), the date each
        enterprise first held the base's achievement, by any of its records (dated in the window or not)."""
        bases = [joined.lazy().filter(plan.base).group_by("_e").agg(
                     _rule=pl.lit(plan.position, dtype=pl.Int64), _since=pl.col("record.date").min())
                 for plans in self.places.values() for kind_plans in plans.by_kind.values() for plan in kind_plans
                 if plan.base is not None]
        return pl.concat(bases).collect(engine=IN_MEMORY) if bases else _NO_BASES

    def uncovered(self, ents: pl.DataFrame) -> tuple[dict[str, int], dict[tuple[str, str | None], int]]:
        """Of the assessed ``ents``: per city, those no file covers; per (city, county), those whose
        county files were left out (``Rulebook.left_out``: county absent or not in the divisions table)."""
        no_rules: dict[str, int] = {}
        left_out: dict[tuple[str, str | None], int] = {}
        for city, county, n in ents.group_by("city", "county").len().iter_rows():
            if not self.book.covering(city, county):
                no_rules[city] = no_rules.get(city, 0) + n
            elif self.book.left_out(city, county):
                left_out[(city, county)] = n
        return no_rules, left_out

    def combine(self, c: pl.DataFrame, since: pl.DataFrame = _NO_BASES) -> pl.DataFrame:
        """Limits, conflicts on one record, ``additional`` groups and caps, as the engine applies them. Each
        step reads only the rows it can refuse (most candidates have no limit, rival, base or cap), on the
        rule columns the steps read; the rest of a rule's columns are joined to the rows kept. ``since``: when
        each enterprise first achieved the base of a rule whose group says ``base_needs: achieved``."""
        c = c.join(self.steps, on="_rule", how="left").sort(["_e", "record.date", "record.id", "_r", "_rule"])
        year = pl.col("record.date").dt.year()
        # limits: the first in order per (enterprise, rule[, year or achievement]) is paid
        scope = (pl.when(pl.col("_limit") == "once_per_year").then(year.cast(pl.String))
                 .when(pl.col("_limit") == "once_per_achievement").then(pl.col("_ach")).otherwise(pl.lit("")))
        c = _refuse(c, (c["_limit"] != "once_per_record").fill_null(True), pl.struct("_e", "_rule", scope).is_first_distinct())
        # several rules on one record: all where one group says all/additional, else the first highest.
        # A record's row (_r) stands for (enterprise, record id): a repeated id takes the other path.
        amount = pl.col("_fen").fill_null(0)
        top = amount == amount.max().over("_r")
        together = ((pl.col("_group").n_unique().over("_r") == 1) & (pl.col("_group").null_count().over("_r") == 0)
                    & pl.col("_all"))
        best = top & (pl.col("_r") * 2 + top.cast(pl.Int64)).is_first_distinct()  # a windowed cum_sum costs 15×
        c = _refuse(c, c["_r"].is_duplicated(), together | best)
        # additional: on top of the base as its group says: its award paid (an enterprise and a rule as one
        # number, _e·2²⁰ + rule), its achievement held on or before the added record's date, or nothing
        adds = c["_adds_to"].is_not_null()
        if adds.any():
            bases = c.filter(pl.col("_rule").is_in(c.filter(adds)["_adds_to"].unique().implode()))
            paying = bases.select(pl.col("_e") * _RULES + pl.col("_rule")).to_series()
            adding = c.filter(adds).join(since, on=["_e", "_rule"], how="left", maintain_order="left")
            kept = adding.select(pl.when(pl.col("_needs") == "achieved")
                                 .then((pl.col("_since") <= pl.col("record.date")).fill_null(False))
                                 .when(pl.col("_needs") == "nothing").then(True)
                                 .otherwise((pl.col("_e") * _RULES + pl.col("_adds_to")).is_in(paying.implode())))
            c = c.filter((~adds).scatter(adds.arg_true(), kept.to_series()))
        # caps: what is left of each cap, earliest records first; nothing left: not paid
        capped = c["_cap"].is_not_null() & c["_fen"].is_not_null()
        if capped.any():
            spent = pl.col("_fen").cum_sum().over("_e", "_cap_name", pl.when(pl.col("_cap_year")).then(year).otherwise(0))
            left = pl.col("_cap") - pl.min_horizontal(pl.col("_cap"), spent - pl.col("_fen"))
            capping = c.filter(capped).select(left.alias("left"), pl.min_horizontal(pl.col("_fen"), left).alias("paid"))
            at = capped.arg_true()
            c = c.with_columns(c["_fen"].clone().scatter(at, capping["paid"])).filter(
                (~capped).scatter(at, capping["left"] > 0))
        return self.split(c.join(self.texts, on="_rule", how="left", maintain_order="left"))

    def split(self, c: pl.DataFrame) -> pl.DataFrame:
        """Payer shares by largest remainder, ties to the order the shares were written."""
        fen = pl.col("_fen")
        exprs = []
        for p in self.payers:
            exprs.append((fen.cast(pl.Int128) * pl.col(f"_w_{p}")).alias(f"_x_{p}"))
        c = c.with_columns(exprs)
        den = pl.col("_den")   # each floor and remainder computed once (128-bit division is slow), then read
        c = c.with_columns(*[(pl.col(f"_x_{p}") // den).alias(f"_f_{p}") for p in self.payers],
                           *[(pl.col(f"_x_{p}") % den).alias(f"_m_{p}") for p in self.payers])
        floors = {p: pl.col(f"_f_{p}") for p in self.payers}
        rems = {p: pl.col(f"_m_{p}") for p in self.payers}
        left = fen - pl.sum_horizontal([floors[p].fill_null(0) for p in self.payers])
        out = []
        for p in self.payers:
            ahead = pl.sum_horizontal([
                ((rems[q] > rems[p]) | ((rems[q] == rems[p]) & (pl.col(f"_o_{q}") < pl.col(f"_o_{p}"))))
                .fill_null(False).cast(pl.Int64) for q in self.payers if q != p] or [pl.lit(0, dtype=pl.Int64)])
            share = (floors[p] + (ahead < left).cast(pl.Int64)).cast(pl.Int64)
            out.append(pl.when(pl.col(f"_w_{p}").is_null() | fen.is_null()).then(None).otherwise(share)
                       .alias(f"_p_{p}"))
        return c.with_columns(out).drop(*(f"_{k}_{p}" for k in "xfm" for p in self.payers))


# ------------------------------------------------------------------------------------ text of award rows
def money_text(fen: pl.Expr) -> pl.Expr:
    """Fen as the yuan text ``Decimal`` prints: ``30000050`` → ``300000.50`` (the cents as the last two digits
    of 100 + cents: a quarter less time than ``zfill``)."""
    return pl.when(fen.is_null()).then(pl.lit("")).otherwise(pl.concat_str(
        [(fen // 100).cast(pl.String), pl.lit("."), (fen % 100 + 100).cast(pl.String).str.slice(1)]))


def with_enterprise(awards: pl.DataFrame, ents: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """``awards`` with ``columns`` of their enterprise, taken by position: ``ents`` is a chunk's
    enterprises in order, the one at position ``_e`` on row ``_e`` (no join to hash)."""
    return awards.hstack(ents.select(columns).gather(awards["_e"]))


def award_text(awards: pl.DataFrame, ents: pl.DataFrame, payers: tuple[str, ...], digest: str) -> pl.DataFrame:
    """The award rows as ``awards.csv`` writes them, with ``_e`` for ordering; ``ents`` as ``with_enterprise``
    takes them."""
    joined = with_enterprise(awards, ents, "credit_code", "name", "city", "county").with_columns(
        money_text(pl.col("_fen")).alias("amount_max"))   # written once, the amount's text too where it is fixed
    fixed = pl.col("status") == "fixed"
    return joined.select(
        "_e", "credit_code", "name", "city", pl.col("county").fill_null(""), "rule_id", "title", "status",
        pl.when(fixed).then(pl.col("amount_max")).otherwise(pl.lit("")).alias("amount"), "amount_max",
        *[money_text(pl.col(f"_p_{p}")).alias(f"payer_{p}") for p in payers],
        pl.when(pl.col("_specified")).then(pl.lit("false")).otherwise(pl.lit("true")).alias("payers_unspecified"),
        pl.col("record.id").alias("record_id"), pl.col("document_number").fill_null(""), "clause", "quote",
        pl.lit(digest).alias("rulebook_hash"))



# ------------------------------------------------------------------------------------ the register
@dataclass
class Codes:
    """What the reading needs to know of the credit codes before it starts (``_tabular.Source``)."""

    ordered: bool                       # each code's records together, in the enterprises' order
    duplicates: dict[str, list[int]]    # a code on several enterprise rows → its data-row numbers
    block_bytes: int = 0                # every block of both tables read at this size was plain
    trusted: bool = False               # taken on trust (``trust_codes``): the reading checks them


def trust_codes(ents: Table, recs: Table) -> Codes | None:
    """The codes of a CSV or Parquet register taken on trust, as most registers are: none on two enterprise
    rows, the records in the enterprises' order. The merge join checks both as it reads (a code's records
    after another's, a code met twice), which spares the scan's pass over both tables; a register where
    either fails is read again after ``scan_codes`` (``Misjudged``). A JSONL register is scanned."""
    return scan_codes(ents, recs) if ents.fmt == "jsonl" else Codes(True, {}, 0, trusted=True)


def scan_codes(ents: Table, recs: Table, block_bytes: int | None = None) -> Codes | None:
    """The credit codes of both tables, read by polars a block at a time and kept as 64-bit hashes
    (8 bytes a row): whether the records are grouped in the enterprises' order, and which codes more
    than one enterprise row carries (checked exactly, on a second pass, only where two hashes meet).

    ``None`` where a table is not plain (a quote, a blank line, a row of the wrong width, a bad byte,
    an empty code): the reader that accounts for such rows one by one decides then."""
    size = block_bytes or BLOCK_BYTES
    if ents.fmt == "jsonl":   # one file, records inline: only the duplicated codes are to find
        from incentives._blocks import jsonl_duplicates

        lines = jsonl_duplicates(ents.path, size)
        return None if lines is None else Codes(True, lines)
    with ThreadPoolExecutor(2) as pool:   # polars parses one table while the other's bytes are counted
        ent_hashes, rec_hashes = pool.map(lambda table: _code_hashes(table, size), (ents, recs))
    if ent_hashes is None or rec_hashes is None:
        return None
    ranked = ent_hashes.sort()   # a sort, not a hash table: a tenth of the memory on ten million codes
    repeated = ranked.filter(ranked == ranked.shift(1))
    if repeated.is_empty():
        return Codes(_ordered(ent_hashes, rec_hashes, unique=True), {}, size)
    duplicates = _duplicate_rows(ents, size, set(repeated.unique().to_list()))
    return None if duplicates is None else Codes(_ordered(ent_hashes, rec_hashes, unique=False), duplicates, size)


def _code_blocks(table: Table, size: int) -> Iterator[pl.Series | None]:
    """Each block's credit codes as the reader keys them (stripped, upper case), or ``None`` for a
    block that is not plain."""
    if table.fmt == "parquet":
        from incentives._blocks import block_rows, parquet_codes

        yield from parquet_codes(table, block_rows(size))
        return
    width, column = len(table.columns) + table.unnamed, table.columns["credit_code"] - 1
    lines = LineBlocks(table.path, size)
    try:
        for block in lines:
            count = plain_lines(block, width)
            if count is None:
                yield None
                return
            try:
                frame = pl.read_csv(block, has_header=False, columns=[column], infer_schema=False)
            except pl.exceptions.PolarsError:   # not UTF-8, among others
                yield None
                return
            codes = frame.to_series(0).str.strip_chars().str.to_uppercase()
            if frame.height != count or codes.is_null().any() or (codes == "").any():
                yield None
                return
            yield codes
    finally:
        lines.close()


def _code_hashes(table: Table, size: int) -> pl.Series | None:
    hashes = []
    for codes in _code_blocks(table, size):
        if codes is None:
            return None
        hashes.append(codes.hash())
    return pl.concat(hashes) if hashes else pl.Series([], dtype=pl.UInt64)


def _duplicate_rows(table: Table, size: int, hashes: set[int]) -> dict[str, list[int]] | None:
    """The codes on several rows, with their 1-based row numbers, among the rows whose hash is in ``hashes``."""
    found: dict[str, list[int]] = {}
    start = 1
    for codes in _code_blocks(table, size):
        if codes is None:
            return None
        numbers = pl.int_range(start, start + codes.len(), eager=True)
        meet = codes.hash().is_in(list(hashes))
        for code, number in zip(codes.filter(meet).to_list(), numbers.filter(meet).to_list()):
            found.setdefault(code, []).append(number)
        start += codes.len()
    return {code: rows for code, rows in found.items() if len(rows) > 1}


def _ordered(ents: pl.Series, recs: pl.Series, unique: bool) -> bool:
    """Whether the records' runs of one code follow the enterprises' order (``_grouped_in_order``).
    With a code on two enterprise rows the greedy match of that check is followed exactly, in Python."""
    runs = recs.rle().struct.field("value")
    if not unique:
        found = iter(ents.to_list())
        return all(code in found for code in runs.to_list())
    # each run's code an enterprise's, in their order: the enterprises with records are the runs, one by one
    # (a set of the runs' codes, not a table of every enterprise's position: a tenth of the memory)
    having = ents.filter(ents.is_in(runs.implode()))
    return having.len() == runs.len() and bool((having == runs).all())


class Unordered(SourceError):
    """The merge join met records out of the enterprises' order after the code scan found them in order
    (which only a file changed while it is read could do): the run stops, its partial folder removed."""

    def __init__(self, table: Table) -> None:
        super().__init__("the records are not grouped in the enterprises' order as they were when the run began "
                         "(was the file changed while it was read?): run again", location=Location(table.label))


def _key(column: str, stripped: bool = False) -> pl.Expr:
    text = pl.col(column).fill_null("")
    return (text if stripped else text.str.strip_chars()).str.to_uppercase()


def _row(raw: dict[str, Any], names: list[str], code_column: str) -> Row:
    cells = raw.get("_cells")
    typed = raw.get("_typed")   # a Parquet row's cells that are not text, as the per-enterprise path reads them
    if cells is None:
        cells = ["" if raw[n] is None else raw[n] for n in names] if typed is None else \
            [typed[n] if n in typed else raw[n] for n in names]
    code = raw.get(code_column)
    return Row(raw["_number"], raw["_line"], list(cells), str(code).strip().upper() if code is not None else "",
               raw.get("_problem"))


@dataclass
class Counts:
    """What the columnar run adds to the summary: how many enterprises each path assessed."""

    columnar: int = 0
    per_enterprise: int = 0     # rows that did not pass the column checks (errors, or values written otherwise)
    fallback: int = 0           # enterprises sent to the per-enterprise path by a rule not compiled

    def as_dict(self) -> dict[str, int]:
        return {"columnar": self.columnar, "per_enterprise": self.per_enterprise, "fallback": self.fallback}

    def add(self, other: Counts) -> None:
        self.columnar += other.columnar
        self.per_enterprise += other.per_enterprise
        self.fallback += other.fallback


class _Ahead:
    """The items of an iterator made one ahead in a thread of its own, handed over in order; its exception
    is raised where the next item is asked for. ``close`` stops the thread (at its next item)."""

    _END = object()

    def __init__(self, items: Iterator[Any]) -> None:
        self.queue: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(1)
        self.stop = threading.Event()
        self.done = False
        self.thread = threading.Thread(target=self._make, args=(items,), daemon=True)
        self.thread.start()

    def _make(self, items: Iterator[Any]) -> None:
        try:
            for item in items:
                if not self._hand((item, None)):
                    return
            self._hand((self._END, None))
        except BaseException as e:   # raised again in the reading thread
            self._hand((self._END, e))

    def _hand(self, entry: tuple[Any, BaseException | None]) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> _Ahead:
        return self

    def __next__(self) -> Any:
        if self.done:
            raise StopIteration
        item, error = self.queue.get()
        if item is self._END:
            self.done = True
            if error is not None:
                raise error
            raise StopIteration
        return item

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


class Register:
    """A register (CSV, Parquet or xlsx tables, or a JSONL file) read and assessed by frames; ``results`` yields
    ``batch._ChunkResult``s in input order, one per block of the enterprises table after the first ``skip``."""

    def __init__(self, ents: Table, recs: Table, assessor: Any, block_bytes: int | None = None,
                 join: str = "merge", threads: int | None = None, out_fmt: str = "csv") -> None:
        self.ents, self.recs, self.assessor = ents, recs, assessor
        self.book: Rulebook = assessor.book
        self.block_bytes = block_bytes or BLOCK_BYTES
        self.join = join
        self.frames = Frames(self.book, assessor.as_of, assessor.payers)
        self.reform = None if assessor.reform_book is None else Frames(assessor.reform_book, assessor.as_of,
                                                                        assessor.payers)
        self.achieved = self.frames.achieved | (self.reform.achieved if self.reform is not None else set())
        self.counts = Counts()
        self.orphans: list[Row] = []
        self.duplicates: Any = None     # the source's duplicated credit codes
        self.threads = threads or THREADS
        self.plain_at = 0   # the block size at which ``scan_codes`` found every block of both tables plain
        self.trusted = False  # the codes taken on trust (``trust_codes``): checked as the blocks are read
        self.out_fmt = out_fmt
        self.books: dict[Any, Any] = {}  # the source's open xlsx workbooks, by path
        self.inline: Any = None         # a JSONL register's reader: each block holds its enterprises' records
        self.ent_names = list(ents.columns)
        self.rec_names = list(recs.columns)
        self.skip = 0       # blocks whose results a resumed run's files hold already: read, not assessed
        self.blocks = 0     # blocks read so far

    def results(self) -> Iterator[Any]:
        """Chunks are assessed ``threads`` at a time (polars frees the interpreter while it works, so one
        chunk's frames run while another's Python does), and yielded in input order."""
        with ThreadPoolExecutor(self.threads) as pool:
            pending: deque[Future[Any]] = deque()
            for ents, recs in self._pieces():
                pending.append(pool.submit(self._chunk, ents, recs))
                if len(pending) > self.threads:
                    yield self._counted(pending.popleft().result())
            while pending:
                yield self._counted(pending.popleft().result())

    def _counted(self, done: tuple[Any, Counts]) -> Any:
        result, counts = done
        self.counts.add(counts)
        return result

    def _pieces(self) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
        """Each block of enterprises with the records of its credit codes, read and joined in order."""
        if self.inline is not None:   # JSONL: each block of lines holds its enterprises' records
            for ents, recs in self.inline.blocks():
                yield from self._assessed(self._keyed_ents(ents), self._keyed(recs))
            return
        plain = self.plain_at == self.block_bytes
        ent_reader = self._reader(self.ents, plain)
        rec_reader = self._reader(self.recs, plain)
        # each table read and keyed a block ahead in a thread of its own (polars and numpy free the interpreter)
        rec_blocks = _Ahead(self._keyed(b.frame) for b in rec_reader.blocks())
        ent_blocks = _Ahead(self._keyed_ents(b.frame) for b in ent_reader.blocks())
        seen = CodeHashes()    # on trust, the hashes of every block's codes
        try:
            if self.join == "index":
                everything = [b for b in rec_blocks]
                pending = pl.concat(everything) if everything else None
                for frame in ent_blocks:
                    if pending is None or pending.is_empty():
                        yield from self._assessed(frame, self._empty_recs())
                        continue
                    placed = pending.with_columns(_places(pending, frame))
                    taken = placed["_e"].is_not_null()   # placed as the merge places them: no second join
                    yield from self._assessed(frame, placed.filter(taken))
                    pending = pending.filter(~taken)
                if pending is not None and pending.height:
                    self.orphans[:] = [_row(r, self.rec_names, "credit_code")
                                       for r in pending.sort("_number").iter_rows(named=True)]
                return
            buffer: pl.DataFrame | None = None
            exhausted = False
            duplicated = pl.Series(list(self.duplicates.rows) if self.duplicates is not None else [], dtype=_S)
            for frame in ent_blocks:
                hashes = frame["_hash"].to_numpy()   # a hash met by chance only reads one block more
                if self.trusted:
                    seen.add(_named_once(frame, hashes))
                while not exhausted and (buffer is None or buffer.is_empty()
                                         or bool((hashes == buffer["_code"].tail(1).hash().item()).any())):
                    nxt = next(rec_blocks, None)
                    if nxt is None:
                        exhausted = True
                    else:
                        buffer = nxt if buffer is None else pl.concat([buffer, nxt])
                if buffer is None or buffer.is_empty():
                    yield from self._assessed(frame, self._empty_recs())
                    continue
                # each record's enterprise in the block (``_e``), null from the first record of a later block
                at = _places(buffer, frame)
                outside = at.is_null().arg_true()
                cut = int(outside[0]) if len(outside) else buffer.height
                mine, buffer = buffer.slice(0, cut).with_columns(at.slice(0, cut)), buffer.slice(cut)
                positions = mine.filter(~pl.col("_code").is_in(duplicated.implode()))["_e"] if duplicated.len() \
                    else mine["_e"]   # a duplicated code's records are refused with every row of the code
                if positions.len() and not positions.is_sorted():
                    raise self._disorder()
                yield from self._assessed(frame, mine)
            if self.trusted and seen.repeated():
                raise Misjudged()
            if (buffer is not None and buffer.height) or next(rec_blocks, None) is not None:
                raise self._disorder()
        finally:
            seen.close()
            ent_blocks.close()
            rec_blocks.close()
            ent_reader.close()
            rec_reader.close()

    def _disorder(self) -> Exception:
        """Records out of the enterprises' order: on trust, a register to scan; after the scan, a file changed."""
        return Misjudged() if self.trusted else Unordered(self.recs)

    def _assessed(self, ents: pl.DataFrame, recs: pl.DataFrame) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
        """The block to assess, unless it is one of the first ``skip``: those a resumed run reads again
        (the merge's buffer and the orphans need their records) but does not assess."""
        self.blocks += 1
        if self.blocks > self.skip:
            yield ents, recs

    def _reader(self, table: Table, plain: bool) -> Any:
        """The block reader of a table in its format: CSV by bytes, Parquet by batches, xlsx by rows."""
        if table.fmt == "csv":
            return TableReader(table, self.block_bytes, plain)
        from incentives._blocks import ParquetReader, XlsxReader

        if table.fmt == "parquet":
            return ParquetReader(table, self.block_bytes)
        return XlsxReader(table, self.block_bytes, self.books[table.path])

    def _keyed(self, frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(_code=_key("credit_code", bare(frame)))

    def _keyed_ents(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The block with each row's position (``_e``), key, the key's hash, and whether the row is its key's
        first (``_first``: all true where the hashes are distinct, as in nearly every block)."""
        key = _key("credit_code", bare(frame))
        frame = frame.with_columns(_e=pl.int_range(pl.len(), dtype=pl.Int64), _key=key, _hash=key.hash())
        distinct = frame["_hash"].n_unique() == frame.height   # else a repeated code, or hashes met by chance
        return frame.with_columns(_first=pl.lit(True) if distinct else pl.col("_key").is_first_distinct())

    def _empty_recs(self) -> pl.DataFrame:
        schema: dict[str, Any] = {n: _S for n in self.rec_names} | {"_number": pl.Int64, "_line": pl.Int64, "_ragged": pl.Boolean,
                                                   "_cells": pl.List(_S), "_problem": _S, "_code": _S}
        return pl.DataFrame(schema=schema)

    def _chunk(self, raw_ents: pl.DataFrame, raw_recs: pl.DataFrame) -> tuple[Any, Counts]:
        from incentives.batch import _ChunkResult, _Tally
        from incentives.reform import ReformReport

        assessor = self.assessor
        ents = enterprises_frame(raw_ents, self.book).with_columns(raw_ents["_e"], raw_ents["_key"],
                                                                   raw_ents["_first"])
        recs = raw_recs if "_e" in raw_recs.columns else raw_recs.with_columns(_places(raw_recs, raw_ents))
        recs = recs.with_columns(_r=pl.int_range(pl.len(), dtype=pl.Int64))
        typed = records_frame(recs, self.book, self.achieved).with_columns(recs["_e"], recs["_r"])
        dup = typed.select(pl.struct("_e", "record.id").is_duplicated()).to_series()
        bad_recs = typed.filter(~pl.col("_ok") | dup)["_e"].unique()
        slow = set(ents.filter(~pl.col("_ok"))["_e"].to_list()) | set(bad_recs.to_list())
        if self.duplicates is not None and self.duplicates.rows:
            slow |= set(raw_ents.filter(pl.col("_key").is_in(list(self.duplicates.rows)))["_e"].to_list())
        fast_ents, fast_recs = _without(ents, slow), _without(typed, slow)
        verdict = self.frames.assess(fast_ents, fast_recs)
        reformed = self.reform.assess(fast_ents, fast_recs) if self.reform is not None else None
        sent = verdict.slow | (reformed.slow if reformed is not None else set())
        counts = Counts(fallback=len(sent))
        slow |= sent
        assessed, awards = _without(fast_ents, sent), _without(verdict.awards, sent)
        counts.columnar = assessed.height
        counts.per_enterprise = len(slow) - len(sent)

        result = _ChunkResult([], [], _Tally(), ReformReport() if reformed is not None else None)
        tally = result.tally
        tally.counts["enterprises_read"] += assessed.height
        records_assessed = _without(fast_recs, sent).height
        tally.counts["records_read"] += records_assessed
        tally.counts["assessed"] += assessed.height
        tally.counts["records_assessed"] += records_assessed
        tally.counts["with_awards"] += awards["_e"].n_unique()
        no_rules, left_out = self.frames.uncovered(assessed)
        tally.no_rules.update(no_rules)
        for (city, county), n in left_out.items():
            tally.county_unknown[f"{city}/{county or UNKNOWN_COUNTY}"] += n
        _tally(tally, with_enterprise(awards, ents, "city", "county"), assessor.payers)
        text = award_text(awards, ents, assessor.payers, self.book.hash)

        slow_rows: dict[int, Any] = {}
        if slow:
            ent_rows = raw_ents.filter(pl.col("_e").is_in(list(slow)))
            rec_rows = recs.filter(pl.col("_e").is_in(list(slow)))
            by_e: dict[int, list[Row]] = {}
            for r in rec_rows.iter_rows(named=True):
                by_e.setdefault(r["_e"], []).append(_row(r, self.rec_names, "credit_code"))
            for r in ent_rows.iter_rows(named=True):
                row = _row(r, self.ent_names, "credit_code") if self.inline is None else self.inline.row(r)
                if self.duplicates is not None and self.duplicates.rows and not row.problem:
                    row.problem = self.duplicates.problem(self.ents.label, row)
                slow_rows[r["_e"]] = assessor.run([(row, by_e.get(r["_e"], []))])
        for e in sorted(slow_rows):
            part = slow_rows[e]
            result.errors += part.errors
            tally.merge(part.tally)
        if slow_rows:
            columns = text.columns[1:]
            rows = [(e, *row) for e in sorted(slow_rows) for row in slow_rows[e].awards]
            if rows:
                extra = pl.DataFrame(rows, schema={"_e": pl.Int64, **{c: _S for c in columns}}, orient="row")
                text = pl.concat([text, extra]).sort("_e", maintain_order=True)
        if reformed is not None and result.reform is not None:
            _compare(result.reform, awards, _without(reformed.awards, sent), assessed,
                     {e: r.reform for e, r in slow_rows.items()})
        result.frame = AwardWriter.encoded(text.drop("_e"), self.out_fmt)
        return result, counts


def _named_once(ents: pl.DataFrame, hashes: Any) -> Any:
    """The hashes of a keyed block's credit codes, or ``Misjudged`` where the block holds one twice (an
    empty code is a bad row, not a duplicate)."""
    named = (ents["_key"] != "").to_numpy()
    if bool((named & ~ents["_first"].to_numpy()).any()):
        raise Misjudged()
    return hashes[named]


class CodeHashes:
    """The 8-byte hashes of the credit codes read on trust, to learn at the end whether two rows share one
    (most likely one code on two rows; a chance meeting is scanned too). Up to ``HELD`` of them are held;
    then they go to 256 files in a temporary folder by their first byte, each checked alone at the end, so
    that memory stays that of the chunks in flight whatever the register's size (a national register of
    55 million codes would otherwise hold 440 MB; on disk each code costs its 8 bytes)."""

    HELD = 1 << 20   # 8 MiB of hashes

    def __init__(self) -> None:
        self.blocks: list[Any] = []
        self.held = 0
        self.folder: tempfile.TemporaryDirectory[str] | None = None

    def add(self, hashes: Any) -> None:
        self.blocks.append(hashes)
        self.held += len(hashes)
        if self.held > self.HELD:
            self._spill()

    def repeated(self) -> bool:
        if self.folder is None:
            return _shared(self._gathered())
        self._spill()
        return any(_shared(np.fromfile(part, dtype=np.uint64)) for part in sorted(Path(self.folder.name).iterdir()))

    def close(self) -> None:
        if self.folder is not None:
            self.folder.cleanup()

    def _gathered(self) -> Any:
        """The hashes held, in one array (each block let go as it is copied: the 8 bytes a code held once)."""
        hashes = np.empty(self.held, dtype=np.uint64)
        at = 0
        for i, block in enumerate(self.blocks):
            hashes[at:at + len(block)] = block
            at += len(block)
            self.blocks[i] = None
        self.blocks, self.held = [], 0
        return hashes

    def _spill(self) -> None:
        if self.folder is None:
            self.folder = scratch_folder("incentives-codes-")
        hashes = pl.Series(self._gathered()).sort().to_numpy()   # sorted, each first byte's hashes lie together
        ends = np.searchsorted(hashes >> np.uint64(56), np.arange(1, 257, dtype=np.uint64))
        start = 0
        for part, end in enumerate(ends.tolist()):
            if end > start:
                with open(Path(self.folder.name) / f"{part:02x}", "ab") as f:
                    hashes[start:end].tofile(f)
            start = end


def _shared(hashes: Any) -> bool:
    """Whether two of ``hashes`` are equal (by polars: a third of numpy's sort's time on a million)."""
    return bool(pl.Series(hashes).n_unique() < len(hashes))


def _positions(ents: pl.DataFrame) -> pl.DataFrame:
    """Each credit code of a keyed block of enterprises (``_code``) with the position of its first row (``_e``)."""
    return ents.filter(pl.col("_first")).select(pl.col("_key").alias("_code"), "_e")


def _places(recs: pl.DataFrame, ents: pl.DataFrame) -> pl.Series:
    """Each record's enterprise in a keyed block (``_e``; null where the block has not its code), joined on
    the codes alone: the records' thirty columns are not gathered again for each block a record waits."""
    return recs.select("_code").join(_positions(ents), on="_code", how="left", maintain_order="left")["_e"]


def _without(frame: pl.DataFrame, positions: set[int]) -> pl.DataFrame:
    """The rows of enterprises (``_e``) not in ``positions``; the frame itself when there are none (most chunks)."""
    return frame.filter(~pl.col("_e").is_in(list(positions))) if positions else frame


def _tally(tally: Any, awards: pl.DataFrame, payers: tuple[str, ...]) -> None:
    """Add award rows (fen, status, city, county, rule, payer shares) to a batch tally, exactly: one group-by
    by polars, the groups' integer sums added up per key in Python, and one ``Total`` made per key."""
    from incentives.batch import Total

    if awards.is_empty():
        return
    fixed = pl.col("status") == "fixed"
    shares = [pl.col(f"_p_{p}") for p in payers]
    frame = awards.with_columns(
        _amount=pl.when(fixed).then(pl.col("_fen").fill_null(0)).otherwise(0), _top=pl.col("_fen").fill_null(0),
        _county=pl.col("county").fill_null(UNKNOWN_COUNTY))   # keyed city/county per group, not per row
    groups = frame.group_by("status", "city", "_county", "rule_id", "_specified").agg(
        pl.len(), pl.col("_amount").sum(), pl.col("_top").sum(),
        *(pl.when(fixed).then(s).otherwise(0).sum().alias(f"_a{i}") for i, s in enumerate(shares)),
        *(s.sum().alias(f"_t{i}") for i, s in enumerate(shares)),
        *(s.is_not_null().sum().alias(f"_n{i}") for i, s in enumerate(shares)))
    sums: dict[tuple[str, str], list[int]] = {}

    def add(dim: str, key: str, n: int, amount: int, top: int) -> None:
        if n:
            found = sums.setdefault((dim, key), [0, 0, 0])
            found[0] += n
            found[1] += amount
            found[2] += top

    k = len(payers)
    for status, city, county, rule, specified, n, amount, top, *by_payer in groups.iter_rows():
        add("", "", n, amount, top)
        for dim, key in (("status", status), ("city", city), ("county", f"{city}/{county}"), ("rule", rule)):
            add(dim, key, n, amount, top)
        if not specified:
            add("payer", "unspecified", n, amount, top)
        for i, p in enumerate(payers):
            add("payer", p, by_payer[2 * k + i], by_payer[i], by_payer[k + i])
    for (dim, key), (n, amount, top) in sorted(sums.items()):
        total = Total(n, _yuan(amount), _yuan(top))
        (tally.total if not dim else tally.dims[dim].setdefault(key, Total())).add(total)


def _yuan(fen: int | None) -> Decimal:
    return Decimal(fen or 0).scaleb(-2)


def _award_rows(awards: pl.DataFrame, payers: tuple[str, ...]) -> dict[int, list[Any]]:
    from incentives.engine import AwardRow

    out: dict[int, list[Any]] = {}
    for r in awards.iter_rows(named=True):
        fen = None if r["_fen"] is None else _yuan(r["_fen"])
        shares = {p: _yuan(r[f"_p_{p}"]) for p in payers if r[f"_p_{p}"] is not None}
        out.setdefault(r["_e"], []).append(AwardRow(r["rule_id"], r["record.id"], r["status"],
                                                     fen if r["status"] == "fixed" else None, fen, shares,
                                                     not r["_specified"]))
    return out


def _compare(report: Any, base: pl.DataFrame, new: pl.DataFrame, ents: pl.DataFrame, slow: dict[int, Any]) -> None:
    """Baseline against reform for the chunk, in the enterprises' order, as ``ReformReport.add`` counts them."""
    from incentives.facts import Profile
    from incentives.reform import _bump

    payers = tuple(c[3:] for c in base.columns if c.startswith("_p_"))
    before, after = _award_rows(base, payers), _award_rows(new, payers)
    touched = sorted(set(before) | set(after) | set(slow))
    info = {r["_e"]: r for r in ents.filter(pl.col("_e").is_in(touched)).iter_rows(named=True)}
    for e in touched:
        if e in slow:
            part = slow[e]
            if part is not None:
                report.merge(part)
                report.gained -= len(part.gains)
                report.lost -= len(part.losses)
                report.gains += part.gains
                report.losses += part.losses
            continue
        r = info[e]
        profile = Profile.model_construct(name=r["name"], credit_code=r["credit_code"], city=r["city"],
                                          county=r["county"])
        report.add(profile, before.get(e, []), after.get(e, []))
    quiet = ents.filter(~pl.col("_e").is_in(touched))
    report.enterprises += quiet.height
    for city, county in quiet.select("city", "county").unique().iter_rows():
        key = f"{city}/{county or UNKNOWN_COUNTY}"
        _bump(report.by_county, key, "baseline", Decimal("0.00"))
        _bump(report.by_county, key, "reform", Decimal("0.00"))
