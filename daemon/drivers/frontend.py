"""The static frontend (ROLLBACK.md 3): a versioned S3 bucket behind CloudFront.

The live version is the ``git-commit`` metadata of ``index.html``. A rollback copies
the commit's build from the artifact prefix into the bucket server-side
(``copy_object``, concurrently, skipping objects whose ETag already matches), writes
``index.html`` last, deletes what the commit lacks (``s3 sync --delete``), invalidates
``/*`` and waits for the invalidation, and only then stamps the commit on
``index.html``: the marker says a commit is live only when all of it is, so a crash
half-way leaves the old marker and the next pass finishes the job (every step is safe to
repeat). A
visitor never gets a page pointing at assets that are not there yet: the new assets
land before the page that references them, and old ones go only after it.

With no artifacts for the commit and ``build`` configured, the commit is checked out
into a temporary git worktree, built, and uploaded the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from daemon.adapters.aws import AwsClients, error_code, error_message
from daemon.adapters.processes import GIT_TIMEOUT, Git
from daemon.core.fencing import in_context
from daemon.core.model import Action, Direction, Kind, Observed, Pin, Resolved, VersionInfo
from daemon.drivers import cloudfront, s3_headers
from daemon.drivers.base import Client, Progress, Started, Waiting, fan_out
from daemon.drivers.deploy_history import DeployHistory, by_history, by_times
from daemon.drivers.frontend_sources import Artifacts, Build, SourceObject, artifact_sources
from daemon.errors import ApplyFailed
from daemon.spec import FrontendTarget, LoadedConfig

MARKER = "git-commit"
INDEX = "index.html"
COPY_WORKERS = 16
DELETE_BATCH = 1000


class FrontendDriver:
    kind = Kind.FRONTEND
    _s3 = Client("s3")
    _cloudfront = Client("cloudfront")

    def __init__(
        self, targets: Mapping[str, FrontendTarget], clients: AwsClients, config: LoadedConfig
    ) -> None:
        self.targets = targets
        self.clients = clients
        self.config = config
        self._history = DeployHistory(lambda: self._s3, INDEX, MARKER)

    def observe(self, targets: Sequence[str]) -> dict[str, Observed]:
        return {name: self._observe_one(name) for name in targets}

    def _observe_one(self, name: str) -> Observed:
        spec = self.targets[name]
        try:
            head = self._s3.head_object(Bucket=spec.bucket, Key=INDEX)
        except ClientError as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return Observed(name, Kind.FRONTEND, live=None, detail={"index": "missing"})
            return _unobserved(
                name, f"reading s3://{spec.bucket}/{INDEX} failed: {error_message(exc)}"
            )
        except BotoCoreError as exc:
            return _unobserved(name, f"reading s3://{spec.bucket}/{INDEX} failed: {exc}")
        commit = head.get("Metadata", {}).get(MARKER)
        return Observed(
            name,
            Kind.FRONTEND,
            live=commit,
            detail={"versionId": str(head.get("VersionId") or "")},
        )

    def preflight(self, target: str, pin: Pin, observed: Observed) -> Resolved:
        assert pin.version is not None
        if observed.live and observed.live.startswith(pin.version):
            return Resolved(target, observed.live, rank=observed.rank)
        spec = self.targets[target]
        # Only the builds the pin can name and the live one are listed, both at once: an
        # artifact bucket keeps every build ever made, and listing all of it on every
        # preflight would grow with the site's history.
        pinned, live = fan_out(
            lambda start: self._artifact_commits(spec, start) if start else {},
            [pin.version, observed.live],
            2,
        )
        commits = {**live, **pinned}
        matches = sorted(pinned)
        if len(matches) > 1:
            return Resolved(
                target,
                pin.version,
                refused=f"commit {pin.version} is ambiguous: artifacts exist for {', '.join(matches)}",
            )
        if matches:
            live_time, pinned_time = commits.get(observed.live or ""), commits[matches[0]]
            direction, notes = self._direction(spec, observed.live, matches[0])
            return Resolved(
                target,
                matches[0],
                direction=direction or by_times(live_time, pinned_time),
                notes=notes,
            )
        if spec.build is not None:
            try:
                full = self._git(
                    spec, "rev-parse", "--verify", "--quiet", f"{pin.version}^{{commit}}"
                )
            except ApplyFailed:
                return Resolved(
                    target,
                    pin.version,
                    refused=f"commit {pin.version} has no artifacts and is not in the build repository",
                )
            direction, notes = self._direction(spec, observed.live, full)
            return Resolved(target, full, direction=direction, notes=notes)
        artifacts = spec.artifacts.replace("{commit}", pin.version)
        return Resolved(
            target,
            pin.version,
            refused=f"no build artifacts for commit {pin.version} under {artifacts}",
        )

    def _direction(
        self, spec: FrontendTarget, live: str | None, pinned: str
    ) -> tuple[Direction | None, tuple[str, ...]]:
        """From the deploy history, else git ancestry (``deploy_history`` says why); with a
        note when the history could not be read, so the plan says what the direction rests on
        (a role without ``s3:ListBucketVersions`` would otherwise guess silently)."""
        notes: tuple[str, ...] = ()
        try:
            order = self._history.order(spec.bucket)
        except (ClientError, BotoCoreError) as exc:  # a direction is a courtesy: never a block
            order = []
            why = error_message(exc)
            fallback = "git ancestry" if spec.build is not None else "the age of the builds"
            notes = (
                f"the deploy history of s3://{spec.bucket}/{INDEX} could not be read ({why}): "
                f"the direction comes from {fallback}",
            )
        found = by_history(order, live, pinned)
        if found is not None or spec.build is None or live is None:
            return found, notes
        for older, newer, direction in (
            (pinned, live, Direction.BACK),
            (live, pinned, Direction.FORWARD),
        ):
            try:
                self._git(spec, "merge-base", "--is-ancestor", older, newer)
            except ApplyFailed:  # not an ancestor (exit 1), or unknown to the repository
                continue
            return direction, notes
        return None, notes

    def _artifact_commits(self, spec: FrontendTarget, start: str = "") -> dict[str, float | None]:
        """Commits with artifacts (those starting with ``start``), with the time of their
        newest object."""
        artifacts = Artifacts.parse(spec.artifacts)
        commits: dict[str, float | None] = {}
        for page in self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=artifacts.bucket, Prefix=artifacts.prefix + start
        ):
            for item in page.get("Contents", []):
                commit = item["Key"][len(artifacts.prefix) :].split("/", 1)[0]
                stamp = item["LastModified"].timestamp()
                commits[commit] = max(stamp, commits.get(commit) or 0.0)
        return commits

    def apply(self, target: str, action: Action, progress: Progress) -> Started:
        spec = self.targets[target]
        commit = action.to_version
        artifacts = Artifacts.parse(spec.artifacts)
        with ThreadPoolExecutor(max_workers=1) as pool:  # both listings at once
            listing = pool.submit(in_context(self._live_objects), spec.bucket)
            sources = list(artifact_sources(self._s3, spec.bucket, artifacts, commit))
            live = listing.result()
        if sources:
            self._sync(target, action, sources, live, progress)
        elif spec.build is not None:
            with self._built(target, spec, commit, progress) as built:
                # A build takes minutes: the bucket is listed again as it is now.
                self._sync(target, action, built, self._live_objects(spec.bucket), progress)
        else:
            raise ApplyFailed(f"no build artifacts for commit {commit}")
        return cloudfront.invalidate(self._cloudfront, target, spec, commit, progress)

    def _sync(
        self,
        target: str,
        action: Action,
        sources: Sequence[SourceObject],
        live: Mapping[str, str | None],
        progress: Progress,
    ) -> None:
        spec, commit = self.targets[target], action.to_version
        index = next((s for s in sources if s.key == INDEX), None)
        if index is None:
            raise ApplyFailed(f"the build of {commit[:12]} has no {INDEX}")
        changed = [
            s for s in sources if s.key != INDEX and (s.etag is None or live.get(s.key) != s.etag)
        ]
        progress(
            target, f"copying {len(changed)} of {len(sources)} objects into s3://{spec.bucket}"
        )
        with ThreadPoolExecutor(max_workers=COPY_WORKERS) as pool:
            for future in [pool.submit(in_context(s.put), None) for s in changed]:
                future.result()
        # The new page goes up still carrying the old marker: the commit is stamped only
        # once stale keys are gone and the invalidation has completed (see wait), so a
        # controller that dies half-way sees the old version and finishes the job.
        previous = action.from_version
        index.put({MARKER: previous} if previous else {})
        stale = sorted(set(live) - {s.key for s in sources})
        if stale:
            progress(target, f"deleting {len(stale)} objects the build lacks")
        for start in range(0, len(stale), DELETE_BATCH):
            batch = [{"Key": k} for k in stale[start : start + DELETE_BATCH]]
            answer = self._s3.delete_objects(
                Bucket=spec.bucket, Delete={"Objects": batch, "Quiet": True}
            )
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise ApplyFailed(f"deleting {first.get('Key')} failed: {first.get('Code')}")

    def _live_objects(self, bucket: str) -> dict[str, str | None]:
        live: dict[str, str | None] = {}
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                live[item["Key"]] = item.get("ETag")
        return live

    def wait(self, target: str, action: Action, waiting: Waiting) -> None:
        cloudfront.wait(self._cloudfront, target, waiting)
        self._stamp(target, action.to_version)
        waiting.progress(target, f"index.html stamped {MARKER}: {action.to_version[:12]}")

    def _stamp(self, target: str, commit: str) -> None:
        """Mark the live page as the commit's, in place (metadata only), as the last step,
        keeping the headers and encryption it has now (``s3_headers``; read back: the page
        may have gone up in an earlier process, before a restart)."""
        bucket = self.targets[target].bucket
        head = self._s3.head_object(Bucket=bucket, Key=INDEX)
        extra: dict[str, Any] = {"ContentType": "text/html", **s3_headers.headers(head)}
        extra.update(s3_headers.encryption(head))
        self._s3.copy_object(
            Bucket=bucket,
            Key=INDEX,
            CopySource={"Bucket": bucket, "Key": INDEX},
            MetadataDirective="REPLACE",
            Metadata={**head.get("Metadata", {}), MARKER: commit},
            **extra,
        )

    def verify(self, target: str, action: Action) -> Observed:
        return self._observe_one(target)

    def versions(self, target: str, limit: int, seen: Observed | None = None) -> list[VersionInfo]:
        """Builds with artifacts, newest first; then the builds that were live before, in
        the order they were (the deploy history of ``index.html``, ROLLBACK.md 3.1),
        whether or not their artifacts remain: a build a lifecycle rule deleted stays in
        the list, where the readiness check says a rollback to it would be refused."""
        spec = self.targets[target]
        live = (seen or self._observe_one(target)).live
        commits = self._artifact_commits(spec)
        try:
            history = self._history.order(spec.bucket)  # oldest first
        except ClientError:  # not readable: the builds' times alone
            history = []
        deployed = set(history)
        fresh = [(c, t) for c, t in commits.items() if c not in deployed]
        ordered = sorted(fresh, key=lambda item: item[1] or 0.0, reverse=True)
        ordered += [(commit, commits.get(commit)) for commit in reversed(history)]
        return [
            VersionInfo(
                version=commit,
                time=dt.datetime.fromtimestamp(stamp, dt.UTC).isoformat() if stamp else None,
                live=commit == live,
            )
            for commit, stamp in ordered[:limit]
        ]

    # -- build from source ---------------------------------------------------------

    def _git(self, spec: FrontendTarget, *args: str) -> str:
        assert spec.build is not None
        repo = self.config.resolve(spec.build.repo)
        return Git(repo, ApplyFailed, timeout=max(GIT_TIMEOUT, spec.build.timeout))(*args)

    def _built(self, target: str, spec: FrontendTarget, commit: str, progress: Progress) -> Build:
        return Build(self._s3, lambda *args: self._git(spec, *args), target, spec, commit, progress)


def _unobserved(name: str, error: str) -> Observed:
    return Observed(target=name, kind=Kind.FRONTEND, live=None, error=error)
