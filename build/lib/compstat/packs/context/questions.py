"""The challenger's briefing as pack sections: the cover's headline (what to probe, what to
recognise) and the suggested challenge questions and support offers (``compstat.packs.briefing``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from compstat.packs.briefing import Headline, Question, SupportOffer


@dataclass(frozen=True)
class UnitHeadline:
    """The cover's headline: up to three things to probe and the one improvement to recognise;
    ``message`` stands in for an empty list, ``recognise_message`` for no improvement; ``withheld`` says
    which improvements a quality caveat kept from recognition, and why (``context.withheld``)."""

    probes: tuple[Headline, ...]
    recognise: Headline | None
    message: str
    recognise_message: str
    withheld: tuple[str, ...] = ()


@dataclass(frozen=True)
class Questions:
    """Suggested challenge questions and support offers, each citing its evidence, with the
    sentences shown when there are none."""

    questions: tuple[Question, ...]
    support: tuple[SupportOffer, ...]
    questions_message: str
    support_message: str


def briefing_actions(actions: pd.DataFrame) -> pd.DataFrame:
    """The action log with a missing escalation level read as 0 and missing text as empty (the
    briefing takes the level as an int and any non-empty text as given)."""
    if actions.empty:
        return actions
    fixes: dict[str, pd.Series] = {}
    if "escalation_level" in actions.columns and actions["escalation_level"].isna().any():
        fixes["escalation_level"] = actions["escalation_level"].astype("float").fillna(0).astype(int)
    for column in ("support_requested", "support_offered", "escalation_label"):
        if column in actions.columns and actions[column].isna().any():
            fixes[column] = actions[column].astype(object).where(actions[column].notna(), "")
    return actions.assign(**fixes) if fixes else actions
