from __future__ import annotations

import json
import os
import subprocess
import sys
import shutil
from pathlib import Path

import pytest

from incentives.cli import main

from conftest import ROOT, RULES

EXAMPLES = ROOT / "examples" / "enterprises"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_evaluate_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "evaluate", str(EXAMPLES / "wenan-pilot.yaml"), "--rules", str(RULES),
                       "--as-of", "2026-06-30", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert {"enterprise", "as_of", "rulebook_hash", "awards", "not_eligible", "undetermined", "total",
            "total_by_payer", "conflicts"} <= set(data)
    assert data["as_of"] == "2026-06-30" and data["rulebook_hash"].startswith("sha256:")
    award = data["awards"][0]
    assert {k: award[k] for k in ("rule_id", "status", "amount", "amount_max", "record_id")} == {
        "rule_id": "lf.digital_pilot", "status": "fixed", "amount": "123456.79", "amount_max": "123456.79",
        "record_id": "pilot-2026"}
    assert award["payers"] == {"city": "61728.40", "county": "61728.39"}
    assert award["citation"] == {"document": "lf-2025-5", "document_number": "廊政办规〔2025〕5号",
                                 "document_title": "廊坊市推进特色产业集群高质量发展三年行动方案(2025—2027年)",
                                 "document_kind": "normative", "clause": "三、3", "quote": award["citation"]["quote"]}
    assert data["total"] == "123456.79"
    assert all({"rule_id", "reasons"} <= set(o) for o in data["not_eligible"])


def test_evaluate_table_in_chinese_and_english(capsys: pytest.CaptureFixture[str]) -> None:
    args = [str(EXAMPLES / "xianghe-leader.yaml"), "--rules", str(RULES), "--as-of", "2026-06-30"]
    _, zh, _ = run(capsys, "evaluate", *args)
    assert "30万元" in zh and "合计(确定金额): 1,350,000.00元  (市级 675,000.00元, 县级 675,000.00元)" in zh and "市级 150,000.00元, 县级 150,000.00元" in zh   # the payers column is not all whole 万
    _, en, _ = run(capsys, "evaluate", *args, "--lang", "en")
    assert "CNY 300,000.00" in en and "Total (determined): CNY 1,350,000.00" in en and "June 30, 2026" in en


def test_evaluate_with_durable_engine_matches_native(capsys: pytest.CaptureFixture[str]) -> None:
    args = [str(EXAMPLES / "xianghe-leader.yaml"), "--rules", str(RULES), "--as-of", "2026-06-30", "--format", "json"]
    _, native, _ = run(capsys, "evaluate", *args)
    _, durable, _ = run(capsys, "evaluate", *args, "--engine", "durable")
    a, b = json.loads(native), json.loads(durable)
    assert b["engine"] == "durable" and a["awards"] == b["awards"] and a["total"] == b["total"]


def test_bad_facts_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((EXAMPLES / "wenan-pilot.yaml").read_text("utf-8").replace("91131026MA0FHN2P7X", "91131026MA0FHN2P70"),
                   "utf-8")
    code, out, err = run(capsys, "evaluate", str(bad), "--rules", str(RULES))
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert f"{bad}:4:3: enterprise.credit_code: check digit" in err


def test_bad_rule_file_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "vocabulary.yaml").write_text((RULES / "vocabulary.yaml").read_text("utf-8"), "utf-8")
    text = (RULES / "langfang.yaml").read_text("utf-8").replace("document: lf-2025-5\n      clause: 三、3",
                                                                 "document: lf-2025-9\n      clause: 三、3")
    (tmp_path / "langfang.yaml").write_text(text, "utf-8")
    code, _, err = run(capsys, "evaluate", str(EXAMPLES / "wenan-pilot.yaml"), "--rules", str(tmp_path))
    assert code == 2 and err.count("\n") == 1
    assert "langfang.yaml:" in err and "unknown document 'lf-2025-9'" in err


