"""Did it work? Before/after counts and the exact rate-ratio test, checked against hand-worked numbers.

With equal windows the test is binomial: given n = before + after, ``after`` ~ Bin(n, 1/2)
when nothing changed, and the two-sided p-value doubles the smaller tail.
- 20 before, 8 after: P(X ≤ 8 | n = 28) = (1 + 28 + 378 + 3,276 + 20,475 + 98,280 + 376,740
  + 1,184,040 + 3,108,105) / 2^28 = 4,791,323 / 268,435,456, so p = 0.035698.
- 12 before, 8 after: P(X ≤ 8 | n = 20) = 263,950 / 1,048,576, so p = 0.503441.
- 5 before, 0 after: p = 2 × (1/2)^5 = 0.0625.

Benjamini–Hochberg over the m actions judged at one meeting: q_(i) = min over j ≥ i of
m × p_(j) / j. With p = 0.035698, 0.503441, 0.503441 (m = 3): q = min(3 × 0.035698, 3 × 0.503441
/ 2, 0.503441) = 0.107094 for the first, 0.503441 for the others.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from compstat.actions.effect import action_effects, effect_days, judge_effect, unit_dispersions
from compstat.config import Config, load_config
from tests.conftest import SMALL_CONFIG


def test_fewer_after_is_an_improvement() -> None:
    effect = judge_effect(20, 8, 28, "lower")
    assert effect.verdict == "improved"
    assert effect.p_value == pytest.approx(2 * 4_791_323 / 268_435_456, rel=1e-9)
    assert effect.ratio == pytest.approx(0.4)
    assert effect.text == ("improved: 8 in the 28 days after vs 20 in the 28 days before (rate ratio 0.40, "
                           "p = 0.036, q = 0.036)")


def test_verdict_follows_polarity() -> None:
    assert judge_effect(8, 20, 28, "lower").verdict == "worsened"
    assert judge_effect(8, 20, 28, "higher").verdict == "improved"
    assert judge_effect(20, 8, 28, "higher").verdict == "worsened"
    assert judge_effect(8, 20, 28, "neutral").verdict == "changed"


def test_within_normal_variation_and_edge_cases() -> None:
    same = judge_effect(12, 8, 28, "lower")
    assert same.verdict == "no significant change"
    assert same.p_value == pytest.approx(2 * 263_950 / 1_048_576, rel=1e-9)
    small = judge_effect(5, 0, 14, "lower")
    assert (small.verdict, small.small_numbers) == ("no significant change", True)
    assert small.p_value == pytest.approx(0.0625)
    assert small.text.endswith("p = 0.062, q = 0.062; small numbers)")
    assert judge_effect(0, 0, 14, "lower").verdict == "no incidents"
    assert judge_effect(20, 8, 6, "lower").verdict == "too early"


def test_overdispersion_widens_the_test() -> None:
    # dispersion 2 halves the effective counts: 10 vs 4 of n = 14, p = 2 × 1,471 / 16,384 = 0.1796
    effect = judge_effect(20, 8, 28, "lower", dispersion=2.0)
    assert effect.verdict == "no significant change"
    assert effect.p_value == pytest.approx(2 * 1471 / 16384, rel=1e-9)


def test_windows_are_equal_and_capped() -> None:
    assert effect_days(date(2026, 3, 8), date(2026, 3, 22), 84) == 14
    assert effect_days(date(2026, 3, 8), date(2026, 12, 31), 84) == 84
    assert effect_days(date(2026, 3, 8), date(2026, 3, 8), 84) == 0


@pytest.fixture
def config(tmp_path: Path) -> Config:
    path = tmp_path / "c.yaml"
    path.write_text(SMALL_CONFIG, encoding="utf-8")
    return load_config(path)


def test_action_effects_from_daily_totals(config: Config) -> None:
    raised_on = date(2026, 3, 8)  # the end of 2026-W10; the log is for 2026-W12 (ends 22 March): 14 days each side
    history = [(raised_on - timedelta(days=14 + 7 * k), 7.0) for k in range(50)]  # a steady year: no over-dispersion
    rows = [*history, (raised_on - timedelta(days=10), 10.0), (raised_on, 10.0), (raised_on + timedelta(days=5), 8.0),
            (raised_on + timedelta(days=15), 99.0)]  # after the window: not counted
    daily = pd.DataFrame([{"unit_code": "A", "measure_id": "burglary", "date": pd.Timestamp(d), "total": t,
                           "n": int(t)} for d, t in rows])
    log = pd.DataFrame([
        {"unit_code": "A", "measure_id": "burglary", "due_date": date(2026, 3, 17), "raised_on": raised_on},
        {"unit_code": "A", "measure_id": "burglary", "due_date": date(2026, 4, 30), "raised_on": raised_on},
        {"unit_code": "A", "measure_id": None, "due_date": date(2026, 3, 17), "raised_on": raised_on},
    ], index=[10, 11, 12])
    effects = action_effects(log, daily, config, date(2026, 3, 22), date(2026, 3, 24))
    assert list(effects.index) == [10, 11, 12]
    first = effects.loc[10]
    assert (first["effect"], first["effect_before"], first["effect_after"], first["effect_days"]) == (
        "improved", 20.0, 8.0, 14)
    assert first["effect_p"] == pytest.approx(2 * 4_791_323 / 268_435_456, rel=1e-9)
    assert effects.loc[11, "effect"] == "" and effects.loc[12, "effect"] == ""  # not yet due; no measure


RAISED_ON = date(2026, 3, 8)  # the end of 2026-W10; the log is for 2026-W12 (ends 22 March): 14 days each side
PERIOD_END, MEETING = date(2026, 3, 22), date(2026, 3, 24)
AS_OF = {"A": PERIOD_END, "B": PERIOD_END}  # every unit's data is in to the period's end


def counts(unit: str, measure: str, before: int, after: int) -> list[dict[str, object]]:
    """``before`` incidents on the action's last day and ``after`` on the day after the window opens."""
    return [{"unit_code": unit, "measure_id": measure, "date": pd.Timestamp(RAISED_ON), "total": float(before),
             "n": before},
            {"unit_code": unit, "measure_id": measure, "date": pd.Timestamp(RAISED_ON + timedelta(days=1)),
             "total": float(after), "n": after}]


