"""Checks on rule files beyond their format: quotes against the source texts, overlaps, dead caps.

``lint_files`` returns every problem of every file (never stops at the first), each a located
``IncentivesError`` whose ``code`` names the check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from incentives import _yaml
from incentives.conditions import Op, Test
from incentives.divisions import DIVISIONS_FILE, load_divisions
from incentives.errors import IncentivesError, LintWarning, RulebookError
from incentives.factschema import FACTS_FILE, FactsSchema, check_vocabulary_fields, inspect_facts_schema
from incentives.rulebook import (VOCABULARY_FILE, CompiledRule, LoadedFile, companions, facts_schema_beside,
                                 inspect_rule_file)
from incentives.sources import check_quotes
from incentives.sources import normalise as normalise  # where it was first defined
from incentives.vocabulary import Vocabulary, load_vocabulary


def lint_files(paths: Iterable[str | Path], vocabulary: Vocabulary | None = None) -> list[IncentivesError]:
    """Every problem found in ``paths``; an empty list means they are clean."""
    problems: list[IncentivesError] = []
    for path in paths:
        path = Path(path)
        if path.name in (VOCABULARY_FILE, FACTS_FILE):
            problems += check_schema_files(path)
            continue
        if path.name == DIVISIONS_FILE:
            problems += check_divisions(path)
            continue
        try:
            vocab_path, facts = companions(path) if vocabulary is None else (Path(), None)
            vocab = vocabulary or load_vocabulary(vocab_path)
            loaded, found = inspect_rule_file(path, vocab, facts=facts)
        except IncentivesError as e:
            problems.append(e)
            continue
        problems += found
        if loaded is not None:
            problems += check_quotes(loaded) + check_caps(loaded) + check_overlaps(loaded) + check_base_conditions(loaded)
            problems += check_additional_bases(loaded)
            known = {(str(p.location), p.message) for p in problems}
            problems += [p for p in check_readings(loaded, vocab, facts)
                         if (str(p.location), p.message.split(": ", 1)[-1]) not in known]
    return problems


def check_readings(loaded: LoadedFile, vocabulary: Vocabulary, facts: FactsSchema | None) -> list[IncentivesError]:
    """The file read with each option of each of its readings: every option must give rules that load
    and quote their texts (the default is the file as written, checked already)."""
    problems: list[IncentivesError] = []
    for name, reading in loaded.model.readings.items():
        for option in reading.options:
            if option == reading.default:
                continue
            other, found = inspect_rule_file(loaded.path, vocabulary, loaded.text, facts, {name: option})
            if other is not None and not found:
                found = check_quotes(other)
            problems += [RulebookError(f"with reading {name}={option}: {p.message}", location=p.location,
                                       field=p.field, code=p.code) for p in found]
    return problems


def check_divisions(path: Path) -> list[IncentivesError]:
    """Every problem of a divisions table (``divisions.yaml``)."""
    try:
        load_divisions(path)
    except RulebookError as e:
        return list(e.problems) or [e]
    except IncentivesError as e:
        return [e]
    return []


def check_schema_files(path: Path) -> list[IncentivesError]:
    """Every problem of a facts schema file; or of a vocabulary: each list that names no term field of
    the facts schema beside it (or of the bundled one where there is none)."""
    if path.name == FACTS_FILE:
        return inspect_facts_schema(path)[1]
    try:
        facts = facts_schema_beside(path.parent)
        vocab = load_vocabulary(path)
    except IncentivesError:
        return []  # reported where the schema file or the rule files are linted
    return check_vocabulary_fields(facts, vocab.terms, _yaml.load(path))


def check_caps(loaded: LoadedFile) -> list[IncentivesError]:
    """Caps that stop an award ever being paid, contradict its fixed amount, or can never bind."""
    doc = _yaml.load(loaded.path)
    rules = {r.id: r for r in loaded.model.rules}
    problems: list[IncentivesError] = []

    def report(i: int, where: tuple[str, ...], message: str, code: str, warn: bool = False) -> None:
        key: _yaml.Key = ("rules", i, *where)
        problems.append((LintWarning if warn else RulebookError)(message, location=doc.locate(key),
                                                                  field=_field(key), code=code))

    for i, rule in enumerate(loaded.model.rules):
        amount = rule.amount
        if amount.cap is not None and amount.cap <= 0:
            report(i, ("amount", "cap"), "cap is zero: the award can never be paid", "cap-never-pays")
        fixed = amount.fixed
        if rule.enterprise_cap is not None and fixed is not None:
            if rule.enterprise_cap < fixed:
                report(i, ("enterprise_cap",), f"enterprise_cap {rule.enterprise_cap} is below the fixed amount "
                       f"{fixed}: the first award is always cut", "cap-contradicts-amount")
            elif rule.limit == "once_per_enterprise":
                report(i, ("enterprise_cap",), "enterprise_cap never binds: the rule pays once per enterprise",
                       "cap-never-binds", warn=True)
        group = loaded.model.groups.get(rule.group or "")
        if group is not None and group.cap is not None and fixed is not None and group.cap < fixed:
            report(i, ("amount", "fixed"), f"fixed amount {fixed} exceeds its group's cap {group.cap}",
                   "cap-contradicts-amount")
        if amount.multiplier is not None and amount.cap is not None and amount.of_rule in rules:
            base = rules[amount.of_rule].amount
            ceiling = base.fixed if base.fixed is not None else base.cap
            if ceiling is not None and ceiling * amount.multiplier <= amount.cap:
                report(i, ("amount", "cap"), f"cap {amount.cap} never binds: {amount.of_rule} pays at most "
                       f"{ceiling}, × {amount.multiplier} = {ceiling * amount.multiplier}", "cap-never-binds",
                       warn=True)
    return problems


def check_base_conditions(loaded: LoadedFile) -> list[IncentivesError]:
    """A multiplier whose base rule has conditions of its own and that does not say whether they apply."""
    rules = {r.id: r for r in loaded.model.rules}
    doc = _yaml.load(loaded.path) if any(r.amount.of_rule for r in rules.values()) else None
    problems: list[IncentivesError] = []
    for i, rule in enumerate(loaded.model.rules):
        base = rules.get(rule.amount.of_rule or "")
        if doc is None or base is None or rule.base_conditions is not None or not base.when:
            continue
        key: _yaml.Key = ("rules", i, "amount", "of_rule")
        problems.append(LintWarning(
            f"{rule.id} multiplies {base.id}, whose own conditions ({len(base.when)}) then apply here too: write "
            "base_conditions: inherit to say so, or base_conditions: ignore if this rule stands on its own",
            location=doc.locate(key), field=_field(key), code="base-conditions-implicit"))
    return problems


def check_overlaps(loaded: LoadedFile) -> list[IncentivesError]:
    """Two rules that can reward the same record without a common group: only the higher would be paid."""
    problems: list[IncentivesError] = []
    rules = list(loaded.rules)
    for n, a in enumerate(rules):
        for b in rules[n + 1:]:
            if a.rule.group and a.rule.group == b.rule.group:
                continue
            if _selectors_meet(a, b) and _windows_meet(a, b):
                problems.append(LintWarning(
                    f"{a.id} and {b.id} can reward the same record and share no group: only the higher is "
                    "paid and a conflict is reported; declare a group saying how they combine",
                    location=b.location, field=b.id, code="overlap-without-group"))
    return problems


def check_additional_bases(loaded: LoadedFile) -> list[IncentivesError]:
    """An ``additional`` group must say what its further awards need of the base (``base_needs``): whether
    the base award was paid, the base achieved at any date (再奖励 after a title older than the policy), or
    nothing. Left out, it means ``paid``; the choice is a reading of the text, so it is written."""
    doc = _yaml.load(loaded.path)
    return [LintWarning(f"group {name} adds awards to a base but does not say what they need of it: write "
                        "base_needs: paid (its award paid here), achieved (its record held, at any date) or nothing",
                        location=doc.locate(("groups", name)), field=f"groups.{name}", code="base-needs")
            for name, group in loaded.model.groups.items()
            if group.combine == "additional" and "base_needs" not in group.model_fields_set]


def _selectors_meet(a: CompiledRule, b: CompiledRule) -> bool:
    sa, sb = _selectors(a), _selectors(b)
    return all(sa[f] & sb[f] for f in sa.keys() & sb.keys())


def _selectors(rule: CompiledRule) -> dict[str, set[object]]:
    out: dict[str, set[object]] = {}
    for test in rule.tree.children:
        if isinstance(test, Test) and test.origin == "rewards":
            out[test.fact] = set(test.value) if test.op is Op.ONE_OF else {test.value}  # type: ignore[arg-type]
    return out


def _windows_meet(a: CompiledRule, b: CompiledRule) -> bool:
    a_end, b_end = a.window.end, b.window.end
    return (b_end is None or a.window.start <= b_end) and (a_end is None or b.window.start <= a_end)


def _field(key: tuple[object, ...]) -> str:
    return "".join(f"[{k}]" if isinstance(k, int) else (f".{k}" if n else str(k)) for n, k in enumerate(key))

