"""The public report card: disclosure control worked by hand and attacked, the site's structure, its open data
equal to its pages, public actions only and no names; and the suppression rules on real London counts."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Hashable
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from compstat.cli import app
from compstat.config import Config, Disclosure, load_config
from compstat.errors import ConfigError
from compstat.periods import parse_period
from compstat.publish.card import groups, spans
from compstat.publish.disclosure import Shown, protect
from compstat.store import Action, connect, transaction

RULES = Disclosure()  # threshold 5, suppress
# A division D (units A, B, C) and E (units F, G) under the organisation T.
GROUPS = [("T", ["D", "E"]), ("D", ["A", "B", "C"]), ("E", ["F", "G"])]


def table(**counts: int | None) -> dict[Hashable, int | None]:
    out: dict[Hashable, int | None] = dict(counts)
    out["D"] = sum(counts[k] or 0 for k in "ABC")
    out["E"] = sum(counts[k] or 0 for k in "FG")
    out["T"] = out["D"] + out["E"]  # type: ignore[operator]
    return out


def differencing_attack(values: dict[Hashable, int | None], shown: dict[Hashable, Shown],
                        sums: list[tuple[Hashable, list[Hashable]]]) -> list[Hashable]:
    """Every suppressed cell an attacker recovers exactly: for each total, subtract the published parts (one
    unknown left: it is recovered), and by brute force over every value each hidden unit's label allows (1 to 4,
    or 0 to 40 withheld), the cells left with one possible value by all the published figures and sums."""
    recovered = []
    for total, parts in sums:
        members = [total, *parts]
        hidden = [m for m in members if shown[m].value is None]
        if len(hidden) == 1:
            recovered.append(hidden[0])
    leaves = [k for k in shown if not any(k == t for t, _ in sums)]
    hidden = [k for k in leaves if shown[k].value is None]
    ranges = [np.arange(1, 5) if shown[k].status == "fewer" else np.arange(0, 41) for k in hidden]
    grid = dict(zip(hidden, (g.ravel() for g in np.meshgrid(*ranges, indexing="ij")), strict=True))
    size = len(next(iter(grid.values()))) if grid else 1
    guess = {k: grid[k] if k in grid else np.full(size, shown[k].value) for k in leaves}
    for total, parts in sums[::-1]:  # lower totals first (the test's groups list the organisation first)
        guess[total] = sum(guess[p] for p in parts)
    ok = np.ones(size, dtype=bool)
    for key, cell in shown.items():
        if cell.value is not None:
            ok &= guess[key] == cell.value
        elif cell.status == "fewer":
            ok &= (guess[key] >= 1) & (guess[key] <= 4)
        else:
            ok &= guess[key] >= 0
    assert ok.any()
    for key, cell in shown.items():
        if cell.value is None:
            possible = set(guess[key][ok].tolist())
            assert values[key] in possible or values[key] > 40  # the truth is among them (searched to 40)
            if len(possible) == 1:
                recovered.append(key)
    return recovered


def test_primary_suppression_by_hand() -> None:
    shown = protect(table(A=3, B=20, C=12, F=0, G=7), GROUPS, RULES)
    assert shown["A"] == Shown(None, "fewer", "fewer than 5")
    assert shown["F"] == Shown(0, "published", "0")  # zero is published
    assert shown["G"].value == 7 and shown["T"].value == 42
    # A alone hidden in D = A + B + C = 35 would be 35 - 20 - 12 = 3: C (12, the smaller) is withheld too
    assert shown["C"].status == "withheld" and shown["B"].value == 20 and shown["D"].value == 35


def test_differencing_attack_on_a_division_total_fails() -> None:
    cases = [(3, 20, 12, 0, 7), (1, 5, 30, 2, 9), (4, 4, 0, 6, 6), (1, 1, 8, 1, 40), (2, 0, 0, 3, 0), (4, 6, 9, 4, 5)]
    for case in cases:
        counts = dict(zip("ABCFG", case, strict=True))
        values = table(**counts)
        shown = protect(values, GROUPS, RULES)
        assert differencing_attack(values, shown, GROUPS) == [], counts
        for key, value in values.items():  # nothing published below the threshold but 0
            assert shown[key].value is None or shown[key].value == 0 or shown[key].value >= 5
            assert shown[key].value in (None, value)


def test_unprotected_table_is_recovered() -> None:
    """The attack works: primary suppression alone leaves A = D - B - C."""
    values = table(A=3, B=20, C=12, F=0, G=7)
    naive = {k: Shown(None, "fewer", "") if v is not None and 0 < v < 5 else Shown(v, "published", str(v))
             for k, v in values.items()}
    assert "A" in differencing_attack(values, naive, GROUPS)


def test_rounding() -> None:
    rules = Disclosure(method="round", round_to=5)
    shown = protect(table(A=3, B=22, C=12, F=0, G=7), GROUPS, rules)
    assert {k: s.value for k, s in shown.items()} == {"A": 5, "B": 20, "C": 10, "F": 0, "G": 5, "D": 35, "E": 5,
                                                      "T": 45}
    off = protect(table(A=3, B=22, C=12, F=0, G=7), GROUPS, Disclosure(enabled=False))
    assert off["A"].value == 3


def test_config_publish_keys(small_config_path: Path) -> None:
    raw = yaml.safe_load(small_config_path.read_text())
    raw["publish"] = {"measures": ["nope"]}
    small_config_path.write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(app, ["publish", "--config", str(small_config_path)])
    assert result.exit_code == 2 and "publish.measures.0: 'nope' is not a measure id" in result.output
    raw["publish"] = {"disclosure": {"method": "blank"}}
    small_config_path.write_text(yaml.safe_dump(raw))
    assert CliRunner().invoke(app, ["publish", "--config", str(small_config_path)]).exit_code == 2
    raw["publish"] = {"measures": ["burglary"]}
    small_config_path.write_text(yaml.safe_dump(raw))
    empty = CliRunner().invoke(app, ["publish", "--config", str(small_config_path), "--period", "2026-W10", "--db",
                                     f"sqlite:///{small_config_path.parent / 'empty.db'}", "--out",
                                     str(small_config_path.parent / "site")])
    assert empty.exit_code == 1 and "the store holds no data for 2026-W10" in empty.output, empty.output
    assert not (small_config_path.parent / "site" / "index.html").exists()
    both = CliRunner().invoke(app, ["actions", "update", "--config", str(small_config_path), "1", "--by", "x",
                                    "--public", "--not-public"])
    assert both.exit_code == 2 and "give one of them" in both.output


def test_a_measure_that_is_part_of_another_is_not_published_beside_it(small_config_path: Path) -> None:
    """Burglary (both kinds) and residential burglary published together: the other kind is their difference,
    so a suppressed count of one could be worked out from the other two. Refused at load, unless the two are
    the same records, or disclosure control is off."""
    raw = yaml.safe_load(small_config_path.read_text())
    raw["measures"] += [{"id": "all_burglary", "name": "All burglary", "filter": {"category": ["burglary", "bcb"]}},
                        {"id": "robbery_personal", "name": "Personal robbery",
                         "filter": {"category": "robbery", "subcategory": "personal"}}]
    for published, refused in ((["burglary", "all_burglary"], ("burglary", "all_burglary")),
                               (["robbery_personal", "robbery"], ("robbery_personal", "robbery")),
                               (["burglary", "robbery"], None), (["all_burglary", "robbery_personal"], None)):
        raw["publish"] = {"measures": published}
        small_config_path.write_text(yaml.safe_dump(raw))
        if refused is None:
            load_config(small_config_path)
            continue
        with pytest.raises(ConfigError, match=f"'{refused[0]}' is part of '{refused[1]}'.*subtract one from the other"):
            load_config(small_config_path)
        raw["publish"]["disclosure"] = {"enabled": False}
        small_config_path.write_text(yaml.safe_dump(raw))
        load_config(small_config_path)


class _Page(HTMLParser):
    """A page's tables (caption → rows of cell texts), links, scripts and text."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.links: list[str] = []
        self.tags: set[str] = set()
        self._caption: str | None = None
        self._in_caption = False
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        found = dict(attrs)
        for key in ("href", "src"):
            if found.get(key):
                self.links.append(str(found[key]))
        if tag == "caption":
            self._in_caption, self._caption = True, ""
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "caption":
            self._in_caption = False
            self.tables[self._caption or ""] = []
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._caption is not None:
            self.tables[self._caption].append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_caption:
            self._caption = (self._caption or "") + data
        if self._cell is not None:
            self._cell.append(data)


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


