"""Enterprise facts: a profile, dated records and yearly figures, as frozen Pydantic models.

A fact file (YAML or JSON) holds ``enterprise:`` (the profile), ``records:`` (a list, each with a
``kind``) and optionally ``yearly:`` (``{2024: {revenue: 3000万元}}``). Which fields and kinds exist,
and their types, is declared in ``rules/facts.yaml`` (``incentives.factschema``); the models here are
built from it. Money becomes ``Decimal`` yuan; absent facts stay ``None`` and are never read as zero.
"""

from __future__ import annotations

import datetime as dt
import types
import operator
import typing
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from incentives import _yaml
from incentives.errors import FactsError, IncentivesError, Location, VocabularyError, expect
from incentives.factschema import FactsSchema, load_facts_schema
from incentives.vocabulary import Vocabulary

_CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


_CODE_VALUES = {c: n for n, c in enumerate(_CODE_CHARS)}
_CODE_SET = frozenset(_CODE_CHARS)


def credit_code_check_digit(first17: str) -> str:
    """The 18th character of a unified social credit code (GB 32100-2015) from the first 17."""
    try:  # C-level map and sum: every code of a register is checked
        total = sum(map(operator.mul, map(_CODE_VALUES.__getitem__, first17), _CODE_WEIGHTS))
    except KeyError as e:
        raise ValueError(f"{e.args[0]!r} is not allowed in a credit code") from None
    return _CODE_CHARS[(31 - total % 31) % 31]


def validate_credit_code(code: str) -> str:
    """Return ``code`` upper-cased if it is a valid unified social credit code, else raise ValueError."""
    code = code.strip().upper()
    if len(code) != 18:
        raise ValueError(f"a unified social credit code has 18 characters, {code!r} has {len(code)}")
    if not _CODE_SET.issuperset(code):
        bad = sorted(set(code) - _CODE_SET)
        raise ValueError(f"{code!r} contains {''.join(bad)!r}, not allowed in a credit code (no I, O, S, V, Z)")
    expected = credit_code_check_digit(code[:17])
    if code[17] != expected:
        raise ValueError(f"check digit of {code!r} is {code[17]!r}, expected {expected!r}")
    return code


def field_kind(annotation: Any) -> str:
    """money | date | list | bool | text, from a field's type (``X | None`` and Annotated unwrapped)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin is list:
        return "list"
    if origin is typing.Annotated or (origin in (typing.Union, types.UnionType) and len(args) == 1):
        return field_kind(args[0])
    for py_type, kind in ((bool, "bool"), (Decimal, "money"), (dt.date, "date")):
        if annotation is py_type:
            return kind
    return "text"


class _Frozen(BaseModel):
    # built on first use, not when imported: a batch on the columnar path reads the models' fields alone (a
    # tenth of every command's start); pydantic>=2.14 builds under a lock when threads use one first at once
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True, defer_build=True)


class ProfileBase(_Frozen):
    """Who the enterprise is. ``clusters``/``industries`` are ``None`` when unknown, ``[]`` when none."""

    if TYPE_CHECKING:  # declared by the facts schema; named here for the type checker only
        name: str
        credit_code: str
        city: str
        county: str | None
        clusters: list[str] | None
        industries: list[str] | None
        size: str | None

    @property
    def sme(self) -> bool | None:
        """Small or medium-sized (incl. micro), or ``None`` when the size is unknown."""
        size = getattr(self, "size", None)
        return None if size is None else size != "large"


class RecordBase(_Frozen):
    """What every record has; each kind's own fields come from the facts schema."""

    id: str = Field(min_length=1)
    date: dt.date
    note: str | None = None

    # The fields that identify one achievement (one title at one level, one registered trademark...),
    # from the schema's ``achievement:``; a kind without any is identified by its record id.
    achievement_fields: ClassVar[tuple[str, ...]] = ()
    # Fields that, all given, identify the achievement on their own (the schema's ``same_achievement:``).
    same_achievement_fields: ClassVar[tuple[str, ...]] = ()

    if TYPE_CHECKING:
        kind: str

    @property
    def achievement(self) -> tuple[Any, ...]:
        """``(kind, *identity values)``: equal for two records of one achievement (a title recorded
        twice). A kind without identity fields, or a record leaving one of them empty, is its own
        achievement: ``(kind, record id)``; the engine never guesses that two records are one. Where
        the kind names ``same_achievement`` fields and the record gives them all, they decide:
        ``(kind, ((name, value), ...))``, equal across the kind's types (one geographical indication as a
        trademark and as a protected product)."""
        if self.same_achievement_fields:
            same = tuple((name, getattr(self, name)) for name in self.same_achievement_fields)
            if all(value is not None for _, value in same):
                return (getattr(self, "kind"), same)
        values = tuple(getattr(self, name) for name in ("kind", *self.achievement_fields))
        if len(values) == 1 or None in values:
            return (values[0], self.id)
        return values


