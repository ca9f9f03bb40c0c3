from __future__ import annotations

from pathlib import Path

import pytest

from incentives.cli import main
from incentives.diff import diff_files

from conftest import RULES


def changed(tmp_path: Path, *edits: tuple[str, str]) -> Path:
    (tmp_path / "vocabulary.yaml").write_text((RULES / "vocabulary.yaml").read_text("utf-8"), "utf-8")
    text = (RULES / "langfang.yaml").read_text("utf-8")
    for old, new in edits:
        assert old in text
        text = text.replace(old, new, 1)
    path = tmp_path / "langfang.yaml"
    path.write_text(text, "utf-8")
    return path


def test_no_change(tmp_path: Path) -> None:
    assert diff_files(RULES / "langfang.yaml", changed(tmp_path)) == []


def test_amount_cap_payers_window_condition_citation(tmp_path: Path) -> None:
    new = changed(tmp_path,
                  ("cap: 20万元}", "cap: 25万元}"),
                  ("{city: 50%, county: 50%}      # (市", '{ratio: "6:4", to: [city, county]}      # (市'),
                  ("to: 2027-12-31}", "to: 2028-12-31}"),
                  ("enterprise.clusters: {not_empty: true}   # 支持集群企业", "enterprise.size: {is: small}   # "),
                  ("clause: 三、4", "clause: 三、3"),
                  ("  - id: lf.leader.municipal", "  - id: lf.leader.city"))
    lines = [str(c) for c in diff_files(RULES / "langfang.yaml", new)]
    assert lines == [
        "document lf-2025-5: effective.to: 2027-12-31 → 2028-12-31",
        "rule lf.leader.municipal: removed",
        "rule lf.leader.city: added",
        "rule lf.leader.provincial: payers.city: 50% → 60%",
        "rule lf.leader.provincial: payers.county: 50% → 40%",
        "rule lf.digital_pilot: amount.cap: 200000 → 250000",
        "rule lf.digital_pilot: when[0].enterprise.clusters.not_empty: True → (none)",
        "rule lf.digital_pilot: when[0].enterprise.size.is: (none) → small",
        "rule lf.industrial_internet_platform: cite.clause: 三、4 → 三、3",
    ]


def test_cli_diff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", str(RULES / "langfang.yaml"), str(changed(tmp_path, ("fixed: 30万元", "fixed: 35万元")))]) == 0
    out = capsys.readouterr().out
    assert "rule lf.leader.provincial: amount.fixed: 300000 → 350000" in out and "1 change(s)" in out


def test_an_old_version_saved_alone_is_read_with_the_vocabulary_beside_the_other(tmp_path: Path) -> None:
    # as `git show main:rules/langfang.yaml > old/langfang.yaml` leaves it: no vocabulary.yaml beside it
    (tmp_path / "old").mkdir()
    old = tmp_path / "old" / "langfang.yaml"
    old.write_text((RULES / "langfang.yaml").read_text("utf-8").replace("fixed: 30万元", "fixed: 25万元", 1), "utf-8")
    assert [str(c) for c in diff_files(old, RULES / "langfang.yaml")] == [
        "rule lf.leader.provincial: amount.fixed: 250000 → 300000"]
    assert [str(c) for c in diff_files(RULES / "langfang.yaml", old)] == [
        "rule lf.leader.provincial: amount.fixed: 300000 → 250000"]
