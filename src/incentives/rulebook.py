"""Rule files: their format as Pydantic models, the loader, and compilation to condition trees.

A rulebook is every city's rule file plus the vocabulary. Loading validates each file completely
(format, references, vocabulary, condition types) and reports every problem with file, line and
column; a file that loads is compiled once into ``CompiledRule`` objects the engine runs.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
from contextvars import ContextVar
import json
import logging
import re
from dataclasses import dataclass, field, replace
from functools import cached_property
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from incentives import _yaml, sources
from incentives.conditions import (WHOLE, Condition, All, Any_, Compare, Count, Holds, Node, Op, Test, Value, Whole,
                                   compile_holds, leaves)
from incentives.derived import compile_derived
from incentives.divisions import BUNDLED as BUNDLED_DIVISIONS
from incentives.divisions import DIVISIONS_FILE, Divisions, Level, divisions_beside, load_divisions
from incentives.expressions import MONEY, NUMBER, Derived, Dim, Ref, check, dimension, parse_comparison
from incentives.expressions import show as ex_show
from incentives.errors import (ExpressionError, FactsError, FactsSchemaError, IncentivesError, Location, MoneyError,
                               RulebookError, VocabularyError, expect)
from incentives.facts import DERIVED_FACTS, SCHEMA, Enterprise, derived_facts
from incentives.factschema import (FACTS_FILE, RECORD_BASE_FIELDS, FactsSchema, check_vocabulary_fields,
                                  load_facts_schema)
from incentives.amounts import Amount
from incentives import readings as _readings
from incentives.readings import Note, Reading
from incentives.money import Money, Rate, Splitter, parse_money, parse_rate, parse_ratio
from incentives.messages import N_, UNKNOWN_CITY
from incentives.vocabulary import Vocabulary, load_vocabulary

VOCABULARY_FILE = "vocabulary.yaml"

# The facts schema the file being compiled is checked against (set while a file is inspected).
_FACTS: ContextVar[FactsSchema] = ContextVar("facts", default=SCHEMA)
# The divisions table a file's jurisdiction is checked against (the bundled one unless set).
_DIVISIONS: ContextVar[Divisions | None] = ContextVar("divisions", default=None)


def _divisions() -> Divisions:
    return _DIVISIONS.get() or load_divisions(BUNDLED_DIVISIONS)


def yearly_dims(facts: FactsSchema) -> dict[str, Dim]:
    """The yearly figures of a facts schema and their dimensions (money in 元, a quantity in its unit)."""
    return {name: dimension(f.type, f.unit) for name, f in facts.figures.items()}


def _kinds() -> dict[str, Any]:
    """The record kinds of the facts schema in use: kind → its generated model."""
    return _FACTS.get().models.records


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Text(_Strict):
    zh: str
    en: str


class Window(_Strict):
    """Dates inclusive at both ends; ``to: null`` means open-ended."""

    start: dt.date = Field(alias="from")
    end: dt.date | None = Field(default=None, alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end is not None and self.end < self.start:
            raise ValueError(f"window ends ({self.end}) before it starts ({self.start})")
        return self

    def contains(self, day: dt.date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


DocumentKind = Literal["normative", "notice", "report", "interpretation"]
# The kinds as sentences name them (a conflict: "report sjz-leader-report is not an official text"); the
# catalogue gives their Chinese.
DOCUMENT_KINDS = {"normative": N_("normative"), "notice": N_("notice"), "report": N_("report"),
                  "interpretation": N_("interpretation")}
OFFICIAL_KINDS = frozenset({"normative", "notice"})
_LEGACY_KINDS = {"policy": "normative", "framework": "notice"}   # names used by earlier rule files


class Supersession(_Strict):
    """An older official text of the same file that this one replaces from its own effective date."""

    document: str
    clauses: list[str] | None = None    # the clauses replaced (None: the whole document)


class SourceDocument(_Strict):
    """A source text and what it is: only official texts (normative, notice) settle money.

    A press report (新闻报道) or an interpretation (政策解读) is not the text itself: the amounts of its
    rules are shown as reported alternatives and never paid, until an official text is added.
    """

    title: str
    number: str | None = None
    issuer: str
    issued: dt.date | None = None      # None where the text prints no date (e.g. a press report)
    published: Window | None = None    # where no date is printed: the days the text can be dated to
    date_evidence: str | None = None   # where the date is read, i.e. how it was verified
    effective: Window
    kind: Annotated[DocumentKind, BeforeValidator(lambda v: _LEGACY_KINDS.get(v, v) if isinstance(v, str) else v)] = "normative"
    supersedes: list[Supersession] = Field(default_factory=list)
    source: str | None = None           # path of the full text, relative to the rule file
    clauses: list[str] | None = None    # the clauses that may be cited; coverage lists those not yet reviewed
    notes: list[Note] = Field(default_factory=list)     # each {zh, en}, or one text

    @property
    def official(self) -> bool:
        """Whether money of this document settles (a normative text or an official notice)."""
        return self.kind in OFFICIAL_KINDS


class Citation(_Strict):
    document: str
    clause: str
    quote: str = Field(min_length=1)


ONCE_PER = ("record", "achievement", "enterprise", "year")


def _limit(value: Any) -> Any:
    """``{once_per: achievement}`` as written, into the one-word form ``once_per_achievement``."""
    if not isinstance(value, dict):
        return value
    if set(value) != {"once_per"} or value["once_per"] not in ONCE_PER:
        raise ValueError(f"write a limit as {{once_per: {'|'.join(ONCE_PER)}}} (or once_per_record, ...)")
    return f"once_per_{value['once_per']}"


class _OncePer(BaseModel):  # only describes the written form for the JSON Schema
    model_config = ConfigDict(extra="forbid")
    once_per: Literal["record", "achievement", "enterprise", "year"]


Limit = Annotated[Literal["once_per_record", "once_per_achievement", "once_per_enterprise", "once_per_year"],
                  BeforeValidator(_limit, json_schema_input_type=Union[
                      Literal["once_per_record", "once_per_achievement", "once_per_enterprise", "once_per_year"],
                      _OncePer])]


def _payers(value: Any) -> Any:
    """``{ratio: "1:1", to: [city, county]}`` as the texts write it, into shares summing to 1."""
    if not (isinstance(value, dict) and "ratio" in value):
        return value
    if set(value) != {"ratio", "to"} or not isinstance(value["to"], list):
        raise ValueError("write a ratio split as {ratio: \"1:1\", to: [city, county]}")
    try:
        parts = parse_ratio(str(value["ratio"]))
    except MoneyError as e:
        raise ValueError(e.message) from e
    if len(parts) != len(value["to"]):
        raise ValueError(f"ratio {value['ratio']!r} has {len(parts)} parts for {len(value['to'])} payers")
    total = sum(parts)
    shares = {payer: part / total for payer, part in zip(value["to"], parts)}
    last = value["to"][-1]
    shares[last] = Decimal(1) - sum(v for k, v in shares.items() if k != last)  # exact: 1:2 → 1/3 + 2/3
    return shares


class _RatioSplit(BaseModel):  # only describes the written form for the JSON Schema
    ratio: str
    to: list[str]


Payers = Annotated[dict[str, Rate] | Literal["unspecified"], BeforeValidator(
    _payers, json_schema_input_type=Union[dict[str, Union[int, float, str]], Literal["unspecified"], _RatioSplit])]


class Instalment(_Strict):
    """Part of an award paid when ``due`` (as the text says), once ``when`` holds."""

    share: Rate
    due: str
    when: list[Condition] = Field(default_factory=list)


class Clawback(_Strict):
    """A condition under which the enterprise must return the award, reported with it."""

    condition: str
    quote: str | None = None


class PaymentDeadline(_Strict):
    """兑现时限: ``days`` after the record's date, or a fixed ``date``, as the text states (``quote``)."""

    days: int | None = Field(default=None, gt=0)
    date: dt.date | None = None
    quote: str = Field(min_length=1)

    @model_validator(mode="after")
    def _one(self) -> PaymentDeadline:
        if (self.days is None) == (self.date is None):
            raise ValueError("a payment_deadline has exactly one of days or date")
        return self

    def due(self, record_date: dt.date) -> dt.date:
        """The last day an entitlement from a record of ``record_date`` can be paid."""
        return self.date if self.date is not None else record_date + dt.timedelta(days=self.days or 0)


