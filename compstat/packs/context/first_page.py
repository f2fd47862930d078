"""The chair's first page: the page a chair reads in two minutes. Whom to probe (the analysis'
ranked findings: unit, measure, figure and why it is not noise), the intervention ladder (every
unit above level 0 with a one-line reason), the overdue actions and the top of the recognition
list; the agenda and contents follow on page 2.

Pure: the cycle's ranked findings, escalation and action log in, short lines out. The figure and
the evidence are worded from the findings' columns (``current``, ``comparison``, ``evidence`` …),
the same rows "What to probe" lists in full.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

import pandas as pd

from compstat import numbers
from compstat.figures import TOTAL
from compstat.packs.context.accountability import Ladder, LadderRow
from compstat.packs.context.actions import ActionRow
from compstat.packs.context.common import PERIOD_NOUN, Record, float_of, plural, text_of, unit_names
from compstat.packs.filters import fmt_count, fmt_date, fmt_value
from compstat.results import CycleData

FIRST_PAGE_PROBES = 6  # ranked probes on page 1 (the body's "What to probe" lists the top 10)
FIRST_PAGE_RECOGNITION = 3
FIRST_PAGE_LADDER = 8  # units on the ladder on page 1, highest first
FIRST_PAGE_OVERDUE = 6  # overdue actions named on page 1 (unit, action, due date); all of them are counted
REASON_CLAUSES = 2  # a ladder reason on page 1: its first clauses, the rest counted


@dataclass(frozen=True)
class FirstPageFinding:
    """One ranked finding in a line: the unit, the measure, the figure and why it is not noise."""

    rank: int
    unit_code: str
    unit_name: str
    measure_name: str
    figure: str
    why: str


@dataclass(frozen=True)
class ChairFirstPage:
    """What page 1 of the chair's pack holds; each ``*_more`` says how many more there are and where."""

    probes: tuple[FirstPageFinding, ...]
    probes_more: str
    ladder: tuple[LadderRow, ...]
    ladder_more: str
    overdue: tuple[str, ...]  # each overdue action in a few words (``overdue_line``), then how many more
    overdue_summary: str
    recognition: tuple[FirstPageFinding, ...]
    recognition_more: str
    empty_probes: str
    empty_ladder: str
    empty_recognition: str


def first_page(data: CycleData, ladder: Ladder, overdue: tuple[ActionRow, ...], where: dict[str, str],
               empty: tuple[str, str]) -> ChairFirstPage:
    """Page 1 from the cycle's ranked findings, the whole ``ladder`` and the ``overdue`` actions;
    ``where`` names the section that lists each in full (``probe``, ``recognition``, ``ladder``,
    ``actions``); ``empty`` the sentences for no probe and no recognition."""
    analysis = data.analysis
    probe = _lines(data, analysis.probe if analysis is not None else None)
    recognition = _lines(data, analysis.recognition if analysis is not None else None)
    rungs = tuple(replace(r, reason=one_line(r.reason)) for r in ladder.rows)
    ladder_rows = len(rungs) if len(rungs) <= FIRST_PAGE_LADDER + 1 else FIRST_PAGE_LADDER  # never "… and 1 more"
    more_overdue = len(overdue) - FIRST_PAGE_OVERDUE
    overdue_summary = (f"{plural(len(overdue), 'action')} past due" if overdue else "No action is past its due date.")
    overdue_lines = tuple(overdue_line(a) for a in overdue[:FIRST_PAGE_OVERDUE]) + (
        (f"and {more_overdue} more in {where['actions']}",) if more_overdue > 0 else ())
    return ChairFirstPage(
        probes=probe[:FIRST_PAGE_PROBES], probes_more=_more(len(probe) - FIRST_PAGE_PROBES, "finding", where["probe"]),
        ladder=rungs[:ladder_rows], ladder_more=_more(len(rungs) - ladder_rows, "unit", where["ladder"]),
        overdue=overdue_lines, overdue_summary=overdue_summary,
        recognition=recognition[:FIRST_PAGE_RECOGNITION],
        recognition_more=_more(len(recognition) - FIRST_PAGE_RECOGNITION, "finding", where["recognition"]),
        empty_probes=empty[0], empty_ladder=ladder.empty_message, empty_recognition=empty[1],
    )


def _more(n: int, noun: str, where: str) -> str:
    return f"… and {plural(n, f'more {noun}')}: see {where}." if n > 0 else ""


def _lines(data: CycleData, frame: pd.DataFrame | None) -> tuple[FirstPageFinding, ...]:
    """The units' and divisions' findings in rank order (not the organisation's), each in a line."""
    if frame is None or frame.empty:
        return ()
    names = unit_names(data.config)
    rows = frame[frame["unit_code"] != TOTAL].sort_values("rank").to_dict(orient="records")
    return tuple(FirstPageFinding(int(r["rank"]), (code := str(r["unit_code"])), names.get(code, code),
                                  str(r["measure_name"]), finding_figure(data, r), why_not_noise(data, r))
                 for r in rows)


