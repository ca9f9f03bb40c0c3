"""Fuzz targets: each takes bytes and must either succeed or raise the library's own error.

Any other exception, or a call that takes more than 5 seconds, is a crash. The same targets run
under atheris (coverage-guided, ``make fuzz``) and under hypothesis in ``tests/test_fuzz.py``.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2026, 6, 30)


class _Library:
    """The library's parts the targets call, imported by ``setup`` (under atheris, inside its instrumentation)."""

    def __init__(self) -> None:
        from incentives import _yaml, money
        from incentives._tabular import Table, csv_row
        from incentives.batch import _Assessor
        from incentives.engine import award_rows
        from incentives.errors import IncentivesError
        from incentives.facts import enterprise_from_document
        from incentives.rulebook import inspect_rule_file, load_rule_file, load_rulebook

        self.yaml, self.money, self.csv_row, self.Assessor, self.award_rows = _yaml, money, csv_row, _Assessor, award_rows
        self.Error, self.enterprise_from_document = IncentivesError, enterprise_from_document
        self.inspect_rule_file, self.load_rule_file = inspect_rule_file, load_rule_file
        self.book = load_rulebook(ROOT / "rules")
        self.enterprises = Table(Path("enterprises.csv"), "csv", "enterprises",
                                 {n: i for i, n in enumerate(_ENTERPRISE_HEADER.split(","), 1)})
        self.records = Table(Path("records.csv"), "csv", "records",
                             {n: i for i, n in enumerate(_RECORD_HEADER.split(","), 1)})


lib: _Library


def setup() -> None:
    global lib
    lib = _Library()


_ENTERPRISE_HEADER = "credit_code,name,city,county,clusters,industries,size"
_RECORD_HEADER = ("credit_code,record_id,kind,date,title,level,scope,first_time,review_passed,award,category,type,fee,"
                  "investment,equipment_purchase,completed,investor_rank,investor_outside_city,milestone,market,amount,"
                  "status,fees,ratio")


def yaml_text(data: bytes) -> None:
    """Any bytes as a YAML/JSON document."""
    try:
        lib.yaml.parse(lib.yaml.decode(data, "fuzz.yaml"), "fuzz.yaml")
    except lib.Error:
        pass


def facts(data: bytes) -> None:
    """Any bytes as an enterprise fact file, terms checked."""
    try:
        doc = lib.yaml.parse(lib.yaml.decode(data, "fuzz.yaml"), "fuzz.yaml")
        lib.enterprise_from_document(doc).check_terms(lib.book.vocabulary, doc)
    except lib.Error:
        pass


def rules(data: bytes) -> None:
    """Any bytes as a rule file, validated and compiled."""
    try:
        text = lib.yaml.decode(data, "fuzz.yaml")
        lib.inspect_rule_file("fuzz.yaml", lib.book.vocabulary, text=text)
        lib.load_rule_file("fuzz.yaml", lib.book.vocabulary, text=text)
    except lib.Error:
        pass


def register(data: bytes) -> None:
    """Any bytes as register lines: the first an enterprise row, the rest its records; read, validated, assessed.

    The reader never raises for a row: every problem becomes the row's error."""
    lines = data.split(b"\n")
    row = lib.csv_row(lib.enterprises, 1, lines[0])
    if row is None:
        return
    records = [r for n, line in enumerate(lines[1:], 1) if (r := lib.csv_row(lib.records, n, line)) is not None]
    assessor = lib.Assessor(lib.book, AS_OF, (lib.enterprises, lib.records), "enterprises.csv", True)
    errors: list[tuple[object, ...]] = []
    enterprise = assessor._enterprise(row, records, errors)
    if enterprise is not None:
        try:
            lib.award_rows(enterprise, lib.book, AS_OF, terms_checked=True)
        except lib.Error:
            pass


def amounts(data: bytes) -> None:
    """Any text as money, a rate, a factor and a ratio."""
    text = data.decode("utf-8", "replace")
    for parse in (lib.money.parse_money, lib.money.parse_rate, lib.money.parse_factor, lib.money.parse_ratio):
        try:
            parse(text)
        except lib.Error:
            pass


TARGETS: dict[str, Callable[[bytes], None]] = {"yaml": yaml_text, "facts": facts, "rules": rules,
                                               "register": register, "amounts": amounts}


def seeds(target: str) -> list[bytes]:
    """Small real inputs to start from (a few kilobytes each, so that each run is quick): one-rule
    files cut from the shipped rule files, the shipped fact files, register lines, amounts."""
    import yaml

    rule_files = []
    for path in sorted((ROOT / "rules").glob("*.yaml")):
        data = yaml.safe_load(path.read_text("utf-8"))
        if isinstance(data, dict) and "rules" in data:
            for rule in data["rules"][:6]:
                rule_files.append(yaml.safe_dump({**data, "rules": [rule], "not_encoded": [], "groups": {
                    k: v for k, v in data.get("groups", {}).items() if k == rule.get("group")}},
                    allow_unicode=True, sort_keys=False).encode())
    fact_files = [p.read_bytes() for p in sorted((ROOT / "examples" / "enterprises").glob("*"))]
    if target == "rules":
        return rule_files
    if target == "yaml":
        return rule_files[::3] + fact_files[:4] + [b'{"a": [1, 2.5, "x"],\n\t"b": {"c": null}}', b"a: &x [1]\nb: *x\n"]
    if target == "facts":
        return fact_files
    if target == "register":
        return [b"91131024MA0CTX8K46,\xe6\xb5\x8b\xe8\xaf\x95,langfang,\xe9\xa6\x99\xe6\xb2\xb3\xe5\x8e\xbf,,,small\n"
                b"91131024MA0CTX8K46,r1,recognition,2026-01-15,cluster_leader,provincial" + b"," * 18,
                b"91131024MA0CTX8K46,a,cangzhou,,,,micro\n91131024MA0CTX8K46,p1,project,2025-03-01,,,,,,,,"
                b"tech_retrofit,,5000000,1200000" + b"," * 9]
    return [b"30\xe4\xb8\x87\xe5\x85\x83", b"\xc2\xa5300,000.00", b"10%", b"1:0.5", b"0.15"]


def main() -> None:
    """``python fuzz/targets.py TARGET [libFuzzer options] [corpus dirs]``: one target under atheris."""
    import atheris  # type: ignore[import-not-found]

    target = sys.argv[1]
    with atheris.instrument_imports(include=["incentives"]):
        setup()
    atheris.Setup([sys.argv[0], *sys.argv[2:]], TARGETS[target])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
