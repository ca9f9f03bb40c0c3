"""Charts of a batch run: the budget by county and by rule (programme), and a self-contained report.

Reads the ``summary.json`` that ``incentives batch`` writes. The PNGs are drawn with matplotlib's
Agg renderer; ``report.html`` embeds them (base64) with the tables by county, payer, rule and
status, so it can be mailed as one file. Titles and axes are in the chosen language (``lang``,
from the message catalogue). Chinese labels need a CJK font: one is looked for through matplotlib's
font manager and among the system's fonts (``make demo`` and ``make test`` install Debian's
fonts-noto-cjk where none is); without one the charts are drawn in English, label rules by id and
English title and number the counties (the tables give the names), so no glyph boxes appear. The
command says so once, and the report says which.

Amounts in the tables are the exact decimal strings of the summary; the bars are in 万元.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from incentives import _yaml
from incentives._output import writing
from incentives._tabular import require
from incentives.errors import Location, SourceError
from incentives.messages import N_, Lang, Names, gettext

AUTO = "auto"
_CJK_HINTS = ("cjk", "wenquanyi", "wqy", "noto sans sc", "noto serif sc", "source han", "simhei", "simsun", "yahei",
              "pingfang", "heiti", "droid sans fallback", "ar pl", "hiragino", "sarasa", "fandol")
_WAN = Decimal(10_000)


def cjk_font(text: str) -> str | None:
    """The file of an installed font that has every character of ``text``, or ``None``."""
    font_manager = require("matplotlib.font_manager")
    ft2font = require("matplotlib.ft2font")
    wanted = {ord(c) for c in text if not c.isascii()}
    fonts = sorted({f.fname for f in font_manager.fontManager.ttflist
                    if any(h in f.name.lower() or h in Path(f.fname).name.lower() for h in _CJK_HINTS)}
                   # matplotlib's font cache predates a font installed since (make demo installs one)
                   | {p for p in font_manager.findSystemFonts() if any(h in Path(p).name.lower() for h in _CJK_HINTS)})
    for path in fonts:
        try:
            charmap = ft2font.FT2Font(path).get_charmap()
        except (OSError, RuntimeError):
            continue
        if wanted <= set(charmap):
            return str(path)
    return None


def _readable_font(path: str) -> None:
    """Refuse a font file that is not there or that FreeType cannot read, before anything is drawn."""
    if not Path(path).is_file():
        raise SourceError("no such font file", location=Location(path))
    try:
        require("matplotlib.ft2font").FT2Font(path)
    except (OSError, RuntimeError) as e:
        raise SourceError(f"not a font file that can be drawn with: {e}", location=Location(path)) from e


def load_summary(path: str | Path) -> dict[str, Any]:
    text = _yaml.read_text(path)   # "-" reads standard input
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise SourceError(f"not valid JSON: {e.msg}", location=Location(_yaml.label(path), e.lineno, e.colno)) from e
    if not isinstance(data, dict) or not all(k in data for k in ("by_county", "by_rule", "by_payer", "total")):
        raise SourceError("not a batch summary.json (no by_county, by_rule, by_payer or total)",
                          location=Location(_yaml.label(path)))
    return data


@dataclass(frozen=True)
class BarChart:
    """One chart as drawn: its file and the texts matplotlib was given, read back from its axes."""

    path: Path
    title: str
    xlabel: str
    labels: list[str]
    legend: list[str]


def chart(summary: str | Path, out_dir: str | Path, *, font: str | None = AUTO, lang: Lang = "zh") -> list[Path]:
    """Write ``budget_by_county.png``, ``budget_by_rule.png`` and ``report.html`` to ``out_dir``.

    ``font``: ``"auto"`` looks for a CJK font, ``None`` draws without one (ids and English titles),
    or the path of a font file to use. ``lang``: the language of titles, axes and labels (Chinese
    needs the font). Returns the files written.
    """
    drawn = charts(summary, out_dir, font=font, lang=lang)
    return [c.path for c in drawn] + [Path(out_dir) / "report.html"]


def charts(summary: str | Path, out_dir: str | Path, *, font: str | None = AUTO, lang: Lang = "zh") -> list[BarChart]:
    """What ``chart`` writes, returning the two bar charts as drawn (titles, axis and bar labels)."""
    data = load_summary(summary)
    counties = sorted(data["by_county"].items(), key=lambda kv: (-_dec(kv[1]["amount_max"]), kv[0]))
    rules = sorted(data["by_rule"].items(), key=lambda kv: (-_dec(kv[1]["amount_max"]), kv[0]))
    searched = font == AUTO
    if font == AUTO:
        font = cjk_font("廊坊市（未注明县区）各规则奖励万元" + "".join(v.get("county", k) for k, v in counties)
                        + "".join(v.get("title", "") for _, v in rules))
        if font is None and lang == "zh":
            _say_once(gettext(_NO_FONT, lang))
    elif font is not None:
        _readable_font(font)
    shown: Lang = "zh" if lang == "zh" and font else "en"   # Chinese only where it can be drawn
    cities = Names.of(None) if shown == "zh" else Names()
    county_labels = {k: _county_label(k, v, n, font, shown, cities) for n, (k, v) in enumerate(counties, 1)}
    rule_labels = {k: f"{k} {_clip(v.get('title', '') if shown == 'zh' else v.get('title_en', ''), 14 if font else 30)}"
                   for k, v in rules}
    out = Path(out_dir)
    with writing(out, "the charts"):   # a folder that cannot be written, a disk that fills: one located error
        out.mkdir(parents=True, exist_ok=True)
        by_county = out / "budget_by_county.png"
        by_rule = out / "budget_by_rule.png"
        drawn = [_bars(by_county, gettext(N_("Awards by county (10,000 yuan)"), shown),
                       [(county_labels[k], v) for k, v in counties], font, shown),
                 _bars(by_rule, gettext(N_("Awards by rule (10,000 yuan)"), shown),
                       [(rule_labels[k], v) for k, v in rules], font, shown)]
        report = out / "report.html"
        report.write_text(_html(data, font, searched, county_labels, counties, rules, (by_county, by_rule)),
                          encoding="utf-8")
    return drawn


_NO_FONT = N_("no CJK font found (looked through matplotlib's font manager and the system fonts): the charts are "
              "drawn in English, numbering the counties and naming rules by id; install a CJK font such as "
              "Debian's fonts-noto-cjk, or pass one with --font")
_said: set[str] = set()


def _say_once(message: str) -> None:
    """A notice on stderr, once per process however many charts are drawn."""
    if message not in _said:
        _said.add(message)
        print(f"incentives: {message}", file=sys.stderr)


def _county_label(key: str, entry: dict[str, Any], n: int, font: str | None, lang: Lang, names: Names) -> str:
    city, county = entry.get("city", ""), entry.get("county", key)
    if county.isascii():                  # "(unknown)": say whose
        return gettext(N_("%(city)s (county not recorded)"), lang) % {"city": names.city(city)}
    return county if font else f"{city} #{n}"


def _dec(text: Any) -> Decimal:
    return Decimal(str(text))


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _bars(path: Path, title: str, items: list[tuple[str, dict[str, Any]]], font: str | None, lang: Lang) -> BarChart:
    """Horizontal bars: the determined amount, and the ceilings of up_to awards on top of it."""
    figure_mod = require("matplotlib.figure")
    agg = require("matplotlib.backends.backend_agg")
    font_manager = require("matplotlib.font_manager")
    labels = [label for label, _ in items] or [gettext(N_("(no awards)"), lang)]
    fixed = [float(_dec(v["amount"]) / _WAN) for _, v in items] or [0.0]
    ceiling = [float((_dec(v["amount_max"]) - _dec(v["amount"])) / _WAN) for _, v in items] or [0.0]
    fig = figure_mod.Figure(figsize=(11, 1.4 + 0.3 * len(labels)), dpi=100)
    agg.FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    rows = list(range(len(labels)))[::-1]
    ax.barh(rows, fixed, color="#2f6f9f", label=gettext(N_("determined"), lang))
    ax.barh(rows, ceiling, left=fixed, color="#9cc3de", label=gettext(N_("up to (ceiling)"), lang))
    for row, (_, v), a, b in zip(rows, items, fixed, ceiling):
        ax.annotate(f"{v['awards']}", (a + b, row), xytext=(3, 0), textcoords="offset points", va="center",
                    fontsize=7, color="#555")
    ax.set_yticks(rows)
    props = font_manager.FontProperties(fname=font) if font else None
    ax.set_yticklabels(labels, fontproperties=props, fontsize=9)
    ax.set_title(title, fontproperties=props)
    ax.set_xlabel(gettext(N_("10,000 yuan (the number after a bar counts its awards)"), lang), fontproperties=props)
    legend = ax.legend(loc="lower right", fontsize=8, prop=props)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})
    return BarChart(path, ax.get_title(), ax.get_xlabel(), [t.get_text() for t in ax.get_yticklabels()][::-1],
                    [t.get_text() for t in legend.get_texts()])


def _money(text: Any) -> str:
    return f"{_dec(text):,}"


def _table(headers: list[str], rows: list[list[Any]], numeric_from: int) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(
        f"<td{' class=n' if i >= numeric_from else ''}>{html.escape(str(c))}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html(data: dict[str, Any], font: str | None, searched: bool, county_labels: dict[str, str],
          counties: list[tuple[str, dict[str, Any]]], rules: list[tuple[str, dict[str, Any]]],
          pngs: tuple[Path, Path]) -> str:
    images = [base64.b64encode(p.read_bytes()).decode("ascii") for p in pngs]
    counts = data.get("counts", {})
    total = data["total"]
    note = (f"Chart labels are in Chinese, drawn with the CJK font {Path(font).name}." if font else
            ("No CJK font is installed" if searched else "The charts were drawn without a CJK font") +
            ", so they label rules by id and English title and number the counties (the chart label column "
            "below gives each county's name); no glyph boxes appear.")
    money_cols = ["awards", "amount (yuan)", "amount with ceilings (yuan)"]

    def money(v: dict[str, Any]) -> list[Any]:
        return [v["awards"], _money(v["amount"]), _money(v["amount_max"])]

    sections = [
        ("By county 按县（市、区）", _table(["chart label", "city", "county", *money_cols],
                                        [[county_labels[k], v.get("city", ""), v.get("county", k), *money(v)]
                                         for k, v in counties], 3)),
        ("By payer 按出资方", _table(["payer", *money_cols], [[k, *money(v)] for k, v in
                                                          sorted(data["by_payer"].items())], 1)),
        ("By rule 按政策条款", _table(["rule", "title", "title (en)", *money_cols],
                                   [[k, v.get("title", ""), v.get("title_en", ""), *money(v)] for k, v in rules], 3)),
        ("By status 按金额类型", _table(["status", *money_cols],
                                    [[k, *money(v)] for k, v in sorted(data.get("by_status", {}).items())], 1)),
    ]
    facts = [("as of", data.get("as_of", "")), ("rulebook", data.get("rulebook_hash", "")),
             ("enterprises read", counts.get("enterprises_read", "")), ("assessed", counts.get("assessed", "")),
             ("with awards", counts.get("with_awards", "")), ("errors", counts.get("errors", "")),
             ("awards", total["awards"]), ("determined (yuan)", _money(total["amount"])),
             ("with ceilings (yuan)", _money(total["amount_max"])),
             ("enterprises/second", data.get("enterprises_per_second", ""))]
    facts_html = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts)
    return f"""<!doctype html>
