"""The closed expression grammar rule files and the facts schema compute with.

An expression reads like the policy: ``rd_spend[year] / revenue[year]``, ``200元/亩 × record.land_area``,
``min(30%, record.unit_rent ÷ enterprise.guidance_rent)``. The grammar is closed and hand-parsed
(nothing is ever evaluated as code)::

    comparison := sum (("≥" | ">=" | ">" | "≤" | "<=" | "<" | "=" | "≠" | "!=") sum)?
    sum        := product (("+" | "-" | "−") product)*
    product    := atom (("×" | "*" | "÷" | "/") atom)*
    atom       := number unit? | reference | ("min" | "max") "(" sum ("," sum)+ ")" | "(" sum ")"
                | "sum" "(" kind "." field ")"
    reference  := (("record" | "rewarded" | "enterprise") ".")? name ("[" sum "]")? | "year"

Full-width forms (``＋ － （ ） ， ［ ］ ＞ ＜ ＝ ％``) and full-width digits are read as their ASCII
forms. Numbers are exact ``Decimal``; ``万`` and ``亿`` multiply, ``%`` and ``‰`` divide; a unit
(``元``, ``平方米``, ``亩``, ``月``, ``年``, ``人``, ``天``, chained with ``/``) gives the number its
dimension. Types are dimensions: ``+``, ``-``, ``min``, ``max`` and comparisons need equal ones,
``×`` and ``÷`` combine them, a rate is dimensionless.

References: ``record.f`` is the record in hand (the one counted inside a ``where:`` list, else the
rewarded one), ``rewarded.f`` the record being judged, ``enterprise.f`` the profile; ``name[y]`` is
the enterprise's yearly figure ``name`` of year ``y`` (or a derived fact of that year); ``year`` is
the rewarded record's year; ``sum(premises.leased_area)`` adds a field over all the enterprise's
records of a kind dated on or before ``as_of`` (the areas of several sites). Evaluation is three-valued: a missing input makes the result
``Unknown`` naming the concrete fact (``enterprise.revenue[2024]``), never zero; division by zero
is ``Undefined`` with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Mapping, Union

from incentives.errors import ExpressionError, Location
from incentives.messages import N_

# ---------------------------------------------------------------------------------------------------
# Dimensions

# Unit words a number may carry: the base unit they measure and their factor to it.
_UNIT_WORDS: dict[str, tuple[str, Decimal]] = {
    "元": ("yuan", Decimal(1)), "万元": ("yuan", Decimal(10_000)), "亿元": ("yuan", Decimal(100_000_000)),
    "平方米": ("m2", Decimal(1)), "㎡": ("m2", Decimal(1)), "亩": ("mu", Decimal(1)),
    "月": ("month", Decimal(1)), "个月": ("month", Decimal(1)), "年": ("year", Decimal(1)),
    "人": ("person", Decimal(1)), "天": ("day", Decimal(1)), "日": ("day", Decimal(1)),
}
# How each base unit prints, and the plain name of its dimension (for messages).
UNIT_TEXT = {"yuan": "元", "m2": "平方米", "mu": "亩", "month": "月", "year": "年", "person": "人", "day": "天"}
_UNIT_NAMES = {"yuan": "money", "m2": "area (平方米)", "mu": "area (亩)", "month": "months", "year": "years",
               "person": "people", "day": "days", "bool": "yes/no"}
_MULTIPLIERS = {"万": Decimal(10_000), "亿": Decimal(100_000_000)}
_PERCENT = {"%": Decimal("0.01"), "‰": Decimal("0.001")}


@dataclass(frozen=True, order=True)
class Dim:
    """A dimension: base units with their exponents, e.g. 元/平方米/月 is yuan¹·m2⁻¹·month⁻¹."""

    powers: tuple[tuple[str, int], ...] = ()

    def times(self, other: Dim, sign: int = 1) -> Dim:
        powers = dict(self.powers)
        for unit, n in other.powers:
            powers[unit] = powers.get(unit, 0) + sign * n
        return Dim(tuple(sorted((u, n) for u, n in powers.items() if n)))

    def __str__(self) -> str:
        if not self.powers:
            return "number"
        if len(self.powers) == 1 and self.powers[0][1] == 1:
            return _UNIT_NAMES.get(self.powers[0][0], self.powers[0][0])
        return self.unit_text() or "number"

    def unit_text(self) -> str:
        """As a unit is written after a number: ``元/平方米/月``; ``""`` for a plain number."""
        up = sorted((u for u, n in self.powers for _ in range(n) if n > 0), key=lambda u: u != "yuan")
        down = [u for u, n in self.powers for _ in range(-n) if n < 0]
        if len(up) > 1:  # a product of units has no written form after a number
            return "·".join(map(_unit_text, up)) + "".join("/" + _unit_text(u) for u in down)
        if not up and down:
            return "1/" + "/".join(map(_unit_text, down))
        return "".join(map(_unit_text, up)) + "".join("/" + _unit_text(u) for u in down)

    @property
    def writable(self) -> bool:
        """Whether a literal can carry this dimension (at most one unit above the line)."""
        return sum(n for _, n in self.powers if n > 0) <= 1 and (
            not self.powers or any(n > 0 for _, n in self.powers))


def _unit_text(name: str) -> str:
    return UNIT_TEXT.get(name, name)


NUMBER = Dim()
MONEY = Dim((("yuan", 1),))
BOOL = Dim((("bool", 1),))      # true / false: compared, never computed with


def unit(name: str) -> Dim:
    """The dimension of a base unit: ``unit("yuan")``, ``unit("m2")``..."""
    return Dim(((name, 1),))


def dimension(type_: str, unit_name: str | None = None) -> Dim:
    """The dimension of a declared fact type: money is 元, a quantity its unit, any other number none."""
    if type_ == "money":
        return MONEY
    if type_ == "quantity" and unit_name:
        return unit(unit_name)
    return NUMBER


def parse_unit(text: str) -> Dim:
    """The dimension a unit text names: ``"元/平方米/月"`` → yuan/m2/month; ``""`` → number."""
    dim = NUMBER
    for n, word in enumerate(text.split("/")) if text else ():
        if word not in _UNIT_WORDS:
            raise ExpressionError(f"unknown unit {word!r}; units: {', '.join(_UNIT_WORDS)}")
        dim = dim.times(unit(_UNIT_WORDS[word][0]), 1 if n == 0 else -1)
    return dim


# ---------------------------------------------------------------------------------------------------
# The tree: frozen, hashable, compared without the positions they were written at


@dataclass(frozen=True)
class Num:
    value: Decimal
    dim: Dim = NUMBER
    at: int = field(default=0, compare=False)
    text: str = field(default="", compare=False)     # as written, e.g. 30万元


@dataclass(frozen=True)
class Year:
    """``year``: the year of the rewarded record (or the year a derived fact is asked for)."""

    at: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Ref:
    """``scope.name`` or ``name[index]``; ``scope`` is record, rewarded, enterprise or ``""`` (bare)."""

    scope: str
    name: str
    index: Expr | None = None
    at: int = field(default=0, compare=False)

    @property
    def written(self) -> str:
        return f"{self.scope}.{self.name}" if self.scope else self.name


@dataclass(frozen=True)
class Binary:
    op: str             # one of + - × ÷
    left: Expr
    right: Expr
    at: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Call:
    fn: str             # min | max
    args: tuple[Expr, ...]
    at: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Comparison:
    op: str             # one of ≥ > ≤ < = ≠
    left: Expr
    right: Expr
    at: int = field(default=0, compare=False)


Expr = Union[Num, Year, Ref, Binary, Call]
COMPARISONS = ("≥", ">", "≤", "<", "=", "≠")

# ---------------------------------------------------------------------------------------------------
# Reading

_FOLD = str.maketrans({"＋": "+", "－": "-", "−": "-", "*": "×", "/": "÷", "（": "(", "）": ")", "，": ",",
                       "［": "[", "］": "]", "＞": ">", "＜": "<", "＝": "=", "％": "%", "．": ".", "　": " ",
                       **{chr(0xFF10 + d): str(d) for d in range(10)}})
_TWO_CHAR = {">=": "≥", "<=": "≤", "!=": "≠", "==": "="}
_UNIT_CHARS = set("".join(_UNIT_WORDS)) | set(_MULTIPLIERS)
_SCOPES = ("record", "rewarded", "enterprise")


@dataclass(frozen=True)
class _Token:
    kind: str           # num | name | op | end
    text: str
    at: int
    value: Any = None


def _tokens(text: str) -> list[_Token]:
    src = text.translate(_FOLD)
    out: list[_Token] = []
    i = 0
    while i < len(src):
        c = src[i]
        if c.isspace():
            i += 1
        elif c.isdigit():
            out.append(_number(src, i, text))
            i = out[-1].value[2]
        elif c.isascii() and (c.isalpha() or c == "_"):
            j = i
            while j < len(src) and src[j].isascii() and (src[j].isalnum() or src[j] in "_."):
                j += 1
            out.append(_Token("name", src[i:j], i))
            i = j
        elif src[i:i + 2] in _TWO_CHAR:
            out.append(_Token("op", _TWO_CHAR[src[i:i + 2]], i))
            i += 2
        elif c in "+-×÷()[],≥>≤<=≠":
            out.append(_Token("op", c, i))
            i += 1
        else:
            raise ExpressionError(f"unexpected {text[i]!r}", offset=i)
    out.append(_Token("end", "", len(src)))
    return out


def _number(src: str, i: int, text: str) -> _Token:
    """A number with its multiplier, percent and unit: ``30万元``, ``10%``, ``5元/平方米/月``."""
    j = i
    while j < len(src) and (src[j].isdigit() or src[j] in ".,"):
        j += 1
    digits = src[i:j].rstrip(".,").replace(",", "")
    j = i + len(src[i:j].rstrip(".,"))
    try:
        value = Decimal(digits)
    except ArithmeticError:
        raise ExpressionError(f"{digits!r} is not a number", offset=i) from None
    if j < len(src) and src[j] in _PERCENT:
        return _Token("num", src[i:j + 1], i, (value * _PERCENT[src[j]], NUMBER, j + 1))
    dim = NUMBER
    n = 0
    while j < len(src):
        word = _unit_word(src, j)
        if word is None:
            break
        if word in _MULTIPLIERS and n == 0 and not src.startswith(word + "元", j):
            value *= _MULTIPLIERS[word]
            j += len(word)
            continue
        if word in _MULTIPLIERS:
            word += "元"
        if n and word in ("万元", "亿元"):
            raise ExpressionError(f"{word!r} cannot follow '/'", offset=j)
        base, factor = _UNIT_WORDS[word]
        if n == 0 and dim != NUMBER:
            raise ExpressionError("write a compound unit with '/', e.g. 元/平方米/月", offset=j)
        value = value * factor if n == 0 else value / factor
        dim = dim.times(unit(base), 1 if n == 0 else -1)
        j += len(word)
        if j < len(src) and src[j] == "÷" and _unit_word(src, j + 1) is not None:
            j += 1
            n += 1
            continue
        break
    return _Token("num", text[i:j], i, (value, dim, j))


def _unit_word(src: str, j: int) -> str | None:
    for word in sorted((*_UNIT_WORDS, *_MULTIPLIERS), key=len, reverse=True):
        if src.startswith(word, j):
            return word
    return None


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.i = 0

    @property
    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self, *texts: str) -> _Token | None:
        token = self.peek
        if token.kind == "op" and token.text in texts:
            self.i += 1
            return token
        return None

    def expect(self, text: str) -> _Token:
        token = self.take(text)
        if token is None:
            raise ExpressionError(f"expected {text!r}, found {self._found()}", offset=self.peek.at)
        return token

    def _found(self) -> str:
        return "the end" if self.peek.kind == "end" else repr(self.peek.text)

    def comparison(self) -> Expr | Comparison:
        left = self.sum()
        op = self.take(*COMPARISONS)
        if op is None:
            return left
        return Comparison(op.text, left, self.sum(), at=op.at)

    def sum(self) -> Expr:
        node = self.product()
        while (op := self.take("+", "-")) is not None:
            node = Binary(op.text, node, self.product(), at=op.at)
        return node

    def product(self) -> Expr:
        node = self.atom()
        while (op := self.take("×", "÷")) is not None:
            node = Binary(op.text, node, self.atom(), at=op.at)
        return node

    def atom(self) -> Expr:
        token = self.peek
        if token.kind == "num":
            self.i += 1
            value, dim, _ = token.value
            return Num(value, dim, at=token.at, text=token.text)
        if self.take("("):
            inner = self.sum()
            self.expect(")")
            return inner
        if token.kind != "name":
            raise ExpressionError(f"expected a number, a fact or '(', found {self._found()}", offset=token.at)
        self.i += 1
        if token.text == "sum" and self.take("("):
            arg = self.peek
            kind, _, name = arg.text.partition(".")
            if arg.kind != "name" or not kind or not name or "." in name or kind in _SCOPES:
                raise ExpressionError("sum adds one field over the records of a kind: sum(kind.field)",
                                      offset=arg.at)
            self.i += 1
            self.expect(")")
            return Call("sum", (Ref(kind, name, at=arg.at),), at=token.at)
        if token.text in ("min", "max") and self.take("("):
            args = [self.sum()]
            while self.take(","):
                args.append(self.sum())
            self.expect(")")
            if len(args) < 2:
                raise ExpressionError(f"{token.text} takes two or more values", offset=token.at)
            return Call(token.text, tuple(args), at=token.at)
        if token.text == "year":
            return Year(at=token.at)
        if token.text in ("true", "false"):
            return Num(Decimal(token.text == "true"), BOOL, at=token.at, text=token.text)
        scope, _, name = token.text.rpartition(".")
        if scope not in ("", "record", "rewarded", "enterprise") or not name or "." in scope:
            raise ExpressionError(f"unknown fact {token.text!r}: write record.<field>, rewarded.<field>, "
                                  "enterprise.<field> or a yearly figure such as revenue[year]", offset=token.at)
        index = None
        if self.take("["):
            index = self.sum()
            self.expect("]")
        return Ref(scope, name, index, at=token.at)


def parse(text: str) -> Expr:
    """The expression ``text`` as a tree; ``ExpressionError`` (with ``offset``) if it does not read."""
    return _whole(text, comparison=False)  # type: ignore[return-value]


def parse_comparison(text: str) -> Comparison:
    """``text`` as a comparison of two expressions, e.g. ``"revenue[year - 1] ≥ 2000万元"``."""
    node = _whole(text, comparison=True)
    if isinstance(node, Ref):  # a yes/no derived fact on its own: "above_size[year - 1]"
        return Comparison("=", node, Num(Decimal(1), BOOL, text="true"), at=len(text))
    if not isinstance(node, Comparison):
        raise ExpressionError("a condition compares two values, e.g. 'revenue[year - 1] ≥ 2000万元'", offset=0)
    return node


def _whole(text: str, comparison: bool) -> Expr | Comparison:
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("an expression is needed here", offset=0)
    parser = _Parser(text)
    node = parser.comparison() if comparison else parser.sum()
    if parser.peek.kind != "end":
        raise ExpressionError(f"unexpected {parser._found()}", offset=parser.peek.at)
    return node


# ---------------------------------------------------------------------------------------------------
# Printing: a form that parses back to the same tree

_PRECEDENCE = {"+": 1, "-": 1, "×": 2, "÷": 2}


def show(node: Expr | Comparison) -> str:
    """The expression as a rule file writes it; ``parse(show(e)) == e``."""
    if isinstance(node, Comparison):
        return f"{show(node.left)} {node.op} {show(node.right)}"
    if isinstance(node, Num):
        if node.dim == BOOL:
            return "true" if node.value else "false"
        return node.text or number_text(node.value, node.dim)
    if isinstance(node, Year):
        return "year"
    if isinstance(node, Ref):
        return node.written + (f"[{show(node.index)}]" if node.index is not None else "")
    if isinstance(node, Call):
        return f"{node.fn}({', '.join(map(show, node.args))})"
    prec = _PRECEDENCE[node.op]
    left, right = show(node.left), show(node.right)
    if isinstance(node.left, Binary) and _PRECEDENCE[node.left.op] < prec:
        left = f"({left})"
    if isinstance(node.right, Binary) and _PRECEDENCE[node.right.op] <= prec:
        right = f"({right})"
    return f"{left} {node.op} {right}"


def number_text(value: Decimal, dim: Dim = NUMBER) -> str:
    """``Decimal("300000")`` with money → ``300000元``: exact, no exponent."""
    text = f"{value.normalize():f}" if value != value.to_integral_value() else f"{value.quantize(Decimal(1)):f}"
    return text + dim.unit_text() if dim.writable else text


# ---------------------------------------------------------------------------------------------------
# Types

# The type of a reference: its dimension, or the name of a non-numeric type (text, date, bool...).
RefType = Union[Dim, str, None]
Resolve = Callable[[Ref], RefType]


def check(node: Expr | Comparison, resolve: Resolve) -> Dim:
    """The dimension of ``node``, or ``ExpressionError`` at the offending token.

    ``resolve`` gives a reference's type (``None`` when there is no such fact; a string such as
    ``"text"`` for a fact that is not a number).
    """
    if isinstance(node, Comparison):
        left, right = check(node.left, resolve), check(node.right, resolve)
        if left != right:
            raise ExpressionError(f"cannot compare {left} with {right}", offset=node.at)
        return NUMBER
    if isinstance(node, Num):
        return node.dim
    if isinstance(node, Year):
        return NUMBER
    if isinstance(node, Ref):
        if node.index is not None and check(node.index, resolve) != NUMBER:
            raise ExpressionError(f"the year in {node.written}[…] must be a plain number", offset=node.index.at)
        found = resolve(node)
        if found is None:
            raise ExpressionError(f"unknown fact {node.written!r}", offset=node.at)
        if not isinstance(found, Dim):
            raise ExpressionError(f"{node.written} is {found}: expressions compute with numbers", offset=node.at)
        return found
    if isinstance(node, Call) and node.fn == "sum":
        (ref,) = node.args
        found = resolve(ref)  # type: ignore[arg-type]
        if not isinstance(found, Dim):
            what = "unknown" if found is None else f"{found}, not a number"
            raise ExpressionError(f"sum of {show(ref)}: {what}", offset=ref.at)
        return found
    if isinstance(node, Call):
        dims = [check(a, resolve) for a in node.args]
        if BOOL in dims:
            raise ExpressionError(f"{node.fn} of a yes/no fact", offset=node.at)
        for arg, d in zip(node.args[1:], dims[1:]):
            if d != dims[0]:
                raise ExpressionError(f"{node.fn} of {dims[0]} and {d}", offset=_start(arg))
        return dims[0]
    left, right = check(node.left, resolve), check(node.right, resolve)
    if BOOL in (left, right):
        raise ExpressionError("a yes/no fact is compared (= true), not computed with", offset=node.at)
    if node.op in "+-":
        if left != right:
            verb = "add" if node.op == "+" else "subtract"
            raise ExpressionError(f"cannot {verb} {left} and {right}", offset=node.at)
        return left
    return left.times(right, 1 if node.op == "×" else -1)


def _start(node: Expr) -> int:
    while isinstance(node, Binary):
        node = node.left
    return node.at


def refs(node: Expr | Comparison) -> list[Ref]:
    """Every reference in the tree, in reading order (indexes after the reference they index)."""
    if isinstance(node, (Binary, Comparison)):
        return refs(node.left) + refs(node.right)
    if isinstance(node, Call):
        return [r for a in node.args for r in refs(a)]
    if isinstance(node, Ref):
        return [node, *(refs(node.index) if node.index is not None else [])]
    return []


# ---------------------------------------------------------------------------------------------------
# Evaluation: exact and three-valued


@dataclass(frozen=True)
class Unknown:
    """A value that cannot be computed yet: these facts are missing."""

    missing: tuple[str, ...]


@dataclass(frozen=True)
class Undefined:
    """A value that cannot exist on these facts, e.g. a ratio over a zero revenue."""

    reason: str


Outcome = Union[Decimal, Unknown, Undefined]


@dataclass(frozen=True)
class Step:
    """One input read while evaluating: its concrete name, value and where it came from."""

    name: str
    value: Any
    source: str


@dataclass(frozen=True)
class Derived:
    """A derived fact: ``name = expr``, declared once (in the facts schema), evaluated per year.

    A comparison makes a yes/no fact (``above_size = revenue[year] ≥ 2000万元``): true is 1."""

    name: str
    expr: Expr | Comparison
    dim: Dim
    text: str = ""


class Env:
    """What an expression reads: the profile, the rewarded record, the record in hand, the yearly
    figures (``figure(name, year)``), the derived facts and the year (the rewarded record's)."""

    __slots__ = ("profile", "rewarded", "record", "figure", "derived", "year", "records", "as_of")

    def __init__(self, profile: Any, rewarded: Any = None, record: Any = None, *,
                 figure: Callable[[str, int], Any] | None = None, derived: Mapping[str, Derived] | None = None,
                 year: int | None = None, records: tuple[Any, ...] | None = None, as_of: Any = None) -> None:
        self.records = records      # every record of the enterprise, for sum(); None when not supplied
        self.as_of = as_of
        self.profile = profile
        self.rewarded = rewarded
        self.record = record if record is not None else rewarded
        self.figure = figure
        self.derived = derived or {}
        self.year = year if year is not None else (rewarded.date.year if rewarded is not None else None)

    def counting(self, record: Any) -> Env:
        """The same environment with ``record.`` naming ``record`` (a record being counted)."""
        return Env(self.profile, self.rewarded, record, figure=self.figure, derived=self.derived, year=self.year,
                   records=self.records, as_of=self.as_of)

    def at_year(self, year: int) -> Env:
        return Env(self.profile, self.rewarded, self.record, figure=self.figure, derived=self.derived, year=year,
                   records=self.records, as_of=self.as_of)


def evaluate(node: Expr, env: Env, steps: list[Step] | None = None) -> Outcome:
    """The exact value of ``node``; ``Unknown`` naming every missing fact, or ``Undefined``.

    Every input read is appended to ``steps`` when given, for ``explain``.
    """
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Year):
        return Unknown(("year",)) if env.year is None else Decimal(env.year)
    if isinstance(node, Ref):
        return _read(node, env, steps)
    if isinstance(node, Call) and node.fn == "sum":
        return _total(node.args[0], env, steps)  # type: ignore[arg-type]
    if isinstance(node, Call):
        values = [evaluate(a, env, steps) for a in node.args]
        bad = _combine(values)
        if bad is not None:
            return bad
        return (min if node.fn == "min" else max)(values)  # type: ignore[type-var]
    left, right = evaluate(node.left, env, steps), evaluate(node.right, env, steps)
    bad = _combine([left, right])
    if bad is not None:
        return bad
    assert isinstance(left, Decimal) and isinstance(right, Decimal)
    if node.op == "+":
        return left + right
    if node.op == "-":
        return left - right
    if node.op == "×":
        return left * right
    if right == 0:
        return Undefined(N_("division by zero: %(expression)s is 0") % {"expression": show(node.right)})
    return left / right


