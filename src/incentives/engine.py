"""Assess an enterprise against a rulebook: which rules pay, how much, who pays, and why not.

For every rule of the files covering the enterprise (its province's, city's and county's, see
``Rulebook.covering``) and every record the rule could reward, the native matcher
evaluates the compiled condition tree leaf by leaf (the source of explanations). With
``engine="durable"`` the durable_rules matcher decides which (rule, record) pairs match, from the
same trees. Eligible awards are then priced exactly, combined by group and limit so that no
achievement is paid twice unless a text says so, and split among payers to the fen.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, Mapping, NamedTuple

from incentives.amounts import Missing, NoAmount, Price, PriceOf, Priced, price
from incentives.conditions import Check, Facts, Truth, evaluate, show
from incentives.errors import ArgumentError, EngineError, expect
from incentives.facts import Enterprise, EnterpriseBase
from incentives.messages import N_
from incentives.outcomes import (Assessment, Award, CheckResult, Citation, Conflict, EnterpriseRef,
                                 InstalmentDue, ReportedAmount, RuleOutcome)
from incentives.money import split, to_fen
from incentives.readings import note_in
from incentives.rulebook import CompiledRule, Rulebook, extra_facts

Engine = Literal["native", "durable"]
ZERO = Decimal(0)


@dataclass(slots=True)
class _Candidate:
    """An eligible (rule, record) pair on its way to becoming an award."""

    rule: CompiledRule
    record: Any
    amount: Decimal | None      # the determined amount, or the ceiling of an up_to award
    basis: str | None
    facts: Facts | None         # None when nothing reads them again (a fixed amount, no instalments)
    checks: list[Check] = field(default_factory=list)
    lost_to: str | None = None  # why it was not paid after combination
    beside: _Candidate | None = None   # a reported candidate: the official award it is shown beside


def assess(enterprise: Enterprise, rulebook: Rulebook, as_of: dt.date | None = None, *,
           engine: Engine = "native", explain: bool = True, readings: Mapping[str, str] | None = None) -> Assessment:
    """Every award ``enterprise`` is owed under ``rulebook`` at ``as_of`` (default today).

    Records dated after ``as_of`` have not happened yet and are not rewarded. The result lists each
    award with its citation and payer shares, each rule that does not pay with the failed
    conditions, and each rule that cannot be decided with the missing facts. With
    ``explain=False`` (for populations) only the awards are kept, the same awards, computed without
    recording why the other rules do not pay. ``readings`` chooses options of the rule files'
    readings (``{"sjz.little_giant.key_little_giant": "rewarded"}``, as ``Rulebook.with_readings``);
    ``Assessment.readings`` lists those in force for the enterprise's city. Safe to call from many
    threads at once.
    """
    as_of = _checked_arguments(enterprise, rulebook, as_of, engine)
    if readings:
        rulebook = rulebook.with_readings(readings)
    enterprise.check_terms(rulebook.vocabulary)
    not_eligible: list[RuleOutcome] = []
    undetermined: list[RuleOutcome] = []
    candidates = _judge(enterprise, rulebook, as_of, engine, not_eligible if explain else None,
                        undetermined if explain else None)
    conflicts = _combine(candidates, enterprise)
    reported = [c for c in candidates if c.lost_to is None and c.rule.reported]
    awards = [_award(c, [r for r in reported if r.beside is c]) for c in candidates
              if c.lost_to is None and not c.rule.reported]
    if explain:
        not_eligible += [_lost(c) for c in candidates if c.lost_to is not None]
    warnings = _place_warnings(enterprise, rulebook)
    result = _assessment(enterprise, rulebook, as_of, engine, awards, not_eligible, undetermined, conflicts, warnings)
    if not reported:
        return result
    extra = sum((max(ZERO, (r.amount or ZERO) - ((r.beside.amount or ZERO) if r.beside else ZERO))
                 for r in reported), ZERO)
    return result.model_copy(update={"reported": [_award(r, []) for r in reported if r.beside is None],
                                     "total_reported_max": to_fen(result.total_max + extra)})


def _place_warnings(enterprise: Enterprise, rulebook: Rulebook) -> list[str]:
    """What the assessment could not apply because of where the enterprise is: no file covers its
    city, or county files of its city were left out because its county is absent or unknown."""
    p = enterprise.profile
    places = rulebook.places(enterprise)
    if not places:
        return [N_("no rule file for city '%(city)s'") % {"city": p.city}]
    left = rulebook.left_out(p.city, p.county)
    if not left:
        return []
    path = rulebook.divisions.path_of(p.city, p.county)
    why = N_("county %(county)s is not in the divisions table under %(city)s") % {
        "county": repr(p.county), "city": path[-1].id} if p.county else N_("no county given")
    return [N_("%(why)s: the county files %(files)s were not applied") % {"why": why, "files": ", ".join(left)}]


def _checked_arguments(enterprise: Any, rulebook: Any, as_of: Any, engine: Any) -> dt.date:
    """``as_of`` as a date (today when ``None``), after checking what a caller passed: a dict or a string
    here would otherwise fail deep inside with an ``AttributeError`` or a ``TypeError``."""
    expect(enterprise, EnterpriseBase, "enterprise", "build one with load_enterprise(path or dict)", "Enterprise")
    expect(rulebook, Rulebook, "rulebook", "build one with load_rulebook(path)")
    if engine not in ("native", "durable"):
        raise ArgumentError(f"engine must be 'native' or 'durable', not {engine!r}", field="engine")
    if as_of is None:
        return dt.date.today()
    expect(as_of, dt.date, "as_of", "pass datetime.date(2026, 6, 30), or datetime.date.fromisoformat(text)")
    return as_of.date() if isinstance(as_of, dt.datetime) else as_of


class AwardRow(NamedTuple):
    """One award as a plain row, for populations: what ``Award`` says, without citation or checks."""

    rule_id: str
    record_id: str
    status: str
    amount: Decimal | None
    amount_max: Decimal | None
    payers: dict[str, Decimal]
    payers_unspecified: bool


def award_rows(enterprise: Enterprise, rulebook: Rulebook, as_of: dt.date, *, engine: Engine = "native",
               terms_checked: bool = False) -> list[AwardRow]:
    """The awards of ``assess(..., explain=False)`` as rows, built without Pydantic objects.

    For registers of many enterprises: the same rules, amounts and payer shares as the explained
    assessment (``tests/test_population.py`` proves it on random rule files and registers); pass
    ``terms_checked=True`` when the facts were already checked against the vocabulary.
    """
    if not terms_checked:
        as_of = _checked_arguments(enterprise, rulebook, as_of, engine)
        enterprise.check_terms(rulebook.vocabulary)
    if not enterprise.records:  # most of a register: nothing a rule could reward
        return []
    candidates = _judge(enterprise, rulebook, as_of, engine, None, None, basis=False)
    if not candidates:
        return []
    _combine(candidates, enterprise)
    return [_row(c) for c in candidates if c.lost_to is None and not c.rule.reported]


def _judge(enterprise: Enterprise, rulebook: Rulebook, as_of: dt.date, engine: Engine,
           not_eligible: list[RuleOutcome] | None, undetermined: list[RuleOutcome] | None,
           basis: bool = True) -> list[_Candidate]:
    """Every eligible (rule, record) pair, priced; outcomes of the others go to the lists when given."""
    matches = _durable_matches(rulebook, enterprise, as_of) if engine == "durable" else None
    candidates: list[_Candidate] = []
    if not_eligible is None or undetermined is None:
        _judge_quietly(enterprise, rulebook, as_of, matches, candidates, basis)
        return candidates
    price_of = _pricer(rulebook)
    derived = rulebook.extra_facts(enterprise, as_of)
    for rule in rulebook.rules_for(rulebook.places(enterprise)):
        _judge_rule(rule, enterprise, derived, as_of, matches, price_of, candidates, not_eligible, undetermined)
    return candidates


def _pricer(rulebook: Rulebook) -> PriceOf:
    """Prices another rule's amount on the same facts, for ``multiplier`` (its conditions aside)."""
    def price_of(rule_id: str, facts: Facts) -> Price:
        rule = rulebook.by_id[rule_id]
        return price(rule.rule.amount, facts, rule.tier_trees, price_of)
    return price_of


