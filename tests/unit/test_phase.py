"""A target's phase (DESIGN section 9) from plain values: no servers."""

from __future__ import annotations

import pytest

from daemon.core.model import Action, Direction, Kind, Observed, Outcome, Phase, Pin, Result
from daemon.views.status import phase_of

SEEN = Observed("backend", Kind.ECS, "4", 4.0)
UNREAD = Observed("backend", Kind.ECS, None, error="describe_services failed")
MOVE = Action("backend", Kind.ECS, "4", "3", Direction.BACK)
BLOCKED = Action("backend", Kind.ECS, "4", "3", Direction.BACK, blocked="no such revision")
FROZEN = Action("backend", Kind.ECS, "4", "3", Direction.BACK, blocked="freeze", frozen=True)
ROLLING = Action("backend", Kind.ECS, "3", "3", Direction.NONE, wait_only=True)
FAILED = Result("backend", Kind.ECS, Outcome.FAILED, "3", "4", "4", 1.0, error="x")
OLD_FAILURE = Result("backend", Kind.ECS, Outcome.FAILED, "2", "4", "4", 1.0, error="x")
PIN = Pin("3")


@pytest.mark.parametrize(
    ("observed", "action", "pin", "last", "applying", "held", "phase"),
    [
        (SEEN, None, PIN, None, False, False, Phase.IN_SYNC),
        (SEEN, None, None, None, False, False, Phase.IN_SYNC),  # observed only
        (SEEN, MOVE, PIN, None, False, False, Phase.DRIFTING),
        (SEEN, MOVE, PIN, None, True, False, Phase.APPLYING),
        (SEEN, ROLLING, PIN, None, False, False, Phase.ROLLING_OUT),
        (SEEN, BLOCKED, PIN, None, False, False, Phase.BLOCKED),
        (SEEN, FROZEN, PIN, None, False, False, Phase.FROZEN),
        (SEEN, MOVE, PIN, FAILED, False, False, Phase.FAILED),
        (SEEN, MOVE, PIN, OLD_FAILURE, False, False, Phase.DRIFTING),  # failed for another pin
        (SEEN, MOVE, PIN, FAILED, False, True, Phase.HELD),
        (SEEN, MOVE, Pin("3", suspend=True), None, False, False, Phase.SUSPENDED),
        (UNREAD, None, PIN, None, False, False, Phase.UNKNOWN),
        (None, None, PIN, None, False, False, Phase.UNKNOWN),  # not observed yet
    ],
)
def test_phase_of(
    observed: Observed | None,
    action: Action | None,
    pin: Pin | None,
    last: Result | None,
    applying: bool,
    held: bool,
    phase: Phase,
) -> None:
    """What a person must know first wins: suspended, applying, unknown, held, then the plan."""
    assert phase_of(observed, action, pin, last, applying, held) is phase
