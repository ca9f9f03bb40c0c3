"""Derived facts: names the facts schema defines by an expression over the yearly figures.

Declared once, under ``derived:``, each as ``name: "expression"`` (or ``{expr: …, zh: …, en: …}``)::

    derived:
      rd_ratio: "rd_spend[year] ÷ revenue[year]"          # 研发投入占营业收入比例
      revenue_growth: "revenue[year] ÷ revenue[year - 1] - 1"
      above_size: "revenue[year] ≥ 2000万元"              # a comparison: a yes/no fact

Conditions and amounts read them like figures: ``rd_ratio[year - 1] ≥ 3%``, ``above_size``. A
derived fact is evaluated at the year asked for (``year`` inside it is that year); a missing input
makes it unknown, naming the figure; a zero denominator makes it undefined, with the reason.
Loading checks every declaration: it reads, its types fit, and no derived fact depends on itself;
each problem is one located line.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from incentives import _yaml
from incentives.errors import ExpressionError
from incentives.expressions import (BOOL, Comparison, Derived, Dim, Expr, Ref, check, parse, parse_comparison,
                                    refs, show)

Key = tuple[Any, ...]


def compile_derived(items: Mapping[str, Any], figures: Mapping[str, Dim], doc: _yaml.Document | None = None,
                    key: Key = ("derived",)) -> tuple[dict[str, Derived], list[ExpressionError]]:
    """The derived facts of ``items`` typed against the yearly ``figures``, and every problem found.

    ``doc`` and ``key`` place each problem at its token in the file (``file:line:col``).
    """
    problems: list[ExpressionError] = []
    texts: dict[str, tuple[str, Key]] = {}

    def problem(where: Key, error: ExpressionError) -> None:
        if doc is not None:
            error.location = doc.inside(where, error.offset) if error.offset is not None else doc.locate(where)
        problems.append(error)

    parsed: dict[str, Expr | Comparison] = {}
    for name, item in items.items():
        text, where = (item, (*key, name)) if isinstance(item, str) else (
            (item.get("expr"), (*key, name, "expr")) if isinstance(item, dict) else (None, (*key, name)))
        if isinstance(item, dict) and set(item) - {"expr", "zh", "en"}:
            extra = sorted(set(item) - {"expr", "zh", "en"})[0]
            problem((*key, name, extra), ExpressionError(f"unknown key {extra!r}: a derived fact has expr, zh, en"))
            continue
        if not isinstance(text, str):
            problem(where, ExpressionError(f"derived fact {name!r} is an expression, e.g. \"rd_spend[year] ÷ "
                                           "revenue[year]\""))
            continue
        if name in figures:
            problem((*key, name), ExpressionError(f"{name!r} is already a yearly figure"))
            continue
        try:
            node = parse_comparison(text) if _compares(text) else parse(text)
        except ExpressionError as e:
            problem(where, e)
            continue
        parsed[name] = node
        texts[name] = (text, where)

    dims: dict[str, Dim] = {}
    state: dict[str, str] = {}      # visiting | done | bad

    def visit(name: str, path: list[str]) -> Dim | None:
        if state.get(name) == "done":
            return dims.get(name)
        if state.get(name) == "bad":
            return None
        state[name] = "visiting"
        node = parsed[name]
        for ref in refs(node):
            if ref.scope or ref.name not in parsed:
                continue
            if state.get(ref.name) == "visiting":
                cycle = " → ".join([*path[path.index(ref.name):], name, ref.name]) if ref.name in path else \
                    f"{name} → {ref.name}"
                problem(texts[name][1], ExpressionError(f"derived facts depend on each other: {cycle}",
                                                        offset=ref.at))
                state[name] = "bad"
                return None
            if visit(ref.name, [*path, name]) is None:
                state[name] = "bad"
                return None
        try:
            dims[name] = check(node, lambda ref: _type(ref, figures, dims))
        except ExpressionError as e:
            problem(texts[name][1], e)
            state[name] = "bad"
            return None
        state[name] = "done"
        return dims[name]

    for name in parsed:
        visit(name, [])
    derived = {name: Derived(name, parsed[name], dims[name] if not isinstance(parsed[name], Comparison)
                             else BOOL, texts[name][0])
               for name in parsed if state.get(name) == "done"}
    return derived, problems


def _compares(text: str) -> bool:
    return any(op in text for op in ("≥", ">", "≤", "<", "=", "≠", "＞", "＜", "＝"))


def _type(ref: Ref, figures: Mapping[str, Dim], dims: Mapping[str, Dim]) -> Dim | str | None:
    if ref.scope == "enterprise" and ref.index is not None or not ref.scope:
        if ref.name in dims:
            return dims[ref.name] if not ref.scope else None
        return figures.get(ref.name)
    return None   # a derived fact reads the enterprise's figures only


def resolver(derived: Mapping[str, Derived], figures: Mapping[str, Dim],
             fallback: Callable[[Ref], Dim | str | None]) -> Callable[[Ref], Dim | str | None]:
    """A reference's type in a rule: a derived fact, a yearly figure, or what ``fallback`` says."""
    def resolve(ref: Ref) -> Dim | str | None:
        if not ref.scope and ref.name in derived:
            return derived[ref.name].dim
        if not ref.scope or (ref.scope == "enterprise" and ref.index is not None):
            return figures.get(ref.name)
        return fallback(ref)
    return resolve


def explain(name: str, derived: Derived) -> str:
    """``rd_ratio = rd_spend[year] ÷ revenue[year]`` as the schema declares it."""
    return f"{name} = {derived.text or show(derived.expr)}"
