"""create analysis_jobs

Revision ID: b47e1c2d9a10
Revises: 8a2d4f6b1c93
Create Date: 2026-10-20 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "b47e1c2d9a10"
down_revision = "8a2d4f6b1c93"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analysis_jobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("evidence_id", sa.Integer, sa.ForeignKey("evidence.id"), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="queued"),
    )


def downgrade() -> None:
    op.drop_table("analysis_jobs")
