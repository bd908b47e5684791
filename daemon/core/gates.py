"""The health gate's verdict on CloudWatch alarms, and where a failed gate goes back to.

Pure: alarm states and audit records in, sentences and versions out; the polling and
the reads live in ``daemon.adapters.health`` and ``daemon.engine.engine``.

Gates judge the *change*, not the incident (DESIGN section 9). A rollback is made
while the alarm that prompted it is still firing, and CloudWatch takes minutes to
re-evaluate, so "no alarm in ALARM" would fail every rollback made in an incident
and, with ``onFailure: revert``, put the broken version back. Instead each alarm is
judged against its state just before the change:

- ``OK`` or ``INSUFFICIENT_DATA`` before: it must stay out of ``ALARM`` for the whole
  bake time; going into ``ALARM`` fails the gate at once.
- ``ALARM`` before: the change passes once the alarm is back to ``OK`` before the bake
  time ends, and fails if it has not come back by then. Having come back, it is held to
  the first rule: firing again is the change's doing.

A failed gate with ``onFailure: revert`` goes to the last version that passed its gates
on that target (``apply_succeeded`` in the audit trail), skipping every version that
failed a gate since; never simply to what was live before, which during an incident is
usually the version being rolled back from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from daemon.core.records import Event, Record

FIRING = "ALARM"
RECOVERED = "OK"


@dataclass
class AlarmWatch:
    """The alarms of one gate over its bake time: feed it each look, then ask at the end."""

    before: Mapping[str, str]
    bake_s: float
    recovered: set[str] = field(default_factory=set)
    last: dict[str, str] = field(default_factory=dict)

    def look(self, states: Mapping[str, str]) -> str | None:
        """Take one reading; a sentence when it already fails the gate, else None."""
        self.last.update(states)
        firing = []
        for name, state in sorted(states.items()):
            if self.before.get(name) == FIRING and name not in self.recovered:
                if state == RECOVERED:
                    self.recovered.add(name)
                continue  # still the incident's alarm: judged at the end of the bake
            if state == FIRING:
                firing.append(name)
        if not firing:
            return None
        return f"CloudWatch alarm(s) in ALARM: {', '.join(firing)} ({self.note()})"

    def end(self) -> str | None:
        """At the end of the bake time: a sentence when an alarm of the incident never
        came back to OK, else None."""
        still = sorted(n for n, s in self.before.items() if s == FIRING and n not in self.recovered)
        if not still:
            return None
        return (
            f"CloudWatch alarm(s) in ALARM: {', '.join(still)}, already in ALARM before the "
            f"change and not back to OK within the bake time of {self.bake_s:g}s ({self.note()})"
        )

    def note(self) -> str:
        """Each alarm's state before the change and at the last look: ``a: ALARM -> OK``."""
        names = sorted({*self.before, *self.last})
        return ", ".join(
            f"{n}: {self.before.get(n, '?')} -> {self.last.get(n, '?')}" for n in names
        )


def revert_to(history: Iterable[Record], failing: str) -> str | None:
    """The version a failed gate goes back to, or None when no good one is known.

    ``history`` holds one target's ``apply_succeeded`` and ``health_failed`` records,
    newest first. A version counts as good when it was applied successfully and no gate
    failed on it since; ``failing`` (the version just judged) never does.
    """
    bad = {failing}
    for record in history:
        version = record.desired
        if version is None:
            continue
        if record.event == Event.HEALTH_FAILED:
            bad.add(version)
        elif record.event == Event.APPLY_SUCCEEDED and version not in bad:
            return version
    return None
