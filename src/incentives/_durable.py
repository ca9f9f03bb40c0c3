"""durable_rules behind one small door: the only module that touches it.

``DurableMatcher`` compiles the condition trees the native matcher evaluates into data-defined
durable_rules rulesets (plain dicts, one action per rule) and answers which (rule, record) pairs
match: exactly those whose tree ``conditions.evaluate`` finds ``TRUE``. An absent fact is never
sent, so no test on it can match (``UNKNOWN`` is no match).

The quirks of durable_rules 2.0.28 absorbed here, and how:

- Facts travel as JSON, and durable compares mixed types oddly and exactly only within int64: money
  becomes integer units (fen, or finer if a rule amount needs it) sent twice, rounded down and up, so
  a sub-fen amount still compares exactly; amounts are clamped inside int64, all durable compares;
  dates become ordinals, booleans 0/1. No ``Decimal``, ``date`` or float is ever sent.
- There is no ``$in`` and no ``$not``: ``one_of`` becomes an ``$or`` of ``$eq``. List tests
  (``includes``, ``includes_any``, ``not_empty``) and anything durable cannot express are evaluated
  natively at encoding time and sent as a 0/1 attribute, omitted when the fact is absent.
- A rule made only of ``$nex`` tests matches the session's own state message and fires forever: no
  ``$nex`` is ever emitted, every rule starts with ``record.kind is X`` (a rule without one gets a
  presence test). ``$neq`` needs no guard: durable indexes tests by the attributes a fact has, so
  ``is_not`` never matches an absent fact.
- Limits of one ruleset: 512 rules or more hang (rulesets hold at most ``MAX_RULES``); a fact has at
  most 254 attributes (error 302: each ruleset gets only the attributes its rules read); at most 64
  tests may be pending while one fact is matched (error 303: rules are packed by branching weight);
  a rule holds at most 15 ``$and``/``$or`` (error 113: bigger sub-conditions are precomputed).
- ``delete_state`` frees two pointers that a new session slot leaves uninitialised until an action
  has run in it: deleting a session no action ran in can segfault or double free. Every ruleset
  carries a warm-up rule run once at registration; sessions never overlap (the lock), so every later
  session reuses that clean slot. A ruleset whose delete failed is warmed again before reuse.
- At most 1024 live sessions per ruleset (then ``MemoryError`` and a broken ruleset): one session
  per ``match`` call, deleted in ``finally`` from every ruleset it touched.
- A ruleset name registers once per host, and each ``Host()`` starts two timer threads that never
  stop: one host per process, created lazily; ruleset names carry the matcher's number. The host
  never forgets a ruleset (about 0.26 MB a rulebook): a matcher that is collected has its rulesets
  unregistered and their C state deleted at the next use of the host. The host's
  background dispatcher is never started: it would pick up a session's pending actions on its own
  thread between the caller's assert and its actions. Every action runs inside ``assert_fact``.
- Several threads on one host give error 307 and wrong firings: all host use holds one lock.
- ``post`` consumes an event at its first match: facts go in with ``assert_fact``. Identical facts
  raise ``MessageObservedException`` (each fact carries its record id and a sequence number); a fact
  no rule matches raises ``MessageNotHandledException``, read as "no match".
- Actions get no rule name and their exceptions are swallowed: each rule has its own one-line action
  appending to the matcher's collector.
- Errors are bare numeric codes: they become ``EngineError`` naming the ruleset, the record and the
  meaning of the code.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import threading
import weakref
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Iterable, Sequence, cast

import durable_rules_engine  # type: ignore[import-not-found]
from durable import engine as durable  # type: ignore[import-untyped]

from incentives.conditions import All, Any_, Facts, Node, Op, Test, Truth, evaluate, leaves
from incentives.errors import EngineError
from incentives.facts import Enterprise, Profile, Record, derived_facts
from incentives.rulebook import CompiledRule

MAX_RULES = 200         # rules per ruleset; 512 or more hang
MAX_WEIGHT = 60         # tests pending while one fact is matched; 64 at most (error 303)
MAX_GROUPS = 15         # $and/$or per rule; 16 is error 113
MAX_ATTRIBUTES = 200    # attributes per fact; 255 properties at most (error 302)
INT64 = 2**63 - 1

Expr = dict[str, Any]
Found = list[tuple[str, str]]

_ORDER = {Op.AT_LEAST: "$gte", Op.ON_OR_AFTER: "$gte", Op.MORE_THAN: "$gt", Op.AT_MOST: "$lte",
          Op.ON_OR_BEFORE: "$lte", Op.LESS_THAN: "$lt"}
_EQUALITY = (Op.IS, Op.IS_NOT)
_SUFFIX = {"text": "s", "bool": "b", "date": "d", "floor": "lo", "ceil": "hi"}
_ROUNDED = {"$gte": "floor", "$lt": "floor", "$gt": "ceil", "$lte": "ceil"}   # exact for integer bounds
_ALWAYS: Expr = {"$ex": {"rid": 1}}      # every fact has a record id; the state message has none
_WARM = "warm:up"
_CODES = {
    101: "out of memory, or more than 1024 live sessions in one ruleset",
    113: "a rule has more than 15 $and/$or",
    302: "a fact has more than 254 attributes",
    303: "more than 64 tests pending while matching one fact",
    307: "a session was deleted twice (concurrent use of one host)",
    309: "no such session",
}


class _Host(durable.Host):  # type: ignore[misc]
    """A host without the background dispatcher: actions run only inside the caller's own calls."""

    def _run(self) -> None:
        return None


