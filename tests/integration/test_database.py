"""The Alembic driver on real databases: SQLite and PostgreSQL, the repo's migration scripts."""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg
import pytest
import sqlalchemy

from daemon.core.model import Direction, Outcome
from daemon.devtools.sandbox import seed_database
from daemon.drivers.database import LOCK_KEY
from daemon.engine.engine import Engine
from daemon.spec import load_config, load_desired
from tests.stands.migrations import two_steps
from tests.stands.service import CONFIG, MIGRATIONS, REVISIONS, config_copy

HEADER = "apiVersion: pinback/v1\nkind: DesiredVersions\nspec:\n  database:\n"


@pytest.fixture
def migrated(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A database at the newest revision, reachable through DATABASE_URL."""
    seed_database(database_url, MIGRATIONS)
    monkeypatch.setenv("DATABASE_URL", database_url)
    return database_url


def pin(tmp_path: Path, body: str, config: Path = CONFIG) -> tuple[Engine, object]:
    path = tmp_path / "pins.yaml"
    path.write_text(HEADER + body)
    loaded = load_config(config)
    return Engine(loaded), load_desired(path, loaded)


def tables(url: str) -> set[str]:
    engine = sqlalchemy.create_engine(url)
    try:
        return set(sqlalchemy.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_observes_alembic_current(migrated: str, tmp_path: Path) -> None:
    """The live version is the database's current revision."""
    engine, desired = pin(tmp_path, f"    revision: {REVISIONS[-1]}\n")
    snapshot = engine.snapshot(desired)
    assert snapshot.observed["database"].live == REVISIONS[-1]
    assert snapshot.plan.in_sync == ("database",)


def test_downgrade_one_step(migrated: str, tmp_path: Path) -> None:
    """A non-destructive downgrade runs and the result lists the tables afterwards."""
    engine, desired = pin(tmp_path, f"    revision: {REVISIONS[-2]}\n")
    (action,) = engine.snapshot(desired).plan.actions
    assert action.direction is Direction.BACK and not action.destructive
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.outcome is Outcome.APPLIED and result.live_after == REVISIONS[-2]
    assert result.detail["tables"] == "alembic_version,analysis_jobs,evidence,users"


def test_destructive_downgrade_is_blocked_and_changes_nothing(
    migrated: str, tmp_path: Path
) -> None:
    """Dropping a table without allowDestructive is refused; the table is still there."""
    engine, desired = pin(tmp_path, f"    revision: {REVISIONS[2]}\n")
    (action,) = engine.snapshot(desired).plan.actions
    assert action.destructive
    assert action.blocked is not None and "drops table analysis_jobs" in action.blocked
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.outcome is Outcome.BLOCKED
    assert "analysis_jobs" in tables(migrated)


def test_destructive_downgrade_with_permission(migrated: str, tmp_path: Path) -> None:
    """With allowDestructive the downgrade runs, the table goes, and the column drop is found too."""
    engine, desired = pin(tmp_path, f"    revision: {REVISIONS[1]}\n    allowDestructive: true\n")
    (action,) = engine.snapshot(desired).plan.actions
    assert any("drops column display_name" in n for n in action.notes)
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.outcome is Outcome.APPLIED
    assert tables(migrated) == {"alembic_version", "users", "evidence"}


def test_upgrade_forward_after_a_rollback(migrated: str, tmp_path: Path) -> None:
    """Rolling forward walks the upgrade path to the pin."""
    engine, desired = pin(tmp_path, f"    revision: {REVISIONS[-2]}\n")
    engine.apply(engine.snapshot(desired).plan)
    engine, desired = pin(tmp_path, f"    revision: {REVISIONS[-1]}\n")
    (action,) = engine.snapshot(desired).plan.actions
    assert action.direction is Direction.FORWARD
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.outcome is Outcome.APPLIED and result.live_after == REVISIONS[-1]


def test_unknown_revision_is_refused(migrated: str, tmp_path: Path) -> None:
    """A revision not in the script directory is blocked with a sentence naming it."""
    engine, desired = pin(tmp_path, "    revision: deadbeef0000\n")
    (action,) = engine.snapshot(desired).plan.actions
    assert action.blocked is not None and action.blocked.startswith(
        "revision deadbeef0000 is not in the script directory"
    )


def test_host_loggers_survive_a_migration(migrated: str, tmp_path: Path) -> None:
    """Running Alembic must not disable the host process's loggers (no fileConfig)."""
    mine = logging.getLogger("pinback.test.host")
    engine, desired = pin(tmp_path, f"    revision: {REVISIONS[-2]}\n")
    engine.apply(engine.snapshot(desired).plan)
    assert not mine.disabled
    assert not logging.getLogger("structlog").disabled


def test_unreachable_database_is_an_error_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database that does not answer is reported for that target, its password masked."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:hunter2secret@127.0.0.1:1/app")
    engine, desired = pin(tmp_path, f"    revision: {REVISIONS[-1]}\n")
    plan = engine.snapshot(desired).plan
    error = plan.unobserved["database"]
    assert error.startswith("cannot reach the database postgresql://app:***@127.0.0.1:1/app")
    assert "hunter2secret" not in error


