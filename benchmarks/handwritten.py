"""The Langfang awards computed directly, by hand, as the baseline the engine is measured against.

This is what a programmer would write for 廊政办规〔2025〕5号 三、1-4 alone: no rule file, no
explanations, no citations; the same awards (rule, record, amount, city and county halves to the
fen). The benchmark checks it gives the engine's awards before timing both.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

START, END = dt.date(2025, 9, 12), dt.date(2027, 12, 31)
FIXED = {("cluster_leader", "provincial"): ("lf.leader.provincial", Decimal("300000.00")),
         ("cluster_leader", "municipal"): ("lf.leader.municipal", Decimal("150000.00")),
         ("shared_factory", "provincial"): ("lf.shared.factory", Decimal("400000.00")),
         ("shared_carrier", "provincial"): ("lf.shared.carrier", Decimal("400000.00"))}
PLATFORM = ("lf.industrial_internet_platform", Decimal("500000.00"))
PLATFORM_SCOPES = {"industry", "regional", "cross_industry"}
CAP, RATE, FEN = Decimal(200000), Decimal("0.1"), Decimal("0.01")

Award = tuple[str, str, Decimal, Decimal, Decimal]      # rule id, record id, amount, city, county


def langfang_awards(enterprise: object, as_of: dt.date) -> list[Award]:
    """The Langfang awards of one enterprise (a facts.Enterprise), in record-date order."""
    profile = enterprise.profile  # type: ignore[attr-defined]
    in_cluster = bool(profile.clusters)
    paid: set[str] = set()
    out: list[Award] = []
    for r in sorted(enterprise.records, key=lambda r: (r.date, r.id)):  # type: ignore[attr-defined]
        if not (START <= r.date <= END) or r.date > as_of:
            continue
        found = None
        if r.kind == "recognition":
            found = FIXED.get((r.title, r.level))
            if (found is None and r.title == "industrial_internet_platform" and r.level == "provincial"
                    and r.scope in PLATFORM_SCOPES and in_cluster):
                found = PLATFORM
            if found is not None:       # 一次性: once per enterprise
                if found[0] in paid:
                    continue
                paid.add(found[0])
        elif r.kind == "project" and r.type == "digital_transformation_pilot" and in_cluster and r.investment is not None:
            found = ("lf.digital_pilot", min(r.investment * RATE, CAP).quantize(FEN, rounding=ROUND_HALF_UP))
        if found is not None:
            rule_id, amount = found
            county = (amount / 2).quantize(FEN, rounding="ROUND_DOWN")
            out.append((rule_id, r.id, amount, amount - county, county))    # the odd fen goes to the city
    return out


def langfang_total(enterprise: object, as_of: dt.date) -> Decimal:
    return sum((a[2] for a in langfang_awards(enterprise, as_of)), Decimal(0))
