"""create evidence

Revision ID: 5c81e0d4a2b7
Revises: 1f3a9c2b7d10
Create Date: 2026-09-15 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "5c81e0d4a2b7"
down_revision = "1f3a9c2b7d10"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidence",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("body", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("evidence")
