from __future__ import annotations

import argparse
import datetime as dt
import itertools
from collections import Counter
from pathlib import Path

import pytest

from incentives import Enterprise, IncentivesError, Rulebook, validate_credit_code
from incentives.synth import COUNTIES, credit_code, org_code_check_digit, register, synthesize, write_register

AS_OF = dt.date(2026, 6, 30)


def test_the_same_seed_gives_the_same_bytes_in_every_format(book: Rulebook, tmp_path: Path) -> None:
    for fmt in ("csv", "jsonl", "parquet", "xlsx"):
        first = write_register(synthesize("all", 300, seed=5, rulebook=book), tmp_path / "a" / fmt, fmt)
        again = write_register(synthesize("all", 300, seed=5, rulebook=book), tmp_path / "b" / fmt, fmt)
        other = write_register(synthesize("all", 300, seed=6, rulebook=book), tmp_path / "c" / fmt, fmt)
        assert [p.name for p in first] == [p.name for p in again]
        assert [p.read_bytes() for p in first] == [p.read_bytes() for p in again], fmt
        assert first[0].read_bytes() != other[0].read_bytes(), fmt


def test_a_register_is_valid_and_plausible(book: Rulebook) -> None:
    items = list(synthesize("cangzhou", 4000, seed=2, rulebook=book, as_of=AS_OF))
    rewarded = {(r.rule.rewards["kind"]) for r in book.rules_for("cangzhou")}
    codes = set()
    sizes: Counter[str | None] = Counter()
    kinds: Counter[str] = Counter()
    for item in items:
        enterprise = Enterprise.model_validate(item)
        enterprise.check_terms(book.vocabulary)
        profile = enterprise.profile
        assert validate_credit_code(profile.credit_code) == profile.credit_code
        assert profile.county is None or profile.county in COUNTIES["cangzhou"]
        if profile.county is not None:
            assert profile.credit_code[2:8] == COUNTIES["cangzhou"][profile.county][0]
        codes.add(profile.credit_code)
        sizes[profile.size] += 1
        assert len(enterprise.records) <= 6
        assert all(r.date <= AS_OF for r in enterprise.records)
        kinds.update(r.kind for r in enterprise.records)
    assert len(codes) == len(items)                                  # no two share a code
    assert sizes["micro"] + sizes["small"] > 0.7 * len(items)       # mostly small and micro
    assert set(kinds) <= rewarded and len(kinds) >= 3
    money = [r["investment"] for i in items for r in i["records"] if "investment" in r]
    assert any(m.endswith(("1", "3", "5", "7", "9")) for m in money)  # odd fen
    assert max(float(m) for m in money) > 10 * sorted(float(m) for m in money)[len(money) // 2]  # a long tail
    absent = [r for i in items for r in i["records"] if r["kind"] == "project" and r.get("type") == "informatisation"]
    assert any("investment" not in r for r in absent) and any("investment" in r for r in absent)


def test_generation_streams(book: Rulebook) -> None:
    first = list(itertools.islice(synthesize("langfang", 10**9, seed=1, rulebook=book), 3))
    assert [i["enterprise"]["city"] for i in first] == ["langfang"] * 3


def test_credit_codes_are_valid_and_distinct() -> None:
    codes = {credit_code("131024", serial, salt=12345) for serial in range(5000)}
    assert len(codes) == 5000
    for code in itertools.islice(codes, 200):
        assert validate_credit_code(code) == code
        assert org_code_check_digit(code[8:16]) == code[16]


def test_an_unknown_city_is_refused(book: Rulebook) -> None:
    with pytest.raises(IncentivesError, match="no county table for city 'baoding'"):
        next(synthesize("baoding", 1, seed=1, rulebook=book))


def test_the_command_writes_a_register(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="incentives")
    register(parser.add_subparsers())
    args = parser.parse_args(["synth", "--city", "langfang", "--n", "50", "--seed", "3", "-o", str(tmp_path),
                              "--as-of", "2026-06-30", "--rules", str(Path(__file__).parent.parent / "rules")])
    assert args.run(args) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "enterprises.csv"), str(tmp_path / "records.csv")]
    assert len((tmp_path / "enterprises.csv").read_text("utf-8").splitlines()) == 51


def test_an_xlsx_register_that_cannot_be_written_leaves_no_spooled_rows(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import incentives.synth as synth_module
    from incentives.errors import SourceError

    monkeypatch.setattr(synth_module, "XLSX_MAX_ROWS", 3)
    with pytest.raises(SourceError, match="more than 3 rows do not fit in one xlsx sheet"):
        synth_module.write_register(synth_module.synthesize("langfang", 10, seed=1), tmp_path, "xlsx")
    assert not list(tmp_path.glob("*.rows"))


def test_a_register_that_cannot_be_written_is_one_located_line(tmp_path: Path) -> None:
    import sys

    from test_output import with_small_files

    (tmp_path / "taken").write_text("a file, not a folder", encoding="utf-8")
    with pytest.raises(IncentivesError, match=f"^{tmp_path / 'taken'}: cannot write the register: "):
        write_register(synthesize("langfang", 5, seed=1), tmp_path / "taken", "csv")
    for fmt in ("csv", "jsonl", "parquet"):
        out = tmp_path / fmt
        proc = with_small_files([sys.executable, "-m", "incentives", "synth", "--city", "all", "--n", "500", "-o",
                                 str(out), "--format", fmt])
        assert proc.returncode == 2 and proc.stderr.startswith(f"incentives: {out}") and proc.stderr.count("\n") == 1
        assert "cannot write the register: " in proc.stderr and "Traceback" not in proc.stderr
