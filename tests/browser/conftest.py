"""Fixtures of the browser tests: the real app under uvicorn on 127.0.0.1, and Debian's chromium driven by
Playwright (always its ``executable_path``: Playwright's own browser download is never used).

Without ``/usr/bin/chromium`` (or ``$COMPSTAT_CHROMIUM``) the tests are skipped, except in CI (``CI`` set),
where that fails them: CI installs chromium (``.ci/run``). Likewise axe-core (``make axe``, or
``$COMPSTAT_AXE`` naming ``axe.min.js``).
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from compstat.web.app import create_app
from tests.web.conftest import PASSWORD, WebDemo, make_user, web_demo  # noqa: F401  (web_demo: a fixture)

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("COMPSTAT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
AXE_VERSION = "4.14.1"  # the Makefile's AXE_VERSION
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
SERIOUS = ("serious", "critical")


def _missing(what: str) -> None:
    """Skip for a missing tool on a developer's machine; fail in CI, which installs it."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing in CI (.ci/run and the Makefile install it)")
    pytest.skip(f"{what} is missing (make system-deps axe installs it)")


@dataclass
class LiveApp:
    """The app served by uvicorn on 127.0.0.1: its URL and the demo store behind it."""

    url: str
    demo: WebDemo


@pytest.fixture
def live_app(web_demo: WebDemo) -> Iterator[LiveApp]:  # noqa: F811
    """``create_app`` on a private copy of the demo store, under uvicorn in a thread on a free port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(web_demo.config, web_demo.store_url), log_level="warning",
                            server_header=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield LiveApp(f"http://127.0.0.1:{port}", web_demo)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium, headless, launched by Playwright's sync API (one per test module)."""
    if not Path(CHROMIUM).is_file():
        _missing(f"chromium ({CHROMIUM})")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def axe_script() -> Path:
    """axe-core's ``axe.min.js``: ``$COMPSTAT_AXE``, else the one ``make axe`` put in ``.venv/axe``."""
    path = Path(os.environ.get("COMPSTAT_AXE") or ROOT / ".venv" / "axe" / "node_modules" / "axe-core" / "axe.min.js")
    if not path.is_file():
        _missing(f"axe-core ({path})")
    return path


def sign_in(page: Any, username: str, password: str = PASSWORD) -> None:
    """Sign in through the login form, as a person would; lands on the home page."""
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/$"))


def axe_violations(page: Any, axe_script: Path) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.2 AA violations on the page as it is now: (id, impact, help, nodes' targets) each.
    The page's context needs ``bypass_csp=True`` (the app's CSP allows no script, axe's included)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(axe_script))
    result = page.evaluate("async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})",
                           AXE_TAGS)
    assert result["passes"], "axe-core checked nothing"
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "targets": [n["target"] for n in v["nodes"]][:5]} for v in result["violations"]]


def serious(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in violations if v["impact"] in SERIOUS]


__all__ = ["PASSWORD", "LiveApp", "axe_violations", "make_user", "serious", "sign_in", "web_demo"]
