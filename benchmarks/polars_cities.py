"""The awards of all three cities of a CSV register written by hand in polars: the baseline of the columnar
batch on registers of all three cities.

What a data engineer writes from the three rule files, their amounts and conditions copied by hand:
石家庄 〔2021〕—69 (26 rules; the four of the 领跑者 press report are shown beside official awards, never
paid, so they make no row), 沧州 沧政办规〔2022〕13号 (25) and 廊坊 廊政办规〔2025〕5号 (6; as in
polars_langfang.py). No rule file is read, no credit code or term is checked, no errors file, no
citations. Every award row the batch writes, with its status (fixed, up_to, unquantified, non_monetary),
amount, ceiling and payer shares to the fen. Read as CSV by polars' lazy engine (the records joined to
their enterprises once, in memory, for the rules' sixty queries) and written by its CSV sink. `make
bench` checks its rows equal the batch's before timing either.

    python benchmarks/polars_cities.py register/enterprises.csv register/records.csv out.csv 2026-06-30
"""

from __future__ import annotations

import datetime as dt
import sys

import polars as pl

from polars_langfang import yuan   # beside this file

SJZ = (dt.date(2021, 9, 15), dt.date(2025, 12, 31))     # 〔2021〕—69: issue date to the end of its plan period
CZ_FROM = dt.date(2022, 8, 10)                          # 沧政办规〔2022〕13号: no end written
LF = (dt.date(2025, 9, 12), dt.date(2027, 12, 31))      # 廊政办规〔2025〕5号

PER_ENTERPRISE = pl.lit("")   # the scope of a once-per-enterprise limit; once per record: no scope (null)
ONCE_A_YEAR = pl.col("date").dt.year().cast(pl.String)
C = pl.col


def fen(yuan: int) -> pl.Expr:
    return pl.lit(yuan * 100, dtype=pl.Int64)


def money(column: str) -> pl.Expr:
    """A money cell (yuan, at most two decimals) in fen."""
    return C(column).cast(pl.Decimal(20, 2)).mul(100).cast(pl.Int64)