class Rule(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
    title: Text
    cite: Citation
    departments: list[str] = Field(default_factory=list)
    rewards: dict[str, str | bool | list[str]]
    when: list[Condition] = Field(default_factory=list)
    window: Window | None = None
    amount: Amount
    payers: Payers
    limit: Limit = "once_per_record"
    enterprise_cap: Money | None = None     # at most this much per enterprise over all its records
    cap_per: Literal["window", "year"] = "window"   # the enterprise_cap applies per window or per calendar year
    instalments: list[Instalment] = Field(default_factory=list)
    clawback: list[Clawback] = Field(default_factory=list)
    group: str | None = None
    # A multiplier on another rule: whether that rule's conditions apply too (inherit, the default) or
    # only this rule's own (ignore). Lint warns where the base has conditions and this is not written.
    base_conditions: Literal["inherit", "ignore"] | None = None
    notes: list[Note] = Field(default_factory=list)     # each {zh, en}, or one text
    # Administrative facts a platform needs; only where the text states them (never invented).
    payment_deadline: PaymentDeadline | None = None   # 兑现时限
    materials: list[str] = Field(default_factory=list)  # 申报材料
    department: str | None = None                     # 受理部门
    contact: str | None = None                        # 咨询电话 or other contact


class Group(_Strict):
    """Rules rewarding the same achievement, and how their awards for one record combine."""

    title: str
    combine: Literal["highest", "all", "additional"]
    base: str | None = None                 # additional: the rule the others add to (default: the first)
    # additional: what the others need of the base. ``paid``: its award is paid in the same assessment;
    # ``achieved``: the enterprise holds a record the base rule rewards, at any date up to the added
    # record's (the base may predate the window, its award need not have been paid); ``nothing``.
    base_needs: Literal["paid", "achieved", "nothing"] = "paid"
    cap: Money | None = None                # at most this much per enterprise over the group's awards
    cap_per: Literal["window", "year"] = "window"
    note: Note | None = None                # {zh, en}, or one text


class NotEncoded(_Strict):
    """A clause kept in the file for coverage although no rule encodes it, and why."""

    document: str
    clause: str
    status: Literal["not_an_entitlement", "not_encodable"]
    quote: str
    reason: str


class Jurisdiction(_Strict):
    """The place a rule file covers: a province, city or county (district) of the divisions table."""

    level: Level
    place: str = Field(pattern=r"^[a-z][a-z_]*$")


def _place_as_key(value: Any) -> Any:
    """A file written with ``jurisdiction:`` is keyed by its place (``city`` holds the key either way)."""
    if isinstance(value, dict) and "city" not in value and isinstance(value.get("jurisdiction"), dict) \
            and isinstance(value["jurisdiction"].get("place"), str):
        return {**value, "city": value["jurisdiction"]["place"]}
    return value


def _place_required(schema: dict[str, Any]) -> None:
    """In the JSON Schema a file names its place once: ``jurisdiction:``, or ``city:`` the older way."""
    schema["required"] = [k for k in schema.get("required", []) if k != "city"]
    schema["oneOf"] = [{"required": ["jurisdiction"]}, {"required": ["city"]}]
    schema["properties"]["city"]["description"] = "older form of jurisdiction: {level: city, place: <id>}"


class RuleFile(_Strict):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, json_schema_extra=_place_required)
    jurisdiction: Jurisdiction | None = None   # the place it covers (validated against the divisions table)
    city: str = Field(pattern=r"^[a-z][a-z_]*$")   # the key: the place, or a city written the older way
    vocabulary: str | None = None   # the vocabulary this file uses, relative to it (default: beside it, else shipped)
    facts: str | None = None        # the facts schema this file uses, relative to it (default: beside the vocabulary)
    documents: dict[str, SourceDocument]
    groups: dict[str, Group] = Field(default_factory=dict)
    rules: list[Rule]
    not_encoded: list[NotEncoded] = Field(default_factory=list)
    readings: dict[str, Reading] = Field(default_factory=dict)   # ambiguities and their options (incentives.readings)

    @model_validator(mode="before")
    @classmethod
    def _keyed(cls, value: Any) -> Any:
        return _place_as_key(value)

    @property
    def level(self) -> Level:
        """The level of the place this file covers (a file written ``city: x`` is a city's)."""
        return self.jurisdiction.level if self.jurisdiction else "city"


@dataclass(frozen=True)
class CompiledRule:
    """A rule ready to run: its model, where it was written, its document and condition tree."""

    rule: Rule
    city: str
    document: SourceDocument
    location: Location
    tree: All
    window: Window
    shares: dict[str, Decimal] | None
    group: Group | None
    group_base: str | None = None   # in an ``additional`` group, the rule the others add to
    base_selectors: tuple[Test, ...] = ()   # the base rule's ``rewards`` tests (for ``base_needs: achieved``)
    tier_trees: tuple[All, ...] = ()
    instalment_trees: tuple[All, ...] = ()
    level: Level = "city"   # of its file's place (``city`` is the place's id)
    _splits: dict[Decimal, dict[str, Decimal]] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def id(self) -> str:
        return self.rule.id

    @property
    def reported(self) -> bool:
        """Whether this rule's money comes from a non-official source: shown, never settled."""
        return not self.document.official

    @cached_property
    def selectors(self) -> tuple[Test, ...]:
        """The tests written under ``rewards``: they pick the records this rule could reward."""
        return tuple(t for t in self.tree.children if isinstance(t, Test) and t.origin == "rewards")

    @cached_property
    def caps(self) -> tuple[tuple[str, Decimal, bool], ...]:
        """The per-enterprise caps on this rule's awards: (name, cap, whether it applies per year)."""
        caps = []
        if self.rule.enterprise_cap is not None:
            caps.append((N_("rule %(rule)s") % {"rule": self.id}, self.rule.enterprise_cap, self.rule.cap_per == "year"))
        if self.group is not None and self.group.cap is not None:
            caps.append((N_("group %(group)s") % {"group": self.rule.group}, self.group.cap, self.group.cap_per == "year"))
        return tuple(caps)

    @cached_property
    def adds_to(self) -> str | None:
        """In an ``additional`` group, the base rule this one pays on top of (None for the base itself)."""
        if self.group is None or self.group.combine != "additional" or self.group_base == self.id:
            return None
        return self.group_base

    def split(self, amount: Decimal) -> dict[str, Decimal]:
        """``amount`` split among this rule's payers (``{}`` when they are unspecified)."""
        if self.shares is None:
            return {}
        parts = self._splits.get(amount)
        if parts is None:  # most awards repeat an amount (a fixed sum, a cap reached): split each once
            if len(self._splits) >= _SPLITS_KEPT:
                self._splits.clear()
            parts = self._splits[amount] = self._splitter(amount)
        return dict(parts)

    @cached_property
    def _splitter(self) -> Splitter:
        assert self.shares is not None
        return Splitter(self.shares)


_SPLITS_KEPT = 1024     # amounts whose split a rule remembers


@dataclass(frozen=True)
class LoadedFile:
    path: str
    model: RuleFile
    rules: tuple[CompiledRule, ...]
    readings: dict[str, str] = field(default_factory=dict)   # each reading of the file → the option in force
    reading_places: dict[str, Location] = field(default_factory=dict)   # where each reading is written
    text: str | None = None             # the text loaded (to read it again with other readings)