def _judge_rule(rule: CompiledRule, enterprise: Enterprise, derived: dict[str, Any], as_of: dt.date,
                matches: set[tuple[str, str]] | None, price_of: PriceOf, candidates: list[_Candidate],
                not_eligible: list[RuleOutcome], undetermined: list[RuleOutcome]) -> None:
    """Judge one rule on each record it could reward, recording why it does not pay where it does not."""
    kind = rule.rule.rewards["kind"]
    selectors = rule.selectors
    records = [r for r in enterprise.records if r.kind == kind
               and all(t.evaluate(Facts(enterprise.profile, r, derived)) is not Truth.FALSE for t in selectors)]
    if not records:
        wanted = ", ".join(t.describe() for t in selectors)
        not_eligible.append(_outcome(rule, None, [N_("no record with %(conditions)s") % {"conditions": wanted}], [], []))
        return
    for record in records:
        facts = Facts(enterprise.profile, record, derived)
        checks: list[Check] = []
        truth = evaluate(rule.tree, facts, checks)
        if matches is not None and (truth is Truth.TRUE) != ((rule.id, record.id) in matches):
            raise EngineError(f"durable_rules and the native matcher disagree on rule {rule.id} "
                              f"for record {record.id}", field=rule.id)
        if record.date > as_of:
            not_eligible.append(_outcome(rule, record.id, [N_("record.date %(date)s is after as_of %(as_of)s") % {
                "date": record.date, "as_of": as_of}], [], checks))
        elif truth is Truth.FALSE:
            reasons = [c.describe() for c in checks if c.truth is Truth.FALSE]
            not_eligible.append(_outcome(rule, record.id, reasons, [], checks))
        elif truth is Truth.UNKNOWN:
            missing = {m for c in checks if c.truth is Truth.UNKNOWN for m in c.missing}
            base = rule.rule.amount.base_fact
            if base and facts.get(base) is None:
                missing.add(base)  # name every fact needed, not just the first
            undetermined.append(_outcome(rule, record.id, [], sorted(missing), checks))
        else:
            priced = price(rule.rule.amount, facts, rule.tier_trees, price_of)
            if isinstance(priced, Missing):
                undetermined.append(_outcome(rule, record.id, [], list(priced.facts), checks))
            elif isinstance(priced, NoAmount):
                not_eligible.append(_outcome(rule, record.id, [priced.reason], [], checks))
            else:
                candidates.append(_Candidate(rule, record, priced.amount, priced.basis, facts, checks))


