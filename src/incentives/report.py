"""Human-readable assessments: money, rates and dates in Chinese or English, and plain-text tables.

Chinese shows ``30万元`` where an amount is a whole number of hundreds of yuan and ``123,456.79元``
otherwise; English shows ``CNY 300,000.00``. Formatting comes from babel's locale data.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from decimal import Decimal
from typing import Literal, Sequence

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal, format_percent

from incentives.outcomes import Assessment, Award, RuleOutcome

Lang = Literal["zh", "en"]
_LOCALE = {"zh": "zh_CN", "en": "en"}
_WAN = Decimal(10_000)

_LABELS = {
    "zh": {"enterprise": "企业", "as_of": "评估日", "rule": "规则", "award": "奖励", "amount": "金额",
           "payers": "承担", "clause": "条款", "record": "记录", "total": "合计(确定金额)",
           "total_max": "合计(含最高额)", "not_eligible": "不符合", "undetermined": "待补充事实",
           "conflicts": "冲突", "missing": "缺少", "hash": "规则库", "up_to": "最高", "unquantified": "金额未定",
           "non_monetary": "非资金支持", "none": "无", "city": "市级", "county": "县级", "province": "省级",
           "unspecified": "未明确", "departments": "责任部门", "basis": "计算", "paid": "支付",
           "readings": "适用解读", "by_level": "按文件层级"},
    "en": {"enterprise": "Enterprise", "as_of": "As of", "rule": "Rule", "award": "Award", "amount": "Amount",
           "payers": "Payers", "clause": "Clause", "record": "Record", "total": "Total (determined)",
           "total_max": "Total (with ceilings)", "not_eligible": "Not eligible", "undetermined": "Undetermined",
           "conflicts": "Conflicts", "missing": "missing", "hash": "Rulebook", "up_to": "up to",
           "unquantified": "amount not stated", "non_monetary": "non-monetary", "none": "none", "city": "city",
           "county": "county", "province": "province", "unspecified": "unspecified", "departments": "Departments",
           "basis": "Basis", "paid": "paid", "readings": "Readings", "by_level": "By level of the paying file"},
}


def label(key: str, lang: Lang) -> str:
    return _LABELS[lang].get(key, key)


def money(amount: Decimal, lang: Lang = "zh", wan: bool | None = None) -> str:
    """``30万元`` / ``123,456.79元`` in Chinese, ``CNY 300,000.00`` in English.

    ``wan`` fixes the Chinese unit (for a column: see ``column_in_wan``); by default a whole number of
    hundreds of yuan is shown in 万元."""
    if lang == "en":
        return format_currency(amount, "CNY", locale="en", format="¤¤ #,##0.00", currency_digits=False)
    if wan is False:
        return format_decimal(amount, format="#,##0.00", locale="zh_CN") + "元"
    if wan or (amount and amount % 100 == 0):
        return format_decimal(amount / _WAN, locale="zh_CN", decimal_quantization=False) + "万元"
    return format_decimal(amount, format="#,##0.00", locale="zh_CN") + "元"


def column_in_wan(amounts: Sequence[Decimal | None]) -> bool:
    """Whether a column of amounts shows in 万元: only where every amount is a whole number of 万, so
    one column never mixes ``4,770万元`` and ``31,298,338.76元``."""
    return all(a % _WAN == 0 for a in amounts if a is not None)


def percent(rate: Decimal, lang: Lang = "zh") -> str:
    return format_percent(rate, locale=_LOCALE[lang], decimal_quantization=False)


def date(day: dt.date, lang: Lang = "zh") -> str:
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
    widths = [max(_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell + " " * (w - _width(cell)) for cell, w in zip(row, widths)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def render(result: Assessment, lang: Lang = "zh") -> str:
    """The assessment as text: awards table, totals, then the rules that do not pay and why."""
    def L(key: str) -> str:
        return label(key, lang)

    e = result.enterprise
    out = [f"{L('enterprise')}: {e.name} ({e.credit_code}, {e.city}{' ' + e.county if e.county else ''})",
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
    by_payer = ", ".join(f"{L(p)} {money(v, lang)}" for p, v in result.total_by_payer.items())
    out += ["", f"{L('total')}: {money(result.total, lang)}" + (f"  ({by_payer})" if by_payer else "")]
    if result.total_max != result.total:
        out.append(f"{L('total_max')}: {money(result.total_max, lang)}")
    levels = {a.level for a in result.awards}
    if len(levels) > 1:   # files of several levels pay: say how much each level's files give
        sums = {level: sum((a.amount for a in result.awards if a.level == level and a.status == "fixed"
                            and a.amount is not None), Decimal(0)) for level in ("province", "city", "county")}
        out.append(f"{L('by_level')}: " + ", ".join(f"{L(level)} {money(v, lang)}" for level, v in sums.items()
                                                      if level in levels))
    out += _outcome_lines(L("undetermined"), result.undetermined, lang)
    out += _outcome_lines(L("not_eligible"), [o for o in result.not_eligible if o.record_id], lang)
    for c in result.conflicts:
        out.append(f"{L('conflicts')}: {c.record_id}: {', '.join(c.rule_ids)} → {L('paid')} {c.paid_rule_id}; {c.reason}")
    out += result.warnings
    return "\n".join(out)


def reading_line(readings: dict[str, str], lang: Lang) -> str:
    """The readings in force (``incentives.readings``): each ambiguity's id and the option chosen."""
    return f"{label('readings', lang)}: " + ", ".join(f"{name}={option}" for name, option in sorted(readings.items()))


def _outcome_lines(title: str, outcomes: list[RuleOutcome], lang: Lang) -> list[str]:
    if not outcomes:
        return []
    lines = ["", f"{title}:"]
    for o in outcomes:
        why = "; ".join(o.reasons) if o.reasons else f"{label('missing', lang)}: {', '.join(o.missing)}"
        lines.append(f"  {o.rule_id} [{o.record_id}] {why}")
    return lines