@dataclass(frozen=True)
class Rulebook:
    """Every loaded rule file by city, the vocabulary, and a content hash of the files used."""

    files: dict[str, LoadedFile]
    vocabulary: Vocabulary
    hash: str
    by_id: dict[str, CompiledRule] = field(default_factory=dict)
    facts: FactsSchema = SCHEMA
    matchers: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)  # durable, per places
    derived: dict[str, Derived] = field(default_factory=dict)     # derived facts, by name
    readings: dict[str, str] = field(default_factory=dict)       # the options chosen other than the defaults
    divisions: Divisions = field(default_factory=lambda: load_divisions(BUNDLED_DIVISIONS))
    _indexes: dict[tuple[str, ...], RuleIndex] = field(default_factory=dict, repr=False, compare=False)
    _covering: dict[tuple[str, str | None], tuple[str, ...]] = field(default_factory=dict, repr=False,
                                                                       compare=False)
    _left_out: dict[tuple[str, str | None], tuple[str, ...]] = field(default_factory=dict, repr=False,
                                                                       compare=False)
    _read: dict[frozenset[tuple[str, str]], Rulebook] = field(default_factory=dict, repr=False, compare=False)

    def rebuilt(self, files: dict[str, LoadedFile], hash: str, readings: dict[str, str] | None = None) -> Rulebook:
        """A rulebook of other ``files`` (reformed, or read under other readings) that keeps this one's
        vocabulary, facts schema, derived facts and divisions; its caches start empty."""
        by_id = {rule.id: rule for loaded in files.values() for rule in loaded.rules}
        return Rulebook(files=files, vocabulary=self.vocabulary, hash=hash, by_id=by_id, facts=self.facts,
                        derived=self.derived, readings=self.readings if readings is None else readings,
                        divisions=self.divisions)

    def inspect(self, path: str | Path, text: str) -> tuple[LoadedFile | None, list[IncentivesError]]:
        """A rule file's text checked as one of this rulebook's files: its vocabulary, facts schema,
        derived facts and divisions (``inspect_rule_file``)."""
        token = _DERIVED.set(self.derived)
        try:
            return inspect_rule_file(path, self.vocabulary, text=text, facts=self.facts, divisions=self.divisions)
        finally:
            _DERIVED.reset(token)

    def rules_for(self, places: str | tuple[str, ...]) -> tuple[CompiledRule, ...]:
        """The rules of one file (by its place or city key), or of several in the order given."""
        if isinstance(places, str):
            loaded = self.files.get(places)
            return loaded.rules if loaded else ()
        return tuple(rule for place in places for rule in self.rules_for(place))

    def covering(self, city: str, county: str | None = None) -> tuple[str, ...]:
        """The files that cover an enterprise in ``city`` (and ``county``), from the province down: the
        province's, the city's and the county's. Places are named by id, full or short Chinese name
        (``langfang``, ``廊坊市``, ``廊坊``); a city the divisions table lacks is covered by a file keyed
        by that very name (``city: x``)."""
        found = self._covering.get((city, county))
        if found is None:   # once per (city, county) written; a race only computes the same tuple twice
            path = self.divisions.path_of(city, county)
            found = tuple(d.id for d in path if d.id in self.files) if path else \
                ((city,) if city in self.files else ())
            self._covering[(city, county)] = found
        return found

    def left_out(self, city: str, county: str | None = None) -> tuple[str, ...]:
        """The county files of ``city`` (with rules) not applied because ``county`` is absent or not in the
        divisions table under it: an enterprise there may be owed what they pay."""
        found = self._left_out.get((city, county))
        if found is None:
            path = self.divisions.path_of(city, county)
            found = () if not path or path[-1].level == "county" else tuple(
                k for k, f in self.files.items() if f.rules and k in self.divisions.by_id
                and self.divisions.by_id[k].parent == path[-1].id)
            self._left_out[(city, county)] = found
        return found

    def places(self, enterprise: Enterprise) -> tuple[str, ...]:
        """``covering`` for ``enterprise``'s city and county."""
        return self.covering(enterprise.profile.city, enterprise.profile.county)

    def uses_derived_facts(self, places: str | tuple[str, ...]) -> bool:
        """Whether a rule of ``places`` reads a fact derived from the records (``enterprise.recognitions``)."""
        return self.index(places).uses_derived

    def extra_facts(self, enterprise: Enterprise, as_of: dt.date) -> dict[str, Any]:
        """The facts beyond profile and record that the rules covering the enterprise read: those
        derived from its records, and the whole enterprise for comparisons and counts."""
        index = self.index(self.places(enterprise))
        if not (index.uses_derived or index.uses_whole):
            return {}
        return extra_facts(enterprise, as_of, self.derived, whole=index.uses_whole)

    def index(self, places: str | tuple[str, ...]) -> RuleIndex:
        """The rules of ``places`` (the files ``covering`` names) indexed for populations (see ``RuleIndex``)."""
        key = (places,) if isinstance(places, str) else places
        index = self._indexes.get(key)
        if index is None:  # built once per set of files; a race only builds the same index twice
            index = self._indexes[key] = RuleIndex(self.rules_for(key))
        return index

    def where(self, city: str, county: str | None = None) -> tuple[str, str | None]:
        """The ids of an enterprise's city and county (``廊坊市``/``廊坊`` → ``langfang``, ``香河县`` →
        ``xianghe``), else a ``FactsError`` naming the field and listing the known places. A city the
        divisions table lacks is accepted when a file is keyed by it (its county is then not checked)."""
        home = self.divisions.find(city, "city")
        if home is None:
            try:
                return self.resolve_city(city), county
            except FactsError:
                others = sorted(k for k, f in self.files.items() if f.rules and k not in self.divisions.by_id)
                raise FactsError(f"unknown city {city!r}; known cities: " + ", ".join(
                    [self.divisions.known("city"), *others]), field="enterprise.city") from None
        if county is None:
            return home.id, None
        return home.id, self.divisions.resolve(county, "county", home.id).id

    def city_names(self) -> dict[str, str]:
        """Every name of a city with rules → its rule file's city: ``langfang``, ``廊坊市`` and ``廊坊``
        (the Chinese names read from the issuer of the file's documents, e.g. 廊坊市人民政府办公室)."""
        names: dict[str, str] = {}
        for city, loaded in self.files.items():
            if not loaded.rules:
                continue
            names[city] = city
            for document in loaded.model.documents.values():
                for suffix in ("市", "省"):
                    head, found, _ = document.issuer.partition(suffix)
                    if found and head and len(head) <= 6:
                        names.setdefault(head + suffix, city)
                        names.setdefault(head, city)
                        break
        return names

    def resolve_city(self, name: str) -> str:
        """The rule file's city for ``name`` (``langfang``, ``廊坊市`` or ``廊坊``), else a ``FactsError``
        listing the known cities."""
        names = self.city_names()
        if name.strip() in names:
            return names[name.strip()]
        known = ", ".join(f"{city} ({'/'.join(n for n, c in names.items() if c == city and n != city)})"
                          for city in sorted(set(names.values())))
        raise FactsError(UNKNOWN_CITY % {"name": repr(name), "known": known}, field="enterprise.city")

    @property
    def rules(self) -> list[CompiledRule]:
        return [rule for loaded in self.files.values() for rule in loaded.rules]

    def readings_in_force(self, city: str | None = None) -> dict[str, str]:
        """Each reading (of ``city``'s file, or of every file) → the option in force."""
        files = [self.files[city]] if city in self.files else [] if city is not None else self.files.values()
        return {name: option for loaded in files for name, option in getattr(loaded, "readings", {}).items()}

    def with_readings(self, choices: Mapping[str, str]) -> Rulebook:
        """This rulebook read with ``choices`` (``{reading id: option}``) on top of those it was loaded with.

        Only the files whose readings change are compiled again (from the text first loaded); an
        unknown reading or option is a located ``RulebookError``. The result is kept, so calling this
        again with the same choices (as ``assess(..., readings=...)`` does) costs a look-up.
        """
        expect(choices, Mapping, "readings", "a mapping {reading id: option}")
        key = frozenset(choices.items())
        found = self._read.get(key)
        if found is not None:
            return found
        _readings.check_choices(choices, self._declared())
        if "+reform:" in self.hash:
            raise RulebookError("choose readings before applying a reform: a reformed rulebook cannot be read "
                                "again from its files", field="readings", code="reading")
        wanted = {**self.readings, **choices}
        defaults = {name: r.default for loaded in self.files.values() for name, r in loaded.model.readings.items()}
        wanted = {name: option for name, option in wanted.items() if defaults.get(name) != option}
        files = dict(self.files)
        for city, loaded in self.files.items():
            if all(wanted.get(n, defaults[n]) == option for n, option in loaded.readings.items()):
                continue
            if loaded.text is None:
                raise RulebookError("this file was not loaded from a text, so it cannot be read again",
                                    location=Location(loaded.path), code="reading")
            token, facts_token = _DERIVED.set(self.derived), _FACTS.set(self.facts)
            try:
                result = _reload(loaded, self.vocabulary, wanted)
            finally:
                _DERIVED.reset(token)
                _FACTS.reset(facts_token)
            files[city] = result
        book = self.rebuilt(files, _with_readings_hash(self.hash, wanted), readings=wanted)
        self._read[key] = book
        return book

    def _declared(self) -> dict[str, tuple[Reading, Location]]:
        return {name: (reading, loaded.reading_places.get(name, Location(loaded.path)))
                for loaded in self.files.values() for name, reading in loaded.model.readings.items()}


def _reload(loaded: LoadedFile, vocabulary: Vocabulary, choices: Mapping[str, str]) -> LoadedFile:
    """``loaded``'s text compiled again with ``choices``, its quotes checked."""
    result, problems = _inspect(loaded.path, vocabulary, loaded.text, choices)
    if problems or result is None:
        raise RulebookError(_summary(problems), problems=problems, location=problems[0].location)
    problems = sources.check_quotes(result)
    if problems:
        raise RulebookError(_summary(problems), problems=problems, location=problems[0].location)
    return result


def _with_readings_hash(digest: str, choices: Mapping[str, str]) -> str:
    """The hash of the files, followed by the choices that differ from the defaults (if any)."""
    base = digest.split("+readings:")[0]
    if not choices:
        return base
    text = json.dumps(dict(sorted(choices.items())), ensure_ascii=False, separators=(",", ":"))
    return f"{base}+readings:{hashlib.sha256(text.encode()).hexdigest()[:16]}"