_LOCK = threading.Lock()
_HOST: list[_Host] = []
_MATCHERS = itertools.count(1)
_SESSIONS = itertools.count(1)


_RELEASED: list[str] = []      # rulesets of matchers that are gone, deleted at the next use of the host


def _host() -> _Host:
    """The process's one host, rid of the rulesets no matcher uses any more; call with ``_LOCK`` held."""
    if not _HOST:
        _HOST.append(_Host())
    host = _HOST[0]
    while _RELEASED:
        _delete_ruleset(host, _RELEASED.pop())
    return host


def _delete_ruleset(host: _Host, name: str) -> None:
    """Unregister a ruleset and free its C state (about 0.26 MB a rulebook, kept for ever otherwise)."""
    ruleset = host._ruleset_directory.pop(name, None)
    if ruleset is None:
        return
    host._ruleset_list.remove(ruleset)
    durable_rules_engine.delete_ruleset(ruleset._handle)


@dataclass(frozen=True)
class _Attribute:
    """One attribute of a fact: a fact read in one form, or a sub-condition evaluated natively."""

    key: str
    form: str                   # text | bool | date | floor | ceil | node
    fact: str = ""
    node: Node | None = None

    @property
    def per_record(self) -> bool:
        if self.node is None:
            return not self.fact.startswith("enterprise.")
        # A comparison or a count reads the rewarded record (its year, its date): per record.
        return any(not isinstance(leaf, Test) or not leaf.fact.startswith("enterprise.")
                   for leaf in leaves(self.node))

    def read(self, facts: Facts, digits: int) -> int | str | None:
        if self.node is not None:
            truth = evaluate(self.node, facts)
            return None if truth is Truth.UNKNOWN else int(truth is Truth.TRUE)
        value = facts.get(self.fact)
        if value is None:
            return None
        encoded = _encode(self.form, value, digits)
        if encoded is None:
            raise EngineError(f"fact {self.fact} is {type(value).__name__} {value!r}, but a rule compares it "
                              f"as {self.form}", field=self.fact)
        return encoded


def _encode(form: str, value: Any, digits: int) -> int | str | None:
    """``value`` as durable receives it in ``form``, or ``None`` if it is not of that form."""
    if form == "text":
        return value if isinstance(value, str) else None
    if form == "bool":
        return int(value) if isinstance(value, bool) else None
    if form == "date":
        return value.toordinal() if isinstance(value, dt.date) and not isinstance(value, dt.datetime) else None
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)) or not Decimal(value).is_finite():
        return None
    low, high = _units(Decimal(value), digits)
    return low if form == "floor" else high


