"""Comparison caveats from the quality step: which table cells carry a mark, and the footnote saying why.

``QualityResult.comparisons`` lists each unit × measure × window whose comparison with last year
spans a structure or definition change (``like_for_like`` False) or is no bigger than one
cycle's late recording (``fragile`` True), with the reason. Every such cell of a period table
or of the chair's glance gets a mark (``‡`` not like-for-like, ``§`` fragile), and the table
gets one footnote per mark and reason naming the cells it applies to. A division's comparison
carries ``‡`` when one of its units' does (``hierarchy.roll_up_marks``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from compstat.hierarchy import roll_up_marks
from compstat.packs.lookup import per_cycle
from compstat.quality.findings import listed
from compstat.results import CycleData

NOT_LIKE_FOR_LIKE = "‡"
FRAGILE = "§"
MARK_WORDS = {NOT_LIKE_FOR_LIKE: "not like-for-like", FRAGILE: "fragile"}

Key = tuple[str, str, str]  # unit code, measure id, window key


@dataclass(frozen=True)
class Caveat:
    """One caveat on one comparison: its mark and the quality step's reason."""

    mark: str
    reason: str


def comparison_caveats(data: CycleData) -> dict[Key, tuple[Caveat, ...]]:
    """Every marked comparison of the cycle, keyed by (unit, measure, window); a comparison both
    not like-for-like and fragile gets both marks, not like-for-like first. The same for every pack
    of the cycle: built once per process (``per_cycle``); callers must not change it."""
    return per_cycle(data, "comparison-caveats", lambda: _comparison_caveats(data))


def _comparison_caveats(data: CycleData) -> dict[Key, tuple[Caveat, ...]]:
    if data.quality is None or data.quality.comparisons.empty:
        return {}
    out: dict[Key, list[Caveat]] = {}
    frame = roll_up_marks(data.quality.comparisons, data.config)
    assert frame is not None
    for r in frame.to_dict(orient="records"):
        key = (str(r["unit_code"]), str(r["measure_id"]), str(r["window"]))
        reason = "" if pd.isna(r["reason"]) else str(r["reason"])
        caveats = out.setdefault(key, [])
        if not bool(r["like_for_like"]):
            caveats.append(Caveat(NOT_LIKE_FOR_LIKE, reason))
        if bool(r["fragile"]):
            caveats.append(Caveat(FRAGILE, reason))
    return {k: tuple(sorted(dict.fromkeys(v), key=lambda c: c.mark != NOT_LIKE_FOR_LIKE)) for k, v in out.items()}


def marks(caveats: Iterable[Caveat], labels: dict[Caveat, str] | None = None) -> str:
    """The marks of a cell, each once: ``‡``, ``§`` or ``‡§``; with ``labels`` (``caveat_labels``) each
    caveat's own numbered mark (``‡1``, ``‡2§``)."""
    return "".join(dict.fromkeys((labels or {}).get(c, c.mark) for c in caveats))


Cells = Iterable[tuple[str, str, tuple[Caveat, ...]]]


def _grouped(cells: Cells) -> dict[tuple[str, str], dict[str, list[str]]]:
    """(mark, reason) → group → items, in order of appearance, not like-for-like first."""
    grouped: dict[tuple[str, str], dict[str, list[str]]] = {}
    for group, item, caveats in cells:
        for c in caveats:
            items = grouped.setdefault((c.mark, c.reason), {}).setdefault(group, [])
            if item not in items:
                items.append(item)
    return dict(sorted(grouped.items(), key=lambda kv: kv[0][0] != NOT_LIKE_FOR_LIKE))


def caveat_labels(cells: Cells) -> dict[Caveat, str]:
    """Each caveat's own mark in a table: the mark alone when one reason carries it, else numbered in
    the footnotes' order (``‡1``, ``‡2`` …), so each different caveat has its own footnote mark."""
    keys = list(_grouped(cells))
    out = {}
    for mark in dict.fromkeys(m for m, _ in keys):
        reasons = [r for m, r in keys if m == mark]
        for i, reason in enumerate(reasons, start=1):
            out[Caveat(mark, reason)] = mark if len(reasons) == 1 else f"{mark}{i}"
    return out


def caveat_footnotes(cells: Cells, every: Sequence[str] = (), numbered: bool = False) -> tuple[str, ...]:
    """One footnote per mark and reason, naming the cells it applies to as (group, item) pairs in
    order of appearance; groups with the same items are named together, and as ``every measure``
    when they are all of ``every``: ``‡ not like-for-like (Robbery: 28 days and year to date): spans …``.
    ``numbered``: each footnote starts with its own mark from ``caveat_labels`` (``‡2 not like-for-like …``)."""
    cells = list(cells)
    grouped = _grouped(cells)
    labels = caveat_labels(cells) if numbered else {}
    notes = []
    for (mark, reason), places in grouped.items():
        by_items: dict[tuple[str, ...], list[str]] = {}
        for group, items in places.items():
            by_items.setdefault(tuple(items), []).append(group)
        where = "; ".join(f"{'every measure' if every and groups == list(every) else listed(groups)}: "
                          f"{listed(list(items))}" for items, groups in by_items.items())
        label = labels.get(Caveat(mark, reason), mark)
        notes.append(f"{label} {MARK_WORDS[mark]} ({where}): {reason or 'see the data-quality notes'}")
    return tuple(notes)
