"""Clause coverage: for each source document, each clause and whether a rule encodes it, and if not why.

``docs/coverage.md`` is generated from this (``incentives coverage > docs/coverage.md``) and a test
fails when it is out of date, so the table always says what the rule files really hold.
"""

from __future__ import annotations

from dataclasses import dataclass

from incentives.divisions import LEVELS
from incentives.errors import Location, SourceError
from incentives.money import percent
from incentives.rulebook import LoadedFile, Rulebook, SourceDocument
from incentives.sources import normalise, read_source


@dataclass(frozen=True)
class ClauseRow:
    clause: str
    status: str                 # encoded | not_an_entitlement | not_encodable
    rule_ids: tuple[str, ...]
    detail: str                 # amounts of the encoded rules, or the reason it is not encoded
    position: int               # where the clause's quote starts in the source text (for ordering)


@dataclass(frozen=True)
class DocumentCoverage:
    city: str
    document_id: str
    title: str
    number: str | None
    kind: str
    rows: tuple[ClauseRow, ...]
    listed: tuple[str, ...] = ()        # the clauses the document declares (``clauses:``)
    dated: str = ""                     # its issue date and how it was verified
    readings: tuple[tuple[str, str, str, tuple[str, ...]], ...] = ()   # id, clause, question, options (default first)
    level: str = "city"                 # of the rule file's place: province, city or county
    place: str = ""                     # the place's Chinese name (河北省), where the divisions table has it
    payers: tuple[str, ...] = ()        # the payers its encoded rules name

    def counts(self) -> dict[str, int]:
        """Clauses by status (a clause with an encoded and an unencoded passage counts in both)."""
        return {status: len({r.clause for r in self.rows if r.status == status}) for status in _STATUS}


def coverage(rulebook: Rulebook) -> list[DocumentCoverage]:
    """Every document of every rule file with its clauses, in the order they appear in the text; files
    by level (province, city, county), then by place."""
    out = []
    for city in sorted(rulebook.files, key=lambda k: (LEVELS.index(rulebook.files[k].model.level), k)):
        loaded = rulebook.files[city]
        place = rulebook.divisions.by_id.get(city)
        for doc_id, document in loaded.model.documents.items():
            text = _source(loaded, document.source)
            payers = {p for r in loaded.model.rules if r.cite.document == doc_id and r.payers != "unspecified"
                      for p in r.payers}
            out.append(DocumentCoverage(city=city, document_id=doc_id, title=document.title, number=document.number,
                                        kind=document.kind, rows=tuple(_rows(loaded, doc_id, text)),
                                        listed=tuple(document.clauses or ()), dated=_dated(document),
                                        readings=_readings(loaded, doc_id),
                                        level=loaded.model.level, place=place.zh if place else "",
                                        payers=tuple(p for p in PAYERS if p in payers)))
    return out


PAYERS = ("province", "city", "county")


def by_level(docs: list[DocumentCoverage]) -> dict[str, dict[str, int | tuple[str, ...]]]:
    """Per level: places, documents, rules, clauses encoded and not, and the payers the rules name."""
    out: dict[str, dict[str, int | tuple[str, ...]]] = {}
    for level in LEVELS:
        mine = [d for d in docs if d.level == level]
        counts = [d.counts() for d in mine]
        out[level] = {"places": len({d.city for d in mine}), "documents": len(mine),
                      "rules": len({i for d in mine for r in d.rows for i in r.rule_ids}),
                      "encoded": sum(c["encoded"] for c in counts),
                      "not_encoded": sum(c["not_an_entitlement"] + c["not_encodable"] for c in counts),
                      "payers": tuple(p for p in PAYERS if any(p in d.payers for d in mine))}
    return out


def _readings(loaded: LoadedFile, doc_id: str) -> tuple[tuple[str, str, str, tuple[str, ...]], ...]:
    """The document's readings (``incentives.readings``): id, clause, question, options with the default first."""
    return tuple((name, r.cite.clause or "(whole document)", r.question.en,
                  (r.default, *(o for o in r.options if o != r.default)))
                 for name, r in loaded.model.readings.items() if r.cite.document == doc_id)


def _dated(document: SourceDocument) -> str:
    if document.issued is not None:
        when = f"issued {document.issued}"
    elif document.published is not None:
        when = f"published {document.published.start}..{document.published.end}"
    else:
        when = "no date printed"
    return when + (f" ({document.date_evidence.strip()})" if document.date_evidence else "")


def _source(loaded: LoadedFile, source: str | None) -> str:
    if source is None:
        return ""
    try:
        return read_source(loaded.path, source, Location(loaded.path))
    except SourceError:
        return ""


