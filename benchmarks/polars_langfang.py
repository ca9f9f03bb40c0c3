"""The Langfang awards of a CSV register written by hand in polars: the baseline of the columnar batch.

What a data engineer writes in an afternoon for 廊政办规〔2025〕5号 三、1-4 alone: no rule file, no
validation of credit codes or terms, no errors file, no citations; the same award rows (credit code,
rule, record, amount, city and county halves to the fen), read and written as CSV by polars'
streaming engine. The benchmark checks its rows equal the batch's before timing both.

    python benchmarks/polars_langfang.py register/enterprises.csv register/records.csv out.csv 2026-06-30
"""

from __future__ import annotations

import datetime as dt
import sys

import polars as pl

START, END = dt.date(2025, 9, 12), dt.date(2027, 12, 31)
FIXED = pl.DataFrame({
    "title": ["cluster_leader", "cluster_leader", "shared_factory", "shared_carrier", "industrial_internet_platform"],
    "level": ["provincial", "municipal", "provincial", "provincial", "provincial"],
    "rule_id": ["lf.leader.provincial", "lf.leader.municipal", "lf.shared.factory", "lf.shared.carrier",
                "lf.industrial_internet_platform"],
    "fixed": [30_000_000, 15_000_000, 40_000_000, 40_000_000, 50_000_000],   # fen
})
PLATFORM_SCOPES = ["industry", "regional", "cross_industry"]
CAP_FEN = 20_000_000


def awards(enterprises: str, records: str, as_of: dt.date) -> pl.LazyFrame:
    ents = pl.scan_csv(enterprises, infer_schema=False).select(
        "credit_code",
        in_cluster=pl.col("clusters").str.split(";").list.eval(pl.element().str.strip_chars().filter(
            pl.element().str.strip_chars() != "")).list.len().fill_null(0) > 0)
    recs = (pl.scan_csv(records, infer_schema=False)
            .with_columns(date=pl.col("date").str.to_date("%Y-%m-%d"))
            .filter(pl.col("date").is_between(START, min(END, as_of)))
            .join(ents, on="credit_code", how="inner"))
    recognised = (recs.filter(pl.col("kind") == "recognition")
                  .join(FIXED.lazy(), on=["title", "level"], how="inner")
                  .select("credit_code", "rule_id", "record_id", "date", "scope", amount=pl.col("fixed")))
    platform = pl.col("rule_id") == "lf.industrial_internet_platform"
    titles = pl.concat([
        (recognised.filter(~platform)
         .sort("credit_code", "date", "record_id")
         .unique(["credit_code", "rule_id"], keep="first", maintain_order=True)),   # 一次性: once per enterprise
        recognised.filter(platform & pl.col("scope").is_in(PLATFORM_SCOPES)),       # a lump sum per platform, any builder
    ]).drop("scope")
    fen = pl.col("investment").cast(pl.Decimal(20, 2)).mul(100).cast(pl.Int64)
    pilots = (recs.filter((pl.col("kind") == "project") & (pl.col("type") == "digital_transformation_pilot")
                          & pl.col("in_cluster") & pl.col("investment").is_not_null())
              .select("credit_code", rule_id=pl.lit("lf.digital_pilot"), record_id=pl.col("record_id"),
                      date=pl.col("date"), amount=pl.min_horizontal((fen + 5) // 10, CAP_FEN)))
    both = pl.concat([titles, pilots]).with_columns(county=pl.col("amount") // 2)
    return both.select("credit_code", "rule_id", "record_id", yuan(pl.col("amount")).alias("amount"),
                       yuan(pl.col("amount") - pl.col("county")).alias("payer_city"),
                       yuan(pl.col("county")).alias("payer_county"))


def yuan(fen: pl.Expr) -> pl.Expr:
    return (fen // 100).cast(pl.String) + "." + (fen % 100).cast(pl.String).str.zfill(2)


def main() -> int:
    enterprises, records, out, as_of = sys.argv[1:5]
    awards(enterprises, records, dt.date.fromisoformat(as_of)).sink_csv(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
