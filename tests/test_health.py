"""The meeting's own health (``compstat.health``), each measure worked out by hand: on the demo's action
history (the session's demo cycle, read only) and on a small history made here, on both stores."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from compstat.actions import NewAction, add_action, update_action
from compstat.cli import app
from compstat.config import Config
from compstat.health import (
    HEALTH_MEASURES,
    HealthSettings,
    HealthTrend,
    MeetingHealth,
    health_settings,
    health_spc,
    load_health,
    special_causes,
)
from compstat.packs.context import chair_pack
from compstat.packs.context.health import health_section
from compstat.packs.render import pack_images, render_html
from compstat.periods import parse_period
from compstat.resources import templates_dir
from compstat.results import CycleData
from compstat.store import Cycle, Delivery, connect, transaction
from tests.packtext import pdf_text
from tests.test_packs import cycle_data  # noqa: F401 - the small cycle's data, for the chair's pack

# --- the demo: 8 actions raised at the 2026-W47 meeting (25 Nov, recorded at noon), N4's commander's sheet
# imported at 18:00 on 29 Nov (action 1 in progress with support asked, action 2 done); the W48 cycle.
# Due dates from the demo's minutes: E2's on 2 Dec, S2's first on 25 Nov, S4's on 21 Nov: overdue at the W48
# meeting (2 Dec); every other open action is due later.


def demo_trend(demo_run: tuple[Config, Path, Path, str], as_of: datetime,
               judge_effects: bool = False) -> tuple[HealthTrend, datetime]:
    config, _, _, url = demo_run
    engine = connect(url)
    with Session(engine) as session:
        trend = load_health(session, config, parse_period("2026-W48", config.cadence), as_of=as_of,
                            judge_effects=judge_effects)
        run_at = session.scalar(select(Cycle.run_at).where(Cycle.period == "2026-W48"))
    engine.dispose()
    assert run_at is not None
    return trend, run_at


def test_the_demo_meetings_health_by_hand(demo_run: tuple[Config, Path, Path, str]) -> None:
    trend, run_at = demo_trend(demo_run, datetime(2026, 12, 10), judge_effects=True)
    # The meetings so far: the W47 meeting (the first actions were raised there) and W48's.
    assert [m.period for m in trend.meetings] == ["2026-W47", "2026-W48"]
    first, now = trend.meetings
    assert (first.open_actions, first.packs_source, first.pack_hours, first.minutes_status) == (0, "", None,
                                                                                               "not recorded")
    assert first.flags == ("packs not recorded",)
    assert now.meeting == datetime(2026, 12, 2, 10, 0)  # Sunday 29 Nov + meeting_lag_days 3, at 10:00 (the default)
    # packs: the stored cycle's run time (no deliveries in the demo), against 48 hours
    assert now.packs_source == "cycle" and now.packs_made == run_at
    assert now.pack_hours == pytest.approx((datetime(2026, 12, 2, 10) - run_at).total_seconds() / 3600)
    assert now.packs_on_time is (now.pack_hours >= 48)
    # minutes: no delivery of the W48 minutes is recorded; by 10 Dec they were due (4 Dec 10:00)
    assert (now.minutes_sent, now.minutes_status) == (None, "not recorded")
    # 8 raised, 1 done (N4's second) → 7 open; only N4's first changed since the W47 meeting (the 'created'
    # entries at noon that day do not count)
    assert (now.open_actions, now.updated) == (7, 1)
    assert now.updated_share == pytest.approx(1 / 7)
    assert now.overdue == 3
    assert {u.unit_code: u.overdue for u in now.units if u.overdue} == {"E2": 1, "S2": 1, "S4": 1}
    assert now.stale == 0  # last changed 25 Nov: 7 days before the meeting, not more than 14
    assert (now.done, now.dropped) == (1, 0)
    assert (now.judged, now.worked) == (1, 0)  # N4's done action was judged; it did not improve
    assert {u.unit_code: (u.open, u.updated) for u in now.units} == {
        "E2": (1, 0), "E4": (1, 0), "N2": (1, 0), "N4": (1, 1), "S2": (2, 0), "S4": (1, 0)}
    assert now.not_updated == ("E2", "E4", "N2", "S2", "S4")
    assert "3 overdue" in now.flags and "5 units not updated" in now.flags


def test_the_demo_minutes_are_not_yet_due_before_the_deadline(demo_run: tuple[Config, Path, Path, str]) -> None:
    trend, _ = demo_trend(demo_run, datetime(2026, 12, 3, 9, 0))
    assert trend.meetings[-1].minutes_status == "not yet due"  # due 4 Dec 10:00
    assert trend.meetings[-1].judged is None  # not judged unless asked


def test_the_chair_pack_has_the_meeting_health(demo_w48: tuple[list[str], Path, str, dict[str, object]]) -> None:
    _, folder, _, _ = demo_w48
    text = " ".join(pdf_text(folder / "chair-pack.pdf").split())
    assert "Meeting health —" in text  # in the contents
    body = text[text.rindex("Meeting health"):]
    assert "Packs for the last meeting (2026-W47) not recorded" in body  # W47's packs predate the store
    assert "Minutes of the last meeting (2026-W47) not recorded" in body
    assert "Open actions updated since the last meeting ▲ 1 of 7 (14%)" in body
    assert "Overdue actions ▲ 3 (E2 1, S2 1, S4 1)" in body
    assert "Stale actions 0" in body
    assert "1 done, 0 dropped; did it work: 0 of 1 judged improved" in body
    assert ("Units that have not updated since the last meeting: E2 Harbour Quay, E4 Fernlea, N2 Riverside, "
            "S2 Castleton Moor, S4 Kingsmead") in body


# --- a small history (small_config: weekly, meetings on Tuesdays at 10:00, two days after the week ends) -----
# W40 meeting Tue 6 Oct: a1 (A, due 13 Oct), a2 (A, due 13 Oct), a3 (B, due 27 Oct) raised at noon.
# a1: note on 8 Oct (via web), done on 15 Oct. a2: due moved to 10 Nov on 14 Oct. a3: never touched.
# W41 meeting Tue 13 Oct: a4 (B, due 20 Oct, the next meeting) raised at noon; dropped on 22 Oct.


def small_history(session: Session, config: Config) -> None:
    w40, w41 = parse_period("2026-W40", config.cadence), parse_period("2026-W41", config.cadence)
    held40, held41 = datetime(2026, 10, 6, 12), datetime(2026, 10, 13, 12)
    a1 = add_action(session, config, w40, NewAction("A", "patrols", "Insp A", date(2026, 10, 13)), "chair", at=held40)
    a2 = add_action(session, config, w40, NewAction("A", "cameras", "Insp A", date(2026, 10, 13)), "chair", at=held40)
    add_action(session, config, w40, NewAction("B", "leaflets", "Insp B", date(2026, 10, 27)), "chair", at=held40)
    update_action(session, a1.id, "Insp A", note="two patrols a night", at=datetime(2026, 10, 8, 9), via="web")
    update_action(session, a2.id, "Insp A", due_date=date(2026, 11, 10), at=datetime(2026, 10, 14, 9))
    update_action(session, a1.id, "Insp A", status="done", at=datetime(2026, 10, 15, 9))
    a4 = add_action(session, config, w41, NewAction("B", "visits", "Insp B"), "chair", at=held41)
    update_action(session, a4.id, "Insp B", status="dropped", reason="duplicate", at=datetime(2026, 10, 22, 9))
    org = config.organisation.slug
    for label, ran in (("2026-W40", datetime(2026, 10, 6, 9)), ("2026-W41", datetime(2026, 10, 10, 9)),
                       ("2026-W42", datetime(2026, 10, 19, 16))):
        p = parse_period(label, config.cadence)
        session.add(Cycle(org=org, period=label, period_start=p.start, period_end=p.end, run_at=ran,
                          output_dir="", manifest="{}"))
    rows: list[tuple[str, str, str, datetime | None]] = [
        ("2026-W42", "brief", "sent", datetime(2026, 10, 18, 10)),  # exactly 48 h before the W42 meeting
        ("2026-W42", "brief", "sent", datetime(2026, 10, 19, 8)),  # a later one: the earliest counts
        ("2026-W42", "brief", "failed", None),
        ("2026-W41", "minutes", "sent", datetime(2026, 10, 14, 15)),  # due by 15 Oct 10:00: on time
        ("2026-W42", "minutes", "sent", datetime(2026, 10, 23, 9)),  # due by 22 Oct 10:00: late
        ("2026-W43", "minutes", "failed", None),  # tried, never sent
    ]
    for n, (label, kind, status, sent) in enumerate(rows):
        session.add(Delivery(org=org, period=label, kind=kind, unit_code=None, recipient=f"r{n}@example.org",
                             attachment="chair-pack.pdf", sha256="", status=status, attempts=1, last_error="",
                             due_by=None, sent_at=sent, created_at=datetime(2026, 10, 1)))
    session.flush()


def small_trend(store_url: str, config: Config, as_of: datetime) -> HealthTrend:
    config = config.model_copy(update={"store": store_url})
    engine = connect(store_url)
    try:
        with transaction(engine) as session:
            small_history(session, config)
        with Session(engine) as session:
            return load_health(session, config, parse_period("2026-W43", config.cadence), cycles=8, as_of=as_of)
    finally:
        engine.dispose()


def test_each_measure_on_a_small_history(store_url: str, small_config: Config) -> None:
    trend = small_trend(store_url, small_config, datetime(2026, 11, 1))
    # the first meeting is W40's (its cycle and its actions), then one a week
    assert [m.period for m in trend.meetings] == ["2026-W40", "2026-W41", "2026-W42", "2026-W43"]
    w40, w41, w42, w43 = trend.meetings
    # packs: W40 made 1 h before its meeting (late); W41 73 h (9:00 Sat 10 → 10:00 Tue 13); W42 from its
    # deliveries, the earliest sent (48 h: on time, although its cycle ran 18 h before); W43 not recorded
    assert [(m.pack_hours, m.packs_on_time, m.packs_source) for m in trend.meetings] == [
        (1, False, "cycle"), (73, True, "cycle"), (48, True, "deliveries"), (None, None, "")]
    # minutes: none recorded for W40; W41 on time; W42 late; W43 tried and failed, past its deadline
    assert [m.minutes_status for m in trend.meetings] == ["not recorded", "on time", "late", "not sent"]
    assert w41.minutes_sent == datetime(2026, 10, 14, 15)
    # W40: nothing raised before it
    assert (w40.open_actions, w40.updated, w40.overdue, w40.stale) == (0, 0, 0, 0)
    # W41: a1-a3 open (a1's done came later); a1's note is the only change since 6 Oct 10:00 (creations at
    # noon do not count); a1 and a2 due 13 Oct as they then stood (a2 moved on the 14th): overdue
    assert (w41.open_actions, w41.updated, w41.overdue, w41.stale) == (3, 1, 2, 0)
    assert w41.not_updated == ("B",)
    assert [(u.unit_code, u.open, u.updated, u.overdue) for u in w41.units] == [("A", 2, 1, 2), ("B", 1, 0, 0)]
    # W42: a1 done since the last meeting; a2 (its due date moved), a3, a4 (due 20 Oct: overdue) open
    assert (w42.open_actions, w42.updated, w42.overdue, w42.stale, w42.done, w42.dropped) == (3, 1, 1, 0, 1, 0)
    assert w42.not_updated == ("B",)
    # W43: a4 dropped; nothing changed since 20 Oct; a3 due 27 Oct is overdue and untouched for 21 days (> 14)
    # stale; a2 last changed 14 Oct, 13 days before: not stale
    assert (w43.open_actions, w43.updated, w43.overdue, w43.stale, w43.done, w43.dropped) == (2, 0, 1, 1, 0, 1)
    assert w43.not_updated == ("A", "B")
    assert [(u.unit_code, u.overdue, u.stale) for u in w43.units] == [("A", 0, 0), ("B", 1, 1)]
    assert w43.updated_share == 0
    assert w43.judged is None
    assert w43.flags == ("packs not recorded", "minutes not sent", "1 overdue", "1 stale", "2 units not updated")


def test_a_meeting_judged_before_it_is_held(store_url: str, small_config: Config) -> None:
    trend = small_trend(store_url, small_config, datetime(2026, 10, 15, 12))  # after a1 was done
    assert trend.meetings[-1].period == "2026-W43"
    w42 = trend.meetings[2]
    assert w42.cutoff == datetime(2026, 10, 15, 12)
    assert (w42.open_actions, w42.done) == (3, 1)  # a2, a3 and a4 open; a1 done at 9:00
    assert trend.meetings[1].minutes_status == "on time"
    assert w42.minutes_status == "not yet due"  # sent on 23 Oct: after the time asked
    assert (w42.pack_hours, w42.packs_source) == (18, "cycle")  # nor were its briefs sent by then
    assert trend.meetings[3].minutes_status == "not yet due"


def test_settings_are_read_defensively(small_config: Config) -> None:
    defaults = health_settings(small_config)
    assert (defaults.meeting_time, defaults.brief_hours, defaults.minutes_days) == (time(10), 48, 2)
    assert defaults.stale_after_days == small_config.accountability.stale_after_days
    configured: Any = SimpleNamespace(meeting=SimpleNamespace(time="09:30", brief_hours=72, minutes_days=1),
                                      accountability=small_config.accountability)
    given = health_settings(configured)
    assert (given.meeting_time, given.brief_hours, given.minutes_days) == (time(9, 30), 72, 1)


def slipping(values: list[float]) -> HealthTrend:
    """A trend whose open actions updated run at ``values`` percent (of 100), one meeting a week."""
    base = datetime(2026, 1, 6, 10)
    return HealthTrend(tuple(_meeting(base + timedelta(weeks=n), int(pct), 100) for n, pct in enumerate(values)),
                       HealthSettings())


def _meeting(at: datetime, updated: int, open_actions: int) -> MeetingHealth:
    return MeetingHealth(period=f"{at:%Y-%m-%d}", meeting=at, cutoff=at, packs_made=None, packs_source="",
                         pack_hours=None, packs_on_time=None, minutes_sent=None, minutes_status="not recorded",
                         open_actions=open_actions, updated=updated, overdue=0, stale=0, done=0, dropped=0,
                         judged=None, worked=None, units=(), not_updated=())


def test_a_slipping_meeting_is_a_special_cause_of_concern() -> None:
    steady = [80, 84, 78, 82, 80, 83, 79, 81, 80, 82, 78, 81]
    assert special_causes(slipping(steady)) == ()
    slipped = slipping([*steady, 20])  # far below the lower limit: fewer updated is worse
    assert special_causes(slipped) == (("updated_pct", "concern"),)
    chart = health_spc(slipped, "updated_pct")
    assert list(chart["y"])[-1] == 20 and bool(chart["outside_limits"].iloc[-1])
    assert special_causes(slipping([*steady, 99])) == (("updated_pct", "improvement"),)
    # a run of seven below the mean is a slipping process too
    drift = slipping([*steady, 75, 74, 76, 73, 75, 74, 72])
    assert ("updated_pct", "concern") in special_causes(drift)
    assert set(HEALTH_MEASURES) == {"pack_hours", "updated_pct", "overdue", "stale"}


def test_the_pack_section_charts_the_trend(small_config: Config) -> None:
    trend = slipping([80, 84, 78, 82, 20])
    data: Any = SimpleNamespace(health=replace(trend, special=special_causes(trend)), config=small_config)
    section = health_section(data)
    assert [c.name for c in section.charts] == ["health-updated_pct.png"]  # no pack hours recorded: not drawn
    assert section.charts[0].png.startswith(b"\x89PNG")
    assert "5 meetings" in section.charts[0].alt
    assert section.figures[2].value == "20 of 100 (20%)" and section.figures[2].flag
    steady = [80, 84, 78, 82, 80, 83, 79, 81, 80, 82, 78, 81]
    slipped: Any = SimpleNamespace(health=slipping([*steady, 20]), config=small_config)
    assert health_section(slipped).special == (
        "Open actions updated since the last meeting (%): a special cause of concern at the 2026-03-31 meeting",)
    none: Any = SimpleNamespace(health=None)
    assert health_section(none).empty_message == "The meeting's health was not assessed."


def test_the_health_command(store_url: str, small_config_path: Path, small_config: Config) -> None:
    engine = connect(store_url)
    with transaction(engine) as session:
        small_history(session, small_config)
    engine.dispose()
    runner = CliRunner()
    shown = runner.invoke(app, ["health", "--config", str(small_config_path), "--db", store_url,
                                "--period", "2026-W43", "--cycles", "3"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "Meeting health up to the 2026-W43 meeting" in shown.output
    assert "2026-W40" not in shown.output  # three meetings: W41 to W43
    assert "73 ok" in shown.output and "48 ok" in shown.output
    assert "1/3 (33%)" in shown.output and "0/2 (0%)" in shown.output
    assert "packs not recorded; minutes not sent; 1 overdue; 1 stale" in shown.output
    assert "minutes late; 1 overdue; 1 unit not updated" in shown.output
    bad = runner.invoke(app, ["health", "--config", str(small_config_path), "--db", store_url, "--period", "soon"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output


def test_the_chair_pack_draws_the_health_charts(cycle_data: CycleData) -> None:  # noqa: F811
    """The section in the chair's pack HTML, with its XmR charts served as the pack's images."""
    steady = slipping([80, 84, 78, 82, 80, 83, 79, 81, 80, 82, 78, 81, 20])
    noticed = tuple(replace(m, pack_hours=float(50 + n % 3), packs_on_time=True, packs_source="cycle")
                    for n, m in enumerate(steady.meetings))
    late = replace(noticed[-2], pack_hours=5.0, packs_on_time=False)
    trend = HealthTrend((*noticed[:-2], late, noticed[-1]), steady.settings)
    pack = chair_pack(replace(cycle_data, health=trend))
    assert pack.health is not None and [e.anchor for e in pack.contents.entries][8] == "health"
    html = render_html(pack.template, templates_dir(), pack=pack)
    section = html[html.index('id="health"'):html.index('id="glance"')]
    images = pack_images(pack)
    assert {"chart:health-updated_pct.png", "chart:health-pack_hours.png"} <= set(images)
    assert section.count("<img ") == 2 and 'src="chart:health-pack_hours.png"' in section
    assert "Packs for the last meeting (2026-03-24)" in section and "▲ made 5 hours before the meeting" in section
    assert "a special cause of concern at the 2026-03-31 meeting" in section  # actions updated: 20%
    assert "a special cause of concern at the 2026-03-24 meeting" in section  # the packs' notice: 5 hours
    steady_notice = chair_pack(replace(cycle_data, health=HealthTrend(noticed, steady.settings)))
    assert steady_notice.health is not None  # half a page: the packs' notice is charted only when it slips
    assert [c.name for c in steady_notice.health.charts] == ["health-updated_pct.png"]
