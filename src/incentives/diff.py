"""What changed between two versions of a rule file, rule by rule, for review before adoption."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from incentives.rulebook import VOCABULARY_FILE, load_rule_file
from incentives.vocabulary import Vocabulary, load_vocabulary


@dataclass(frozen=True)
class Change:
    scope: str          # "rule lf.digital_pilot", "document lf-2025-5", "group ..."
    kind: str           # added | removed | changed
    field: str | None = None
    old: Any = None
    new: Any = None

    def __str__(self) -> str:
        if self.kind != "changed":
            return f"{self.scope}: {self.kind}"
        return f"{self.scope}: {self.field}: {_show(self.old)} → {_show(self.new)}"


def diff_files(old: str | Path, new: str | Path, vocabulary: Vocabulary | None = None) -> list[Change]:
    """Every difference between two rule files: documents, groups and rules added, removed or changed. Each is
    read with the vocabulary beside it, or with the other's where it has none (an old version saved alone)."""
    beside = [Path(p).parent / VOCABULARY_FILE for p in (old, new)]
    vocab_old, vocab_new = (vocabulary or load_vocabulary(v if v.is_file() else next((w for w in beside if w.is_file()), v))
                            for v in beside)
    a = load_rule_file(old, vocab_old).model
    b = load_rule_file(new, vocab_new).model
    changes: list[Change] = []
    if a.city != b.city:
        changes.append(Change("file", "changed", "city", a.city, b.city))
    for scope, left, right in (("document", a.documents, b.documents), ("group", a.groups, b.groups),
                               ("rule", {r.id: r for r in a.rules}, {r.id: r for r in b.rules})):
        changes += _compare(scope, {k: v.model_dump(mode="json", exclude_defaults=True, by_alias=True) for k, v in left.items()},
                            {k: v.model_dump(mode="json", exclude_defaults=True, by_alias=True) for k, v in right.items()})
    return changes


def _compare(scope: str, left: dict[str, Any], right: dict[str, Any]) -> list[Change]:
    changes = [Change(f"{scope} {k}", "removed") for k in left if k not in right]
    changes += [Change(f"{scope} {k}", "added") for k in right if k not in left]
    for key in (k for k in left if k in right):
        old, new = _flatten(left[key]), _flatten(right[key])
        for field in sorted(old.keys() | new.keys(), key=lambda f: (_order(f), f)):
            if old.get(field) != new.get(field):
                changes.append(Change(f"{scope} {key}", "changed", field, old.get(field), new.get(field)))
    return changes


_FIRST = ("amount", "payers", "window", "rewards", "when", "limit", "enterprise_cap", "cite", "group")


def _order(field: str) -> int:
    head = field.split(".")[0].split("[")[0]
    return _FIRST.index(head) if head in _FIRST else len(_FIRST)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        out = {}
        for i, v in enumerate(value):
            out.update(_flatten(v, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str) and _is_fraction(value):
        return f"{float(value) * 100:g}%"
    return str(value)


def _is_fraction(text: str) -> bool:
    try:
        return "." in text and 0 <= float(text) <= 1
    except ValueError:
        return False
