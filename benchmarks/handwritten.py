"""The Langfang awards computed directly, by hand, as the baseline the engine is measured against.

This is what a programmer would write for 廊政办规〔2025〕5号 三、1-4 alone: no rule file, no
explanations, no citations. The benchmark checks it gives the engine's totals before timing both.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

START, END = dt.date(2025, 9, 12), dt.date(2027, 12, 31)
FIXED = {("cluster_leader", "provincial"): Decimal(300000), ("cluster_leader", "municipal"): Decimal(150000),
         ("shared_factory", "provincial"): Decimal(400000), ("shared_carrier", "provincial"): Decimal(400000)}
PLATFORM_SCOPES = {"industry", "regional", "cross_industry"}
CAP, RATE, FEN = Decimal(200000), Decimal("0.1"), Decimal("0.01")


def langfang_total(enterprise: object, as_of: dt.date) -> Decimal:
    """Sum of the determined Langfang awards of one enterprise (a facts.Enterprise)."""
    profile = enterprise.profile  # type: ignore[attr-defined]
    in_cluster = bool(profile.clusters)
    paid: set[tuple[str, str | None]] = set()
    total = Decimal(0)
    for r in sorted(enterprise.records, key=lambda r: (r.date, r.id)):  # type: ignore[attr-defined]
        if not (START <= r.date <= END) or r.date > as_of:
            continue
        if r.kind == "recognition":
            key = (r.title, r.level)
            if key in FIXED and key not in paid:
                paid.add(key)
                total += FIXED[key]
            elif (r.title == "industrial_internet_platform" and r.level == "provincial" and r.scope in PLATFORM_SCOPES
                  and in_cluster and ("platform", None) not in paid):
                paid.add(("platform", None))
                total += Decimal(500000)
        elif r.kind == "project" and r.type == "digital_transformation_pilot" and in_cluster and r.investment is not None:
            total += min(r.investment * RATE, CAP).quantize(FEN, rounding=ROUND_HALF_UP)
    return total
