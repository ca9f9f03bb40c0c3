"""Enterprise facts: a profile and dated records, as frozen Pydantic models.

A fact file (YAML or JSON) holds ``enterprise:`` (the profile) and ``records:`` (a list, each with a
``kind``). Money becomes ``Decimal`` yuan; absent facts stay ``None`` and are never read as zero.
"""

from __future__ import annotations

import datetime as dt
import types
import operator
import typing
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from incentives import _yaml
from incentives.errors import FactsError, IncentivesError, Location
from incentives.money import Money, Rate
from incentives.vocabulary import Vocabulary

# Fields holding a rate rather than money, so rules compare them with "3%" rather than "3万元".
RATE_FIELDS = {"rd_investment.ratio"}

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
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Profile(_Frozen):
    """Who the enterprise is. ``clusters``/``industries`` are ``None`` when unknown, ``[]`` when none."""

    name: str = Field(min_length=1)
    credit_code: str
    city: str
    county: str | None = None
    clusters: list[str] | None = None
    industries: list[str] | None = None
    size: Literal["micro", "small", "medium", "large"] | None = None

    _check_code = field_validator("credit_code")(classmethod(lambda cls, v: validate_credit_code(v)))

    @property
    def sme(self) -> bool | None:
        """Small or medium-sized (incl. micro), or ``None`` when the size is unknown."""
        return None if self.size is None else self.size != "large"


class _Record(_Frozen):
    id: str = Field(min_length=1)
    date: dt.date
    note: str | None = None

    # The fields that identify one achievement (one title at one level, one registered trademark...);
    # a kind without any is identified by its record id.
    achievement_fields: ClassVar[tuple[str, ...]] = ()

    @property
    def achievement(self) -> tuple[Any, ...]:
        """``(kind, *identity values)``: equal for two records of one achievement (a title recorded
        twice). A kind without identity fields, or a record leaving one of them empty, is its own
        achievement: ``(kind, record id)``; the engine never guesses that two records are one."""
        values = tuple(getattr(self, name) for name in ("kind", *self.achievement_fields))
        if len(values) == 1 or None in values:
            return (values[0], self.id)
        return values


class Recognition(_Record):
    """A title granted: 专精特新, 小巨人, 领跑者, 共享工厂, 工业互联网平台..."""

    achievement_fields = ("title", "level")

    kind: Literal["recognition"]
    title: str
    level: str | None = None
    scope: str | None = None            # e.g. industry / regional / cross_industry for platforms
    first_time: bool | None = None      # 首次认定
    review_passed: bool | None = None   # 复核通过


class QualityAward(_Record):
    kind: Literal["quality_award"]
    award: str
    category: str | None = None         # organisation / individual


class Trademark(_Record):
    achievement_fields = ("type", "registration_number")

    kind: Literal["trademark"]
    type: str
    fee: Money | None = None            # registration fee paid
    registration_number: str | None = None  # 注册号


class Standard(_Record):
    achievement_fields = ("level", "number")

    kind: Literal["standard"]
    level: str
    role: str                           # lead / participate
    number: str | None = None           # 标准编号, e.g. GB/T 39116-2020


class Project(_Record):
    kind: Literal["project"]
    type: str
    investment: Money | None = None             # 实际投资额
    equipment_purchase: Money | None = None     # 设备购置额
    completed: bool | None = None
    investor_rank: str | None = None
    investor_outside_city: bool | None = None


class Listing(_Record):
    kind: Literal["listing"]
    milestone: str
    market: str


class Bond(_Record):
    kind: Literal["bond"]
    amount: Money


class Statistics(_Record):
    kind: Literal["statistics"]
    status: str


class Training(_Record):
    kind: Literal["training"]
    fees: Money


class RdInvestment(_Record):
    """R&D spending of a year (研发投入) and its share of revenue (研发投入占营业收入比例)."""

    kind: Literal["rd_investment"]
    amount: Money
    ratio: Rate | None = None


class AwardReceived(_Record):
    """Money the enterprise received from another programme, which a city may match."""

    kind: Literal["award_received"]
    award: str
    level: str | None = None
    amount: Money