def _combine(values: list[Outcome]) -> Unknown | Undefined | None:
    """The first ``Undefined``, else every missing fact together, else ``None`` (all known)."""
    for v in values:
        if isinstance(v, Undefined):
            return v
    missing = [m for v in values if isinstance(v, Unknown) for m in v.missing]
    return Unknown(tuple(dict.fromkeys(missing))) if missing else None


def _read(ref: Ref, env: Env, steps: list[Step] | None) -> Outcome:
    year: int | None = None
    if ref.index is not None:
        at = evaluate(ref.index, env, steps)
        if not isinstance(at, Decimal):
            return at
        if at != at.to_integral_value():
            return Undefined(N_("%(expression)s = %(at)s is not a year") % {"expression": show(ref.index), "at": at})
        year = int(at)
    if not ref.scope or (ref.scope == "enterprise" and ref.index is not None):
        derived = env.derived.get(ref.name)
        if derived is not None and not ref.scope:
            return _derive(derived, env if year is None else env.at_year(year), steps)
        year = env.year if year is None else year
        name = f"enterprise.{ref.name}[{year}]"
        value = None if year is None or env.figure is None else env.figure(ref.name, year)
        source = N_("yearly figures")
    else:
        holder = {"record": env.record, "rewarded": env.rewarded, "enterprise": env.profile}[ref.scope]
        value = None if holder is None else getattr(holder, ref.name, None)
        who = getattr(holder, "id", None)
        name = f"{ref.scope}.{ref.name}"
        source = N_("record %(record)s") % {"record": who} if ref.scope != "enterprise" and who else N_("enterprise profile")
    if value is None:
        if steps is not None:
            steps.append(Step(name, None, "missing"))
        return Unknown((name,))
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        return Undefined(N_("%(input)s is %(value)s, not a number") % {"input": name, "value": repr(value)})
    if steps is not None:
        steps.append(Step(name, value, source))
    return Decimal(value)


