"""CloudWatch alarms for the health gates: read them (metric and composite alike) and watch
them over a bake time, judged against their states just before the change
(``daemon.core.gates``).

``DescribeAlarms`` returns composite alarms only when ``AlarmTypes`` asks for them
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarms.html),
so every read asks for both kinds. A read that fails (throttled, denied) is tried again at
the next look and never fails a gate by itself: a watch whose last look could not be read
ends *undecided* (held, never reverted), since nothing says the change was bad.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from daemon.adapters.aws import error_message
from daemon.adapters.verdicts import Verdict
from daemon.core.gates import AlarmWatch

POLL = 1.0
ALARM_TYPES = ["MetricAlarm", "CompositeAlarm"]


def read(cloudwatch: Any, names: Sequence[str]) -> dict[str, str]:
    """Each named alarm's state now; raises botocore's errors."""
    states: dict[str, str] = {}
    paginator = cloudwatch.get_paginator("describe_alarms")
    for page in paginator.paginate(AlarmNames=list(names), AlarmTypes=ALARM_TYPES):
        for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
            states[alarm["AlarmName"]] = alarm["StateValue"]
    return states


def states(cloudwatch: Any, names: Sequence[str]) -> tuple[dict[str, str] | None, str]:
    """The alarms' states now (ROLLBACK.md 7.1) and the same as a note for the audit trail;
    None when they could not be read (the gate then takes each alarm as having been OK, and
    the version live before is not counted good on its account)."""
    try:
        found = read(cloudwatch, names)
    except (ClientError, BotoCoreError) as exc:
        return None, f"unreadable ({error_message(exc)})"
    return found, ", ".join(f"{name}={state}" for name, state in found.items())


def watch(
    names: Sequence[str],
    bake_time: float,
    cloudwatch: Any,
    stop: threading.Event,
    before: Mapping[str, str],
) -> Verdict:
    """Watch the alarms for ``bake_time`` (at least one look)."""
    deadline = time.monotonic() + bake_time
    watching = AlarmWatch(before, bake_time)
    unread: str | None = None
    while True:
        try:
            found: dict[str, str] | None = read(cloudwatch, names)
            unread = None
        except (ClientError, BotoCoreError) as exc:
            unread, found = error_message(exc), None
        if found is not None:
            missing = [n for n in names if n not in found]
            if missing:
                return Verdict(False, f"CloudWatch alarm(s) not found: {', '.join(missing)}")
            failed = watching.look(found)
            if failed is not None:
                return Verdict(False, failed, watching.note())
        if time.monotonic() >= deadline:
            if unread is not None:
                why = f"CloudWatch alarms could not be read at the end of the bake time: {unread}"
                return Verdict(False, why, watching.note(), undecided=True)
            failed = watching.end()
            return Verdict(failed is None, failed or "", watching.note())
        if stop.wait(POLL):  # stopped (shutdown, newer pin): the next pass judges again
            return Verdict(True, "", watching.note())
