"""Where a frontend build's files come from: the artifact prefix of the commit (copied
server-side, ``copy_object``), or, with ``build`` configured and no artifacts, a git
worktree at the commit, built, and uploaded. Either way each file is a ``SourceObject``
whose ``put`` writes it to the live bucket, so the driver's sync treats both alike."""

from __future__ import annotations

import contextlib
import mimetypes
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemon.adapters import environment, processes
from daemon.drivers import s3_headers
from daemon.drivers.base import Progress
from daemon.errors import ApplyFailed
from daemon.spec import FrontendTarget

Git = Callable[..., str]  # git(*args) in the build repository; raises ApplyFailed


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


def artifact_sources(
    s3: Any, live_bucket: str, artifacts: Artifacts, commit: str
) -> Iterator[SourceObject]:
    """The commit's files under the artifact prefix, each copied server-side when put."""
    prefix = artifacts.of(commit)
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=artifacts.bucket, Prefix=prefix
    ):
        for item in page.get("Contents", []):
            key = item["Key"][len(prefix) :]
            if key:
                yield SourceObject(
                    key,
                    item.get("ETag"),
                    _copier(s3, live_bucket, artifacts.bucket, item["Key"], key),
                )


def _copier(
    s3: Any, live_bucket: str, bucket: str, source_key: str, key: str
) -> Callable[[dict[str, str] | None], dict[str, Any]]:
    def put(metadata: dict[str, str] | None) -> dict[str, Any]:
        """Copy it server-side with its headers (kept by S3's default COPY directive) and
        its encryption (which a copy would otherwise take from the live bucket's default);
        with ``metadata``, every header given again (``s3_headers``)."""
        head = s3.head_object(Bucket=bucket, Key=source_key)
        extra: dict[str, Any] = s3_headers.encryption(head)
        if metadata is not None:
            extra.update(
                MetadataDirective="REPLACE",
                Metadata={**head.get("Metadata", {}), **metadata},
                **{"ContentType": content_type(key), **s3_headers.headers(head)},
            )
        s3.copy_object(
            Bucket=live_bucket, Key=key, CopySource={"Bucket": bucket, "Key": source_key}, **extra
        )
        return extra

    return put


class Build:
    """Context manager: a worktree at the commit, built, yielding its output as sources."""

    def __init__(
        self, s3: Any, git: Git, target: str, spec: FrontendTarget, commit: str, progress: Progress
    ) -> None:
        self.s3, self.git = s3, git
        self.target, self.spec, self.commit, self.progress = target, spec, commit, progress
        self.tmp = Path(tempfile.mkdtemp(prefix="pinback-build-"))

    def __enter__(self) -> list[SourceObject]:
        build = self.spec.build
        assert build is not None
        tree = self.tmp / "tree"
        self.git("worktree", "add", "--detach", str(tree), self.commit)
        workdir = tree / build.workdir
        self.progress(self.target, f"building {self.commit[:12]}: {build.command}")
        env = environment.for_child({}, build.env)  # none of the controller's secrets
        done = processes.run(build.command, build.timeout, cwd=workdir, env=env)
        if done.timed_out:
            raise ApplyFailed(
                f"the build of {self.commit[:12]} took longer than {build.timeout:.0f}s"
            )
        if done.error is not None:
            raise ApplyFailed(f"the build of {self.commit[:12]} could not start: {done.error}")
        if not done.ok:
            raise ApplyFailed(
                f"the build of {self.commit[:12]} failed (exit {done.code}): {done.tail(3)}"
            )
        output = workdir / build.output
        if not output.is_dir() or output.is_symlink():
            raise ApplyFailed(f"the build did not produce {build.output}/")
        return [
            self._uploader(path, path.relative_to(output).as_posix())
            for path in plain_files(output, self.commit)
        ]

    def _uploader(self, path: Path, key: str) -> SourceObject:
        s3 = self.s3
        bucket = self.spec.bucket

        def put(metadata: dict[str, str] | None) -> dict[str, Any]:
            extra: dict[str, Any] = {"ContentType": content_type(key)}
            if metadata:
                extra["Metadata"] = metadata
            with path.open("rb") as body:
                s3.put_object(Bucket=bucket, Key=key, Body=body, **extra)
            return extra

        return SourceObject(key, None, put)

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(ApplyFailed):
            self.git("worktree", "remove", "--force", str(self.tmp / "tree"))
        shutil.rmtree(self.tmp, ignore_errors=True)


def plain_files(output: Path, commit: str) -> list[Path]:
    """Every file under ``output``, refusing a symlink anywhere in it (a build must not
    upload what lies outside its output: a link to the controller's env file or its audit
    database would publish it on the site)."""
    root = output.resolve()
    found: list[Path] = []
    for folder, folders, files in os.walk(output, followlinks=False):
        for name in [*folders, *files]:
            path = Path(folder) / name
            inside = path.resolve().is_relative_to(root)
            if path.is_symlink() or not inside:
                shown = path.relative_to(output).as_posix()
                raise ApplyFailed(
                    f"the build of {commit[:12]} has a symbolic link in its output, "
                    f"{shown} -> {os.readlink(path) if path.is_symlink() else path.resolve()}: "
                    "refused (a build's output must be plain files)"
                )
        found.extend(Path(folder) / name for name in files)
    return sorted(found)


def content_type(key: str) -> str:
    return mimetypes.guess_type(key)[0] or "application/octet-stream"
