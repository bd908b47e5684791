"""Which IAM actions one AWS call needs, so a policy can be checked against what was called.

Most actions are the operation's own name under the service's prefix. S3 is the exception:
its actions are named after what they touch, and reading or copying a given *version* of an
object needs its own action
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

S3_ACTIONS = {
    "ListObjectsV2": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions",
    "PutObject": "s3:PutObject",
    "DeleteObject": "s3:DeleteObject",
    "DeleteObjects": "s3:DeleteObject",
    "GetObjectLockConfiguration": "s3:GetBucketObjectLockConfiguration",
}


def actions_for(service: str, operation: str, params: Mapping[str, Any]) -> list[str]:
    """The IAM actions a call of ``operation`` with these parameters needs."""
    if service != "s3":
        return [f"{service}:{operation}"]
    if operation in ("HeadObject", "GetObject"):
        return [_read(bool(params.get("VersionId")))]
    if operation == "CopyObject":  # writes the destination, reads the source
        source = params.get("CopySource")
        versioned = (
            "versionId=" in source
            if isinstance(source, str)
            else isinstance(source, Mapping) and bool(source.get("VersionId"))
        )
        return ["s3:PutObject", _read(versioned)]
    return [S3_ACTIONS.get(operation, f"s3:{operation}")]


def _read(versioned: bool) -> str:
    return "s3:GetObjectVersion" if versioned else "s3:GetObject"