@pytest.fixture(scope="module")
def demo_site(demo_w48: tuple[list[str], Path, str, dict[str, object]],
              tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Config, str]:
    """The session's demo store copied, one more action marked public (beside the two the demo marks), then
    published."""
    args, _, _, raw = demo_w48
    root = tmp_path_factory.mktemp("publish")
    store = Path(str(raw["store"]).removeprefix("sqlite:///"))
    shutil.copyfile(store, root / "demo.db")
    url = f"sqlite:///{root / 'demo.db'}"
    config = load_config(args[1])
    with transaction(connect(url)) as session:
        first = session.scalars(select(Action).where(Action.org == "demo", Action.unit_code == "N4",
                                                     Action.public.is_(False)).order_by(Action.id)).first()
        assert first is not None
        action_id, owner = first.id, first.owner
    runner = CliRunner()
    marked = runner.invoke(app, ["actions", "update", *args, str(action_id), "--by", "Chair", "--public",
                                 "--db", url])
    assert marked.exit_code == 0 and "on the public report card" in marked.output, marked.output
    out = root / "site"
    result = runner.invoke(app, ["publish", *args, "--period", "2026-W48", "--out", str(out), "--db", url])
    assert result.exit_code == 0, result.output
    assert "16 pages" in result.output and str(out / "index.html") in result.output
    with transaction(connect(url)) as session:
        history = session.execute(select(Action.public).where(Action.id == action_id)).scalar_one()
        assert history is True
    return out, config, owner


