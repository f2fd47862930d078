"""Wording and value helpers shared by the section builders: unit names, measure labels,
plurals, the analysis' headline window and SPC words, and reading a record's possibly missing
values (``None``, NaN, NaT) as text or numbers.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any

import pandas as pd

from compstat.config import Config, Measure, iter_units
from compstat.figures import TOTAL
from compstat.packs.filters import fmt_count
from compstat.results import CycleData

TOTAL_NAME = "All units"
PERIOD_NOUN = {"weekly": "week", "monthly": "month"}
NO_FINDINGS = "No findings beyond normal variation"
NO_RECOGNITION = "No improvement beyond normal variation to recognise"
POLARITY_NOTES = {"lower": "lower is better", "higher": "higher is better",
                  "neutral": "activity: neither better nor worse"}
SPC_WORDS = {
    "common_cause": "● common cause",
    "special_cause_concern": "special cause — concern",
    "special_cause_improvement": "special cause — improvement",
    "neutral_high": "▲ special cause — high",
    "neutral_low": "▼ special cause — low",
}
Record = dict[Hashable, Any]


def unit_names(config: Config) -> dict[str, str]:
    return {u.code: u.name for u in iter_units(config.units)} | {TOTAL: TOTAL_NAME}


def measure_labels(measure: Measure) -> tuple[str, str]:
    """Short unit labels go beside each value; long ones under the measure's name."""
    polarity = POLARITY_NOTES[measure.polarity]
    label = measure.unit_label
    if len(label) <= 3:
        return label, polarity
    return "", f"{label}; {polarity}"


def plural(n: int, word: str) -> str:
    return f"{fmt_count(n)} {word}{'' if n == 1 else 's'}"


def headline_window(data: CycleData) -> str:
    """The window the analysis headlines (``analysis.headline_window``; 28 days or 3 months)."""
    chosen = data.config.analysis.headline_window
    return chosen or ("28d" if data.config.cadence.period == "weekly" else "3m")


def spc_word(variation: object, above_mean: bool) -> str:
    """The SPC variation in words with a symbol (never colour alone): ``▲ special cause — concern``."""
    text = text_of(variation)
    word = SPC_WORDS.get(text, text.replace("_", " "))
    if text in ("special_cause_concern", "special_cause_improvement"):
        word = ("▲ " if above_mean else "▼ ") + word
    return word


def is_missing(value: object) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))  # type: ignore[call-overload]


def text_of(value: object) -> str:
    return "" if is_missing(value) else str(value)


def float_of(value: object) -> float:
    return math.nan if is_missing(value) else float(value)  # type: ignore[arg-type]
