"""daily totals: each input version's observations summed per unit, category and day

``daily_totals`` is what a cycle's figures read (``compstat.figures``): one row per input version,
unit, category, subcategory and day, made from ``observations`` the first time a cycle needs that
version and kept (``totalled_files`` lists the versions made). A store upgraded from 0006 has none:
the next cycle makes them, once.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('daily_totals',
    sa.Column('file_id', sa.Integer(), nullable=False),
    sa.Column('org', sa.String(length=64), nullable=False),
    sa.Column('unit_code', sa.String(length=64), nullable=False),
    sa.Column('category', sa.String(length=200), nullable=False),
    sa.Column('subcategory', sa.String(length=200), nullable=False),
    sa.Column('occurred_on', sa.Date(), nullable=False),
    sa.Column('total', sa.Float(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['file_id'], ['ingested_files.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('file_id', 'unit_code', 'category', 'subcategory', 'occurred_on')
    )
    op.create_index('ix_daily_totals_org_date', 'daily_totals', ['org', 'occurred_on'], unique=False)
    op.create_table('totalled_files',
    sa.Column('file_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['file_id'], ['ingested_files.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('file_id')
    )


def downgrade() -> None:
    op.drop_table('totalled_files')
    op.drop_index('ix_daily_totals_org_date', table_name='daily_totals')
    op.drop_table('daily_totals')
