"""The 政策计算器 pages: a calculator built from the facts JSON Schema, the policy library, the budget.

Server-rendered (Jinja2) with one small script (``static/calculator.js``) that adds and removes record
rows and sends the form as a fact file; nothing to build. Chinese first; ``?lang=en`` switches to
English and every link keeps the choice.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.concurrency import run_in_threadpool

from incentives import Assessment, IncentivesError, Rulebook, SourceError, __version__, _yaml, assess, shipped_rules
from incentives.divisions import LEVELS
from incentives.errors import Location
from incentives.readings import parse_choices
from incentives.report import label, localized, money, percent
from incentives.schemas import schema
from incentives.service.live import LiveRulebook
from incentives.service.policies import place, policies

HERE = Path(__file__).resolve().parent
EXAMPLES = shipped_rules().parent / "examples" / "enterprises"
Lang = str

WORDS: dict[str, dict[str, str]] = {
    "zh": {"app": "惠企政策计算器", "calculator": "政策计算器", "library": "政策库", "budget": "资金测算",
           "switch": "English", "profile": "企业信息", "records": "认定、项目与其他记录", "add": "添加记录",
           "remove": "删除", "as_of": "评估日", "calculate": "计算", "upload": "或上传事实文件 (YAML/JSON)",
           "upload_button": "上传并计算", "example": "示例企业", "show": "查看", "total": "确定金额合计",
           "total_max": "含最高额合计", "awards": "可获奖励", "amount": "金额", "payers": "承担",
           "clause": "条款", "quote": "政策原文", "not_eligible": "不符合的规则", "undetermined": "待补充事实的规则",
           "reasons": "原因", "missing": "缺少的事实", "rule": "规则", "record": "记录", "none": "无",
           "rulebook": "规则库", "document": "文件", "issuer": "发文单位", "effective": "有效期",
           "departments": "责任部门", "department": "受理部门", "materials": "申报材料", "contact": "咨询电话", "deadlines": "兑现时限", "level": "层级", "city": "城市", "all": "全部",
           "province_level": "省级", "city_level": "市级", "county_level": "县级", "filter": "筛选",
           "budget_intro": "上传批量测算产生的 summary.json，按县、规则和承担方显示资金需求。",
           "show_budget": "显示图表", "by_county": "按县", "by_rule": "按规则", "by_payer": "按承担方",
           "determined": "确定金额", "ceiling": "最高额", "enterprises": "企业", "errors": "错误",
           "back": "返回修改", "choose": "请选择", "unknown": "未知", "yes": "是", "no": "否",
           "list_hint": "多项以逗号分隔", "more": "其他事实 (JSON)", "problem": "输入有误", "kind": "记录类型", "key": "年度", "add_key": "添加年度",
           "administrative": "其他", "up_to": "最高", "basis": "计算",
           "readings": "政策解读", "default": "默认",
           "readings_hint": "政策原文可作不同理解之处：每处选一种解读，按所选解读计算（默认即规则文件所写）。"},
    "en": {"app": "Enterprise incentive calculator", "calculator": "Calculator", "library": "Policy library",
           "budget": "Budget", "switch": "中文", "profile": "Enterprise", "records": "Recognitions, projects and other records",
           "add": "Add record", "remove": "Remove", "as_of": "As of", "calculate": "Calculate",
           "upload": "or upload a fact file (YAML/JSON)", "upload_button": "Upload and calculate",
           "example": "Example enterprises", "show": "Show", "total": "Total (determined)",
           "total_max": "Total (with ceilings)", "awards": "Awards", "amount": "Amount", "payers": "Payers",
           "clause": "Clause", "quote": "Policy text", "not_eligible": "Rules not met",
           "undetermined": "Rules needing more facts", "reasons": "Why not", "missing": "Missing facts",
           "rule": "Rule", "record": "Record", "none": "none", "rulebook": "Rulebook", "document": "Document",
           "issuer": "Issuer", "effective": "In force", "departments": "Departments", "department": "Where to apply", "materials": "Documents to submit",
           "contact": "Contact", "deadlines": "Time limits",
           "level": "Level", "city": "City", "all": "all", "province_level": "province", "city_level": "city",
           "county_level": "county", "filter": "Filter",
           "budget_intro": "Upload the summary.json of a batch run to see the money needed by county, rule and payer.",
           "show_budget": "Show charts", "by_county": "By county", "by_rule": "By rule", "by_payer": "By payer",
           "determined": "determined", "ceiling": "ceiling", "enterprises": "enterprises", "errors": "errors",
           "back": "Back to the form", "choose": "choose", "unknown": "unknown", "yes": "yes", "no": "no",
           "list_hint": "separate several with commas", "more": "Further facts (JSON)", "problem": "Bad input",
           "kind": "Kind of record", "key": "Year", "add_key": "Add a year", "administrative": "Other", "up_to": "up to", "basis": "Basis",
           "readings": "Readings of the policy texts", "default": "default",
           "readings_hint": "Where a policy text can be read more than one way: choose one reading of each; the "
                            "result follows it (the default is the rules as written)."},
}

# Labels only: the fields come from the facts JSON Schema, whose descriptions name each field in Chinese
# and English; these name the few the schema leaves bare (every record's id, date and note) and the kinds.
FIELD_ZH = {"id": "记录编号", "date": "日期", "note": "备注"}
KIND_ZH = {"recognition": "认定称号", "quality_award": "质量奖", "trademark": "商标", "standard": "标准",
           "project": "项目", "listing": "上市", "bond": "债券", "statistics": "统计", "training": "培训",
           "rd_investment": "研发投入", "award_received": "已获奖励"}


@dataclass
class Field:
    """One input of the form, read from the facts JSON Schema."""

    name: str
    label: str
    input: str                      # text | date | select | bool | list | money | json
    required: bool
    options: list[tuple[str, str]] = field(default_factory=list)
    hint: str = ""


@dataclass
class Kind:
    name: str
    label: str
    fields: list[Field]


@dataclass
class Choice:
    """A reading of the served rules (``incentives.readings``) that a person may choose on the calculator."""

    id: str
    question: str
    options: list[tuple[str, str]]  # (option, its note)
    default: str
    chosen: str                     # the option in force in the rules served


def reading_choices(book: Rulebook, lang: Lang) -> list[Choice]:
    """Every reading of the served rules, file by file, with the option in force selected."""
    in_force = book.readings_in_force()
    return [Choice(name, reading.question.in_lang(lang),
                   [(option, o.note_in(lang)) for option, o in reading.options.items()], reading.default,
                   in_force.get(name, reading.default))
            for _, loaded in sorted(book.files.items()) for name, reading in loaded.model.readings.items()]


def _cities_with_rules(book: Rulebook) -> list[str]:
    """The cities whose enterprises some rule file covers: by its province's, its own or a county's file."""
    table = book.divisions.by_id
    paying = {k for k, f in book.files.items() if f.rules}
    cities = {d.id for d in table.values() if d.level == "city"
              and (paying & set(book.covering(d.id)) or any(table[k].parent == d.id for k in paying if k in table))}
    cities |= {k for k in paying if k not in table}     # a file keyed by a city the table lacks (city: x)
    return sorted(cities)


def form_fields(facts_schema: dict[str, Any], book: Rulebook,
                lang: Lang) -> tuple[list[Field], list[Kind], list[Kind], list[Field]]:
    """From the schema: the profile's fields, each record kind's fields, the keyed maps (yearly figures:
    one row per year) and any other top-level facts."""
    defs = facts_schema.get("$defs", {})
    cities = {"enterprise.city": {city: city for city in _cities_with_rules(book)}}

    def deref(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = defs[node["$ref"].rsplit("/", 1)[-1]]
        return node

    def fields_of(obj: dict[str, Any], vocabulary_prefix: str, skip: set[str]) -> list[Field]:
        required = set(obj.get("required", []))
        out = []
        for name, prop in obj.get("properties", {}).items():
            if name in skip:
                continue
            terms = book.vocabulary.terms.get(f"{vocabulary_prefix}.{name}") or cities.get(f"{vocabulary_prefix}.{name}")
            out.append(_field(name, deref(prop), name in required, terms, lang, deref))
        return out

    root = deref(facts_schema)
    profile: list[Field] = []
    kinds: list[Kind] = []
    maps: list[Kind] = []
    others: list[Field] = []
    for name, prop in root.get("properties", {}).items():
        node = deref(prop)
        if node.get("type") == "object" or "properties" in node:
            if not profile:
                profile = fields_of(node, "enterprise", set())
                continue
        items = node.get("items")
        variants = (items or {}).get("oneOf") or (items or {}).get("anyOf") if isinstance(items, dict) else None
        if node.get("type") == "array" and variants:
            for variant in variants:
                record = deref(variant)
                kind = record.get("properties", {}).get("kind", {}).get("const")
                if kind:
                    label = KIND_ZH.get(kind, kind) if lang == "zh" else record.get("title", kind)
                    kinds.append(Kind(kind, label, fields_of(record, kind, {"kind"})))
            continue
        values = node.get("additionalProperties")
        if isinstance(values, dict) and "properties" in deref(values):   # {key: {figure: value}}, e.g. yearly
            maps.append(Kind(name, _label(name, node, lang), fields_of(deref(values), name, set())))
            continue
        others.append(Field(name, _label(name, node, lang), "json", name in root.get("required", [])))
    return profile, kinds, maps, others


def _field(name: str, prop: dict[str, Any], required: bool, terms: Any, lang: Lang, deref: Any) -> Field:
    variants = [deref(v) for v in prop.get("anyOf", [prop])]
    types = {v.get("type") for v in variants} - {"null"}
    real = [v for v in variants if v.get("type") != "null"]
    label = _label(name, prop, lang)
    w = WORDS[lang]
    if terms:
        options = [(term, f"{zh} ({term})" if lang == "zh" else term) for term, zh in terms.items()]
        if any(v.get("type") == "array" for v in real):
            return Field(name, label, "list", required, options, w["list_hint"])
        return Field(name, label, "select", required, options)
    enum = next((v["enum"] for v in real if "enum" in v), None)
    if enum:
        return Field(name, label, "select", required, [(str(e), str(e)) for e in enum])
    if types == {"boolean"}:
        return Field(name, label, "bool", required)
    if any(v.get("format") == "date" for v in real):
        return Field(name, label, "date", required)
    if types >= {"number", "string"} or types >= {"integer", "string"}:
        return Field(name, label, "money", required, hint="300000 / 30万元")
    if types == {"array"}:
        return Field(name, label, "list", required, hint=w["list_hint"])
    if types <= {"string", "integer", "number"}:
        return Field(name, label, "text", required)
    return Field(name, label, "json", required)


_BILINGUAL = re.compile(r"^([^\x00-\x7f][^ ]*)\s+(.+)$")   # "所在县（市、区） county or district"


def _label(name: str, node: dict[str, Any], lang: Lang) -> str:
    """The field's own name from the schema's description (Chinese, then English), else a known one."""
    found = _BILINGUAL.match(str(node.get("description") or ""))
    if found:
        return found.group(1) if lang == "zh" else found.group(2)
    if lang == "zh" and name in FIELD_ZH:
        return FIELD_ZH[name]
    return str(node.get("title") or name.replace("_", " "))


def _lang(request: Request) -> Lang:
    return "en" if request.query_params.get("lang") == "en" else "zh"


def mount(app: FastAPI, live: LiveRulebook) -> None:
    """Add the pages (``/``, ``/calculate``, ``/policies``, ``/budget``) and ``/static`` to ``app``."""
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals.update(money=money, percent=percent, label=label, version=__version__)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    def page(request: Request, name: str, status: int = 200, **context: Any) -> Response:
        lang = _lang(request)
        loaded = live.current
        result = context.get("result")
        request.state.rulebook_hash = result.rulebook_hash if isinstance(result, Assessment) else loaded.book.hash
        if lang == "zh" and isinstance(result, Assessment):   # reasons and conflicts in Chinese
            context["result"] = localized(result, "zh", loaded.book)
        return templates.TemplateResponse(request, name, {"w": WORDS[lang], "lang": lang, "book": loaded.book,
                                                          "readings": reading_choices(loaded.book, lang),
                                                          "suffix": "?lang=en" if lang == "en" else "", **context},
                                          status_code=status)

    def calculator(request: Request, problem: str | None = None, status: int = 200) -> Response:
        lang = _lang(request)
        profile, kinds, maps, others = form_fields(schema("facts", live.current.book.facts), live.current.book, lang)
        examples = sorted(p.stem for p in EXAMPLES.glob("*.yaml")) if EXAMPLES.is_dir() else []
        return page(request, "calculator.html", status, profile=profile, kinds=kinds, maps=maps, others=others,
                    examples=examples, today=dt.date.today().isoformat(), problem=problem)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def home(request: Request) -> Response:
        return calculator(request)

    @app.post("/calculate", response_class=HTMLResponse, include_in_schema=False)
    async def calculate(request: Request) -> Response:
        form = await request.form()
        as_of = _date(str(form.get("as_of") or "")) or dt.date.today()
        upload = form.get("facts_file")
        if upload is not None and not isinstance(upload, str) and upload.filename:
            body, yaml_body = await upload.read(), True
        else:
            body, yaml_body = str(form.get("facts") or "").encode("utf-8"), False
        from incentives.service.app import _placed

        loaded = live.current
        try:
            choices = parse_choices([str(v) for v in form.getlist("reading")], "form.reading")
            result = await run_in_threadpool(
                lambda: assess(_placed(body, loaded.book, yaml_body), loaded.book, as_of, readings=choices))
        except IncentivesError as e:
            return calculator(request, problem=str(e), status=422)
        return page(request, "result.html", result=result)

    @app.get("/example/{name}", response_class=HTMLResponse, include_in_schema=False)
    async def example(request: Request, name: str, as_of: str = "", reading: list[str] = Query(default=[])) -> Response:
        path = EXAMPLES / f"{name}.yaml"
        if not name.replace("-", "").isalnum() or not path.is_file():
            return calculator(request, problem=f"no example {name!r}", status=404)
        from incentives.service.app import _enterprise

        loaded = live.current
        day = _date(as_of) or dt.date.today()
        try:
            choices = parse_choices(reading, "query.reading")
            result = await run_in_threadpool(
                lambda: assess(_enterprise(path.read_bytes(), loaded.book, True), loaded.book, day, readings=choices))
        except IncentivesError as e:
            return calculator(request, problem=str(e), status=422)
        return page(request, "result.html", result=result)

    @app.get("/policies", response_class=HTMLResponse, include_in_schema=False)
    async def library(request: Request, city: str | None = None, level: str | None = None) -> Response:
        book = live.current.book
        problem = None
        try:   # a city by its name (廊坊市) or its file; one the library does not hold is said, not listed as empty
            city = place(book, city) if city else None
            if level and level not in LEVELS:
                raise IncentivesError(f"unknown level {level!r}: province, city or county", field="level")
        except IncentivesError as e:
            problem, city, level = str(e), None, None
        listing = policies(book, city=city, level=level or None)
        return page(request, "policies.html", status=422 if problem else 200, listing=listing,
                    cities=sorted(book.files), city=city or "", level=level or "", problem=problem)

    @app.get("/budget", response_class=HTMLResponse, include_in_schema=False)
    async def budget_form(request: Request) -> Response:
        return page(request, "budget.html", summary=None, charts=[], problem=None)

    @app.post("/budget", response_class=HTMLResponse, include_in_schema=False)
    async def budget(request: Request) -> Response:
        form = await request.form()
        upload = form.get("summary")
        text = (await upload.read()).decode("utf-8", "replace") if upload is not None and not isinstance(upload, str) \
            else str(upload or "")
        try:
            summary = _summary(text)
        except IncentivesError as e:
            return page(request, "budget.html", status=422, summary=None, charts=[], problem=str(e))
        total = summary.get("total") or {}
        return page(request, "budget.html", summary=summary, charts=budget_charts(summary, _lang(request)),
                    problem=None, total=Decimal(str(total.get("amount", 0))),
                    total_max=Decimal(str(total.get("amount_max", 0))))


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


class _Line(BaseModel):
    """What the budget page reads of one line of a summary (a county, rule or payer, or the total)."""

    model_config = ConfigDict(extra="allow")
    amount: Decimal = Decimal(0)
    amount_max: Decimal = Decimal(0)
    awards: int = 0
    city: str = ""
    county: str = ""
    title: str = ""
    title_en: str = ""


class _Summary(BaseModel):
    model_config = ConfigDict(extra="allow")
    by_county: dict[str, _Line]
    by_rule: dict[str, _Line]
    by_payer: dict[str, _Line]
    total: _Line


def _summary(text: str) -> dict[str, Any]:
    data = _yaml.parse_json(text, "summary.json")
    if not isinstance(data, dict) or not all(k in data for k in ("by_county", "by_rule", "by_payer", "total")):
        raise SourceError("not a batch summary.json (no by_county, by_rule, by_payer or total)",
                          location=Location("summary.json"))
    try:   # the lines the page draws, of the types a batch writes (a wrong one was an internal error)
        _Summary.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        raise SourceError(f"not a batch summary.json: {first['msg']}", location=Location("summary.json"),
                          field=".".join(str(p) for p in first["loc"])) from e
    return data


@dataclass
class Bar:
    label: str
    amount: Decimal
    amount_max: Decimal
    awards: int
    width: float            # of the determined amount, in % of the widest bar
    width_max: float


def budget_charts(summary: dict[str, Any], lang: Lang) -> list[tuple[str, list[Bar]]]:
    """Bars of the determined amount and the ceiling, by county, rule and payer, widest first."""
    w = WORDS[lang]
    charts = []
    for key, title in (("by_county", w["by_county"]), ("by_rule", w["by_rule"]), ("by_payer", w["by_payer"])):
        entries = summary.get(key) or {}
        rows = []
        for name, entry in entries.items():
            if key == "by_county":
                label = f"{entry.get('city', '')} {entry.get('county', name)}".strip()
            elif key == "by_rule":
                label = f"{name} {entry.get('title' if lang == 'zh' else 'title_en', '')}".strip()
            else:
                label = name
            rows.append((label, Decimal(str(entry.get("amount", 0))), Decimal(str(entry.get("amount_max", 0))),
                         int(entry.get("awards", 0))))
        rows.sort(key=lambda r: (-r[2], r[0]))
        top = max((r[2] for r in rows), default=Decimal(0)) or Decimal(1)
        charts.append((title, [Bar(label, a, m, n, float(a / top * 100), float(m / top * 100))
                               for label, a, m, n in rows]))
    return charts