def _judge_quietly(enterprise: Enterprise, rulebook: Rulebook, as_of: dt.date, matches: set[tuple[str, str]] | None,
                   candidates: list[_Candidate], basis: bool = True) -> None:
    """The eligible pairs of ``_judge_rule``, found without recording checks: for populations.

    Only the rules the index says could reward a record are judged, by their compiled conditions
    (or durable_rules' matches), and a fixed amount is not priced again. ``basis=False`` skips the
    worked sums, which rows do not show.
    """
    profile = enterprise.profile
    index = rulebook.index(rulebook.places(enterprise))
    # As Rulebook.extra_facts, from the index at hand: most cities read neither, and pay nothing here.
    derived = (extra_facts(enterprise, as_of, rulebook.derived, whole=index.uses_whole)
               if index.uses_derived or index.uses_whole else {})
    for record in enterprise.records:
        if record.date > as_of:
            continue
        for rule, holds in index.entries(record):
            if not (holds(profile, record, derived) if matches is None else (rule.id, record.id) in matches):
                continue
            amount = rule.rule.amount
            priced: Price | None = amount.constant
            facts = None  # only a priced amount or an instalment reads facts again
            if priced is None or rule.instalment_trees:
                facts = Facts(profile, record, derived)
                priced = priced or price(amount, facts, rule.tier_trees, _pricer(rulebook), basis=basis)
            if isinstance(priced, Priced):
                candidates.append(_Candidate(rule, record, priced.amount, priced.basis, facts))


def _combine(candidates: list[_Candidate], enterprise: Enterprise) -> list[Conflict]:
    """Apply limits and groups; mark losers with ``lost_to``; return the conflicts found."""
    conflicts: list[Conflict] = []
    if len(candidates) > 1:  # limits and conflicts need two candidates to bite
        candidates.sort(key=lambda c: (c.record.date, c.record.id))
        _apply_limits(candidates)
        by_record: dict[str, list[_Candidate]] = {}
        for c in candidates:
            if c.lost_to is None:
                by_record.setdefault(c.record.id, []).append(c)
        for record_id, same in by_record.items():
            if len(same) > 1:
                conflicts += _settle(record_id, same)
    _apply_additional(candidates, enterprise)
    _apply_caps(candidates)
    return conflicts


