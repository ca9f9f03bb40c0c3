"""Safe YAML (and JSON, a subset of it) that remembers where every value came from.

Only plain data is built: any tag that would construct an object or run code is refused, and a
duplicate key is an error rather than a silent overwrite.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import os
import re
import stat
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
        """The location of ``key``, or of its nearest ancestor that has one; data that came from no
        text (a dict) has no lines, so only its name is given and the error's field names the path."""
        if not self.positions:
            return Location(self.path)
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


# Limits that keep a hostile or broken file from exhausting memory or the stack: rule, fact and
# vocabulary files are a few hundred kilobytes at most.
MAX_BYTES = 8 * 1024 * 1024     # a document's size
MAX_DEPTH = 100                 # nesting of mappings and sequences
MAX_NODES = 250_000             # values built, aliases expanded (an alias bomb stops here)


def read_text(path: str | Path, limit: int = MAX_BYTES) -> str:
    """A regular file's text, UTF-8 (a byte-order mark dropped, line ends normalised), at most ``limit`` bytes.

    Devices, FIFOs and directories are refused before they are opened, so nothing blocks or runs
    without end; an encoding error is located at its line and column.
    """
    where = Location(label(path))
    if str(path) in (STDIN, label(STDIN)):   # read once: a command may read its file twice (lint checks quotes anew)
        if not _stdin:
            data = sys.stdin.buffer.read(limit + 1)
            if len(data) > limit:
                raise SourceError(f"standard input is more than the {limit:,} bytes allowed", location=where)
            _stdin.append(decode(data, label(path)))
        return _stdin[0]
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise SourceError("not a regular file (a device, FIFO or directory is never read)", location=where)
        if info.st_size > limit:
            raise SourceError(f"file is {info.st_size:,} bytes, more than the {limit:,} allowed", location=where)
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise SourceError(f"cannot read file: {e.strerror or e}", location=where) from e
    if len(data) > limit:
        raise SourceError(f"file is more than the {limit:,} bytes allowed", location=where)
    return decode(data, label(path))


def decode(data: bytes, path: str) -> str:
    """UTF-8 bytes as text with universal line ends, or a ``SourceError`` at the first bad byte's line and column."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):   # what Windows PowerShell's > and Notepad's "Unicode" write
        raise SourceError("UTF-16 text (it starts with a UTF-16 byte-order mark): save it as UTF-8",
                          location=Location(path, 1, 1))
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        start = e.start
        line = data.count(b"\n", 0, start) + 1
        column = len(data[data.rfind(b"\n", 0, start) + 1:start].decode("utf-8", "replace")) + 1
        raise SourceError(f"not UTF-8 text: byte 0x{data[start]:02x} cannot be decoded",
                          location=Location(path, line, column)) from e
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_json(text: str, path: str, line: int | None = None) -> Any:
    """A JSON text (one line ``line`` of a JSON Lines file, when given) as plain values, or a ``SourceError``
    located there: malformed text, an integer of more digits than Python converts, or nesting deeper than
    the stack are bad input like any other, not a crash."""
    import json

    try:   # a byte-order mark (Windows Notepad writes one) is not part of the text, as ``decode`` says
        return json.loads(text.removeprefix("\ufeff"))
    except json.JSONDecodeError as e:
        raise SourceError(f"not valid JSON: {e.msg}", location=Location(path, line or e.lineno, e.colno)) from e
    except RecursionError as e:
        raise SourceError("not valid JSON: nested too deep", location=Location(path, line)) from e
    except ValueError as e:   # "Exceeds the limit (4300 digits) for integer string conversion…"
        raise SourceError(f"not valid JSON: {str(e).split(';')[0]}", location=Location(path, line)) from e


def load(path: str | Path) -> Document:
    """Read and parse a YAML or JSON file safely (``-``: standard input)."""
    return parse(read_text(path), label(path))


class _Limits(yaml.composer.Composer, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
    """Safe loading without YAML 1.1's base-60 numbers, which read the ratio 1:1 as 61, and without
    octal, hexadecimal, binary or underscored numbers (``0777`` would be 511 yuan): those stay text,
    which money then refuses. Nesting is limited while composing, merged mappings in size.

    Nodes are always composed here, in Python, whichever parser reads the text: the limit on nesting
    is checked before a level is entered, so no input reaches deeper than ``MAX_DEPTH`` levels of
    any stack, Python's or C's."""

    depth = 0

    def __init__(self) -> None:
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[attr-defined]
                raise yaml.composer.ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep", mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def flatten_mapping(self, node: Any) -> None:
        super().flatten_mapping(node)
        if len(node.value) > MAX_NODES // 10:
            raise yaml.constructor.ConstructorError(None, None, "merged mappings grow too large", node.start_mark)


_Limits.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers
            if not (tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float") and ":" in regexp.pattern)]
    for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
}
_Limits.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789"))
_Limits.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(   # JSON's exponents too: 1e5, 2.5E-3
    r"^(?:[-+]?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)|[-+]?(?:0|[1-9][0-9]*)\.[0-9]*"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"), list("-+0123456789."))


class _Loader(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, _Limits):
    """PyYAML's own parser, in Python: the reference, whose messages and locations every error keeps."""

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        _Limits.__init__(self)