def test_postgres_migration_waits_for_the_lock(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While another migration holds the advisory lock, pinback waits lockTimeout, then fails cleanly."""
    seed_database(pg_url, MIGRATIONS)
    monkeypatch.setenv("DATABASE_URL", pg_url)
    config = config_copy(
        tmp_path, {"    scriptLocation:": "    lockTimeout: 500ms\n    scriptLocation:"}
    )
    engine, desired = pin(tmp_path, f"    revision: {REVISIONS[-2]}\n", config)
    plan = engine.snapshot(desired).plan
    with psycopg.connect(pg_url) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        (result,) = engine.apply(plan)
    assert result.outcome is Outcome.FAILED
    assert result.error is not None and "another migration holds the lock" in result.error
    engine2, desired2 = pin(tmp_path, f"    revision: {REVISIONS[-1]}\n", config)
    assert engine2.snapshot(desired2).plan.in_sync == ("database",)  # still at the newest revision


def test_failed_migration_leaves_postgres_where_it_was(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the whole run is one transaction: a failing second step undoes the first."""
    scripts = two_steps(tmp_path, MIGRATIONS, "aaaa", 'op.execute("SELECT no_such_function()")')
    monkeypatch.setenv("DATABASE_URL", pg_url)
    config = config_copy(tmp_path, {f"scriptLocation: {MIGRATIONS}": f"scriptLocation: {scripts}"})
    engine, desired = pin(tmp_path, "    revision: aaaa00000002\n", config)
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.outcome is Outcome.FAILED
    assert result.error is not None and "no_such_function" in result.error
    assert result.live_after == "base"
    assert "first" not in tables(pg_url)


def test_planning_runs_no_code_of_a_migration_script(
    migrated: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pull request adds a migration whose module-level code writes a file when imported:
    ``pinback plan`` (to it) and ``pinback versions database`` read the scripts without
    running them; only applying it imports it (DESIGN section 17)."""
    import shutil

    from tests.stands.service import pinback

    scripts = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, scripts)
    marker = tmp_path / "ran.txt"
    (scripts / "versions" / "e0e0e0e0e0e0_evil.py").write_text(
        f'"""add nothing\n\nRevision ID: e0e0e0e0e0e0\n"""\n'
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('imported')\n"
        f'revision = "e0e0e0e0e0e0"\ndown_revision = "{REVISIONS[-1]}"\n'
        "def upgrade():\n    pass\n\ndef downgrade():\n    pass\n"
    )
    config = config_copy(tmp_path, {f"scriptLocation: {MIGRATIONS}": f"scriptLocation: {scripts}"})
    pins = tmp_path / "pins.yaml"
    pins.write_text(
        "apiVersion: pinback/v1\nkind: DesiredVersions\nspec:\n  database: {revision: e0e0e0e0e0e0}\n"
    )
    monkeypatch.setenv("DATABASE_URL", migrated)
    planned = pinback(
        "plan", "--target", "database", "--config", str(config), "--state", str(pins), "-o", "json"
    )
    listed = pinback("versions", "database", "--config", str(config), "-o", "json")
    assert planned.returncode == 2, planned.stderr
    assert '"to": "e0e0e0e0e0e0"' in planned.stdout
    assert listed.returncode == 0 and "e0e0e0e0e0e0" in listed.stdout, listed.stderr
    assert not marker.exists()


def test_scripts_older_than_the_database_block_it_with_a_sentence(
    migrated: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A newer backend migrated the database past the scripts pinback has (the newest one is
    missing here): the database target is blocked, naming the live revision and the script
    folder; the plan does not crash (DESIGN section 14)."""
    import shutil

    scripts = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, scripts)
    for path in (scripts / "versions").glob(f"{REVISIONS[-1]}_*.py"):
        path.unlink()
    config = config_copy(tmp_path, {f"scriptLocation: {MIGRATIONS}": f"scriptLocation: {scripts}"})
    engine, desired = pin(tmp_path, f"    revision: {REVISIONS[-2]}\n", config)
    (action,) = engine.snapshot(desired).plan.actions  # type: ignore[attr-defined]
    assert action.blocked is not None
    assert f"the database is at revision {REVISIONS[-1]}" in action.blocked
    assert str(scripts) in action.blocked