def test_site_structure(demo_site: tuple[Path, Config, str]) -> None:
    out, config, _ = demo_site
    pages = sorted(p.name for p in out.glob("*.html"))
    assert pages == sorted(["index.html"] + [f"area-{c}.html" for c in
                                             ["N", "S", "E"] + [u.code for u in config.leaf_units]])
    for path in out.glob("*.html"):
        html = path.read_text(encoding="utf-8")
        page = parse(path)
        assert "script" not in page.tags and "<script" not in html.lower() and "on" + "load=" not in html
        assert all(not re.match(r"^[a-z]+:|^//", link) or link.startswith("#") for link in page.links), page.links
        assert all((out / link.split("#")[0]).exists() for link in page.links if not link.startswith("#"))
        charts = 10 if path.name in ("index.html", "area-N.html", "area-S.html", "area-E.html") else 5  # + maps
        assert html.count('role="img"') == charts and html.count("<title id=") == charts
        assert html.count("<desc id=") == charts
        assert 'lang="en"' in html


def test_open_data_equals_page_tables(demo_site: tuple[Path, Config, str]) -> None:
    out, config, _ = demo_site
    data = pd.read_csv(out / "data.csv", dtype=str, keep_default_na=False)
    as_json = json.loads((out / "data.json").read_text(encoding="utf-8"))
    assert len(as_json["figures"]) == len(data) == 16 * 5 * 13
    for row, record in zip(data.to_dict("records"), as_json["figures"], strict=True):
        assert row["this_year"] == ("" if record["this_year"] is None else str(record["this_year"]))
        assert row["this_year_status"] == record["this_year_status"]
    names = {"_total": "index.html", **{c: f"area-{c}.html" for c in data["area"].unique() if c != "_total"}}
    for area, part in data.groupby("area"):
        page = parse(out / names[str(area)])
        for measure, rows in part.groupby("measure_name", sort=False):
            shown = page.tables[f"{measure} in {rows['area_name'].iloc[0]}"]
            expected = [[f"{int(v):,}" if v else s for v, s in ((r.this_year, r.this_year_status),)][0]
                        for r in rows.itertuples()]
            assert [cells[1] for cells in shown[1:]] == expected
            last = [f"{int(r.last_year):,}" if r.last_year else r.last_year_status for r in rows.itertuples()]
            assert [cells[2] for cells in shown[1:]] == last