def _units(amount: Decimal, digits: int) -> tuple[int, int]:
    """``amount × 10^digits`` rounded down and up, exactly, clamped inside int64."""
    sign, figures, exponent = amount.as_tuple()
    number = int("".join(map(str, figures))) * (-1 if sign else 1)
    shift = int(exponent) + digits
    if number == 0:
        return 0, 0
    if shift >= 0:
        if shift + len(figures) > 19:
            return (INT64, INT64) if number > 0 else (-INT64, -INT64)
        scaled = number * 10**shift
        return _clamp(scaled), _clamp(scaled)
    if -shift > len(figures):           # |amount × 10^digits| < 1
        return (0, 1) if number > 0 else (-1, 0)
    unit = 10**-shift
    return _clamp(number // unit), _clamp(-(-number // unit))


def _clamp(units: int) -> int:
    return max(-INT64, min(INT64, units))


def _form(test: Test) -> str | None:
    """How durable compares ``test`` directly, or ``None`` if it must be evaluated natively."""
    value, op = test.value, test.op
    if isinstance(value, bool):
        return "bool" if op in _EQUALITY else None
    if isinstance(value, Decimal):
        return "money" if value.is_finite() and (op in _EQUALITY or op in _ORDER) else None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return "date" if op in _EQUALITY or op in _ORDER else None
    if isinstance(value, str):
        return "text" if op in _EQUALITY else None
    if isinstance(value, tuple) and value and all(isinstance(v, str) for v in value):
        return "text" if op is Op.ONE_OF else None
    return None


def _money_digits(rules: Sequence[CompiledRule]) -> int:
    """Decimal places of the unit money travels in: the fen, or finer if a rule amount needs it."""
    places = [-int(leaf.value.as_tuple().exponent) for rule in rules for leaf in leaves(rule.tree)
              if isinstance(leaf, Test) and isinstance(leaf.value, Decimal) and leaf.value.is_finite()]
    return max([2, *places])


def _kind_test(tree: Node) -> Test | None:
    """The tree's top-level ``record.kind is X``, if it has one."""
    for child in tree.children if isinstance(tree, All) else (tree,):
        if isinstance(child, Test) and child.fact == "record.kind" and child.op is Op.IS \
                and isinstance(child.value, str):
            return child
    return None


def _kind(tree: Node) -> str | None:
    test = _kind_test(tree)
    return test.value if test is not None and isinstance(test.value, str) else None


def _groups(expr: Expr) -> int:
    """How many ``$and``/``$or`` an expression holds (durable allows 15 per rule)."""
    (key, body), = expr.items()
    return 1 + sum(map(_groups, body)) if key in ("$and", "$or") else 0


def _weight(expr: Expr) -> int:
    """At most how many tests of this expression durable keeps pending while matching one fact."""
    (key, body), = expr.items()
    if key == "$and":
        return sum(_weight(e) - 1 for e in body) + 1
    if key == "$or":
        alternatives = [next(iter(e)) for e in body]
        exclusive = all(not k.startswith("$") for k in alternatives) and len(set(alternatives)) == 1
        return 1 if exclusive else sum(map(_weight, body))    # $eq on one attribute: one can match
    return 1


def _keys(expr: Expr) -> set[str]:
    (key, body), = expr.items()
    if key in ("$and", "$or"):
        return set().union(*map(_keys, body))
    return set(body) if key.startswith("$") else {key}


def _join(op: str, parts: list[Expr]) -> Expr:
    return parts[0] if len(parts) == 1 else {op: parts}


class _Compiler:
    """Condition trees to durable expressions, and the attributes a fact must carry for them."""

    def __init__(self, digits: int) -> None:
        self.digits = digits
        self.attributes: dict[str, _Attribute] = {}
        self._nodes: dict[Node, str] = {}

    def rule(self, rule: CompiledRule) -> Expr:
        """The rule's expression, precomputing its biggest sub-conditions until durable accepts it."""
        kind = _kind_test(rule.tree)
        tree: Node = rule.tree
        if isinstance(tree, All) and kind is not None:   # the kind first: it guards, and is shared
            tree = All((kind, *(c for c in tree.children if c is not kind)))
        native: set[int] = set()
        while True:
            expr = self.node(tree, native)
            if kind is None:
                expr = {"$and": [_ALWAYS, expr]}
            if _groups(expr) <= MAX_GROUPS and _weight(expr) <= MAX_WEIGHT:
                return expr
            heaviest = self._heaviest(tree, native)
            if heaviest is None:
                raise EngineError(f"rule {rule.id} is too complex for durable_rules", field=rule.id)
            native.add(id(heaviest))

    def _heaviest(self, tree: Node, native: set[int]) -> Node | None:
        """The sub-condition whose expression is biggest, not yet evaluated natively."""
        candidates: list[tuple[int, int, Node]] = []
        stack = list(tree.children) if isinstance(tree, (All, Any_)) else []
        while stack:
            node = stack.pop()
            if id(node) in native:
                continue
            expr = self.node(node, native)
            if _groups(expr) or _weight(expr) > 1:
                candidates.append((_groups(expr), _weight(expr), node))
            if isinstance(node, (All, Any_)):
                stack.extend(node.children)
        return max(candidates, key=lambda c: c[:2])[2] if candidates else None

    def node(self, node: Node, native: set[int]) -> Expr:
        if id(node) in native:
            return {self._native(node): 1}
        if isinstance(node, Test):
            return self.test(node)
        if not isinstance(node, (All, Any_)):  # a comparison of expressions or a count: judged natively
            return {self._native(node): 1}
        parts = [self.node(child, native) for child in node.children]
        if isinstance(node, All):
            return _join("$and", parts) if parts else _ALWAYS
        return _join("$or", parts) if parts else {self._native(node): 1}

    def test(self, test: Test) -> Expr:
        form = _form(test)
        if form is None:
            return {self._native(test): 1}
        if form == "money":
            return self._money(test, cast(Decimal, test.value))
        key = self._attribute(test.fact, form)
        if test.op is Op.ONE_OF:
            return _join("$or", [{key: v} for v in test.value])  # type: ignore[union-attr]
        value = _encode(form, test.value, self.digits)
        if test.op is Op.IS:
            return {key: value}
        if test.op is Op.IS_NOT:
            return {"$neq": {key: value}}
        return {_ORDER[test.op]: {key: value}}

    def _money(self, test: Test, amount: Decimal) -> Expr:
        low, high = _units(amount, self.digits)
        if low != high or abs(low) >= INT64:
            raise EngineError(f"amount {amount} in {test.describe()} is too large for durable_rules",
                              field=test.fact)
        floor, ceil = self._attribute(test.fact, "floor"), self._attribute(test.fact, "ceil")
        if test.op is Op.IS:
            return {"$and": [{floor: low}, {ceil: low}]}
        if test.op is Op.IS_NOT:
            return {"$or": [{"$neq": {floor: low}}, {"$neq": {ceil: low}}]}
        op = _ORDER[test.op]
        return {op: {floor if _ROUNDED[op] == "floor" else ceil: low}}

    def _attribute(self, fact: str, form: str) -> str:
        key = f"{fact.replace('.', ':')}:{_SUFFIX[form]}"
        self.attributes.setdefault(key, _Attribute(key, form, fact=fact))
        return key

    def _native(self, node: Node) -> str:
        key = self._nodes.setdefault(node, f"n:{len(self._nodes)}")
        self.attributes.setdefault(key, _Attribute(key, "node", node=node))
        return key


@dataclass(eq=False)
class _Ruleset:
    """One durable ruleset: a slice of the rules of one record kind (or of rules for any kind)."""

    name: str
    kind: str | None
    rules: list[tuple[str, Expr]] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)
    weight: int = 0
    clean: bool = False         # its free session slot has run an action: deleting there is safe

    def fits(self, expr: Expr) -> bool:
        return (len(self.rules) < MAX_RULES and self.weight + _weight(expr) <= MAX_WEIGHT
                and len(self.keys | _keys(expr)) <= MAX_ATTRIBUTES)

    def add(self, rule_id: str, expr: Expr) -> None:
        self.rules.append((rule_id, expr))
        self.keys |= _keys(expr)
        self.weight += _weight(expr)

    def definition(self, action: Callable[[str], Callable[[Any], None]]) -> dict[str, Any]:
        rules: dict[str, Any] = {f"r{i}": {"all": [{"m": expr}], "run": action(rule_id)}
                                 for i, (rule_id, expr) in enumerate(self.rules)}
        rules["warm"] = {"all": [{"m": {_WARM: 1}}], "run": _nothing}
        return rules

    def project(self, fact: dict[str, Any]) -> dict[str, Any]:
        """The fact with only the attributes this ruleset reads (durable takes 254 at most)."""
        return {k: v for k, v in fact.items() if k in self.keys or k in ("sid", "id", "rid")}


