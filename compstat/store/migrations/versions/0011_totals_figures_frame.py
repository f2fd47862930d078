"""totalled files: each version's totals for the figures, as one Arrow stream

``totalled_files.figures`` holds an input version's daily totals per unit, category, subcategory and day
(total and row count) as one compressed Arrow IPC stream, written with its ``daily_totals`` rows. A cycle's
figures read these streams, one value per version, instead of the rows of every version again each week
(3.2M rows at national scale). NULL (every version after this migration) is filled the next time a cycle's
figures read that version's rows (``compstat.figures.build_figures``).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('totalled_files', sa.Column('figures', sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('totalled_files') as batch:
        batch.drop_column('figures')
