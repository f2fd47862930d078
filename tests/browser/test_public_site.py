"""The public report card in a real browser: Debian's chromium driven by Playwright, axe-core's WCAG 2.2 AA
rules on the organisation's, a division's and a unit's page, opened as files; and no request leaves the folder.

Same conventions as the other browser tests (``tests/browser/conftest.py``): ``$COMPSTAT_CHROMIUM`` (default
``/usr/bin/chromium``, never Playwright's own download) and axe-core from ``$COMPSTAT_AXE`` or ``make axe``'s
``.venv/axe``; a missing tool skips the test, except in CI (``CI`` set), where it fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from compstat.config import Config
from tests.test_publish import demo_site  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("COMPSTAT_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing in CI")
    pytest.skip(f"{what} is missing (make system-deps axe installs it)")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        _missing(f"chromium ({CHROMIUM})")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def axe() -> Path:
    path = Path(os.environ.get("COMPSTAT_AXE") or ROOT / ".venv" / "axe" / "node_modules" / "axe-core" / "axe.min.js")
    if not path.is_file():
        _missing(f"axe-core ({path})")
    return path


@pytest.mark.parametrize("page_name", ["index.html", "area-N.html", "area-N4.html"])
def test_public_pages_pass_axe(chromium: Any, axe: Path, demo_site: tuple[Path, Config, str],  # noqa: F811
                               page_name: str) -> None:
    out, _, _ = demo_site
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    requests: list[str] = []
    page = context.new_page()
    page.on("request", lambda request: requests.append(request.url))
    page.goto((out / page_name).as_uri())
    page.wait_for_load_state("load")
    assert page.locator("svg[role=img]").count() == 5
    assert page.get_by_role("img", name="Residential burglary").count() == 1  # the chart's accessible name
    page.add_script_tag(path=str(axe))
    result = page.evaluate("async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})",
                           AXE_TAGS)
    assert result["passes"], "axe-core checked nothing"
    violations = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]]
    assert violations == []
    pages = [url for url in requests if not url.startswith(out.as_uri())]
    assert pages == [], pages  # the page and its stylesheet only: nothing fetched from elsewhere
    context.close()
