"""What several checks share: the ``Check`` and ``MarksComparisons`` protocols, which check explains a
quarantined row (``rejection_kind``), and the wording helpers of findings (input names, quarantine hints,
quarantined rows per unit, signed numbers)."""

from __future__ import annotations

import json
import re
from typing import Protocol, runtime_checkable

import pandas as pd

from compstat import numbers
from compstat.ingest import COPY_OF_STORED
from compstat.ingest.mapping import COUNTED_WITHOUT_COORDINATES, EXACT_COPY, TOTAL_ROW, resolve_units
from compstat.quality.context import QualityContext
from compstat.quality.findings import QUARANTINE_CHECK_HINT, QUARANTINE_STORED_HINT, Finding

PERIOD_NOUN = {"weekly": "week", "monthly": "month"}
UNKNOWN_UNIT = re.compile(r"^unit '(?P<value>.*)' is not in the config")
NOT_A_NUMBER = re.compile(r"^(?:value '(?P<a>.*)'|'(?P<b>.*)' in '.*') is not a number$")
ZERO_WORDS = {"-", "–", "—", "nil", "zero", "none", "nought"}
EXACT_COPY_PREFIX = EXACT_COPY.split("{")[0]
HELD_COPY_PREFIX = COPY_OF_STORED.split("{")[0]


class Check(Protocol):
    """A named data-quality check."""

    @property
    def name(self) -> str: ...

    @property
    def default_severity(self) -> str: ...

    @property
    def description(self) -> str: ...

    def run(self, ctx: QualityContext) -> list[Finding]: ...


@runtime_checkable
class MarksComparisons(Protocol):
    """A check that also marks comparisons (``COMPARISON_COLUMNS``) as not like-for-like or fragile."""

    def marks(self, ctx: QualityContext) -> pd.DataFrame: ...


def rejection_kind(reason: str) -> str:
    """Which check explains a quarantined row: unknown_unit, total, exact_copy, zero_text, coordinates (a
    row counted without its unreadable coordinates) or other."""
    if reason.endswith(COUNTED_WITHOUT_COORDINATES):
        return "coordinates"
    if UNKNOWN_UNIT.match(reason):
        return "unknown_unit"
    if reason == TOTAL_ROW:
        return "total"
    if reason.startswith((EXACT_COPY_PREFIX, HELD_COPY_PREFIX)):
        return "exact_copy"
    number = NOT_A_NUMBER.match(reason)
    if number and (number["a"] or number["b"] or "").strip().casefold() in ZERO_WORDS:
        return "zero_text"
    return "other"


def quarantine_hint(ctx: QualityContext) -> str:
    """Where the quarantined rows can be seen: in the store, or (nothing stored) by exporting them."""
    return f"{QUARANTINE_STORED_HINT if ctx.stored else QUARANTINE_CHECK_HINT}."


def rejected_units(ctx: QualityContext, rows: pd.DataFrame) -> dict[str, int]:
    """Quarantined rows per unit, where the row's unit value is one of the config's units."""
    out: dict[str, int] = {}
    for source in ctx.config.sources:
        mine = rows[rows["source"] == source.name]
        if mine.empty:
            continue
        raw = pd.Series([source.unit or json.loads(r).get(source.columns.unit or "", "") for r in mine["raw"]],
                        index=mine.index)
        codes = resolve_units(raw.fillna("").astype(str), source, ctx.config).dropna()
        for code, n in codes.value_counts().sort_index().items():
            out[str(code)] = out.get(str(code), 0) + int(n)
    return out


def file_name(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def signed_text(value: float) -> str:
    return ("+" if value > 0 else "") + numbers.number(float(value))
