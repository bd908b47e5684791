"""The database schema (ROLLBACK.md 5), migrated with Alembic.

The live version is ``alembic current``. Preflight finds the path through the
revision graph (``migration_graph``: each script parsed, never imported, so planning runs
no code a pull request brought) and reads each step's operations (the migration's source,
parsed, not run) to find the ones that drop a table or column; the planner blocks those
without ``allowDestructive``. Alembic has no lock, so a run holds one: an advisory
lock on PostgreSQL (bounded wait), a file lock beside an SQLite file. The whole run
is one transaction where the database has transactional DDL (PostgreSQL).

Alembic itself is imported only to run a migration; observing reads ``alembic_version``
with one query.

The database URL comes from the environment and is shown only with its password
masked.
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import io
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from daemon.adapters import environment
from daemon.core.model import Action, Direction, Kind, Observed, Pin, Resolved, VersionInfo
from daemon.drivers import migration_graph
from daemon.drivers.base import NOTHING_STARTED, Progress, Started, Waiting
from daemon.drivers.migration_graph import Migration, MigrationGraph, UnknownRevision
from daemon.errors import ApplyFailed, ConfigError
from daemon.spec import AlembicTarget, LoadedConfig

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

BASE = "base"
LOCK_KEY = 0x70696E6261636B  # "pinback"
DROPS = {"drop_table": "table", "drop_column": "column"}
VERSION_TABLE = "alembic_version"


def masked(url: URL) -> str:
    return url.render_as_string(hide_password=True)


class DatabaseDriver:
    kind = Kind.ALEMBIC

    def __init__(self, targets: Mapping[str, AlembicTarget], config: LoadedConfig) -> None:
        self.targets = targets
        self.config = config
        self._engines: dict[str, Engine] = {}
        self._engines_lock = threading.Lock()

    # -- connection --------------------------------------------------------------

    def url(self, target: str) -> URL:
        spec = self.targets[target]
        raw = environment.required(spec.url_env, f"the database URL of {target}")
        try:
            return make_url(raw)
        except ArgumentError:
            raise ConfigError(
                f"environment variable {spec.url_env} does not hold a database URL"
            ) from None

    def engine(self, target: str) -> Engine:
        with self._engines_lock:  # one engine per target, whichever thread asks first
            if target not in self._engines:
                url = self.url(target)
                args: dict[str, Any] = (
                    {"connect_timeout": 5} if url.get_backend_name() == "postgresql" else {}
                )
                self._engines[target] = create_engine(url, poolclass=NullPool, connect_args=args)
            return self._engines[target]

    def graph(self, target: str) -> MigrationGraph:
        """The target's revision graph, read from its scripts without importing them."""
        location = self._location(target)
        return migration_graph.read(location / "versions")

    def _location(self, target: str) -> Path:
        location = self.config.resolve(self.targets[target].script_location)
        if not location.is_dir():
            raise ConfigError(f"the Alembic script location {location} of {target} is not a folder")
        return location

    def _alembic_config(self, target: str, stdout: io.StringIO | None = None) -> AlembicConfig:
        from alembic.config import Config as AlembicConfig

        location = self._location(target)
        cfg = AlembicConfig(stdout=stdout or io.StringIO())
        cfg.set_main_option("script_location", str(location))
        return cfg

    # -- observe -----------------------------------------------------------------

    def observe(self, targets: Sequence[str]) -> dict[str, Observed]:
        return {name: self._observe_one(name) for name in targets}

    def _observe_one(self, target: str) -> Observed:
        try:
            url = self.url(target)
            with self.engine(target).connect() as connection:
                heads: list[str] = []
                if inspect(connection).has_table(VERSION_TABLE):
                    rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))
                    heads = [str(row[0]) for row in rows]
        except ConfigError as exc:
            return _unobserved(target, str(exc))
        except SQLAlchemyError as exc:
            return _unobserved(
                target, f"cannot reach the database {masked(url)}: {_first_line(exc)}"
            )
        live = "+".join(sorted(heads)) if heads else BASE
        # No rank: preflight decides the direction by walking the revision graph.
        return Observed(target, Kind.ALEMBIC, live=live, detail={"url": masked(url)})

    # -- preflight ---------------------------------------------------------------

    def preflight(self, target: str, pin: Pin, observed: Observed) -> Resolved:
        assert pin.version is not None
        if pin.version == observed.live:
            return Resolved(target, pin.version)
        graph = self.graph(target)
        location = self.targets[target].script_location
        if pin.version == BASE:
            desired = BASE
        else:
            try:
                desired = graph.get(pin.version).revision
            except UnknownRevision as exc:
                return Resolved(
                    target,
                    pin.version,
                    refused=f"revision {pin.version} is not in the script directory {location} ({exc})",
                )
        live = observed.live or BASE
        if desired == live:
            return Resolved(target, desired, rank=observed.rank)
        if "+" in live:
            return Resolved(
                target,
                desired,
                refused=f"the database has several heads ({live}); merge them first",
            )
        if not graph.has(live):
            return Resolved(
                target,
                desired,
                refused=(
                    f"the database is at revision {live}, which the scripts in {location} do "
                    "not have (a newer release migrated it): give this target the scripts of "
                    "that release to move it"
                ),
            )
        if graph.is_ancestor(desired, live):
            steps = graph.between(live, desired)
            direction = Direction.BACK
            function = "downgrade"
        elif graph.is_ancestor(live, desired):
            steps = list(reversed(graph.between(desired, live)))
            direction = Direction.FORWARD
            function = "upgrade"
        else:
            return Resolved(
                target,
                desired,
                refused=f"no linear path between {live} and {desired} (different branches)",
            )
        destructive = tuple(
            f"{function} of {s.revision} ({s.doc}) drops {what}"
            for s in steps
            for what in drops(s, function)
        )
        return Resolved(
            target,
            desired,
            direction=direction,
            steps=tuple(f"{function} {s.revision}: {s.doc}" for s in steps),
            destructive=destructive,
        )

    # -- apply ------------------------------------------------------------------

    def apply(self, target: str, action: Action, progress: Progress) -> Started:
        from alembic import command
        from alembic.util.exc import CommandError

        log = io.StringIO()
        cfg = self._alembic_config(target, log)
        url = self.url(target)
        verb = "downgrade" if action.direction is Direction.BACK else "upgrade"
        progress(
            target,
            f"alembic {verb} {action.to_version} ({len(action.steps)} steps) on {masked(url)}",
        )
        try:
            with self._locked(target, url), self.engine(target).begin() as connection:
                cfg.attributes["connection"] = connection
                if verb == "downgrade":
                    command.downgrade(cfg, action.to_version)
                else:
                    command.upgrade(cfg, action.to_version)
        except (SQLAlchemyError, CommandError) as exc:
            raise ApplyFailed(
                f"alembic {verb} to {action.to_version} failed: {_first_line(exc)}"
            ) from None
        return NOTHING_STARTED

    @contextlib.contextmanager
    def _locked(self, target: str, url: URL) -> Iterator[None]:
        """Hold the migration lock for the run; wait at most ``lockTimeout``."""
        timeout = self.targets[target].lock_timeout
        backend = url.get_backend_name()
        if backend == "postgresql":
            with self.engine(target).connect() as holder:
                holder.execute(text(f"SET lock_timeout = '{int(timeout * 1000)}ms'"))
                try:
                    holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": LOCK_KEY})
                except SQLAlchemyError:
                    raise ApplyFailed(
                        f"another migration holds the lock on {masked(url)}; waited {timeout:.0f}s"
                    ) from None
                try:
                    yield
                finally:
                    holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
                    holder.commit()
        elif backend == "sqlite" and url.database and url.database != ":memory:":
            with open(f"{url.database}.pinback-lock", "a+b") as handle:
                _flock(handle.fileno(), timeout, url)
                try:
                    yield
                finally:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        else:
            yield

    def wait(self, target: str, action: Action, waiting: Waiting) -> None:
        """Alembic runs synchronously: when ``apply`` returned, the change has taken."""

    def verify(self, target: str, action: Action) -> Observed:
        observed = self._observe_one(target)
        if observed.error is not None:
            return observed
        with self.engine(target).connect() as connection:
            tables = sorted(inspect(connection).get_table_names())
        return Observed(
            target,
            Kind.ALEMBIC,
            observed.live,
            observed.rank,
            detail={**observed.detail, "tables": ",".join(tables)},
        )

    def versions(self, target: str, limit: int, seen: Observed | None = None) -> list[VersionInfo]:
        live = (seen or self._observe_one(target)).live
        result = []
        for script in self.graph(target).newest_first():
            result.append(
                VersionInfo(
                    version=script.revision,
                    time=_create_date(script),
                    live=script.revision == live,
                    detail={"message": script.doc or ""},
                )
            )
            if len(result) >= limit:
                break
        return result


