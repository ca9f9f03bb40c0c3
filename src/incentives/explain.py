"""One rule, explained for one enterprise: the clause, every condition checked, and the verdict.

In Chinese every sentence and condition is shown in its Chinese form (``incentives.messages``); the
rule file's notes are shown in Chinese (a note's ``zh``, or a note of one text written in Chinese), and a
note written in English only is pointed to.
"""

from __future__ import annotations

import datetime as dt

from incentives.engine import assess
from incentives.errors import RulebookError
from incentives.facts import Enterprise
from pydantic import BaseModel, ConfigDict, Field

from incentives.messages import N_, Names, fact_label, gettext, requirement, translate, written_in_english
from incentives.outcomes import Award, CheckResult, Citation, RuleOutcome
from incentives.readings import Note, note_in
from incentives.report import Lang, award_amount, localized, payer_text, reading_line, reasons, table
from incentives.rulebook import Rulebook

# Each word's English form is its msgid; the catalogue gives the Chinese.
_WORDS = {"holds": N_("holds"), "fails": N_("fails"), "missing": N_("missing"), "eligible": N_("eligible"),
          "not_eligible": N_("not eligible"), "undetermined": N_("undetermined"), "fact": N_("fact"),
          "required": N_("required"), "actual": N_("actual"), "result": N_("result"), "quote": N_("quote"),
          "notes": N_("notes"), "where": N_("defined at")}


class Explanation(BaseModel):
    """One rule for one enterprise, as data: the clause, and each record's verdict with its checks."""

    model_config = ConfigDict(frozen=True)

    rule_id: str
    title: str
    title_en: str
    citation: Citation
    rule_location: str
    notes: list[str] = Field(description="the rule's notes in English (of a {zh, en} note, its en)")
    notes_zh: list[str] = Field(default_factory=list, description="the rule's notes in Chinese (of a {zh, en} note, "
                                "its zh; a note of one text where it is written in Chinese)")
    applies: bool = Field(description="whether the rule is of the enterprise's city")
    as_of: dt.date
    rulebook_hash: str
    awards: list[Award]
    not_eligible: list[RuleOutcome]
    undetermined: list[RuleOutcome]
    readings: dict[str, str] = Field(default_factory=dict, description="the readings in force for the city")


def explanation(enterprise: Enterprise, rulebook: Rulebook, rule_id: str,
                as_of: dt.date | None = None, lang: Lang = "en") -> Explanation:
    """Rule ``rule_id`` for ``enterprise``: its awards, and why not or what is missing for the rest.

    ``lang="zh"`` gives the sentences for people (reasons, how amounts were computed) in Chinese."""
    rule = rulebook.by_id.get(rule_id)
    if rule is None:
        raise RulebookError(f"no rule {rule_id!r}; rules: {', '.join(sorted(rulebook.by_id))}", field="--rule")
    r = rule.rule
    citation = Citation(document=r.cite.document, document_number=rule.document.number,
                        document_title=rule.document.title, clause=r.cite.clause, quote=r.cite.quote)
    result = assess(enterprise, rulebook, as_of)
    if lang != "en":
        result = localized(result, lang, rulebook)
    applies = rule.city in rulebook.places(enterprise)
    return Explanation(
        rule_id=r.id, title=r.title.zh, title_en=r.title.en, citation=citation, rule_location=str(rule.location),
        notes=[note_in(n, "en") for n in r.notes], notes_zh=chinese_notes(r.notes), applies=applies,
        as_of=result.as_of, rulebook_hash=rulebook.hash,
        awards=[a for a in result.awards if a.rule_id == rule_id],
        not_eligible=[o for o in result.not_eligible if o.rule_id == rule_id],
        undetermined=[o for o in result.undetermined if o.rule_id == rule_id], readings=result.readings)


def chinese_notes(notes: list[Note]) -> list[str]:
    """The Chinese of ``notes``: each pair's ``zh``, and each note of one text not written in English."""
    return [note_in(n, "zh") for n in notes if not isinstance(n, str) or not written_in_english(n)]


def explain(enterprise: Enterprise, rulebook: Rulebook, rule_id: str, as_of: dt.date | None = None,
            lang: Lang = "zh") -> str:
    """Text explaining rule ``rule_id`` for ``enterprise``: the citation, then each record's verdict."""
    e = explanation(enterprise, rulebook, rule_id, as_of)
    w = {key: gettext(word, lang) for key, word in _WORDS.items()}
    names = Names.of(rulebook) if lang == "zh" else Names()
    names = names.about(names.kind_of(rule_id))
    lines = [f"{e.rule_id}: {e.title if lang == 'zh' else e.title_en}",
             f"{e.citation.document_number or e.citation.document_title} {e.citation.clause}",
             f"{w['quote']}: {e.citation.quote}", f"{w['where']}: {e.rule_location}"]
    shown = e.notes if lang == "en" else e.notes_zh
    lines += [f"{w['notes']}: {note}" for note in shown]
    if len(shown) < len(e.notes):
        lines.append(f"{w['notes']}: " + gettext(N_("%(n)s more notes are written in English only (defined at "
                                                       "%(where)s)"), lang) % {"n": len(e.notes) - len(shown),
                                                                                "where": e.rule_location})
    lines += [reading_line(e.readings, lang)] if e.readings else []
    if not e.applies:
        place = rulebook.by_id[rule_id].city
        where = enterprise.profile.city + (f" {enterprise.profile.county}" if enterprise.profile.county else "")
        because = N_("rule is for %(city)s, enterprise is in %(city_of_enterprise)s") % {
            "city": place, "city_of_enterprise": where}
        lines.append(f"{w['not_eligible']}: {translate(because, lang, names)}")
        return "\n".join(lines)
    for award in e.awards:
        lines += ["", f"[{award.record_id}] {w['eligible']}: {award_amount(award, lang)} ({payer_text(award, lang)})"]
        if award.basis:
            lines.append(f"  {translate(award.basis, lang, names)}")
        lines.append(_checks(award.checks, w, lang, names))
    for status, outcomes in (("not_eligible", e.not_eligible), ("undetermined", e.undetermined)):
        for o in outcomes:
            why = reasons(o, lang, names) if lang == "zh" else "; ".join(o.reasons) or ", ".join(o.missing)
            lines += ["", f"[{o.record_id or '-'}] {w[status]}: {why}"]
            if o.checks:
                lines.append(_checks(o.checks, w, lang, names))
    return "\n".join(lines)


def _checks(checks: list[CheckResult], w: dict[str, str], lang: Lang, names: Names) -> str:
    rows = [[w["fact"], w["required"], w["actual"], w["result"]]]
    if lang == "en":
        rows += [[c.fact, f"{c.op} {c.required}", c.actual or "-", w[c.result]] for c in checks]
    else:
        rows += [[fact_label(c.fact, lang, names), requirement(c.fact, c.op, c.required, lang, names),
                  _actual(c, lang, names), w[c.result]] for c in checks]
    return "\n".join("  " + line for line in table(rows).splitlines())


def _actual(check: CheckResult, lang: Lang, names: Names) -> str:
    """What a check found, in ``lang``: a value by its Chinese name, or the inputs of a comparison."""
    if not check.actual:
        return "-"
    translated = translate(check.actual, lang, names)
    return translated if translated != check.actual else names.value(check.fact, check.actual, lang)
