"""Human-readable assessments: money, rates and dates in Chinese or English, and plain-text tables.

Chinese shows ``30万元`` where an amount is a whole number of 万 and ``123,456.79元`` otherwise (a
column shows 万元 only where every amount in it is whole: ``column_in_wan``); English shows
``CNY 300,000.00``. Formatting comes from babel's locale data; labels and sentences come from the
message catalogue (``incentives.messages``), so a Chinese report has no English sentence in it.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from decimal import Decimal
from typing import TYPE_CHECKING, Literal, Sequence

from incentives.messages import N_, Names, fact_label, gettext, translate
from incentives.outcomes import Assessment, Award, RuleOutcome

if TYPE_CHECKING:
    from incentives.rulebook import Rulebook

Lang = Literal["zh", "en"]
_LOCALE = {"zh": "zh_CN", "en": "en"}
_WAN = Decimal(10_000)

# Each label's English form is its msgid; the catalogue gives the Chinese.
_LABELS = {
    "enterprise": N_("Enterprise"), "as_of": N_("As of"), "rule": N_("Rule"), "award": N_("Award"),
    "amount": N_("Amount"), "payers": N_("Payers"), "clause": N_("Clause"), "record": N_("Record"),
    "total": N_("Total (determined)"), "total_max": N_("Total (with ceilings)"), "not_eligible": N_("Not eligible"),
    "undetermined": N_("Undetermined"), "conflicts": N_("Conflicts"), "missing": N_("missing"),
    "missing_facts": N_("missing facts"), "hash": N_("Rulebook"), "up_to": N_("up to"),
    "unquantified": N_("amount not stated"), "non_monetary": N_("non-monetary"), "none": N_("none"),
    "city": N_("city"), "county": N_("county"), "province": N_("province"), "unspecified": N_("unspecified"),
    "departments": N_("Departments"), "basis": N_("Basis"), "paid": N_("paid"), "readings": N_("Readings"),
    "by_level": N_("By level of the paying file"),
}


def label(key: str, lang: Lang) -> str:
    """The label ``key`` (``total``, a payer such as ``city``...) in ``lang``; unknown keys unchanged."""
    return gettext(_LABELS[key], lang) if key in _LABELS else key


def money(amount: Decimal, lang: Lang = "zh", wan: bool | None = None) -> str:
    """``30万元`` / ``123,456.79元`` in Chinese, ``CNY 300,000.00`` in English.

    ``wan`` fixes the Chinese unit (for a column: see ``column_in_wan``); by default a whole number of
    万 is shown in 万元."""
    from babel.numbers import format_currency, format_decimal  # babel's locale data loads when a number is shown

    if lang == "en":
        return format_currency(amount, "CNY", locale="en", format="¤¤ #,##0.00", currency_digits=False)
    if wan is False:
        return format_decimal(amount, format="#,##0.00", locale="zh_CN") + "元"
    if wan or (amount and amount % _WAN == 0):
        return format_decimal(amount / _WAN, locale="zh_CN", decimal_quantization=False) + "万元"
    return format_decimal(amount, format="#,##0.00", locale="zh_CN") + "元"


def column_in_wan(amounts: Sequence[Decimal | None]) -> bool:
    """Whether a column of amounts shows in 万元: only where every amount is a whole number of 万, so
    one column never mixes ``4,770万元`` and ``31,298,338.76元``."""
    return all(a % _WAN == 0 for a in amounts if a is not None)


def percent(rate: Decimal, lang: Lang = "zh") -> str:
    from babel.numbers import format_percent

    return format_percent(rate, locale=_LOCALE[lang], decimal_quantization=False)


def date(day: dt.date, lang: Lang = "zh") -> str:
    from babel.dates import format_date

    return format_date(day, format="long", locale=_LOCALE[lang])


def award_amount(award: Award, lang: Lang, wan: bool | None = None) -> str:
    if award.status == "fixed" and award.amount is not None:
        return money(award.amount, lang, wan)
    if award.status == "up_to" and award.amount_max is not None:
        return f"{label('up_to', lang)} {money(award.amount_max, lang, wan)}"
    return label(award.status, lang)


def payer_text(award: Award, lang: Lang, wan: bool | None = None) -> str:
    if award.payers_unspecified:
        return label("unspecified", lang)
    return ", ".join(f"{label(p, lang)} {money(v, lang, wan)}" for p, v in award.payers.items()) or "-"


def table(rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table whose columns line up with Chinese (double-width) characters."""
    widths = [max(display_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell + " " * (w - display_width(cell)) for cell, w in zip(row, widths)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal: two for a wide (CJK) character."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def render(result: Assessment, lang: Lang = "zh", rulebook: Rulebook | None = None) -> str:
    """The assessment as text: awards table, totals, then the rules that do not pay and why.

    In Chinese every sentence (reasons, conflicts, warnings) is shown in its Chinese form, with facts
    and terms by their Chinese names from ``rulebook`` (by default the shipped one)."""
    def L(key: str) -> str:
        return label(key, lang)

    names = Names.of(rulebook) if lang == "zh" else Names()
    e = result.enterprise
    city = names.city(e.city)
    out = [f"{L('enterprise')}: {e.name} ({e.credit_code}, {city}{' ' + e.county if e.county else ''})",
           f"{L('as_of')}: {date(result.as_of, lang)}    {L('hash')}: {result.rulebook_hash[:19]}"]
    out += [reading_line(result.readings, lang)] if result.readings else []
    out.append("")
    if result.awards:
        rows = [[L("rule"), L("award"), L("amount"), L("payers"), L("clause"), L("record")]]
        wan = column_in_wan([a.amount_max for a in result.awards])
        wan_payers = column_in_wan([v for a in result.awards for v in a.payers.values()])
        for a in result.awards:
            rows.append([a.rule_id, a.title if lang == "zh" else a.title_en, award_amount(a, lang, wan),
                         payer_text(a, lang, wan_payers), f"{a.citation.document_number or a.citation.document} {a.citation.clause}",
                         a.record_id or "-"])
        out.append(table(rows))
    else:
        out.append(f"{L('award')}: {L('none')}")
    wan_total = column_in_wan([result.total, *result.total_by_payer.values()])   # one unit on the line
    by_payer = ", ".join(f"{L(p)} {money(v, lang, wan_total)}" for p, v in result.total_by_payer.items())
    out += ["", f"{L('total')}: {money(result.total, lang, wan_total)}" + (f"  ({by_payer})" if by_payer else "")]
    if result.total_max != result.total:
        out.append(f"{L('total_max')}: {money(result.total_max, lang)}")
    levels = {a.level for a in result.awards}
    if len(levels) > 1:   # files of several levels pay: say how much each level's files give
        sums = {level: sum((a.amount for a in result.awards if a.level == level and a.status == "fixed"
                            and a.amount is not None), Decimal(0)) for level in ("province", "city", "county")}
        out.append(f"{L('by_level')}: " + ", ".join(f"{L(level)} {money(v, lang)}" for level, v in sums.items()
                                                      if level in levels))
    out += _outcome_lines(L("undetermined"), result.undetermined, lang, names)
    out += _outcome_lines(L("not_eligible"), [o for o in result.not_eligible if o.record_id], lang, names)
    sep = "；" if lang == "zh" else "; "
    for c in result.conflicts:
        reason = translate(c.reason, lang, names.about(names.kind_of(c.paid_rule_id)))
        out.append(f"{L('conflicts')}: {c.record_id}: {', '.join(c.rule_ids)} → {L('paid')} {c.paid_rule_id}{sep}{reason}")
    out += [translate(w, lang, names) for w in result.warnings]
    return "\n".join(out)


def reading_line(readings: dict[str, str], lang: Lang) -> str:
    """The readings in force (``incentives.readings``): each ambiguity's id and the option chosen."""
    return f"{label('readings', lang)}: " + ", ".join(f"{name}={option}" for name, option in sorted(readings.items()))


def reasons(outcome: RuleOutcome, lang: Lang, names: Names | None = None) -> str:
    """Why ``outcome``'s rule does not pay, or which facts it lacks, as one line in ``lang``."""
    if lang == "en":
        return "; ".join(outcome.reasons) if outcome.reasons else f"{label('missing', lang)}: {', '.join(outcome.missing)}"
    names = (names or Names.of(None)).about(None)
    names = names.about(names.kind_of(outcome.rule_id))
    if outcome.reasons:
        return "；".join(translate(r, lang, names) for r in outcome.reasons)
    return f"{label('missing_facts', lang)}：{'、'.join(fact_label(f, lang, names) for f in outcome.missing)}"


def _outcome_lines(title: str, outcomes: list[RuleOutcome], lang: Lang, names: Names) -> list[str]:
    if not outcomes:
        return []
    lines = ["", f"{title}:"]
    for o in outcomes:
        lines.append(f"  {o.rule_id} [{o.record_id}] {reasons(o, lang, names)}")
    return lines


def localized(result: Assessment, lang: Lang, rulebook: Rulebook | None = None) -> Assessment:
    """``result`` with its sentences for people (reasons, conflicts, warnings, how amounts were computed)
    in ``lang``; ids, codes, facts, amounts and dates stay as they are, so the JSON keeps its shape."""
    if lang == "en":
        return result
    names = Names.of(rulebook)
    return result.model_copy(update={
        "awards": localized_awards(result.awards, lang, names),
        "not_eligible": localized_outcomes(result.not_eligible, lang, names),
        "undetermined": localized_outcomes(result.undetermined, lang, names),
        "conflicts": [c.model_copy(update={"reason": translate(c.reason, lang, names.about(names.kind_of(c.paid_rule_id)))})
                      for c in result.conflicts],
        "warnings": [translate(w, lang, names) for w in result.warnings]})


def localized_awards(awards: list[Award], lang: Lang, names: Names) -> list[Award]:
    return [a.model_copy(update={"basis": translate(a.basis, lang, names.about(names.kind_of(a.rule_id)))})
            if a.basis else a for a in awards]


def localized_outcomes(outcomes: list[RuleOutcome], lang: Lang, names: Names) -> list[RuleOutcome]:
    return [o.model_copy(update={"reasons": [translate(r, lang, names.about(names.kind_of(o.rule_id)))
                                             for r in o.reasons]}) for o in outcomes]
