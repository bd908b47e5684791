"""add users.display_name

Revision ID: 8a2d4f6b1c93
Revises: 5c81e0d4a2b7
Create Date: 2026-10-01 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "8a2d4f6b1c93"
down_revision = "5c81e0d4a2b7"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("display_name", sa.String(120)))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("display_name")
