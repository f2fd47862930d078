"""Did it work? Before/after counts and the exact rate-ratio test, checked against hand-worked numbers.

With equal windows the test is binomial: given n = before + after, ``after`` ~ Bin(n, 1/2)
when nothing changed, and the two-sided p-value doubles the smaller tail.
- 20 before, 8 after: P(X ≤ 8 | n = 28) = (1 + 28 + 378 + 3,276 + 20,475 + 98,280 + 376,740
  + 1,184,040 + 3,108,105) / 2^28 = 4,791,323 / 268,435,456, so p = 0.035698.
- 12 before, 8 after: P(X ≤ 8 | n = 20) = 263,950 / 1,048,576, so p = 0.503441.
- 5 before, 0 after: p = 2 × (1/2)^5 = 0.0625.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from compstat.actions.effect import action_effects, effect_days, judge_effect
from compstat.config import Config, load_config
from tests.conftest import SMALL_CONFIG


def test_fewer_after_is_an_improvement() -> None:
    effect = judge_effect(20, 8, 28, "lower")
    assert effect.verdict == "improved"
    assert effect.p_value == pytest.approx(2 * 4_791_323 / 268_435_456, rel=1e-9)
    assert effect.ratio == pytest.approx(0.4)
    assert effect.text == "improved: 8 in the 28 days after vs 20 in the 28 days before (rate ratio 0.40, p = 0.036)"


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
    assert small.text.endswith("p = 0.062; small numbers)")
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
    daily = pd.DataFrame([{"unit_code": "A", "measure_id": "burglary", "date": pd.Timestamp(d), "total": t}
                          for d, t in rows])
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
