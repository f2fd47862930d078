"""Briefing packs: figures in the PDF equal the table, escaping, the URL fetcher, workers."""

from __future__ import annotations

import logging
import math
import re
import warnings
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pdfplumber
import pytest
from pypdf import PdfReader

from compstat.actions import ACTION_COLUMNS
from compstat.analysis.measures import TOTAL, period_series
from compstat.analysis.period_table import period_table
from compstat.config import Config
from compstat.packs import RenderedPack, render_packs
from compstat.packs.charts import TrendLine, trend_chart
from compstat.packs.context import pack_filenames, unit_pack
from compstat.packs.filters import fmt_change, fmt_count, fmt_date, fmt_pct, fmt_value
from compstat.packs.render import TemplatesOnlyFetcher, html_to_pdf, render_html, templates_dir
from compstat.periods import comparison_windows, parse_period, recent_periods
from compstat.results import CycleData

MALICIOUS = 'Check <img src="file:///etc/passwd"> & <script>alert(1)</script> https://example.com/x.png'
LEAVES = ("N1", "N2", "N3/B")


def make_config(base: Path) -> Config:
    return Config.model_validate({
        "organisation": {"name": "Testshire Police", "slug": "testshire"},
        "units": [{
            "code": "D1", "name": "North Division", "commander": "Ch Supt Rowe",
            "children": [
                {"code": "N1", "name": "Northtown", "commander": "Supt A. Khan"},
                {"code": "N2", "name": "Hill & Vale", "commander": "Supt B. O'Neill"},
                {"code": "N3/B", "name": "Brookside", "commander": ""},
            ],
        }],
        "measures": [
            {"id": "burglary", "name": "Burglary", "kind": "count"},
            {"id": "robbery", "name": "Robbery", "kind": "count"},
            {"id": "recorded", "name": "Crimes recorded", "kind": "count", "report": False},
            {"id": "solved", "name": "Crimes solved", "kind": "count", "report": False},
            {"id": "solved_rate", "name": "Solved rate", "kind": "rate", "numerator": "solved",
             "denominator": "recorded", "per": 100, "unit_label": "%", "polarity": "higher"},
        ],
        "sources": [],
        "small_number": 10,
        "base_dir": base,
    })


def make_daily(config: Config, first: date, last: date) -> pd.DataFrame:
    """Seeded daily totals per leaf unit and measure, plus their sum under ``_total``.

    Planted: N2 had no robbery at all a year before the period (``*``); robbery is rare
    everywhere (small numbers, ``†``).
    """
    rng = np.random.default_rng(42)
    days = pd.date_range(first, last, freq="D")
    zero_from, zero_to = pd.Timestamp(last) - pd.Timedelta(days=420), pd.Timestamp(last) - pd.Timedelta(days=300)
    rows = []
    for i, code in enumerate(LEAVES):
        burglary = rng.poisson(3.0 + i, len(days))
        robbery = rng.poisson(0.08, len(days))
        if code == "N2":
            robbery[(days >= zero_from) & (days <= zero_to)] = 0
        recorded = rng.poisson(12, len(days))
        solved = rng.binomial(recorded, 0.3)
        for measure, values in (("burglary", burglary), ("robbery", robbery),
                                ("recorded", recorded), ("solved", solved)):
            rows.append(pd.DataFrame({"unit_code": code, "measure_id": measure, "date": days,
                                      "total": values.astype(float), "n": values.astype(int)}))
    daily = pd.concat(rows, ignore_index=True)
    total = daily.groupby(["measure_id", "date"], as_index=False)[["total", "n"]].sum().assign(unit_code=TOTAL)
    return pd.concat([daily, total], ignore_index=True)[["unit_code", "measure_id", "date", "total", "n"]]


