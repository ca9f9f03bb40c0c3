"""Checks on rule files beyond their format: quotes against the source texts, overlaps, dead caps.

``lint_files`` returns every problem of every file (never stops at the first), each a located
``IncentivesError`` whose ``code`` names the check.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Iterable

from incentives import _yaml
from incentives.errors import IncentivesError, RulebookError
from incentives.rulebook import VOCABULARY_FILE, LoadedFile, inspect_rule_file
from incentives.vocabulary import Vocabulary, load_vocabulary

_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Fold full/half-width forms (NFKC), drop all white space and line breaks, unify quotes."""
    text = unicodedata.normalize("NFKC", text)
    for a, b in (("“", '"'), ("”", '"'), ("‘", "'"), ("’", "'"), ("、", ","), ("—", "-"), ("–", "-")):
        text = text.replace(a, b)
    return _SPACE.sub("", text)


def lint_files(paths: Iterable[str | Path], vocabulary: Vocabulary | None = None) -> list[IncentivesError]:
    """Every problem found in ``paths``; an empty list means they are clean."""
    problems: list[IncentivesError] = []
    for path in paths:
        path = Path(path)
        if path.name == VOCABULARY_FILE:
            continue
        try:
            vocab = vocabulary or load_vocabulary(path.parent / VOCABULARY_FILE)
            loaded, found = inspect_rule_file(path, vocab)
        except IncentivesError as e:
            problems.append(e)
            continue
        problems += found
        if loaded is not None:
            problems += check_quotes(loaded) + check_caps(loaded)
    return problems


def check_quotes(loaded: LoadedFile) -> list[IncentivesError]:
    """Each quote must appear verbatim (after normalising) in its document's source text."""
    doc = _yaml.load(loaded.path)
    texts: dict[str, str | None] = {}
    base = Path(loaded.path).parent
    for doc_id, document in loaded.model.documents.items():
        if document.source is None:
            texts[doc_id] = None
            continue
        try:
            texts[doc_id] = normalise((base / document.source).read_text(encoding="utf-8"))
        except OSError:
            texts[doc_id] = None
            return [RulebookError(f"source text {document.source} of document {doc_id} cannot be read",
                                  location=doc.locate(("documents", doc_id, "source")), code="source-missing")]
    problems: list[IncentivesError] = []
    quoted = [(("rules", i, "cite", "quote"), r.cite.document, r.cite.quote) for i, r in enumerate(loaded.model.rules)]
    quoted += [(("not_encoded", i, "quote"), n.document, n.quote) for i, n in enumerate(loaded.model.not_encoded)]
    for key, doc_id, quote in quoted:
        text = texts.get(doc_id)
        if text is not None and normalise(quote) not in text:
            problems.append(RulebookError(f"quote not found in the source text of {doc_id}: {quote[:40]}…",
                                          location=doc.locate(key), field=_field(key), code="quote-not-in-source"))
    return problems


def check_caps(loaded: LoadedFile) -> list[IncentivesError]:
    """A cap of zero, or a matching/rate cap on an amount that is always lower, is a likely typo."""
    doc = _yaml.load(loaded.path)
    problems: list[IncentivesError] = []
    for i, rule in enumerate(loaded.model.rules):
        cap = rule.amount.cap
        if cap is not None and cap <= 0:
            problems.append(RulebookError("cap is zero: the award can never be paid", location=doc.locate(
                ("rules", i, "amount", "cap")), field=_field(("rules", i, "amount", "cap")), code="cap-never-pays"))
    return problems


def _field(key: tuple[object, ...]) -> str:
    return "".join(f"[{k}]" if isinstance(k, int) else (f".{k}" if n else str(k)) for n, k in enumerate(key))