def test_explain(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "explain", str(EXAMPLES / "guan-missing-facts.yaml"), "--rules", str(RULES),
                       "--rule", "lf.digital_pilot", "--as-of", "2026-06-30", "--lang", "en")
    assert code == 0
    assert "[pilot] undetermined: enterprise.clusters, record.investment" in out
    line = (RULES / "langfang.yaml").read_text("utf-8").splitlines().index("  - id: lf.digital_pilot") + 1
    assert "enterprise.clusters" in out and "missing" in out and f"langfang.yaml:{line}:5" in out


def test_explain_unknown_rule(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "explain", str(EXAMPLES / "wenan-pilot.yaml"), "--rules", str(RULES), "--rule", "lf.nope")
    assert code == 2 and err.startswith("incentives: --rule: no rule 'lf.nope'; rules: ")  # not '<input>: --rule:'


def test_lint_clean_and_dirty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "lint", str(RULES / "langfang.yaml"))
    assert code == 0 and "clean" in out
    shutil.copytree(ROOT / "sources", tmp_path / "sources")  # source texts inside the rules tree
    (tmp_path / "vocabulary.yaml").write_text((RULES / "vocabulary.yaml").read_text("utf-8"), "utf-8")
    text = (RULES / "langfang.yaml").read_text("utf-8")
    text = text.replace("给予一次性30万元奖励", "给予一次性300万元奖励").replace("county: 50%}      # (市", "county: 40%}      # (市")
    (tmp_path / "langfang.yaml").write_text(text.replace("../sources/", "sources/"), "utf-8")
    code, out, _ = run(capsys, "lint", str(tmp_path / "langfang.yaml"))
    assert code == 1
    lines = out.strip().splitlines()
    assert any("payer-shares" in line for line in lines)
    assert any("quote-not-in-source" in line for line in lines)


def test_schema_command(capsys: pytest.CaptureFixture[str]) -> None:
    for which in ("facts", "rules", "assessment"):
        code, out, _ = run(capsys, "schema", which)
        assert code == 0 and json.loads(out)["$schema"].endswith("2020-12/schema")


def test_console_script_never_prints_a_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    proc = subprocess.run([sys.executable, "-m", "incentives.cli", "evaluate", str(missing), "--rules", str(RULES)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "nope.yaml" in proc.stderr


def _cli(*argv: str, stdin: str | None = None, cwd: Path = ROOT,
         env: dict[str, str] | None = None, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "incentives", *argv], input=stdin, capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, **(env or {})}, timeout=timeout)


def test_dash_reads_facts_from_standard_input() -> None:
    text = (EXAMPLES / "wenan-pilot.yaml").read_text(encoding="utf-8")
    piped = _cli("evaluate", "-", "--as-of", "2026-06-30", "--format", "json", stdin=text)
    from_file = _cli("evaluate", str(EXAMPLES / "wenan-pilot.yaml"), "--as-of", "2026-06-30", "--format", "json")
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout) == json.loads(from_file.stdout)
    assert json.loads(piped.stdout)["total"] == "123456.79"
    bad = _cli("evaluate", "-", stdin="enterprise: {name: x, credit_code: 91131026MA0FHN2P7Y, city: langfang}\n")
    assert bad.returncode == 2
    assert bad.stderr.startswith("incentives: <stdin>:1:") and "enterprise.credit_code" in bad.stderr


