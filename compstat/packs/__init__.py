"""The briefing packs: CycleData → section contexts → charts → HTML → PDF.

``context/`` decides what each section shows, one module per section (with ``cumulative.py``
for the year to date and ``maps.py`` for the hotspot map), ``charts.py`` draws, ``filters.py``
formats figures, ``render.py`` fills the templates in ``templates/`` and writes the PDFs, one
worker process per core.
"""

from compstat.packs.render import RenderedPack, render_packs, start_render_server

__all__ = ["RenderedPack", "render_packs", "start_render_server"]
