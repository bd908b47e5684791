"""Which way a frontend change goes: back to a commit that was live before, or forward.

A commit hash says nothing about order, and artifacts uploaded together share a time,
so the plan used to say ``direction: none`` for every frontend change. The bucket keeps
the answer (ROLLBACK.md 3.1): every deploy wrote a new version of ``index.html``
stamped with its commit, so the order in which commits *first* went live is the release
order. A commit that went live earlier than the live one is a roll-back; one that went
live later (or never) is a roll-forward. When the history does not name both, git
ancestry decides (a build repository is configured), else the age of the builds.

Reading the history costs one ``ListObjectVersions`` and a ``HeadObject`` per version
not seen before: a version's metadata never changes, so it is kept.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from daemon.core.model import Direction

DEPTH = 50  # deploys looked back over; older ones are left to git or build times


class DeployHistory:
    """``index.html``'s versions in one bucket, read into the order commits first went live."""

    def __init__(self, s3: Callable[[], Any], key: str, marker: str) -> None:
        self._s3 = s3
        self._key = key
        self._marker = marker
        self._commits: dict[tuple[str, str], str | None] = {}  # (bucket, versionId) -> commit
        self._lock = threading.Lock()

    def order(self, bucket: str) -> list[str]:
        """Commits in the order they first went live, oldest first (the last ``DEPTH``
        deploys); empty when the bucket is not versioned."""
        answer = self._s3().list_object_versions(Bucket=bucket, Prefix=self._key, MaxKeys=DEPTH)
        versions = [
            v for v in answer.get("Versions", []) if v["Key"] == self._key and v.get("VersionId")
        ]
        order: list[str] = []
        for version in reversed(versions):  # S3 lists a key's versions newest first
            commit = self._commit(bucket, str(version["VersionId"]))
            if commit and commit not in order:
                order.append(commit)
        return order

    def _commit(self, bucket: str, version: str) -> str | None:
        with self._lock:
            if (bucket, version) in self._commits:
                return self._commits[(bucket, version)]
        head = self._s3().head_object(Bucket=bucket, Key=self._key, VersionId=version)
        found = head.get("Metadata", {}).get(self._marker)
        commit = str(found) if found else None
        with self._lock:
            self._commits[(bucket, version)] = commit
        return commit


def by_history(order: Sequence[str], live: str | None, pinned: str) -> Direction | None:
    """BACK when ``pinned`` first went live before ``live``, FORWARD when after or never
    (a new build), None when the history does not show ``live``."""
    if live is None or live not in order:
        return None
    if pinned not in order:
        return Direction.FORWARD
    return Direction.BACK if order.index(pinned) < order.index(live) else Direction.FORWARD


def by_times(live_time: float | None, pinned_time: float | None) -> Direction | None:
    """By the age of the builds' artifacts; None when they tie or one is unknown."""
    if live_time is None or pinned_time is None or live_time == pinned_time:
        return None
    return Direction.FORWARD if pinned_time > live_time else Direction.BACK
