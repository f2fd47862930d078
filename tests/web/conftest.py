"""Fixtures of the web tests: the demo's store after its W48 cycle, copied for each test, and accounts."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import pytest
from starlette.testclient import TestClient

from compstat.config import Config, load_config
from compstat.demo import write_config
from compstat.store import connect, transaction
from compstat.web.accounts import add_user
from compstat.web.app import create_app

PASSWORD = "correct horse battery"  # every test account's password (set, so no change is asked for)


@dataclass
class WebDemo:
    config: Config
    store_url: str
    cycles: Path  # the copied cycles folder: <org>/<period>/pack-*.pdf


@pytest.fixture
def web_demo(demo_w48: tuple[list[str], Path, str, dict[str, object]], tmp_path: Path) -> WebDemo:
    """A private copy of the demo's store and W48 outputs, with a config pointing at them; no accounts (the
    demo's own are left out)."""
    _, cycle_dir, _, raw = demo_w48
    root = Path(str(raw["store"]).removeprefix("sqlite:///")).parent
    shutil.copy(root / "demo.db", tmp_path / "demo.db")
    shutil.copytree(cycle_dir.parents[1], tmp_path / "cycles")
    copy = dict(raw) | {"store": f"sqlite:///{tmp_path / 'demo.db'}", "output_dir": str(tmp_path / "cycles")}
    config_path = tmp_path / "config" / "demo.yaml"
    write_config(config_path, copy, header="web test copy of config/demo.yaml")
    config = load_config(config_path)
    with sqlite3.connect(tmp_path / "demo.db") as copied:  # no accounts: each test makes its own (not the demo's)
        copied.execute("DELETE FROM web_users")
    return WebDemo(config, config.store, tmp_path / "cycles")


def make_user(demo: WebDemo, username: str, role: str, units: list[str] | None = None,
              password: str = PASSWORD) -> None:
    engine = connect(demo.store_url)
    try:
        with transaction(engine) as session:
            add_user(session, demo.config, username, role, units, password=password)
    finally:
        engine.dispose()


@pytest.fixture
def client(web_demo: WebDemo) -> Iterator[TestClient]:
    with TestClient(create_app(web_demo.config, web_demo.store_url), base_url="http://127.0.0.1") as test_client:
        yield test_client


def csrf_of(html: str) -> str:
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start:html.index('"', start)]


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> httpx.Response:
    form = client.get("/login")
    response = client.post("/login", data={"username": username, "password": password,
                                           "csrf_token": csrf_of(form.text)}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return response