def test_dash_reads_rule_files_and_summaries_from_standard_input(tmp_path: Path) -> None:
    rules = (RULES / "langfang.yaml").read_text(encoding="utf-8")
    clean = _cli("lint", "-", stdin=rules, cwd=RULES)   # the source texts are found from the working directory
    assert clean.returncode == 0 and clean.stdout.startswith("1 file(s) clean"), clean.stdout + clean.stderr
    lint = _cli("lint", "-", stdin=rules.replace("市县两级各承担50%", "市县两级各承担60%"), cwd=RULES)
    assert lint.returncode == 1 and "quote-not-in-source" in lint.stdout and lint.stdout.startswith("<stdin>:")
    diff = _cli("diff", str(RULES / "langfang.yaml"), "-", stdin=rules.replace("30万元", "35万元", 1))
    assert diff.returncode == 0 and "30万元" in diff.stdout and "35万元" in diff.stdout
    chart = _cli("chart", "-", "-o", str(tmp_path), stdin="{}")
    assert chart.returncode == 2 and "<stdin>: not a batch summary.json" in chart.stderr


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_batch_dash_reads_a_register_from_standard_input(fmt: str, tmp_path: Path) -> None:
    register = tmp_path / "register"
    assert _cli("synth", "--city", "langfang", "--n", "300", "--seed", "3", "--format", fmt, "-o", str(register)).returncode == 0
    records = ["--records", str(register / "records.csv")] if fmt == "csv" else []
    scratch = tmp_path / "scratch"      # where the input is kept while the run reads it
    (scratch / "incentives-stdin-999999999-killed").mkdir(parents=True)   # left by a run killed before
    piped = _cli("batch", "-", "-o", str(tmp_path / "piped"), "--as-of", "2026-06-30", *records,
                 stdin=(register / f"enterprises.{fmt}").read_text("utf-8"), env={"TMPDIR": str(scratch)})
    assert piped.returncode == 0, piped.stderr
    assert list(scratch.iterdir()) == []
    read = _cli("batch", str(register / f"enterprises.{fmt}"), "-o", str(tmp_path / "read"), "--as-of", "2026-06-30")
    assert read.returncode == 0, read.stderr
    awards = (tmp_path / "piped" / f"awards.{fmt}").read_bytes()
    assert awards == (tmp_path / "read" / f"awards.{fmt}").read_bytes() and awards.count(b"\n") > 10
    assert sorted(p.name for p in (tmp_path / "piped").iterdir()) == sorted(p.name for p in (tmp_path / "read").iterdir())


@pytest.mark.parametrize("fmt, path", [("csv", "columnar"), ("csv", "rows"), ("jsonl", "columnar"), ("jsonl", "rows")])
def test_batch_names_standard_input_stdin_in_errors_the_summary_and_the_manifest(fmt: str, path: str,
                                                                                 tmp_path: Path) -> None:
    """The copy of standard input a run reads is never named: errors.csv, messages, summary.json and the
    manifest say <stdin> (the manifest with the hash of the bytes read), on both paths; the other rows are
    assessed as from a file."""
    register = tmp_path / "register"
    assert _cli("synth", "--city", "langfang", "--n", "40", "--seed", "5", "--format", fmt, "-o",
                str(register)).returncode == 0
    lines = (register / f"enterprises.{fmt}").read_text("utf-8").splitlines(keepends=True)
    bad = "BADCODE,x,langfang,永清县,,,micro\n" if fmt == "csv" else '{"enterprise": {"credit_code": "BADCODE"}}\n'
    text = "".join([*lines[:4], bad, *lines[4:]])   # line 5
    records = ["--records", str(register / "records.csv")] if fmt == "csv" else []
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    piped = _cli("batch", "-", "-o", str(tmp_path / "piped"), "--as-of", "2026-06-30", "--path", path, *records,
                 stdin=text, env={"TMPDIR": str(scratch)})
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.startswith("41 enterprises read, 40 assessed, "), piped.stdout
    out = tmp_path / "piped"
    errors = (out / "errors.csv").read_text("utf-8").splitlines()
    reason = ("<stdin>:5:1: enterprise.credit_code: a unified social credit code has 18 characters, 'BADCODE' has 7"
              if fmt == "csv" else "<stdin>:5: enterprise.name: Field required")
    row = "4" if fmt == "csv" else "5"   # a data row below the header, a line
    assert [line.split(",")[:2] for line in errors[1:]] == [["<stdin>", row]] and reason in errors[1], errors
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert summary["input"]["enterprises"] == "<stdin>"
    assert (summary["counts"]["assessed"], summary["counts"]["bad_enterprises"]) == (40, 1)
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    import hashlib

    assert manifest["inputs"][0] == {"role": "enterprises", "path": "<stdin>", "bytes": len(text.encode()),
                                     "sha256": "sha256:" + hashlib.sha256(text.encode()).hexdigest()}
    for name in os.listdir(out):   # the copy's folder is named nowhere
        assert "incentives-stdin-" not in (out / name).read_text("utf-8", "replace"), name
    assert "incentives-stdin-" not in piped.stdout + piped.stderr
    header = _cli("batch", "-", "-o", str(tmp_path / "header"), "--path", path, *records,
                  stdin="credit_code,nme\n" if fmt == "csv" else "[]\n")
    if fmt == "csv":
        assert (header.returncode, header.stderr.split(";")[0]) == (
            2, "incentives: <stdin>:1:2: unknown column 'nme' in the enterprises table")
    no_records = _cli("batch", "-", "-o", str(tmp_path / "alone"), stdin="".join(lines) if fmt == "csv" else "")
    if fmt == "csv":
        assert (no_records.returncode, no_records.stderr) == (
            2, "incentives: <stdin>: standard input holds the enterprises table alone: name the records table with "
               "--records (or pipe a JSONL register, which holds its records inline)\n")