def finding_figure(data: CycleData, row: Record) -> str:
    """The figure a finding rests on: ``45 vs 23 (+96%), 28 days vs last year``."""
    measures = {m.id: m for m in data.config.measures}
    measure = measures.get(str(row["measure_id"]))
    kind, label = (measure.kind, measure.unit_label) if measure is not None else ("count", "")
    current, comparison = float_of(row["current"]), float_of(row["comparison"])
    if math.isnan(current) or math.isnan(comparison):
        return ""

    def value(x: float) -> str:
        if kind == "count" and not float(x).is_integer():
            return numbers.significant(x)  # an average of counts (a 3-year baseline)
        return fmt_value(x, kind, label if len(label) <= 3 else "")

    pct = float_of(row.get("pct_change"))
    change = "" if math.isnan(pct) or bool(row.get("small_numbers")) else f" ({numbers.pct_whole(pct)})"
    return f"{value(current)} vs {value(comparison)}{change}, {_against(data, row)}"


def _against(data: CycleData, row: Record) -> str:
    """What the figure compares: ``28 days vs last year``, ``week vs 3-year average``."""
    noun = PERIOD_NOUN[data.config.cadence.period]
    window, basis = str(row.get("window")), str(row.get("basis"))
    labels = {w.key: w.label.lower() for w in data.windows} | {"period": noun}
    if basis == "spc":
        return f"this {noun} vs its average"
    if window not in labels:  # the long window: the last 52 weeks (12 months) against the ones before
        span = "52 weeks" if noun == "week" else "12 months"
        return f"last {span} vs the {span} before"
    if basis == "baseline":
        return f"{labels[window]} vs {data.config.analysis.baseline_years}-year average"
    return f"{labels[window]} vs last year"


EVIDENCE_WORDS = {
    "peers": "significantly {side} similar units",
    "better_than_peers": "significantly below similar units",
    "trajectory": "off track for its target ({delivery})",
    "on_track": "on course for its target",
    "consistently_passing": "meeting its target every {noun}",
}


def why_not_noise(data: CycleData, row: Record) -> str:
    """Each piece of evidence behind a finding in a few words: a significant change (with its
    q-value), an SPC signal (how many periods running), a gap to similar units, a target."""
    noun = PERIOD_NOUN[data.config.cadence.period]
    pct = float_of(row.get("pct_change"))
    rising = not math.isnan(pct) and pct > 0
    out = []
    for token in [t.strip() for t in text_of(row.get("evidence")).split(",") if t.strip()]:
        if token == "change":
            q = float_of(row.get("q_value"))
            text = "" if math.isnan(q) else numbers.q_value(q)
            shown = f" (q {text})" if text.startswith("<") else f" (q = {text})" if text else ""
            out.append(f"significant {'rise' if rising else 'fall'}{shown}")
        elif token == "spc":
            running = int(float_of(row.get("periods_running")) if not math.isnan(float_of(row.get("periods_running")))
                          else 0)
            out.append(f"SPC signal: {running} {noun}s running" if running > 1
                       else f"SPC signal: outside its limits this {noun}")
        else:
            side = "below" if "below" in text_of(row.get("peer_label")) else "above"
            template = EVIDENCE_WORDS.get(token, token.replace("_", " "))
            out.append(template.format(side=side, delivery=text_of(row.get("delivery")) or "red", noun=noun))
    if bool(row.get("small_numbers")):
        out.append("small numbers")
    return "; ".join(out)


def one_line(reason: str, clauses: int = REASON_CLAUSES) -> str:
    """A ladder reason in a line: its clauses without their bracketed detail, the first ``clauses``
    of them and how many more (``action 3: due 2026-11-25, not done at 1 meeting; Vehicle crime:
    intervene trigger met``)."""
    text = reason
    while True:  # innermost brackets first, so nested ones go too
        shorter = re.sub(r"\s*\([^()]*\)", "", text)
        if shorter == text:
            break
        text = shorter
    parts = [p.strip() for p in text.split(";") if p.strip()]
    if len(parts) <= clauses:
        return "; ".join(parts)
    return "; ".join(parts[:clauses]) + f"; and {len(parts) - clauses} more"


def overdue_line(action: ActionRow) -> str:
    """``Castleton Moor (S2) action 3, due 25 Nov 2026``: the unit and the action (described in section 1)."""
    due = f", due {fmt_date(action.due_date)}" if action.due_date else ""
    return f"{action.unit_name} ({action.unit_code}) action {fmt_count(action.id)}{due}"


__all__ = ["ChairFirstPage", "FirstPageFinding", "finding_figure", "first_page", "one_line",
           "overdue_line", "why_not_noise"]