class RuleIndex:
    """Rules by record kind and by the value of their first other ``rewards`` field (title, type...).

    Lets a population skip the rules that could never reward a record. Each rule is kept with its
    conditions compiled (``compile_holds``) without the tests the index has already settled (the
    kind and the keyed field), so the index changes no verdict.
    """

    def __init__(self, rules: tuple[CompiledRule, ...]) -> None:
        self._order = {rule.id: n for n, rule in enumerate(rules)}
        trees = [t for r in rules for t in (r.tree, *r.tier_trees, *r.instalment_trees)]
        self.uses_derived = any(leaf.fact in DERIVED_FACTS for tree in trees for leaf in leaves(tree))
        self.uses_whole = any(isinstance(leaf, (Compare, Count)) for tree in trees for leaf in leaves(tree)) \
            or any(rule.rule.amount.reads_whole for rule in rules)
        self._by_kind: dict[str, tuple[list[_Entry], dict[str, dict[Any, list[_Entry]]]]] = {}
        for rule in rules:
            unkeyed, keyed = self._by_kind.setdefault(str(rule.rule.rewards["kind"]), ([], {}))
            key = next((t for t in rule.selectors if t.fact != "record.kind"), None)
            settled = [t for t in rule.selectors if t.fact == "record.kind" or t is key]
            entry = (rule, compile_holds(All(tuple(c for c in rule.tree.children if c not in settled))))
            if key is None:
                unkeyed.append(entry)
                continue
            values = key.value if key.op is Op.ONE_OF else (key.value,)
            for value in values:  # type: ignore[union-attr]
                keyed.setdefault(key.fact.partition(".")[2], {}).setdefault(value, []).append(entry)
        # Kinds whose rules all key on one field: one lookup decides (the usual case).
        self._single_key = {kind: next(iter(keyed.items())) for kind, (unkeyed, keyed) in self._by_kind.items()
                            if not unkeyed and len(keyed) == 1}

    def entries(self, record: Any) -> list[_Entry]:
        """The rules that could reward ``record``, in file order, each with the rest of its conditions."""
        single = self._single_key.get(record.kind)
        if single is not None:
            return single[1].get(getattr(record, single[0], None), _NONE)
        entry = self._by_kind.get(record.kind)
        if entry is None:
            return _NONE
        unkeyed, keyed = entry
        found = list(unkeyed)
        for name, by_value in keyed.items():
            found += by_value.get(getattr(record, name, None), ())
        return sorted(found, key=lambda e: self._order[e[0].id]) if len(keyed) + bool(unkeyed) > 1 else found


_Entry = tuple[CompiledRule, Holds]   # a rule, and the rest of its conditions


def extra_facts(enterprise: Enterprise, as_of: dt.date, derived: dict[str, Derived] | None = None, *,
                whole: bool = True) -> dict[str, Any]:
    """The facts derived from ``enterprise``'s records and, with ``whole``, the whole enterprise
    (``conditions.Whole``: its records, ``as_of``, its yearly figures and the derived facts)."""
    extra = derived_facts(enterprise)
    if whole:
        extra[WHOLE] = Whole(tuple(enterprise.records), as_of, getattr(enterprise, "figure", None), derived or {})
    return extra
_NONE: list[_Entry] = []


def load_rulebook(path: str | Path, vocabulary: Vocabulary | str | Path | None = None,
                  derived: Mapping[str, str] | None = None, *, check_quotes: bool = True,
                  readings: Mapping[str, str] | None = None) -> Rulebook:
    """Load a directory of rule files (``*.yaml`` beside ``vocabulary.yaml``) or one rule file.

    ``derived`` declares derived facts (``{"rd_ratio": "rd_spend[year] ÷ revenue[year]"}``, see
    ``incentives.derived``) the rules may read. Raises ``RulebookError`` whose ``problems`` list
    every problem of the first bad file. Each quote must be found in its document's source text
    (``source:``, read safely from the rules tree): a rule whose citation is not in the law does not
    load. ``check_quotes=False`` skips that check, and says so in the ``incentives`` log.
    ``readings`` chooses options of the files' ``readings:`` (``{"sjz.little_giant.key_little_giant":
    "rewarded"}``, see ``incentives.readings``); the others keep their defaults.
    """
    expect(path, (str, Path), "path", "a rule directory or file")
    if vocabulary is not None:
        expect(vocabulary, (Vocabulary, str, Path), "vocabulary")
    if readings is not None:
        expect(readings, Mapping, "readings", "a mapping {reading id: option}")
    return _load_rulebook(Path(path), vocabulary, derived or {}, check_quotes, dict(readings or {}))


def rule_files(path: Path) -> list[Path]:
    """The rule files ``load_rulebook(path)`` loads: a directory's ``*.yaml`` but its vocabulary, facts schema
    and divisions table, in order; or the file ``path`` itself."""
    if not path.is_dir():
        return [path]
    return sorted(p for p in path.glob("*.yaml") if p.name not in (VOCABULARY_FILE, FACTS_FILE, DIVISIONS_FILE))


def _derived_facts(schema: FactsSchema, declared: Mapping[str, str]) -> dict[str, Derived]:
    """The facts schema's derived facts and those ``declared`` beside them (which may replace them)."""
    if not declared:
        return dict(schema.derived)
    facts, problems = compile_derived({**{n: d.text for n, d in schema.derived.items()}, **declared},
                                      yearly_dims(schema))
    if problems:
        raise RulebookError(_summary(list(problems)), problems=list(problems), location=problems[0].location)
    return facts


def _load_rulebook(path: Path, vocabulary: Vocabulary | str | Path | None, declared: Mapping[str, str],
                   check_quotes: bool = True, choices: Mapping[str, str] | None = None) -> Rulebook:
    path = Path(path)
    if not path.exists():
        raise RulebookError("no such rule file or directory", location=Location(str(path)))
    files = rule_files(path)
    if vocabulary is None:
        vocab_path, facts = companions(path)
    else:
        vocab_path = Path(vocabulary) if isinstance(vocabulary, (str, Path)) else \
            (path if path.is_dir() else path.parent) / VOCABULARY_FILE
        facts = SCHEMA
    vocab = vocabulary if isinstance(vocabulary, Vocabulary) else load_vocabulary(vocab_path)
    digest = hashlib.sha256()
    digest.update(vocabulary_digest(vocab))
    if not isinstance(vocabulary, Vocabulary):
        check_vocabulary(vocab, facts)
    digest.update(facts.hash.encode())
    divisions = divisions_beside(vocab_path.parent)
    digest.update(divisions.hash.encode())
    derived = _derived_facts(facts, declared)
    digest.update(repr(sorted(declared.items())).encode())
    loaded: dict[str, LoadedFile] = {}
    token = _DERIVED.set(derived)
    try:
        for file in files:
            text = _yaml.read_text(file)
            digest.update(file.name.encode() + b"\0" + text.encode())
            result = load_rule_file(file, vocab, text=text, facts=facts, readings=choices, divisions=divisions)
            named = (result.model.vocabulary, result.model.facts)
            if path.is_dir() and named != (None, None) and \
                    (companions(file)[0].resolve(), companions(file)[1].hash) != (vocab_path.resolve(), facts.hash):
                raise RulebookError("a rulebook's files share one vocabulary and facts schema: this file names "
                                    "others; load it on its own", location=Location(str(file)))
            if check_quotes:
                problems = sources.check_quotes(result)
                if problems:
                    raise RulebookError(_summary(problems), problems=problems, location=problems[0].location)
            else:
                logging.getLogger("incentives").warning("%s: quotes not checked against their source texts", file)
            if result.model.city in loaded:
                raise RulebookError(f"city {result.model.city!r} already comes from {loaded[result.model.city].path}",
                                    location=Location(str(file)))
            for name in result.readings:
                other = next((f for f in loaded.values() if name in f.readings), None)
                if other is not None:
                    raise RulebookError(f"reading {name!r} is already named in {other.path}",
                                        location=result.reading_places.get(name), field=f"readings.{name}",
                                        code="duplicate-id")
            loaded[result.model.city] = result
    finally:
        _DERIVED.reset(token)
    _check_across_files(loaded, divisions)
    by_id = {rule.id: rule for result in loaded.values() for rule in result.rules}
    book = Rulebook(files=loaded, vocabulary=vocab, hash="sha256:" + digest.hexdigest(), by_id=by_id, facts=facts,
                    derived=derived, divisions=divisions)
    if not choices:
        return book
    _readings.check_choices(choices, book._declared())
    defaults = {name: r.default for f in loaded.values() for name, r in f.model.readings.items()}
    chosen = {name: option for name, option in choices.items() if defaults[name] != option}
    return replace(book, hash=_with_readings_hash(book.hash, chosen), readings=chosen)


