"""daily totals: each day's rows without coordinates and the box of those with them

``daily_totals.blank`` counts a unit, category and day's rows without both coordinates, and ``min_lat``,
``max_lat``, ``min_lon``, ``max_lon`` bound the rows with both (NULL where there are none). The quality
check of coordinates outside the area reads these and scans only the days whose box crosses the area's
edge, not every row of two years. Every version's totals are forgotten: the next cycle makes them again
with these columns, once (``store.totals.make_totals``).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text("DELETE FROM daily_totals"))
    op.execute(sa.text("DELETE FROM totalled_files"))
    op.add_column('daily_totals', sa.Column('blank', sa.Integer(), server_default='0', nullable=False))
    for name in ('min_lat', 'max_lat', 'min_lon', 'max_lon'):
        op.add_column('daily_totals', sa.Column(name, sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('daily_totals') as batch:
        for name in ('max_lon', 'min_lon', 'max_lat', 'min_lat', 'blank'):
            batch.drop_column(name)