def log_of(*pairs: tuple[str, str]) -> pd.DataFrame:
    return pd.DataFrame([{"unit_code": u, "measure_id": m, "due_date": date(2026, 3, 17), "raised_on": RAISED_ON}
                         for u, m in pairs])


def test_benjamini_hochberg_across_the_actions_of_a_meeting(config: Config) -> None:
    flat = config.model_copy(update={"analysis": config.analysis.model_copy(update={"overdispersion": False})})
    daily = pd.DataFrame(counts("A", "burglary", 20, 8) + counts("B", "burglary", 12, 8)
                         + counts("A", "robbery", 12, 8))
    alone = action_effects(log_of(("A", "burglary")), daily, flat, PERIOD_END, MEETING, data_as_of=AS_OF)
    assert alone.loc[0, "effect"] == "improved" and alone.loc[0, "effect_q"] == pytest.approx(
        2 * 4_791_323 / 268_435_456, rel=1e-9)  # a family of one: q = p
    three = action_effects(log_of(("A", "burglary"), ("B", "burglary"), ("A", "robbery")), daily, flat,
                           PERIOD_END, MEETING, data_as_of=AS_OF)
    p1, p2 = 2 * 4_791_323 / 268_435_456, 2 * 263_950 / 1_048_576
    assert list(three["effect_p"]) == pytest.approx([p1, p2, p2], rel=1e-9)
    assert list(three["effect_q"]) == pytest.approx([3 * p1, p2, p2], rel=1e-9)
    assert list(three["effect"]) == ["no significant change"] * 3  # q = 0.107 > fdr 0.05
    assert three.loc[0, "effect_text"].endswith("(rate ratio 0.40, p = 0.036, q = 0.107)")
    loose = flat.model_copy(update={"analysis": flat.analysis.model_copy(update={"fdr": 0.2})})
    assert action_effects(log_of(("A", "burglary"), ("B", "burglary"), ("A", "robbery")), daily, loose,
                          PERIOD_END, MEETING, data_as_of=AS_OF).loc[0, "effect"] == "improved"


