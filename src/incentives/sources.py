"""Source texts: the policy a rule file quotes, read safely, and the quotes checked against it.

A document's ``source:`` is a path relative to its rule file, to a regular file inside the rules
tree: the folder that holds the rule file's folder (``sources/`` beside ``rules/``). An absolute
path, a path that leaves the tree (``../../etc/shadow``, or a link pointing out of it), a device
(``/dev/zero``), a FIFO or a directory is refused before anything is read, and a text larger than
``MAX_SOURCE_BYTES`` or not UTF-8 is a located error. Quotes are compared after ``normalise``.
"""

from __future__ import annotations

import functools
import os
import re
import unicodedata
from pathlib import Path

from incentives import _yaml
from incentives.errors import IncentivesError, Location, RulebookError, SourceError

MAX_SOURCE_BYTES = 4 * 1024 * 1024  # a policy text is tens of kilobytes
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Fold full/half-width forms (NFKC), drop all white space and line breaks, unify quotes."""
    text = unicodedata.normalize("NFKC", text)
    for a, b in (("“", '"'), ("”", '"'), ("‘", "'"), ("’", "'"), ("、", ","), ("—", "-"), ("–", "-")):
        text = text.replace(a, b)
    return _SPACE.sub("", text)


def source_path(rule_file: str | Path, source: str, where: Location) -> Path:
    """The source file ``source`` names, checked to lie inside the rules tree of ``rule_file``."""
    if os.path.isabs(source) or source.startswith("~"):
        raise SourceError(f"source {source!r} must be a path relative to the rule file, inside the rules tree",
                          location=where)
    base = Path(rule_file).resolve().parent
    tree = base.parent
    path = (base / source).resolve()
    if path != tree and tree not in path.parents:
        raise SourceError(f"source {source!r} leads outside the rules tree {tree}: keep source texts beside the "
                          "rules (sources/ next to rules/)", location=where)
    return path


def read_source(rule_file: str | Path, source: str, where: Location) -> str:
    """The normalised text of a document's source, or a located ``SourceError`` saying why it cannot be read."""
    path = source_path(rule_file, source, where)
    try:
        stat = path.stat()
    except OSError as e:
        raise SourceError(f"source text {source} cannot be read: {e.strerror or e}", location=where) from e
    if not path.is_file():
        raise SourceError(f"source text {source} is not a regular file (a device, FIFO or directory is never read)",
                          location=where)
    return _normalised(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _normalised(path: str, mtime: int, size: int) -> str:
    # Keyed by modification time and size, so a changed text is read again.
    return normalise(_yaml.read_text(path, limit=MAX_SOURCE_BYTES))


def check_quotes(loaded: object) -> list[IncentivesError]:
    """Each quote must appear verbatim (after normalising) in its document's source text.

    ``loaded`` is a ``LoadedFile``; a source that cannot be read is a problem of its own.
    """
    from incentives.rulebook import LoadedFile

    assert isinstance(loaded, LoadedFile)
    parsed: list[_yaml.Document] = []

    def locate(key: _yaml.Key) -> Location:  # the file is parsed again only to locate a problem
        if not parsed:
            parsed.append(_yaml.load(loaded.path))
        return parsed[0].locate(key)

    texts: dict[str, str | None] = {}
    problems: list[IncentivesError] = []
    for doc_id, document in loaded.model.documents.items():
        texts[doc_id] = None
        if document.source is None:
            continue
        key: _yaml.Key = ("documents", doc_id, "source")
        try:
            texts[doc_id] = read_source(loaded.path, document.source, Location(loaded.path))
        except SourceError as e:
            said = e.message if e.location.path == str(loaded.path) else str(e)  # a read error names the text's line
            problems.append(RulebookError(f"source text of document {doc_id}: {said}", location=locate(key),
                                          field=_field(key), code="source-missing"))
    quoted: list[tuple[_yaml.Key, str, str]] = [
        (("rules", i, "cite", "quote"), r.cite.document, r.cite.quote) for i, r in enumerate(loaded.model.rules)]
    quoted += [(("not_encoded", i, "quote"), n.document, n.quote) for i, n in enumerate(loaded.model.not_encoded)]
    for place, doc_id, quote in quoted:
        text = texts.get(doc_id)
        if text is not None and normalise(quote) not in text:
            problems.append(RulebookError(f"quote not found in the source text of {doc_id}: {quote[:40]}…",
                                          location=locate(place), field=_field(place), code="quote-not-in-source"))
    return problems


def _field(key: tuple[object, ...]) -> str:
    return "".join(f"[{k}]" if isinstance(k, int) else (f".{k}" if n else str(k)) for n, k in enumerate(key))
