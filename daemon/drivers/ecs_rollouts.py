"""An ECS service's rollouts as pinback follows them: read (from the deployments API when
something is going on), stopped with ECS's own rollback, and waited on until ECS says done.

The ECS driver holds one ``Rollouts``; this is where its deployment logic lives (the driver
keeps observation batches, preflight and the revisions). The rules it follows are
``ecs_rollout``'s; the reads are ``ecs_deployments``'.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from daemon.adapters.aws import error_code, error_message
from daemon.drivers.base import Progress, Waiting, wait_until
from daemon.drivers.ecs_deployments import DeploymentHistory
from daemon.drivers.ecs_revisions import family_revision
from daemon.drivers.ecs_rollout import Deployment, Rollout, rollout
from daemon.errors import ApplyFailed, Held
from daemon.spec import EcsTarget

ROLLING_BACK = "serviceDeployment"  # the deployment StopServiceDeployment rolls back (Started)
NOT_STOPPABLE = (
    "ConflictException",
    "ServiceDeploymentNotFoundException",
    "InvalidParameterException",
)
HISTORY_FRESH = 2.0  # seconds a read of the deployments API serves one pass's observe and preflight

Describe = Callable[[str], dict[str, Any] | None]  # target -> its DescribeServices entry, afresh


class Rollouts:
    def __init__(
        self,
        targets: Mapping[str, EcsTarget],
        history: DeploymentHistory,
        ecs: Callable[[], Any],
        describe: Describe,
    ) -> None:
        self.targets = targets
        self.history = history
        self._ecs = ecs
        self._describe = describe
        self._lock = threading.Lock()
        self._recent: dict[tuple[str, str], tuple[float, list[Deployment] | None]] = {}

    def of(self, name: str, service: dict[str, Any]) -> Rollout:
        """From ``DescribeServices``; when a deployment is going on or went wrong, from the
        deployments API too (a quiet service costs no more calls than before)."""
        seen = rollout(service)
        quiet = not (seen.rolling or seen.failed or seen.rolled_back)
        if quiet and len(service.get("deployments") or []) <= 1:
            return seen
        recent = self.recent(name)
        return rollout(service, recent[0]) if recent else seen

    def recent(self, name: str, fresh: bool = False) -> list[Deployment] | None:
        """The service's newest deployments (None: the API did not answer); one read serves
        a pass's observe and preflight, an apply or a wait reads afresh."""
        spec = self.targets[name]
        key = (spec.cluster, spec.service)
        now = time.monotonic()
        with self._lock:
            kept = self._recent.get(key)
        if kept is not None and not fresh and now - kept[0] < HISTORY_FRESH:
            return kept[1]
        found = self.history.recent(spec.cluster, spec.service)
        with self._lock:
            self._recent[key] = (now, found)
        return found

    def roll_back_in_flight(self, target: str, want: int, progress: Progress) -> str | None:
        """Stop the in-flight deployment whose source is ``want`` with ECS's own rollback;
        its ARN, or None when there is none to stop (then ``UpdateService``)."""
        recent = self.recent(target, fresh=True) or []
        current = recent[0] if recent else None
        if current is None or not current.can_roll_back or want not in current.sources:
            return None
        if current.target == want:
            return None
        # ECS rolls back to the last successfully deployed revision, which must be ``want``.
        last_good = next((d for d in recent[1:] if d.status == "SUCCESSFUL"), None)
        if last_good is None or last_good.target != want:
            return None
        progress(
            target,
            f"StopServiceDeployment(ROLLBACK) of the deployment of revision {current.target} "
            f"({current.line()}): revision {want}'s tasks still run",
        )
        try:
            self._ecs().stop_service_deployment(
                serviceDeploymentArn=current.arn, stopType="ROLLBACK"
            )
        except ClientError as exc:
            if error_code(exc) not in NOT_STOPPABLE:
                raise
            progress(target, f"ECS would not stop it ({error_message(exc)}): a new deployment")
            return None
        return current.arn

    def wait(self, target: str, want: int, waiting: Waiting, early: bool) -> None:
        """Until the service is on ``want`` and ECS says its deployment is done; ``early``:
        return once a blue/green, linear or canary deployment bakes (blue still up), so the
        gates judge it while a rollback is a traffic flip. The deadline is at least the
        deployment's own bake and step times plus the target's timeout, and a paused hook's
        own timeout plus it."""
        spec = self.targets[target]
        stopping = waiting.started.get(ROLLING_BACK)
        timeout = max(0.0, waiting.deadline - time.monotonic())
        deadline = [waiting.deadline]
        extended: set[str] = set()

        def check() -> tuple[bool, str]:
            service = self._describe(target)
            if service is None:
                raise ApplyFailed(f"ECS service {spec.service} disappeared during the rollout")
            _, revision = family_revision(service["taskDefinition"])
            if stopping is not None:
                return self._rolled_back(stopping, service, revision, want)
            recent = self.recent(target, fresh=True) or []
            current = next((d for d in recent if d.target == want), None)
            if current is not None and current.arn not in extended:
                extended.add(current.arn)  # the deployment's own bake and steps, then ours
                deadline[0] = max(deadline[0], waiting.deadline + current.own_time)
            hook = current.hook if current is not None else None
            if hook is not None and hook.awaiting and hook.expires is not None:
                left = (hook.expires - dt.datetime.now(dt.UTC)).total_seconds()
                deadline[0] = max(deadline[0], time.monotonic() + max(0.0, left) + timeout)
            state = rollout(service, current)
            _undone(state, current, revision, want)
            if early and current is not None and current.ongoing and current.stage == "BAKE_TIME":
                return True, f"{state.status} (the gates judge it while blue still runs)"
            # An older deployment of ``want`` may be listed before the new one is: done only
            # when DescribeServices agrees nothing is rolling out.
            rolling = state.rolling or (current is not None and rollout(service).rolling)
            return (not rolling), state.status

        wait_until(check, target, "ECS deployment", waiting, deadline=lambda: deadline[0])

    def _rolled_back(
        self, arn: str, service: dict[str, Any], revision: int, want: int
    ) -> tuple[bool, str]:
        """A poll of a rollback pinback asked for: done once ECS says ROLLBACK_SUCCESSFUL
        and the service is back on ``want``."""
        current = self.history.one(arn)
        if current is None:  # unreadable now: the service itself tells
            state = rollout(service)
            return (revision == want and not state.rolling), f"rolling back, {state.status}"
        if current.status == "ROLLBACK_FAILED":
            raise ApplyFailed(f"ECS could not roll the deployment back: {current.reason}")
        if current.status in ("ROLLBACK_SUCCESSFUL", "STOPPED") and revision != want:
            raise ApplyFailed(
                f"ECS's rollback ended {current.status} on revision {revision}, not {want}"
            )
        done = current.status == "ROLLBACK_SUCCESSFUL" and revision == want
        return done, f"ECS rollback: {current.line()}"


def _undone(state: Rollout, current: Deployment | None, revision: int, want: int) -> None:
    """Raise when the deployment of ``want`` was undone, failed, or overtaken."""
    if state.rolled_back == want and revision != want:
        raise Held(
            f"ECS rolled the deployment of revision {want} back to revision {revision} "
            f"by itself: {state.rolled_back_reason}"
        )
    if current is not None and current.status.startswith("ROLLBACK") and revision != want:
        why = current.rollback_reason or current.reason or current.status
        raise Held(f"ECS rolled the deployment of revision {want} back: {why}")
    if state.failed:
        raise Held(f"ECS deployment failed: {state.failed}")
    if revision != want:
        raise ApplyFailed(
            f"the service moved to revision {revision} while pinback waited for {want}"
        )
