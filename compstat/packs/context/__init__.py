"""From CycleData to template contexts: one frozen dataclass per pack section.

Every decision about what a pack shows (which rows, in what order, which marker, which
footnote) is made here, so the templates only loop and lay out. Contexts hold plain
Python values (str, float, date, tuples) so they pickle cheaply to render workers.
Figures stay unformatted numbers; the filters in ``filters.py`` format them.

One module per section, in pack order: ``cover`` (page frame, contents, covers), ``actions``,
``table`` (period table and the chair's glance, with ``assessments`` for the key measures'
words), ``charts``, ``places`` (repeat locations, day x time of day), ``map``, ``questions``,
``quality``, ``accountability`` (with the chair's ladder), ``findings``, ``themes``, ``agenda`` and
``appendix`` (the chair's); ``sheet`` is a unit's CompStat sheet, for a unit the meeting does not
call (``packs.unit_packs: called``); ``caveats`` turns the quality step's marks into the tables' markers and
footnotes; ``unit``, ``division`` and ``chair`` assemble the three packs, ``common`` holds the
wording helpers they share.
"""

from compstat.packs.context.agenda import called_units
from compstat.packs.context.chair import ChairPack, chair_pack
from compstat.packs.context.charts import Chart
from compstat.packs.context.division import DivisionPack, division_pack
from compstat.packs.context.quality import quality_notes
from compstat.packs.context.sheet import UnitSheet, unit_sheet
from compstat.packs.context.unit import UnitPack, pack_filenames, unit_pack

PackContext = UnitPack | UnitSheet | DivisionPack | ChairPack

__all__ = ["Chart", "ChairPack", "DivisionPack", "PackContext", "UnitPack", "UnitSheet", "called_units", "chair_pack",
           "division_pack", "pack_filenames", "quality_notes", "unit_pack", "unit_sheet"]