def rate(column: str, num: int, den: int, cap_yuan: int) -> pl.Expr:
    """num/den of a money cell, rounded half up to the fen, at most the cap; null where the cell is empty."""
    base = money(column)
    return pl.when(base.is_not_null()).then(pl.min_horizontal((base * (2 * num) + den) // (2 * den), cap_yuan * 100))


def listed(column: str, *terms: str) -> pl.Expr:
    """Whether a ``;``-separated cell names one of ``terms``."""
    return C(column).str.contains(rf"(?:^|;)\s*(?:{'|'.join(terms)})\s*(?:;|$)").fill_null(False)


def pay(frame: pl.LazyFrame, rule_id: str, when: pl.Expr, amount: pl.Expr | None = None, *,
        status: str = "fixed", payers: str | None = None, once: pl.Expr | None = None) -> pl.LazyFrame:
    """The candidate awards of one rule: ``amount`` in fen (none for an unquantified or non-monetary
    benefit), ``payers`` city, county, halves (city and county 50% each) or unspecified (None), ``once``
    the scope of its limit (None: once per record)."""
    if amount is not None:
        when = when & amount.is_not_null()   # a rate with no base is not an award
    return frame.filter(when).select(
        "credit_code", "record_id", "date", rule_id=pl.lit(rule_id),
        fen=pl.lit(None, pl.Int64) if amount is None else amount, status=pl.lit(status),
        payers=pl.lit(payers, pl.String), once=pl.lit(None, pl.String) if once is None else once)


def is_(**values: str | list[str]) -> pl.Expr:
    return pl.all_horizontal([C(k).is_in(v) if isinstance(v, list) else C(k) == v for k, v in values.items()])


def shijiazhuang(recs: pl.LazyFrame) -> list[pl.LazyFrame]:
    here = recs.filter((C("city") == "shijiazhuang") & C("date").is_between(*SJZ))
    title, project, quality = (here.filter(C("kind") == k) for k in ("recognition", "project", "quality_award"))
    trademark, standard = (here.filter(C("kind") == k) for k in ("trademark", "standard"))
    cluster = C("in_cluster")
    lead = C("role") == "lead"
    return [
        pay(title, "sjz.tech_innovation_demo.national", is_(title="tech_innovation_demo", level="national") & cluster,
            fen(300_000), once=PER_ENTERPRISE),
        pay(title, "sjz.tech_innovation_demo.provincial",
            is_(title="tech_innovation_demo", level="provincial") & cluster, fen(150_000), once=PER_ENTERPRISE),
        pay(title, "sjz.specialized_sme.review", is_(title="specialized_sme", level="provincial", first_time="true",
                                                     review_passed="true")
            & listed("industries", "new_generation_it", "biomedicine"), fen(300_000), once=PER_ENTERPRISE),
        pay(title, "sjz.specialized_sme.demonstration", is_(title="specialized_sme_demonstration", level="provincial"),
            fen(500_000), once=PER_ENTERPRISE),
        pay(title, "sjz.little_giant", is_(title="little_giant", level="national"), fen(1_000_000),
            once=PER_ENTERPRISE),
        pay(title, "sjz.positive_list", is_(title=[
            "supply_chain_stability", "green_factory", "specialized_sme", "specialized_sme_demonstration",
            "little_giant", "key_little_giant", "single_champion", "tech_leader", "standard_leader", "high_tech"])
            & cluster, status="non_monetary", once=PER_ENTERPRISE),
        pay(project, "sjz.tech_retrofit", is_(type="tech_retrofit")
            & listed("industries", "traditional", "steel", "chemicals", "textiles_apparel"),
            rate("equipment_purchase", 15, 100, 5_000_000), status="up_to"),          # 15%, discretionary
        pay(project, "sjz.price_index_platform", is_(type="price_index_platform"), fen(300_000), payers="city"),
        pay(project, "sjz.attracted_investment", is_(type="attracted_investment", completed="true",
                                                     investor_outside_city="true",
                                                     investor_rank=["fortune_global_500", "china_500",
                                                                    "industry_top_100"]) & cluster,
            rate("investment", 1, 100, 2_000_000)),
        *(pay(project, rule_id, is_(type=kind), status="non_monetary") for rule_id, kind in (
            ("sjz.zero_land_retrofit", "zero_land_retrofit"),
            ("sjz.existing_property_transition", "new_industry_on_existing_property"),
            ("sjz.eia.non_major_change", "eia_non_major_change"), ("sjz.eia.uncatalogued", "eia_uncatalogued"))),
        pay(quality, "sjz.quality.china_award", is_(award="china_quality_award"), fen(2_000_000), once=PER_ENTERPRISE),
        pay(quality, "sjz.quality.china_nomination", is_(award="china_quality_award_nomination"), fen(1_000_000),
            once=PER_ENTERPRISE),
        pay(quality, "sjz.quality.hebei_organisation", is_(award="hebei_quality_award", category="organisation"),
            fen(500_000)),
        pay(trademark, "sjz.trademark.well_known", is_(type="well_known"), fen(500_000), payers="city",
            once=PER_ENTERPRISE),
        pay(trademark, "sjz.trademark.geographical_indication",
            is_(type=["geographical_indication_trademark", "geographical_indication_product"]), fen(500_000),
            payers="city", once=indication()),
        pay(trademark, "sjz.trademark.madrid", is_(type="madrid"), fen(100_000), payers="city", once=PER_ENTERPRISE),
        *(pay(standard, f"sjz.standard.{name}", C("level").is_in(levels) & lead, fen(yuan)) for name, levels, yuan in (
            ("international", ["international"], 300_000), ("national", ["national"], 200_000),
            ("industry", ["industry"], 100_000), ("provincial_local", ["provincial_local"], 20_000),
            ("group_or_agricultural", ["group", "agricultural_local"], 20_000))),
        pay(here.filter(C("kind") == "bond"), "sjz.bond", C("size") != "large", rate("amount", 2, 100, 500_000)),
        pay(here.filter(C("kind") == "listing"), "sjz.listing", is_(milestone=["quoted", "listed"]),
            status="unquantified", payers="city"),
    ]


def indication() -> pl.Expr:
    """A geographical indication's achievement: the indication (one product as trademark and as protected
    product), else its type and registration number, else the record itself."""
    gi, number = C("indication").str.strip_chars(), C("registration_number").str.strip_chars()
    return (pl.when(gi != "").then("=" + gi)
            .when((number != "") & C("type").is_not_null()).then(C("type") + ":" + number)
            .otherwise("#" + C("record_id")))


def cangzhou(recs: pl.LazyFrame) -> list[pl.LazyFrame]:
    here = recs.filter((C("city") == "cangzhou") & (C("date") >= CZ_FROM))
    title, project, stats = (here.filter(C("kind") == k) for k in ("recognition", "project", "statistics"))
    listing = here.filter(C("kind") == "listing")
    cluster = C("in_cluster")
    once = PER_ENTERPRISE
    return [
        pay(project, "cz.jiebang_guashuai", is_(type="jiebang_guashuai"), fen(3_000_000), status="up_to"),
        pay(project, "cz.sci_tech_transfer", is_(type="major_sci_tech_transfer"), fen(5_000_000), status="up_to"),
        pay(project, "cz.park_entry", is_(type="park_entry"), status="non_monetary"),
        pay(project, "cz.tech_retrofit", is_(type="tech_retrofit") & cluster, fen(5_000_000), status="up_to",
            payers="city"),
        pay(project, "cz.informatisation", is_(type="informatisation"), rate("investment", 50, 100, 1_000_000),
            payers="city"),
        pay(stats, "cz.above_size.services", is_(status=["above_designated_size", "new_above_size",
                                                         "small_to_above_size", "above_size_cultivation_pool"])
            & cluster, status="non_monetary", once=once),
        pay(stats, "cz.above_size.new", is_(status="new_above_size"), fen(20_000), payers="city", once=ONCE_A_YEAR),
        pay(stats, "cz.above_size.small_to_above", is_(status="small_to_above_size"), fen(10_000), payers="city",
            once=ONCE_A_YEAR),
        pay(title, "cz.green_factory.national", is_(title="green_factory", level="national"), fen(500_000),
            payers="city", once=once),
        pay(title, "cz.green_factory.provincial", is_(title="green_factory", level="provincial"), fen(300_000),
            payers="city", once=once),
        pay(title, "cz.leading_backbone", is_(title="leading_backbone") & cluster, status="non_monetary", once=once),
        pay(title, "cz.key_little_giant", is_(title="key_little_giant", level="national"), fen(1_000_000),
            payers="city", once=once),
        pay(title, "cz.listing.pool_services", is_(title="listing_cultivation_pool", level="municipal"),
            status="non_monetary", once=once),
        pay(title, "cz.lean_management.city", is_(title="lean_management_excellent", level="municipal"),
            fen(200_000), status="up_to", payers="city", once=once),
        pay(title, "cz.lean_management.county", is_(title="lean_management_excellent", level="municipal"),
            status="unquantified", payers="county", once=once),
        pay(title, "cz.industrial_design.center_provincial", is_(title="industrial_design_center", level="provincial"),
            fen(1_000_000), payers="city", once=once),
        pay(title, "cz.industrial_design.center_national", is_(title="industrial_design_center", level="national"),
            fen(2_000_000), payers="city", once=once),   # 再奖励: see additional() below
        pay(here.filter(C("kind") == "training"), "cz.entrepreneur_training", pl.lit(True),
            rate("fees", 50, 100, 50_000), payers="city"),
        pay(here.filter(C("kind") == "trademark"), "cz.trademark.well_known", is_(type="well_known"), fen(200_000),
            once=once),
        pay(here.filter(C("kind") == "award_received"), "cz.industrial_design.transfer_match",
            is_(award="industrial_design_transfer_award", level="provincial"), rate("amount", 50, 100, 500_000)),
        *(pay(listing, rule_id, is_(market=market, milestone=milestone), fen(yuan), once=once)
          for rule_id, market, milestone, yuan in (
              ("cz.listing.a_share.counselling", "a_share", "counselling_filed", 1_000_000),
              ("cz.listing.a_share.accepted", "a_share", "application_accepted", 2_000_000),
              ("cz.listing.overseas.accepted", "overseas", "application_accepted", 2_000_000),
              ("cz.listing.overseas.approved", "overseas", "approved", 1_000_000))),
    ]


TRADEMARK_CAP = 20_000_000   # cz.trademark.international: 总额不超过20万元 per enterprise (fen)


def international_trademarks(recs: pl.LazyFrame) -> pl.LazyFrame:
    """cz.trademark.international: 30% of each registration's fee up to 20万元, and 20万元 in all for an
    enterprise, its earliest registrations first (a registration the total leaves nothing for is not paid)."""
    here = recs.filter((C("city") == "cangzhou") & (C("date") >= CZ_FROM) & (C("kind") == "trademark"))
    each = pay(here, "cz.trademark.international", is_(type=["madrid", "international_registration"]),
               rate("fee", 30, 100, 200_000))
    before = C("fen").cum_sum().over("credit_code") - C("fen")
    return (each.sort("credit_code", "date", "record_id")
            .with_columns(left=TRADEMARK_CAP - pl.min_horizontal(before, TRADEMARK_CAP))
            .filter(C("left") > 0)
            .with_columns(fen=pl.min_horizontal("fen", "left")).drop("left"))


def langfang(recs: pl.LazyFrame) -> list[pl.LazyFrame]:
    here = recs.filter((C("city") == "langfang") & C("date").is_between(*LF))
    title = here.filter(C("kind") == "recognition")
    once = PER_ENTERPRISE
    return [
        *(pay(title, rule_id, is_(title=name, level=level), fen(yuan), payers="halves", once=once)
          for rule_id, name, level, yuan in (
              ("lf.leader.provincial", "cluster_leader", "provincial", 300_000),
              ("lf.leader.municipal", "cluster_leader", "municipal", 150_000),
              ("lf.shared.factory", "shared_factory", "provincial", 400_000),
              ("lf.shared.carrier", "shared_carrier", "provincial", 400_000))),
        pay(title, "lf.industrial_internet_platform", is_(title="industrial_internet_platform", level="provincial",
                                                          scope=["industry", "regional", "cross_industry"]),
            fen(500_000), payers="halves"),   # a lump sum per platform selected
        pay(here.filter(C("kind") == "project"), "lf.digital_pilot", is_(type="digital_transformation_pilot")
            & C("in_cluster"), rate("investment", 10, 100, 200_000), payers="halves"),
    ]


def additional(paid: pl.LazyFrame, recs: pl.LazyFrame) -> pl.LazyFrame:
    """再奖励 (cz.industrial_design_center, base_needs: achieved): the national design centre is paid on top of
    a provincial one recognised at any date up to the national's, before the window too."""
    national = C("rule_id") == "cz.industrial_design.center_national"
    base = (recs.filter(is_(kind="recognition", title="industrial_design_center", level="provincial"))
            .group_by("credit_code").agg(base=C("date").min()))
    return pl.concat([paid.filter(~national),
                      paid.filter(national).join(base, on="credit_code").filter(C("base") <= C("date")).drop("base")])


def awards(enterprises: str, records: str, as_of: dt.date) -> pl.LazyFrame:
    ents = pl.scan_csv(enterprises, infer_schema=False).select("credit_code", "city", "clusters", "industries", "size")
    every = pl.scan_csv(records, infer_schema=False).with_columns(date=C("date").str.to_date("%Y-%m-%d"))
    recs = (every.filter(C("date") <= as_of).join(ents, on="credit_code", how="inner")
            .with_columns(in_cluster=C("clusters").str.contains(r"[^;\s]").fill_null(False))   # a cluster named
            .collect().lazy())   # once: the rules' sixty queries read it in memory, not the files sixty times
    # an enterprise meets the rules of its city's file: no county file has rules, and hebei.yaml (the province's,
    # covering all three) pays nothing
    found = pl.concat([*shijiazhuang(recs), *cangzhou(recs), *langfang(recs)])
    # limits (一次性, once a year, once per achievement): the earliest record of each scope is paid. No record
    # meets two official rules outside one `combine: all` group (sjz.specialized_and_positive_list, cz.above_size,
    # cz.lean_management), so no conflict is left to settle: every such rule pays.
    first = pl.struct("credit_code", "rule_id", "once").is_first_distinct()
    limited = found.sort("date", "record_id").filter(C("once").is_null() | first)   # in an enterprise's order
    paid = pl.concat([additional(limited, recs), international_trademarks(recs)])
    amount, payers = C("fen"), C("payers")
    city = pl.when(payers == "city").then(amount).when(payers == "halves").then(amount - amount // 2)
    county = pl.when(payers == "county").then(amount).when(payers == "halves").then(amount // 2)
    return paid.select(
        "credit_code", "rule_id", "record_id", "status",
        amount=pl.when(C("status") == "fixed").then(yuan(amount)), amount_max=yuan(amount),
        payer_city=yuan(city), payer_county=yuan(county),
        payer_province=pl.lit(None, pl.String),   # no rule of the three files, nor of hebei.yaml, names the province
        payers_unspecified=payers.is_null())


def main() -> int:
    enterprises, records, out, as_of = sys.argv[1:5]
    awards(enterprises, records, dt.date.fromisoformat(as_of)).sink_csv(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
