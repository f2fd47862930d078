"""A PDF's logical structure (the tags screen readers follow), read with pypdf."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pypdf


def _object(node: Any) -> Any:
    return node.get_object() if hasattr(node, "get_object") else node


def children(node: Any) -> list[Any]:
    """The structure elements directly under ``node`` (marked-content ids left out)."""
    kids = _object(node).get("/K")
    kids = kids if isinstance(kids, list) else [kids] if kids is not None else []
    return [kid for kid in map(_object, kids) if isinstance(kid, dict)]


def elements(node: Any, tag: str) -> list[Any]:
    """Every structure element of type ``tag`` (e.g. ``/Figure``) under ``node``, in reading order."""
    node = _object(node)
    found = [node] if isinstance(node, dict) and node.get("/S") == tag else []
    for kid in children(node):
        found += elements(kid, tag)
    return found


def catalog(path: Path) -> Any:
    return pypdf.PdfReader(path).trailer["/Root"]
