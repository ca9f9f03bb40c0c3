"""The facts schema: ``rules/facts.yaml`` read, checked, and turned into the Pydantic fact models.

The file declares the enterprise profile's fields, its yearly figures, and each record kind with its
fields, their types, which are required, and which identify one achievement. Everything that
knows a fact's type (the models, the JSON Schema, the register columns, condition typing, synth)
asks a ``FactsSchema``. Loading checks the whole file and reports every problem located
``file:line:col``; models are built once per schema content (``pydantic.create_model`` on the
record and profile bases of ``incentives.facts``), so two rulebooks with one schema share them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import threading
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Union

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model

from incentives import _yaml
from incentives.derived import compile_derived
from incentives.errors import FactsSchemaError, IncentivesError
from incentives.expressions import Derived, dimension
from incentives.money import Money, Rate

FACTS_FILE = "facts.yaml"
BUNDLED = Path(__file__).resolve().parent / FACTS_FILE   # rules/facts.yaml, shipped with the package

FieldType = Literal["money", "number", "rate", "count", "date", "bool", "text", "term", "quantity", "credit_code"]
FIGURE_TYPES = ("money", "number", "rate", "count", "quantity")     # what a yearly figure may be
RECORD_BASE_FIELDS = ("id", "date", "note")                          # every record has them
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class _Decl(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FieldDecl(_Decl):
    """One field as written in the schema file."""

    type: FieldType
    required: bool = False
    list: bool = False
    one_of: tuple[str, ...] | None = None
    min_length: int | None = Field(default=None, ge=1)
    unit: str | None = None
    zh: str | None = None
    en: str | None = None


class KindDecl(_Decl):
    zh: str | None = None
    en: str | None = None
    fields: dict[str, FieldDecl] = Field(default_factory=dict)
    achievement: tuple[str, ...] | None = None
    # Fields that, where a record gives them all, identify its achievement on their own, whatever its
    # other identity fields say (one geographical indication registered as a trademark and protected
    # as a product is one achievement: same ``indication``, different ``type``).
    same_achievement: tuple[str, ...] | None = None


class EnterpriseDecl(_Decl):
    fields: dict[str, FieldDecl]
    yearly: dict[str, FieldDecl] = Field(default_factory=dict)


class UnitDecl(_Decl):
    zh: str
    en: str | None = None


class SchemaFile(_Decl):
    version: Literal[1]
    units: dict[str, UnitDecl] = Field(default_factory=dict)
    enterprise: EnterpriseDecl
    records: dict[str, KindDecl]
    derived: dict[str, Any] = Field(default_factory=dict)     # name → expression (see incentives.derived)


# The condition type of each field type: how rules compare it (see rulebook._typed_value).
CONDITION_TYPES: dict[str, str] = {
    "money": "money", "rate": "rate", "date": "date", "bool": "bool", "text": "text", "term": "text",
    "credit_code": "text", "number": "number", "count": "number", "quantity": "number"}


@dataclass(frozen=True)
class FactsSchema:
    """A checked facts schema and the models built from it."""

    decl: SchemaFile
    path: str
    hash: str
    derived: dict[str, Derived] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def kinds(self) -> dict[str, KindDecl]:
        return self.decl.records

    @property
    def profile_fields(self) -> dict[str, FieldDecl]:
        return self.decl.enterprise.fields

    @property
    def figures(self) -> dict[str, FieldDecl]:
        return self.decl.enterprise.yearly

    def field(self, kind: str, name: str) -> FieldDecl | None:
        """The declaration of ``kind``'s field ``name`` (``kind`` "enterprise" for the profile)."""
        fields = self.profile_fields if kind == "enterprise" else self.kinds[kind].fields if kind in self.kinds else {}
        return fields.get(name)

    def condition_type(self, kind: str, name: str) -> str | None:
        """money | rate | date | bool | text | number | list, as conditions compare the field."""
        if kind != "enterprise" and name == "date":
            return "date"
        if kind != "enterprise" and name in ("id", "note", "kind"):
            return "text"
        decl = self.field(kind, name)
        if decl is None:
            return None
        return "list" if decl.list else CONDITION_TYPES[decl.type]

    def achievement(self, kind: str) -> tuple[str, ...]:
        return self.kinds[kind].achievement or ()

    @cached_property
    def term_fields(self) -> dict[str, tuple[str, str]]:
        """Vocabulary list name (``recognition.title``) → (kind or "enterprise", field) of each term field."""
        out = {f"enterprise.{name}": ("enterprise", name) for name, d in self.profile_fields.items() if d.type == "term"}
        for kind, decl in self.kinds.items():
            out |= {f"{kind}.{name}": (kind, name) for name, d in decl.fields.items() if d.type == "term"}
        return out

    @cached_property
    def record_fields(self) -> tuple[str, ...]:
        """Every field of every record kind, in the order the schema declares them (one register column each)."""
        return tuple(dict.fromkeys(name for decl in self.kinds.values() for name in decl.fields))

    @cached_property
    def column_types(self) -> dict[str, str]:
        """Register column → condition type, for reading cells (list, date, money, rate, bool, text, number)."""
        out = {name: ("list" if d.list else CONDITION_TYPES[d.type]) for name, d in self.profile_fields.items()}
        out |= {"date": "date"}
        for decl in self.kinds.values():
            out |= {name: CONDITION_TYPES[d.type] for name, d in decl.fields.items()}
        return out

    @cached_property
    def models(self) -> Models:
        with self._lock:
            cached = _MODELS.get(self.hash)
            if cached is None:
                cached = _MODELS[self.hash] = _build_models(self)
            return cached


