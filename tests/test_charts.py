from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import re
from pathlib import Path

import pytest

from incentives import IncentivesError, Rulebook, SourceError
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


@pytest.fixture(scope="module")
def demo_summary(tmp_path_factory: pytest.TempPathFactory, book: Rulebook) -> Path:
    """The demo's register (make demo: synth --city langfang --seed 1, batch at 2026-06-30), smaller."""
    root = tmp_path_factory.mktemp("demo")
    inputs = write_register(synthesize("langfang", 3000, seed=1, rulebook=book, as_of=dt.date(2026, 6, 30)),
                            root / "register", "csv")
    run_batch(inputs[0], root / "results", book, dt.date(2026, 6, 30))
    return root / "results" / "summary.json"


def test_the_demo_budget_chart_names_its_counties_in_chinese(demo_summary: Path, tmp_path: Path) -> None:
    from incentives.charts import charts, cjk_font

    if cjk_font("廊坊市香河县") is None:
        pytest.skip("no CJK font on this machine (make test and make demo install fonts-noto-cjk)")
    by_county, by_rule = charts(demo_summary, tmp_path)
    data = json.loads(demo_summary.read_text("utf-8"))
    counties = {v["county"] for v in data["by_county"].values() if v["county"] != "(unknown)"}
    assert len(counties) == 6 and all(c.endswith(("县", "市", "区")) for c in counties)   # "langfang #1 … #6" before
    assert "langfang/(unknown)" in data["by_county"]         # 3% of the synthetic register names no county
    assert set(by_county.labels) == counties | {"廊坊市（未注明县区）"}
    assert by_county.title == "各县（市、区）奖励（万元）" and by_county.xlabel == "万元（柱后数字为奖励笔数）"
    assert by_county.legend == ["确定金额", "最高额（上限）"]
    titles = {v["title"] for v in data["by_rule"].values()}
    assert by_rule.title == "各规则奖励（万元）"
    assert all(label.split(" ", 1)[0] in data["by_rule"] and any(label.split(" ", 1)[1].rstrip("…") in t for t in titles)
               for label in by_rule.labels)
    assert not any("langfang" in label or "#" in label for label in by_county.labels + by_rule.labels)


def test_the_charts_in_english_say_so_in_english(demo_summary: Path, tmp_path: Path) -> None:
    from incentives.charts import charts

    by_county, by_rule = charts(demo_summary, tmp_path, font=None, lang="en")
    assert by_county.title == "Awards by county (10,000 yuan)" and by_county.legend == ["determined", "up to (ceiling)"]
    assert "langfang (county not recorded)" in by_county.labels
    assert all(label.isascii() for label in by_county.labels)
    data = json.loads(demo_summary.read_text("utf-8"))
    assert all(label.split(" ", 1)[1].rstrip("…") in data["by_rule"][label.split(" ", 1)[0]]["title_en"]
               for label in by_rule.labels)


def test_without_a_font_a_chinese_chart_is_drawn_in_english_and_says_why_once(
        demo_summary: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from incentives import charts as module

    by_county, _ = module.charts(demo_summary, tmp_path, font=None, lang="zh")
    assert by_county.title == "Awards by county (10,000 yuan)"        # no glyph boxes: Chinese needs the font
    assert all(label.startswith("langfang") for label in by_county.labels)
    module._said.clear()
    for _ in range(3):
        module._say_once(module.gettext(module._NO_FONT, "zh"))
    err = capsys.readouterr().err
    assert err.count("incentives: 未找到中文字体") == 1 and "fonts-noto-cjk" in err


def test_charts_that_cannot_be_written_are_one_located_line(summary: Path, tmp_path: Path) -> None:
    import sys

    from test_output import with_small_files

    (tmp_path / "taken").write_text("a file, not a folder", encoding="utf-8")
    with pytest.raises(IncentivesError, match=f"^{tmp_path / 'taken'}: cannot write the charts: "):
        chart(summary, tmp_path / "taken")
    out = tmp_path / "charts"
    proc = with_small_files([sys.executable, "-m", "incentives", "chart", str(summary), "-o", str(out), "--lang", "en"])
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(f"incentives: {out}") and ": cannot write the charts: File too large" in proc.stderr


def test_a_font_that_cannot_be_read_is_a_located_error(summary: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from incentives.cli import main

    not_a_font = tmp_path / "font.ttf"
    not_a_font.write_text("not a font", encoding="utf-8")
    for font, why in ((tmp_path / "missing.ttf", "no such font file"), (tmp_path, "no such font file"),
                      (not_a_font, "not a font file that can be drawn with: ")):
        with pytest.raises(SourceError, match=f"^{font}: {why}"):
            chart(summary, tmp_path / "out", font=str(font))
        assert main(["chart", str(summary), "-o", str(tmp_path / "out"), "--font", str(font)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"incentives: {font}: {why}") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()