def _check_across_files(loaded: Mapping[str, LoadedFile], divisions: Divisions) -> None:
    """Rule ids are unique in a rulebook; files that cover one enterprise together (a place and the
    places above it) declare no group of the same name, since a group is one file's."""
    problems: list[IncentivesError] = []
    seen: dict[str, CompiledRule] = {}
    for result in loaded.values():
        for rule in result.rules:
            if rule.id in seen:
                problems.append(RulebookError(f"rule id {rule.id!r} is already used in {seen[rule.id].location}",
                                              location=rule.location, field="id", code="duplicate-id"))
            seen.setdefault(rule.id, rule)
    for key, result in loaded.items():
        above = [loaded[d.id] for d in divisions.ancestors(key)[:-1] if d.id in loaded and d.id != key]
        for other in above:
            for name in sorted(set(result.model.groups) & set(other.model.groups)):
                problems.append(RulebookError(
                    f"group {name!r} is also declared in {other.path}, which covers the same enterprises: "
                    "a group is one file's; give it another name", location=_yaml.load(result.path).locate(
                        ("groups", name)), field=f"groups.{name}", code="duplicate-group"))
    if problems:
        raise RulebookError(_summary(problems), problems=problems, location=problems[0].location)


def companions(path: Path) -> tuple[Path, FactsSchema]:
    """The vocabulary file and facts schema a rule file (or a directory of them) uses: those it names
    (``vocabulary:``, ``facts:``, relative to the file), else those beside it, else the shipped ones."""
    named: dict[str, Path] = {}
    if path.is_file():
        doc = _yaml.load(path)
        for key in ("vocabulary", "facts"):
            value = doc.data.get(key) if isinstance(doc.data, dict) else None
            if isinstance(value, str):
                named[key] = (path.parent / value).resolve()
                if not named[key].is_file():
                    raise RulebookError(f"no {key} file {value!r} beside this rule file ({named[key]})",
                                        location=doc.locate((key,)), field=key, code="unknown-file")
    folder = path if path.is_dir() else path.parent
    vocab_path = named.get("vocabulary") or folder / VOCABULARY_FILE
    if "vocabulary" not in named and not vocab_path.is_file():
        from incentives.shipped import shipped_rules   # the shipped rulebook imports this module
        vocab_path = shipped_rules() / VOCABULARY_FILE
    facts = load_facts_schema(named["facts"]) if "facts" in named else facts_schema_beside(vocab_path.parent)
    return vocab_path, facts


def vocabulary_digest(vocabulary: Vocabulary) -> bytes:
    """The vocabulary's terms as canonical bytes for the rulebook hash: the same terms give the same
    bytes whether they came from a file (LF or CRLF, any key order) or a ``Vocabulary`` built in code."""
    return json.dumps({k: dict(v) for k, v in vocabulary.terms.items()}, sort_keys=True,
                      ensure_ascii=False).encode() + b"\0"


def facts_schema_beside(directory: Path) -> FactsSchema:
    """``facts.yaml`` in ``directory`` (the vocabulary's), or the bundled schema where there is none."""
    own = directory / FACTS_FILE
    return load_facts_schema(own) if own.is_file() else SCHEMA


def check_vocabulary(vocabulary: Vocabulary, facts: FactsSchema) -> None:
    """Raise ``FactsSchemaError`` (every problem, located) if a vocabulary list names no term field."""
    unknown = [name for name in vocabulary.terms if name != "payer" and name not in facts.term_fields]
    if not unknown:
        return
    problems = check_vocabulary_fields(facts, vocabulary.terms, _yaml.load(vocabulary.path))
    raise FactsSchemaError(problems[0].message, problems=problems, location=problems[0].location,
                           field=problems[0].field)


def load_rule_file(path: str | Path, vocabulary: Vocabulary, text: str | None = None,
                   facts: FactsSchema | None = None, readings: Mapping[str, str] | None = None,
                   divisions: Divisions | None = None) -> LoadedFile:
    """Validate and compile one rule file, read with ``readings`` (its options chosen, see
    ``incentives.readings``); every problem is collected before raising."""
    loaded, problems = inspect_rule_file(path, vocabulary, text, facts, readings, divisions)
    if problems or loaded is None:
        raise RulebookError(_summary(problems), problems=problems, location=problems[0].location)
    return loaded


def inspect_rule_file(path: str | Path, vocabulary: Vocabulary, text: str | None = None,
                      facts: FactsSchema | None = None, readings: Mapping[str, str] | None = None,
                      divisions: Divisions | None = None) -> tuple[LoadedFile | None, list[IncentivesError]]:
    """The file as far as it can be read, and every problem in it (for lint: never stops early).

    The ``LoadedFile`` is ``None`` only when the file does not fit the format at all; otherwise it
    holds the rules that compiled, so further checks can run on it. Facts are typed by ``facts``
    (default: the bundled schema), the jurisdiction checked against ``divisions`` (default: the
    bundled table).
    """
    token = _FACTS.set(facts or SCHEMA)
    places = _DIVISIONS.set(divisions)
    try:
        return _inspect(path, vocabulary, text, readings or {})
    finally:
        _DIVISIONS.reset(places)
        _FACTS.reset(token)


def _inspect(path: str | Path, vocabulary: Vocabulary, text: str | None,
             choices: Mapping[str, str]) -> tuple[LoadedFile | None, list[IncentivesError]]:
    text = text if text is not None else _yaml.read_text(path)
    written = _yaml.parse(text, _yaml.label(path))
    doc, in_force, problems = _readings.apply(written, choices)
    places = {name: written.locate(("readings", name)) for name in in_force}
    if problems:
        return None, problems

    def finish(result: tuple[LoadedFile | None, list[IncentivesError]]) -> tuple[LoadedFile | None,
                                                                                  list[IncentivesError]]:
        loaded, found = result
        if loaded is not None:
            loaded = replace(loaded, readings=in_force, reading_places=places, text=text)
        return loaded, found

    try:
        return finish(_checked(RuleFile.model_validate(doc.data), doc, vocabulary, [], None))
    except ValidationError as e:
        errors = e.errors()
        problems = [_located(err, doc) for err in errors]
        if any(err["loc"][:1] != ("rules",) or len(err["loc"]) < 3 for err in errors):
            return None, problems  # an error outside the rules: nothing more can be checked
        bad = {err["loc"][1] for err in errors}
    # Rules that fit the format are still checked, so one run reports every problem in the file; of
    # those that do not, the conditions that fit are checked too (an unknown fact beside a typo).
    keep = [i for i in range(len(doc.data["rules"])) if i not in bad]
    model = RuleFile.model_validate({**doc.data, "rules": [doc.data["rules"][i] for i in keep]})
    loaded, problems = _checked(model, doc, vocabulary, problems, keep)
    failed = {tuple(err["loc"][:3]) for err in errors}
    for i in sorted(b for b in bad if isinstance(b, int)):
        _check_conditions_of_unfit_rule(doc, i, failed, vocabulary, problems)
    return finish((loaded, problems))


def _check_conditions_of_unfit_rule(doc: _yaml.Document, i: int, failed: set[tuple[Any, ...]], vocab: Vocabulary,
                                    problems: list[IncentivesError]) -> None:
    """The ``rewards`` and ``when`` of rule ``i``, which does not fit the format elsewhere, checked as
    far as they can be (only where the format found nothing wrong in them)."""
    raw = doc.data["rules"][i]
    rewards = raw.get("rewards") if isinstance(raw, dict) else None
    if not isinstance(rewards, dict) or ("rules", i, "rewards") in failed:
        return
    kind = rewards.get("kind")
    if not isinstance(kind, str) or kind not in _kinds():
        return  # reported once the rule fits the format

    def problem(key: tuple[Any, ...], message: str, code: str, exc: type[IncentivesError] = RulebookError,
                **extra: Any) -> None:
        problems.append(exc(message, location=doc.locate(key), field=_dotted(key), code=code, **extra))

    for name, value in rewards.items():
        if name != "kind":
            op = Op.ONE_OF if isinstance(value, list) else Op.IS
            _typed_value(kind, f"record.{name}", op, value, ("rules", i, "rewards", name), vocab, problem)
    when = raw.get("when")
    if isinstance(when, list) and ("rules", i, "when") not in failed:
        _compile_list(kind, when, ("rules", i, "when"), vocab, problem)


def _checked(model: RuleFile, doc: _yaml.Document, vocabulary: Vocabulary, problems: list[IncentivesError],
             index: list[int] | None) -> tuple[LoadedFile, list[IncentivesError]]:
    compiled = _compile_file(model, doc, vocabulary, problems, index or list(range(len(model.rules))))
    return LoadedFile(path=doc.path, model=model, rules=tuple(compiled)), problems


