"""tests/unit holds the pure tests, the fast loop (`make test-unit`): a test here that asks
for a server (the AWS emulator, PostgreSQL, the seeded service) is refused at collection,
so the folder stays pure as it grows."""

from __future__ import annotations

import pytest

SERVERS = {"moto_endpoint", "proxy", "aws", "pg_admin", "pg_url", "database_url", "service"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        wanted = SERVERS & set(getattr(item, "fixturenames", ()))
        if wanted and "tests/unit/" in str(item.path):
            raise pytest.UsageError(
                f"{item.nodeid} asks for {', '.join(sorted(wanted))}: a test with servers "
                "belongs in tests/integration or tests/e2e"
            )
