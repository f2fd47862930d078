"""The chair's appendix: what a big force's pack holds per unit, after the body the chair reads
before the meeting. The glance matrix is cut into parts of at most ``GLANCE_COLUMNS`` measures
(19 measures do not fit across one A4 page) with the units grouped under their parent (division,
borough, area); the intervention ladder is listed in full by parent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from compstat.config import Config
from compstat.figures import TOTAL
from compstat.packs.context.accountability import Ladder, LadderRow
from compstat.packs.context.common import unit_names
from compstat.packs.context.table import Glance, GlanceColumn, GlanceRow

GLANCE_COLUMNS = 7  # measures per part of the glance matrix: what fits across A4 portrait


@dataclass(frozen=True)
class GlanceLine:
    """A line of a glance part: a parent's heading (``heading`` set, no cells) or a unit's row."""

    heading: str
    row: GlanceRow | None


@dataclass(frozen=True)
class GlancePart:
    """Some of the glance's measures for every unit, units under their parent's heading."""

    title: str
    columns: tuple[GlanceColumn, ...]
    lines: tuple[GlanceLine, ...]


@dataclass(frozen=True)
class LadderGroup:
    """The units on the intervention ladder under one parent (empty name at the top)."""

    parent: str
    rows: tuple[LadderRow, ...]


def column_slices(n: int, size: int = GLANCE_COLUMNS) -> list[slice]:
    """``n`` columns in as few parts of at most ``size`` as possible, as even as possible (19 → 6, 7, 6)."""
    parts = max(1, -(-n // size))
    bounds = [round(i * n / parts) for i in range(parts + 1)]
    return [slice(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if b > a] or [slice(0, 0)]


def glance_parts(glance: Glance, config: Config) -> tuple[GlancePart, ...]:
    """The glance in parts of at most ``GLANCE_COLUMNS`` measures. With a middle level in the
    hierarchy, units sit under their parent's heading, a parent's own row (if the glance has one)
    closing its group; the organisation's row comes last. Cells show the direction as its symbol."""
    parents = config.parents()
    names = unit_names(config)
    has_middle = any(p is not None for code, p in parents.items() if code in {r.unit_code for r in glance.rows})
    groups: dict[str, list[GlanceRow]] = {}
    totals: list[GlanceRow] = []
    own: dict[str, GlanceRow] = {}
    for row in glance.rows:
        if row.unit_code == TOTAL:
            totals.append(row)
        elif row.unit_code in parents.values():
            own[row.unit_code] = row
        else:
            groups.setdefault(parents.get(row.unit_code) or "", []).append(row)
    ordered: list[tuple[str, list[GlanceRow]]] = []
    for parent, rows in groups.items():
        ordered.append((parent, rows + ([own.pop(parent)] if parent in own else [])))
    ordered += [(code, [row]) for code, row in own.items()]

    def compact(row: GlanceRow, cut: slice) -> GlanceRow:
        cells = tuple(replace(c, direction=c.direction.split(" ")[0]) for c in row.cells[cut])
        return replace(row, cells=cells)

    parts = []
    slices = column_slices(len(glance.columns))
    for i, cut in enumerate(slices, start=1):
        lines: list[GlanceLine] = []
        for parent, rows in ordered:
            if has_middle and parent:
                lines.append(GlanceLine(names.get(parent, parent), None))
            lines += [GlanceLine("", compact(r, cut)) for r in rows]
        lines += [GlanceLine("", compact(r, cut)) for r in totals]
        columns = glance.columns[cut]
        title = (f"Part {i} of {len(slices)}: {columns[0].name} to {columns[-1].name}"
                 if len(slices) > 1 and columns else "")
        parts.append(GlancePart(title=title, columns=columns, lines=tuple(lines)))
    return tuple(parts)


def ladder_by_parent(ladder: Ladder, config: Config) -> tuple[LadderGroup, ...]:
    """Every unit on the ladder under its parent (parents in config order), highest level first within."""
    parents = config.parents()
    names = unit_names(config)
    order = {code: i for i, code in enumerate(names)}
    above = set(parents.values())
    grouped: dict[str, list[LadderRow]] = {}
    for row in ladder.rows:  # a parent on the ladder heads its own group
        group = row.unit_code if row.unit_code in above else parents.get(row.unit_code) or ""
        grouped.setdefault(group, []).append(row)
    return tuple(LadderGroup(names.get(parent, parent) if parent else "", tuple(rows))
                 for parent, rows in sorted(grouped.items(), key=lambda kv: order.get(kv[0], -1)))


__all__ = ["GLANCE_COLUMNS", "GlanceLine", "GlancePart", "LadderGroup", "column_slices",
           "glance_parts", "ladder_by_parent"]
