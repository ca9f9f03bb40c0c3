"""The hand-written fact models as they were before rules/facts.yaml: a test oracle only.

tests/test_factschema.py holds the models generated from the schema equal to these on the eleven
kinds they know (the same values, the same errors at the same places, the same awards).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from incentives.facts import validate_credit_code
from incentives.money import Money, Rate


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
