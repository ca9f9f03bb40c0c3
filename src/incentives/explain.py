"""One rule, explained for one enterprise: the clause, every condition checked, and the verdict."""

from __future__ import annotations

import datetime as dt

from incentives.engine import assess
from incentives.errors import RulebookError
from incentives.facts import Enterprise
from incentives.outcomes import CheckResult
from incentives.report import Lang, award_amount, payer_text, table
from incentives.rulebook import Rulebook

_WORDS = {
    "zh": {"holds": "满足", "fails": "不满足", "missing": "缺少", "eligible": "符合", "not_eligible": "不符合",
           "undetermined": "待定", "fact": "事实", "required": "要求", "actual": "实际", "result": "结果",
           "quote": "原文", "notes": "解释说明", "where": "规则位置"},
    "en": {"holds": "holds", "fails": "fails", "missing": "missing", "eligible": "eligible",
           "not_eligible": "not eligible", "undetermined": "undetermined", "fact": "fact", "required": "required",
           "actual": "actual", "result": "result", "quote": "quote", "notes": "notes", "where": "defined at"},
}


def explain(enterprise: Enterprise, rulebook: Rulebook, rule_id: str, as_of: dt.date | None = None,
            lang: Lang = "zh") -> str:
    """Text explaining rule ``rule_id`` for ``enterprise``: the citation, then each record's verdict."""
    rule = rulebook.by_id.get(rule_id)
    if rule is None:
        raise RulebookError(f"no rule {rule_id!r}; rules: {', '.join(sorted(rulebook.by_id))}", field="--rule")
    w = _WORDS[lang]
    r = rule.rule
    lines = [f"{r.id}: {r.title.zh if lang == 'zh' else r.title.en}",
             f"{rule.document.number or rule.document.title} {r.cite.clause}",
             f"{w['quote']}: {r.cite.quote}", f"{w['where']}: {rule.location}"]
    lines += [f"{w['notes']}: {note}" for note in r.notes]
    if rule.city != enterprise.profile.city:
        lines.append(f"{w['not_eligible']}: rule is for {rule.city}, enterprise is in {enterprise.profile.city}")
        return "\n".join(lines)
    result = assess(enterprise, rulebook, as_of)
    for award in (a for a in result.awards if a.rule_id == rule_id):
        lines += ["", f"[{award.record_id}] {w['eligible']}: {award_amount(award, lang)} ({payer_text(award, lang)})"]
        if award.basis:
            lines.append(f"  {award.basis}")
        lines.append(_checks(award.checks, w))
    for status, outcomes in (("not_eligible", result.not_eligible), ("undetermined", result.undetermined)):
        for o in (o for o in outcomes if o.rule_id == rule_id):
            why = "; ".join(o.reasons) or ", ".join(o.missing)
            lines += ["", f"[{o.record_id or '-'}] {w[status]}: {why}"]
            if o.checks:
                lines.append(_checks(o.checks, w))
    return "\n".join(lines)


def _checks(checks: list[CheckResult], w: dict[str, str]) -> str:
    rows = [[w["fact"], w["required"], w["actual"], w["result"]]]
    rows += [[c.fact, f"{c.op} {c.required}", c.actual or "-", w[c.result]] for c in checks]
    return "\n".join("  " + line for line in table(rows).splitlines())
