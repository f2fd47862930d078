"""The migrations make exactly the tables the models declare, on both stores."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from compstat.store import Base, connect


def test_the_migrated_store_matches_the_models(store_url: str) -> None:
    engine = connect(store_url)
    try:
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    finally:
        engine.dispose()


def test_a_store_with_actions_and_their_history_upgrades(store_url: str) -> None:
    """0009 adds ``actions.public`` to a store whose actions have a history (foreign keys enforced, as ``connect``
    does): a table copy would be refused there."""
    from alembic import command
    from alembic.config import Config as AlembicConfig
    from sqlalchemy import create_engine, event, text

    from compstat.store.db import MIGRATIONS

    engine = create_engine(store_url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", lambda conn, _: conn.execute("PRAGMA foreign_keys=ON"))
    with engine.begin() as conn:
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0008")
        conn.execute(text("INSERT INTO actions (org, unit_code, description, owner, due_date, status, raised_period, "
                          "raised_on, last_note, support_requested, support_offered, updated_at, version, kind, "
                          "drop_reason, closing_note, last_updated_by) VALUES ('t', 'A', 'd', 'o', '2026-01-01', "
                          "'open', '2025-W52', '2025-12-28', '', '', '', '2026-01-01 00:00:00', 1, 'commitment', "
                          "'', '', 'x')"))
        conn.execute(text("INSERT INTO action_updates (action_id, at, by, field, old, new, note, version, via) "
                          "SELECT id, '2026-01-01 00:00:00', 'x', 'created', '', 'open', 'd', 1, 'cli' FROM actions"))
    engine.dispose()
    migrated = connect(store_url)
    try:
        with migrated.connect() as conn:
            assert conn.execute(text("SELECT unit_code, public FROM actions")).all() == [("A", False)]
    finally:
        migrated.dispose()


def test_a_revision_that_fails_leaves_the_schema_as_it_was(store_url: str) -> None:
    """All of an upgrade or none of it: 0009 makes ``deliveries``, then fails on a column already there; the
    table it made is gone again and the store stays at 0008 (SQLite too, whose driver would commit each DDL)."""
    import pytest
    from alembic import command
    from alembic.config import Config as AlembicConfig
    from sqlalchemy import create_engine, inspect, text

    from compstat.errors import CompstatError
    from compstat.store.db import MIGRATIONS

    engine = create_engine(store_url)
    with engine.begin() as conn:
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0008")
        conn.execute(text("ALTER TABLE actions ADD COLUMN public BOOLEAN"))
    with pytest.raises(CompstatError, match="cannot .* store"):
        connect(store_url)
    assert "deliveries" not in inspect(engine).get_table_names()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0008"
    engine.dispose()


def test_a_sqlite_connection_checks_foreign_keys_waits_for_locks_and_caches_64_mib(tmp_path: Path) -> None:
    engine = connect(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        with engine.connect() as conn:
            pragma = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                      for name in ("foreign_keys", "busy_timeout", "cache_size")}
    finally:
        engine.dispose()
    assert pragma == {"foreign_keys": 1, "busy_timeout": 30000, "cache_size": -65536}  # negative: KiB
