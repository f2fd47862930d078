"""The chair's "Meeting health" section: is the meeting keeping its own promises? The last meeting's
packs and minutes, this meeting's actions (``compstat.health``: updated since the last meeting, overdue
and stale, closed and whether they worked), XmR charts over the last meetings with any special cause,
and the units that have not updated their actions since the last meeting."""

from __future__ import annotations

import math
from dataclasses import dataclass

from compstat.health import HEALTH_MEASURES, HealthTrend, MeetingHealth, health_spc, special_causes
from compstat.packs.charts import SpcSeries, spc_chart
from compstat.packs.context.charts import Chart
from compstat.packs.context.common import plural, spc_word, text_of, unit_names
from compstat.packs.filters import fmt_date
from compstat.results import CycleData

HEALTH_CAPTION = ("Each point is one meeting; the solid line is the mean and the dashed lines the process limits. "
                  "Marked points are special causes: triangle concern (the meeting slipping), square improvement.")


@dataclass(frozen=True)
class HealthFigure:
    """One measure for this meeting, in words."""

    label: str
    value: str
    flag: bool = False  # shown as a concern


@dataclass(frozen=True)
class MeetingHealthSection:
    """What the section shows; ``empty_message`` instead when the health was not assessed."""

    figures: tuple[HealthFigure, ...]
    charts: tuple[Chart, ...]
    chart_note: str
    not_updated: tuple[str, ...]  # "code name" of each unit with open actions none updated
    special: tuple[str, ...]  # the measures whose latest meeting is a special cause, in words
    caption: str = HEALTH_CAPTION
    empty_message: str = ""

    @property
    def detail(self) -> str:
        """The contents' note: the concerns among this meeting's figures."""
        return plural(sum(f.flag for f in self.figures), "concern") if self.figures else "not assessed"


def health_section(data: CycleData) -> MeetingHealthSection:
    """The section for this cycle's meeting, from ``CycleData.health`` (this meeting last).

    Nothing in it depends on when the pack is made, so an unchanged re-run reuses the pack: the packs'
    notice is the last meeting's (this meeting's is the pack in hand), charted up to the last meeting."""
    trend = data.health
    if trend is None or trend.latest is None:
        return MeetingHealthSection((), (), "", (), (), empty_message="The meeting's health was not assessed.")
    now = trend.latest
    names = unit_names(data.config)
    before = trend.meetings[-2] if len(trend.meetings) > 1 else None
    figures = [_packs(before, trend.settings.brief_hours), _minutes(before, trend.settings.minutes_days),
               *_actions(now)]
    earlier = HealthTrend(trend.meetings[:-1], trend.settings)
    judged = [(t, m, kind) for t, measures in ((trend, ("updated_pct", "overdue", "stale")), (earlier, ("pack_hours",)))
              if len(t.meetings) > 1 for m, kind in special_causes(t, measures)]
    special = tuple(f"{HEALTH_MEASURES[m][0]}: a special cause of {kind} at the {t.meetings[-1].period} meeting"
                    for t, m, kind in judged)
    # half a page: the actions updated always; the packs' notice when its last meeting is a special cause
    drawn = [(trend, "updated_pct"), *((earlier, "pack_hours") for _, m, _ in judged if m == "pack_hours")]
    charts = tuple(c for t, m in drawn if (c := _chart(t, m)) is not None)
    note = "" if charts else (f"The trend chart starts once two meetings have open actions (the store holds "
                              f"{plural(len(trend.meetings), 'meeting')} so far).")
    return MeetingHealthSection(tuple(figures), charts, note,
                                tuple(f"{c} {names.get(c, '')}".strip() for c in now.not_updated), special)


def _packs(before: MeetingHealth | None, hours: float) -> HealthFigure:
    label = "Packs for the last meeting"
    if before is None:
        return HealthFigure(label, "no earlier meeting in the store")
    label = f"{label} ({before.period})"
    if before.pack_hours is None:
        return HealthFigure(label, "not recorded")
    when = (f"{before.pack_hours:.0f} hours before the meeting" if before.pack_hours >= 0
            else f"{-before.pack_hours:.0f} hours after the meeting's time")
    verdict = "on time" if before.packs_on_time else "late"
    source = "first sent" if before.packs_source == "deliveries" else "made"
    return HealthFigure(label, f"{source} {when} ({verdict}: at least {hours:g} hours asked)",
                        not before.packs_on_time)


def _minutes(before: MeetingHealth | None, days: float) -> HealthFigure:
    label = "Minutes of the last meeting"
    if before is None:
        return HealthFigure(label, "no earlier meeting in the store")
    sent = f"sent {fmt_date(before.minutes_sent.date())}, " if before.minutes_sent is not None else ""
    return HealthFigure(f"{label} ({before.period})", f"{sent}{before.minutes_status} (within {days:g} days asked)",
                        before.minutes_status in ("late", "not sent"))


def _actions(now: MeetingHealth) -> list[HealthFigure]:
    share = now.updated_share
    updated = ("no open actions" if share is None else
               f"{now.updated} of {now.open_actions} ({100 * share:.0f}%)")
    by_unit = ", ".join(f"{u.unit_code} {u.overdue}" for u in now.units if u.overdue)
    stale = ", ".join(f"{u.unit_code} {u.stale}" for u in now.units if u.stale)
    worked = ("not judged" if now.judged is None else
              f"{now.worked} of {now.judged} judged improved" if now.judged else "none judged yet")
    return [
        HealthFigure("Open actions updated since the last meeting", updated, share is not None and share < 1),
        HealthFigure("Overdue actions", f"{now.overdue}" + (f" ({by_unit})" if by_unit else ""), now.overdue > 0),
        HealthFigure("Stale actions", f"{now.stale}" + (f" ({stale})" if stale else ""), now.stale > 0),
        HealthFigure("Closed since the last meeting",
                     f"{now.done} done, {now.dropped} dropped; did it work: {worked}"),
    ]


def _chart(trend: HealthTrend, measure: str) -> Chart | None:
    """The XmR chart of ``measure`` over the meetings; None with fewer than two meetings with a figure."""
    rows = health_spc(trend, measure)
    if int(rows["y"].notna().sum()) < 2:
        return None
    label = HEALTH_MEASURES[measure][0]
    types = [text_of(t) for t in rows["point_type"]]
    series = SpcSeries(starts=[x.date() for x in rows["x"]], values=[float(v) for v in rows["y"]],
                       mean=list(rows["mean"]), lower=list(rows["lpl"]), upper=list(rows["upl"]),
                       point_types=types, integer=False)
    observed = rows[rows["y"].notna()]
    last = observed.iloc[-1]
    word = spc_word(last["point_type"], float(last["y"]) > float(last["mean"]))
    special = sum(t not in ("", "common_cause") for t in types)
    alt = (f"SPC chart of {label.lower()} per meeting, {plural(len(observed), 'meeting')} from "
           f"{fmt_date(observed['x'].iloc[0].date())} to {fmt_date(last['x'].date())}; "
           f"{special} special-cause points; latest meeting: {word}"
           + ("" if math.isnan(float(last["y"])) else f" ({float(last['y']):.0f})") + ".")
    return Chart(measure_id=f"health-{measure}", title=f"{label}: SPC chart per meeting (latest: {word})", alt=alt,
                 name=f"health-{measure}.png", png=spc_chart(series))
