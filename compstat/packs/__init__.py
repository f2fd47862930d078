"""The briefing packs: CycleData → section contexts → charts → HTML → PDF.

``context.py`` decides what each section shows, ``charts.py`` draws, ``filters.py``
formats figures, ``render.py`` fills the templates in ``templates/`` and writes the PDFs.
"""

from compstat.packs.render import RenderedPack, render_packs

__all__ = ["RenderedPack", "render_packs"]