<html lang="zh">
<head>
<meta charset="utf-8">
<title>惠企政策奖补测算 Incentive budget</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
img {{ max-width: 100%; }}
.note {{ color: #555; }}
</style>
</head>
<body>
<h1>惠企政策奖补测算 Incentive budget</h1>
<table>{facts_html}</table>
<p class="note">Determined amounts are fixed awards; ceilings add the maximum of each up-to award.
{html.escape(note)}</p>
<h2>Budget by county</h2>
<img alt="budget by county" src="data:image/png;base64,{images[0]}">
<h2>Budget by rule (programme)</h2>
<img alt="budget by rule" src="data:image/png;base64,{images[1]}">
{"".join(f"<h2>{html.escape(title)}</h2>{table}" for title, table in sections)}
</body>
</html>
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``incentives chart`` to the command line."""
    p = sub.add_parser("chart", help="charts and an HTML report from a batch summary.json",
                       description="Write budget_by_county.png, budget_by_rule.png and report.html.")
    p.add_argument("summary", help="summary.json written by incentives batch")
    p.add_argument("-o", "--output", required=True, dest="output_dir", help="directory for the charts")
    p.add_argument("--lang", choices=["zh", "en"], default="zh",
                   help="language of titles, axes and labels (default zh; Chinese needs a CJK font)")
    p.add_argument("--font", default=AUTO, help="font file to draw with (default: a CJK font found on the machine)")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    for path in chart(args.summary, args.output_dir, font=args.font, lang=args.lang):
        print(path)
    return 0

