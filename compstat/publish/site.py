"""``compstat publish``: the public report card as a static website (plain HTML and CSS, no script, nothing
fetched, relative links only), with its open data.

``DIR/index.html`` is the organisation's page; ``DIR/area-<code>.html`` each division's and accountable unit's
(``publish.divisions: false`` leaves the divisions out). Each page shows every public measure's trend against
last year (``card.card_figures``, disclosure-controlled) as an inline SVG chart with its text alternative and
the same figures in a table beside it; on the organisation's and each division's page, with
``organisation.boundaries``, a map of the areas below it for the latest span (``map.area_map``, from the same
published figures); what is being done (the actions marked public, with their status: never
their owner, notes or support); and links to the open data: ``data.csv`` / ``data.json`` hold exactly the
figures the pages show, ``actions.csv`` / ``actions.json`` exactly the actions they list.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from compstat.config import Config
from compstat.hierarchy import division_leaves
from compstat.periods import Period
from compstat.publish.card import CARD_COLUMNS, ORGANISATION, Area, areas, card_figures, spans
from compstat.publish.map import MapUnit, Polygon, area_map, boundaries
from compstat.publish.svg import trend_chart
from compstat.resources import templates_dir
from compstat.safepaths import unique_names
from compstat.store import Action

ACTION_COLUMNS = ["id", "area", "area_name", "measure", "action", "status", "due", "completed"]
STATUS_WORDS = {"open": "Open", "in progress": "In progress", "done": "Done", "dropped": "Stopped"}


@dataclass(frozen=True)
class SiteReport:
    """What ``write_site`` wrote: the folder, its pages and its data files."""

    out: Path
    pages: list[Path]
    data: list[Path]


def public_actions(session: Session, config: Config) -> pd.DataFrame:
    """The organisation's actions marked public (``ACTION_COLUMNS``): what will be done, the status and dates;
    never the owner, notes, support or reasons."""
    names = {a.code: a.name for a in areas(config)}
    measures = {m.id: m.name for m in config.measures}
    rows = session.scalars(select(Action).where(Action.org == config.organisation.slug, Action.public.is_(True))
                           .order_by(Action.unit_code, Action.id))
    out = [{"id": a.id, "area": a.unit_code, "area_name": names.get(a.unit_code, a.unit_code),
            "measure": measures.get(a.measure_id or "", ""), "action": a.description,
            "status": STATUS_WORDS.get(a.status, a.status), "due": a.due_date.isoformat(),
            "completed": a.closed_on.isoformat() if a.closed_on and a.status == "done" else ""}
           for a in rows if a.unit_code in names]
    return pd.DataFrame(out, columns=ACTION_COLUMNS)


def page_names(config: Config) -> dict[str, str]:
    """Each area's page file: ``index.html`` for the organisation, ``area-<code>.html`` for the others."""
    shown = [a.code for a in areas(config) if a.code != ORGANISATION and _shown(a, config)]
    return {ORGANISATION: "index.html", **unique_names(shown, prefix="area-", suffix=".html", taken=["index.html"])}


def _shown(area: Area, config: Config) -> bool:
    return area.level != "division" or config.publish.divisions


def write_site(session: Session, config: Config, period: Period, out: Path) -> SiteReport:
    """Write the report card for ``period`` to ``out`` (made if missing; the card's own files replaced)."""
    card = card_figures(session, config, period)
    actions = public_actions(session, config)
    out.mkdir(parents=True, exist_ok=True)
    names = page_names(config)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir() / "public")), autoescape=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    template = env.get_template("page.html")
    every = {a.code: a for a in areas(config)}
    windows = spans(config, period)
    pages = []
    shapes = area_shapes(config)
    for area in every.values():
        if area.code not in names:
            continue
        context = page_context(area, every, names, card, actions, config, period, [w.label for w in windows],
                               shapes)
        target = out / names[area.code]
        target.write_text(template.render(**context), encoding="utf-8")
        pages.append(target)
    shutil.copyfile(templates_dir() / "public" / "style.css", out / "style.css")
    data = write_data(out, card[card["area"].isin(names)], actions[actions["area"].isin(names)], config, period)
    return SiteReport(out, pages, data)