@dataclass(frozen=True)
class Models:
    profile: type[BaseModel]
    yearly: type[BaseModel]
    records: dict[str, type[BaseModel]]
    enterprise: type[BaseModel]


_MODELS: dict[str, Models] = {}


# ------------------------------------------------------------------------------------ loading
def load_facts_schema(path: str | Path | None = None, text: str | None = None) -> FactsSchema:
    """Read and check a facts schema (default: the bundled one). Raises ``FactsSchemaError`` listing
    every problem of the file, each located ``file:line:col``."""
    path = Path(path) if path is not None else BUNDLED
    text = _yaml.read_text(path) if text is None else text
    digest = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    cached = _SCHEMAS.get((str(path), digest))
    if cached is not None:
        return cached
    schema, problems = inspect_facts_schema(path, text)
    if problems or schema is None:
        first = problems[0]
        more = f" (and {len(problems) - 1} more problem(s): see `incentives lint {path}`)" if len(problems) > 1 else ""
        raise FactsSchemaError(f"{first.field + ': ' if first.field else ''}{first.message}{more}",
                               problems=problems, location=first.location)
    _SCHEMAS[(str(path), digest)] = schema
    return schema


_SCHEMAS: dict[tuple[str, str], FactsSchema] = {}


def inspect_facts_schema(path: str | Path, text: str | None = None) -> tuple[FactsSchema | None, list[IncentivesError]]:
    """The schema as far as it can be read, and every problem in it (for lint: never stops early)."""
    text = _yaml.read_text(path) if text is None else text
    doc = _yaml.parse(text, str(path))
    problems: list[IncentivesError] = []

    def problem(key: tuple[Any, ...], message: str, code: str) -> None:
        problems.append(FactsSchemaError(message, location=doc.locate(key), field=_dotted(key), code=code))

    try:
        decl = SchemaFile.model_validate(doc.data)
    except ValidationError as e:
        for err in e.errors():
            key = tuple(err["loc"])
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = f"unknown key {str(key[-1])!r}"
            elif err["type"] == "missing":
                message = f"missing key {str(key[-1])!r}"
            problem(key, message, "schema")
        return None, problems
    _check(decl, problem)
    figures = {name: dimension(d.type, d.unit) for name, d in decl.enterprise.yearly.items()}
    derived, wrong = compile_derived(decl.derived, figures, doc)
    problems += wrong
    if problems:
        return None, problems
    return FactsSchema(decl=decl, path=str(path), hash="sha256:" + hashlib.sha256(text.encode()).hexdigest(),
                       derived=derived), []


