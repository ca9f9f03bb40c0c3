"""Safe YAML (and JSON, a subset of it) that remembers where every value came from.

Only plain data is built: any tag that would construct an object or run code is refused, and a
duplicate key is an error rather than a silent overwrite.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import re
import sys

import yaml
from pydantic import BaseModel, ValidationError

from incentives.errors import IncentivesError, Location, SourceError

Key = tuple[str | int, ...]


@dataclass
class Document:
    """Parsed data plus the line and column of each key path inside it."""

    data: Any
    path: str
    positions: dict[Key, tuple[int, int]] = field(default_factory=dict)
    texts: dict[Key, tuple[int, int]] = field(default_factory=dict)   # where each scalar's text starts

    def inside(self, key: Key, offset: int) -> Location:
        """The place of character ``offset`` of the (one-line) scalar at ``key``, past any quote."""
        if key not in self.texts:
            return self.locate(key)
        line, column = self.texts[key]
        return Location(self.path, line, column + offset)

    def locate(self, key: Key) -> Location:
        """The location of ``key``, or of its nearest ancestor that has one."""
        key = tuple(key)
        while key:
            if key in self.positions:
                line, column = self.positions[key]
                return Location(self.path, line, column)
            key = key[:-1]
        return Location(self.path, *self.positions.get((), (1, 1)))


STDIN = "-"    # a path of "-" reads standard input
_stdin: list[str] = []


def label(path: str | Path) -> str:
    """How messages name ``path``: ``<stdin>`` for ``-``."""
    return "<stdin>" if str(path) == STDIN else str(path)


def read_text(path: str | Path) -> str:
    try:
        if str(path) in (STDIN, label(STDIN)):   # read once: a command may read its file twice (lint checks quotes anew)
            if not _stdin:
                _stdin.append(sys.stdin.buffer.read().decode("utf-8"))
            return _stdin[0]
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SourceError(f"cannot read file: {e}", location=Location(label(path))) from e


def load(path: str | Path) -> Document:
    """Read and parse a YAML or JSON file safely (``-``: standard input)."""
    return parse(read_text(path), label(path))


class _Loader(yaml.SafeLoader):
    """Safe loading without YAML 1.1's base-60 numbers, which read the ratio 1:1 as 61."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers
            if not (tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float") and ":" in regexp.pattern)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(
    r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"), list("-+0123456789"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(
    r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"), list("-+0123456789."))


def parse(text: str, path: str = "<string>") -> Document:
    """Parse YAML text safely into plain data with positions."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        doc = Document(data=None, path=path)
        if root is not None:
            doc.data = _build(loader, root, (), doc)
        return doc
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = Location(path, mark.line + 1, mark.column + 1) if mark else Location(path)
        raise SourceError(f"not valid YAML: {e.problem or e.context}", location=where) from e
    except yaml.YAMLError as e:
        raise SourceError(f"not valid YAML: {e}", location=Location(path)) from e
    finally:
        loader.dispose()


_PLAIN_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}


def _build(loader: _Loader, node: yaml.Node, key: Key, doc: Document) -> Any:
    doc.positions.setdefault(key, (node.start_mark.line + 1, node.start_mark.column + 1))
    if not isinstance(node, yaml.ScalarNode) and node.tag not in _PLAIN_TAGS:
        raise SourceError(f"tag {node.tag!r} is not allowed: rule and fact files hold plain data only",
                          location=Location(doc.path, node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves YAML merge keys (<<) the safe way
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            name = loader.construct_object(key_node, deep=True)
            if isinstance(name, (dict, list)):
                raise SourceError("a mapping key must be a plain value",
                                  location=Location(doc.path, key_node.start_mark.line + 1))
            if name in result:
                raise SourceError(f"duplicate key {name!r}", location=Location(
                    doc.path, key_node.start_mark.line + 1, key_node.start_mark.column + 1))
            child = (*key, str(name))
            doc.positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[name] = _build(loader, value_node, child, doc)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, (*key, i), doc) for i, item in enumerate(node.value)]
    if isinstance(node, yaml.ScalarNode) and node.style in (None, "'", '"'):
        quoted = node.style is not None
        doc.texts[key] = (node.start_mark.line + 1, node.start_mark.column + 1 + quoted)
    return loader.construct_object(node, deep=True)


def dump(data: Any) -> str:
    """Plain data back to YAML text (for re-validating data that did not come from a file)."""
    return str(yaml.safe_dump(_plain(data), allow_unicode=True, sort_keys=False))


def _plain(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return value


M = TypeVar("M", bound=BaseModel)


def validated(doc: Document, model: type[M], error: type[IncentivesError], code: str) -> M:
    """``doc.data`` as ``model``, or ``error`` located at the first problem's line and column."""
    try:
        return model.model_validate(doc.data)
    except ValidationError as e:
        err = e.errors()[0]
        key = tuple(err["loc"])
        raise error(err["msg"].removeprefix("Value error, "), location=doc.locate(key),
                    field=".".join(map(str, key)), code=code) from e