def _apply_limits(candidates: list[_Candidate]) -> None:
    """``once_per_*`` limits: of the records one scope holds, the earliest is paid (``candidates`` are
    in record order); the scope of ``once_per_achievement`` is the record's achievement identity."""
    paid: dict[tuple[str, Any], str] = {}
    for c in candidates:
        limit = c.rule.rule.limit
        if limit == "once_per_record":
            continue
        key = (c.rule.id, None if limit == "once_per_enterprise" else
               c.record.achievement if limit == "once_per_achievement" else c.record.date.year)
        if key in paid:
            scope = (N_("once per enterprise") if limit == "once_per_enterprise" else
                     N_("once per achievement") if limit == "once_per_achievement" else
                     N_("once per year (%(year)s)") % {"year": key[1]})
            c.lost_to = N_("%(scope)s: already awarded for record %(record)s") % {"scope": scope, "record": paid[key]}
        else:
            paid[key] = c.record.id


def _settle(record_id: str, same: list[_Candidate]) -> list[Conflict]:
    """Several rules reward one record: official texts settle, reported amounts are shown beside them."""
    settled = [c for c in same if not c.rule.reported]
    reported = [c for c in same if c.rule.reported]
    conflicts = _settle_official(record_id, settled) if len(settled) > 1 else []
    if not settled or not reported:
        return conflicts
    paying = [c for c in settled if c.lost_to is None]
    best = max(enumerate(paying), key=lambda p: (p[1].amount or ZERO, -p[0]))[1]  # the first highest, in linear time
    for r in reported:
        r.beside = best
    shown = [best, *reported]
    documents = sorted({c.rule.rule.cite.document for c in shown})
    kinds = sorted({c.rule.document.kind for c in reported})
    reason = N_("%(kinds)s %(documents)s is not an official text: its amount is shown, the official text's is paid") % {
        "kinds": "/".join(kinds), "documents": ", ".join(sorted({c.rule.rule.cite.document for c in reported}))}
    return conflicts + [Conflict(record_id=record_id, rule_ids=[c.rule.id for c in shown],
                                 amounts=[c.amount for c in shown], paid_rule_id=best.rule.id, documents=documents,
                                 reason=reason, reported=[c.rule.id for c in reported])]


def _settle_official(record_id: str, same: list[_Candidate]) -> list[Conflict]:
    """Several official rules reward one record: pay all only where one group says ``all``/``additional``."""
    groups = {c.rule.rule.group for c in same}
    if len(groups) == 1 and None not in groups and same[0].rule.group and same[0].rule.group.combine != "highest":
        return []
    best = max(same, key=lambda c: c.amount or ZERO)  # the first of the highest: candidates are never compared
    for c in same:
        if c is not best:
            c.lost_to = N_("record %(record)s is already rewarded by %(rule)s; only the highest is paid") % {
                "record": record_id, "rule": best.rule.id}
    amounts = {c.amount for c in same}
    documents = sorted({c.rule.rule.cite.document for c in same})
    if len(groups) == 1 and None not in groups and len(amounts) == 1 and len(documents) == 1:
        return []
    declared = len(groups) == 1 and None not in groups
    reason = (N_("group %(group)s pays the highest only") % {"group": same[0].rule.rule.group} if declared else
              N_("these rules reward the same record and declare no common group; the highest is paid"))
    if len(documents) > 1 and None in amounts:
        reason = N_("%(reason)s; one source states no amount") % {"reason": reason}
    elif len(documents) > 1 and len(amounts) > 1:
        reason = N_("%(reason)s; the source documents disagree on the amount") % {"reason": reason}
    return [Conflict(record_id=record_id, rule_ids=[c.rule.id for c in same], amounts=[c.amount for c in same],
                     paid_rule_id=best.rule.id, documents=documents, reason=reason)]


