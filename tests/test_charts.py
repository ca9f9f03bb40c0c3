from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import re
from pathlib import Path

import pytest

from incentives import Rulebook, SourceError
from incentives.batch import run_batch
from incentives.charts import chart, register
from incentives.synth import synthesize, write_register

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory, book: Rulebook) -> Path:
    root = tmp_path_factory.mktemp("charts")
    inputs = write_register(synthesize("all", 400, seed=4, rulebook=book), root / "register", "jsonl")
    run_batch(inputs[0], root / "out", book, dt.date(2026, 6, 30))
    return root / "out" / "summary.json"


def test_the_command_writes_charts_and_a_report_naming_every_county(summary: Path, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="incentives")
    register(parser.add_subparsers())
    args = parser.parse_args(["chart", str(summary), "-o", str(tmp_path)])
    assert args.run(args) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / n) for n in
                                               ("budget_by_county.png", "budget_by_rule.png", "report.html")]
    for name in ("budget_by_county.png", "budget_by_rule.png"):
        assert (tmp_path / name).read_bytes().startswith(PNG)
    report = (tmp_path / "report.html").read_text("utf-8")
    data = json.loads(summary.read_text("utf-8"))
    counties = {v["county"] for v in data["by_county"].values()}
    assert len(counties) > 10
    for county in counties:
        assert county in report
    for rule in data["by_rule"]:
        assert rule in report
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', report)
    assert len(images) == 2 and all(base64.b64decode(i).startswith(PNG) for i in images)
    assert "CJK font" in report
    assert f"{int(data['counts']['enterprises_read'])}" in report


def test_without_a_cjk_font_the_charts_use_ids_and_numbers(summary: Path, tmp_path: Path) -> None:
    chart(summary, tmp_path, font=None)
    report = (tmp_path / "report.html").read_text("utf-8")
    assert "drawn without a CJK font, so they label rules by id and English title" in report
    labels = re.findall(r"<tr><td>([^<]*)</td><td>(?:langfang|cangzhou|shijiazhuang)</td>", report)
    assert labels and all(label.isascii() for label in labels)


def test_a_file_that_is_not_a_summary_is_refused(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text('{"counts": {}}', encoding="utf-8")
    with pytest.raises(SourceError, match=r"summary\.json: not a batch summary\.json"):
        chart(tmp_path / "summary.json", tmp_path / "out")
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(SourceError, match=r"broken\.json:1:2: not valid JSON"):
        chart(tmp_path / "broken.json", tmp_path / "out")


@pytest.mark.filterwarnings("ignore:Glyph")  # the font given has no CJK glyphs: only the code path is tested here
def test_with_a_font_the_charts_name_counties(summary: Path, tmp_path: Path) -> None:
    import matplotlib

    font = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    chart(summary, tmp_path, font=str(font))
    report = (tmp_path / "report.html").read_text("utf-8")
    assert "drawn with the CJK font DejaVuSans.ttf" in report
    rows = re.findall(r"<tr><td>([^<]*)</td><td>(?:langfang|cangzhou|shijiazhuang)</td><td>([^<]*)</td>", report)
    assert rows and all(label == county for label, county in rows if county != "(unknown)")
