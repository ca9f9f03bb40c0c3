"""A large register from a synthetic one: ``copies`` copies, each with its own valid credit codes.

Copy k changes the second character of every credit code to the k-th allowed character and
computes the check digit again, in the enterprises and the records alike, so the copies stay
grouped in the enterprises' order. Writing ten million enterprises this way takes a minute, where
``incentives synth`` would take half an hour.

    python benchmarks/scale_register.py register/ 10 big/     # 1M enterprises → 10M
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

from incentives.facts import _CODE_CHARS, _CODE_VALUES, _CODE_WEIGHTS


def recoded(code: pl.Expr, k: int) -> pl.Expr:
    body = code.str.slice(0, 1) + pl.lit(_CODE_CHARS[k + 1]) + code.str.slice(2, 15)
    total = pl.lit(0, dtype=pl.Int64)
    for i, weight in enumerate(_CODE_WEIGHTS):
        total = total + body.str.slice(i, 1).replace_strict(_CODE_VALUES, default=0, return_dtype=pl.Int64) * weight
    return body + ((31 - total % 31) % 31).replace_strict(dict(enumerate(_CODE_CHARS)), return_dtype=pl.String)


def main() -> int:
    source, copies, out = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    for name in ("enterprises.csv", "records.csv"):
        with open(out / name, "wb") as f:
            for k in range(copies):
                frame = pl.read_csv(source / name, infer_schema=False)
                frame = frame.with_columns(recoded(pl.col("credit_code"), k).alias("credit_code"))
                frame.write_csv(f, include_header=k == 0)
        print(out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
