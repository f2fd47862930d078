"""The public report card in a real browser: Debian's chromium driven by Playwright (``conftest.browser``),
axe-core's WCAG 2.2 AA rules (``conftest.axe_violations``) on the organisation's, a division's and a unit's
page, opened as files; and no request leaves the site's folder."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from compstat.config import Config
from tests.browser.conftest import axe_violations
from tests.test_publish import demo_site  # noqa: F401  (a fixture)


@pytest.mark.parametrize("page_name", ["index.html", "area-N.html", "area-N4.html"])
def test_public_pages_pass_axe(browser: Any, axe_script: Path, demo_site: tuple[Path, Config, str],  # noqa: F811
                               page_name: str) -> None:
    out, _, _ = demo_site
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    requests: list[str] = []
    page = context.new_page()
    page.on("request", lambda request: requests.append(request.url))
    page.goto((out / page_name).as_uri())
    page.wait_for_load_state("load")
    mapped = page_name != "area-N4.html"  # the organisation's and a division's page map their areas; a unit's not
    assert page.locator("svg[role=img]").count() == (10 if mapped else 5)  # a chart (and a map) per measure
    chart = page.get_by_role("img", name=re.compile(r"^Residential burglary(?! in each of)"))
    assert chart.count() == 1  # the chart's accessible name (its title and description)
    maps = page.get_by_role("img", name=re.compile(r"^Residential burglary in each of the (areas|units) of "))
    assert maps.count() == (1 if mapped else 0)
    assert axe_violations(page, axe_script) == []  # every impact, not only serious ones
    elsewhere = [url for url in requests if not url.startswith(out.as_uri())]
    assert elsewhere == []  # the page and its stylesheet only: nothing fetched from elsewhere
    context.close()
