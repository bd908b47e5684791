"""Throwaway Alembic script folders for tests: two steps, the second doing what the test needs."""

from __future__ import annotations

from pathlib import Path

STEP = '''"""{table}

Revision ID: {revision}
Revises: {down}
Create Date: 2026-11-01 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = {down_repr}
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("{table}", sa.Column("id", sa.Integer, primary_key=True))
    {extra}


def downgrade() -> None:
    op.drop_table("{table}")
'''


def two_steps(folder: Path, template: Path, prefix: str, second_extra: str) -> Path:
    """``folder/migrations``: ``<prefix>00000001`` creates table first, ``...02`` creates
    table second and then runs ``second_extra`` (a failing or slow statement)."""
    scripts = folder / "migrations"
    (scripts / "versions").mkdir(parents=True)
    for name in ("env.py", "script.py.mako"):
        (scripts / name).write_text((template / name).read_text())
    first, second = f"{prefix}00000001", f"{prefix}00000002"
    for revision, down, table, extra in (
        (first, None, "first", ""),
        (second, first, "second", second_extra),
    ):
        (scripts / "versions" / f"{revision}.py").write_text(
            STEP.format(
                table=table, revision=revision, down=down or "", down_repr=repr(down), extra=extra
            )
        )
    return scripts