def _check(decl: SchemaFile, problem: Any) -> None:
    """What the format alone cannot say: names, type options, achievements, one type per field name."""
    def fields(where: tuple[Any, ...], decls: Mapping[str, FieldDecl], reserved: tuple[str, ...] = ()) -> None:
        for name, d in decls.items():
            key = (*where, name)
            if not _NAME.match(name):
                problem(key, f"field name {name!r}: use lower-case letters, digits and _", "field-name")
            if name in reserved:
                problem(key, f"{name!r} is a field of every record: do not declare it", "field-name")
            if d.unit is not None and d.type != "quantity":
                problem((*key, "unit"), f"'unit' goes with type quantity, not {d.type}", "field-option")
            if d.type == "quantity" and d.unit is None:
                problem((*key, "type"), "a quantity needs its 'unit'", "field-option")
            if d.unit is not None and d.unit not in decl.units:
                problem((*key, "unit"), f"unknown unit {d.unit!r}; units: {', '.join(decl.units) or 'none declared'}",
                        "unknown-unit")
            for option, allowed in (("one_of", ("text", "term")), ("min_length", ("text", "term")),
                                    ("list", ("text", "term"))):
                if getattr(d, option) not in (None, False) and d.type not in allowed:
                    problem((*key, option), f"{option!r} goes with type {' or '.join(allowed)}, not {d.type}",
                            "field-option")

    fields(("enterprise", "fields"), decl.enterprise.fields)
    for needed, ftype in (("name", "text"), ("credit_code", "credit_code"), ("city", "text")):
        got = decl.enterprise.fields.get(needed)
        if got is None:
            problem(("enterprise", "fields"), f"the enterprise needs field {needed!r} ({ftype})", "field-missing")
        elif got.type != ftype or not got.required:
            problem(("enterprise", "fields", needed), f"{needed} must be a required {ftype}", "field-type")
    fields(("enterprise", "yearly"), decl.enterprise.yearly)
    for name, d in decl.enterprise.yearly.items():
        if d.type not in FIGURE_TYPES:
            problem(("enterprise", "yearly", name, "type"), f"a yearly figure is one of {', '.join(FIGURE_TYPES)}, "
                    f"not {d.type}", "field-type")
        if d.required:
            problem(("enterprise", "yearly", name, "required"), "a yearly figure cannot be required: "
                    "a year without it is simply unknown", "field-option")
    seen: dict[str, tuple[str, FieldDecl]] = {}
    for kind, k in decl.records.items():
        if not _NAME.match(kind):
            problem(("records", kind), f"record kind {kind!r}: use lower-case letters, digits and _", "kind-name")
        if kind == "enterprise":
            problem(("records", kind), "'enterprise' names the profile, not a record kind", "kind-name")
        fields(("records", kind, "fields"), k.fields, reserved=(*RECORD_BASE_FIELDS, "kind"))
        for name, d in k.fields.items():
            if d.type == "credit_code":
                problem(("records", kind, "fields", name, "type"), "credit_code is a type of the profile only",
                        "field-type")
            first = seen.setdefault(name, (kind, d))
            if (first[1].type, first[1].list, first[1].unit) != (d.type, d.list, d.unit):
                problem(("records", kind, "fields", name, "type"),
                        f"{name} is {d.type} here but {first[1].type} in {first[0]}: one field name has one type "
                        "(a register has one column per name)", "field-type")
        if k.achievement is not None:
            if not k.achievement:
                problem(("records", kind, "achievement"), "name at least one field, or leave 'achievement' out "
                        "(each record is then its own achievement)", "achievement")
        for key in ("achievement", "same_achievement"):
            names: tuple[str, ...] = getattr(k, key) or ()
            if key == "same_achievement" and k.same_achievement is not None and not names:
                problem(("records", kind, key), "name at least one field, or leave 'same_achievement' out",
                        "achievement")
            for n, name in enumerate(names):
                if name not in k.fields:
                    problem(("records", kind, key, n), f"{kind} has no field {name!r}; fields: "
                            f"{', '.join(k.fields)}", "achievement")
                elif names.index(name) != n:
                    problem(("records", kind, key, n), f"{name!r} is named twice", "achievement")


def _dotted(key: tuple[Any, ...]) -> str:
    return "".join(f"[{k}]" if isinstance(k, int) else (f".{k}" if n else str(k)) for n, k in enumerate(key))


