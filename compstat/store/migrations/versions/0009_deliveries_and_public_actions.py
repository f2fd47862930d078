"""deliveries, and actions marked public

``deliveries`` records each briefing pack and follow-up minutes sent (or failed) to each recipient for a
period, unique per org, period, kind, recipient and file so that a re-run sends nothing twice
(``compstat distribute``). ``actions.public`` marks the actions the public report card shows
(``compstat publish``); existing actions are not public.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org', sa.String(length=64), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('unit_code', sa.String(length=64), nullable=True),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('attachment', sa.String(length=200), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('due_by', sa.DateTime(), nullable=True),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('org', 'period', 'kind', 'recipient', 'attachment')
    )
    op.create_index(op.f('ix_deliveries_org'), 'deliveries', ['org'], unique=False)
    # a plain ADD COLUMN (SQLite too): a batch copy of ``actions`` would be refused by its history's foreign key
    op.add_column('actions', sa.Column('public', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('actions') as batch:
        batch.drop_column('public')
    op.drop_index(op.f('ix_deliveries_org'), table_name='deliveries')
    op.drop_table('deliveries')
