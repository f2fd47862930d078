"""Accountability agreements: the named officer answerable for each measure of a unit, and the
thresholds that trigger support or intervention (``accountability.agreements`` in the config)."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from compstat.actions.escalation import describe_trigger
from compstat.config import Config
from compstat.errors import ConfigError, UsageError


@dataclass(frozen=True)
class AgreementLine:
    """One measure of one unit's agreement, in words, for the CLI, the minutes and the packs."""

    unit_code: str
    unit_name: str
    measure_id: str
    measure_name: str
    officer: str
    support_if: str
    intervene_if: str
    note: str
    support_status: str = ""
    intervene_status: str = ""


def agreement_problems(config: Config) -> list[str]:
    """Agreements naming a unit or measure that is not in the config, and triggers requiring a
    significance test their measure never gets (only counts are tested: a rate or value has ``spc``)."""
    units = {u.code for u in config.leaf_units}
    measures = {m.id: m for m in config.measures}
    problems = []
    for unit_code, by_measure in config.accountability.agreements.items():
        if unit_code not in units:
            problems.append(f"accountability.agreements.{unit_code}: unit '{unit_code}' is not an accountable unit")
        problems += [f"accountability.agreements.{unit_code}.{m}: measure '{m}' is not in the config"
                     for m in by_measure if m not in measures]
        for m, agreement in by_measure.items():
            kind = measures[m].kind if m in measures else "count"
            for key in ("support_if", "intervene_if"):
                trigger = getattr(agreement, key)
                if trigger is not None and trigger.requires == "significant" and kind != "count":
                    problems.append(f"accountability.agreements.{unit_code}.{m}.{key}.requires: '{m}' is a {kind}, "
                                    "which is never tested for significance (only counts are): use spc or either")
    return problems


def check_agreements(config: Config, source: str | Path | None = None) -> None:
    """Raise ConfigError listing every agreement that names an unknown unit or measure
    (``source``: the config file, named in the message)."""
    problems = agreement_problems(config)
    if problems:
        where = f"{source}: " if source else ""
        raise ConfigError(f"{where}invalid accountability agreements\n  " + "\n  ".join(problems))


def unit_agreements(config: Config, unit_code: str) -> list[AgreementLine]:
    """The unit's agreement, one line per measure in config order (empty if it has none)."""
    units = {u.code: u for u in config.leaf_units}
    if unit_code not in units:
        raise UsageError(f"unit '{unit_code}' is not in the config")
    by_measure = config.accountability.agreements.get(unit_code, {})
    cadence = config.cadence.period
    lines = []
    for measure in config.measures:
        agreement = by_measure.get(measure.id)
        if agreement is None:
            continue
        lines.append(AgreementLine(
            unit_code=unit_code, unit_name=units[unit_code].name, measure_id=measure.id, measure_name=measure.name,
            officer=agreement.officer,
            support_if=describe_trigger(agreement.support_if, cadence) if agreement.support_if else "",
            intervene_if=describe_trigger(agreement.intervene_if, cadence) if agreement.intervene_if else "",
            note=agreement.note,
        ))
    return lines


def judged_agreements(config: Config, unit_code: str, triggers: pd.DataFrame | None) -> list[AgreementLine]:
    """``unit_agreements`` with each trigger's state at the meeting: ``met: …`` or ``not met: …`` and
    the figure it was judged on, then what the analysis found when the trigger required evidence, and
    the sentence for a raw figure on a change within normal variation (``triggers``:
    ``escalation.agreement_triggers``' result)."""
    lines = unit_agreements(config, unit_code)
    if triggers is None or triggers.empty:
        return lines
    mine = triggers[triggers["unit_code"] == unit_code]
    state = {(str(r["measure_id"]), str(r["trigger"])): _state(r) for r in mine.to_dict(orient="records")}
    return [replace(line, support_status=state.get((line.measure_id, "support"), ""),
                    intervene_status=state.get((line.measure_id, "intervene"), "")) for line in lines]


def _state(row: dict[Hashable, Any]) -> str:
    """``met: 28 against 15 last year over 28 days, +86.7%``, then what the analysis found where it
    matters: the evidence of a met trigger that required it; for a raw figure that crossed its bound
    on a change within normal variation, that it was not escalated (or the note that it was, by the
    raw trigger alone)."""
    met, raw = bool(row["met"]), bool(row.get("raw_met", row["met"]))
    text = f"{'met' if met else 'not met'}: {row['judged_on']}"
    evidence = row.get("evidence") if isinstance(row.get("evidence"), str) else ""
    note = row.get("note") if isinstance(row.get("note"), str) else ""
    if raw and not met:
        return f"{text}; the raw figure crossed its bound, but {evidence or 'no evidence'}: not escalated"
    if met and str(row.get("requires") or "none") != "none" and evidence:
        return f"{text}; {evidence}"
    if met and note:
        return f"{text}; {note}"
    return text
