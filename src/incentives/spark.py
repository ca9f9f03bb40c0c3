"""Registers on Spark: a DataFrame of enterprises and one of records in, award rows and errors out.

The two tables are co-partitioned by credit code and each partition runs the columnar path
(``columnar.py``) in the executor's Python worker, through ``mapInArrow``: the same award rows as
``incentives batch`` on the same register, and the same errors (rows numbered in each table's order).
The rule files travel with the function (their text, checked against the driver's rulebook hash), so
executors need only the wheel: ``pip install 'incentives[spark]'``; by default they are the rules
shipped in the package.

>>> awards, errors = assess(spark.read.csv("enterprises.csv", header=True),          # doctest: +SKIP
...                         spark.read.csv("records.csv", header=True), "rules", dt.date(2026, 6, 30))
>>> awards.write.parquet("awards")                                                 # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
from pathlib import Path
from typing import Any, Iterator

from incentives._tabular import (ERROR_COLUMNS, DuplicateCodes, Table, _header, award_columns, payer_columns,
                                 require)
from incentives.errors import IncentivesError, Location
from incentives.rulebook import Rulebook, load_rulebook

ENTERPRISES, RECORDS = "enterprises", "records"   # the tables' names in error rows


def _rule_texts(rules: str | Path) -> dict[str, str]:
    """Every YAML file of a rule directory (or the one rule file and the vocabulary beside it), by name."""
    path = Path(rules)
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path, path.with_name("vocabulary.yaml")]
    return {f.name: f.read_text("utf-8") for f in files}


_books: dict[str, Rulebook] = {}    # per executor process: the rulebook of each set of rule texts


def _rulebook(texts: dict[str, str], digest: str, readings: dict[str, str] | None = None) -> Rulebook:
    key = hashlib.sha256(repr((sorted(texts.items()), sorted((readings or {}).items()))).encode()).hexdigest()
    book = _books.get(key)
    if book is None:
        with tempfile.TemporaryDirectory(prefix="incentives-rules-") as folder:   # read whole, then let go
            directory = Path(folder)
            for name, text in texts.items():
                (directory / name).write_text(text, "utf-8")
            book = load_rulebook(directory, check_quotes=False,  # the source texts stay on the driver
                                 readings=readings)
        if book.hash != digest:
            raise IncentivesError("the rules reached the executor changed: their hash differs from the driver's")
        _books[key] = book
    return book


def assess(enterprises: Any, records: Any, rules: str | Path | None, as_of: dt.date, *,
           partitions: int | None = None, readings: dict[str, str] | None = None) -> tuple[Any, Any]:
    """Award rows and error rows (two Spark DataFrames of text columns, as ``awards.csv`` and ``errors.csv``).

    ``enterprises`` and ``records`` have the columns of the register layout (docs/batch.md); any column
    type is read as its text (a float or double as a CSV writes it: ``14667116.68``, not ``1.466711668E7``).
    Rows are numbered in each DataFrame's order for the errors. A record whose credit code no enterprise
    has is an error row, and so is each row of a credit code on two enterprise rows, as in ``incentives batch``. ``rules`` is a
    rule directory on the driver, or None for the rules shipped in the package (as the commands do).
    ``readings`` chooses options of the rule files' readings (``incentives.readings``), on every executor.
    """
    from incentives.shipped import default_rules

    rules = rules if rules is not None else default_rules()
    F, T = require("pyspark.sql.functions"), require("pyspark.sql.types")

    book = load_rulebook(rules, readings=readings)
    texts = _rule_texts(rules)
    chosen = dict(book.readings)
    ent_names = list(_header("enterprises", list(enterprises.columns), ENTERPRISES))
    rec_names = list(_header("records", list(records.columns), RECORDS))
    payers = payer_columns(book)
    awards = award_columns(payers)
    iso = as_of.isoformat()

    def text(frame: Any, name: str) -> Any:
        """A column as text; a float or double as the decimal a CSV writes, where Spark would write an
        exponent (``1.466711668E7``, which money does not read)."""
        as_text = F.col(name).cast("string")
        if frame.schema[name].dataType.typeName() not in ("float", "double"):
            return as_text.alias(name)
        plain = F.regexp_replace(F.regexp_replace(as_text.try_cast("decimal(38,18)").cast("string"),
                                                  r"(\.[0-9]*?)0+$", "$1"), r"\.$", "")
        return F.when(as_text.contains("E") & plain.isNotNull(), plain).otherwise(as_text).alias(name)

    def numbered(frame: Any, tag: str, names: list[str]) -> Any:
        """The columns as text, each row with its 1-based number in the DataFrame's order (computed in
        the JVM: a row's place in its partition plus the rows of the partitions before it)."""
        frame = frame.select(*(text(frame, n) for n in names)).withColumn(
            "_pid", F.spark_partition_id()).withColumn("_mid", F.monotonically_increasing_id())
        sizes = dict(frame.groupBy("_pid").count().collect())
        offset, before = F.lit(0), 0
        for pid in sorted(sizes):
            offset = F.when(F.col("_pid") == pid, F.lit(before)).otherwise(offset)
            before += sizes[pid]
        place = F.col("_mid") - F.shiftleft(F.col("_pid").cast("long"), 33)
        return frame.withColumn("_number", offset + place + 1).drop("_pid", "_mid").withColumn("_tag", F.lit(tag))

    both = numbered(enterprises, "e", ent_names).unionByName(numbered(records, "r", rec_names),
                                                            allowMissingColumns=True)
    both = both.withColumn("_key", F.upper(F.trim(F.coalesce(F.col("credit_code"), F.lit("")))))
    both = both.repartition(partitions or both.rdd.getNumPartitions(), "_key").sortWithinPartitions("_tag",
                                                                                                    "_number")
    out_schema = T.StructType([T.StructField("_kind", T.StringType()),
                               *(T.StructField(c, T.StringType()) for c in awards),
                               *(T.StructField(f"error_{c}", T.StringType()) for c in ERROR_COLUMNS)])
    digest = book.hash

    def run(batches: Iterator[Any]) -> Iterator[Any]:
        yield from _partition(batches, texts, digest, iso, ent_names, rec_names, awards, chosen)

    out = both.mapInArrow(run, out_schema).cache()
    award_rows = out.filter(F.col("_kind") == "award").select(*awards)
    error_rows = out.filter(F.col("_kind") == "error").select(
        *(F.col(f"error_{c}").alias(c) for c in ERROR_COLUMNS))
    return award_rows, error_rows


