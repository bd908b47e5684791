"""index evidence.created_at

Revision ID: d92f3a6c8e45
Revises: b47e1c2d9a10
Create Date: 2026-11-10 10:00:00
"""

from alembic import op

revision = "d92f3a6c8e45"
down_revision = "b47e1c2d9a10"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_evidence_created_at", "evidence", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_evidence_created_at", table_name="evidence")