class EnterpriseBase(_Frozen):
    """One enterprise: its profile (``enterprise:`` in a file), its records and its yearly figures."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, defer_build=True)

    facts_schema: ClassVar[FactsSchema]

    if TYPE_CHECKING:
        profile: ProfileBase
        records: list[RecordBase]
        yearly: dict[int, Any]

    @model_validator(mode="after")
    def _unique_ids(self) -> EnterpriseBase:
        seen: set[str] = set()
        for record in self.records:
            if record.id in seen:
                raise ValueError(f"record id {record.id!r} is used twice")
            seen.add(record.id)
        return self

    def figure(self, name: str, year: int) -> Any:
        """The yearly figure ``name`` of ``year`` (``revenue`` of 2024), or ``None`` when unknown.

        Raises ``FactsError`` for a name the facts schema does not declare."""
        if name not in self.facts_schema.figures:
            known = ", ".join(self.facts_schema.figures) or "none"
            raise FactsError(f"no yearly figure {name!r} in the facts schema; figures: {known}",
                             field=f"yearly.{name}")
        figures = self.yearly.get(year)
        return None if figures is None else getattr(figures, name)

    def check_terms(self, vocabulary: Vocabulary, doc: _yaml.Document | None = None) -> None:
        """Raise ``VocabularyError`` for the first title, level or type the vocabulary does not know,
        located in ``doc`` (the file the facts came from) when given."""
        problems = self.term_problems(vocabulary, doc, first_only=True)
        if problems:
            raise problems[0]

    def term_problems(self, vocabulary: Vocabulary, doc: _yaml.Document | None = None,
                      first_only: bool = False) -> list[IncentivesError]:
        """Every term the vocabulary does not know, located in ``doc`` when given."""
        profile = self.profile
        checks: list[tuple[tuple[str | int, ...], str, str]] = []
        for name, field in vocabulary.checked_fields("enterprise"):
            value = getattr(profile, name, None)
            for n, term in enumerate(value) if isinstance(value, list) else ((None, value),):
                if term is not None:
                    checks.append((("enterprise", name) + (() if n is None else (n,)), field, term))
        for i, record in enumerate(self.records):
            for name, field in vocabulary.checked_fields(record.kind):
                value = getattr(record, name, None)
                if value is not None:
                    checks.append((("records", i, name), field, value))
        problems: list[IncentivesError] = []
        for key, field, term in checks:
            if not vocabulary.has(field, term):
                try:
                    vocabulary.check(field, term)
                except VocabularyError as e:
                    e.location = doc.locate(key) if doc is not None else Location()
                    e.field = ".".join(map(str, key))   # records.0.title, as Pydantic names fields
                    problems.append(e)
                    if first_only:
                        break
        return problems


SCHEMA = load_facts_schema()          # rules/facts.yaml, shipped with the package
_models = SCHEMA.models
RECORD_MODELS: dict[str, type[RecordBase]] = _models.records  # type: ignore[assignment]
if TYPE_CHECKING:
    Profile = ProfileBase
    Enterprise = EnterpriseBase
    Record = RecordBase
    Recognition = Project = RecordBase
else:
    Profile = _models.profile
    Enterprise = _models.enterprise
    Record = RecordBase
    globals().update({model.__name__: model for model in RECORD_MODELS.values()})   # Recognition, Project...
    Figures = _models.yearly

# Fields holding a rate rather than money, so rules compare them with "3%" rather than "3万元".
RATE_FIELDS = {f"{kind}.{name}" for kind, decl in SCHEMA.kinds.items() for name, f in decl.fields.items()
               if f.type == "rate"}


# Facts about the enterprise that its records imply, usable in conditions like profile fields.
DERIVED_FACTS = {"enterprise.recognitions": "recognition.title"}   # fact → the vocabulary of its terms


def derived_facts(enterprise: Enterprise) -> dict[str, Any]:
    """``enterprise.recognitions``: the titles its recognition records show it holds (专精特新企业...)."""
    titles = sorted({r.title for r in enterprise.records if r.kind == "recognition"})  # type: ignore[attr-defined]
    return {"enterprise.recognitions": tuple(titles)}


def load_enterprise(source: str | Path | dict[str, Any], vocabulary: Vocabulary | None = None, *,
                    facts: FactsSchema | None = None) -> Enterprise:
    """An ``Enterprise`` from a YAML/JSON file or a dict, terms checked against ``vocabulary`` if given.

    ``facts`` is the facts schema the enterprise is read by: a rulebook's own (``book.facts``), whose
    fields and kinds may go beyond the bundled ``rules/facts.yaml``, which is used when none is given.

    Raises ``FactsError`` located at the first problem (file, line, field), with every problem of
    the facts, those of format and of vocabulary together, in its ``problems``.
    """
    expect(source, (str, Path, dict), "source", "a fact file's path, or the facts as a dict")
    if vocabulary is not None:
        expect(vocabulary, Vocabulary, "vocabulary", "load one with load_vocabulary(path)")
    if facts is not None:
        expect(facts, FactsSchema, "facts", "a rulebook's facts schema (book.facts) or load_facts_schema(path)")
    if isinstance(source, dict):
        doc = _yaml.Document(data=source, path="<dict>")
    else:
        doc = _yaml.load(source)
    model = enterprise_model(facts)
    try:
        enterprise = model.model_validate(doc.data)
    except ValidationError as e:
        error = facts_error(e, doc)
        if vocabulary is not None:  # the terms too, except where the format already found a problem
            seen = {p.field for p in error.problems}
            error.problems += [p for p in raw_term_problems(doc, vocabulary) if p.field not in seen]
        raise error from e
    if vocabulary is not None:
        problems = enterprise.term_problems(vocabulary, doc)
        if problems:
            first = problems[0]
            assert isinstance(first, VocabularyError)
            if len(problems) > 1:
                first.problems = problems  # every unknown term of the file, this one first
            raise first
    return enterprise


def raw_term_problems(doc: _yaml.Document, vocabulary: Vocabulary) -> list[IncentivesError]:
    """Unknown terms in facts that do not fit the schema: read from the raw data, field by field."""
    data = doc.data if isinstance(doc.data, dict) else {}
    found: list[IncentivesError] = []
    places: list[tuple[tuple[str | int, ...], str, Any]] = []
    profile = data.get("enterprise")
    if isinstance(profile, dict):
        places += [(("enterprise", name), field, profile.get(name)) for name, field in vocabulary.checked_fields("enterprise")]
    records = data.get("records")
    for i, record in enumerate(records if isinstance(records, list) else []):
        if isinstance(record, dict) and isinstance(record.get("kind"), str):
            places += [(("records", i, name), field, record.get(name))
                       for name, field in vocabulary.checked_fields(record["kind"])]
    for key, field, value in places:
        for n, term in enumerate(value) if isinstance(value, list) else ((None, value),):
            if isinstance(term, str) and not vocabulary.has(field, term.strip()):
                where = key if n is None else (*key, n)
                try:
                    vocabulary.check(field, term.strip())
                except VocabularyError as e:
                    e.location, e.field = doc.locate(where), ".".join(map(str, where))
                    found.append(e)
    return found


def enterprise_model(facts: FactsSchema | None = None) -> type[Enterprise]:
    """The ``Enterprise`` model of ``facts`` (a rulebook's schema), or the bundled one."""
    return Enterprise if facts is None or facts is SCHEMA else facts.models.enterprise  # type: ignore[return-value]


def enterprise_from_document(doc: _yaml.Document, facts: FactsSchema | None = None) -> Enterprise:
    try:
        return enterprise_model(facts).model_validate(doc.data)
    except ValidationError as e:
        raise facts_error(e, doc) from e


def facts_error(e: ValidationError, doc: _yaml.Document) -> FactsError:
    """Every validation problem as a located ``FactsError`` in ``problems``; the error is the first."""
    problems: list[IncentivesError] = []
    for err in e.errors():
        key = _source_key(err["loc"])
        field = ".".join(str(k) for k in key) or "<root>"
        problems.append(FactsError(err["msg"].removeprefix("Value error, "), location=doc.locate(key), field=field))
    first = problems[0]
    return FactsError(first.message, location=first.location, field=first.field, problems=problems)


def _source_key(loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    """Pydantic's error path without the union-member tags it inserts (``records.0.recognition.x``)."""
    key: list[str | int] = []
    for n, part in enumerate(loc):
        if n == 2 and loc[0] == "records" and isinstance(loc[1], int) and isinstance(part, str):
            continue   # the kind's tag, whichever schema the kinds come from
        key.append(str(part) if key == ["yearly"] else part)  # a year is a mapping key, located as text
    return tuple(key)
