"""Disclosure control of the public report card: pure functions on one table of counts.

A *table* is a set of cells (``key → count``, None where there is no data) and the groups that add up
(``(total key, part keys)``: a division and its units, the organisation and its divisions or units). One
table is one measure, one span and one side (this year or last year): nothing else published adds up.

- ``suppress`` (the default): a count from 1 to ``threshold - 1`` is *primary* suppressed, shown as
  "fewer than N". Then the table is attacked as a reader could (``feasible``): each cell's range from what
  is shown (a figure: itself; "fewer than N": 1 to N - 1; "withheld": any count) narrowed through every
  group's sum until nothing moves. While some suppressed cell's range is one value, the smallest published
  non-zero count among its group's other cells (a part before the total) is *withheld* too (secondary
  suppression), and the table is attacked again. When a cell's groups have no such count left, a withheld
  total worked out from its own group is protected the same way; failing that a total shown as "fewer than
  N" is withheld instead (four units of "fewer than 5" under a total of "fewer than 5" are each 1), and
  last a zero.
- ``round``: every count, totals included, is rounded to the nearest multiple of ``round_to`` (halves up),
  each on its own, so a difference of rounded figures is never exact; nothing is suppressed.

Zero is published as 0 (a count of none discloses no one). ``enabled: false`` publishes every count.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from compstat.config import Disclosure
from compstat.errors import CompstatError

Status = Literal["published", "rounded", "fewer", "withheld", "none"]
Group = tuple[Hashable, Sequence[Hashable]]
INF = math.inf


@dataclass(frozen=True)
class Shown:
    """One cell as published: ``value`` (None when not shown), ``status`` and the words in its place."""

    value: int | None
    status: Status
    text: str


class DisclosureError(CompstatError):
    """A table whose small counts cannot be protected by withholding others (exit 1)."""

    exit_code = 1


def primary(value: int | None, rules: Disclosure) -> Shown:
    """One count as its own rule shows it, before any group is considered."""
    if value is None:
        return Shown(None, "none", "no data")
    if not rules.enabled:
        return Shown(value, "published", f"{value:,}")
    if rules.method == "round":
        rounded = (value + rules.round_to // 2) // rules.round_to * rules.round_to
        return Shown(rounded, "rounded", f"{rounded:,}")
    if 0 < value < rules.threshold:
        return Shown(None, "fewer", f"fewer than {rules.threshold}")
    return Shown(value, "published", f"{value:,}")


def withheld() -> Shown:
    return Shown(None, "withheld", "withheld")


def bounds(shown: Shown, threshold: int) -> tuple[float, float]:
    """What a reader knows of a cell from what is shown."""
    if shown.status == "published":
        return float(shown.value or 0), float(shown.value or 0)
    if shown.status == "fewer":
        return 1.0, float(threshold - 1)
    if shown.status == "withheld":  # any count: a total shown as "fewer than N" or a zero may be withheld too
        return 0.0, INF
    if shown.status == "rounded":  # within half the base (the rules' round_to is not passed: never narrower)
        return 0.0, INF
    return 0.0, INF


def feasible(shown: Mapping[Hashable, Shown], groups: Sequence[Group], threshold: int,
             rounds: int = 200) -> dict[Hashable, tuple[float, float]]:
    """Each cell's range as a reader can narrow it: its shown bounds, then every group's sum (a total is the
    sum of its parts, each part the total less the others) applied until no range moves."""
    ranges = {k: bounds(s, threshold) for k, s in shown.items()}
    for _ in range(rounds):
        moved = False
        for total, parts in groups:
            lo_sum = sum(ranges[p][0] for p in parts)
            hi_sum = _sum_hi([ranges[p][1] for p in parts])
            t_lo, t_hi = ranges[total]
            new_t = (max(t_lo, lo_sum), min(t_hi, hi_sum))
            if new_t != ranges[total]:
                ranges[total], moved = new_t, True
            t_lo, t_hi = ranges[total]
            for p in parts:
                p_lo, p_hi = ranges[p]
                others_lo = lo_sum - p_lo
                others_hi = _sum_hi([ranges[q][1] for q in parts if q != p])
                new_p = (max(p_lo, t_lo - others_hi), min(p_hi, t_hi - others_lo))
                if new_p != ranges[p]:
                    ranges[p], moved = new_p, True
                    lo_sum = sum(ranges[q][0] for q in parts)
        if not moved:
            break
    return ranges


def _sum_hi(values: list[float]) -> float:
    return INF if any(math.isinf(v) for v in values) else float(sum(values))


def exposed(shown: Mapping[Hashable, Shown], groups: Sequence[Group], threshold: int) -> list[Hashable]:
    """Suppressed cells a reader can work out exactly from the published figures and the groups' sums."""
    ranges = feasible(shown, groups, threshold)
    return [k for k, s in shown.items() if s.status in ("fewer", "withheld") and ranges[k][0] >= ranges[k][1]]


def protect(values: Mapping[Hashable, int | None], groups: Sequence[Group], rules: Disclosure) -> dict[Hashable, Shown]:
    """The table as published: each count by ``primary``, then (``suppress``) secondary suppression until
    no suppressed count can be worked out from the others and the totals."""
    shown = {k: primary(v, rules) for k, v in values.items()}
    if not rules.enabled or rules.method != "suppress":
        return shown
    for _ in range(len(shown) + 1):
        open_cells = exposed(shown, groups, rules.threshold)
        if not open_cells:
            return shown
        choices = (_complement(cell, shown, values, groups) for cell in open_cells)
        choice = next((c for c in choices if c is not None), None)  # a withheld total, recovered, comes next
        if choice is None:
            raise DisclosureError(f"cannot protect the count of {open_cells[0]}: no other count in its groups can "
                                  "be withheld")
        shown[choice] = withheld()
    raise DisclosureError("secondary suppression did not settle")  # pragma: no cover - one more cell each round


def _complement(cell: Hashable, shown: Mapping[Hashable, Shown], values: Mapping[Hashable, int | None],
                groups: Sequence[Group]) -> Hashable | None:
    """The cell to withhold for ``cell``: in the groups holding it (its own group as a part first), the
    smallest published non-zero count, a part before a total."""
    ranked: list[tuple[int, int, int, Hashable]] = []
    for order, (total, parts) in enumerate(sorted(groups, key=lambda g: cell not in g[1])):
        members = [total, *parts]
        if cell not in members:
            continue
        for member in members:
            value = values[member]
            if member != cell and shown[member].status == "published" and value:
                ranked.append((order, member == total, value, member))
    if ranked:
        return min(ranked, key=lambda r: (r[0], r[1], r[2]))[3]
    totals = {t for t, _ in groups}
    for total, parts in groups:  # nothing left to withhold: a total shown as "fewer than N" bounds its parts
        members = [total, *parts]
        if cell in members:
            for member in members:
                if member != cell and member in totals and shown[member].status == "fewer":
                    return member
    for total, parts in groups:  # last: a zero (the reader can no longer count the parts that are not)
        members = [total, *parts]
        if cell in members:
            for member in members:
                if member != cell and shown[member].status == "published":
                    return member
    return None
