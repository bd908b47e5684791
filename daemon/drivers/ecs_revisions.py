"""An ECS family's task-definition revisions: listed ACTIVE, each read once.

A registered revision never changes but for its status (``ACTIVE`` or ``INACTIVE``), so its
containers, images and registration time are read once per process; the ACTIVE listing is
read afresh each time ``pinback versions`` or the readiness check asks. Within a readiness
check (``checking_ahead``), a revision listed ACTIVE in the last ``LISTING_FRESH`` seconds
needs no call of its own: a check of a fleet costs about one listing a family.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from daemon.drivers.base import checked_ahead

LISTING_FRESH = 30.0  # seconds a listing of ACTIVE revisions stands for their status


def family_revision(task_definition: str) -> tuple[str, int]:
    """``arn:...:task-definition/web:7`` or ``web:7`` -> ``("web", 7)``."""
    name = task_definition.rsplit("/", 1)[-1]
    family, _, revision = name.rpartition(":")
    return family, int(revision)


class Revisions:
    """The task definitions one driver has read, and the ACTIVE revisions it last listed."""

    def __init__(self, ecs: Callable[[], Any]) -> None:
        self._ecs = ecs
        self._lock = threading.Lock()
        self._definitions: dict[str, dict[str, Any]] = {}  # by ARN; immutable once registered
        # The ACTIVE revisions listed last, per family: when, and by name.
        self._listed: dict[str, tuple[float, dict[str, str]]] = {}

    def active(self, family: str) -> list[str]:
        """The family's ACTIVE revisions' ARNs, newest first."""
        arns: list[str] = []
        paginator = self._ecs().get_paginator("list_task_definitions")
        for page in paginator.paginate(familyPrefix=family, status="ACTIVE"):
            arns.extend(a for a in page["taskDefinitionArns"] if family_revision(a)[0] == family)
        # Sorted here: not every ECS endpoint honours sort=DESC, and one family is small.
        arns.sort(key=lambda arn: family_revision(arn)[1], reverse=True)
        with self._lock:
            self._listed[family] = (time.monotonic(), {a.rsplit("/", 1)[-1]: a for a in arns})
        return arns

    def current(self, family: str, name: str) -> dict[str, Any]:
        """``family:revision`` with its status now: from a listing moments ago within a
        readiness check, else read afresh (a rollback must see a revision deregistered a
        second ago). Raises botocore's ``ClientException`` for a revision that never was."""
        listed = self._just_listed(family, name)
        if listed is not None:
            return listed
        found: dict[str, Any] = self._ecs().describe_task_definition(taskDefinition=name)[
            "taskDefinition"
        ]
        return found

    def read(self, arn: str) -> dict[str, Any]:
        """A registered revision, read once."""
        with self._lock:
            kept = self._definitions.get(arn)
        if kept is None:
            kept = self._ecs().describe_task_definition(taskDefinition=arn)["taskDefinition"]
            with self._lock:
                self._definitions[arn] = kept
        return kept

    def _just_listed(self, family: str, name: str) -> dict[str, Any] | None:
        if not checked_ahead():
            return None
        with self._lock:
            when, arns = self._listed.get(family, (0.0, {}))
            arn = arns.get(name)
            definition = self._definitions.get(arn) if arn else None
        if definition is None or time.monotonic() - when > LISTING_FRESH:
            return None
        return {**definition, "status": "ACTIVE"}
