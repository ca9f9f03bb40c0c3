"""Rule tests written in YAML beside the rule files, run by ``incentives test`` and by pytest.

A test file holds ``cases``; each gives an enterprise (inline, or ``enterprise_file``), an
``as_of`` date and what is expected: ``awards`` (rule, record, amount, status, payers),
``not_eligible`` (rule, record, ``reason`` text it must contain), ``undetermined`` (rule, missing
facts), ``total`` and ``conflicts``. A failure names the case and prints expected against actual.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from incentives import _yaml
from incentives.money import Money, Rate
from incentives.engine import assess
from incentives.errors import IncentivesError, Location, RulebookError
from incentives.facts import enterprise_from_document, load_enterprise
from incentives.outcomes import Assessment
from incentives.rulebook import Rulebook, load_rulebook


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ExpectedInstalment(_Strict):
    amount: Money
    status: str


class ExpectedAward(_Strict):
    rule: str
    record: str | None = None
    amount: Money | None = None
    status: str | None = None
    payers: dict[str, Money] | None = None
    clause: str | None = None
    instalments: list[ExpectedInstalment] | None = None
    clawback: list[str] | None = None
    level: Literal["province", "city", "county"] | None = None   # of the file that pays it
    place: str | None = None


class ExpectedOutcome(_Strict):
    rule: str
    record: str | None = None
    reason: str | None = None           # text the reasons must contain
    missing: list[str] | None = None


class ExpectedConflict(_Strict):
    record: str
    paid: str


class Expect(_Strict):
    awards: list[ExpectedAward] = Field(default_factory=list)
    exhaustive: bool = True             # no awards other than those listed
    not_eligible: list[ExpectedOutcome] = Field(default_factory=list)
    undetermined: list[ExpectedOutcome] = Field(default_factory=list)
    total: Money | None = None
    total_by_payer: dict[str, Money] | None = None
    conflicts: list[ExpectedConflict] = Field(default_factory=list)


class Case(_Strict):
    name: str
    as_of: dt.date
    enterprise: dict[str, Any] | None = None
    enterprise_file: str | None = None
    engine: str = "native"
    readings: dict[str, str] = Field(default_factory=dict)   # options chosen for this case (incentives.readings)
    expect: Expect


class TestFile(_Strict):
    rules: str | None = None            # rule directory or file, relative to this file
    vocabulary: str | None = None       # vocabulary file, relative to this file (default: beside the rules)
    cases: list[Case] = Field(min_length=1)


@dataclass(frozen=True)
class CaseResult:
    file: str
    case: str
    location: Location
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


def load_test_file(path: str | Path) -> tuple[TestFile, _yaml.Document]:
    doc = _yaml.load(path)
    return _yaml.validated(doc, TestFile, RulebookError, "rule-test"), doc


def run_file(path: str | Path, rulebook: Rulebook | None = None, *,
             readings: dict[str, str] | None = None) -> list[CaseResult]:
    """Run every case of one test file; ``rulebook`` defaults to the rules the file names (or ``..``),
    read with ``readings`` (a case's own ``readings:`` are chosen on top of them)."""
    path = Path(path)
    spec, doc = load_test_file(path)
    vocabulary = path.parent / spec.vocabulary if spec.vocabulary else None
    book = rulebook or load_rulebook(path.parent / (spec.rules or ".."), vocabulary, readings=readings)
    return [run_case(case, i, path, doc, book) for i, case in enumerate(spec.cases)]


def run_case(case: Case, index: int, path: Path, doc: _yaml.Document, book: Rulebook) -> CaseResult:
    where = doc.locate(("cases", index))
    if case.readings:
        try:
            book = book.with_readings(case.readings)
        except IncentivesError as e:
            return CaseResult(str(path), case.name, doc.locate(("cases", index, "readings")), (f"error: {e}",))
    try:
        if case.enterprise_file:
            ent = load_enterprise(path.parent / case.enterprise_file, book.vocabulary, facts=book.facts)
        else:
            sub = _yaml.Document(data=case.enterprise, path=doc.path,
                                 positions={k[3:]: v for k, v in doc.positions.items()
                                            if k[:3] == ("cases", index, "enterprise")})
            ent = enterprise_from_document(sub, book.facts)
        result = assess(ent, book, case.as_of, engine=case.engine)  # type: ignore[arg-type]
    except IncentivesError as e:
        return CaseResult(str(path), case.name, where, (f"error: {e}",))
    return CaseResult(str(path), case.name, where, tuple(compare(case.expect, result)))


def compare(expect: Expect, result: Assessment) -> list[str]:
    """Each difference between what was expected and what the engine gave, as a readable line."""
    failures: list[str] = []
    matched: set[int] = set()
    for want in expect.awards:
        found = [i for i, a in enumerate(result.awards) if a.rule_id == want.rule
                 and (want.record is None or a.record_id == want.record) and i not in matched]
        if not found:
            failures.append(f"award {want.rule}{_rec(want.record)}: expected, but not awarded"
                            f"{_why(result, want.rule)}")
            continue
        matched.add(found[0])
        got = result.awards[found[0]]
        wanted = None if want.instalments is None else [(i.amount, i.status) for i in want.instalments]
        compared: list[tuple[str, Any, Any]] = [
            ("amount", want.amount, got.amount_max), ("status", want.status, got.status),
            ("payers", want.payers, got.payers), ("clause", want.clause, got.citation.clause),
            ("instalments", wanted, [(i.amount, i.status) for i in got.instalments]),
            ("clawback", want.clawback, got.clawback), ("level", want.level, got.level),
            ("place", want.place, got.place)]
        for name, expected, actual in compared:
            if expected is not None and expected != actual:
                failures.append(f"award {want.rule}{_rec(want.record)}: {name} expected {_fmt(expected)}, "
                                f"actual {_fmt(actual)}")
    if expect.exhaustive:
        for i, a in enumerate(result.awards):
            if i not in matched:
                failures.append(f"award {a.rule_id}{_rec(a.record_id)}: not expected, but awarded {_fmt(a.amount_max)}")
    for kind, wants, outcomes in (("not_eligible", expect.not_eligible, result.not_eligible),
                                  ("undetermined", expect.undetermined, result.undetermined)):
        for w in wants:
            hits = [o for o in outcomes if o.rule_id == w.rule and (w.record is None or o.record_id == w.record)]
            if not hits:
                failures.append(f"{kind} {w.rule}{_rec(w.record)}: expected, but not found")
            elif w.reason and not any(w.reason in r for o in hits for r in o.reasons):
                failures.append(f"{kind} {w.rule}: reason expected to contain {w.reason!r}, "
                                f"actual {[r for o in hits for r in o.reasons]}")
            elif w.missing is not None and sorted(w.missing) != sorted(hits[0].missing):
                failures.append(f"{kind} {w.rule}: missing expected {sorted(w.missing)}, actual {hits[0].missing}")
    if expect.total is not None and expect.total != result.total:
        failures.append(f"total: expected {_fmt(expect.total)}, actual {_fmt(result.total)}")
    if expect.total_by_payer is not None and expect.total_by_payer != result.total_by_payer:
        failures.append(f"total_by_payer: expected {_fmt(expect.total_by_payer)}, actual {_fmt(result.total_by_payer)}")
    for c in expect.conflicts:
        if not any(k.record_id == c.record and k.paid_rule_id == c.paid for k in result.conflicts):
            failures.append(f"conflict on {c.record} paying {c.paid}: expected, actual "
                            f"{[(k.record_id, k.paid_rule_id) for k in result.conflicts]}")
    return failures


def _rec(record: str | None) -> str:
    return f" [{record}]" if record else ""


def _why(result: Assessment, rule_id: str) -> str:
    reasons = [r for o in result.not_eligible if o.rule_id == rule_id for r in o.reasons]
    missing = [m for o in result.undetermined if o.rule_id == rule_id for m in o.missing]
    if missing:
        return f" (undetermined, missing {', '.join(missing)})"
    return f" ({'; '.join(reasons)})" if reasons else ""


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return str(value)


__all__ = ["CaseResult", "compare", "run_file", "load_test_file", "Rate"]
