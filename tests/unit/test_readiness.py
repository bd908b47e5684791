"""How many steps back a rollback can go, from the checked versions before the live one."""

from __future__ import annotations

from daemon.controller.readiness import ready_steps
from daemon.core.model import VersionInfo


def checked(*verdicts: tuple[str, str | None]) -> list[VersionInfo]:
    return [VersionInfo(v, None, ready=why is None, why=why) for v, why in verdicts]


def test_steps_stop_at_the_first_version_that_is_not_ready() -> None:
    older = checked(("3", None), ("2", "image v2.1.0 is gone from ECR"), ("1", None))
    assert ready_steps(older) == (1, "2: image v2.1.0 is gone from ECR")


def test_every_version_ready_is_every_step() -> None:
    assert ready_steps(checked(("3", None), ("2", None))) == (2, None)


def test_the_first_step_missing_is_zero_steps() -> None:
    assert ready_steps(checked(("3", "deregistered"))) == (0, "3: deregistered")