def _apply_additional(candidates: list[_Candidate], enterprise: Enterprise) -> None:
    """In an ``additional`` group, the others pay on top of the group's base, as the group declares:
    its award paid (``paid``), its achievement held at any date up to the added record's
    (``achieved``: the base may lie outside the window), or nothing (``nothing``)."""
    adding = [c for c in candidates if c.lost_to is None and c.rule.adds_to and not c.rule.reported]
    if not adding:
        return
    paying = {c.rule.id for c in candidates if c.lost_to is None and not c.rule.reported}
    for c in adding:
        needs = c.rule.group.base_needs if c.rule.group else "paid"
        if needs == "paid" and c.rule.adds_to not in paying:
            c.lost_to = N_("additional to %(rule)s, which does not pay") % {"rule": c.rule.adds_to}
        elif needs == "achieved" and not any(
                r.date <= c.record.date and all(t.evaluate(Facts(enterprise.profile, r, {})) is Truth.TRUE
                                                for t in c.rule.base_selectors) for r in enterprise.records):
            wanted = ", ".join(t.describe() for t in c.rule.base_selectors)
            c.lost_to = N_("additional to %(rule)s: no record with %(conditions)s on or before %(date)s") % {
                "rule": c.rule.adds_to, "conditions": wanted, "date": c.record.date}


def _apply_caps(candidates: list[_Candidate]) -> None:
    """Per-enterprise caps of a rule (``enterprise_cap``) and of a group (``cap``), earliest records first."""
    spent: dict[str, Decimal] = {}
    for c in candidates:
        if c.lost_to is not None or c.amount is None or not c.rule.caps or c.rule.reported:
            continue
        year = c.record.date.year
        caps = [(N_("%(name)s (%(year)s)") % {"name": name, "year": year} if per_year else name, cap) for name, cap, per_year in c.rule.caps]
        for name, cap in caps:
            left = to_fen(cap - spent.get(name, ZERO))
            if left <= 0:
                c.lost_to = N_("the %(name)s cap of %(cap)s per enterprise is already reached") % {"name": name, "cap": cap}
                break
            elif c.amount > left:
                reduced = N_("reduced to %(remaining)s by the %(name)s cap of %(cap)s") % {"remaining": left, "name": name, "cap": cap}
                c.basis = N_("%(basis)s; %(reduced)s") % {"basis": c.basis, "reduced": reduced} if c.basis else reduced
                c.amount = left
        if c.lost_to is None:
            for name, cap in caps:
                spent[name] = spent.get(name, ZERO) + c.amount


def _row(c: _Candidate) -> AwardRow:
    rule = c.rule
    status = rule.rule.amount.status
    payers = rule.split(c.amount) if c.amount is not None else {}
    return AwardRow(rule.id, c.record.id, status, c.amount if status == "fixed" else None, c.amount, payers,
                    rule.shares is None)


def _award(c: _Candidate, reported: list[_Candidate]) -> Award:
    rule = c.rule
    spec = rule.rule.amount
    payers = rule.split(c.amount) if c.amount is not None else {}
    status = spec.status
    return Award(
        rule_id=rule.id, title=rule.rule.title.zh, title_en=rule.rule.title.en, status=status,
        level=rule.level, place=rule.city,
        amount=c.amount if status == "fixed" else None, amount_max=c.amount, basis=c.basis,
        payers=payers, payers_unspecified=rule.shares is None, record_id=c.record.id,
        citation=_citation(rule), departments=list(rule.rule.departments),
        description=spec.unquantified or spec.non_monetary, rule_location=str(rule.location),
        notes=[note_in(n, "en") for n in rule.rule.notes], checks=[_check_result(k) for k in c.checks],
        instalments=_instalments(c), clawback=[k.condition for k in rule.rule.clawback],
        payment_deadline=rule.rule.payment_deadline.due(c.record.date) if rule.rule.payment_deadline else None,
        materials=list(rule.rule.materials), department=rule.rule.department, contact=rule.rule.contact,
        reported=[ReportedAmount(rule_id=r.rule.id, status=r.rule.rule.amount.status,
                                 amount=r.amount if r.rule.rule.amount.status == "fixed" else None,
                                 amount_max=r.amount, citation=_citation(r.rule)) for r in reported],
    )