def _nothing(c: Any) -> None:
    return None


class DurableMatcher:
    """The (rule, record) pairs durable_rules matches, for the rules it was built from.

    Build it once per rule set (it registers its rulesets in the process's one durable host for the
    life of the process) and call ``match`` from any thread. Matches are exactly the pairs whose
    condition tree the native matcher finds ``TRUE``.
    """

    def __init__(self, rules: Iterable[CompiledRule]) -> None:
        chosen = list(rules)
        compiler = _Compiler(_money_digits(chosen))
        self._digits = compiler.digits
        self._found: Found = []
        self._rulesets = _pack([(rule.id, _kind(rule.tree), compiler.rule(rule)) for rule in chosen],
                               f"incentives_{next(_MATCHERS)}")
        used = set().union(*(rs.keys for rs in self._rulesets))
        attributes = [a for a in compiler.attributes.values() if a.key in used]
        self._per_record = [a for a in attributes if a.per_record]
        self._per_enterprise = [a for a in attributes if not a.per_record]
        anykind = tuple(rs for rs in self._rulesets if rs.kind is None)
        self._routes = {rs.kind: tuple(r for r in self._rulesets if r.kind == rs.kind) + anykind
                        for rs in self._rulesets if rs.kind is not None}
        self._anykind = anykind
        with _LOCK:
            host = _host()
            for ruleset in self._rulesets:
                _register(host, ruleset, self._action)
                _warm(host, ruleset)
        # When the matcher goes (with its rulebook), its rulesets go too: not here, where the lock may be
        # held by whoever dropped the last reference, but at the next use of the host.
        weakref.finalize(self, _RELEASED.extend, [rs.name for rs in self._rulesets])

    @property
    def rulesets(self) -> tuple[str, ...]:
        """The names of the durable rulesets this matcher registered."""
        return tuple(rs.name for rs in self._rulesets)

    def match(self, enterprise: Enterprise, records: Iterable[Record] | None = None,
              extra: dict[str, Any] | None = None) -> set[tuple[str, str]]:
        """``(rule_id, record_id)`` for every record of ``enterprise`` (or of ``records``) a rule matches.

        ``extra`` are the facts beyond the profile and the record (``Rulebook.extra_facts``); by
        default those derived from the records, without the whole enterprise. Raises ``EngineError`` if durable_rules fails; no session is left behind either way.
        """
        chosen = list(enterprise.records if records is None else records)
        facts = self._facts(enterprise.profile, chosen, derived_facts(enterprise) if extra is None else extra)
        with _LOCK:
            host = _host()
            sid = str(next(_SESSIONS))
            self._found.clear()
            touched: list[_Ruleset] = []
            try:
                for index, (record, fact) in enumerate(zip(chosen, facts)):
                    self._assert(host, touched, {**fact, "sid": sid, "id": str(index)}, record)
            finally:
                failure = _close(host, sid, touched)
            if failure is not None:
                raise failure
            return set(self._found)

    def _action(self, rule_id: str) -> Callable[[Any], None]:
        found = self._found

        def run(c: Any) -> None:        # one parameter: durable calls it synchronously
            found.append((rule_id, c.m["rid"]))
        return run

    def _facts(self, profile: Profile, records: list[Record], derived: dict[str, Any]) -> list[dict[str, Any]]:
        shared = _read(self._per_enterprise, Facts(profile, None, derived), self._digits)
        return [{"rid": record.id, **shared, **_read(self._per_record, Facts(profile, record, derived), self._digits)}
                for record in records]

    def _assert(self, host: _Host, touched: list[_Ruleset], fact: dict[str, Any], record: Record) -> None:
        """Assert one record's fact (unique in the session by its ``id``) into the rulesets of its kind."""
        for ruleset in self._routes.get(record.kind, self._anykind):
            if ruleset not in touched:
                if not ruleset.clean:
                    _warm(host, ruleset)
                touched.append(ruleset)
            try:
                host.assert_fact(ruleset.name, ruleset.project(fact))
            except durable.MessageNotHandledException:
                continue
            except Exception as e:
                raise EngineError(f"asserting record {record.id!r} into durable ruleset {ruleset.name} failed: "
                                  f"{_describe(e)}", field=record.id) from e