def _summary(problems: list[IncentivesError]) -> str:
    first = problems[0]
    more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
    return f"{first.field + ': ' if first.field else ''}{first.message}{more}"


def _located(err: Any, doc: _yaml.Document) -> RulebookError:
    key = tuple(k for k in err["loc"] if not (isinstance(k, str) and k in _UNION_TAGS))
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = f"unknown key {str(key[-1])!r}"
        if "words" in key:      # a note written as a mapping
            message += " (a note is one text or {zh, en}: a ': ' inside text starts a mapping: put the text in quotes)"
        elif not str(key[-1]).isascii():
            message += " (inside {…} a comma separates entries: put text containing commas in quotes)"
    elif err["type"] == "missing" and key == ("city",):
        message = "missing key 'jurisdiction': the place the file covers, {level: province|city|county, place: <id>}"
        key = ()
    elif err["type"] == "missing":
        message = f"missing key {str(key[-1])!r}"
    elif err["type"] == "string_type" and isinstance(err.get("input"), dict):
        message += " (a ': ' inside text starts a mapping: put the text in quotes)"
    return RulebookError(message, location=doc.locate(key), field=_dotted(key), code="schema")


_UNION_TAGS = {"dict[str,annotated[Decimal,BeforeValidator]]", "literal['unspecified']",
               "function-before[_payers(), union[dict[str,annotated[Decimal,BeforeValidator]],literal['unspecified']]]"}


def _dotted(key: tuple[Any, ...]) -> str:
    out = ""
    for k in key:
        out += f"[{k}]" if isinstance(k, int) else (f".{k}" if out else str(k))
    return out


def _compile_file(model: RuleFile, doc: _yaml.Document, vocab: Vocabulary, problems: list[IncentivesError],
                  index: list[int]) -> list[CompiledRule]:
    """Check references and compile each rule; ``index`` maps model.rules to their place in the file."""
    def problem(key: tuple[Any, ...], message: str, code: str, exc: type[IncentivesError] = RulebookError,
                **extra: Any) -> None:
        location = doc.locate(key) if extra.get("offset") is None else doc.inside(key, extra["offset"])
        problems.append(exc(message, location=location, field=_dotted(key), code=code, **extra))

    _check_jurisdiction(model, doc, problem)
    compiled: list[CompiledRule] = []
    seen: dict[str, int] = {}
    replaced = _supersessions(model, problem)
    for n, rule in enumerate(model.rules):
        i = index[n]
        key: tuple[Any, ...] = ("rules", i)
        if rule.id in seen:
            problem((*key, "id"), f"rule id {rule.id!r} is already used by rules[{seen[rule.id]}]", "duplicate-id")
        seen[rule.id] = i
        document = model.documents.get(rule.cite.document)
        if document is None:
            problem((*key, "cite", "document"), f"unknown document {rule.cite.document!r}; "
                    f"documents: {', '.join(model.documents)}", "unknown-document")
        if document is not None:
            _check_clause(document, rule.cite.clause, (*key, "cite", "clause"), problem)
        group = model.groups.get(rule.group) if rule.group else None
        if rule.group and group is None:
            problem((*key, "group"), f"unknown group {rule.group!r}", "unknown-group")
        window = rule.window or (document.effective if document else Window.model_validate({"from": dt.date.min}))
        if rule.window and document and not _inside(rule.window, document.effective):
            problem((*key, "window"), f"window {rule.window.start}..{rule.window.end} lies outside the "
                    f"document's effective window {document.effective.start}..{document.effective.end}",
                    "window-outside-document")
        cutoff = replaced.get((rule.cite.document, rule.cite.clause)) or replaced.get((rule.cite.document, None))
        if cutoff is not None and (window.end is None or cutoff < window.end):
            # a newer official text replaces this clause from its effective date (never validated empty)
            window = Window.model_construct(start=window.start, end=cutoff)
        shares = None
        if rule.payers != "unspecified":
            shares = dict(rule.payers)
            total = sum(shares.values(), Decimal(0))
            if total != 1:
                problem((*key, "payers"), f"payer shares sum to {(total * 100).normalize():f}%, not 100%", "payer-shares")
            for payer in shares:
                _check_term(vocab, "payer", payer, (*key, "payers", payer), problem)
        tree = _compile_tree(rule, window, (*key,), vocab, problem)
        kind = rule.rewards.get("kind")
        base = rule.amount.base_fact
        if base:
            where = ("amount", "of") if rule.amount.of else ("amount", "brackets", "of")
            _fact_type(kind, base, (*key, *where), problem, want="money")
        if isinstance(kind, str) and kind in _kinds():
            _check_amount(rule.amount, kind, (*key, "amount"), problem)
        tiers = tuple(_compile_list(kind, t.when, (*key, "amount", "brackets", "tiers", n, "when"), vocab, problem)
                      for n, t in enumerate(rule.amount.brackets.tiers)) if rule.amount.brackets else ()
        parts = tuple(_compile_list(kind, p.when, (*key, "instalments", n, "when"), vocab, problem)
                      for n, p in enumerate(rule.instalments))
        if rule.instalments and sum(p.share for p in rule.instalments) != 1:
            problem((*key, "instalments"), "instalment shares must sum to 100%", "instalment-shares")
        if tree is not None and document is not None:
            compiled.append(CompiledRule(rule=rule, city=model.city, level=model.level, document=document,
                                         location=doc.locate(key), tree=tree, window=window,
                                         shares=shares, group=group, tier_trees=tiers, instalment_trees=parts))
    _check_multipliers(model, index, problem)
    compiled = _inherit_base_conditions(compiled, model, index, problem)
    bases = {name: g.base for name, g in model.groups.items() if g.base}
    for rule in model.rules:
        if rule.group:
            bases.setdefault(rule.group, rule.id)
    members = {(r.group, r.id) for r in model.rules}
    for name, g in model.groups.items():
        if g.base and (name, g.base) not in members:
            problem(("groups", name, "base"), f"base {g.base!r} is not a rule of group {name!r}", "unknown-rule")
        if g.base and g.combine != "additional":
            problem(("groups", name, "base"), "'base' goes with combine: additional only", "group")
        if g.base_needs != "paid" and g.combine != "additional":
            problem(("groups", name, "base_needs"), "'base_needs' goes with combine: additional only", "group")
    by_id = {c.id: c for c in compiled}
    compiled = [replace(c, group_base=bases.get(c.rule.group or ""),
                        base_selectors=by_id[bases[c.rule.group]].selectors
                        if c.rule.group in bases and bases[c.rule.group] in by_id else ())
                for c in compiled]
    for j, item in enumerate(model.not_encoded):
        if item.document not in model.documents:
            problem(("not_encoded", j, "document"), f"unknown document {item.document!r}", "unknown-document")
        else:
            _check_clause(model.documents[item.document], item.clause, ("not_encoded", j, "clause"), problem)
    for name, reading in model.readings.items():
        if not re.fullmatch(_readings.ID_PATTERN, name):
            problem(("readings", name), f"reading id {name!r} is not dotted lower-case words like a rule id "
                    "(sjz.little_giant.key_little_giant)", "reading")
        if reading.cite.document not in model.documents:
            problem(("readings", name, "cite", "document"), f"unknown document {reading.cite.document!r}; "
                    f"documents: {', '.join(model.documents)}", "unknown-document")
        elif reading.cite.clause is not None:
            _check_clause(model.documents[reading.cite.document], reading.cite.clause,
                          ("readings", name, "cite", "clause"), problem)
    return compiled


def _check_jurisdiction(model: RuleFile, doc: _yaml.Document, problem: Any) -> None:
    """The file's place is in the divisions table at the level it says (a file keyed the older way,
    ``city: x``, names a city of the table or a place the table does not hold)."""
    table = _divisions()
    written = doc.data if isinstance(doc.data, dict) else {}
    if model.jurisdiction is None:
        found = table.by_id.get(model.city)
        if found is not None and found.level != "city":
            problem(("city",), f"{model.city} is a {found.level} ({found.zh}): write "
                    f"jurisdiction: {{level: {found.level}, place: {model.city}}}", "jurisdiction")
        return
    if written.get("city", model.jurisdiction.place) != model.jurisdiction.place:
        problem(("city",), f"city: {written['city']} is not the jurisdiction's place "
                f"{model.jurisdiction.place}: keep jurisdiction: and remove city:", "jurisdiction")
    level, place = model.jurisdiction.level, model.jurisdiction.place
    found = table.by_id.get(place)
    if found is None:
        problem(("jurisdiction", "place"), f"unknown place {place!r}; known {level} places: {table.known(level)} "
                f"(divisions table {table.path})", "jurisdiction")
    elif found.level != level:
        problem(("jurisdiction", "level"), f"{place} ({found.zh}) is a {found.level}, not a {level}", "jurisdiction")