def test_a_unit_with_little_history_takes_the_median_dispersion_of_the_others(config: Config) -> None:
    """B's weekly burglary alternates 4, 12, 4, ... for two years: every pair gives (12 − 4)² = 64
    over 4 + 12 = 16, so φ = 4. A's history starts four weeks before the action (three pairs,
    fewer than the analysis' 8), so it takes the other units' median φ, 4, as the analysis does.
    With φ = 4, A's 20 before and 8 after count as 5 and 2: p = 2 × P(X ≤ 2 | n = 7, ½)
    = 2 × (1 + 7 + 21) / 128 = 0.453125."""
    mondays = pd.date_range("2024-01-01", "2026-03-02", freq="7D")
    b = [{"unit_code": "B", "measure_id": "burglary", "date": d, "total": 4.0 if k % 2 == 0 else 12.0,
          "n": 4 if k % 2 == 0 else 12} for k, d in enumerate(mondays)]
    a_history = [{"unit_code": "A", "measure_id": "burglary", "date": pd.Timestamp("2026-02-09"), "total": 6.0,
                  "n": 6},
                 {"unit_code": "A", "measure_id": "burglary", "date": pd.Timestamp("2026-02-16"), "total": 6.0,
                  "n": 6}]
    daily = pd.DataFrame(b + a_history + counts("A", "burglary", 20, 8))
    phi = unit_dispersions(daily, config, "burglary", RAISED_ON)
    assert phi["B"] == pytest.approx(4.0) and phi["A"] == pytest.approx(4.0)
    effect = action_effects(log_of(("A", "burglary")), daily, config, PERIOD_END, MEETING, data_as_of=AS_OF).loc[0]
    assert (effect["effect"], effect["effect_p"]) == ("no significant change", pytest.approx(58 / 128, rel=1e-9))


def test_windows_end_at_the_data_as_of_date() -> None:
    """The after-window ends at the last day with data, and the before-window is as long; before the
    first record the before-window is cut as well."""
    assert effect_days(date(2026, 3, 8), date(2026, 3, 22), 84, data_as_of=date(2026, 3, 15)) == 7
    assert effect_days(date(2026, 3, 8), date(2026, 3, 22), 84, data_as_of=date(2026, 3, 30)) == 14
    assert effect_days(date(2026, 3, 8), date(2026, 3, 22), 84, data_as_of=date(2026, 3, 1)) == 0
    assert effect_days(date(2026, 3, 8), date(2026, 3, 22), 84, data_start=date(2026, 3, 1)) == 8


def test_too_early_to_tell_until_the_after_window_has_seven_days_of_data(config: Config) -> None:
    """Raised on 8 March, judged for the meeting on the week to 22 March (14 days), but A's data is in
    only to 12 March: 4 days of data, so too early to tell — not "improved" on 20 before against the
    8 of the days that have data. B's data ends where the period does; without a data as of date
    for A its last day in ``daily`` is used."""
    daily = pd.DataFrame(counts("A", "burglary", 20, 8) + counts("B", "burglary", 20, 8)
                         + [{"unit_code": "B", "measure_id": "burglary", "date": pd.Timestamp(PERIOD_END),
                             "total": 0.0, "n": 0}])
    log = log_of(("A", "burglary"), ("B", "burglary"))
    effects = action_effects(log, daily, config, PERIOD_END, MEETING, data_as_of={"A": date(2026, 3, 12)})
    assert (effects.loc[0, "effect"], effects.loc[0, "effect_days"]) == ("too early", 4)
    assert effects.loc[0, "effect_text"] == "too early to tell: 4 days of data since it was raised (at least 7 needed)"
    assert effects.loc[1, "effect_days"] == 14 and effects.loc[1, "effect"] != "too early"
    fallback = action_effects(log, daily, config, PERIOD_END, MEETING)  # A's last day in daily: 9 March
    assert (fallback.loc[0, "effect"], fallback.loc[0, "effect_days"]) == ("too early", 1)
