"""Properties that must hold for every enterprise, not just the examples."""

from __future__ import annotations

import datetime as dt
import random
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from incentives import assess

from conftest import enterprise

AS_OF = dt.date(2026, 6, 30)
fen = st.integers(min_value=0, max_value=10**10).map(lambda c: Decimal(c) / 100)
days = st.dates(min_value=dt.date(2025, 8, 1), max_value=dt.date(2028, 3, 1))
titles = st.sampled_from(["cluster_leader", "shared_factory", "shared_carrier", "industrial_internet_platform",
                          "little_giant"])
levels = st.sampled_from(["provincial", "municipal", "national", None])
scopes = st.sampled_from(["industry", "regional", "cross_industry", None])


@st.composite
def enterprises(draw):  # type: ignore[no-untyped-def]
    records = []
    for i in range(draw(st.integers(min_value=0, max_value=6))):
        if draw(st.booleans()):
            records.append({"id": f"r{i}", "kind": "recognition", "title": draw(titles), "level": draw(levels),
                            "scope": draw(scopes), "date": draw(days)})
        else:
            records.append({"id": f"r{i}", "kind": "project", "type": "digital_transformation_pilot",
                            "date": draw(days), "investment": draw(st.one_of(st.none(), fen))})
    clusters = draw(st.sampled_from([None, [], ["香河智慧家居"]]))
    return enterprise(records, clusters=clusters)




@given(enterprises())
def test_payer_shares_sum_exactly_to_each_award(book, ent) -> None:  # type: ignore[no-untyped-def]
    result = assess(ent, book, AS_OF)
    for award in result.awards:
        assert sum(award.payers.values()) == award.amount_max
    assert sum(result.total_by_payer.values()) == result.total


@given(enterprises())
def test_no_award_exceeds_its_cap(book, ent) -> None:  # type: ignore[no-untyped-def]
    for award in assess(ent, book, AS_OF).awards:
        cap = book.by_id[award.rule_id].rule.amount.cap
        if cap is not None:
            assert award.amount_max is not None and award.amount_max <= cap


@given(fen, fen)
def test_more_investment_never_lowers_the_award(book, a, b) -> None:  # type: ignore[no-untyped-def]
    low, high = sorted([a, b])
    amounts = []
    for investment in (low, high):
        ent = enterprise([{"id": "p", "kind": "project", "type": "digital_transformation_pilot",
                           "date": dt.date(2026, 1, 1), "investment": investment}])
        amounts.append(assess(ent, book, AS_OF).total)
    assert amounts[0] <= amounts[1]


@given(enterprises())
def test_same_input_same_output(book, ent) -> None:  # type: ignore[no-untyped-def]
    assert assess(ent, book, AS_OF).model_dump_json() == assess(ent, book, AS_OF).model_dump_json()


@given(enterprises())
def test_every_rule_is_accounted_for(book, ent) -> None:  # type: ignore[no-untyped-def]
    result = assess(ent, book, AS_OF)
    seen = {a.rule_id for a in result.awards} | {o.rule_id for o in result.not_eligible + result.undetermined}
    assert seen == {r.id for r in book.rules_for("langfang")}


def population(n: int, seed: int = 7) -> list:  # type: ignore[type-arg]
    """A reproducible mix of Langfang enterprises (random module, so no hypothesis outside @given)."""
    rng = random.Random(seed)
    out = []
    for n_ent in range(n):
        records = []
        for i in range(rng.randint(0, 6)):
            day = dt.date(2025, 8, 1) + dt.timedelta(days=rng.randint(0, 900))
            if rng.random() < 0.5:
                records.append({"id": f"r{i}", "kind": "recognition", "date": day,
                                "title": rng.choice(["cluster_leader", "shared_factory", "industrial_internet_platform"]),
                                "level": rng.choice(["provincial", "municipal"]), "scope": rng.choice(["regional", None])})
            else:
                records.append({"id": f"r{i}", "kind": "project", "type": "digital_transformation_pilot", "date": day,
                                "investment": rng.choice([None, Decimal(rng.randint(0, 10**9)) / 100])})
        out.append(enterprise(records, clusters=rng.choice([None, [], ["香河智慧家居"]])))
    return out


def test_eight_threads_give_the_serial_results(book) -> None:  # type: ignore[no-untyped-def]
    population_ = population(40)
    serial = [assess(e, book, AS_OF).model_dump_json() for e in population_]
    assert any('"awards":[{' in s for s in serial)  # the population does earn awards
    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(lambda e: assess(e, book, AS_OF).model_dump_json(), population_ * 5))
    assert parallel == serial * 5


@given(enterprises())
def test_quiet_assessment_gives_the_same_awards(book, ent) -> None:  # type: ignore[no-untyped-def]
    full = assess(ent, book, AS_OF)
    quiet = assess(ent, book, AS_OF, explain=False)
    assert [a.model_copy(update={"checks": []}) for a in full.awards] == quiet.awards
    assert (full.total, full.total_by_payer, full.conflicts) == (quiet.total, quiet.total_by_payer, quiet.conflicts)
    assert quiet.not_eligible == [] and quiet.undetermined == []


@settings(max_examples=60)
@given(enterprises())
def test_durable_and_native_give_the_same_assessment(book, ent) -> None:  # type: ignore[no-untyped-def]
    native = assess(ent, book, AS_OF)
    durable = assess(ent, book, AS_OF, engine="durable")
    assert durable.engine == "durable"
    assert durable.model_dump_json(exclude={"engine"}) == native.model_dump_json(exclude={"engine"})


def test_eight_threads_on_the_durable_matcher_give_the_serial_results(book) -> None:  # type: ignore[no-untyped-def]
    population_ = population(30, seed=11)
    serial = [assess(e, book, AS_OF, engine="durable").model_dump_json() for e in population_]
    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(lambda e: assess(e, book, AS_OF, engine="durable").model_dump_json(), population_ * 4))
    assert parallel == serial * 4


def test_durable_quiet_then_explained_on_a_fresh_rulebook() -> None:
    # The durable matcher of a city must hold all its rules, whichever kind of call builds it first.
    from incentives import load_rulebook

    from conftest import RULES

    fresh = load_rulebook(RULES)
    pilot_only = enterprise([{"id": "p", "kind": "project", "type": "digital_transformation_pilot",
                              "date": dt.date(2026, 1, 1), "investment": "100万元"}])
    leader = enterprise([{"id": "l", "kind": "recognition", "title": "cluster_leader", "level": "provincial",
                          "date": dt.date(2026, 1, 1)}])
    assert assess(pilot_only, fresh, AS_OF, engine="durable", explain=False).total == Decimal("100000.00")
    assert assess(leader, fresh, AS_OF, engine="durable").total == Decimal("300000.00")


@given(enterprises())
def test_award_rows_are_the_explained_awards(book, ent) -> None:  # type: ignore[no-untyped-def]
    from incentives.engine import award_rows

    awards = assess(ent, book, AS_OF).awards
    rows = award_rows(ent, book, AS_OF)
    assert [(a.rule_id, a.record_id, a.status, a.amount, a.amount_max, a.payers, a.payers_unspecified)
            for a in awards] == [tuple(r) for r in rows]
