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

import contextlib
import datetime as dt
import mimetypes
import os
import shutil
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from daemon.adapters.aws import AwsClients, error_code, error_message
from daemon.core.fencing import in_context
from daemon.core.model import Action, Direction, Kind, Observed, Pin, Resolved, VersionInfo
from daemon.drivers.base import NOTHING_STARTED, Progress, Started, fan_out, wait_until
from daemon.drivers.deploy_history import DeployHistory, by_history, by_times
from daemon.errors import ApplyFailed, ConfigError
from daemon.spec import FrontendTarget, LoadedConfig

MARKER = "git-commit"
INDEX = "index.html"
COPY_WORKERS = 16
DELETE_BATCH = 1000
DISTRIBUTION, INVALIDATION = "distribution", "invalidation"  # what wait watches (Started)


@dataclass(frozen=True)
class Artifacts:
    bucket: str
    prefix: str  # the part before {commit}

    @classmethod
    def parse(cls, template: str) -> Artifacts:
        rest = template.removeprefix("s3://")
        bucket, _, key = rest.partition("/")
        return cls(bucket, key.split("{commit}", 1)[0])

    def of(self, commit: str) -> str:
        return f"{self.prefix}{commit}/"


@dataclass(frozen=True)
class SourceObject:
    """One file of a build, wherever it lies; ``put`` writes it to the live bucket."""

    key: str
    etag: str | None
    put: Callable[[dict[str, str] | None], dict[str, Any]]
    """Writes the object, with ``metadata`` in place of its own when given; returns the
    headers it set (empty when the object kept its own)."""