def make_actions(period_end: date) -> pd.DataFrame:
    base = {"measure_id": None, "raised_period": "2026-W06", "raised_on": date(2026, 2, 8), "closed_on": None,
            "last_note": "", "meetings_carried": 4, "overdue": False, "carried": True}
    rows = [
        {**base, "id": 1, "unit_code": "N1", "measure_id": "burglary",
         "description": "Target hardening visits on the Elm estate", "owner": "Insp C. Patel",
         "due_date": period_end - timedelta(days=10), "status": "open", "overdue": True,
         "last_note": "Awaiting crime prevention officer"},
        {**base, "id": 2, "unit_code": "N1", "description": "Review robbery patrol plan",
         "owner": "Sgt D. Jones", "due_date": period_end + timedelta(days=14), "status": "in progress",
         "meetings_carried": 1},
        {**base, "id": 3, "unit_code": "N1", "description": "Publish burglary advice leaflet",
         "owner": "PCSO E. Smith", "due_date": period_end - timedelta(days=3), "status": "done",
         "closed_on": period_end - timedelta(days=2), "carried": False, "last_note": "Delivered to 900 homes"},
        {**base, "id": 4, "unit_code": "N2", "description": MALICIOUS, "owner": "Insp <b>Evil</b> & Co",
         "due_date": period_end + timedelta(days=7), "status": "open", "last_note": "<i>note</i>"},
    ]
    return pd.DataFrame(rows, columns=ACTION_COLUMNS)


@pytest.fixture(scope="module")
def cycle_data(tmp_path_factory: pytest.TempPathFactory) -> CycleData:
    config = make_config(tmp_path_factory.mktemp("config"))
    period = parse_period("2026-W10", config.cadence)
    windows = comparison_windows(period, config.cadence)
    chart = recent_periods(period, config.cadence, 104)
    first = min([chart[0].start] + [w.prev_start for w in windows])
    daily = make_daily(config, first, period.end)
    with warnings.catch_warnings():
        # compstat.analysis.measures.bucket_start uses Series.dt.weekday, deprecated in pandas 3.1
        # (owned elsewhere; to be fixed there with dt.day_of_week).
        warnings.filterwarnings("ignore", message=r"Series\.dt\.weekday is deprecated")
        series = period_series(daily, config, chart[0].start, period.end)
    return CycleData(
        config=config, period=period, windows=windows, meeting_date=period.end + timedelta(days=3),
        run_at=datetime(2026, 3, 9, 7, 30), table=period_table(daily, config, windows),
        series=series,
        actions=make_actions(period.end),
        data_as_of=dict.fromkeys(LEAVES, period.end) | {"N2": period.end - timedelta(days=1)},
    )


@pytest.fixture(scope="module")
def rendered(cycle_data: CycleData, tmp_path_factory: pytest.TempPathFactory) -> list[RenderedPack]:
    return render_packs(cycle_data, tmp_path_factory.mktemp("packs"), workers=2)


def pdf_pages(path: Path) -> list[str]:
    with pdfplumber.open(path) as pdf:
        return [page.extract_text() or "" for page in pdf.pages]


def pdf_text(path: Path) -> str:
    return "\n".join(pdf_pages(path))


def pdf_body(path: Path) -> str:
    """The text after the cover page (whose agenda repeats the section headings)."""
    return "\n".join(pdf_pages(path)[1:])


def section(text: str, start: str, end: str | None) -> str:
    body = text[text.index(start):]
    return body[:body.index(end)] if end else body


@dataclass(frozen=True)
class Row:
    """The figures of one period-table row."""

    current: float
    previous: float
    change: float
    pct_change: float
    small_numbers: bool


def table_row(data: CycleData, unit: str, measure: str, window: str) -> Row:
    t = data.table
    r = t[(t.unit_code == unit) & (t.measure_id == measure) & (t.window == window)].iloc[0]
    return Row(float(r["current"]), float(r["previous"]), float(r["change"]), float(r["pct_change"]),
               bool(r["small_numbers"]))


def test_planted_cases_exist(cycle_data: CycleData) -> None:
    zero = table_row(cycle_data, "N2", "robbery", "28d")
    assert zero.previous == 0 and math.isnan(zero.pct_change)
    assert table_row(cycle_data, "N1", "robbery", "28d").small_numbers
    assert not table_row(cycle_data, "N1", "burglary", "28d").small_numbers


def test_writes_one_pack_per_leaf_unit_and_the_chair_pack(rendered: list[RenderedPack]) -> None:
    names = sorted(p.path.name for p in rendered)
    assert names == ["chair-pack.pdf", "pack-N1.pdf", "pack-N2.pdf", "pack-N3_B.pdf"]
    assert [p.unit_code for p in rendered] == [*LEAVES, None]
    for pack in rendered:
        assert pack.path.read_bytes().startswith(b"%PDF-")
        assert pack.seconds > 0
        assert len(PdfReader(pack.path).pages) >= 3


def _unit_pdf(rendered: list[RenderedPack], code: str) -> Path:
    return next(p.path for p in rendered if p.unit_code == code)


