"""web users: the people who sign in to ``compstat serve``

``web_users`` holds one row per person and organisation: role, the units they answer for, an Argon2
password hash (never the password), whether the password is a one-time one, whether the account is
disabled, failed sign-ins and a lock-out time, and a session epoch that ends every earlier session
when bumped (reset, disable).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('web_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org', sa.String(length=64), nullable=False),
    sa.Column('username', sa.String(length=100), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('units', sa.Text(), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('must_change', sa.Boolean(), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_login', sa.DateTime(), nullable=True),
    sa.Column('session_epoch', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('org', 'username')
    )
    op.create_index(op.f('ix_web_users_org'), 'web_users', ['org'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_web_users_org'), table_name='web_users')
    op.drop_table('web_users')
