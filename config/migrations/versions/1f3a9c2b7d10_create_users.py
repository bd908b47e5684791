"""create users

Revision ID: 1f3a9c2b7d10
Revises:
Create Date: 2026-09-01 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "1f3a9c2b7d10"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(255), nullable=False, unique=True),
    )


def downgrade() -> None:
    op.drop_table("users")