def _partition(batches: Iterator[Any], texts: dict[str, str], digest: str, iso: str, ent_names: list[str],
               rec_names: list[str], awards: tuple[str, ...],
               readings: dict[str, str] | None = None) -> Iterator[Any]:
    """One partition: its enterprises and records assessed by the columnar path, as Arrow batches."""
    import polars as pl

    pa = require("pyarrow")

    from incentives.batch import _Assessor
    from incentives.columnar import Register

    tables = list(batches)
    if not tables:
        return
    frame = pl.from_arrow(pa.Table.from_batches(tables))
    assert isinstance(frame, pl.DataFrame)
    book = _rulebook(texts, digest, readings)
    ents_table = Table(Path(ENTERPRISES), "csv", "enterprises", {n: i for i, n in enumerate(ent_names, 1)})
    recs_table = Table(Path(RECORDS), "csv", "records", {n: i for i, n in enumerate(rec_names, 1)})
    assessor = _Assessor(book, dt.date.fromisoformat(iso), (ents_table, recs_table), ENTERPRISES, True)
    register = Register(ents_table, recs_table, assessor, out_fmt="arrow")   # award rows as a frame

    def part(tag: str, names: list[str]) -> pl.DataFrame:
        rows = frame.filter(pl.col("_tag") == tag).sort("_number")
        return rows.select(*(pl.col(n) if n in rows.columns else pl.lit(None, dtype=pl.String).alias(n)
                             for n in names), "_number", _line=pl.col("_number") + 1, _ragged=pl.lit(False))

    ents = register._keyed_ents(part("e", ent_names))
    recs = register._keyed(part("r", rec_names))
    # every row of one code is in this partition: a code on several enterprise rows is an error on each of
    # them, and none is assessed, as in ``incentives batch``
    twice = ents.filter(~pl.col("_first") & (pl.col("_key") != ""))["_key"].unique()
    if twice.len():
        shared = ents.filter(pl.col("_key").is_in(twice.implode())).group_by("_key").agg(pl.col("_number").sort())
        register.duplicates = DuplicateCodes.known(dict(shared.iter_rows()))
    known = ents["_key"].implode()
    orphans = recs.filter(~pl.col("_code").is_in(known))
    recs = recs.filter(pl.col("_code").is_in(known))
    result, _ = register._chunk(ents, recs)
    text = result.frame
    n = text.height
    columns: dict[str, Any] = {"_kind": ["award"] * n, **{c: [v or None for v in text[c].to_list()]
                                                          for c in awards}}  # an empty cell is null
    errors = [(*e, digest) for e in result.errors] + [(*_orphan(r, rec_names), digest)
                                                      for r in orphans.iter_rows(named=True)]
    for c in ERROR_COLUMNS:
        columns[f"error_{c}"] = [None] * n
    if n:
        yield pa.RecordBatch.from_pydict({k: pa.array(v, pa.string()) for k, v in columns.items()})
    if errors:
        rows: dict[str, Any] = {"_kind": ["error"] * len(errors), **{c: [None] * len(errors) for c in awards}}
        for i, c in enumerate(ERROR_COLUMNS):
            rows[f"error_{c}"] = [None if e[i] in (None, "") else str(e[i]) for e in errors]
        yield pa.RecordBatch.from_pydict({k: pa.array(v, pa.string()) for k, v in rows.items()})


def _orphan(row: dict[str, Any], names: list[str]) -> tuple[Any, ...]:
    column = names.index("credit_code") + 1
    code = row["credit_code"]
    reason = (f"{Location(RECORDS, row['_number'] + 1, column)}: credit_code: no enterprise with credit code "
              f"{code!r} in {ENTERPRISES}")
    return (RECORDS, None, row["_number"], code, "credit_code", reason)

