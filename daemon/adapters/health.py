"""Health gates: after a change has taken, is the service actually well?

ROLLBACK.md 7.3 asks people to check that the service works and to run functional
tests after a rollback. A target's ``health:`` config does it every time, before the
target counts as in sync:

- an HTTP check: the URL answers the expected status (and text, with ``{commit}``,
  ``{tag}``, ``{revision}`` or ``{version}`` filled in), retried until ``timeout``;
- CloudWatch alarms: judged against their states just before the change over
  ``bakeTime`` (``daemon.core.gates``: one that was firing must come back to ``OK``, one that
  was not must stay out of ``ALARM``);
- a smoke command: exits 0 within ``timeout`` (``PINBACK_TARGET`` and
  ``PINBACK_VERSION`` in its environment).

Gates run in that order and stop at the first failure, whose reason is one sentence.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from daemon.adapters import environment, processes
from daemon.adapters.aws import error_message
from daemon.core.gates import AlarmWatch
from daemon.spec import HealthSettings

POLL = 1.0


ALARM_TYPES = ["MetricAlarm", "CompositeAlarm"]  # without it, composite alarms are not returned


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""
    alarms: str = ""  # each alarm's state before the change and after: "a: ALARM -> OK"
    undecided: bool = False  # a check could not be read: neither passed nor failed


def read_alarms(cloudwatch: Any, names: Sequence[str]) -> dict[str, str]:
    """Each named alarm's state, metric and composite alike (``DescribeAlarms`` returns
    composite alarms only when ``AlarmTypes`` asks for them:
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarms.html).
    Raises botocore's errors."""
    states: dict[str, str] = {}
    paginator = cloudwatch.get_paginator("describe_alarms")
    for page in paginator.paginate(AlarmNames=list(names), AlarmTypes=ALARM_TYPES):
        for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
            states[alarm["AlarmName"]] = alarm["StateValue"]
    return states


def fill(template: str, version: str) -> str:
    for name in ("commit", "tag", "revision", "version"):
        template = template.replace("{" + name + "}", version)
    return template


def alarm_states(cloudwatch: Any, names: Sequence[str]) -> tuple[dict[str, str], str]:
    """The alarms' states now (ROLLBACK.md 7.1: what the gate judges a change against) and
    the same as a note for the audit trail. Unreadable: no states, and a note saying why
    (the gate then takes each alarm as having been OK)."""
    try:
        states = read_alarms(cloudwatch, names)
    except (ClientError, BotoCoreError) as exc:
        return {}, f"unreadable ({error_message(exc)})"
    return states, ", ".join(f"{name}={state}" for name, state in states.items())


def check(
    target: str,
    settings: HealthSettings,
    version: str,
    cloudwatch: Any | None,
    stop: threading.Event | None = None,
    alarms_before: Mapping[str, str] | None = None,
) -> Verdict:
    """Run the configured gates for ``target`` now at ``version``; never raises.

    ``alarms_before`` holds each alarm's state just before the change; an alarm missing
    from it is taken to have been ``OK``.
    """
    stop = stop or threading.Event()
    alarms = ""
    if settings.url:
        verdict = _http(settings, version, stop)
        if not verdict.ok:
            return verdict
    if settings.cloudwatch_alarms:
        verdict = _alarms(settings, cloudwatch, stop, alarms_before or {})
        if not verdict.ok:
            return verdict
        alarms = verdict.alarms
    if settings.command:
        verdict = _command(target, settings, version)
        if not verdict.ok:
            return replace(verdict, alarms=alarms)
    return Verdict(True, alarms=alarms)


def _http(settings: HealthSettings, version: str, stop: threading.Event) -> Verdict:
    assert settings.url is not None
    url = fill(settings.url, version)
    expected = fill(settings.expect, version) if settings.expect else None
    deadline = time.monotonic() + settings.timeout
    last = "no answer yet"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=min(10.0, settings.timeout)) as answer:
                status, body = answer.status, answer.read(1_000_000).decode(errors="replace")
        except urllib.error.HTTPError as error:
            status, body = error.code, ""
        except (OSError, ValueError) as exc:
            status, body = None, ""
            last = f"{url} did not answer: {getattr(exc, 'reason', exc)}"
        if status is not None:
            if status != settings.status:
                last = f"{url} answered {status}, expected {settings.status}"
            elif expected is not None and expected not in body:
                last = f"{url} answered without {expected!r}"
            else:
                return Verdict(True)
        if time.monotonic() >= deadline or stop.wait(POLL):
            return Verdict(False, f"HTTP check failed: {last}")


def _alarms(
    settings: HealthSettings,
    cloudwatch: Any,
    stop: threading.Event,
    before: Mapping[str, str],
) -> Verdict:
    """Watch the alarms for the bake time (at least one look), judged against ``before``
    as ``daemon.core.gates`` says. A read that fails (throttled, denied) is tried again at
    the next look and never fails the gate by itself; a gate whose last look could not be
    read ends undecided: held, never reverted, since nothing says the change was bad."""
    deadline = time.monotonic() + settings.bake_time
    names = list(settings.cloudwatch_alarms)
    watch = AlarmWatch(before, settings.bake_time)
    unread: str | None = None
    while True:
        try:
            found = read_alarms(cloudwatch, names)
            unread = None
        except (ClientError, BotoCoreError) as exc:
            unread = error_message(exc)
            found = None
        if found is not None:
            missing = [n for n in names if n not in found]
            if missing:
                return Verdict(False, f"CloudWatch alarm(s) not found: {', '.join(missing)}")
            failed = watch.look(found)
            if failed is not None:
                return Verdict(False, failed, watch.note())
        if time.monotonic() >= deadline:
            if unread is not None:
                why = f"CloudWatch alarms could not be read at the end of the bake time: {unread}"
                return Verdict(False, why, watch.note(), undecided=True)
            failed = watch.end()
            return Verdict(failed is None, failed or "", watch.note())
        if stop.wait(POLL):  # stopped (shutdown, newer pin): the next pass judges again
            return Verdict(True, "", watch.note())


def _command(target: str, settings: HealthSettings, version: str) -> Verdict:
    assert settings.command is not None
    env = environment.for_child({"PINBACK_TARGET": target, "PINBACK_VERSION": version})
    done = processes.run(settings.command, settings.timeout, env=env)
    if done.timed_out:
        return Verdict(False, f"smoke command took longer than {settings.timeout:.0f}s")
    if done.error is not None:
        return Verdict(False, f"smoke command could not start: {done.error}")
    if not done.ok:
        tail = done.tail(2)
        return Verdict(False, f"smoke command exited {done.code}" + (f": {tail}" if tail else ""))
    return Verdict(True)
