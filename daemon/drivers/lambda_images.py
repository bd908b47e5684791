"""The ECR images a Lambda function can run: one ``DescribeImages`` listing a repository,
read once a pass and shared by every function that uses it.

A target's ``repository`` is a repository name in the controller's own account and region,
or a repository URI (``123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/leh-ai-worker``):
a central registry in another account. Such registries often grant pulls only: a listing
refused for want of ``ecr:DescribeImages`` is not an error of the target but a repository
pinback cannot see into (``Repository.denied``), and the driver then goes by the tag the
function was deployed with.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from daemon.adapters.aws import error_code, error_message
from daemon.drivers import ecr_images

URI = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/(?P<name>.+)$"
)


@dataclass(frozen=True)
class Image:
    digest: str  # "sha256:..."
    tags: tuple[str, ...]
    pushed_at: dt.datetime | None


@dataclass(frozen=True)
class Where:
    """A repository: its name, and the registry (account) holding it when not our own."""

    name: str
    registry: str | None = None
    uri: str | None = None  # as configured, when it was a URI

    @classmethod
    def of(cls, repository: str) -> Where:
        match = URI.match(repository)
        if match is None:
            return cls(repository)
        return cls(match["name"], match["account"], repository)

    def ids(self) -> dict[str, str]:
        """The ``repositoryName`` (and ``registryId``) arguments of an ECR call."""
        return {
            "repositoryName": self.name,
            **({"registryId": self.registry} if self.registry else {}),
        }


class Repository:
    """One ECR repository's images, newest first (pushes within a second keep the
    listing's order, latest last); or, when pinback may not list it, ``denied`` saying why."""

    def __init__(self, images: list[Image], denied: str | None = None) -> None:
        oldest = dt.datetime.min.replace(tzinfo=dt.UTC)
        ranked = sorted(
            enumerate(images), key=lambda p: (p[1].pushed_at or oldest, p[0]), reverse=True
        )
        self.images = [image for _, image in ranked]
        self.by_tag = {tag: image for image in images for tag in image.tags}
        self.by_digest = {image.digest: image for image in images}
        self.denied = denied


def read(ecr: Any, where: Where) -> Repository:
    """List the repository (ACTIVE images: what ``DescribeImages`` returns by default)."""
    images = []
    try:
        for page in ecr.get_paginator("describe_images").paginate(**where.ids()):
            for detail in page["imageDetails"]:
                images.append(
                    Image(
                        detail["imageDigest"],
                        tuple(detail.get("imageTags", [])),
                        detail.get("imagePushedAt"),
                    )
                )
    except ClientError as exc:
        if error_code(exc) not in ecr_images.DENIED:
            raise
        return Repository([], denied=f"{error_message(exc)}")
    return Repository(images)


def missing_tag(ecr: Any, where: Where, tag: str) -> str:
    """Why ``tag`` is not among the repository's ACTIVE images: archived (restore it first),
    being restored, or not there at all."""
    try:
        answer = ecr.describe_images(
            **where.ids(), imageIds=[{"imageTag": tag}], filter={"imageStatus": "ANY"}
        )
    except ClientError as exc:
        if error_code(exc) not in ("ImageNotFoundException", *ecr_images.DENIED):
            raise
        answer = {}
    for detail in answer.get("imageDetails") or []:
        why = ecr_images.archived(str(detail.get("imageStatus") or ""), f"tag {tag}")
        if why is not None:
            return why
    return f"tag {tag} does not exist in ECR repository {where.name}"


def uri(ecr: Any, where: Where) -> str:
    """The repository's URI, for ``ImageUri``: as configured, else ECR's answer."""
    if where.uri is not None:
        return where.uri
    registry = {"registryId": where.registry} if where.registry else {}
    answer = ecr.describe_repositories(repositoryNames=[where.name], **registry)
    return str(answer["repositories"][0]["repositoryUri"])
