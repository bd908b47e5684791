"""Can an ECR image still be pulled? Asked before a rollback runs it (DESIGN sections 9, 13).

ECR as it is shared and kept:

- a lifecycle policy deletes old images: a rollback to a revision or tag that runs one fails
  mid-incident with ``CannotPullContainerError``, so it is refused first, naming the image;
- an image moved to the archive storage class (``imageStatus`` ``ARCHIVED``) cannot be pulled
  until ``UpdateImageStorageClass`` restores it; ``DescribeImages`` lists only ``ACTIVE``
  images unless its filter asks for others
  (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_DescribeImagesFilter.html),
  so a missing image is asked for again with ``imageStatus: ANY`` to tell the two apart;
- a central registry in another account often grants pulls only
  (``ecr:BatchGetImage``), not ``ecr:DescribeImages``: an image pinback may not describe is a
  warning on the plan, never a block (the pull permission is what the service needs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from daemon.adapters.aws import error_code, error_message

IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/"
    r"(?P<repository>[^:@]+)(?::(?P<tag>[^@]+))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
DENIED = ("AccessDeniedException", "AccessDenied")
RESTORE = "UpdateImageStorageClass with targetStorageClass STANDARD"


@dataclass(frozen=True)
class Verdict:
    """Why the image cannot be pulled (``refused``), or what could not be checked (``note``)."""

    refused: str | None = None
    note: str | None = None


PULLABLE = Verdict()


def archived(status: str | None, what: str) -> str | None:
    """The sentence for an image in ``status`` that cannot be pulled, or None when it can."""
    if status == "ARCHIVED":
        return f"{what} is archived in ECR (imageStatus ARCHIVED): restore it with {RESTORE} first"
    if status == "ACTIVATING":
        return f"{what} is being restored from the ECR archive (imageStatus ACTIVATING): wait until it is ACTIVE"
    return None


def check(ecr: Any, image: str, region: str) -> Verdict:
    """Whether ``image`` (a container image reference) can be pulled now. Images outside
    ECR, or in another region's ECR, are not checked."""
    match = IMAGE.match(image)
    if match is None or match["region"] != region:
        return PULLABLE
    repository = match["repository"]
    wanted = {"imageDigest": match["digest"]} if match["digest"] else {}
    if not wanted:
        wanted = {"imageTag": match["tag"] or "latest"}
    where = {"registryId": match["account"], "repositoryName": repository}
    try:
        ecr.describe_images(**where, imageIds=[wanted])
    except ClientError as exc:
        code = error_code(exc)
        if code in DENIED:
            return Verdict(
                note=f"{image} could not be checked in ECR ({error_message(exc)}): not verified"
            )
        if code == "RepositoryNotFoundException":
            return Verdict(refused=f"ECR repository {repository} does not exist")
        if code != "ImageNotFoundException":
            raise
        status = _status_of_any(ecr, where, wanted)
        if status is not None:
            why = archived(status, "that image")
            return Verdict(refused=why) if why else PULLABLE
        return Verdict(
            refused=f"that image is no longer in ECR repository {repository} (a lifecycle policy may have deleted it)"
        )
    return PULLABLE


def _status_of_any(ecr: Any, where: dict[str, str], wanted: dict[str, str]) -> str | None:
    """The image's ``imageStatus`` among all storage classes, or None when it is gone."""
    try:
        answer = ecr.describe_images(**where, imageIds=[wanted], filter={"imageStatus": "ANY"})
    except ClientError as exc:
        if error_code(exc) == "ImageNotFoundException":
            return None
        raise
    details = answer.get("imageDetails") or []
    return str(details[0].get("imageStatus") or "ACTIVE") if details else None
