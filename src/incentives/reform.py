"""What-if reforms: change named rules (amounts, rates, caps, payers, windows), add or remove rules,
and compare a population's awards under the baseline and the reform.

A reform file reads::

    title: 试点项目奖励上限提高到30万元
    changes:
      - rule: lf.digital_pilot
        set: {amount.cap: 30万元}                 # dotted paths into the rule, as written in rule files
      - rule: lf.leader.provincial
        set: {payers: {city: 60%, county: 40%}, window.to: 2028-12-31}
      - remove: lf.leader.municipal
      - add: {city: langfang, rule: {id: lf.new, ...}}   # a whole rule, as in a rule file
      - rule: lf.new
        add_when: [{enterprise.clusters: {not_empty: true}}]   # conditions added to the rule's when
      - document: lf-2025-5
        set: {effective.to: 2027-12-31}

The changes are those a rule file's readings make (``incentives.readings``).

The reformed rulebook is validated exactly like a rule file, so a reform can never produce rules the
format forbids; its problems are reported against the reform file's lines.
"""

from __future__ import annotations

import copy
import hashlib
import datetime as dt
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Sequence

from pydantic import BaseModel, ConfigDict, Field

from incentives import _yaml
from incentives.divisions import UNKNOWN_COUNTY
from incentives.engine import AwardRow, award_rows
from incentives.errors import Location, RulebookError
from incentives.facts import Enterprise, Profile
from incentives.messages import N_, Lang, Names, gettext
from incentives.money import to_fen
from incentives.outcomes import Award
from incentives.readings import Change, set_path
from incentives.rulebook import LoadedFile, Rulebook

ZERO = Decimal(0)