def test_published_counts_protected(demo_site: tuple[Path, Config, str]) -> None:
    """No count from 1 to 4 is published, something is suppressed, and no table can be differenced."""
    out, config, _ = demo_site
    data = pd.read_csv(out / "data.csv")
    for column in ("this_year", "last_year"):
        published = data[column].dropna()
        assert not ((published > 0) & (published < 5)).any()
    assert (data["this_year_status"] == "fewer than 5").any() and (data["this_year_status"] == "withheld").any()
    sums = groups(config)
    for (_, _), part in data.groupby(["measure_id", "span"]):
        for column in ("this_year", "last_year"):
            cells = dict(zip(part["area"], part[column], strict=True))
            for total, parts in sums:
                members = [total, *parts]
                hidden = [m for m in members if pd.isna(cells[m])]
                assert len(hidden) != 1, (total, parts, cells)
                if not hidden:
                    assert cells[total] == sum(cells[p] for p in parts)  # totals consistent


def test_public_actions_only_and_no_names(demo_site: tuple[Path, Config, str]) -> None:
    out, config, owner = demo_site
    actions = json.loads((out / "actions.json").read_text(encoding="utf-8"))["actions"]
    assert sorted(a["area"] for a in actions) == ["E2", "N4", "N4"]  # the demo's two, and the one marked here
    assert {frozenset(a) for a in actions} == {frozenset(
        {"id", "area", "area_name", "measure", "action", "status", "due", "completed"})}
    everything = "".join(p.read_text(encoding="utf-8") for p in out.glob("*.*") if p.suffix != ".css")
    commanders = [u.commander for u in config.leaf_units] + [owner]
    assert not [name for name in commanders if name and name in everything]
    n4 = (out / "area-N4.html").read_text(encoding="utf-8")
    assert "What is being done" in n4 and "<b>" not in n4  # the demo's actions hold markup: escaped
    assert "No action has been published for this area yet." in (out / "area-S2.html").read_text(encoding="utf-8")
    index = (out / "index.html").read_text(encoding="utf-8")
    assert actions[0]["action"].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")[:20] in index


def test_real_london_borough_counts(shared_dir: Path) -> None:
    """London's 32 boroughs under 5 areas, monthly counts of the minor categories (many below 5) over the
    card's 12 months and last year's: nothing from 1 to 4 published, no total differenced, totals consistent."""
    config = load_config(Path(__file__).resolve().parents[1] / "config" / "london.yaml")
    raw = pd.read_csv(shared_dir / "data" / "london_borough_crime_monthly.csv.gz",
                      usecols=["boroughname", "minortext", "month", "count"])
    codes = {u.name: u.code for u in config.leaf_units}
    raw["unit"] = raw["boroughname"].map(codes)
    raw = raw.dropna(subset=["unit"])
    windows = spans(config, parse_period("2026-01", config.cadence))
    months = {str(s) for w in windows for s in (w.start, w.prev_start)}
    raw = raw[raw["month"].isin(months)]
    counts = raw.groupby(["minortext", "month", "unit"])["count"].sum()
    sums = [(t, list(p)) for t, p in groups(config)]
    rules = config.publish.disclosure
    fewer = withheld = 0
    for (_, _), part in counts.groupby(level=[0, 1]):
        by_unit = part.droplevel([0, 1])
        values: dict[Hashable, int | None] = {u.code: int(by_unit.get(u.code, 0)) for u in config.leaf_units}
        for total, parts in sums[::-1]:  # areas before the organisation
            values[total] = sum(values[p] or 0 for p in parts)
        shown = protect(values, sums, rules)
        fewer += sum(s.status == "fewer" for s in shown.values())
        withheld += sum(s.status == "withheld" for s in shown.values())
        for total, parts in sums:
            assert sum(shown[x].value is None for x in (total, *parts)) != 1
            if all(shown[x].value is not None for x in (total, *parts)):
                assert shown[total].value == sum(shown[p].value or 0 for p in parts)
        for key, cell in shown.items():
            assert cell.value is None or cell.value == 0 or cell.value >= 5
            assert cell.value in (None, values[key])
    assert fewer > 100 and withheld > 50, (fewer, withheld)


