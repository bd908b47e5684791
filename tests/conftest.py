"""Fixtures: moto server behind the fault proxy, PostgreSQL and SQLite, the seeded service.

Everything is real: boto3 talks HTTP to moto (through the fault proxy), Alembic runs
the repo's migration scripts against real databases. Nothing in boto3 is patched.
"""

from __future__ import annotations

import os
import re
import subprocess
import urllib.request
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from daemon.adapters.aws import CALL_LOG_ENV
from daemon.devtools import sandbox
from tests.stands.daemon_process import Daemon
from tests.stands.fault_proxy import FaultProxy
from tests.stands.postgres import postgres_server, throwaway_database
from tests.stands.service import (
    IN_CI,
    Aws,
    Service,
    seed_service,
)


@pytest.fixture(scope="session", autouse=True)
def aws_call_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every AWS call pinback makes in this session, as IAM actions (``PINBACK_AWS_CALL_LOG``,
    inherited by every controller and command started): test_iam checks the policy against
    it once everything else has run."""
    path = tmp_path_factory.mktemp("iam") / "calls.log"
    path.touch()
    before = os.environ.get(CALL_LOG_ENV)
    os.environ[CALL_LOG_ENV] = str(path)
    yield path
    if before is None:
        os.environ.pop(CALL_LOG_ENV, None)
    else:
        os.environ[CALL_LOG_ENV] = before


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``after_everything`` judge what the rest of the run did: run them last."""
    items.sort(key=lambda item: item.get_closest_marker("after_everything") is not None)


FAILED_KEY = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember on the test whether any of its phases failed, for the fixture below."""
    report = yield
    if report.failed:
        item.stash[FAILED_KEY] = True
    return report


@pytest.fixture(autouse=True)
def no_controller_outlives_its_test(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """A controller left running by a test that failed half-way would keep reconciling the
    shared AWS emulator and fail the tests after it; kill it with its test. When the test
    failed, every controller it started leaves its whole log in the run's temporary folder
    (``controllers-<test>/``): a failure seen once in twenty runs (``make flaky``) is read
    from what the controller did, which pytest's own output cuts to its last lines."""
    yield
    started = list(Daemon.running)
    Daemon.kill_leftovers()
    if started and request.node.stash.get(FAILED_KEY, False):
        name = re.sub(r"[^\w.-]+", "_", request.node.name)[:80]
        folder = tmp_path_factory.mktemp(f"controllers-{name}", numbered=True)
        for index, daemon in enumerate(started):
            (folder / f"controller-{index}.log").write_text(daemon.log() + "\n")
        print(f"controllers' logs: {folder}")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server, endpoint = sandbox.start_moto(0)
    yield endpoint
    server.stop()


@pytest.fixture(scope="session")
def proxy(moto_endpoint: str) -> Iterator[FaultProxy]:
    started = FaultProxy(moto_endpoint).start()
    yield started
    started.stop()


@pytest.fixture
def aws(
    moto_endpoint: str, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Aws:
    """An empty AWS (moto reset), reached through the fault proxy with no faults set, and a
    fresh audit trail in the test's folder."""
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    proxy.clear()
    for name, value in {
        "AWS_ENDPOINT_URL": proxy.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": sandbox.REGION,
        "AWS_MAX_ATTEMPTS": "3",
        "PINBACK_AUDIT_URL": f"sqlite:///{tmp_path / 'audit.db'}",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "PINBACK_CONFIG", "PINBACK_STATE"):
        monkeypatch.delenv(name, raising=False)
    return Aws(proxy.url, moto_endpoint, proxy)


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[str]:
    server = postgres_server()
    try:
        url = server.__enter__()
    except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true: {exc}")
        pytest.skip(f"no PostgreSQL here: {exc}")
    yield url
    server.__exit__(None, None, None)


@pytest.fixture
def pg_url(pg_admin: str) -> Iterator[str]:
    with throwaway_database(pg_admin) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'app.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def service(aws: Aws, sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Service:
    """The seeded service with an SQLite database."""
    return seed_service(aws, sqlite_url, tmp_path, monkeypatch)


@pytest.fixture
def service_any_db(
    aws: Aws, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Service:
    """The seeded service, once with SQLite and once with PostgreSQL."""
    return seed_service(aws, database_url, tmp_path, monkeypatch)