def _supersessions(model: RuleFile, problem: Any) -> dict[tuple[str, str | None], dt.date]:
    """(document, clause or None for all) → the last day it applies, as newer official texts say."""
    out: dict[tuple[str, str | None], dt.date] = {}
    for doc_id, document in model.documents.items():
        for n, item in enumerate(document.supersedes):
            key = ("documents", doc_id, "supersedes", n)
            older = model.documents.get(item.document)
            if not document.official:
                problem(key, f"a {document.kind} cannot replace an official text; only a normative text or "
                        "notice can", "supersedes")
                continue
            if older is None or item.document == doc_id:
                problem((*key, "document"), f"unknown document {item.document!r}; documents: "
                        f"{', '.join(d for d in model.documents if d != doc_id)}", "unknown-document")
                continue
            last = document.effective.start - dt.timedelta(days=1)
            for m, clause in enumerate(item.clauses or [None]):
                if clause is not None:
                    _check_clause(older, clause, (*key, "clauses", m), problem)
                out[(item.document, clause)] = min(last, out.get((item.document, clause), last))
    return out


def _check_clause(document: SourceDocument, clause: str, key: tuple[Any, ...], problem: Any) -> None:
    """Where a document lists its clauses, a citation must name one of them."""
    if document.clauses is None or clause in document.clauses:
        return
    close = difflib.get_close_matches(clause, document.clauses, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else f"; clauses: {', '.join(document.clauses)}"
    problem(key, f"no clause {clause!r} in {document.number or document.title}{hint}", "unknown-clause")


def _inherit_base_conditions(compiled: list[CompiledRule], model: RuleFile, index: list[int],
                             problem: Any) -> list[CompiledRule]:
    """A multiplier rule holds only where its base rule's ``when`` conditions hold too, unless it says
    ``base_conditions: ignore``; a base's own inherited conditions pass on (x of y of z inherits z's)."""
    by_id = {c.id: c for c in compiled}
    place = {r.id: i for r, i in zip(model.rules, index)}
    done: dict[str, CompiledRule] = {}

    def resolve(rule: CompiledRule, seen: tuple[str, ...]) -> CompiledRule:
        if rule.id in done:
            return done[rule.id]
        target, mode = rule.rule.amount.of_rule, rule.rule.base_conditions
        result = rule
        if mode is not None and target is None:
            problem(("rules", place.get(rule.id, 0), "base_conditions"),
                    "base_conditions goes with a multiplier (amount.of_rule) only", "base-conditions")
        elif target in by_id and target not in seen and mode != "ignore":
            base = resolve(by_id[target], (*seen, rule.id))
            if base.rule.rewards.get("kind") != rule.rule.rewards.get("kind"):
                problem(("rules", place.get(rule.id, 0), "amount", "of_rule"),
                        f"{target} rewards another kind of record, so its conditions cannot apply here: "
                        "write base_conditions: ignore", "base-conditions")
            else:
                inherited = tuple(n for n in base.tree.children if n not in rule.tree.children
                                  and getattr(n, "origin", "when") not in ("rewards", "window"))
                result = replace(rule, tree=All(rule.tree.children + inherited))
        done[rule.id] = result
        return result

    return [resolve(c, ()) for c in compiled]


def _check_multipliers(model: RuleFile, index: list[int], problem: Any) -> None:
    """``of_rule`` must name a priced rule of the same file, without cycles."""
    rules = {r.id: r for r in model.rules}
    for i, rule in zip(index, model.rules):
        seen = [rule.id]
        target = rule.amount.of_rule
        while target is not None:
            if target not in rules:
                problem(("rules", i, "amount", "of_rule"), f"unknown rule {target!r}", "unknown-rule")
                break
            if target in seen:
                problem(("rules", i, "amount", "of_rule"), f"multiplier cycle: {' → '.join(seen + [target])}",
                        "multiplier-cycle")
                break
            if rules[target].amount.status != "fixed":
                problem(("rules", i, "amount", "of_rule"), f"{target} has no determined amount to multiply",
                        "multiplier-base")
                break
            seen.append(target)
            target = rules[target].amount.of_rule


def _compile_list(kind: Any, items: list[Condition], key: tuple[Any, ...], vocab: Vocabulary,
                  problem: Any, rewarded: str | None = None) -> All:
    if not isinstance(kind, str) or kind not in _kinds():
        return All(())
    nodes = [_compile_item(kind, item, (*key, i), vocab, problem, rewarded or kind) for i, item in enumerate(items)]
    return All(tuple(n for n in nodes if n is not None))


def _inside(inner: Window, outer: Window) -> bool:
    if inner.start < outer.start:
        return False
    if outer.end is None:
        return True
    return inner.end is not None and inner.end <= outer.end


def _check_term(vocab: Vocabulary, field: str, term: str, key: tuple[Any, ...], problem: Any) -> None:
    try:
        vocab.check(field, term)
    except VocabularyError as e:
        problem(key, e.message, "unknown-term", VocabularyError, suggestion=e.suggestion)


def _compile_tree(rule: Rule, window: Window, key: tuple[Any, ...], vocab: Vocabulary, problem: Any) -> All | None:
    kind = rule.rewards.get("kind")
    if not isinstance(kind, str) or kind not in _kinds():
        problem((*key, "rewards", "kind"), f"rewards.kind must be one of {', '.join(_kinds())}; got {kind!r}",
                "unknown-kind")
        return None
    nodes: list[Node] = []
    for name, value in rule.rewards.items():
        op = Op.ONE_OF if isinstance(value, list) else Op.IS
        typed = _typed_value(kind, f"record.{name}", op, value, (*key, "rewards", name), vocab, problem)
        if typed is not None:
            nodes.append(Test(f"record.{name}", op, typed, origin="rewards"))
    nodes.append(Test("record.date", Op.ON_OR_AFTER, window.start, origin="window"))
    if window.end is not None:
        nodes.append(Test("record.date", Op.ON_OR_BEFORE, window.end, origin="window"))
    nodes += _compile_list(kind, rule.when, (*key, "when"), vocab, problem).children
    return All(tuple(nodes))


def _compile_item(kind: str, item: Condition, key: tuple[Any, ...], vocab: Vocabulary, problem: Any,
                  rewarded: str | None = None) -> Node | None:
    rewarded = rewarded or kind
    if isinstance(item, str):
        return _compile_comparison(kind, rewarded, item, key, problem)
    if not isinstance(item, dict) or len(item) != 1:
        problem(key, "each condition is one 'fact: {op: value}', a comparison such as "
                "\"revenue[year - 1] ≥ 2000万元\", 'some:'/'none:'/'count:' over records, "
                "or 'any:'/'all:' with a list", "condition")
        return None
    (name, spec), = item.items()
    if name in _COUNTS:
        return _compile_count(name, spec, (*key, name), vocab, problem, rewarded)
    if name in ("any", "all"):
        if not isinstance(spec, list) or not spec:
            problem((*key, name), f"'{name}' takes a non-empty list of conditions", "condition")
            return None
        children = [_compile_item(kind, sub, (*key, name, j), vocab, problem, rewarded) for j, sub in enumerate(spec)]
        if any(c is None for c in children):
            return None
        return (Any_ if name == "any" else All)(tuple(c for c in children if c is not None))
    if not isinstance(spec, dict) or len(spec) != 1:
        problem((*key, name), f"write the condition as '{name}: {{op: value}}' with one of: "
                f"{', '.join(o.value for o in Op)}", "condition")
        return None
    (op_name, raw), = spec.items()
    try:
        op = Op(op_name)
    except ValueError:
        problem((*key, name, op_name), f"unknown comparison {op_name!r}; use one of: "
                f"{', '.join(o.value for o in Op)}", "unknown-op")
        return None
    typed = _typed_value(kind, name, op, raw, (*key, name, op_name), vocab, problem, rewarded)
    return None if typed is None else Test(name, op, typed)


_COUNTS = ("some", "none", "count")
_COUNT_KEYS = {"kind", "where", "before", "within_years", "at_least", "at_most"}


def _compile_count(name: str, spec: Any, key: tuple[Any, ...], vocab: Vocabulary, problem: Any,
                   rewarded: str) -> Count | None:
    """``some``/``none``/``count`` over the enterprise's other records of a kind (see ``Count``)."""
    if not isinstance(spec, dict):
        problem(key, f"write '{name}: {{kind: …, where: [...]}}'", "condition")
        return None
    ok = True
    allowed = _COUNT_KEYS if name == "count" else _COUNT_KEYS - {"at_least", "at_most"}
    for extra in sorted(set(spec) - allowed, key=str):
        problem((*key, extra), f"unknown key {extra!r} in '{name}'; keys: kind, where, before, within_years"
                + (", at_least, at_most" if name == "count" else ""), "condition")
        ok = False
    kind = spec.get("kind")
    if not isinstance(kind, str) or kind not in _kinds():
        problem((*key, "kind"), f"{name}.kind must be one of {', '.join(_kinds())}; got {kind!r}", "unknown-kind")
        return None
    where = spec.get("where", [])
    if not isinstance(where, list):
        problem((*key, "where"), "'where' takes a list of conditions", "condition")
        return None
    before = spec.get("before", "as_of")
    if before not in ("rewarded", "as_of"):
        problem((*key, "before"), "'before' is rewarded (records dated before the rewarded one) or as_of", "condition")
        ok = False
    within = spec.get("within_years")
    if within is not None and (not isinstance(within, int) or isinstance(within, bool) or within < 1):
        problem((*key, "within_years"), "'within_years' is a whole number of years, at least 1", "condition")
        ok = False
    bounds = {"some": (1, None), "none": (None, 0)}.get(name) or (spec.get("at_least"), spec.get("at_most"))
    if name == "count":
        if bounds == (None, None):
            problem(key, "'count' needs at_least or at_most (a whole number)", "condition")
            ok = False
        for op, n in zip(("at_least", "at_most"), bounds):
            if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 0):
                problem((*key, op), f"'{op}' is a whole number of records", "condition")
                ok = False
    tree = _compile_list(kind, where, (*key, "where"), vocab, problem, rewarded)
    if not ok or len(tree.children) != len(where):
        return None
    return Count(kind, tree, bounds[0], bounds[1], before == "rewarded", within, written=name)


