"""Synthetic registers: plausible enterprises and records of a city, reproducible from a seed.

Profiles carry valid unified social credit codes (GB 32100, with the GB 11714 organisation code
inside), counties and clusters named in the policy texts under ``sources/``, mostly small and micro
sizes and industries from the vocabulary. Records are of the kinds and terms the city's rules reward,
read from the loaded rulebook so the register stays in step with it, dated over the rules' windows
and a little outside, with long-tailed money (odd fen included) and some facts left absent. A city
without a rule file gets records of the kinds the other cities reward.

The same seed gives the same enterprises, and ``write_register`` the same bytes, in every format.
Both stream: memory does not grow with ``n``.

>>> first = next(synthesize("langfang", 1, seed=7, rulebook=load_rulebook("rules")))  # doctest: +SKIP
>>> first["enterprise"]["county"]                                                      # doctest: +SKIP
'香河县'
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import random
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Iterator

from incentives._output import writing
from incentives._tabular import (COLUMN_TYPES, ENTERPRISE_COLUMNS, RECORD_COLUMNS, XLSX_MAX_ROWS, SheetRows,
                                 deterministic_xlsx, header_workbook, require)
from incentives.batch import parse_date, positive
from incentives.errors import IncentivesError, Location, SourceError
from incentives.facts import RECORD_MODELS, credit_code_check_digit
from incentives.rulebook import CompiledRule, Rulebook, load_rulebook
from incentives.shipped import command_rules, default_rules
from incentives.vocabulary import Vocabulary

Facts = dict[str, Any]   # one enterprise in the facts format: {"enterprise": {...}, "records": [...]}

# County → (administrative division code, [(cluster, industries it may belong to)]). Counties and
# clusters are those the policy texts name (sources/*.txt) or the examples use; the industries are
# tried in order against the vocabulary, so a term the vocabulary lacks is skipped.
_EQ, _BM, _IT, _BIO, _FOOD, _TRAD, _CHEM, _TEX = (
    "equipment_manufacturing", "building_materials", "new_generation_it", "biomedicine", "food", "traditional",
    "chemicals", "textiles_apparel")
COUNTIES: dict[str, dict[str, tuple[str, list[tuple[str, tuple[str, ...]]]]]] = {
    "langfang": {  # 廊政办规〔2025〕5号 and examples/enterprises
        "香河县": ("131024", [("香河智慧家居", ("smart_home",))]),
        "文安县": ("131026", [("文安绿色低碳建材(人造板)", (_BM,))]),
        "大城县": ("131025", [("大城绝热节能材料", (_BM,))]),
        "永清县": ("131023", [("永清通用机械零部件", (_EQ,))]),
        "大厂回族自治县": ("131028", [("大厂都市食品", (_FOOD,))]),
        "固安县": ("131022", []),
    },
    "cangzhou": {  # the 45 county cluster plans attached to 沧政办规〔2022〕13号
        "黄骅市": ("130983", [("黄骅化工", (_CHEM, _TRAD)), ("黄骅模具", (_EQ,)), ("黄骅汽车及零部件", (_EQ,)),
                           ("黄骅五金", (_TRAD,))]),
        "任丘市": ("130982", [("任丘新型建材", (_BM,)), ("任丘电子通讯设备", (_IT,)), ("任丘合金制品", (_TRAD,)),
                           ("任丘交通设备", (_EQ,)), ("任丘电力设备制造", (_EQ,)), ("任丘橡胶塑料制品", (_CHEM, _TRAD)),
                           ("任丘石油化工", (_CHEM, _TRAD))]),
        "河间市": ("130984", [("河间电线电缆", (_TRAD,)), ("河间保温材料", (_BM,)), ("河间工艺玻璃", (_TRAD,)),
                           ("河间汽车配件", (_EQ,)), ("河间再制造", (_EQ,))]),
        "泊头市": ("130981", [("泊头环保设备", (_EQ,)), ("泊头汽车模具", (_EQ,)), ("泊头铸造", (_EQ, _TRAD))]),
        "肃宁县": ("130926", [("肃宁电器电料", (_TRAD,)), ("肃宁皮革皮毛", (_TEX, _TRAD)), ("肃宁食品加工", (_FOOD,)),
                           ("肃宁针纺", (_TEX, _TRAD))]),
        "献县": ("130929", [("献县汽车后市场", (_TRAD,)), ("献县建仪建材", (_BM,)), ("献县扣件铸造", (_TRAD,)),
                          ("献县食品饮品", (_FOOD,))]),
        "吴桥县": ("130928", [("吴桥杂技文化旅游", ())]),
        "东光县": ("130923", [("东光化工", (_CHEM, _TRAD)), ("东光包装机械", (_EQ,)), ("东光塑料包装", (_TRAD,))]),
        "南皮县": ("130927", [("南皮五金机电", (_EQ, _TRAD))]),
        "青县": ("130922", [("青县食品饮料", (_FOOD,)), ("青县石油器材", (_EQ,)), ("青县电子机箱", (_IT,))]),
        "沧县": ("130921", [("沧县药包材及包装印刷", (_BIO, _TRAD)), ("沧县红枣及食品加工", (_FOOD,)),
                          ("沧县机械制造", (_EQ,)), ("沧县管件与铸造", (_TRAD,)), ("沧县电子设备", (_IT,)),
                          ("沧县时尚服装服饰", (_TEX, _TRAD))]),
        "孟村回族自治县": ("130930", [("孟村弯头管件", (_TRAD,))]),
        "盐山县": ("130925", [("盐山管道装备", (_EQ,))]),
        "海兴县": ("130924", [("海兴体育器材", (_TRAD,)), ("海兴鱼子鱼粉", (_FOOD,))]),
    },
    "shijiazhuang": {  # the 领跑者 plan as reported (sources/shijiazhuang-leader-report.txt)
        "鹿泉区": ("130110", [("鹿泉新一代电子信息", (_IT,))]),
        "栾城区": ("130111", [("栾城装备制造", (_EQ,))]),
        "元氏县": ("130132", [("元氏装备制造", (_EQ,))]),
        "藁城区": ("130109", [("藁城医药", (_BIO,))]),
        "正定县": ("130123", []),
        "深泽县": ("130128", []),
    },
}
CITIES = tuple(COUNTIES)

_SIZES = (("micro", 45), ("small", 35), ("medium", 14), ("large", 4), (None, 2))
_RECORDS_PER_ENTERPRISE = (78, 12, 5, 2.5, 1.3, 0.7, 0.5)   # weights of 0..6 records: most get none
_KIND_WEIGHT = {"statistics": 8, "project": 6, "training": 5, "recognition": 4, "trademark": 2,
                "standard": 2, "quality_award": 0.5, "award_received": 1.5, "listing": 0.6, "bond": 0.5,
                "rd_investment": 2}
_LEVEL_WEIGHT = {"national": 0.25, "international": 0.2, "provincial": 0.6}
# Median (yuan) and spread of each money fact; the lognormal gives the long tail.
_MONEY = {"investment": (1_200_000, 1.2), "equipment_purchase": (3_000_000, 1.2), "fee": (30_000, 0.9),
          "fees": (30_000, 0.8), "amount": (400_000, 1.0)}
_OPTIONAL_SHARE = 0.35   # how often an optional fact no rule needs is given
_BASE_ABSENT = 0.08      # how often the fact an amount is computed from is missing
_NEAR_MISS = 0.1         # how often one rewarded term is swapped for another of the same field
_TRADE = "华泰鑫恒盛达瑞宏昌源嘉丰新博远通利德信康宇天金永隆兴安和润"
_PRODUCT = {"smart_home": "家居", "building_materials": "建材", "new_generation_it": "电子", "biomedicine": "医药",
            "food": "食品", "traditional": "制品", "equipment_manufacturing": "机械", "chemicals": "化工",
            "textiles_apparel": "纺织", "steel": "钢铁"}
_ORG_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def org_code_check_digit(first8: str) -> str:
    """The 9th character of an organisation code (GB 11714) from the first 8."""
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    total = sum((int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(first8, weights))
    digit = 11 - total % 11
    return {10: "X", 11: "0"}.get(digit, str(digit))


def credit_code(division: str, serial: int, salt: int) -> str:
    """A valid unified social credit code of an enterprise (91…) registered in ``division``.

    ``serial`` is spread over the 6 free characters by a bijection, so distinct serials never collide.
    """
    n = (serial * 387_420_489 + salt) % 31 ** 6   # 3**18 is coprime with 31**6
    body = ""
    for _ in range(6):
        n, r = divmod(n, 31)
        body = _ORG_CHARS[r] + body
    org = "MA" + body
    first17 = "91" + division + org + org_code_check_digit(org)
    return first17 + credit_code_check_digit(first17)


@dataclass(frozen=True)
class _Spec:
    """A kind of record some rule rewards: its terms, its window, the money fact it is priced on."""

    kind: str
    terms: tuple[tuple[str, tuple[Any, ...]], ...]
    start: dt.date
    end: dt.date
    base: str | None
    weight: float


def _specs(rules: Iterable[CompiledRule]) -> list[_Spec]:
    specs: dict[tuple[Any, ...], _Spec] = {}
    for rule in rules:
        rewards = rule.rule.rewards
        kind = str(rewards["kind"])
        terms = tuple((k, tuple(v) if isinstance(v, list) else (v,)) for k, v in rewards.items() if k != "kind")
        window = rule.window
        end = window.end or dt.date(window.start.year + 4, window.start.month, min(window.start.day, 28))
        base = rule.rule.amount.base_fact
        weight = _KIND_WEIGHT.get(kind, 1.0) * _rarity(rule)
        for _, values in terms:
            weight *= max((_LEVEL_WEIGHT.get(str(v), 1.0) for v in values), default=1.0)
        key = (kind, terms, window.start, end)
        if key not in specs:
            specs[key] = _Spec(kind, terms, window.start, end, base.partition(".")[2] if base else None, weight)
    return list(specs.values())


def _rarity(rule: CompiledRule) -> float:
    """Dearer achievements are rarer: 1 up to 10万元, then falling in proportion to the amount."""
    amount = rule.rule.amount
    top = amount.fixed or amount.up_to or amount.cap
    return 1.0 if top is None or top <= 100_000 else 100_000 / float(top)


def _money(rng: random.Random, name: str) -> str:
    median, sigma = _MONEY.get(name, (500_000, 1.0))
    yuan = rng.lognormvariate(math.log(median), sigma)
    if rng.random() < 0.3:   # a round number of 万元
        return str(max(1, round(yuan / 10_000)) * 10_000)
    fen = max(1, round(yuan * 100))
    return f"{fen // 100}.{fen % 100:02d}"


def _value(rng: random.Random, vocab: Vocabulary, kind: str, name: str) -> Any:
    ftype = COLUMN_TYPES.get(name, "text")
    if ftype == "bool":
        return rng.random() < 0.6
    if ftype == "money":
        return _money(rng, name)
    if ftype == "rate":
        return f"{rng.uniform(0.005, 0.08):.4f}"
    if ftype == "number":
        return rng.randint(1, 500)
    terms = list(vocab.terms.get(f"{kind}.{name}", {}))
    return rng.choice(terms) if terms else None


def _date(rng: random.Random, spec: _Spec, as_of: dt.date | None) -> dt.date:
    """Mostly inside the window, some before it opens or after it closes; never after ``as_of``."""
    end = min(spec.end, as_of) if as_of else spec.end
    draw = rng.random()
    if draw < 0.06 and (as_of is None or spec.end < as_of):     # after the window closes
        return min(spec.end + dt.timedelta(days=rng.randint(1, 180)), as_of or dt.date.max)
    if draw < 0.16 or end < spec.start:                          # before it opens
        return min(spec.start - dt.timedelta(days=rng.randint(1, 365)), end)
    return spec.start + dt.timedelta(days=rng.randint(0, (end - spec.start).days))


def _record(rng: random.Random, vocab: Vocabulary, spec: _Spec, as_of: dt.date | None) -> dict[str, Any]:
    record: dict[str, Any] = {"kind": spec.kind, "date": _date(rng, spec, as_of)}
    terms = dict(spec.terms)
    for name, info in RECORD_MODELS[spec.kind].model_fields.items():
        if name in ("id", "kind", "date", "note"):
            continue
        if name in terms:
            value = rng.choice(terms[name])
        elif info.is_required() or (rng.random() < (1 - _BASE_ABSENT if name == spec.base else _OPTIONAL_SHARE)):
            value = _value(rng, vocab, spec.kind, name)
        else:
            continue
        if value is not None:
            record[name] = value
    swappable = [n for n in terms
                 if isinstance(record.get(n), str) and len(vocab.terms.get(f"{spec.kind}.{n}", {})) > 1]
    if swappable and rng.random() < _NEAR_MISS:
        name = rng.choice(swappable)
        record[name] = rng.choice([t for t in vocab.terms[f"{spec.kind}.{name}"] if t != record[name]])
    return record


def _profile(rng: random.Random, city: str, serial: int, salt: int, vocab: Vocabulary) -> dict[str, Any]:
    counties = COUNTIES[city]
    names = list(counties)
    county = rng.choices(names, weights=[1 + 2 * len(counties[c][1]) for c in names])[0]
    division, clusters = counties[county]
    industries = [t for t in vocab.terms.get("enterprise.industries", {})]
    draw = rng.random()
    member = clusters and draw < 0.75
    if member:
        cluster, wanted = rng.choice(clusters)
        profile_clusters: list[str] | None = [cluster]
        industry = next((t for t in wanted if t in industries), None)
    else:
        profile_clusters = None if draw > (0.9 if clusters else 0.8) else []
        industry = rng.choice(industries) if industries else None
    size = rng.choices([s for s, _ in _SIZES], weights=[w for _, w in _SIZES])[0]
    short = county
    for suffix in ("回族自治县", "县", "市", "区"):
        if county.endswith(suffix) and len(county) - len(suffix) >= 2:
            short = county[: -len(suffix)]
            break
    name = (short + rng.choice(_TRADE) + rng.choice(_TRADE) + _PRODUCT.get(industry or "", "实业")
            + ("股份有限公司" if size == "large" else rng.choice(("有限公司", "科技有限公司"))))
    profile: dict[str, Any] = {"name": name, "credit_code": credit_code(division, serial, salt), "city": city}
    if rng.random() > 0.03:
        profile["county"] = county
    if profile_clusters is not None:
        profile["clusters"] = profile_clusters
    if industry is not None and rng.random() > 0.2:
        profile["industries"] = [industry]
    if size is not None:
        profile["size"] = size
    return profile


def synthesize(city: str, n: int, seed: int, rulebook: Rulebook | None = None,
               as_of: dt.date | None = None) -> Iterator[Facts]:
    """``n`` enterprises of ``city`` (or ``"all"``: every known city), the same for the same seed.

    Each is a dict in the facts format (``Enterprise.model_validate`` reads it): money as decimal
    strings, dates as ``datetime.date``, none after ``as_of`` if given (a register drawn up that
    day). ``rulebook`` defaults to ``rules/`` of the working directory.
    """
    if city != "all" and city not in COUNTIES:
        raise IncentivesError(f"no county table for city {city!r}: use one of {', '.join(CITIES)} or all")
    book = rulebook or load_rulebook(default_rules())
    cities = CITIES if city == "all" else (city,)
    specs = {c: _specs(book.rules_for(c)) or _specs(book.rules) for c in cities}
    rng = random.Random(seed)
    salt = rng.randrange(31 ** 6)
    city_weights = [sum(1 + len(v[1]) for v in COUNTIES[c].values()) for c in cities]
    for serial in range(n):
        home = rng.choices(cities, weights=city_weights)[0] if len(cities) > 1 else cities[0]
        profile = _profile(rng, home, serial, salt, book.vocabulary)
        count = rng.choices(range(len(_RECORDS_PER_ENTERPRISE)), weights=_RECORDS_PER_ENTERPRISE)[0]
        pool = specs[home]
        chosen = rng.choices(pool, weights=[s.weight for s in pool], k=count) if pool else []
        records = [_record(rng, book.vocabulary, spec, as_of) for spec in chosen]
        records.sort(key=lambda r: r["date"])
        for i, record in enumerate(records, 1):
            record["id"] = f"r{i}"
        yield {"enterprise": profile, "records": [{"id": r.pop("id"), **r} for r in records]}


# ------------------------------------------------------------------------------------ writing
def _text_cell(name: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(value) if value else ";"   # a lone separator: known to be none
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _rows(item: Facts) -> tuple[list[Any], list[list[Any]]]:
    profile = item["enterprise"]
    code = profile.get("credit_code")
    enterprise = [profile.get(c) for c in ENTERPRISE_COLUMNS]
    records = [[code, r.get("id"), *(r.get(c) for c in RECORD_COLUMNS[2:])] for r in item.get("records", [])]
    return enterprise, records


class _TableWriter:
    """One table of a register in one format; CSV and Parquet stream to their own file."""

    def __init__(self, path: Path, fmt: str, columns: tuple[str, ...], sheet: str | None = None) -> None:
        self.path, self.fmt, self.columns, self.sheet = path, fmt, columns, sheet
        self.rows = 0
        self.buffer: list[list[Any]] = []
        if fmt == "csv":
            self.file: Any = open(path, "w", newline="", encoding="utf-8")
            self.csv = csv.writer(self.file)
            self.csv.writerow(columns)
        elif fmt == "parquet":
            pa, pq = require("pyarrow"), require("pyarrow.parquet")
            types = {"list": pa.list_(pa.string()), "date": pa.date32(), "bool": pa.bool_(),
                     "money": pa.decimal128(38, 2), "rate": pa.decimal128(38, 6)}
            self.schema = pa.schema([(c, types.get(COLUMN_TYPES.get(c, "text"), pa.string())) for c in columns])
            self.file = pq.ParquetWriter(path, self.schema)
        else:
            # the header by openpyxl at the end (header_workbook), the rows by SheetRows (18 times faster)
            self.spool = SheetRows(path.with_name(f"{path.name}.{sheet}.rows"), path)

    def write(self, row: list[Any]) -> None:
        self.rows += 1
        if self.fmt == "csv":
            self.csv.writerow([_text_cell(c, v) for c, v in zip(self.columns, row)])
        elif self.fmt == "xlsx":
            if self.rows > XLSX_MAX_ROWS:
                raise SourceError(f"more than {XLSX_MAX_ROWS} rows do not fit in one xlsx sheet: use csv or parquet",
                                  location=Location(str(self.path)))
            self.spool.write([[_text_cell(c, v) or None for c, v in zip(self.columns, row)]])  # None: no cell
        else:
            self.buffer.append(row)
            if len(self.buffer) >= 10_000:
                self.flush()

    def flush(self) -> None:
        if self.fmt != "parquet" or not self.buffer:
            return
        pa = require("pyarrow")
        arrays = []
        for f, values in zip(self.schema, zip(*self.buffer)):
            kind = COLUMN_TYPES.get(f.name, "text")
            if kind == "date":
                values = tuple(v if v is None or isinstance(v, dt.date) else dt.date.fromisoformat(v) for v in values)
            elif kind in ("money", "rate"):
                values = tuple(None if v is None else Decimal(str(v)) for v in values)
            try:
                arrays.append(pa.array(values, type=f.type))
            except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
                raise SourceError(f"column {f.name}: {e}", location=Location(str(self.path))) from e
        self.file.write_table(pa.Table.from_arrays(arrays, schema=self.schema))
        self.buffer = []

    def close(self) -> None:
        self.flush()
        if self.fmt in ("csv", "parquet"):
            self.file.close()
        elif self.fmt == "xlsx":
            self.spool.close()


def write_register(items: Iterable[Facts], out_dir: str | Path, fmt: str = "csv") -> list[Path]:
    """Write enterprises in the batch layout under ``out_dir`` and return the files written.

    csv/parquet: ``enterprises.<fmt>`` and ``records.<fmt>``, records grouped in the enterprises'
    order; jsonl: ``enterprises.jsonl``, one enterprise per line; xlsx: ``enterprises.xlsx`` with
    sheets ``enterprises`` and ``records``. The same items give the same bytes.
    """
    out = Path(out_dir)
    with writing(out, "the register"):   # a folder that cannot be written, a disk that fills: one located error
        return _write_register(items, out, fmt)


def _write_register(items: Iterable[Facts], out: Path, fmt: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        path = out / "enterprises.jsonl"
        with open(path, "w", encoding="utf-8") as f:
            for item in items:
                f.write(json.dumps(item, ensure_ascii=False, default=_json_default) + "\n")
        return [path]
    if fmt not in ("csv", "parquet", "xlsx"):
        raise IncentivesError(f"unknown register format {fmt!r}: use csv, jsonl, parquet or xlsx")
    if fmt == "xlsx":
        paths = [out / "enterprises.xlsx"]
        tables = [_TableWriter(paths[0], fmt, cols, name)
                  for name, cols in (("enterprises", ENTERPRISE_COLUMNS), ("records", RECORD_COLUMNS))]
    else:
        paths = [out / f"enterprises.{fmt}", out / f"records.{fmt}"]
        tables = [_TableWriter(p, fmt, cols) for p, cols in zip(paths, (ENTERPRISE_COLUMNS, RECORD_COLUMNS))]
    try:
        for item in items:
            enterprise, records = _rows(item)
            tables[0].write(enterprise)
            for record in records:
                tables[1].write(record)
    except BaseException:
        for table in tables:   # an xlsx's spooled rows are not left beside what was written
            if fmt == "xlsx":
                table.spool.path.unlink(missing_ok=True)
        raise
    finally:
        for table in tables:
            table.close()
    if fmt == "xlsx":
        header_workbook(paths[0], [(t.sheet, t.columns) for t in tables if t.sheet is not None])
        deterministic_xlsx(paths[0], [(t.rows + 1, len(t.columns)) for t in tables], [t.spool for t in tables])
    return paths


def _json_default(value: Any) -> str:
    if isinstance(value, (dt.date, Decimal)):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


# ------------------------------------------------------------------------------------ command line
def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``incentives synth`` to the command line."""
    p = sub.add_parser("synth", help="write a reproducible synthetic register of enterprises",
                       description="Write a synthetic register in the batch layout; "
                                   "the same seed gives the same files.")
    p.add_argument("--city", choices=[*CITIES, "all"], required=True)
    p.add_argument("--n", type=positive, required=True, help="number of enterprises")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", required=True, dest="output_dir", help="directory to write the register to")
    p.add_argument("--format", choices=["csv", "jsonl", "parquet", "xlsx"], default="csv")
    p.add_argument("--rules", default=None, help="rule directory the records follow (default: rules/ here, else the "
                   "shipped rules)")
    p.add_argument("--as-of", type=parse_date, default=None,
                   help="the register's date: no record after it (YYYY-MM-DD)")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    items = synthesize(args.city, args.n, args.seed, load_rulebook(command_rules(args.rules)), args.as_of)
    for path in write_register(items, args.output_dir, args.format):
        print(path)
    return 0
