"""What a health check says, and what every check said just before the change."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

FIRING = "ALARM"


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""
    alarms: str = ""  # each alarm's state before the change and after: "a: ALARM -> OK"
    undecided: bool = False  # a check could not be read: neither passed nor failed
    excused: tuple[str, ...] = ()  # checks that failed after the change as they did before


@dataclass(frozen=True)
class Baseline:
    """Each of a gate's checks read once just before the change (DESIGN section 13): what the
    gate judges the change against, and whether the version live then was healthy.

    ``alarms`` None: they could not be read. ``url`` and ``command``: the failure sentence
    when that check failed before the change, else None (passed, or not configured)."""

    alarms: Mapping[str, str] | None = field(default_factory=dict)
    alarms_note: str = ""  # "a=OK, b=ALARM", or why they could not be read
    url: str | None = None
    command: str | None = None
    checked: bool = True  # False: nothing was live to check

    @property
    def passed(self) -> bool:
        """The version live before the change passed every check just then."""
        return (
            self.checked
            and self.alarms is not None
            and FIRING not in self.alarms.values()
            and self.url is None
            and self.command is None
        )

    def failing(self) -> str:
        """The checks other than alarms that failed before the change, for the trail."""
        parts = []
        if self.url is not None:
            parts.append(f"url: {self.url}")
        if self.command is not None:
            parts.append(f"command: {self.command}")
        return "; ".join(parts)