def _check_amount(amount: Amount, kind: str, key: tuple[Any, ...], problem: Any) -> None:
    """Every expression of an amount reads known facts and comes out as money."""
    for where, node in amount.expressions:
        whole = where[-1] != "per_unit"          # a per-unit product is built from several scalars
        try:
            dim = check(node, lambda ref: _expression_type(kind, kind, ref))
        except ExpressionError as e:
            problem((*key, *where), e.message, "expression", ExpressionError, offset=e.offset if whole else None)
            continue
        if dim != MONEY:
            problem((*key, *where), f"{ex_show(node)} is {dim}, not money: an amount must come out in 元",
                    "expression", ExpressionError, offset=None)


def _compile_comparison(kind: str, rewarded: str, text: str, key: tuple[Any, ...], problem: Any) -> Compare | None:
    """A comparison of two expressions, typed against the facts it reads."""
    try:
        comparison = parse_comparison(text)
        check(comparison, lambda ref: _expression_type(kind, rewarded, ref))
    except ExpressionError as e:
        problem(key, e.message, "expression", ExpressionError, offset=e.offset)
        return None
    return Compare(comparison)


# The derived facts of the rulebook being loaded (default: those of the facts schema in use).
_DERIVED: ContextVar[Mapping[str, Derived] | None] = ContextVar("derived", default=None)


def _derived_now() -> Mapping[str, Derived]:
    found = _DERIVED.get()
    return _FACTS.get().derived if found is None else found


def _expression_type(kind: str, rewarded: str, ref: Ref) -> Dim | str | None:
    """The dimension of a reference in an expression (a string for a fact that is not a number)."""
    if not ref.scope and ref.name in _derived_now():
        return _derived_now()[ref.name].dim
    if not ref.scope or (ref.scope == "enterprise" and ref.index is not None):
        return yearly_dims(_FACTS.get()).get(ref.name)   # a yearly figure of the facts schema
    model_kind = kind if ref.scope == "record" else rewarded if ref.scope == "rewarded" else ref.scope
    if ref.scope not in ("record", "rewarded", "enterprise") and ref.scope not in _kinds():
        return None                                  # sum(kind.field) over a kind that does not exist
    declared = _FACTS.get().field("enterprise" if ref.scope == "enterprise" else model_kind, ref.name)
    if declared is not None and declared.type == "quantity":   # an area in 平方米, a length of time in 月
        return dimension(declared.type, declared.unit)
    ftype = _FACTS.get().condition_type("enterprise" if ref.scope == "enterprise" else model_kind, ref.name)
    if ftype is None:
        return None
    return {"money": MONEY, "rate": NUMBER, "number": NUMBER}.get(ftype, ftype)


_ORDERED = {Op.AT_LEAST, Op.MORE_THAN, Op.AT_MOST, Op.LESS_THAN}
_DATED = {Op.ON_OR_AFTER, Op.ON_OR_BEFORE}
_LISTED = {Op.INCLUDES, Op.INCLUDES_ANY, Op.NOT_EMPTY}


def _typed_value(kind: str, fact: str, op: Op, raw: Any, key: tuple[Any, ...], vocab: Vocabulary,
                 problem: Any, rewarded: str | None = None) -> Value | None:
    """The condition's value in the fact's own type, or ``None`` after recording a problem."""
    if fact.startswith("rewarded.") and rewarded:  # the record being judged, seen from a count's where
        kind, fact = rewarded, "record." + fact.partition(".")[2]
    ftype = _fact_type(kind, fact, key, problem)
    if ftype is None:
        return None
    allowed = {"money": _ORDERED | {Op.IS, Op.IS_NOT}, "rate": _ORDERED, "date": _DATED | {Op.IS, Op.IS_NOT},
               "list": _LISTED, "bool": {Op.IS, Op.IS_NOT}, "text": {Op.IS, Op.IS_NOT, Op.ONE_OF},
               "number": _ORDERED | {Op.IS, Op.IS_NOT}}[ftype]
    if op not in allowed:
        problem(key, f"{fact} is {ftype}: use one of {', '.join(sorted(o.value for o in allowed))}", "op-type")
        return None
    scope_field = _vocab_field(kind, fact)
    try:
        if ftype == "money":
            return parse_money(raw)
        if ftype == "rate":
            return parse_rate(raw)
        if ftype == "number":
            if isinstance(raw, bool) or not isinstance(raw, (int, float, Decimal)):
                raise ValueError(f"{raw!r} is not a number")
            return Decimal(str(raw))
        if ftype == "date":
            if not isinstance(raw, dt.date):
                raise ValueError(f"{raw!r} is not a date (write YYYY-MM-DD)")
            return raw
        if ftype == "bool" or op is Op.NOT_EMPTY:
            if not isinstance(raw, bool):
                raise ValueError(f"{raw!r} is not true or false")
            return raw
        values = raw if isinstance(raw, list) else [raw]
        wants_list = op in (Op.ONE_OF, Op.INCLUDES_ANY)
        if wants_list != isinstance(raw, list) or not all(isinstance(v, str) for v in values):
            raise ValueError(f"{op.value} takes {'a list of terms' if wants_list else 'one term'}")
        for v in values:
            _check_term(vocab, scope_field, v, key, problem)
        return tuple(values) if isinstance(raw, list) else raw
    except (ValueError, MoneyError) as e:
        problem(key, getattr(e, "message", str(e)), "value-type")
        return None


def _vocab_field(kind: str, fact: str) -> str:
    if fact in DERIVED_FACTS:
        return DERIVED_FACTS[fact]
    scope, _, name = fact.partition(".")
    return f"{kind}.{name}" if scope == "record" else fact


def _fact_type(kind: Any, fact: str, key: tuple[Any, ...], problem: Any, want: str | None = None) -> str | None:
    scope, _, name = fact.partition(".")
    facts = _FACTS.get()
    if scope == "record" and isinstance(kind, str) and kind in facts.kinds:
        fields = [*RECORD_BASE_FIELDS, "kind", *facts.kinds[kind].fields]
    elif scope == "enterprise":
        fields = list(facts.profile_fields)
        if name == "sme":
            return _want("bool", want, fact, key, problem)
        if fact in DERIVED_FACTS:
            return _want("list", want, fact, key, problem)
    else:
        problem(key, f"unknown fact {fact!r}: write record.<field> or enterprise.<field>", "unknown-fact")
        return None
    if name not in fields or name in ("id", "note", "kind") and scope == "record" and want:
        choices = ", ".join([f"{scope}.{f}" for f in fields if f not in ("note",)]
                            + (["enterprise.sme", *DERIVED_FACTS] if scope == "enterprise" else []))
        problem(key, f"{kind if scope == 'record' else 'enterprise'} has no fact {fact!r}; known: {choices}",
                "unknown-fact")
        return None
    ftype = facts.condition_type(kind if scope == "record" else "enterprise", name)
    assert ftype is not None
    return _want(ftype, want, fact, key, problem)


def _want(ftype: str, want: str | None, fact: str, key: tuple[Any, ...], problem: Any) -> str | None:
    if want and ftype != want:
        problem(key, f"{fact} is {ftype}, not {want}", "value-type")
        return None
    return ftype
