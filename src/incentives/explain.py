"""One rule, explained for one enterprise: the clause, every condition checked, and the verdict."""

from __future__ import annotations

import datetime as dt

from incentives.engine import assess
from incentives.errors import RulebookError
from incentives.facts import Enterprise
from pydantic import BaseModel, ConfigDict, Field

from incentives.outcomes import Award, CheckResult, Citation, RuleOutcome
from incentives.report import Lang, award_amount, payer_text, reading_line, table
from incentives.rulebook import Rulebook

_WORDS = {
    "zh": {"holds": "满足", "fails": "不满足", "missing": "缺少", "eligible": "符合", "not_eligible": "不符合",
           "undetermined": "待定", "fact": "事实", "required": "要求", "actual": "实际", "result": "结果",
           "quote": "原文", "notes": "解释说明", "where": "规则位置"},
    "en": {"holds": "holds", "fails": "fails", "missing": "missing", "eligible": "eligible",
           "not_eligible": "not eligible", "undetermined": "undetermined", "fact": "fact", "required": "required",
           "actual": "actual", "result": "result", "quote": "quote", "notes": "notes", "where": "defined at"},
}


class Explanation(BaseModel):
    """One rule for one enterprise, as data: the clause, and each record's verdict with its checks."""

    model_config = ConfigDict(frozen=True)

    rule_id: str
    title: str
    title_en: str
    citation: Citation
    rule_location: str
    notes: list[str]
    applies: bool = Field(description="whether the rule is of the enterprise's city")
    as_of: dt.date
    rulebook_hash: str
    awards: list[Award]
    not_eligible: list[RuleOutcome]
    undetermined: list[RuleOutcome]
    readings: dict[str, str] = Field(default_factory=dict, description="the readings in force for the city")


def explanation(enterprise: Enterprise, rulebook: Rulebook, rule_id: str,
                as_of: dt.date | None = None) -> Explanation:
    """Rule ``rule_id`` for ``enterprise``: its awards, and why not or what is missing for the rest."""
    rule = rulebook.by_id.get(rule_id)
    if rule is None:
        raise RulebookError(f"no rule {rule_id!r}; rules: {', '.join(sorted(rulebook.by_id))}", field="--rule")
    r = rule.rule
    citation = Citation(document=r.cite.document, document_number=rule.document.number,
                        document_title=rule.document.title, clause=r.cite.clause, quote=r.cite.quote)
    result = assess(enterprise, rulebook, as_of)
    applies = rule.city in rulebook.places(enterprise)
    return Explanation(
        rule_id=r.id, title=r.title.zh, title_en=r.title.en, citation=citation, rule_location=str(rule.location),
        notes=list(r.notes), applies=applies, as_of=result.as_of, rulebook_hash=rulebook.hash,
        awards=[a for a in result.awards if a.rule_id == rule_id],
        not_eligible=[o for o in result.not_eligible if o.rule_id == rule_id],
        undetermined=[o for o in result.undetermined if o.rule_id == rule_id], readings=result.readings)


def explain(enterprise: Enterprise, rulebook: Rulebook, rule_id: str, as_of: dt.date | None = None,
            lang: Lang = "zh") -> str:
    """Text explaining rule ``rule_id`` for ``enterprise``: the citation, then each record's verdict."""
    e = explanation(enterprise, rulebook, rule_id, as_of)
    w = _WORDS[lang]
    lines = [f"{e.rule_id}: {e.title if lang == 'zh' else e.title_en}",
             f"{e.citation.document_number or e.citation.document_title} {e.citation.clause}",
             f"{w['quote']}: {e.citation.quote}", f"{w['where']}: {e.rule_location}"]
    lines += [f"{w['notes']}: {note}" for note in e.notes]
    lines += [reading_line(e.readings, lang)] if e.readings else []
    if not e.applies:
        place = rulebook.by_id[rule_id].city
        where = enterprise.profile.city + (f" {enterprise.profile.county}" if enterprise.profile.county else "")
        lines.append(f"{w['not_eligible']}: rule is for {place}, enterprise is in {where}")
        return "\n".join(lines)
    for award in e.awards:
        lines += ["", f"[{award.record_id}] {w['eligible']}: {award_amount(award, lang)} ({payer_text(award, lang)})"]
        if award.basis:
            lines.append(f"  {award.basis}")
        lines.append(_checks(award.checks, w))
    for status, outcomes in (("not_eligible", e.not_eligible), ("undetermined", e.undetermined)):
        for o in outcomes:
            why = "; ".join(o.reasons) or ", ".join(o.missing)
            lines += ["", f"[{o.record_id or '-'}] {w[status]}: {why}"]
            if o.checks:
                lines.append(_checks(o.checks, w))
    return "\n".join(lines)


def _checks(checks: list[CheckResult], w: dict[str, str]) -> str:
    rows = [[w["fact"], w["required"], w["actual"], w["result"]]]
    rows += [[c.fact, f"{c.op} {c.required}", c.actual or "-", w[c.result]] for c in checks]
    return "\n".join("  " + line for line in table(rows).splitlines())