def test_marking_an_action_public(small_config: Config, store_url: str) -> None:
    """`--public` is an update kept in the history; only public actions reach the card, without owner or notes."""
    from compstat.actions.log import NewAction, action_history, add_action, update_action
    from compstat.publish.site import public_actions

    engine = connect(store_url)
    with transaction(engine) as session:
        week = parse_period("2026-W10", small_config.cadence)
        shown = add_action(session, small_config, week, NewAction("A", "Patrols at <the> station", "Sgt Owner",
                                                                 measure_id="burglary"), "chair")
        add_action(session, small_config, week, NewAction("B", "Private plan", "Sgt Hidden"), "chair")
        update_action(session, shown.id, "chair", note="a private note", public=True)
        assert update_action(session, shown.id, "chair", public=True).version == shown.version  # nothing to do
        history = [(u.field, u.old, u.new) for u in action_history(session, shown.id)]
        assert ("public", "false", "true") in history
        card = public_actions(session, small_config)
        assert card.to_dict("records") == [{"id": shown.id, "area": "A", "area_name": "Alpha", "measure": "Burglary",
                                            "action": "Patrols at <the> station", "status": "Open",
                                            "due": shown.due_date.isoformat(), "completed": ""}]
        update_action(session, shown.id, "chair", public=False)
        assert public_actions(session, small_config).empty
    engine.dispose()


def test_chart_escapes_text_and_leaves_gaps() -> None:
    from compstat.publish.svg import trend_chart

    svg = trend_chart("c1", "Burglary in <script>alert(1)</script> & Co", 'desc "quoted"', ["a", "b", "c", "d"],
                      [10, None, 12, 14], [None, None, 9, 8])
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "&amp; Co" in svg
    assert 'role="img" aria-labelledby="c1-title c1-desc"' in svg
    assert svg.count("<polyline") == 3  # this year in two runs around its gap, last year in one
    assert svg.count("<circle") == 3 and svg.count("<rect") == 2
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_real_chicago_district_counts(shared_dir: Path) -> None:
    """Chicago's 22 police districts, aggravated assaults by kind of place over the card's 13 spans of 28 days to
    2019-W50 and last year's (by weekday, 364 days back): the same rules hold on a flat organisation."""
    config = load_config(Path(__file__).resolve().parents[1] / "config" / "chicago.yaml")
    raw = pd.read_csv(shared_dir / "data" / "chicago_aggravated_assaults.csv.gz",
                      usecols=["date", "loc_cat", "district"], dtype={"district": str})
    raw["day"] = pd.to_datetime(raw["date"].str[:10])
    codes = [u.code for u in config.leaf_units]
    raw = raw[raw["district"].isin(codes)]
    sums = [(t, list(p)) for t, p in groups(config)]
    assert sums == [("_total", codes)]
    fewer = withheld = 0
    for w in spans(config, parse_period("2019-W50", config.cadence)):
        for start, end in ((w.start, w.end), (w.prev_start, w.prev_end)):
            inside = raw[(raw["day"] >= pd.Timestamp(start)) & (raw["day"] <= pd.Timestamp(end))]
            for _, rows in inside.groupby("loc_cat"):
                by_unit = rows.groupby("district").size()
                values: dict[Hashable, int | None] = {c: int(by_unit.get(c, 0)) for c in codes}
                values["_total"] = sum(v or 0 for v in values.values())
                shown = protect(values, sums, config.publish.disclosure)
                fewer += sum(s.status == "fewer" for s in shown.values())
                withheld += sum(s.status == "withheld" for s in shown.values())
                assert sum(shown[x].value is None for x in values) != 1
                for key, cell in shown.items():
                    assert cell.value is None or cell.value == 0 or cell.value >= 5
                    assert cell.value in (None, values[key])
    assert fewer > 100 and withheld > 10, (fewer, withheld)


MAP_AREA = re.compile(r'<g class="area ([a-z0-9-]+)" data-area="([^"]+)"><title>[^<]*</title>\n<path d="[^"]*" '
                      r'fill="([^"]+)"')
MAP_LABEL = re.compile(r'<text [^>]*data-area="([^"]+)">([^<]*)</text>')