def check_vocabulary_fields(schema: FactsSchema, terms: Mapping[str, Any], doc: _yaml.Document) -> list[IncentivesError]:
    """A vocabulary list must name a term field of the schema (or be ``payer``): a list for a field that
    does not exist checks nothing, so it is an error."""
    problems: list[IncentivesError] = []
    known = schema.term_fields
    for name in terms:
        if name == "payer" or name in known:
            continue
        kind, _, fname = name.partition(".")
        decl = schema.field(kind, fname) if fname else None
        if decl is not None:
            reason = f"{name} is {decl.type}, not a term: only term fields take a vocabulary list"
        else:
            reason = (f"no term field {name!r} in the facts schema ({Path(schema.path).name}); "
                      f"term fields: {', '.join(sorted(known))}")
        problems.append(FactsSchemaError(reason, location=doc.locate(("terms", name)), field=f"terms.{name}",
                                         code="unknown-field"))
    return problems


# ------------------------------------------------------------------------------------ models
def _quantity(unit: str, zh: str) -> Any:
    def parse(value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            for suffix in (unit, zh):
                if suffix and text.endswith(suffix):
                    text = text[: -len(suffix)].strip()
                    break
            try:
                return Decimal(text.replace(",", ""))
            except InvalidOperation:
                raise ValueError(f"cannot read {value!r} as a quantity in {zh or unit}") from None
        if isinstance(value, float):
            return Decimal(str(value))
        return value
    return parse


def _annotation(d: FieldDecl, units: Mapping[str, UnitDecl]) -> Any:
    from incentives.facts import validate_credit_code

    base: Any
    if d.one_of is not None:
        base = Literal[tuple(d.one_of)]
    elif d.type in ("text", "term"):
        base = str
    elif d.type == "credit_code":
        base = Annotated[str, AfterValidator(validate_credit_code)]
    elif d.type == "money":
        base = Money
    elif d.type == "rate":
        base = Rate
    elif d.type == "number":
        base = Decimal
    elif d.type == "count":
        base = Annotated[int, Field(ge=0)]
    elif d.type == "date":
        base = dt.date
    elif d.type == "bool":
        base = bool
    else:  # quantity
        assert d.unit is not None
        base = Annotated[Decimal, BeforeValidator(_quantity(d.unit, units[d.unit].zh))]
    return list[base] if d.list else base


def _field(d: FieldDecl, units: Mapping[str, UnitDecl]) -> tuple[Any, Any]:
    ann = _annotation(d, units)
    extra: dict[str, Any] = {}
    if d.min_length is not None:
        extra["min_length"] = d.min_length
    if d.zh or d.en:
        extra["description"] = " ".join(x for x in (d.zh, d.en) if x)
    if d.required:
        return ann, Field(**extra) if extra else ...
    return ann | None, Field(default=None, **extra)


def _class_name(kind: str) -> str:
    return "".join(part.capitalize() for part in kind.split("_"))


def _build_models(schema: FactsSchema) -> Models:
    from incentives.facts import EnterpriseBase, ProfileBase, RecordBase

    units = schema.decl.units
    module = "incentives.facts"
    make: Any = create_model   # its overloads cannot type fields built at run time
    profile = make("Profile", __base__=ProfileBase, __module__=module, __doc__=ProfileBase.__doc__,
                   **{n: _field(d, units) for n, d in schema.profile_fields.items()})
    yearly = make("Figures", __base__=_Frozen, __module__=module,
                  __doc__="An enterprise's figures of one year; each absent figure is unknown.",
                  **{n: _field(d, units) for n, d in schema.figures.items()})
    records: dict[str, type[BaseModel]] = {}
    for kind, k in schema.kinds.items():
        fields = {"kind": (Literal[kind], ...)} | {n: _field(d, units) for n, d in k.fields.items()}
        model = make(_class_name(kind), __base__=RecordBase, __module__=module, __doc__=k.en, **fields)
        model.achievement_fields = tuple(k.achievement or ())
        model.same_achievement_fields = tuple(k.same_achievement or ())
        records[kind] = model
    union: Any = Annotated[Union[tuple(records.values())], Field(discriminator="kind")]
    figures: Any = yearly
    enterprise = make("Enterprise", __base__=EnterpriseBase, __module__=module, __doc__=EnterpriseBase.__doc__,
                      profile=(profile, Field(alias="enterprise")),
                      records=(list[union], Field(default_factory=list)),
                      yearly=(dict[int, figures], Field(default_factory=dict)))
    enterprise.facts_schema = schema
    return Models(profile=profile, yearly=yearly, records=records, enterprise=enterprise)