@pytest.mark.parametrize("unit", ["N1", "N2"])
def test_table_figures_match_the_period_table(cycle_data: CycleData, rendered: list[RenderedPack],
                                              unit: str) -> None:
    text = section(pdf_body(_unit_pdf(rendered, unit)), "2. Performance against last year", "3. Trends")
    for measure in cycle_data.config.reported_measures:
        line = next(ln for ln in text.splitlines() if ln.startswith(measure.name))
        expected = []
        for w in cycle_data.windows:
            r = table_row(cycle_data, unit, measure.id, w.key)
            label = measure.unit_label
            pct = fmt_pct(r.pct_change, "*" if r.previous == 0 else "–") + ("†" if r.small_numbers else "")
            expected.append(" ".join([fmt_value(r.current, measure.kind, label),
                                      fmt_value(r.previous, measure.kind, label),
                                      fmt_change(r.change, measure.kind), pct]))
        assert line == f"{measure.name} {' '.join(expected)}"


def test_zero_last_year_and_small_numbers_are_marked(cycle_data: CycleData, rendered: list[RenderedPack]) -> None:
    text = section(pdf_body(_unit_pdf(rendered, "N2")), "2. Performance against last year", "3. Trends")
    r = table_row(cycle_data, "N2", "robbery", "28d")
    robbery = next(ln for ln in text.splitlines() if ln.startswith("Robbery"))
    assert f"{fmt_count(r.current)} 0 {fmt_change(r.change)} *†" in robbery
    assert "* no comparison: last year was 0" in text
    assert "† fewer than 10 in both periods: treat the change with caution" in text
    burglary = next(ln for ln in text.splitlines() if ln.startswith("Burglary"))
    assert "*" not in burglary and "†" not in burglary


def test_window_dates_are_captioned(cycle_data: CycleData, rendered: list[RenderedPack]) -> None:
    text = " ".join(pdf_text(_unit_pdf(rendered, "N1")).split())
    w = cycle_data.windows[1]
    assert (f"28 days: {fmt_date(w.start)} – {fmt_date(w.end)} against "
            f"{fmt_date(w.prev_start)} – {fmt_date(w.prev_end)}") in text


def test_unit_pack_cover_and_actions(rendered: list[RenderedPack]) -> None:
    cover, *pages = pdf_pages(_unit_pdf(rendered, "N1"))
    text = "\n".join(pages)
    for expected in ("Testshire Police", "Northtown", "N1", "Supt A. Khan", "North Division",
                     "2026-W10", "2 Mar 2026 – 8 Mar 2026", "11 Mar 2026", "9 Mar 2026 07:30"):
        assert expected in cover
    assert text.index("1. Actions from the last meeting\n") < text.index("2. Performance against last year")
    assert text.index("2. Performance against last year") < text.index("3. Trends")
    actions = section(text, "1. Actions from the last meeting\n", "2. Performance against last year")
    assert "⚠ OVERDUE" in actions
    assert "2 open · 1 overdue · 1 completed since last meeting" in actions
    carried, completed = actions.split("Completed since last meeting\n")
    assert carried.index("Target hardening") < carried.index("Review robbery patrol plan")  # overdue first
    assert "Last note: Awaiting crime prevention officer" in carried
    assert "Publish burglary advice leaflet" in completed and "Publish" not in carried
    assert "Page 1 of 3" in cover and "Page 2 of 3" in text
    assert "Testshire Police · 2026-W10 (2 Mar 2026 – 8 Mar 2026)" in text
    assert "Northtown (N1) · briefing pack" in text and "Northtown (N1) · briefing pack" not in cover


def test_data_is_escaped_not_interpreted(rendered: list[RenderedPack]) -> None:
    text = pdf_text(_unit_pdf(rendered, "N2"))
    flat = re.sub(r"\s+", "", text)
    assert '<imgsrc="file:///etc/passwd">' in flat
    assert "<script>alert(1)</script>" in flat
    assert "https://example.com/x.png" in flat
    assert "<i>note</i>" in flat and "<b>Evil</" in flat
    assert "Hill & Vale" in text
    assert "There are no actions carried forward" in pdf_text(_unit_pdf(rendered, "N3/B"))


