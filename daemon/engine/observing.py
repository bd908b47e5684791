"""Observe, check each drifted pin against what exists, and plan: the read-only half of a
reconcile. Kinds are observed in parallel (batched within a kind); preflights run up to
``daemon.concurrency`` at once. A target that cannot be observed or checked carries its
error into the plan (``unobserved``) instead of stopping the others.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from daemon.core import freeze, waslive
from daemon.core.model import Kind, Observed, Pin, Resolved, VersionInfo
from daemon.core.plan import Intent, make_plan
from daemon.drivers.base import checking_ahead, fan_out
from daemon.engine.drivers import DriverSet
from daemon.engine.values import Snapshot
from daemon.errors import AwsCallFailed, ObserveFailed, PinbackError, WaitStopped
from daemon.spec import DesiredState

READINESS_LISTED = 100  # versions listed to find the live one and those before it


class Observer:
    def __init__(
        self,
        drivers: DriverSet,
        denials: Callable[[str], Mapping[str, str]],
        was_live: Callable[[str], Mapping[str, waslive.WasLive]],
    ) -> None:
        self.drivers = drivers
        self.config = drivers.config
        self.denials = denials  # who denied a target's versions, read only for a pin with deny:
        self.was_live = was_live  # what a target ran, for the listings that forget it

    def observe(self, names: Sequence[str]) -> dict[str, Observed]:
        """Live state of ``names``, each kind in its own thread, batched within a kind."""
        by_kind: dict[Kind, list[str]] = {}
        for name in names:
            by_kind.setdefault(self.config.kind_of(name), []).append(name)
        observed: dict[str, Observed] = {}
        with ThreadPoolExecutor(max_workers=max(1, len(by_kind))) as pool:
            futures = [pool.submit(self._observe_kind, k, ns) for k, ns in by_kind.items()]
            for future in futures:
                observed.update(future.result())
        return {name: observed[name] for name in names}

    def _observe_kind(self, kind: Kind, names: list[str]) -> dict[str, Observed]:
        try:
            return self.drivers.of_kind(kind).observe(names)
        except PinbackError as exc:
            return {n: Observed(n, kind, None, error=str(exc)) for n in names}

    def snapshot(
        self, desired: DesiredState, only: str | None = None, among: Iterable[str] | None = None
    ) -> Snapshot:
        """Observe, check every drifted pin against what exists, and plan; ``only`` one
        target, or ``among`` some (a replica's shards), else all."""
        chosen = set(among) if among is not None else None
        every = self.drivers.names
        names = every(only) if chosen is None else [n for n in every() if n in chosen]
        observed = self.observe(names)
        checkable = [
            n
            for n in names
            if (pin := desired.pins.get(n)) is not None
            and pin.version is not None
            and observed[n].error is None
        ]
        workers = self.config.model.daemon.concurrency
        checks = fan_out(lambda n: self._preflight(n, desired, observed[n]), checkable, workers)
        resolved: dict[str, Resolved] = {}
        for name, check in zip(checkable, checks, strict=True):
            if isinstance(check, Resolved):
                resolved[name] = check
            else:
                observed[name] = check
        plan = make_plan(self.intents(desired, names), observed, resolved)
        return Snapshot(plan, observed, resolved)

    def _preflight(self, name: str, desired: DesiredState, seen: Observed) -> Resolved | Observed:
        """The pin checked against what exists, or the observation turned into an error."""
        pin = desired.pins[name]
        try:
            return self.drivers.of(name).preflight(name, pin, seen)
        except AwsCallFailed as exc:
            error = f"preflight failed: {exc}"
        except PinbackError as exc:
            error = str(exc)
        return Observed(name, seen.kind, seen.live, error=error)

    def intents(self, desired: DesiredState, names: Iterable[str]) -> list[Intent]:
        """What the planner is asked for each target: its pin, mode, order and freeze."""
        targets = self.config.model.targets
        frozen = freeze.active(
            [w.window() for w in self.config.model.freeze], dt.datetime.now(dt.UTC)
        )
        return [
            Intent(
                target=name,
                kind=self.config.kind_of(name),
                pin=desired.pins.get(name),
                mode=self.config.mode_of(name),
                after=tuple(after) if (after := targets[name].after) is not None else None,
                frozen=frozen,
                denials=self._denials(name, desired.pins.get(name)),
            )
            for name in names
        ]

    def _denials(self, name: str, pin: Pin | None) -> Mapping[str, str]:
        """Who denied the pinned version, read from the trail only when it is denied."""
        if (
            pin is None
            or pin.version is None
            or not pin.denies(pin.version, self.config.kind_of(name))
        ):
            return {}
        return self.denials(name)

    def versions(self, target: str, limit: int, checked: int = 0) -> list[VersionInfo]:
        """What ``target`` can be set to, newest first; the first ``checked`` versions older
        than the live one say whether a rollback to each would pass its checks now."""
        self.drivers.names(target)
        try:
            found = self._listed(target, limit)
            return self._checked(target, found, checked) if checked else found
        except AwsCallFailed as exc:
            raise ObserveFailed(f"listing the versions of {target} failed: {exc}") from None

    def _listed(self, target: str, limit: int, seen: Observed | None = None) -> list[VersionInfo]:
        """The driver's listing, with what the target ran that it no longer holds (a tag
        expired, a revision deregistered) put back, not ready (``daemon.core.waslive``)."""
        kind = self.config.kind_of(target)
        found = self.drivers.of(target).versions(target, limit, seen)
        if kind not in waslive.PLACED:
            return found
        history = self.was_live(target)
        if not history:
            return found
        live = next((v.version for v in found if v.live), None)
        if live is None:
            live = (seen or self.observe([target])[target]).live
        merged = waslive.with_was_live(kind, found, history, live, len(found) < limit)
        return merged[:limit]

    def readiness(
        self, names: Sequence[str], depth: int, stop: Callable[[], bool] = lambda: False
    ) -> dict[str, list[VersionInfo] | PinbackError]:
        """For each target, the ``depth`` versions before the live one, newest first, each
        checked as a rollback to it would be; or why they could not be read. The targets
        are observed together first (batched within a kind, as a pass does), so a check
        of a fleet costs about one listing a target, not an observation each. Once ``stop``
        says so, the targets not yet checked are answered ``WaitStopped`` at once."""
        observed = self.observe(names)

        def one(name: str) -> list[VersionInfo] | PinbackError:
            if stop():
                return WaitStopped("the readiness check was stopped")
            seen = observed[name]
            if seen.error is not None:
                return ObserveFailed(seen.error)
            try:
                found = self._listed(name, READINESS_LISTED, seen)
                checked = self._checked(name, found, depth, seen)
            except PinbackError as exc:
                return exc
            return [v for v in checked if v.ready is not None]

        answers = fan_out(one, names, self.config.model.daemon.concurrency)
        return dict(zip(names, answers, strict=True))

    def _checked(
        self, target: str, found: list[VersionInfo], count: int, seen: Observed | None = None
    ) -> list[VersionInfo]:
        """Rollback readiness: each older version preflighted as a rollback to it would be
        (its artifacts, revision, image or migration path), so a build deleted by a
        lifecycle rule is found before the incident that needs it."""
        live_at = next((i for i, v in enumerate(found) if v.live), None)
        if live_at is None:
            return found
        seen = seen or self.observe([target])[target]
        if seen.error is not None:
            return found
        older = found[live_at + 1 : live_at + 1 + count]
        workers = self.config.model.daemon.concurrency
        verdicts = fan_out(lambda v: self._ready(target, v.version, seen), older, workers)
        checked = [
            replace(version, ready=ready, why=why)
            for version, (ready, why) in zip(older, verdicts, strict=True)
        ]
        return found[: live_at + 1] + checked + found[live_at + 1 + count :]

    def _ready(self, target: str, version: str, seen: Observed) -> tuple[bool, str | None]:
        try:
            with checking_ahead():
                resolved = self.drivers.of(target).preflight(target, Pin(version), seen)
        except PinbackError as exc:
            return False, str(exc)
        if resolved.refused is not None:
            return False, resolved.refused
        if resolved.destructive:
            steps = "; ".join(resolved.destructive)
            return False, f"destructive ({steps}): pin it with allowDestructive: true"
        return True, None
