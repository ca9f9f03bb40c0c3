"""The typed condition tree every rule compiles into, and its three-valued native evaluation.

A rule's ``rewards``, ``when`` and window compile once into ``All``/``Any`` nodes over leaves:
``Test`` compares one fact (``record.investment``, ``enterprise.clusters``) with a typed value;
``Compare`` compares two expressions (``revenue[year - 1] ≥ 2000万元``, see ``expressions``);
``Count`` counts the enterprise's other records of a kind that meet a ``where`` tree (``some``,
``none``, ``count … at_least/at_most``). Evaluating gives ``TRUE``, ``FALSE`` or ``UNKNOWN`` (a
fact is absent: absent is never zero), and a ``Check`` per leaf saying what was found against
what was required.

``Compare`` and ``Count`` read the whole enterprise through ``Whole``, supplied among the extra
facts under the key ``WHOLE``. ``Count … at_most`` and ``none`` are not monotone (a missing fact
can turn them either way), so populations compile both ``compile_holds`` (definitely true) and
``compile_fails`` (definitely false).
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import operator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, ClassVar, Mapping, Union

from incentives import expressions as ex
from incentives.messages import N_

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


# How a test reads (``record.level is national``); the catalogue gives each its Chinese form.
_DESCRIBE: dict[Op, str] = {
    Op.IS: N_("%(fact)s is %(value)s"), Op.IS_NOT: N_("%(fact)s is_not %(value)s"),
    Op.ONE_OF: N_("%(fact)s one_of %(values)s"), Op.AT_LEAST: N_("%(fact)s at_least %(value)s"),
    Op.MORE_THAN: N_("%(fact)s more_than %(value)s"), Op.AT_MOST: N_("%(fact)s at_most %(value)s"),
    Op.LESS_THAN: N_("%(fact)s less_than %(value)s"), Op.ON_OR_AFTER: N_("%(fact)s on_or_after %(value)s"),
    Op.ON_OR_BEFORE: N_("%(fact)s on_or_before %(value)s"), Op.INCLUDES: N_("%(fact)s includes %(value)s"),
    Op.INCLUDES_ANY: N_("%(fact)s includes_any %(values)s"), Op.NOT_EMPTY: N_("%(fact)s not_empty %(value)s"),
}

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
        # ``rewarded.<field>`` (inside a count's ``where``) is supplied among the extra facts.
        object.__setattr__(self, "_name", "" if scope == "rewarded" else name)
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
        shown = show(self.value)
        return _DESCRIBE[self.op] % {"fact": self.fact, "value": shown, "values": shown}


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


# A condition as a rule file writes it: ``{fact: {op: value}}``, ``{any|all|some|none|count: …}`` or
# a comparison of expressions (``"revenue[year - 1] ≥ 2000万元"``).
Condition = Union[dict[str, Any], str]

WHOLE = "@whole"          # the key of ``Whole`` among the extra facts
REWARDED = "@rewarded"    # the key of the rewarded record while a count judges another record


@dataclass(frozen=True)
class Whole:
    """The whole enterprise as conditions over it see it: its records (closed world: a record not
    given did not happen), the assessment date, its yearly figures and the derived facts."""

    records: tuple[Any, ...]
    as_of: dt.date
    figure: Callable[[str, int], Any] | None = None
    derived: Mapping[str, ex.Derived] = field(default_factory=dict)


def _whole(facts: Facts) -> Whole | None:
    return facts._extra.get(WHOLE) if facts._extra else None


@dataclass(frozen=True)
class Compare:
    """``left op right`` over two expressions: yearly figures, derived facts, arithmetic.

    A comparison over a value that cannot exist (a ratio over a zero revenue) fails, with the reason.
    """

    comparison: ex.Comparison
    origin: str = "when"

    @property
    def fact(self) -> str:
        return ex.show(self.comparison.left)

    def evaluate(self, facts: Facts) -> Truth:
        return self.judge(facts)[0]

    def judge(self, facts: Facts, steps: list[ex.Step] | None = None) -> tuple[Truth, Any, tuple[str, ...]]:
        """The verdict, the value found (or the reason it cannot exist) and the facts missing."""
        whole = _whole(facts)
        rewarded = facts._extra.get(REWARDED, facts.record) if facts._extra else facts.record
        env = ex.Env(facts.profile, rewarded, facts.record, figure=whole.figure if whole else None,
                     derived=whole.derived if whole else None, records=whole.records if whole else None,
                     as_of=whole.as_of if whole else None)
        left = ex.evaluate(self.comparison.left, env, steps)
        right = ex.evaluate(self.comparison.right, env, steps)
        bad = ex._combine([left, right])
        if isinstance(bad, ex.Unknown):
            return Truth.UNKNOWN, None, bad.missing
        if isinstance(bad, ex.Undefined):
            return Truth.FALSE, bad.reason, ()
        assert isinstance(left, Decimal) and isinstance(right, Decimal)
        holds = ex.compare(self.comparison.op, left, right)
        return (Truth.TRUE if holds else Truth.FALSE), left, ()

    def describe(self) -> str:
        return ex.show(self.comparison)


@dataclass(frozen=True)
class Count:
    """How many of the enterprise's other records of ``kind`` meet ``where``, against bounds.

    ``some`` is ``at_least: 1``, ``none`` is ``at_most: 0``. Only records dated on or before
    ``as_of`` count, and never the rewarded record itself; ``before_rewarded`` keeps only records
    dated before the rewarded one, ``within_years`` only those dated within that many years before
    the rewarded record (with ``before_rewarded``) or ``as_of``. Inside ``where``, ``record.`` is
    the record counted and ``rewarded.`` the record being judged.
    """

    kind: str
    where: All
    at_least: int | None = None
    at_most: int | None = None
    before_rewarded: bool = False
    within_years: int | None = None
    origin: str = "when"
    written: str = field(default="count", compare=False)

    def __post_init__(self) -> None:
        rewarded = tuple(dict.fromkeys(leaf.fact for leaf in leaves(self.where)
                                       if isinstance(leaf, Test) and leaf.fact.startswith("rewarded.")))
        object.__setattr__(self, "_rewarded", rewarded)
        object.__setattr__(self, "_holds", compile_holds(self.where))
        object.__setattr__(self, "_fails", compile_fails(self.where))

    @property
    def fact(self) -> str:
        counted = _COUNTED.get(self.written)
        return counted % {"kind": self.kind} if counted else f"{self.written} {self.kind}"

    def evaluate(self, facts: Facts) -> Truth:
        return self.judge(facts)[0]

    def judge(self, facts: Facts) -> tuple[Truth, Any, tuple[str, ...]]:
        """The verdict, the records found (``"r1, r2 (+1 unknown)"``) and the facts missing."""
        whole = _whole(facts)
        rewarded = facts.record
        if whole is None:
            return Truth.UNKNOWN, None, (f"records of kind {self.kind}",)
        extra = dict(facts._extra or ())
        extra[REWARDED] = rewarded
        for name in self._rewarded:  # type: ignore[attr-defined]
            extra[name] = getattr(rewarded, name.partition(".")[2], None)
        last = whole.as_of
        anchor = rewarded.date if self.before_rewarded and rewarded is not None else whole.as_of
        first = _years_before(anchor, self.within_years) if self.within_years is not None else None
        found: list[str] = []
        unsure: list[Any] = []
        for record in whole.records:
            if record.kind != self.kind or record is rewarded or record.date > last \
                    or (self.before_rewarded and (rewarded is None or record.date >= rewarded.date)) \
                    or (first is not None and record.date < first) \
                    or (rewarded is not None and record.id == rewarded.id):
                continue
            if self._holds(facts.profile, record, extra):  # type: ignore[attr-defined]
                found.append(record.id)
            elif not self._fails(facts.profile, record, extra):  # type: ignore[attr-defined]
                unsure.append(record)
        low, high = len(found), len(found) + len(unsure)
        truth = Truth.TRUE
        if self.at_least is not None:
            truth = Truth.TRUE if low >= self.at_least else Truth.FALSE if high < self.at_least else Truth.UNKNOWN
        if self.at_most is not None and truth is not Truth.FALSE:
            upper = Truth.TRUE if high <= self.at_most else Truth.FALSE if low > self.at_most else Truth.UNKNOWN
            truth = upper if truth is Truth.TRUE or upper is Truth.FALSE else Truth.UNKNOWN
        actual = f"{low}" + (f" ({', '.join(found)})" if found else "")
        if unsure:
            actual = N_("%(actual)s, %(n)s undetermined") % {"actual": actual, "n": len(unsure)}
        missing: tuple[str, ...] = ()
        if truth is Truth.UNKNOWN:
            names: list[str] = []
            for record in unsure:
                checks: list[Check] = []
                evaluate(self.where, Facts(facts.profile, record, extra), checks)
                names += [f"{record.id}: {m}" for c in checks if c.truth is Truth.UNKNOWN for m in c.missing]
            missing = tuple(dict.fromkeys(names))
        return truth, actual, missing

    def describe(self) -> str:
        bounds = [template % {"n": n} for template, n in ((N_("at_least %(n)s"), self.at_least),
                                                          (N_("at_most %(n)s"), self.at_most)) if n is not None]
        return N_("%(counted)s where %(where)s: %(bounds)s") % {
            "counted": self.fact, "where": _describe_tree(self.where), "bounds": _joined(bounds, N_("%(left)s and %(right)s"))}


# How a count reads (``none project``); the catalogue gives each its Chinese form.
_COUNTED = {"count": N_("count %(kind)s"), "some": N_("some %(kind)s"), "none": N_("none %(kind)s")}


def _joined(parts: list[str], template: str) -> str:
    """``a and b and c`` from one template, so each joint reads as the catalogue writes it."""
    return functools.reduce(lambda left, right: template % {"left": left, "right": right}, parts) if parts else ""


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _describe_tree(node: Node) -> str:
    if isinstance(node, (All, Any_)):
        joined = _joined([_describe_tree(c) for c in node.children],
                         N_("%(left)s and %(right)s") if isinstance(node, All) else N_("%(left)s or %(right)s"))
        return f"({joined})" if len(node.children) > 1 else joined or N_("any")
    return node.describe()


Leaf = Union[Test, Compare, Count]
Node = Union[Test, Compare, Count, All, Any_]


@dataclass(frozen=True)
class Check:
    """The verdict on one leaf: what was required, what was found, which facts are missing."""

    test: Leaf
    truth: Truth
    actual: Any
    missing: tuple[str, ...] = ()

    @property
    def fact(self) -> str:
        return self.test.fact

    @property
    def op(self) -> str:
        if isinstance(self.test, Test):
            return self.test.op.value
        if isinstance(self.test, Compare):
            return self.test.comparison.op
        return " and ".join(op for op, n in (("at_least", self.test.at_least), ("at_most", self.test.at_most))
                            if n is not None)

    @property
    def required(self) -> str:
        if isinstance(self.test, Test):
            return show(self.test.value)
        if isinstance(self.test, Compare):
            return ex.show(self.test.comparison.right)
        bounds = " and ".join(str(n) for n in (self.test.at_least, self.test.at_most) if n is not None)
        return f"{bounds} where {_describe_tree(self.test.where)}"

    def describe(self) -> str:
        if self.truth is Truth.UNKNOWN:
            return N_("%(facts)s missing (required: %(condition)s)") % {
                "facts": ", ".join(self.missing), "condition": self.test.describe()}
        verdict = N_("%(condition)s holds: actual %(actual)s") if self.truth is Truth.TRUE else \
            N_("%(condition)s fails: actual %(actual)s")
        return verdict % {"condition": self.test.describe(), "actual": show(self.actual)}


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
        if scope == "rewarded":
            source = self._extra.get(REWARDED) if self._extra else None
        else:
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
        checks.append(Check(node, truth, facts.get(node.fact), (node.fact,) if truth is Truth.UNKNOWN else ()))
        return truth
    if isinstance(node, Compare):  # the value found, and how: every input with its source
        steps: list[ex.Step] = []
        truth, actual, missing = node.judge(facts, steps)
        inputs = "; ".join(f"{s.name} = {show(s.value)} ({s.source})" for s in steps if s.value is not None)
        if inputs and truth is not Truth.UNKNOWN:
            actual = f"{show(actual)} ({inputs})"
        checks.append(Check(node, truth, actual, missing))
        return truth
    if isinstance(node, Count):
        truth, actual, missing = node.judge(facts)
        checks.append(Check(node, truth, actual, missing))
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
    if isinstance(node, (Compare, Count)):
        leaf = node

        def judged(profile: Any, record: Any, extra: Any) -> bool:
            return leaf.evaluate(Facts(profile, record, extra)) is Truth.TRUE
        return judged
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


def compile_fails(node: Node) -> Holds:
    """A predicate true exactly where ``evaluate(node, Facts(profile, record, extra))`` is ``FALSE``.

    ``compile_holds`` alone cannot tell false from unknown, which a count needs: ``none`` and
    ``at_most`` hold only when every other record definitely fails the ``where`` tree.
    """
    if isinstance(node, Test):
        on_record, name, fact, compare, value = (node._on_record, node._name, node.fact,  # type: ignore[attr-defined]
                                                 node._compare, node.value)  # type: ignore[attr-defined]

        def fails(profile: Any, record: Any, extra: Any) -> bool:
            actual = getattr(record if on_record else profile, name, None)
            if actual is None and extra:
                actual = extra.get(fact)
            return actual is not None and not compare(actual, value)
        return fails
    if isinstance(node, (Compare, Count)):
        leaf = node

        def judged(profile: Any, record: Any, extra: Any) -> bool:
            return leaf.evaluate(Facts(profile, record, extra)) is Truth.FALSE
        return judged
    children = tuple(compile_fails(c) for c in node.children)
    if isinstance(node, All):
        return lambda profile, record, extra: any(f(profile, record, extra) for f in children)
    return lambda profile, record, extra: all(f(profile, record, extra) for f in children)


def leaves(node: Node) -> list[Leaf]:
    """Every leaf of the tree (``Test``, ``Compare``, ``Count``), in order; not inside a count."""
    if isinstance(node, (Test, Compare, Count)):
        return [node]
    return [leaf for child in node.children for leaf in leaves(child)]
