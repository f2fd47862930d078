"""The pages behind sign-in: a commander's units and actions, the chair's overview (``web.app`` routes)."""

from __future__ import annotations

from starlette.routing import Route


def page_routes() -> list[Route]:
    return []