def _total(ref: Ref, env: Env, steps: list[Step] | None) -> Outcome:
    """``sum(kind.field)``: the field added over the enterprise's records of the kind up to ``as_of``
    (none: 0, records are a closed world); a record lacking the field makes the sum unknown."""
    if env.records is None:
        return Unknown((N_("records of kind %(kind)s") % {"kind": ref.scope},))
    total, ids, missing = Decimal(0), [], []
    for record in env.records:
        if record.kind != ref.scope or (env.as_of is not None and record.date > env.as_of):
            continue
        value = getattr(record, ref.name, None)
        if value is None:
            missing.append(f"{ref.scope} {record.id}.{ref.name}")
        else:
            total += value
            ids.append(record.id)
    if missing:
        return Unknown(tuple(missing))
    if steps is not None:
        steps.append(Step(f"sum({ref.scope}.{ref.name})", total,
                          N_("records %(records)s") % {"records": ", ".join(ids)} if ids else N_("records none")))
    return total


def _derive(derived: Derived, env: Env, steps: list[Step] | None) -> Outcome:
    inner: list[Step] | None = [] if steps is not None else None
    if isinstance(derived.expr, Comparison):
        left, right = evaluate(derived.expr.left, env, inner), evaluate(derived.expr.right, env, inner)
        value = _combine([left, right]) or Decimal(compare(derived.expr.op, left, right))  # type: ignore[arg-type]
    else:
        value = evaluate(derived.expr, env, inner)
    if steps is not None and inner is not None:
        steps.extend(inner)
        shown: Any = value if isinstance(value, Decimal) else None
        if shown is not None and derived.dim == BOOL:
            shown = shown == 1
        steps.append(Step(f"{derived.name}[{env.year}]", shown,
                          N_("derived: %(expression)s") % {"expression": derived.text or show(derived.expr)}))
    return value


def compare(op: str, left: Decimal, right: Decimal) -> bool:
    """``left op right`` for one of ``COMPARISONS``."""
    if op == "≥":
        return left >= right
    if op == ">":
        return left > right
    if op == "≤":
        return left <= right
    if op == "<":
        return left < right
    if op == "=":
        return left == right
    return left != right


def located(error: ExpressionError, at: Location | None) -> ExpressionError:
    """``error`` placed inside a YAML scalar that starts at ``at`` (single-line text: column + offset)."""
    if at is None:
        return error
    column = None if at.column is None else at.column + (error.offset or 0)
    error.location = Location(at.path, at.line, column)
    return error
