"""The typed condition tree every rule compiles into, and its three-valued native evaluation.

A rule's ``rewards``, ``when`` and window compile once into ``All``/``Any`` nodes over ``Test``
leaves. A leaf compares one fact (``record.investment``, ``enterprise.clusters``) with a typed value.
Evaluating gives ``TRUE``, ``FALSE`` or ``UNKNOWN`` (the fact is absent: absent is never zero), and
a ``Check`` per leaf saying what was found against what was required.
"""

from __future__ import annotations

import datetime as dt
import enum
import operator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, ClassVar, Union

Value = Union[str, bool, Decimal, dt.date, tuple[str, ...]]


class Truth(enum.Enum):
    TRUE = "true"
    FALSE = "false"
    UNKNOWN = "unknown"


class Op(str, enum.Enum):
    """The closed set of comparisons a rule may write; ``Op.describe`` gives their meaning."""

    IS = "is"
    IS_NOT = "is_not"
    ONE_OF = "one_of"
    AT_LEAST = "at_least"
    MORE_THAN = "more_than"
    AT_MOST = "at_most"
    LESS_THAN = "less_than"
    ON_OR_AFTER = "on_or_after"
    ON_OR_BEFORE = "on_or_before"
    INCLUDES = "includes"
    INCLUDES_ANY = "includes_any"
    NOT_EMPTY = "not_empty"

    @property
    def symbol(self) -> str:
        return _SYMBOLS[self]


_SYMBOLS = {
    Op.IS: "=", Op.IS_NOT: "≠", Op.ONE_OF: "∈", Op.AT_LEAST: "≥", Op.MORE_THAN: ">", Op.AT_MOST: "≤",
    Op.LESS_THAN: "<", Op.ON_OR_AFTER: "≥", Op.ON_OR_BEFORE: "≤", Op.INCLUDES: "∋",
    Op.INCLUDES_ANY: "∩", Op.NOT_EMPTY: "≠ ∅",
}

def _one_of(actual: Any, value: Any) -> bool:
    return actual in value


def _includes(actual: Any, value: Any) -> bool:
    return value in actual


def _includes_any(actual: Any, value: Any) -> bool:
    return any(x in actual for x in value)


def _not_empty(actual: Any, value: Any) -> bool:
    return bool(actual) is bool(value)


# Plain module-level functions: the comparisons themselves carry no state.
_COMPARE: dict[Op, Callable[[Any, Any], bool]] = {
    Op.IS: operator.eq, Op.IS_NOT: operator.ne, Op.ONE_OF: _one_of,
    Op.AT_LEAST: operator.ge, Op.MORE_THAN: operator.gt, Op.AT_MOST: operator.le, Op.LESS_THAN: operator.lt,
    Op.ON_OR_AFTER: operator.ge, Op.ON_OR_BEFORE: operator.le,
    Op.INCLUDES: _includes, Op.INCLUDES_ANY: _includes_any, Op.NOT_EMPTY: _not_empty,
}


@dataclass(frozen=True)
class Test:
    """One comparison: ``fact op value``. ``fact`` is ``record.<field>`` or ``enterprise.<field>``."""

    fact: str
    op: Op
    value: Value
    origin: str = "when"        # which part of the rule wrote it: rewards, when, window, as_of

    def __post_init__(self) -> None:
        # Resolved once, since evaluation is the engine's hot path.
        scope, _, name = self.fact.partition(".")
        object.__setattr__(self, "_on_record", scope == "record")
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_compare", _COMPARE[self.op])

    def evaluate(self, facts: Facts) -> Truth:
        source = facts.record if self._on_record else facts.profile  # type: ignore[attr-defined]
        actual = getattr(source, self._name, None)  # type: ignore[attr-defined]
        if actual is None:
            actual = facts.get(self.fact)  # a derived or supplied fact
            if actual is None:
                return Truth.UNKNOWN
        return Truth.TRUE if self._compare(actual, self.value) else Truth.FALSE  # type: ignore[attr-defined]

    def describe(self) -> str:
        return f"{self.fact} {self.op.value} {show(self.value)}"


@dataclass(frozen=True)
class _Junction:
    children: tuple[Node, ...]

    _decides: ClassVar[Truth]     # a child with this value decides the whole
    _otherwise: ClassVar[Truth]

    def evaluate(self, facts: Facts) -> Truth:
        """Short-circuit: the first deciding child decides; any unknown child makes the rest unknown."""
        unknown = False
        for child in self.children:
            truth = child.evaluate(facts)
            if truth is self._decides:
                return truth
            unknown = unknown or truth is Truth.UNKNOWN
        return Truth.UNKNOWN if unknown else self._otherwise