def _instalments(c: _Candidate) -> list[InstalmentDue]:
    parts = c.rule.rule.instalments
    if not parts:
        return []
    shares = {str(n): p.share for n, p in enumerate(parts)}
    amounts = split(c.amount, shares) if c.amount is not None else {}
    out = []
    for n, (part, tree) in enumerate(zip(parts, c.rule.instalment_trees)):
        assert c.facts is not None  # kept for every rule with instalments
        truth = evaluate(tree, c.facts) if tree.children else Truth.TRUE
        status: Literal["payable", "pending", "undetermined"] = (
            "payable" if truth is Truth.TRUE else "pending" if truth is Truth.FALSE else "undetermined")
        out.append(InstalmentDue(share=part.share, amount=amounts.get(str(n)), due=part.due, status=status))
    return out


def _citation(rule: CompiledRule) -> Citation:
    return Citation(document=rule.rule.cite.document, document_number=rule.document.number,
                    document_title=rule.document.title, document_kind=rule.document.kind,
                    clause=rule.rule.cite.clause, quote=rule.rule.cite.quote)


def _outcome(rule: CompiledRule, record_id: str | None, reasons: list[str], missing: list[str],
             checks: list[Check]) -> RuleOutcome:
    return RuleOutcome(rule_id=rule.id, title=rule.rule.title.zh, record_id=record_id, reasons=reasons,
                       missing=missing, checks=[_check_result(c) for c in checks],
                       rule_location=str(rule.location))


def _check_result(check: Check) -> CheckResult:
    actual = None if check.actual is None else show(check.actual)
    if check.truth is Truth.UNKNOWN and check.missing != (check.fact,):
        actual = N_("missing: %(facts)s") % {"facts": ", ".join(check.missing)}   # the concrete facts a comparison or count lacks
    result = {Truth.TRUE: "holds", Truth.FALSE: "fails", Truth.UNKNOWN: "missing"}[check.truth]
    return CheckResult(fact=check.fact, op=check.op, required=check.required, actual=actual,
                       result=result, origin=check.test.origin)  # type: ignore[arg-type]


def _lost(c: _Candidate) -> RuleOutcome:
    return _outcome(c.rule, c.record.id, [c.lost_to or ""], [], c.checks)


def _assessment(enterprise: Enterprise, rulebook: Rulebook, as_of: dt.date, engine: Engine, awards: list[Award],
                not_eligible: list[RuleOutcome], undetermined: list[RuleOutcome], conflicts: list[Conflict],
                warnings: list[str]) -> Assessment:
    total = to_fen(sum((a.amount for a in awards if a.status == "fixed" and a.amount is not None), ZERO))
    total_max = to_fen(sum((a.amount_max for a in awards if a.amount_max is not None), ZERO))
    by_payer: dict[str, Decimal] = {}
    for a in awards:
        if a.status != "fixed" or a.amount is None:
            continue
        if a.payers_unspecified:
            by_payer["unspecified"] = by_payer.get("unspecified", ZERO) + a.amount
        for payer, share in a.payers.items():
            by_payer[payer] = by_payer.get(payer, ZERO) + share
    p = enterprise.profile
    return Assessment(
        enterprise=EnterpriseRef(name=p.name, credit_code=p.credit_code, city=p.city, county=p.county),
        as_of=as_of, rulebook_hash=rulebook.hash, engine=engine, awards=awards, not_eligible=not_eligible,
        undetermined=undetermined, total=total, total_max=total_max, total_by_payer=by_payer,
        conflicts=conflicts, warnings=warnings, total_reported_max=total_max,
        readings=rulebook.readings_in_force(p.city))


_matcher_lock = threading.Lock()


def _durable_matches(rulebook: Rulebook, enterprise: Enterprise, as_of: dt.date) -> set[tuple[str, str]]:
    """The pairs durable_rules matches, from one matcher per set of covering files holding their rules."""
    from incentives._durable import DurableMatcher  # compiled C extension: load only when asked for

    places = rulebook.places(enterprise)
    with _matcher_lock:
        matcher = rulebook.matchers.get(places)
        if matcher is None:
            matcher = rulebook.matchers[places] = DurableMatcher(rulebook.rules_for(places))
    return matcher.match(enterprise, extra=rulebook.extra_facts(enterprise, as_of))