def _read(attributes: list[_Attribute], facts: Facts, digits: int) -> dict[str, Any]:
    values = ((a.key, a.read(facts, digits)) for a in attributes)
    return {key: value for key, value in values if value is not None}


def _pack(compiled: list[tuple[str, str | None, Expr]], prefix: str) -> list[_Ruleset]:
    """Rules into rulesets, one record kind each, none past durable's limits."""
    rulesets: list[_Ruleset] = []
    open_: dict[str | None, _Ruleset] = {}
    for rule_id, kind, expr in compiled:
        current = open_.get(kind)
        if current is None or not current.fits(expr):
            current = open_[kind] = _Ruleset(f"{prefix}_{len(rulesets)}", kind)
            rulesets.append(current)
        current.add(rule_id, expr)
    return rulesets


def _register(host: _Host, ruleset: _Ruleset, action: Callable[[str], Callable[[Any], None]]) -> None:
    try:
        host.set_rulesets({ruleset.name: ruleset.definition(action)})
    except Exception as e:
        rules = ", ".join(rule_id for rule_id, _ in ruleset.rules)
        raise EngineError(f"durable_rules rejected ruleset {ruleset.name} (rules {rules}): {_describe(e)}") from e


def _warm(host: _Host, ruleset: _Ruleset) -> None:
    """Run an action in the ruleset's free session slot, so deleting sessions there is safe."""
    try:
        host.assert_fact(ruleset.name, {"sid": "warm", "id": "warm", _WARM: 1})
        host.delete_state(ruleset.name, "warm")
    except Exception as e:
        raise EngineError(f"durable ruleset {ruleset.name} failed to warm up: {_describe(e)}") from e
    ruleset.clean = True


def _close(host: _Host, sid: str, touched: list[_Ruleset]) -> EngineError | None:
    """Delete the session from every ruleset it touched; the first failure, if any."""
    failure: EngineError | None = None
    for ruleset in touched:
        try:
            host.delete_state(ruleset.name, sid)
        except Exception as e:
            if _code(e) == 309:         # the assert failed before the session existed
                continue
            ruleset.clean = False
            if failure is None:
                failure = EngineError(f"deleting session {sid} of durable ruleset {ruleset.name} failed: "
                                      f"{_describe(e)}")
                failure.__cause__ = e
    return failure


def _code(error: Exception) -> int | None:
    found = re.search(r"error code: (\d+)", str(error))
    return int(found.group(1)) if found else None


def _describe(error: Exception) -> str:
    code = _code(error)
    if code is None:
        return f"{type(error).__name__}: {error}"
    return f"durable_rules error {code} ({_CODES.get(code, 'undocumented')})"
