"""The migrations make exactly the tables the models declare, on both stores."""

from __future__ import annotations

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
