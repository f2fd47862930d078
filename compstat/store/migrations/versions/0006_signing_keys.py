"""signing keys: the organisation's secret that signs the commanders' action sheets

``signing_keys`` holds one random secret per organisation and purpose (``action sheets``), made
on the first export; an exported sheet carries an HMAC-SHA256 signature made with it, checked on
import (``compstat.actions.signing``). Sheets exported before this revision have no signature and
are refused on import, asking for a new export.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('signing_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=32), nullable=False),
    sa.Column('secret', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('org', 'purpose')
    )


def downgrade() -> None:
    op.drop_table('signing_keys')