def write_data(out: Path, card: pd.DataFrame, actions: pd.DataFrame, config: Config, period: Period) -> list[Path]:
    """The open data: the figures and the actions, as CSV and as JSON (the same rows)."""
    figures = card.copy()
    for column in ("start", "end", "last_year_start", "last_year_end"):
        figures[column] = figures[column].map(lambda d: d.isoformat() if isinstance(d, date) else d)
    for column in ("this_year", "last_year"):
        figures[column] = figures[column].astype("Int64")
    paths = [out / "data.csv", out / "data.json", out / "actions.csv", out / "actions.json"]
    figures.to_csv(paths[0], index=False)
    rules = config.publish.disclosure
    meta = {"organisation": config.organisation.name, "period": period.label, "to": period.end.isoformat(),
            "disclosure": {"enabled": rules.enabled, "method": rules.method, "threshold": rules.threshold,
                           "round_to": rules.round_to}}
    records = [{k: (None if pd.isna(v) else (int(v) if k in ("this_year", "last_year") else v))
                for k, v in row.items()} for row in figures[CARD_COLUMNS].to_dict("records")]
    paths[1].write_text(json.dumps({**meta, "figures": records}, indent=1, ensure_ascii=False), encoding="utf-8")
    actions.to_csv(paths[2], index=False)
    paths[3].write_text(json.dumps({**meta, "actions": actions.to_dict("records")}, indent=1, ensure_ascii=False),
                        encoding="utf-8")
    return paths


def _text(value: Any, status: str) -> str:
    return status if status else f"{int(value):,}"


def area_shapes(config: Config) -> dict[str, list[tuple[Polygon, ...]]] | None:
    """Each area's polygons for the maps (None without ``organisation.boundaries``): its own when the GeoJSON
    holds it, else those of the accountable units below it (a division); an area with neither is left out."""
    polygons = boundaries(config)
    if polygons is None:
        return None
    below = division_leaves(config)
    out: dict[str, list[tuple[Polygon, ...]]] = {}
    for area in areas(config):
        if area.code in polygons:
            out[area.code] = [polygons[area.code]]
        else:
            parts = [polygons[c] for c in below.get(area.code, []) if c in polygons]
            if parts:
                out[area.code] = parts
    return out


def area_map_svg(area: Area, every: dict[str, Area], names: dict[str, str], card: pd.DataFrame, measure_id: str,
                 name: str, shapes: dict[str, list[tuple[Polygon, ...]]] | None) -> tuple[Markup, str] | None:
    """The map of the areas below ``area`` that have pages (for a division without one, its units) for
    ``measure_id`` in the card's latest span, from the published figures, and the span's words; None without
    boundaries, areas below, or any of them with a polygon."""
    if shapes is None:
        return None
    below = [c for c in area.children if c in names]  # the areas with pages (whose figures data.csv holds)
    below += [g for c in area.children if c not in names for g in every[c].children if g in names]
    rows = card[(card["measure_id"] == measure_id) & card["area"].isin(below)]
    if rows.empty:
        return None
    latest = rows[rows["end"] == rows["end"].max()]
    by_code = {str(r["area"]): r for r in latest.to_dict("records")}
    units = []
    for code in below:
        r = by_code.get(code)
        status = "no data" if r is None else str(r["this_year_status"])
        value = None if r is None or status or pd.isna(r["this_year"]) else int(r["this_year"])
        units.append(MapUnit(code, every[code].name, value, _text(value, status), status))
    span = str(latest["span"].iloc[0])
    kinds = "areas" if any(every[c].children for c in below) else "units"
    svg = area_map(f"map-{measure_id}", f"{name} in each of the {kinds} of {area.name}, {span}",
                   f"Map of {name} in the {len(units)} {kinds} of {area.name}, {span}, this year's figures as the "
                   "tables and data.csv publish them.", units, {c: s for c, s in shapes.items() if c in below})
    return (Markup(svg), span) if svg is not None else None