_CLoader: type[_Limits] | None = None
if yaml.__with_libyaml__:  # libyaml reads the text about ten times faster; the same nodes are composed from its events
    from yaml.cyaml import CParser  # type: ignore[attr-defined]

    class _CLoader(_Limits, CParser):  # type: ignore[no-redef]
        flow = 0    # how many flow collections ([...] or {...}) the next node is inside

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _Limits.__init__(self)

        def compose_node(self, parent: Any, index: Any) -> Any:
            event: Any = self.peek_event()
            plain = type(event) is yaml.ScalarEvent and not event.style
            if self.flow and plain and ("?" in event.value or not event.value):
                raise _Unalike("a plain '?' or empty value inside [...] or {...}", event.start_mark)
            if not (type(event) in _COLLECTION_STARTS and event.flow_style):
                return super().compose_node(parent, index)
            self.flow += 1
            try:
                return super().compose_node(parent, index)
            finally:
                self.flow -= 1

    _COLLECTION_STARTS = (yaml.SequenceStartEvent, yaml.MappingStartEvent)


class _Unalike(yaml.MarkedYAMLError):
    """Text that libyaml reads otherwise than PyYAML's Python parser: it is read again by the latter."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem=problem, problem_mark=mark)


def parse(text: str, path: str = "<string>") -> Document:
    """Parse YAML (or JSON) text safely into plain data with positions.

    Every failure, whatever its cause (syntax, a control character, a date that does not exist, an
    integer of thousands of digits, nesting or aliases past the limits), is a ``SourceError`` located
    at its line and column.
    """
    if len(text) > MAX_BYTES:
        raise SourceError(f"document is more than the {MAX_BYTES:,} characters allowed", location=Location(path))
    text = _json_tabs(text)
    if _CLoader is not None and _libyaml_reads_alike(text):
        try:
            return _document(_CLoader, text, path)
        except (yaml.YAMLError, RecursionError, UnicodeError):
            pass  # the text is read again below, so that its error is said in the same words, at the same place
    return _pure(text, path)


# Where libyaml and PyYAML's Python parser part ways, the text is left to the Python one: a tab (libyaml
# takes it as a space where PyYAML refuses it), a byte-order mark inside the text (libyaml skips one at
# the start of any line), a comment right after a block scalar's indicator (``>#``: libyaml takes it),
# a last line without its line end (libyaml places the end, and an empty value there, on the next line),
# the line breaks beyond ASCII, NEL, LS and PS (after a tag, libyaml gives an empty text where PyYAML gives null),
# and a tag at all: an empty node tagged '!' (``- !``) is an empty text to libyaml and null to PyYAML.
# Inside [...] and {...}, where libyaml takes '?' into plain text and places an empty value elsewhere,
# the composer above finds the difference and leaves the text to the Python parser too.
_BLOCK_HEADER_COMMENT = re.compile(r"[|>][-+0-9]*#")


def _libyaml_reads_alike(text: str) -> bool:
    return ((not text or text.endswith("\n")) and "\t" not in text and "\ufeff" not in text
            and "\x85" not in text and "\u2028" not in text and "\u2029" not in text and "!" not in text
            and ("#" not in text or _BLOCK_HEADER_COMMENT.search(text) is None))


def _pure(text: str, path: str) -> Document:
    """``text`` parsed by PyYAML's Python parser, every failure located."""
    try:
        return _document(_Loader, text, path)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = Location(path, mark.line + 1, mark.column + 1) if mark else Location(path)
        raise SourceError(f"not valid YAML: {e.problem or e.context}", location=where) from e
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, e.position) + 1
        column = e.position - (text.rfind("\n", 0, e.position) + 1) + 1
        raise SourceError(f"not valid YAML: character U+{e.character:04X} is not allowed (a control character)",
                          location=Location(path, line, column)) from e
    except yaml.YAMLError as e:
        raise SourceError(f"not valid YAML: {e}", location=Location(path)) from e
    except RecursionError as e:  # a cycle or depth the limits above did not catch
        raise SourceError("not valid YAML: nested too deeply", location=Location(path)) from e