def test_template_escapes_every_data_field(cycle_data: CycleData) -> None:
    pack = unit_pack(cycle_data, cycle_data.config.leaf_units[1])
    html = render_html(pack.template, templates_dir(), pack=pack)
    assert "&lt;img src=&#34;file:///etc/passwd&#34;&gt; &amp; &lt;script&gt;" in html
    assert "Insp &lt;b&gt;Evil&lt;/b&gt; &amp; Co" in html and "&lt;i&gt;note&lt;/i&gt;" in html
    assert "Hill &amp; Vale" in html
    assert "<script" not in html and 'src="file:' not in html and "<b>" not in html
    assert html.count("<img ") == len(pack.charts)
    assert all(src.startswith("data:image/png;base64,") for src in re.findall(r'<img src="([^"]*)"', html))


def test_chair_pack(cycle_data: CycleData, rendered: list[RenderedPack]) -> None:
    cover, *pages = pdf_pages(next(p.path for p in rendered if p.unit_code is None))
    text = "\n".join(pages)
    headings = ["1. Actions from the last meeting\n", "2. Force-wide performance", "3. Units at a glance",
                "4. Force-wide trends"]
    positions = [text.index(h) for h in headings]
    assert positions == sorted(positions)
    assert "Units 3" in cover
    actions = section(text, headings[0], headings[1])
    assert "3 open · 1 overdue · 1 completed since last meeting" in actions
    assert actions.index("Northtown") < actions.index("Hill & Vale")
    performance = section(text, headings[1], headings[2])
    r = table_row(cycle_data, TOTAL, "burglary", "28d")
    line = next(ln for ln in performance.splitlines() if ln.startswith("Burglary"))
    assert f"{fmt_count(r.current)} {fmt_count(r.previous)} {fmt_change(r.change)} {fmt_pct(r.pct_change)}" in line
    glance = section(text, headings[2], headings[3])
    for code in ("N1", "N2"):
        r = table_row(cycle_data, code, "burglary", "28d")
        word = "▲ up" if r.change > 0 else "▼ down" if r.change < 0 else "= same"
        assert word in glance
        assert f"{fmt_count(r.current)} vs {fmt_count(r.previous)}" in glance
    assert "* no comparison: last year was 0" in glance
    assert "All units" in glance


def test_workers_one_and_two_write_the_same_files(cycle_data: CycleData, rendered: list[RenderedPack],
                                                  tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        serial = render_packs(cycle_data, tmp_path, workers=1)
    assert [p.path.name for p in serial] == [p.path.name for p in rendered]
    for a, b in zip(serial, rendered, strict=True):
        assert pdf_text(a.path) == pdf_text(b.path)
    # Like WeasyPrint's assert_no_logs: no refused resource, no unsupported CSS. Only the
    # notice that HarfBuzz-Subset is not installed (fontTools subsets instead) is allowed.
    problems = [r.getMessage() for r in caplog.records if "HarfBuzz-Subset" not in r.getMessage()]
    assert problems == []


# --- URL fetcher --------------------------------------------------------------------


def test_fetcher_refuses_local_files_and_network(monkeypatch: pytest.MonkeyPatch) -> None:
    fetcher = TemplatesOnlyFetcher(templates_dir())
    refused = ("file:///etc/passwd", "http://example.com/", "https://example.com/x.png",
               f"file://{templates_dir()}/../pyproject.toml", "file://evil.example/etc/passwd",
               "ftp://example.com/x", "FILE:///etc/passwd")

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("file or network access attempted")

    with monkeypatch.context() as m:
        for target in ("socket.socket.connect", "socket.create_connection", "builtins.open",
                       "urllib.request.OpenerDirector.open", "pathlib.Path.resolve", "pathlib.Path.is_file",
                       "pathlib.Path.read_bytes", "os.stat", "os.lstat"):
            m.setattr(target, forbidden)
        for url in refused:
            with pytest.raises(ValueError, match="refused"):
                fetcher.fetch(url)
    response = fetcher.fetch("data:text/plain;base64,aGVsbG8=")
    assert response.read() == b"hello"
    response.close()
    css = fetcher.fetch(f"file://{templates_dir()}/pack.css")
    assert b"@page" in css.read() and css.content_type == "text/css"
    css.close()


def test_fetcher_refuses_symlinks_out_of_the_templates_folder(tmp_path: Path) -> None:
    (tmp_path / "ok.css").write_text("p { color: black }")
    (tmp_path / "escape.css").symlink_to("/etc/passwd")
    fetcher = TemplatesOnlyFetcher(tmp_path)
    assert fetcher.fetch(f"file://{tmp_path}/ok.css").read() == b"p { color: black }"
    with pytest.raises(ValueError, match="refused"):
        fetcher.fetch(f"file://{tmp_path}/escape.css")
    with pytest.raises(ValueError, match="refused"):
        fetcher.fetch(f"file://{tmp_path}/missing.css")


def test_templates_folder_can_be_overridden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert templates_dir() == Path(__file__).resolve().parents[1] / "templates"
    monkeypatch.setenv("COMPSTAT_TEMPLATES", str(tmp_path))
    assert templates_dir() == tmp_path.resolve()


def test_markup_in_html_fetches_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        caplog: pytest.LogCaptureFixture) -> None:
    fetched: list[str] = []
    original = TemplatesOnlyFetcher.fetch

    def spy(self: TemplatesOnlyFetcher, url: str, headers: dict[str, str] | None = None) -> object:
        fetched.append(url)
        return original(self, url, headers)

    monkeypatch.setattr(TemplatesOnlyFetcher, "fetch", spy)
    opened: list[str] = []
    monkeypatch.setattr("urllib.request.OpenerDirector.open",
                        lambda self, url, *a, **k: opened.append(str(url)))
    html = ('<p>x</p><img src="file:///etc/passwd"><img src="https://example.com/x.png">'
            '<link rel="stylesheet" href="http://example.com/evil.css">')
    with caplog.at_level(logging.ERROR, logger="weasyprint"):
        html_to_pdf(html, tmp_path / "x.pdf", templates_dir())
    assert (tmp_path / "x.pdf").exists()
    assert set(fetched) == {"file:///etc/passwd", "https://example.com/x.png", "http://example.com/evil.css"}
    assert opened == []
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 3