def page_context(area: Area, every: dict[str, Area], names: dict[str, str], card: pd.DataFrame,
                 actions: pd.DataFrame, config: Config, period: Period, labels: list[str],
                 shapes: dict[str, list[tuple[Polygon, ...]]] | None = None) -> dict[str, Any]:
    """Everything ``page.html`` shows for one area."""
    rows = card[card["area"] == area.code]
    trail = []
    parent = area.parent
    while parent is not None:
        up = every[parent]
        if up.code in names:
            trail.append({"name": up.name, "href": names[up.code]})
        parent = up.parent
    measures = []
    for measure_id in config.publish.measures:
        part = rows[rows["measure_id"] == measure_id]
        table = [{"span": _short([str(r["span"])])[0], "this_year": _text(r["this_year"], str(r["this_year_status"])),
                  "last_year": _text(r["last_year"], str(r["last_year_status"])),
                  "change": _change(r["this_year"], r["last_year"])} for r in part.to_dict("records")]
        name = config.measure(measure_id).name
        chart_id = f"chart-{measure_id}"
        now = [None if pd.isna(v) else int(v) for v in part["this_year"]]
        then = [None if pd.isna(v) else int(v) for v in part["last_year"]]
        hidden = sum(v is None for v in now + then)
        latest = table[-1] if table else {"this_year": "no data", "last_year": "no data"}
        description = (f"{name} in {area.name}, {len(table)} {_span_words(config)} to {period.end:%d %B %Y}, this "
                       f"year (solid line, circles) against the same time last year (dashed line, squares). Latest: "
                       f"{latest['this_year']} against {latest['last_year']}."
                       + (f" {hidden} figures are not shown (fewer than the threshold, withheld or no data): gaps "
                          "in the lines." if hidden else "") + " The table gives every figure.")
        drawn = area_map_svg(area, every, names, card, measure_id, name, shapes)
        measures.append({"id": measure_id, "name": name, "table": table, "chart_id": chart_id,
                         "chart": Markup(trend_chart(chart_id, f"{name} in {area.name}: this year against last "
                                                               "year", description, _short(labels), now, then)),
                         "map": drawn[0] if drawn else None, "map_span": drawn[1] if drawn else ""})
    children = []
    for code in area.children:
        child = every[code]
        if code in names:
            children.append({"name": child.name, "href": names[code], "level": child.level})
    grandchildren = [every[c] for c in area.children if c not in names for c in every[c].children]
    children += [{"name": g.name, "href": names[g.code], "level": g.level} for g in grandchildren if g.code in names]
    covered = _covered(area, every)
    mine = actions[actions["area"].isin(covered)]
    rules = config.publish.disclosure
    return {"area": area, "organisation": config.organisation.name, "period": period, "trail": trail[::-1],
            "measures": measures, "children": children, "actions": mine.to_dict("records"), "rules": rules,
            "span_heading": "28 days to" if config.cadence.period == "weekly" else "Month",
            "home": names[ORGANISATION]}


def _covered(area: Area, every: dict[str, Area]) -> set[str]:
    """The area and every unit below it (whose public actions its page lists)."""
    out = {area.code} if area.code != ORGANISATION else set()
    for code in area.children:
        out |= _covered(every[code], every)
    return out


def _span_words(config: Config) -> str:
    return "spans of 28 days" if config.cadence.period == "weekly" else "months"


def _short(labels: list[str]) -> list[str]:
    """Axis labels: the span's end date without the words (``23 Nov 2026``)."""
    return [label.replace("28 days to ", "") for label in labels]


def _change(now: Any, then: Any) -> str:
    if pd.isna(now) or pd.isna(then):
        return "–"
    diff = int(now) - int(then)
    return f"{diff:+,}" if diff else "no change"