Record = Annotated[
    Union[Recognition, QualityAward, Trademark, Standard, Project, Listing, Bond, Statistics, Training,
          RdInvestment, AwardReceived],
    Field(discriminator="kind"),
]
RECORD_MODELS: dict[str, type[_Record]] = {
    m.model_fields["kind"].annotation.__args__[0]: m  # type: ignore[union-attr]
    for m in (Recognition, QualityAward, Trademark, Standard, Project, Listing, Bond, Statistics, Training,
              RdInvestment, AwardReceived)
}


class Enterprise(_Frozen):
    """One enterprise: its profile (``enterprise:`` in a file) and its records."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    profile: Profile = Field(alias="enterprise")
    records: list[Record] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> Enterprise:
        seen: set[str] = set()
        for record in self.records:
            if record.id in seen:
                raise ValueError(f"record id {record.id!r} is used twice")
            seen.add(record.id)
        return self

    def check_terms(self, vocabulary: Vocabulary, doc: _yaml.Document | None = None) -> None:
        """Raise ``VocabularyError`` for the first title, level or type the vocabulary does not know,
        located in ``doc`` (the file the facts came from) when given."""
        checks: list[tuple[tuple[str | int, ...], str, str]] = [
            (("enterprise", "industries", n), "enterprise.industries", term)
            for n, term in enumerate(self.profile.industries or [])]
        if self.profile.size is not None:
            checks.append((("enterprise", "size"), "enterprise.size", self.profile.size))
        for i, record in enumerate(self.records):
            for name, field in vocabulary.checked_fields(record.kind):
                value = getattr(record, name)
                if value is not None:
                    checks.append((("records", i, name), field, value))
        for key, field, term in checks:
            if not vocabulary.has(field, term):
                try:
                    vocabulary.check(field, term)
                except IncentivesError as e:
                    e.location = doc.locate(key) if doc is not None else Location()
                    e.field = ".".join(map(str, key))   # records.0.title, as Pydantic names fields
                    raise


# Facts about the enterprise that its records imply, usable in conditions like profile fields.
DERIVED_FACTS = {"enterprise.recognitions": "recognition.title"}   # fact → the vocabulary of its terms


def derived_facts(enterprise: Enterprise) -> dict[str, Any]:
    """``enterprise.recognitions``: the titles its recognition records show it holds (专精特新企业...)."""
    titles = sorted({r.title for r in enterprise.records if isinstance(r, Recognition)})
    return {"enterprise.recognitions": tuple(titles)}


def load_enterprise(source: str | Path | dict[str, Any], vocabulary: Vocabulary | None = None) -> Enterprise:
    """An ``Enterprise`` from a YAML/JSON file or a dict, terms checked against ``vocabulary`` if given.

    Raises ``FactsError`` naming the file, line and field of the first problem.
    """
    if isinstance(source, dict):
        doc = _yaml.Document(data=source, path="<dict>")
    else:
        doc = _yaml.load(source)
    enterprise = enterprise_from_document(doc)
    if vocabulary is not None:
        enterprise.check_terms(vocabulary, doc)
    return enterprise


def enterprise_from_document(doc: _yaml.Document) -> Enterprise:
    try:
        return Enterprise.model_validate(doc.data)
    except ValidationError as e:
        raise facts_error(e, doc) from e


def facts_error(e: ValidationError, doc: _yaml.Document) -> FactsError:
    """The first validation problem as a located ``FactsError`` (all problems listed in the message)."""
    first = e.errors()[0]
    key = _source_key(first["loc"])
    field = ".".join(str(k) for k in key) or "<root>"
    message = first["msg"].removeprefix("Value error, ")
    if len(e.errors()) > 1:
        message += f" (and {len(e.errors()) - 1} more problem(s))"
    return FactsError(message, location=doc.locate(key), field=field)


def _source_key(loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    """Pydantic's error path without the union-member tags it inserts (``records.0.recognition.x``)."""
    key: list[str | int] = []
    for part in loc:
        if isinstance(part, str) and key and isinstance(key[-1], int) and part in RECORD_MODELS:
            continue
        key.append(part)
    return tuple(key)
