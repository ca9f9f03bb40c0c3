"""The policy library: each document with its rules, amounts, payers, departments and deadlines.

Built from the loaded rulebook alone (no text of its own), so it changes when the rule files do. A
rule field this listing does not know (time limits, materials, contacts) is passed on under
``administrative``.
"""

from __future__ import annotations

from typing import Any

from incentives import FactsError, Rulebook
from incentives.service.models import DocumentPolicy, Policies, RulePolicy

_LISTED = {"id", "title", "cite", "departments", "rewards", "when", "window", "amount", "payers", "limit",
           "enterprise_cap", "cap_per", "instalments", "clawback", "group", "notes", "department", "payment_deadline",
           "materials", "contact"}


def place(book: Rulebook, city: str) -> str:
    """The rule file a listing's ``city`` names: its key (``langfang``, ``hebei``) or a city's name
    (``廊坊市``, ``廊坊``); else a ``FactsError`` listing the library's places, so that a misspelt city
    is told, not answered with an empty library."""
    if city in book.files:
        return city
    try:
        return book.resolve_city(city)
    except FactsError:
        raise FactsError(f"unknown city {city!r}; the library lists: {', '.join(sorted(book.files))}",
                         field="city") from None


def policies(book: Rulebook, *, city: str | None = None, level: str | None = None) -> Policies:
    """The library of ``book``, optionally only one city's or one level's documents."""
    everything = _library(book)
    documents = [d for d in everything.documents
                 if (city is None or d.city == city) and (level is None or d.level == level)]
    return Policies(rulebook_hash=book.hash, documents=documents)


def level_of(model: Any, issuer: str) -> str:
    """province | city | county: as the rule file declares, else as the issuer's name reads (河北省…, 廊坊市…,
    香河县…: the first of 省, 市, 县 in it), else the rule file's city."""
    declared = getattr(getattr(model, "jurisdiction", None), "level", None)
    if isinstance(declared, str):
        return declared
    found = sorted((issuer.find(mark), level) for mark, level in (("省", "province"), ("市", "city"), ("县", "county"))
                   if mark in issuer)
    return found[0][1] if found else "city"


_CACHE: dict[str, Policies] = {}     # by rulebook hash: a library is built once per rulebook


def _library(book: Rulebook) -> Policies:
    cached = _CACHE.get(book.hash)
    if cached is not None:
        return cached
    documents: list[DocumentPolicy] = []
    for city, loaded in book.files.items():
        model = loaded.model
        for doc_id, doc in model.documents.items():
            level = level_of(model, doc.issuer)
            rules = [_rule(compiled) for compiled in loaded.rules if compiled.rule.cite.document == doc_id]
            documents.append(DocumentPolicy(
                id=doc_id, city=city, level=level, number=doc.number, title=doc.title, issuer=doc.issuer,
                issued=doc.issued, effective_from=doc.effective.start, effective_to=doc.effective.end,
                kind=doc.kind, rules=rules,
                clauses_not_encoded=sum(1 for n in model.not_encoded if n.document == doc_id)))
    if len(_CACHE) >= 8:
        _CACHE.clear()
    _CACHE[book.hash] = library = Policies(rulebook_hash=book.hash, documents=documents)
    return library


def _rule(compiled: Any) -> RulePolicy:
    rule = compiled.rule
    dumped = rule.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    payers = rule.payers if rule.payers == "unspecified" else dict(rule.payers)
    return RulePolicy(
        id=rule.id, title=rule.title.zh, title_en=rule.title.en, clause=rule.cite.clause, quote=rule.cite.quote,
        amount_form=str(getattr(rule.amount, "form", "")), amount=dumped.get("amount", {}), payers=payers,
        departments=list(rule.departments), deadlines=[i.due for i in rule.instalments],
        rewards=dumped.get("rewards", {}), limit=dumped.get("limit"), enterprise_cap=rule.enterprise_cap,
        rule_location=str(compiled.location), department=dumped.get("department"),
        payment_deadline=dumped.get("payment_deadline"), materials=dumped.get("materials", []),
        contact=dumped.get("contact"),
        administrative={k: v for k, v in dumped.items() if k not in _LISTED})
