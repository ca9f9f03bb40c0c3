"""A register through incentives.spark on a local Spark session: CSV in, awards and errors out as CSV.

    python benchmarks/spark_local.py register/enterprises.csv register/records.csv out/ 2026-06-30 [cores]
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

from pyspark.sql import SparkSession

from incentives.spark import assess

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    enterprises, records, out, as_of = sys.argv[1:5]
    cores = sys.argv[5] if len(sys.argv) > 5 else "2"
    os.environ["PYSPARK_PYTHON"] = os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    spark = (SparkSession.builder.master(f"local[{cores}]").appName("incentives-bench")
             .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
             .config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.memory", "2g").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    awards, errors = assess(spark.read.csv(enterprises, header=True), spark.read.csv(records, header=True),
                            ROOT / "rules", dt.date.fromisoformat(as_of), partitions=8)
    awards.write.mode("overwrite").csv(str(Path(out) / "awards"), header=True)
    errors.write.mode("overwrite").csv(str(Path(out) / "errors"), header=True)
    print(f"{awards.count()} awards, {errors.count()} errors")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
