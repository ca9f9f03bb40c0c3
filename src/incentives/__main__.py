"""The ``incentives`` command (and ``python -m incentives``): ``cli.main``, after a batch has begun hashing its
inputs (``_output.digest_early``) and reading the first blocks of a CSV register (``readahead``), while the
engine is imported and the rules loaded: a few tenths of a second in which one core has nothing else to do."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterator

REGISTERS = (".csv", ".jsonl", ".parquet", ".xlsx")   # ``_tabular.FORMATS``'s, not imported: it loads the engine


def main() -> int:
    argv = sys.argv[1:]
    # A command does no linear algebra: the BLAS threads numpy starts, one per core, would only spin beside
    # the batch's own threads (3% of a 1M batch's CPU). Set before numpy is imported; a value the user set is kept.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if argv[:1] == ["batch"]:
        begin_batch(argv)
    from incentives.cli import main as command

    return command(argv)


def begin_batch(argv: list[str]) -> None:
    """The inputs of an ``incentives batch`` command line hashed, and a CSV register's first blocks read."""
    from incentives._output import digest_early

    tables = batch_tables(argv)
    digest_early(tables)
    if dict(_options(argv[1:])).get("--path") == "rows":
        return
    try:
        from incentives import readahead
    except ImportError:   # no polars (the batch extra): the per-enterprise path reads as it goes
        return
    for table in tables:
        if table.suffix.lower() == ".csv":
            readahead.read_ahead(table)


def batch_tables(argv: list[str]) -> list[Path]:
    """The tables an ``incentives batch`` command line reads: the enterprises table (the first argument
    naming a register's file) and, unless that file holds the records too (JSONL), its records
    (``--records``, else the table beside it, named as ``_tabular.records_path_for`` names it). A guess
    that names the wrong file costs some reading, never a result: what was read early is taken only for
    the file the batch opens, unchanged."""
    records = dict(_options(argv[1:])).get("--records")
    named = [a for a in argv[1:] if a.lower().endswith(REGISTERS) and not a.startswith("-") and a != records]
    if not named:
        return []
    enterprises = Path(named[0])
    if records is not None:
        return [enterprises, Path(records)]
    if "enterprises" in enterprises.name and enterprises.suffix.lower() != ".jsonl":
        return [enterprises, enterprises.with_name(enterprises.name.replace("enterprises", "records"))]
    return [enterprises]


def _options(args: list[str]) -> Iterator[tuple[str, str]]:
    """The ``--name value`` and ``--name=value`` pairs of a command line."""
    for i, arg in enumerate(args):
        name, eq, value = arg.partition("=")
        if name.startswith("--") and eq:
            yield name, value
        elif arg.startswith("--") and i + 1 < len(args):
            yield arg, args[i + 1]


if __name__ == "__main__":
    sys.exit(main())