def drops(script: Migration, function: str) -> list[str]:
    """What ``function`` (upgrade or downgrade) of a migration drops, read from its source.

    Looks for ``op.drop_table(...)`` and ``drop_column(...)`` calls (including
    ``batch_op.drop_column``) inside the function; names come from the first
    string arguments.
    """
    path = Path(script.path)
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return [f"something (cannot read {path.name}; treated as destructive)"]
    found = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == function:
            for call in ast.walk(node):
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and call.func.attr in DROPS
                ):
                    found.append(_describe_drop(call))
    return found


def _describe_drop(call: ast.Call) -> str:
    assert isinstance(call.func, ast.Attribute)
    args = [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    if call.func.attr == "drop_table":
        return f"table {args[0]}" if args else "a table"
    if isinstance(call.func.value, ast.Name) and call.func.value.id == "op" and len(args) >= 2:
        return f"column {args[0]}.{args[1]}"
    return f"column {args[-1]}" if args else "a column"


def _create_date(script: Migration) -> str | None:
    for line in script.longdoc.splitlines():
        if line.strip().startswith("Create Date:"):
            return line.split(":", 1)[1].strip()
    return None


def _flock(fd: int, timeout: float, url: URL) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise ApplyFailed(
                    f"another migration holds the lock on {masked(url)}; waited {timeout:.0f}s"
                ) from None
            time.sleep(0.1)


def _first_line(exc: BaseException) -> str:
    text_ = str(getattr(exc, "orig", None) or exc).strip()
    return text_.splitlines()[0] if text_ else exc.__class__.__name__


def _unobserved(name: str, error: str) -> Observed:
    return Observed(target=name, kind=Kind.ALEMBIC, live=None, error=error)
