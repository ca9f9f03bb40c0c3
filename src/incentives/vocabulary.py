"""The controlled vocabulary: every title, level and type a fact or rule may name, kept in YAML.

``rules/vocabulary.yaml`` maps a fact field (``recognition.title``, ``project.type``,
``enterprise.industries``...) to its known terms and their Chinese names. An analyst whose city
rewards something new adds a term there; no Python changes.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from incentives import _yaml
from incentives.errors import Location, VocabularyError, expect


@dataclass(frozen=True)
class Vocabulary:
    """Known terms by field: ``{"recognition.title": {"cluster_leader": "特色产业集群“领跑者”企业"}}``."""

    terms: Mapping[str, Mapping[str, str]]
    path: str = "<vocabulary>"
    _by_kind: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict, repr=False, compare=False)

    def fields(self) -> list[str]:
        return sorted(self.terms)

    def knows(self, field: str) -> bool:
        return field in self.terms

    def has(self, field: str, term: str) -> bool:
        return term in self.terms.get(field, ())

    def checked_fields(self, kind: str) -> tuple[tuple[str, str], ...]:
        """(attribute, vocabulary field) of each field of a record kind that the vocabulary controls."""
        cached = self._by_kind.get(kind)
        if cached is None:
            prefix = f"{kind}."
            cached = self._by_kind[kind] = tuple((f[len(prefix):], f) for f in self.terms if f.startswith(prefix))
        return cached

    def zh(self, field: str, term: str) -> str:
        """The Chinese name of a term, or the term itself where none is known."""
        return self.terms.get(field, {}).get(term, term)

    def check(self, field: str, term: str, location: Location | None = None) -> None:
        """Raise ``VocabularyError`` naming the term and the closest known one, if ``term`` is unknown."""
        known = self.terms.get(field)
        if known is None or term in known:
            return
        close = difflib.get_close_matches(term, list(known), n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(sorted(known))}"
        raise VocabularyError(f"unknown {field} {term!r}{hint}", suggestion=close[0] if close else None,
                              location=location, field=field)


def load_vocabulary(path: str | Path) -> Vocabulary:
    """Read a vocabulary file: ``terms: {field: {term: 中文名}}``."""
    expect(path, (str, Path), "path", "the vocabulary file's path")
    doc = _yaml.load(path)
    data = doc.data
    if not isinstance(data, dict) or set(data) != {"terms"} or not isinstance(data["terms"], dict):
        raise VocabularyError("a vocabulary file holds one key, 'terms': {field: {term: 中文名}}",
                              location=doc.locate(()))
    terms: dict[str, dict[str, str]] = {}
    for name, entries in data["terms"].items():
        if not isinstance(entries, dict) or not all(isinstance(v, str) for v in entries.values()):
            raise VocabularyError(f"terms of {name!r} must map each term to its Chinese name",
                                  location=doc.locate(("terms", name)))
        terms[str(name)] = {str(k): v for k, v in entries.items()}
    return Vocabulary(terms=terms, path=str(path))