def _document(loader_class: type[_Limits], text: str, path: str) -> Document:
    """``text`` composed by ``loader_class`` and built into a ``Document``; YAML errors are raised as they come."""
    loader: _Limits | None = None
    try:
        loader = loader_class(text)  # type: ignore[call-arg]
        try:
            root = loader.get_single_node()
        except (ValueError, OverflowError) as e:  # PyYAML's scanner takes "\U00110000" to chr(), which refuses it
            mark = loader.get_mark() if isinstance(loader, yaml.reader.Reader) else None
            raise yaml.scanner.ScannerError(None, None, "an escaped character past U+10FFFF, the last in Unicode",
                                            mark) from e
        doc = Document(data=None, path=path)
        if root is not None:
            doc.data = _build(loader, root, (), doc, [0])
        return doc
    finally:
        if loader is not None:
            loader.dispose()  # type: ignore[attr-defined]


def _json_tabs(text: str) -> str:
    """JSON may indent with tabs, which YAML forbids: in a valid JSON text every tab lies between tokens
    (JSON strings cannot hold a raw tab), so each becomes one space and lines and columns stay put."""
    if "\t" not in text or text.lstrip()[:1] not in ("{", "["):
        return text
    import json

    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return text
    return text.replace("\t", " ")


_PLAIN_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}
_TEXT_STYLES = (None, "", "'", '"')  # plain (None from PyYAML's parser, "" from libyaml's), single or double quoted


def _build(loader: _Limits, node: yaml.Node, key: Key, doc: Document, built: list[int]) -> Any:
    doc.positions.setdefault(key, (node.start_mark.line + 1, node.start_mark.column + 1))
    built[0] += 1
    if built[0] > MAX_NODES or len(key) > MAX_DEPTH:  # aliases expand here: a bomb or a cycle stops
        raise SourceError(f"aliases expand past {MAX_NODES:,} values or {MAX_DEPTH} levels",
                          location=Location(doc.path, node.start_mark.line + 1, node.start_mark.column + 1))
    if not isinstance(node, yaml.ScalarNode) and node.tag not in _PLAIN_TAGS:
        raise SourceError(f"tag {node.tag!r} is not allowed: rule and fact files hold plain data only",
                          location=Location(doc.path, node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves YAML merge keys (<<) the safe way
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            name = _scalar(loader, key_node, doc)
            if isinstance(name, (dict, list)):
                raise SourceError("a mapping key must be a plain value",
                                  location=Location(doc.path, key_node.start_mark.line + 1))
            if name in result:
                raise SourceError(f"duplicate key {name!r}", location=Location(
                    doc.path, key_node.start_mark.line + 1, key_node.start_mark.column + 1))
            child = (*key, str(name))
            doc.positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[name] = _build(loader, value_node, child, doc, built)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, (*key, i), doc, built) for i, item in enumerate(node.value)]
    if isinstance(node, yaml.ScalarNode) and node.style in _TEXT_STYLES:
        quoted = bool(node.style)
        doc.texts[key] = (node.start_mark.line + 1, node.start_mark.column + 1 + quoted)
    return _scalar(loader, node, doc, key)


def _scalar(loader: _Limits, node: yaml.Node, doc: Document, key: Key = ()) -> Any:
    """A scalar's value; a date that does not exist or a number Python refuses is located, not raised raw,
    and named by its ``key`` (``records.0.date``), as a value the models refuse is."""
    where = Location(doc.path, node.start_mark.line + 1, node.start_mark.column + 1)
    field = ".".join(map(str, key)) or None
    if not isinstance(node, yaml.ScalarNode):
        raise SourceError("a mapping key must be a plain value", location=where)
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError:
        raise
    except (ValueError, TypeError, ArithmeticError, AttributeError, LookupError) as e:
        value = str(node.value)
        shown = repr(value) if len(value) <= 40 else f"{value[:20]!r}…({len(value)} characters)"
        if node.tag == "tag:yaml.org,2002:timestamp":
            raise SourceError(f"{shown} is not a date that exists (write YYYY-MM-DD)", location=where,
                              field=field) from e
        raise SourceError(f"{shown} cannot be read as {node.tag.rpartition(':')[2]}: {str(e)[:80]}",
                          location=where, field=field) from e


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
