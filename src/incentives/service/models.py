"""The response models of the HTTP API beyond the assessment contract (which is ``incentives.Assessment``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from incentives import Assessment
from incentives.service.problems import Problem


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class Health(_Out):
    status: Literal["ok"]
    version: str
    rulebook_hash: str


class RuleFileInfo(_Out):
    city: str
    path: str
    rules: int
    documents: list[str]


class RulebookInfo(_Out):
    """The rulebook being served: its hash, where it was loaded from and when, and the last failed reload."""

    hash: str
    version: str
    path: str
    loaded_at: dt.datetime
    files: list[RuleFileInfo]
    vocabulary_fields: list[str]
    last_reload_error: str | None = Field(default=None, description="why the last reload failed (the old rules serve)")


class Reloaded(_Out):
    hash: str
    previous_hash: str
    changed: bool


class RulePolicy(_Out):
    """One rule as a policy library lists it: who, how much, who pays, where to apply, by when."""

    id: str
    title: str
    title_en: str
    clause: str
    quote: str
    amount_form: str
    amount: dict[str, Any] = Field(description="the amount as the rule file writes it (fixed, rate, cap...)")
    payers: dict[str, Decimal] | Literal["unspecified"]
    departments: list[str]
    deadlines: list[str] = Field(description="when instalments fall due, as the text says")
    rewards: dict[str, Any] = Field(description="which records the rule rewards")
    limit: Any = None
    enterprise_cap: Decimal | None = None
    rule_location: str
    department: str | None = Field(default=None, description="受理部门, where the rule file names it")
    payment_deadline: dict[str, Any] | None = Field(default=None, description="兑现时限: days after the record's "
                                                    "date or a date, with the text's words")
    materials: list[str] = Field(default_factory=list, description="申报材料")
    contact: str | None = Field(default=None, description="咨询电话 or other contact")
    administrative: dict[str, Any] = Field(default_factory=dict,
                                           description="any further facts the rule file gives (time limits, "
                                                       "materials, contact)")


class DocumentPolicy(_Out):
    id: str
    city: str
    level: str
    number: str | None
    title: str
    issuer: str
    issued: dt.date | None
    effective_from: dt.date
    effective_to: dt.date | None
    kind: str
    rules: list[RulePolicy]
    clauses_not_encoded: int


class Policies(_Out):
    rulebook_hash: str
    documents: list[DocumentPolicy]


class BatchLine(_Out):
    """One line of a batch: its assessment, or the problem with it (``location`` names the line)."""

    line: int
    assessment: Assessment | None = None
    problem: Problem | None = None


class BatchResult(_Out):
    as_of: dt.date
    rulebook_hash: str
    enterprises: int
    assessed: int
    errors: int
    total: Decimal = Field(description="sum of determined awards over the enterprises assessed")
    total_by_payer: dict[str, Decimal]
    results: list[BatchLine]