class Reform(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str
    changes: list[Change] = Field(min_length=1)


def load_reform(path: str | Path) -> tuple[Reform, _yaml.Document]:
    doc = _yaml.load(path)
    return _yaml.validated(doc, Reform, RulebookError, "reform"), doc


def apply_reform(rulebook: Rulebook, reform: Reform, source: str = "<reform>") -> Rulebook:
    """A new rulebook with the reform's changes applied and every changed file re-validated."""
    data = {city: loaded.model.model_dump(mode="python", by_alias=True, exclude_defaults=True)
            for city, loaded in rulebook.files.items()}
    touched: set[str] = set()
    for n, change in enumerate(reform.changes):
        city = _apply(data, change, rulebook, source, n)
        touched.add(city)
    files = dict(rulebook.files)
    for city in touched:
        files[city] = _revalidate(rulebook.files.get(city), data[city], rulebook, source)
    digest = f"{rulebook.hash}+reform:{hashlib.sha256(reform.model_dump_json().encode()).hexdigest()[:16]}"
    return rulebook.rebuilt(files, digest)


def _apply(data: dict[str, dict[str, Any]], change: Change, book: Rulebook, source: str, n: int) -> str:
    if change.add is not None:
        city, rule = change.add.get("city"), change.add.get("rule")
        if city not in data or not isinstance(rule, dict):
            raise RulebookError("add needs {city: <a loaded city>, rule: {...}}", field=f"changes[{n}].add",
                                location=Location(source))
        data[city]["rules"].append(copy.deepcopy(rule))
        return str(city)
    if change.document is not None:
        city = next((c for c, f in book.files.items() if change.document in f.model.documents), None)
        if city is None:
            raise RulebookError(f"no document {change.document!r} to change", field=f"changes[{n}]",
                                location=Location(source))
        for path, value in (change.set or {}).items():
            set_path(data[city]["documents"][change.document], path.split("."), value)
        return city
    rule_id = change.remove or change.rule
    found = book.by_id.get(rule_id or "")
    if found is None:
        raise RulebookError(f"no rule {rule_id!r} to change", field=f"changes[{n}]",
                            location=Location(source))
    rules = data[found.city]["rules"]
    index = next(i for i, r in enumerate(rules) if r["id"] == rule_id)
    if change.remove:
        del rules[index]
    else:
        for path, value in (change.set or {}).items():
            set_path(rules[index], path.split("."), value)
        if change.drop_when:
            rules[index]["when"] = [c for c in rules[index].get("when", [])
                                    if not (isinstance(c, dict) and set(c) & set(change.drop_when))]
        if change.add_when:
            rules[index].setdefault("when", []).extend(copy.deepcopy(change.add_when))
    return found.city


def _revalidate(original: LoadedFile | None, data: dict[str, Any], book: Rulebook, source: str) -> LoadedFile:
    # Documents keep their source paths relative to the original file, so quote checks still resolve.
    path = original.path if original else source
    text = _yaml.dump(data)
    loaded, problems = book.inspect(path, text)
    if problems or loaded is None:
        first = problems[0]
        raise RulebookError(f"after the reform, {first.field}: {first.message}", problems=problems,
                            location=Location(source), code=first.code)
    # The data carries the options chosen for the original's readings already; it is not read again.
    return replace(loaded, readings=dict(original.readings) if original else loaded.readings, text=None)


@dataclass
class Tally:
    """Baseline against reform, summed over a population."""

    baseline: Decimal = ZERO
    reform: Decimal = ZERO

    @property
    def change(self) -> Decimal:
        return self.reform - self.baseline


@dataclass
class ReformReport:
    enterprises: int = 0
    total: Tally = field(default_factory=Tally)
    by_payer: dict[str, Tally] = field(default_factory=dict)
    by_county: dict[str, Tally] = field(default_factory=dict)
    by_rule: dict[str, Tally] = field(default_factory=dict)
    gains: list[tuple[str, str, Decimal]] = field(default_factory=list)    # credit code, name, change
    losses: list[tuple[str, str, Decimal]] = field(default_factory=list)
    gained: int = 0     # enterprises counted by merge, whose rows went elsewhere
    lost: int = 0

    def add(self, profile: Profile, base: Sequence[Award | AwardRow], new: Sequence[Award | AwardRow]) -> None:
        """One enterprise's awards under the baseline and under the reform (``award_rows`` or ``assess``)."""
        self.enterprises += 1
        county = f"{profile.city}/{profile.county or UNKNOWN_COUNTY}"
        totals = []
        for attr, awards in (("baseline", base), ("reform", new)):
            total = ZERO
            for award in awards:
                if award.status != "fixed" or award.amount is None:
                    continue
                total += award.amount
                _bump(self.by_rule, award.rule_id, attr, award.amount)
                if award.payers_unspecified:
                    _bump(self.by_payer, "unspecified", attr, award.amount)
                for payer, share in award.payers.items():
                    _bump(self.by_payer, payer, attr, share)
            total = to_fen(total)  # as Assessment.total gives it
            _bump(self.by_county, county, attr, total)
            setattr(self.total, attr, getattr(self.total, attr) + total)
            totals.append(total)
        change = totals[1] - totals[0]
        if change:
            (self.gains if change > 0 else self.losses).append((profile.credit_code, profile.name, change))

    def merge(self, other: ReformReport) -> None:
        """Add another report's totals (for chunks assessed apart); its enterprise rows are not kept."""
        self.enterprises += other.enterprises
        self.total.baseline += other.total.baseline
        self.total.reform += other.total.reform
        for mine, theirs in ((self.by_payer, other.by_payer), (self.by_county, other.by_county),
                             (self.by_rule, other.by_rule)):
            for key, tally in theirs.items():
                _bump(mine, key, "baseline", tally.baseline)
                _bump(mine, key, "reform", tally.reform)
        self.gained += other.gained + len(other.gains)
        self.lost += other.lost + len(other.losses)

    def to_json(self) -> dict[str, Any]:
        """Everything counted so far, exactly (money as text), for a batch's checkpoint."""
        def tallies(table: dict[str, Tally]) -> dict[str, list[str]]:
            return {k: [str(t.baseline), str(t.reform)] for k, t in table.items()}

        return {"enterprises": self.enterprises, "total": [str(self.total.baseline), str(self.total.reform)],
                "by_payer": tallies(self.by_payer), "by_county": tallies(self.by_county),
                "by_rule": tallies(self.by_rule), "gains": [[c, n, str(d)] for c, n, d in self.gains],
                "losses": [[c, n, str(d)] for c, n, d in self.losses], "gained": self.gained, "lost": self.lost}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReformReport:
        def tallies(table: dict[str, list[str]]) -> dict[str, Tally]:
            return {k: Tally(Decimal(b), Decimal(r)) for k, (b, r) in table.items()}

        return cls(int(data["enterprises"]), Tally(*map(Decimal, data["total"])), tallies(data["by_payer"]),
                   tallies(data["by_county"]), tallies(data["by_rule"]),
                   [(c, n, Decimal(d)) for c, n, d in data["gains"]], [(c, n, Decimal(d)) for c, n, d in data["losses"]],
                   int(data["gained"]), int(data["lost"]))

    def to_dict(self, title: str) -> dict[str, Any]:
        def rows(table: dict[str, Tally]) -> dict[str, dict[str, str]]:
            return {k: {"baseline": str(t.baseline), "reform": str(t.reform), "change": str(t.change)}
                    for k, t in sorted(table.items())}

        return {"title": title, "enterprises": self.enterprises,
                "total": {"baseline": str(self.total.baseline), "reform": str(self.total.reform),
                          "change": str(self.total.change)},
                "by_payer": rows(self.by_payer), "by_county": rows(self.by_county), "by_rule": rows(self.by_rule),
                "enterprises_gaining": self.gained + len(self.gains), "enterprises_losing": self.lost + len(self.losses)}


def _bump(table: dict[str, Tally], key: str, attr: str, amount: Decimal) -> None:
    tally = table.setdefault(key, Tally())
    setattr(tally, attr, getattr(tally, attr) + amount)


def compare(enterprises: Iterable[Enterprise], baseline: Rulebook, reformed: Rulebook,
            as_of: dt.date) -> ReformReport:
    """Assess each enterprise under both rulebooks; totals per payer, county and rule, and who gains or loses."""
    report = ReformReport()
    for enterprise in enterprises:
        report.add(enterprise.profile, award_rows(enterprise, baseline, as_of), award_rows(enterprise, reformed, as_of))
    report.gains.sort(key=lambda r: -r[2])
    report.losses.sort(key=lambda r: r[2])
    return report


def render(report: ReformReport, title: str, lang: Lang = "zh") -> str:
    """The comparison as plain text tables, in ``lang``; each money column keeps one unit style."""
    from incentives.report import column_in_wan, label, money, table

    def say(template: str, **args: Any) -> str:
        return gettext(template, lang) % args

    names = Names.of(None) if lang == "zh" else Names()

    def place(key: str) -> str:   # langfang/香河县 → 廊坊市香河县; no county on file: UNKNOWN_COUNTY
        city, _, county = key.partition("/")
        if lang == "en":
            return key
        return names.city(city) + (gettext(N_("(county not recorded)"), lang) if county == UNKNOWN_COUNTY else county)

    def rows(name: str, tallies: dict[str, Tally], labelled: bool = False) -> str:
        body = [[gettext(name, lang), gettext(N_("baseline"), lang), gettext(N_("reform"), lang),
                 gettext(N_("change"), lang)]]
        items = sorted(tallies.items())
        wan = [column_in_wan([getattr(t, f) for _, t in items]) for f in ("baseline", "reform", "change")]
        body += [[label(k, lang) if labelled else place(k) if name == N_("county or district") else k, money(t.baseline, lang, wan[0]), money(t.reform, lang, wan[1]),
                  _signed(t.change, wan[2], lang)] for k, t in items]
        return table(body)

    total = report.total
    out = [say(N_("Reform: %(title)s"), title=title), say(N_("Enterprises: %(n)s"), n=f"{report.enterprises:,}"),
           say(N_("Total: %(baseline)s → %(reform)s (%(change)s)"), baseline=money(total.baseline, lang),
               reform=money(total.reform, lang), change=_signed(total.change, None, lang)), "",
           rows(N_("payer"), report.by_payer, labelled=True), "", rows(N_("county or district"), report.by_county), "",
           rows(N_("rule"), report.by_rule), "",
           say(N_("Gain: %(gained)s enterprise(s); lose: %(lost)s"), gained=report.gained + len(report.gains),
               lost=report.lost + len(report.losses))]
    out += [f"  + {name} ({code}) {_signed(c, None, lang)}" for code, name, c in report.gains[:10]]
    out += [f"  - {name} ({code}) {_signed(c, None, lang)}" for code, name, c in report.losses[:10]]
    return "\n".join(out)


def _signed(amount: Decimal, wan: bool | None = None, lang: Lang = "zh") -> str:
    from incentives.report import money

    return ("+" if amount > 0 else "-" if amount < 0 else "±") + money(abs(amount), lang, wan)