def test_a_rules_folder_holding_no_rule_file_is_refused_by_every_command(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """An empty --rules folder, or one holding a vocabulary alone, would assess every enterprise against nothing
    ("no rule file for …", exit 0): each command taking --rules names the folder instead, exit 2, one line. So
    does a rules/ here that holds a vocabulary alone (taken without --rules)."""
    empty, vocabulary_only = tmp_path / "empty", tmp_path / "vocabulary-only" / "rules"
    empty.mkdir()
    vocabulary_only.mkdir(parents=True)
    shutil.copy(RULES / "vocabulary.yaml", vocabulary_only)
    facts = str(EXAMPLES / "wenan-pilot.yaml")
    register = tmp_path / "register"
    assert main(["synth", "--city", "langfang", "--n", "5", "--seed", "1", "-o", str(register)]) == 0
    commands = [["evaluate", facts], ["explain", facts, "--rule", "lf.digital_pilot"], ["coverage"], ["info"],
                ["lint"], ["test", str(RULES / "tests" / "langfang.yaml")], ["schema", "facts"],
                ["batch", str(register / "enterprises.csv"), "-o", str(tmp_path / "out")],
                ["synth", "--city", "langfang", "--n", "5", "-o", str(tmp_path / "synth")],
                ["ledger", "show", str(tmp_path / "ledger.db")]]
    for folder in (empty, vocabulary_only):
        capsys.readouterr()
        for command in commands:
            assert main([*command, "--rules", str(folder)]) == 2, command
            assert capsys.readouterr().err == (
                f"incentives: {folder}: --rules: the folder holds no rule file (a *.yaml of rules beside "
                "vocabulary.yaml): nothing would be assessed\n"), command
        assert not (tmp_path / "out").exists() and not (tmp_path / "synth").exists()
    served = _cli("serve", "--port", "0", "--rules", str(empty), timeout=60)   # refused before it listens
    assert (served.returncode, served.stderr) == (2, f"incentives: {empty}: --rules: the folder holds no rule file "
                                                     "(a *.yaml of rules beside vocabulary.yaml): nothing would be "
                                                     "assessed\n")
    here = _cli("evaluate", facts, cwd=vocabulary_only.parent)
    assert (here.returncode, here.stderr) == (2, "incentives: rules: the folder holds no rule file (a *.yaml of rules "
                                                 "beside vocabulary.yaml): nothing would be assessed\n")


def test_explain_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "explain", str(EXAMPLES / "guan-missing-facts.yaml"), "--rules", str(RULES),
                       "--rule", "lf.digital_pilot", "--as-of", "2026-06-30", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["rule_id"] == "lf.digital_pilot" and data["applies"] is True
    assert data["citation"]["clause"] == "三、3" and data["citation"]["document_number"] == "廊政办规〔2025〕5号"
    assert data["awards"] == [] and data["not_eligible"] == []
    assert [m for o in data["undetermined"] for m in o["missing"]] == ["enterprise.clusters", "record.investment"]


def test_version_names_the_rulebook_in_use(tmp_path: Path) -> None:
    here = _cli("--version")
    assert here.returncode == 0
    first, rules, digest = here.stdout.splitlines()[:3]
    from incentives import __version__, load_rulebook

    assert first == f"incentives {__version__}" and rules.startswith("rules: rules ")
    assert digest == f"rulebook: {load_rulebook(RULES).hash}"
    info = _cli("info", "--rules", str(RULES))
    assert info.stdout.splitlines()[1:3] == [f"rules: {RULES} (shipped with the package)", digest]


@pytest.mark.parametrize("argv", [["--version"], ["coverage"]])
def test_a_reader_that_stops_reading_ends_the_command_quietly(argv: list[str]) -> None:
    """``incentives --version | head -1``: the pipe closed before the command writes is the reader's wish,
    not an error (``--version`` prints while the arguments are parsed)."""
    proc = subprocess.Popen([sys.executable, "-m", "incentives", *argv], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()   # closed before anything is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0 and err == ""


def test_rule_tests_found_none_fails(tmp_path: Path) -> None:
    (tmp_path / "rules" / "tests").mkdir(parents=True)
    (tmp_path / "rules" / "vocabulary.yaml").write_text((RULES / "vocabulary.yaml").read_text(encoding="utf-8"))
    none = _cli("test", cwd=tmp_path)
    assert none.returncode == 1 and "no rule tests found" in none.stderr
    shipped = _cli("test", cwd=ROOT)
    assert shipped.returncode == 0 and shipped.stdout.strip().endswith("passed, 0 failed")


def test_outside_a_checkout_commands_use_the_shipped_rules(tmp_path: Path) -> None:
    from incentives import load_rulebook, shipped_rules

    synth = _cli("synth", "--city", "langfang", "--n", "20", "--seed", "1", "-o", str(tmp_path / "reg"), cwd=tmp_path)
    assert synth.returncode == 0, synth.stderr
    batch = _cli("batch", str(tmp_path / "reg" / "enterprises.csv"), "-o", str(tmp_path / "out"), cwd=tmp_path)
    assert batch.returncode == 0, batch.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text("utf-8"))
    assert summary["rulebook_hash"] == load_rulebook(shipped_rules()).hash
    coverage = _cli("coverage", cwd=tmp_path)
    assert coverage.returncode == 0 and "lf-2025-5" in coverage.stdout
    ledger = _cli("ledger", "apply", str(tmp_path / "ledger.db"), str(tmp_path / "reg" / "enterprises.csv"), cwd=tmp_path)
    assert ledger.returncode == 0, ledger.stderr
    report = _cli("ledger", "report", str(tmp_path / "ledger.db"), cwd=tmp_path)
    assert report.returncode == 0 and report.stdout.splitlines()[-1].split()[0] == "total", report.stderr


def _firm_in(tmp_path: Path, city: str) -> Path:
    from conftest import credit_code

    path = tmp_path / "firm.yaml"
    path.write_text(f"enterprise: {{name: 某企业, credit_code: {credit_code()}, city: {city}}}\nrecords:\n"
                    "  - {id: r, kind: recognition, title: cluster_leader, level: provincial, date: 2026-01-05}\n",
                    "utf-8")
    return path


@pytest.mark.parametrize("city", ["baoding", "保定市"])
def test_an_unknown_city_is_an_error_listing_the_known_ones(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                           city: str) -> None:
    code, out, err = run(capsys, "evaluate", str(_firm_in(tmp_path, city)), "--rules", str(RULES),
                         "--as-of", "2026-06-30")
    assert code == 2 and out == ""
    assert f"firm.yaml: enterprise.city: unknown city '{city}'; known cities: cangzhou (沧州市/沧州), " \
           "langfang (廊坊市/廊坊), shijiazhuang (石家庄市/石家庄)" in err


@pytest.mark.parametrize("city", ["langfang", "廊坊市", "廊坊"])
def test_a_city_written_in_chinese_is_the_same_city(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                   city: str) -> None:
    code, out, _ = run(capsys, "evaluate", str(_firm_in(tmp_path, city)), "--rules", str(RULES),
                       "--as-of", "2026-06-30", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["enterprise"]["city"] == "langfang" and data["total"] == "300000.00"


def test_a_money_column_keeps_one_unit_style() -> None:
    import datetime as dt
    import re
    from decimal import Decimal

    from incentives import assess, load_enterprise, load_rulebook
    from incentives.report import column_in_wan, money, render

    assert column_in_wan([Decimal("47700000.00"), Decimal("300000.00")])
    assert not column_in_wan([Decimal("47700000.00"), Decimal("31298338.76")])
    assert money(Decimal("47700000.00"), wan=False) == "47,700,000.00元"
    assert money(Decimal("47700000.00"), wan=True) == "4,770万元"
    book = load_rulebook(RULES)
    checked = 0
    for path in sorted(EXAMPLES.glob("*.yaml")):
        result = assess(load_enterprise(path, book.vocabulary), book, dt.date(2026, 6, 30))
        priced = [a for a in result.awards if a.amount_max is not None]
        if not priced:
            continue
        lines = render(result, "zh").splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith("--"))
        rows = dict(zip((a.rule_id + a.record_id if a.record_id else a.rule_id for a in result.awards),
                        lines[start + 1:start + 1 + len(result.awards)]))
        cells = [re.findall(r"\d[\d,.]*(?:万元|元)", rows[a.rule_id + (a.record_id or "")])[0] for a in priced]
        in_wan = column_in_wan([a.amount_max for a in priced])
        assert all(c.endswith("万元") == in_wan for c in cells), (path.name, cells)
        assert all("," in c or len(c.rstrip("万元")) <= 7 for c in cells), cells     # separators
        checked += 1
    assert checked >= 5


EXAMPLE_SET = ROOT / "docs" / "examples" / "province-county"


@pytest.mark.parametrize("city, county", [("廊坊市", "香河县"), ("廊坊", "香河"), ("langfang", "xianghe")])
def test_evaluate_picks_the_province_and_county_files_of_the_enterprise(capsys: pytest.CaptureFixture[str],
                                                                       tmp_path: Path, city: str, county: str) -> None:
    text = (EXAMPLE_SET / "enterprises" / "xianghe-equipment.yaml").read_text("utf-8")
    facts = text.replace("city: 廊坊市, county: 香河县", f"city: {city}, county: {county}")
    firm = tmp_path / "firm.yaml"
    firm.write_text(facts, "utf-8")
    code, out, _ = run(capsys, "evaluate", str(firm), "--rules", str(EXAMPLE_SET), "--as-of", "2026-12-31",
                       "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["enterprise"]["city"] == "langfang"
    assert [(a["rule_id"], a["level"], a["place"], a["amount"]) for a in data["awards"]] == [
        ("excounty.investment", "county", "xianghe", "1450000.00"),
        ("exprov.rd.marginal", "province", "hebei", "340000.00")]
    assert data["total_by_payer"] == {"city": "725000.00", "county": "725000.00", "province": "340000.00"}


def test_an_unknown_county_is_an_error_listing_the_counties_of_its_city(capsys: pytest.CaptureFixture[str],
                                                                      tmp_path: Path) -> None:
    firm = tmp_path / "firm.yaml"
    firm.write_text((EXAMPLE_SET / "enterprises" / "xianghe-equipment.yaml").read_text("utf-8").replace(
        "county: 香河县", "county: 丰台区"), "utf-8")
    code, out, err = run(capsys, "evaluate", str(firm), "--rules", str(EXAMPLE_SET), "--as-of", "2026-12-31")
    assert code == 2 and out == ""
    assert f"{firm}: enterprise.county: unknown county '丰台区' in 廊坊市; known counties: dachang (大厂回族自治县/大厂), " \
           "dacheng (大城县/大城), guan (固安县/固安), wenan (文安县/文安), xianghe (香河县/香河), yongqing (永清县/永清)" in err


def test_explain_says_a_county_rule_is_for_another_county(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    firm = tmp_path / "firm.yaml"
    firm.write_text((EXAMPLE_SET / "enterprises" / "xianghe-equipment.yaml").read_text("utf-8").replace(
        "county: 香河县", "county: 文安县"), "utf-8")
    code, out, _ = run(capsys, "explain", str(firm), "--rules", str(EXAMPLE_SET), "--as-of", "2026-12-31",
                       "--rule", "excounty.investment", "--lang", "en")
    assert code == 0 and out.rstrip().endswith("rule is for xianghe, enterprise is in langfang 文安县")


def test_a_command_imports_only_the_modules_it_runs(tmp_path: Path) -> None:
    register = tmp_path / "enterprises.csv"
    register.write_text("credit_code,name,city,county,clusters,industries,size\n"
                        "91131022MAC4FNWB04,固安德恒家居科技有限公司,langfang,固安县,;,smart_home,micro\n", encoding="utf-8")
    (tmp_path / "records.csv").write_text(
        "credit_code,record_id,kind,date,title,level,scope,first_time,review_passed,award,category,type,fee,"
        "registration_number,indication,role,number,investment,equipment_purchase,completed,reaches_capacity,"
        "investor_rank,investor_outside_city,milestone,market,amount,status,fees,ratio\n", encoding="utf-8")
    code = ("import sys; from incentives.cli import main; code = main(sys.argv[1:]); "
            "print(code, sorted(m for m in ('babel', 'incentives.ledger', 'incentives.charts', 'incentives.synth') "
            "if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code, "batch", str(register), "-o", str(tmp_path / "out"),
                           "--rules", str(RULES), "--as-of", "2026-06-30"], capture_output=True, text=True, timeout=120)
    assert proc.stdout.splitlines()[-1] == "0 []", proc.stderr
    assert "1 enterprises read, 1 assessed" in proc.stdout
    proc = _cli("no-such-command")   # a mistake lists every command, those of the modules left unimported too
    assert proc.returncode == 2 and all(f"'{c}'" in proc.stderr for c in ("batch", "synth", "chart", "ledger", "serve"))


@pytest.mark.parametrize("collecting", [True, False])
def test_importing_the_command_line_leaves_the_collector_as_it_found_it(collecting: bool) -> None:
    """The objects the imports made are frozen (kept out of the collector's walks); the collector itself is
    left on or off as the importing program had it."""
    code = ("import gc\n" + ("" if collecting else "gc.disable()\n")
            + "import incentives.cli\nprint(gc.isenabled(), gc.get_freeze_count() > 10_000)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == f"{collecting} True"


@pytest.mark.parametrize("given, kept", [(None, "1"), ("4", "4")])
def test_the_command_line_starts_numpys_blas_on_one_thread_unless_told_otherwise(given: str | None, kept: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"} | (
        {"OPENBLAS_NUM_THREADS": given} if given else {})
    # a batch imports numpy (reading ahead) before the engine: the command sets the variable before either
    code = ("import os, sys\nfrom incentives.__main__ import main\nsys.argv = ['incentives', 'batch', 'missing.csv', '-o', 'out']\n"
            "assert main() == 2 and 'numpy' in sys.modules\nprint(os.environ['OPENBLAS_NUM_THREADS'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == kept
