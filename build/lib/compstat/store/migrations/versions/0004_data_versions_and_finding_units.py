"""data versions: superseded observations kept, input columns, finding units and source

Rows of a replaced input version move to ``superseded_observations`` (with the version that
replaced them) instead of being deleted, so a cycle can be re-issued from exactly the data it
used. ``ingested_files`` records each input's column names and the version that replaced it;
``findings`` records the units a finding concerns (JSON: unit code -> rows) and its source.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('superseded_observations',
    sa.Column('superseded_by', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('file_id', sa.Integer(), nullable=False),
    sa.Column('org', sa.String(length=64), nullable=False),
    sa.Column('unit_code', sa.String(length=64), nullable=False),
    sa.Column('occurred_on', sa.Date(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(), nullable=True),
    sa.Column('category', sa.String(length=200), nullable=False),
    sa.Column('subcategory', sa.String(length=200), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('record_id', sa.String(length=100), nullable=True),
    sa.Column('source_row', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['file_id'], ['ingested_files.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('superseded_observations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_superseded_observations_file_id'), ['file_id'], unique=False)

    with op.batch_alter_table('ingested_files', schema=None) as batch_op:
        batch_op.add_column(sa.Column('superseded_by', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('column_names', sa.Text(), nullable=True))

    with op.batch_alter_table('findings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('units', sa.Text(), server_default='{}', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('findings', schema=None) as batch_op:
        batch_op.drop_column('units')
        batch_op.drop_column('source')

    with op.batch_alter_table('ingested_files', schema=None) as batch_op:
        batch_op.drop_column('column_names')
        batch_op.drop_column('superseded_by')

    with op.batch_alter_table('superseded_observations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_superseded_observations_file_id'))

    op.drop_table('superseded_observations')
