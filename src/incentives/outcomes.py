"""What an assessment says: awards, rules that do not apply and why, and missing facts.

These are the serialised contract of ``incentives evaluate --format json``: money is a decimal
string in yuan, dates are ISO, and every award carries its citation and the rule's file:line.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

AwardStatus = Literal["fixed", "up_to", "unquantified", "non_monetary"]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class Citation(_Out):
    document: str
    document_number: str | None
    document_title: str
    document_kind: Literal["normative", "notice", "report", "interpretation"] = "normative"
    clause: str
    quote: str


class ReportedAmount(_Out):
    """An amount a non-official source (a press report, an interpretation) gives for the same record.

    Shown beside the official award and never paid: the official text settles the amount.
    """

    rule_id: str
    status: AwardStatus
    amount: Decimal | None
    amount_max: Decimal | None
    citation: Citation


class CheckResult(_Out):
    """One condition: the fact, the comparison, what was required, what was found."""

    fact: str
    op: str
    required: str
    actual: str | None
    result: Literal["holds", "fails", "missing"]
    origin: str


class InstalmentDue(_Out):
    """One part of an award: its amount, when it falls due, and whether it is payable yet."""

    share: Decimal
    amount: Decimal | None
    due: str
    status: Literal["payable", "pending", "undetermined"]


class Award(_Out):
    rule_id: str
    title: str
    title_en: str
    level: Literal["province", "city", "county"] = Field(
        default="city", description="the level of the rule file's place: province, city or county (district)")
    place: str = Field(default="", description="the place the rule file covers (an id of the divisions table)")
    status: AwardStatus
    amount: Decimal | None
    amount_max: Decimal | None
    basis: str | None = Field(default=None, description="how the amount was computed")
    payers: dict[str, Decimal]
    payers_unspecified: bool = False
    record_id: str | None
    citation: Citation
    departments: list[str]
    description: str | None = Field(default=None, description="what an unquantified or non-monetary award grants")
    rule_location: str
    notes: list[str] = Field(default_factory=list, description="the rule's notes in English (of a {zh, en} note, its en)")
    checks: list[CheckResult] = Field(default_factory=list, description="every condition, and what was found")
    instalments: list[InstalmentDue] = Field(default_factory=list)
    clawback: list[str] = Field(default_factory=list, description="conditions under which the award is returned")
    payment_deadline: dt.date | None = Field(default=None, description="兑现时限: last day to pay, where the text states one")
    materials: list[str] = Field(default_factory=list, description="申报材料, where the text lists them")
    department: str | None = Field(default=None, description="受理部门, where the text names it")
    contact: str | None = Field(default=None, description="contact (咨询电话), where the text gives one")
    reported: list[ReportedAmount] = Field(
        default_factory=list, description="amounts non-official sources give for the same record: shown, never paid")


class RuleOutcome(_Out):
    """A rule that gave no award for a record (``record_id`` null: no record it could reward)."""

    rule_id: str
    title: str
    record_id: str | None
    reasons: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)
    checks: list[CheckResult] = Field(default_factory=list)
    rule_location: str


class Conflict(_Out):
    """Two or more rules reward the same record; which was paid and why."""

    record_id: str
    rule_ids: list[str]
    amounts: list[Decimal | None]
    paid_rule_id: str
    documents: list[str]
    reason: str
    reported: list[str] = Field(default_factory=list,
                                description="rules of non-official sources among rule_ids: shown, never paid")


class EnterpriseRef(_Out):
    name: str
    credit_code: str
    city: str
    county: str | None


class Assessment(_Out):
    """Everything one enterprise is owed at ``as_of``, and why not the rest."""

    enterprise: EnterpriseRef
    as_of: dt.date
    rulebook_hash: str
    engine: Literal["native", "durable"]
    awards: list[Award]
    not_eligible: list[RuleOutcome]
    undetermined: list[RuleOutcome]
    total: Decimal = Field(description="sum of determined (fixed) awards")
    total_max: Decimal = Field(description="total plus the ceilings of up_to awards")
    total_by_payer: dict[str, Decimal]
    conflicts: list[Conflict]
    warnings: list[str] = Field(default_factory=list)
    reported: list[Award] = Field(
        default_factory=list, description="awards only a non-official source gives (no official rule pays the "
        "record): shown, never paid, in no total but total_reported_max")
    total_reported_max: Decimal = Field(
        default=Decimal("0.00"), description="total_max if every reported amount were confirmed by an official "
        "text (the higher of the official and the reported amount for each record)")
    readings: dict[str, str] = Field(
        default_factory=dict, description="each reading of the city's rule file (an ambiguity of the text) → the "
        "option in force for this assessment (see the file's readings: section)")

    def award(self, rule_id: str) -> Award | None:
        """The first award of ``rule_id``, if any."""
        return next((a for a in self.awards if a.rule_id == rule_id), None)