def _rows(loaded: LoadedFile, doc_id: str, text: str) -> list[ClauseRow]:
    by_clause: dict[str, list[tuple[str, str, int]]] = {}
    for rule in loaded.model.rules:
        if rule.cite.document == doc_id:
            pos = text.find(normalise(rule.cite.quote))
            by_clause.setdefault(rule.cite.clause, []).append((rule.id, _amount(rule.amount), pos))
    rows = [ClauseRow(clause, "encoded", tuple(r for r, _, _ in items), "; ".join(a for _, a, _ in items),
                      min(p for _, _, p in items)) for clause, items in by_clause.items()]
    for item in loaded.model.not_encoded:
        if item.document == doc_id:
            rows.append(ClauseRow(item.clause, item.status, (), item.reason, text.find(normalise(item.quote))))
    seen = {r.clause for r in rows}
    declared = loaded.model.documents[doc_id].clauses or []
    rows += [ClauseRow(c, "not_reviewed", (), "listed by the document, neither encoded nor explained", len(text) + n)
             for n, c in enumerate(declared) if c not in seen]
    return sorted(rows, key=lambda r: (r.position < 0, r.position, r.clause))


def _amount(amount: object) -> str:
    from incentives.amounts import Amount

    assert isinstance(amount, Amount)
    from incentives.report import money

    form = amount.form
    if form == "fixed":
        assert amount.fixed is not None
        return money(amount.fixed)
    if form in ("rate", "matching"):
        rate = amount.rate if form == "rate" else amount.matching
        assert rate is not None
        capped = f" ≤ {money(amount.cap)}" if amount.cap is not None else ""
        return f"{'≤ ' if amount.discretionary else ''}{percent(rate)} of {amount.of}{capped}"
    if form == "up_to":
        assert amount.up_to is not None
        return f"up to {money(amount.up_to)}"
    if form == "multiplier":
        return f"{amount.multiplier} × {amount.of_rule}"
    if form == "brackets":
        return "brackets"
    return form


_STATUS = {"encoded": "encoded", "not_an_entitlement": "not an entitlement", "not_encodable": "not encodable",
           "not_reviewed": "not reviewed"}


def to_markdown(docs: list[DocumentCoverage]) -> str:
    """The coverage table as Markdown (docs/coverage.md)."""
    lines = ["# Clause coverage", "",
             "Generated by `incentives coverage` from the rule files; do not edit by hand.",
             "Each clause of each source document that grants, or might be read to grant, something to an",
             "enterprise: the rules that encode it, or why none does.", ""]
    lines += ["Rule files declare their level and place; an enterprise is assessed against every file that",
              "covers it (its province's, city's and county's).", "",
              "| level | places | documents | rules | clauses encoded | clauses not encoded | payers named |",
              "|---|---|---|---|---|---|---|"]
    for level, n in by_level(docs).items():
        payers = ", ".join(n["payers"]) or "—"   # type: ignore[arg-type]
        lines.append(f"| {level} | {n['places']} | {n['documents']} | {n['rules']} | {n['encoded']} | "
                     f"{n['not_encoded']} | {payers} |")
    lines.append("")
    total = {k: 0 for k in _STATUS}
    for d in docs:
        official = "official" if d.kind in ("normative", "notice") else "not official: amounts shown, never paid"
        counts = d.counts()
        place = f"{d.city} ({d.place}, {d.level})" if d.place else f"{d.city} ({d.level})"
        lines += [f"## {place}: {d.title}", "",
                  f"{d.number or '(no document number printed)'} · `{d.document_id}` · {d.kind} ({official}) · "
                  f"{d.dated}", "",
                  f"Benefit clauses: {len(d.listed)} found (listed by the document) · "
                  + " · ".join(f"{counts[k]} {_STATUS[k]}" for k in _STATUS), ""]
        if d.rows and not counts["encoded"]:
            lines += ["No clause of this document states a settled amount for an enterprise: the file pays "
                      "nothing under it.", ""]
        if not d.rows:
            lines += ["No clause is recorded for this document.", ""]
            continue
        lines += ["| clause | status | rules | amount or reason |", "|---|---|---|---|"]
        for r in d.rows:
            total[r.status] += 1
            rules = ", ".join(f"`{i}`" for i in r.rule_ids) or "—"
            lines.append(f"| {r.clause} | {_STATUS[r.status]} | {rules} | {r.detail.replace('|', '/')} |")
        lines.append("")
        if d.readings:
            lines += ["Readings (choose with `--reading id=option`; the default, in bold, is the rules as written):", "",
                      "| reading | clause | question | options |", "|---|---|---|---|"]
            lines += [f"| `{name}` | {clause} | {question.replace('|', '/')} | **{options[0]}**, "
                      + ", ".join(options[1:]) + " |" for name, clause, question, options in d.readings]
            lines.append("")
    summary = ", ".join(f"{n} {_STATUS[k]}" for k, n in total.items())
    lines += [f"Total: {summary}.", ""]
    return "\n".join(lines)
