"""The web load run of ``make bench`` (``compstat.bench --only web``), small: 5 commanders for 3 seconds on a
copy of the demo store, through ``compstat serve`` in a child process."""

from __future__ import annotations

import pytest

from compstat.bench import lost_updates, web_load
from tests.web.conftest import WebDemo, web_demo  # noqa: F401  (web_demo: a fixture)


@pytest.mark.slow
def test_five_commanders_for_three_seconds_lose_no_update(web_demo: WebDemo) -> None:  # noqa: F811
    figures = web_load(web_demo.cycles.parent / "config" / "demo.yaml", users=5, seconds=3)
    assert figures["errors"] == 0, figures["error_examples"]
    assert figures["lost_updates"] == 0, figures["lost_update_actions"]
    assert figures["users"] == 5 and 3 <= float(figures["seconds"]) < 60  # type: ignore[arg-type]
    pages = figures["by_page"]
    assert isinstance(pages, dict) and {"sign-in", "home", "unit", "action", "update"} <= set(pages)
    assert pages["sign-in"]["requests"] == 10  # a GET and a POST each
    assert int(figures["updates_accepted"]) > 0  # type: ignore[call-overload]
    assert float(figures["requests_per_second"]) > 0  # type: ignore[arg-type]
    assert 0 < float(figures["p50_ms"]) <= float(figures["p95_ms"])  # type: ignore[arg-type]


def test_an_accepted_post_missing_from_the_history_or_a_stored_one_not_accepted_is_a_lost_update() -> None:
    before = {1: 2, 2: 0}
    assert lost_updates({1: 3, 3: 1}, before, {1: 5, 3: 1}) == {}
    assert lost_updates({1: 3}, before, {1: 4}) == {1: (3, 2)}  # one accepted post not in the history
    assert lost_updates({}, before, {1: 2, 2: 1}) == {2: (0, 1)}  # a stored update nobody was told of
