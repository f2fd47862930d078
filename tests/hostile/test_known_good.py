"""Probes of issue #12 that already held, kept so none can regress: two commanders updating one action
40 times each lose nothing; nothing is fetched when notes or unit names hold ``<img>``, ``<link>`` or
``url()`` pointing at a local server; locked spreadsheet columns are ignored with a warning.

Also held and tested elsewhere: formula-like text is written and stored as text
(``tests/test_actions_spreadsheet.py::test_formula_like_text_is_written_as_text`` and
``::test_round_trip_with_a_conflict_and_malformed_rows``); the fetcher refuses files and the network
(``tests/test_packs.py::test_markup_in_html_fetches_nothing``,
``::test_rendering_a_pack_fetches_only_its_own_charts``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]
from sqlalchemy.orm import Session

from compstat.actions import ConflictError, NewAction, action_history, add_action, get_action, update_action
from compstat.actions.spreadsheet import export_actions, import_action_updates
from compstat.config import Config, load_config
from compstat.cycle import run_cycle
from compstat.periods import parse_period
from compstat.store import connect, transaction
from tests.conftest import SMALL_CONFIG
from tests.test_actions_spreadsheet import COLUMN, rows_by_id
from tests.test_cycle import pdf_text
from tests.test_ingest import INCIDENTS, TODAY

UPDATES = 40  # per commander


def test_two_commanders_updating_one_action_lose_nothing(small_config: Config, store_url: str) -> None:
    """Each commander reads the action, then sets its support requested (the same field) with a note,
    40 times, concurrently: each change is recorded or reported as a conflict, and the history is one
    unbroken chain of versions and of old → new values."""
    engines = [connect(store_url) for _ in range(3)]
    with transaction(engines[0]) as session:
        action_id = add_action(session, small_config, parse_period("2026-W10", small_config.cadence),
                               NewAction("A", "Patrol the estate", "Insp A"), "chair").id
    outcomes: dict[str, list[str]] = {"Insp A": [], "PS B": []}
    start = threading.Barrier(2)

    def commander(who: str, engine_index: int) -> None:
        start.wait()
        for i in range(UPDATES):
            with Session(engines[engine_index]) as session:
                read = get_action(session, action_id).version
                session.commit()  # end the read: the update below is based on version `read`
                try:
                    update_action(session, action_id, who, note=f"{who} note {i}", support_requested=f"{who} {i}",
                                  expected_version=read)
                    session.commit()
                    outcomes[who].append("recorded")
                except ConflictError:
                    session.rollback()
                    outcomes[who].append("conflict")

    threads = [threading.Thread(target=commander, args=(who, n + 1)) for n, who in enumerate(outcomes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert [len(o) for o in outcomes.values()] == [UPDATES, UPDATES]  # every attempt ended one way or the other
    recorded = sum(o.count("recorded") for o in outcomes.values())
    with transaction(engines[0]) as session:
        final = get_action(session, action_id)
        history = action_history(session, action_id)[1:]
        assert final.version == 1 + recorded  # no recorded change was overwritten
        versions = sorted({u.version for u in history})
        assert versions == list(range(2, final.version + 1))  # one unbroken chain of versions
        support = [u for u in history if u.field == "support_requested"]
        assert len(support) == recorded and all(a.new == b.old for a, b in zip(support, support[1:], strict=False))
        assert support[-1].new == final.support_requested
        notes = {(u.by, u.note) for u in history if u.field == "note"}
        for who, results in outcomes.items():  # each recorded change's note is in the history
            assert {n for n in range(UPDATES) if results[n] == "recorded"} == {
                int(note.rsplit(" ", 1)[1]) for by, note in notes if by == who}
    for engine in engines:
        engine.dispose()


class _Counter(BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        _Counter.requests.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[str]:
    """An HTTP server on 127.0.0.1 that counts the requests it gets: its base URL."""
    _Counter.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_markup_in_names_and_notes_fetches_nothing(tmp_path: Path, local_server: str) -> None:
    """Unit names and an action's text and note hold ``<img>``, ``<link>``, ``<style>`` and ``url()`` pointing at
    a local server: the packs are written and the server gets no request."""
    markup = (f'<img src="{local_server}/img.png"><link rel="stylesheet" href="{local_server}/link.css">'
              f'<style>@import url({local_server}/import.css); body {{ background: url({local_server}/bg.png) }}'
              f'</style><span style="background-image: url({local_server}/inline.png)">x</span>')
    assert _fetches_nothing_check(local_server)  # the server does count a request
    config_path = tmp_path / "testshire.yaml"
    config_path.write_text(SMALL_CONFIG.replace("name: Alpha,", f"name: 'Alpha {markup}',").replace(
        "name: Division One", f"name: 'Division {markup}'"), encoding="utf-8")
    (tmp_path / "incidents.csv").write_text(INCIDENTS, encoding="utf-8")
    config = load_config(config_path)
    db = f"sqlite:///{tmp_path / 'store.db'}"
    engine = connect(db)
    with transaction(engine) as session:
        action = add_action(session, config, parse_period("2026-W09", config.cadence),
                            NewAction("A", f"Patrol {markup}", "Insp A"), "chair", at=datetime(2026, 3, 4, 9))
        update_action(session, action.id, "Insp A", "in progress", f"visited {markup}", at=datetime(2026, 3, 5, 9))
    engine.dispose()
    outcome = run_cycle(config, db, "2026-W10", out_root=tmp_path / "cycles", today=TODAY, workers=1)
    assert [p.name for p in outcome.packs] == ["pack-A.pdf", "pack-B.pdf", "chair-pack.pdf"]
    shown = "".join(pdf_text(outcome.out_dir / "pack-A.pdf").split())
    assert f'<imgsrc="{local_server}/img.png">' in shown and "Alpha" in shown  # the markup is shown, as text
    time.sleep(0.2)
    assert _Counter.requests == []


def _fetches_nothing_check(base: str) -> bool:
    """The server answers and counts (so an empty count means nothing was asked), then is reset."""
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(f"{base}/probe", timeout=5)  # noqa: S310 (a local test server)
    except urllib.error.HTTPError:
        pass
    counted = _Counter.requests == ["/probe"]
    _Counter.requests = []
    return counted


def test_locked_columns_are_ignored_with_a_warning(small_config: Config, tmp_path: Path) -> None:
    engine = connect(f"sqlite:///{tmp_path / 'store.db'}")
    with transaction(engine) as session:
        action_id = add_action(session, small_config, parse_period("2026-W10", small_config.cadence),
                               NewAction("A", "Patrol the estate", "Insp A"), "chair").id
        path = tmp_path / "a.xlsx"
        export_actions(session, small_config, "A", path, parse_period("2026-W11", small_config.cadence))
    book = load_workbook(path)
    sheet = book["Actions"]
    row = rows_by_id(sheet)[action_id]
    sheet.cell(row, COLUMN["action"]).value = "Something else entirely"  # a locked column
    sheet.cell(row, COLUMN["owner"]).value = "Nobody"
    sheet.cell(row, COLUMN["status"]).value = "in progress"  # an editable one
    book.save(path)
    with transaction(engine) as session:
        report = import_action_updates(session, small_config, path, "Insp A")
        action = get_action(session, action_id)
        assert (action.description, action.owner, action.status) == ("Patrol the estate", "Insp A", "in progress")
    assert report.warnings == [f"row {row}: the locked 'action' column was changed and is ignored",
                               f"row {row}: the locked 'owner' column was changed and is ignored"]
    assert [r.outcome for r in report.rows] == ["applied"]
    engine.dispose()
