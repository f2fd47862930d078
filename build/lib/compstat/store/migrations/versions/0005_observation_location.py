"""observation location: the named place of an incident record (address, block, location category)

``observations`` and ``superseded_observations`` gain ``location`` (null where the source maps
no ``columns.location``), read for the packs' repeat-locations table and the map's named places.
The time of day is already kept in ``occurred_at`` (null for date-only sources).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ('observations', 'superseded_observations'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('location', sa.String(length=200), nullable=True))


def downgrade() -> None:
    for table in ('superseded_observations', 'observations'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('location')
