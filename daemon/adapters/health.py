"""Health gates: after a change has taken, is the service actually well?

ROLLBACK.md 7.3 asks people to check that the service works and to run functional
tests after a rollback. A target's ``health:`` config does it every time, before the
target counts as in sync:

- an HTTP check: the URL answers the expected status (and text, with ``{commit}``,
  ``{tag}``, ``{revision}`` or ``{version}`` filled in), retried until ``timeout``;
- CloudWatch alarms (``daemon.adapters.alarms``): judged against their states just before
  the change over ``bakeTime`` (one that was firing must come back to ``OK``, one that was
  not must stay out of ``ALARM``);
- a smoke command: exits 0 within ``timeout`` (``PINBACK_TARGET`` and
  ``PINBACK_VERSION`` in its environment).

Gates run in that order and stop at the first failure, whose reason is one sentence.

Every check is also read once just before the change (``baseline``), against the version
live then: a check that fails after the change as it failed before did not fail because of
it (the site was down already), and a version whose checks all passed just before counts
as good for ``onFailure: revert`` (DESIGN section 13).
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from dataclasses import replace
from typing import Any

from daemon.adapters import alarms, environment, processes
from daemon.adapters.verdicts import Baseline, Verdict
from daemon.spec import HealthSettings

POLL = 1.0
PROBE_TIMEOUT = 10.0  # one look at the URL before the change


def fill(template: str, version: str) -> str:
    for name in ("commit", "tag", "revision", "version"):
        template = template.replace("{" + name + "}", version)
    return template


def baseline(
    target: str, settings: HealthSettings, live: str | None, cloudwatch: Any | None
) -> Baseline:
    """Each check read once now, before the change, against ``live`` (the version running):
    the alarms' states, one look at the URL, one run of the smoke command."""
    states: dict[str, str] | None = {}
    note = ""
    if settings.cloudwatch_alarms and cloudwatch is not None:
        states, note = alarms.states(cloudwatch, settings.cloudwatch_alarms)
    if live is None:
        return Baseline(states, note, checked=False)
    url = None
    if settings.url:
        verdict = _probe(settings, live)
        url = None if verdict.ok else verdict.reason
    command = None
    if settings.command:
        verdict = _command(target, settings, live)
        command = None if verdict.ok else verdict.reason
    return Baseline(states, note, url, command)


def check(
    target: str,
    settings: HealthSettings,
    version: str,
    cloudwatch: Any | None,
    stop: threading.Event | None = None,
    before: Baseline | None = None,
) -> Verdict:
    """Run the configured gates for ``target`` now at ``version``; never raises.

    ``before`` is what the checks said just before the change; an alarm missing from it is
    taken to have been ``OK``, and a URL or command check that failed then too is excused.
    """
    stop = stop or threading.Event()
    before = before or Baseline()
    found = ""
    excused: list[str] = []
    if settings.url:
        verdict = _http(settings, version, stop)
        if not verdict.ok and before.url is None:
            return verdict
        if not verdict.ok:
            excused.append(f"{verdict.reason} (failing before the change too)")
    if settings.cloudwatch_alarms:
        verdict = alarms.watch(
            settings.cloudwatch_alarms, settings.bake_time, cloudwatch, stop, before.alarms or {}
        )
        if not verdict.ok:
            return verdict
        found = verdict.alarms
    if settings.command:
        verdict = _command(target, settings, version)
        if not verdict.ok and before.command is None:
            return replace(verdict, alarms=found)
        if not verdict.ok:
            excused.append(f"{verdict.reason} (failing before the change too)")
    return Verdict(True, alarms=found, excused=tuple(excused))


def _probe(settings: HealthSettings, version: str) -> Verdict:
    """One look at the URL: does it answer as expected for ``version`` now?"""
    assert settings.url is not None
    url = fill(settings.url, version)
    expected = fill(settings.expect, version) if settings.expect else None
    try:
        with urllib.request.urlopen(url, timeout=min(PROBE_TIMEOUT, settings.timeout)) as answer:
            status, body = answer.status, answer.read(1_000_000).decode(errors="replace")
    except urllib.error.HTTPError as error:
        status, body = error.code, ""
    except (OSError, ValueError) as exc:
        return Verdict(False, f"{url} did not answer: {getattr(exc, 'reason', exc)}")
    if status != settings.status:
        return Verdict(False, f"{url} answered {status}, expected {settings.status}")
    if expected is not None and expected not in body:
        return Verdict(False, f"{url} answered without {expected!r}")
    return Verdict(True)


def _http(settings: HealthSettings, version: str, stop: threading.Event) -> Verdict:
    """Look at the URL until it answers as expected, or ``timeout``."""
    deadline = time.monotonic() + settings.timeout
    while True:
        verdict = _probe(settings, version)
        if verdict.ok:
            return verdict
        if time.monotonic() >= deadline or stop.wait(POLL):
            return Verdict(False, f"HTTP check failed: {verdict.reason}")


def _command(target: str, settings: HealthSettings, version: str) -> Verdict:
    assert settings.command is not None
    env = environment.for_child(
        {"PINBACK_TARGET": target, "PINBACK_VERSION": version}, settings.env
    )
    done = processes.run(settings.command, settings.timeout, env=env)
    if done.timed_out:
        return Verdict(False, f"smoke command took longer than {settings.timeout:.0f}s")
    if done.error is not None:
        return Verdict(False, f"smoke command could not start: {done.error}")
    if not done.ok:
        tail = done.tail(2)
        return Verdict(False, f"smoke command exited {done.code}" + (f": {tail}" if tail else ""))
    return Verdict(True)