@dataclass(frozen=True)
class All(_Junction):
    _decides = Truth.FALSE
    _otherwise = Truth.TRUE


@dataclass(frozen=True)
class Any_(_Junction):
    _decides = Truth.TRUE
    _otherwise = Truth.FALSE


Node = Union[Test, All, Any_]


@dataclass(frozen=True)
class Check:
    """The verdict on one leaf: what was required, what was found."""

    test: Test
    truth: Truth
    actual: Any

    def describe(self) -> str:
        if self.truth is Truth.UNKNOWN:
            return f"{self.test.fact} is missing (required: {self.test.describe()})"
        verdict = "holds" if self.truth is Truth.TRUE else "fails"
        return f"{self.test.describe()} {verdict}: actual {show(self.actual)}"


def show(value: Any) -> str:
    """A fact or required value as rule files write it: ``true``, ``[a, b]``, ``2025-09-12``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(show, value)) + "]"
    return str(value)


class Facts:
    """The facts one (enterprise, record) pair offers to a condition tree, by dotted name."""

    __slots__ = ("profile", "record", "_extra")

    def __init__(self, profile: Any, record: Any, extra: dict[str, Any] | None = None) -> None:
        self.profile = profile
        self.record = record
        self._extra = extra

    def get(self, name: str) -> Any:
        if self._extra and name in self._extra:
            return self._extra[name]
        scope, _, field = name.partition(".")
        source = self.record if scope == "record" else self.profile
        value = getattr(source, field, None)
        return tuple(value) if isinstance(value, list) else value


def evaluate(node: Node, facts: Facts, checks: list[Check] | None = None) -> Truth:
    """Three-valued evaluation; every leaf visited is appended to ``checks`` when given.

    All leaves are visited (no short circuit) when ``checks`` is given, so an explanation names every
    failed and every missing fact, not just the first.
    """
    if checks is None:
        return node.evaluate(facts)
    if isinstance(node, Test):
        truth = node.evaluate(facts)
        checks.append(Check(node, truth, facts.get(node.fact)))
        return truth
    seen = [evaluate(child, facts, checks) for child in node.children]
    if node._decides in seen:
        return node._decides
    return Truth.UNKNOWN if Truth.UNKNOWN in seen else node._otherwise


# Whether a tree is definitely true for (profile, record, extra facts): see ``compile_holds``.
Holds = Callable[[Any, Any, Any], bool]


def compile_holds(node: Node) -> Holds:
    """A predicate true exactly where ``evaluate(node, Facts(profile, record, extra))`` is ``TRUE``.

    For populations, which only need the pairs that pay: in three-valued logic ``All`` is true only
    when every child is true and ``Any`` when some child is, so falsity and unknowns need not be told
    apart. The leaves of a junction become one loop over their comparisons rather than a call each.
    """
    if isinstance(node, Test):
        node = All((node,))
    leaves_here = tuple((t._on_record, t._name, t.fact, t._compare, t.value)  # type: ignore[attr-defined]
                        for t in node.children if isinstance(t, Test))
    junctions = tuple(compile_holds(c) for c in node.children if not isinstance(c, Test))
    if isinstance(node, All):
        def every(profile: Any, record: Any, extra: Any) -> bool:
            for on_record, name, fact, compare, value in leaves_here:
                actual = getattr(record if on_record else profile, name, None)
                if actual is None and (not extra or (actual := extra.get(fact)) is None):
                    return False  # absent: unknown, so not true
                if not compare(actual, value):
                    return False
            for junction in junctions:
                if not junction(profile, record, extra):
                    return False
            return True
        return every

    def some(profile: Any, record: Any, extra: Any) -> bool:
        for on_record, name, fact, compare, value in leaves_here:
            actual = getattr(record if on_record else profile, name, None)
            if actual is None and extra:
                actual = extra.get(fact)  # a derived or supplied fact, as ``Test.evaluate`` finds it
            if actual is not None and compare(actual, value):
                return True
        for junction in junctions:
            if junction(profile, record, extra):
                return True
        return False
    return some


def leaves(node: Node) -> list[Test]:
    """Every ``Test`` in the tree, in order."""
    if isinstance(node, Test):
        return [node]
    return [leaf for child in node.children for leaf in leaves(child)]