# --- filters ------------------------------------------------------------------------


def test_fmt_pct() -> None:
    assert fmt_pct(float("nan")) == "*"
    assert fmt_pct(None) == "*"
    assert fmt_pct(float("nan"), "–") == "–"
    assert fmt_pct(12.345) == "+12.3%"
    assert fmt_pct(-4.06) == "-4.1%" and fmt_pct(-4.04) == "-4.0%"
    assert fmt_pct(-33.333) == "-33.3%"
    assert fmt_pct(0.04) == "0.0%" and fmt_pct(-0.04) == "0.0%"
    assert fmt_pct(1234.5) == "+1,234.5%"


def test_fmt_numbers() -> None:
    assert fmt_count(1234.0) == "1,234"
    assert fmt_count(2.5) == "2" and fmt_count(3.5) == "4"  # round half to even
    assert fmt_count(float("nan")) == "–"
    assert fmt_value(1234.0, "count", "%") == "1,234"
    assert fmt_value(31.25, "rate", "%") == "31.2%"
    assert fmt_value(4.26, "rate", "per 1,000") == "4.3 per 1,000"
    assert fmt_value(float("nan"), "rate", "%") == "–"
    assert fmt_change(12.0) == "+12" and fmt_change(-3.0) == "-3" and fmt_change(0.0) == "0"
    assert fmt_change(-0.04, "rate") == "0.0" and fmt_change(1.25, "rate") == "+1.2"
    assert fmt_date(date(2026, 3, 8)) == "8 Mar 2026"
    assert fmt_date(datetime(2026, 3, 9, 7, 30), with_time=True) == "9 Mar 2026 07:30"
    assert fmt_date(None) == "–"


# --- charts and file names ----------------------------------------------------------


@pytest.mark.parametrize("values", [[], [math.nan] * 104, [0.0] * 104, [3.0]])
def test_trend_chart_copes_with_gaps_and_closes_its_figure(values: list[float]) -> None:
    starts = [date(2024, 3, 4) + timedelta(weeks=i) for i in range(len(values))]
    png = trend_chart(TrendLine("Burglary per week", starts, values, periods_per_year=52))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert plt.get_fignums() == []


def test_pack_filenames_are_safe_and_distinct(tmp_path: Path) -> None:
    config = Config.model_validate({
        "organisation": {"name": "T", "slug": "t"}, "measures": [], "sources": [], "base_dir": tmp_path,
        "units": [{"code": c, "name": c} for c in ("A/1", "A_1", "../x", "chair")],
    })
    assert pack_filenames(config) == {"A/1": "pack-A_1.pdf", "A_1": "pack-A_1-2.pdf", "../x": "pack-_x.pdf",
                                      "chair": "pack-chair.pdf"}
