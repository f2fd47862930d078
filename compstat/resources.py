"""Where compstat's own files are: the templates folder, in a checkout or an installed wheel."""

from __future__ import annotations

import os
from pathlib import Path

TEMPLATES_ENV = "COMPSTAT_TEMPLATES"
PACKAGE = Path(__file__).resolve().parent


def templates_dir() -> Path:
    """``$COMPSTAT_TEMPLATES`` if set; else ``compstat/templates`` in an installed wheel (``setup.py`` maps
    the repository's top-level ``templates/`` there); else the checkout's ``templates/``."""
    override = os.environ.get(TEMPLATES_ENV)
    if override:
        return Path(override).resolve()
    installed = PACKAGE / "templates"
    return installed if installed.is_dir() else PACKAGE.parent / "templates"