def _maps(html: str) -> dict[str, str]:
    """Each map on a page by its measure id: the SVG's text."""
    return {m.group(1): m.group(0) for m in re.finditer(r'<svg [^>]*aria-labelledby="map-([a-z0-9_]+)-title.*?</svg>',
                                                        html, re.S)}


def test_area_maps_show_the_published_figures(demo_site: tuple[Path, Config, str]) -> None:
    """The organisation's and each division's page map their units for the latest span, from data.csv's figures:
    classes in order of the figures, suppressed units hatched with words (never 1 to 4), nothing outside."""
    from compstat.publish.map import PALETTE

    out, config, _ = demo_site
    data = pd.read_csv(out / "data.csv", dtype=str, keep_default_na=False)
    latest = data[data["end"] == data["end"].max()]
    pages = {"index.html": ("_total", ["N", "S", "E"]), **{f"area-{d}.html": (d, [u.code for u in unit.children])
                                                          for d in "NSE" for unit in config.units if unit.code == d}}
    hatched = 0
    for name, (_, children) in pages.items():
        html = (out / name).read_text(encoding="utf-8")
        maps = _maps(html)
        assert sorted(maps) == sorted(config.publish.measures), name
        for measure_id, svg in maps.items():
            rows = latest[(latest["measure_id"] == measure_id) & latest["area"].isin(children)]
            assert str(rows["span"].iloc[0]) in svg
            areas = {code: (klass, fill) for klass, code, fill in MAP_AREA.findall(svg)}
            labels = dict(MAP_LABEL.findall(svg))
            assert sorted(areas) == sorted(children) == sorted(labels)
            figures = {}
            for row in rows.itertuples():
                klass, fill = areas[str(row.area)]
                if row.this_year_status:
                    assert klass == "suppressed" and fill == f"url(#map-{measure_id}-hatch)"
                    assert labels[str(row.area)] == row.this_year_status
                    hatched += 1
                else:
                    assert klass.startswith("class-") and fill in PALETTE
                    assert labels[str(row.area)] == f"{int(row.this_year):,}"
                    figures[str(row.area)] = (int(row.this_year), int(klass.removeprefix("class-")))
            if figures:  # equal classes from 0, 10 wide up to 39, 20 up to 79, 25 up to 99, ...
                top = max(v for v, _ in figures.values())
                width = next(w for w in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000) if 4 * w > top)
                assert all(k == v // width + 1 for v, k in figures.values()), (measure_id, width, figures)
                low, high = (top // width) * width, (top // width + 1) * width - 1
                assert (f">{low:,}<" if low == high else f">{low:,} to {high:,}<") in svg  # the top class's legend
            assert not re.search(r">\s*[1-4]\s*<", svg)  # no count from 1 to 4, as a label, legend or anything
            if "suppressed" in svg:
                assert f'<pattern id="map-{measure_id}-hatch"' in svg and ("fewer than 5" in svg or "withheld" in svg)
            outside = re.findall(r'(?:href|xlink:href)="([^"]*)"|url\(([^)]*)\)', svg)
            assert all(ref.startswith("#") for pair in outside for ref in pair if ref), outside
            assert "<image" not in svg and "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert hatched > 5
    assert not _maps((out / "area-N4.html").read_text(encoding="utf-8"))  # a unit's page: no map


def _luminance(colour: str) -> float:
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_map_colours_contrast() -> None:
    """Outlines at least 3:1 against every fill (classes, the hatch's grey and lines, white); labels are drawn on
    a white halo (at least 4.5:1)."""
    from compstat.publish import map as m

    for fill in (*m.PALETTE, m.SUPPRESSED_FILL, m.HATCH, m.NO_DATA):
        assert _contrast(m.OUTLINE, fill) >= 3, fill
    assert _contrast(m.HATCH, m.SUPPRESSED_FILL) >= 3
    assert _contrast(m.LABEL, "#ffffff") >= 4.5


def test_map_geometry_escaping_and_missing_units() -> None:
    """MultiPolygons and holes are drawn (even-odd), x scaled by the cosine of the latitude, coordinates to 1
    decimal; names are escaped; a unit without a polygon is listed in the desc; none with one: no map."""
    from compstat.publish.map import MapUnit, _polygons, area_map

    square = [[0.0, 60.0], [2.0, 60.0], [2.0, 61.0], [0.0, 61.0], [0.0, 60.0]]
    hole = [[0.5, 60.25], [1.5, 60.25], [1.5, 60.75], [0.5, 60.75], [0.5, 60.25]]
    island = [[3.0, 60.0], [3.5, 60.0], [3.5, 60.5], [3.0, 60.0]]
    a = _polygons({"type": "MultiPolygon", "coordinates": [[square, hole], [island]]})
    assert len(a) == 2 and len(a[0]) == 2
    b = _polygons({"type": "Polygon", "coordinates": [[[p[0] + 4, p[1]] for p in square]]})
    units = [MapUnit("A", "<Alpha> & Co", 12, "12", ""), MapUnit("B", "Beta", None, "fewer than 5", "fewer than 5"),
             MapUnit("C", "Gamma", 30, "30", "")]
    svg = area_map("map-x", "T <t>", "Intro.", units, {"A": [tuple(a)], "B": [tuple(b)]})
    assert svg is not None
    assert "&lt;Alpha&gt; &amp; Co" in svg and "<Alpha>" not in svg and "T &lt;t&gt;" in svg
    assert "Not on the map (no boundary): Gamma." in svg and 'data-area="C"' not in svg
    assert svg.count("M") >= 4 and 'fill-rule="evenodd"' in svg  # 3 rings of A, 1 of B
    coords = [float(v) for v in re.findall(r"-?\d+\.?\d*", " ".join(re.findall(r' d="([^"]+)"', svg)))]
    assert all(round(v, 1) == v for v in coords)
    xs, ys = coords[0::2], coords[1::2]
    # 6 degrees of longitude at 60.5 degrees north are 2.95 times 1 degree of latitude
    assert (max(xs) - min(xs)) / (max(ys) - min(ys)) == pytest.approx(6 * np.cos(np.radians(60.5)), rel=0.02)
    assert area_map("map-y", "T", "I.", units, {}) is None


def test_publish_without_boundaries_and_with_a_unit_missing(demo_w48: tuple[list[str], Path, str, dict[str, object]],
                                                             demo_site: tuple[Path, Config, str],
                                                             tmp_path: Path) -> None:
    """Without organisation.boundaries the card has no map and no error; a unit missing from the GeoJSON is named
    in its division's map desc, and its division is drawn from the others."""
    args, _, _, _ = demo_w48
    out, config, _ = demo_site
    source = Path(args[1])
    raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    geo = json.loads(config.resolve_path(str(raw["organisation"]["boundaries"])).read_text(encoding="utf-8"))
    geo["features"] = [f for f in geo["features"] if f["properties"]["code"] != "N2"]
    (tmp_path / "b.geojson").write_text(json.dumps(geo), encoding="utf-8")
    (tmp_path / "config").mkdir()
    (tmp_path / "demo-data").symlink_to(source.parent.parent / "demo-data")  # the config's relative paths
    runner = CliRunner()
    for boundaries, site in ((None, "plain"), (str(tmp_path / "b.geojson"), "missing")):
        organisation = {k: v for k, v in raw["organisation"].items() if k != "boundaries"}
        if boundaries:
            organisation["boundaries"] = boundaries
        path = tmp_path / "config" / f"{site}.yaml"
        path.write_text(yaml.safe_dump({**raw, "organisation": organisation}), encoding="utf-8")
        result = runner.invoke(app, ["publish", "--config", str(path), "--period", "2026-W48", "--out",
                                     str(tmp_path / site), "--db", f"sqlite:///{out.parent / 'demo.db'}"])
        assert result.exit_code == 0, result.output
    for page in (tmp_path / "plain").glob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert not _maps(html) and 'class="map"' not in html
    north = _maps((tmp_path / "missing" / "area-N.html").read_text(encoding="utf-8"))
    name = next(u.name for u in config.leaf_units if u.code == "N2")
    assert north and all(f"Not on the map (no boundary): {name}." in svg and 'data-area="N2"' not in svg
                         for svg in north.values())
    index = _maps((tmp_path / "missing" / "index.html").read_text(encoding="utf-8"))
    assert index and all('data-area="N"' in svg and "Not on the map" not in svg for svg in index.values())
