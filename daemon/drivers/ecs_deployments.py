"""Reads of ECS's service deployments API (2024): a service's recent deployments with their
statuses, stages, rollbacks and source and target revisions
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-deployment.html).

Three calls a read: ``ListServiceDeployments`` (newest first), ``DescribeServiceDeployments``
of those, ``DescribeServiceRevisions`` of the revisions not seen before (a service revision
never changes, so each is read once per process). Where the API is not answered (an
endpoint without it, a role without ``ecs:ListServiceDeployments``, moto) the read says so
by returning None, and the driver falls back to ``DescribeServices``; it is then not asked
again for ``QUIET_FOR`` seconds, so a region without the API costs one failed call a minute,
not one a pass. The calls are made once each, never retried by botocore: a failure falls
back at once instead of holding a pass up for a retry's backoff.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from daemon.adapters.aws import error_code
from daemon.drivers.ecs_rollout import Deployment, deployment, revision_of

QUIET_FOR = 60.0
DESCRIBE_BATCH = 20  # DescribeServiceDeployments and DescribeServiceRevisions take 20 ARNs
NOT_FOUND = ("ServiceNotFoundException", "ClusterNotFoundException")


class DeploymentHistory:
    """One driver's reader of the deployments API, with the revisions it has resolved."""

    def __init__(self, ecs: Callable[[], Any], clock: Callable[[], float] = time.monotonic):
        self._ecs = ecs  # a client whose calls are tried once
        self._clock = clock
        self._lock = threading.Lock()
        self._revisions: dict[str, int] = {}
        self._quiet_until = 0.0
        self.unanswered: str | None = None  # why the API was not answered, last time
        # ECS's verdict on a revision, by (cluster, service, revision, current deployment).
        self._undone: dict[tuple[str, str, int, str], str | None] = {}

    def recent(self, cluster: str, service: str, limit: int = 20) -> list[Deployment] | None:
        """The service's ``limit`` deployments ListServiceDeployments answers (it names no
        order), sorted newest first by ``createdAt``; None when the API did not answer (use
        ``DescribeServices``)."""
        if self._clock() < self._quiet_until:
            return None
        client = self._ecs()
        try:
            briefs = client.list_service_deployments(
                cluster=cluster, service=service, maxResults=limit
            ).get("serviceDeployments", [])
            arns = [b["serviceDeploymentArn"] for b in briefs]
            documents = self._described(client, arns)
            self._resolve(client, documents)
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                return []
            self._unanswered(str(error_code(exc)))
            return None
        except BotoCoreError as exc:
            self._unanswered(exc.__class__.__name__)
            return None
        with self._lock:
            revisions = dict(self._revisions)
        found = [deployment(d, revisions) for d in documents]
        found.sort(key=lambda d: d.created.timestamp() if d.created else 0.0, reverse=True)
        return found

    def undone(self, cluster: str, service: str, revision: int, current: str) -> str | None:
        """ECS's reason when the newest deployment of ``revision`` is one ECS rolled back or
        failed by itself (circuit breaker, deployment alarms), else None. Read once per
        revision and deployment the service is on (``current``): a fleet that drifted costs
        one read a target, not one a pass; an unanswered read is asked again later."""
        key = (cluster, service, revision, current)
        with self._lock:
            if key in self._undone:
                return self._undone[key]
        recent = self.recent(cluster, service)
        newest = next((d for d in recent or [] if d.target == revision), None)
        verdict = None if newest is None else newest.rolled_back_by_ecs or newest.failed
        if recent is not None:
            with self._lock:
                self._undone[key] = verdict
        return verdict

    def one(self, arn: str) -> Deployment | None:
        """One deployment by ARN, afresh (a wait's poll); None when it cannot be read."""
        client = self._ecs()
        try:
            documents = self._described(client, [arn])
            self._resolve(client, documents)
        except (ClientError, BotoCoreError):
            return None
        with self._lock:
            revisions = dict(self._revisions)
        return deployment(documents[0], revisions) if documents else None

    def _described(self, client: Any, arns: Sequence[str]) -> list[dict[str, Any]]:
        documents: list[dict[str, Any]] = []
        for start in range(0, len(arns), DESCRIBE_BATCH):
            answer = client.describe_service_deployments(
                serviceDeploymentArns=list(arns[start : start + DESCRIBE_BATCH])
            )
            documents.extend(answer.get("serviceDeployments", []))
        return documents

    def _resolve(self, client: Any, documents: Sequence[dict[str, Any]]) -> None:
        """Learn the task-definition revision of every service revision named."""
        named = {
            s["arn"]
            for d in documents
            for s in [
                *(d.get("sourceServiceRevisions") or []),
                d.get("targetServiceRevision") or {},
            ]
            if s.get("arn")
        }
        with self._lock:
            unknown = sorted(named - set(self._revisions))
        for start in range(0, len(unknown), DESCRIBE_BATCH):
            answer = client.describe_service_revisions(
                serviceRevisionArns=unknown[start : start + DESCRIBE_BATCH]
            )
            with self._lock:
                for revision in answer.get("serviceRevisions", []):
                    self._revisions[revision["serviceRevisionArn"]] = revision_of(
                        revision["taskDefinition"]
                    )

    def _unanswered(self, why: str) -> None:
        with self._lock:
            self._quiet_until = self._clock() + QUIET_FOR
            self.unanswered = why