class FrontendDriver:
    kind = Kind.FRONTEND

    def __init__(
        self, targets: Mapping[str, FrontendTarget], clients: AwsClients, config: LoadedConfig
    ) -> None:
        self.targets = targets
        self.clients = clients
        self.config = config
        self._history = DeployHistory(lambda: self._s3, INDEX, MARKER)

    @property
    def _s3(self) -> Any:
        return self.clients.client("s3")

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
            sources = list(self._artifact_sources(spec, artifacts, commit))
            live = listing.result()
        if sources:
            self._sync(target, action, sources, live, progress)
        elif spec.build is not None:
            with self._built(target, spec, commit, progress) as built:
                # A build takes minutes: the bucket is listed again as it is now.
                self._sync(target, action, built, self._live_objects(spec.bucket), progress)
        else:
            raise ApplyFailed(f"no build artifacts for commit {commit}")
        return self._invalidate(target, spec, commit, progress)

    def _artifact_sources(
        self, spec: FrontendTarget, artifacts: Artifacts, commit: str
    ) -> Iterator[SourceObject]:
        prefix = artifacts.of(commit)
        for page in self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=artifacts.bucket, Prefix=prefix
        ):
            for item in page.get("Contents", []):
                key = item["Key"][len(prefix) :]
                if key:
                    yield SourceObject(
                        key,
                        item.get("ETag"),
                        self._copier(spec, artifacts.bucket, item["Key"], key),
                    )

    def _copier(
        self, spec: FrontendTarget, bucket: str, source_key: str, key: str
    ) -> Callable[[dict[str, str] | None], dict[str, Any]]:
        def put(metadata: dict[str, str] | None) -> dict[str, Any]:
            extra: dict[str, Any] = {}
            if metadata is not None:
                head = self._s3.head_object(Bucket=bucket, Key=source_key)
                extra = {
                    "MetadataDirective": "REPLACE",
                    "Metadata": {**head.get("Metadata", {}), **metadata},
                    "ContentType": head.get("ContentType") or _content_type(key),
                }
                if head.get("CacheControl"):
                    extra["CacheControl"] = head["CacheControl"]
            self._s3.copy_object(
                Bucket=spec.bucket,
                Key=key,
                CopySource={"Bucket": bucket, "Key": source_key},
                **extra,
            )
            return extra

        return put

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

    def _distribution(self, spec: FrontendTarget) -> str | None:
        if spec.distribution_id:
            return spec.distribution_id
        if spec.distribution_id_env:
            value = os.environ.get(spec.distribution_id_env)
            if not value:
                raise ConfigError(
                    f"environment variable {spec.distribution_id_env} (the CloudFront distribution id) is not set"
                )
            return value
        return None

    def _invalidate(
        self, target: str, spec: FrontendTarget, commit: str, progress: Progress
    ) -> Started:
        distribution = self._distribution(spec)
        if distribution is None:
            return NOTHING_STARTED
        answer = self.clients.client("cloudfront").create_invalidation(
            DistributionId=distribution,
            InvalidationBatch={
                "Paths": {"Quantity": 1, "Items": ["/*"]},
                "CallerReference": f"pinback-{target}-{commit[:12]}-{uuid.uuid4().hex[:8]}",
            },
        )
        invalidation = answer["Invalidation"]["Id"]
        progress(target, f"CloudFront invalidation {invalidation} of /* on {distribution}")
        return {DISTRIBUTION: distribution, INVALIDATION: invalidation}

    def wait(
        self,
        target: str,
        action: Action,
        progress: Progress,
        deadline: float,
        stop: threading.Event | None = None,
        started: Started = NOTHING_STARTED,
    ) -> None:
        if INVALIDATION in started:
            invalidation = (started[DISTRIBUTION], started[INVALIDATION])
            self._wait_invalidation(target, invalidation, progress, deadline, stop)
        self._stamp(target, action.to_version)
        progress(target, f"index.html stamped {MARKER}: {action.to_version[:12]}")

    def _stamp(self, target: str, commit: str) -> None:
        """Mark the live page as the commit's, in place (metadata only), as the last step,
        keeping the headers it has now (read back: the page may have gone up in an earlier
        process, before a restart)."""
        bucket = self.targets[target].bucket
        head = self._s3.head_object(Bucket=bucket, Key=INDEX)
        extra: dict[str, Any] = {"ContentType": head.get("ContentType") or "text/html"}
        if head.get("CacheControl"):
            extra["CacheControl"] = head["CacheControl"]
        self._s3.copy_object(
            Bucket=bucket,
            Key=INDEX,
            CopySource={"Bucket": bucket, "Key": INDEX},
            MetadataDirective="REPLACE",
            Metadata={**head.get("Metadata", {}), MARKER: commit},
            **extra,
        )

    def _wait_invalidation(
        self,
        target: str,
        started: tuple[str, str],
        progress: Progress,
        deadline: float,
        stop: threading.Event | None,
    ) -> None:
        distribution, invalidation = started
        cloudfront = self.clients.client("cloudfront")

        def check() -> tuple[bool, str]:
            status = cloudfront.get_invalidation(DistributionId=distribution, Id=invalidation)[
                "Invalidation"
            ]["Status"]
            # moto says COMPLETED, AWS says Completed.
            return str(status).lower() == "completed", f"invalidation {status}"

        wait_until(
            check,
            target=target,
            what="CloudFront invalidation",
            deadline=deadline,
            progress=progress,
            stop=stop,
        )

    def verify(self, target: str, action: Action) -> Observed:
        return self._observe_one(target)

    def versions(self, target: str, limit: int) -> list[VersionInfo]:
        spec = self.targets[target]
        live = self._observe_one(target).live
        commits = self._artifact_commits(spec)
        ordered = sorted(commits.items(), key=lambda item: item[1] or 0.0, reverse=True)
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
        done = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise ApplyFailed(f"git {args[0]} failed: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout.strip()

    def _built(self, target: str, spec: FrontendTarget, commit: str, progress: Progress) -> _Build:
        return _Build(self, target, spec, commit, progress)


class _Build:
    """Context manager: a worktree at the commit, built, yielding its output as sources."""

    def __init__(
        self,
        driver: FrontendDriver,
        target: str,
        spec: FrontendTarget,
        commit: str,
        progress: Progress,
    ) -> None:
        self.driver, self.target, self.spec, self.commit, self.progress = (
            driver,
            target,
            spec,
            commit,
            progress,
        )
        self.tmp = Path(tempfile.mkdtemp(prefix="pinback-build-"))

    def __enter__(self) -> list[SourceObject]:
        build = self.spec.build
        assert build is not None
        tree = self.tmp / "tree"
        self.driver._git(self.spec, "worktree", "add", "--detach", str(tree), self.commit)
        workdir = tree / build.workdir
        self.progress(self.target, f"building {self.commit[:12]}: {build.command}")
        try:
            done = subprocess.run(
                build.command,
                shell=True,
                cwd=workdir,
                capture_output=True,
                text=True,
                timeout=build.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ApplyFailed(
                f"the build of {self.commit[:12]} took longer than {build.timeout:.0f}s"
            ) from None
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise ApplyFailed(
                f"the build of {self.commit[:12]} failed (exit {done.returncode}): {' | '.join(tail)}"
            )
        output = workdir / build.output
        if not output.is_dir():
            raise ApplyFailed(f"the build did not produce {build.output}/")
        return [
            self._uploader(path, path.relative_to(output).as_posix())
            for path in sorted(output.rglob("*"))
            if path.is_file()
        ]

    def _uploader(self, path: Path, key: str) -> SourceObject:
        s3 = self.driver._s3
        bucket = self.spec.bucket

        def put(metadata: dict[str, str] | None) -> dict[str, Any]:
            extra: dict[str, Any] = {"ContentType": _content_type(key)}
            if metadata:
                extra["Metadata"] = metadata
            with path.open("rb") as body:
                s3.put_object(Bucket=bucket, Key=key, Body=body, **extra)
            return extra

        return SourceObject(key, None, put)

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(ApplyFailed):
            self.driver._git(self.spec, "worktree", "remove", "--force", str(self.tmp / "tree"))
        shutil.rmtree(self.tmp, ignore_errors=True)


def _content_type(key: str) -> str:
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


def _unobserved(name: str, error: str) -> Observed:
    return Observed(target=name, kind=Kind.FRONTEND, live=None, error=error)
