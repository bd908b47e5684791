"""The audit anchors' bucket (DESIGN section 12): checking it is locked, writing the chain's
head into it, listing what was written, and checking a trail against that listing.

Writes go through clients of their own with short timeouts and two attempts: an anchor is
written by a thread of its own and at shutdown, and a bucket that stops answering must
never hold up either for long. pinback never deletes or overwrites an anchor: every key is
new (time, seq and hash), and the bucket's Object Lock keeps each one for its retention.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from daemon.adapters.audit import AuditLog
from daemon.adapters.aws import AwsClients, error_code, error_message
from daemon.core.anchors import Anchor, Verdict, judge, parse_key
from daemon.errors import AnchorUnavailable, ConfigError
from daemon.spec import AnchorSettings, LoadedConfig

READ_TIMEOUT = 5.0  # seconds one attempt may wait: anchoring never holds anything up
# Answers that say the bucket cannot keep anchors as they must be kept; anything else
# (a timeout, a 5xx, throttling) says nothing about the bucket and is tried again later.
REFUSALS = {
    "NoSuchBucket",
    "ObjectLockConfigurationNotFoundError",
    "AccessDenied",
    "AllAccessDisabled",
    "InvalidBucketName",
}


@dataclass(frozen=True)
class Written:
    """An anchor that is in the bucket, and where."""

    anchor: Anchor
    key: str


class AnchorStore:
    """One trail's anchors: ``settings.bucket`` under ``settings.prefix``."""

    def __init__(self, settings: AnchorSettings, clients: AwsClients) -> None:
        self.settings = settings
        self.clients = clients

    @classmethod
    def of(cls, config: LoadedConfig) -> AnchorStore | None:
        """The config's anchor store, with the config's own AWS account and role (the
        trail is one for every environment); None when anchors are not configured."""
        settings = config.model.audit.anchor
        if settings is None:
            return None
        aws = config.model.aws
        clients = AwsClients(aws.region, role_arn=aws.role_arn, read_timeout=READ_TIMEOUT)
        return cls(settings, clients)

    @property
    def where(self) -> str:
        return f"s3://{self.settings.bucket}/{self.settings.prefix}"

    def require_lock(self) -> None:
        """``ConfigError`` when the bucket cannot keep anchors unchanged (no such bucket,
        no Object Lock, no default retention, no permission to look); ``AnchorUnavailable``
        when it did not answer (try later, do not refuse to run over it)."""
        bucket = self.settings.bucket
        try:
            found = self.clients.client("s3").get_object_lock_configuration(Bucket=bucket)
        except ClientError as exc:
            if error_code(exc) in REFUSALS:
                raise ConfigError(
                    f"audit.anchor.bucket {bucket}: {_lock_sentence(error_code(exc))} "
                    f"({error_message(exc)})"
                ) from None
            raise AnchorUnavailable(f"{self.where}: {error_message(exc)}") from None
        except BotoCoreError as exc:
            raise AnchorUnavailable(f"{self.where}: {exc}") from None
        lock = found.get("ObjectLockConfiguration", {})
        if lock.get("ObjectLockEnabled") != "Enabled":
            raise ConfigError(f"audit.anchor.bucket {bucket}: {_lock_sentence('disabled')}")
        if not lock.get("Rule", {}).get("DefaultRetention"):
            raise ConfigError(
                f"audit.anchor.bucket {bucket} has Object Lock but no default retention, so an "
                "anchor written there could be deleted; give it a default retention in "
                "compliance mode (put-object-lock-configuration)"
            )

    def write(self, anchor: Anchor, controller: str) -> Written:
        """Write ``anchor`` as a new object; ``AnchorUnavailable`` when the bucket refused
        or did not answer."""
        key = anchor.key(self.settings.prefix)
        body = {
            "seq": anchor.seq,
            "hash": anchor.hash,
            "time": anchor.time.astimezone(dt.UTC).isoformat(),
            "controller": controller,
        }
        try:
            self.clients.client("s3").put_object(
                Bucket=self.settings.bucket,
                Key=key,
                Body=json.dumps(body).encode(),
                ContentType="application/json",
            )
        except (ClientError, BotoCoreError) as exc:
            raise AnchorUnavailable(f"writing {self.where}: {error_message(exc)}") from None
        return Written(anchor, key)

    def listed(self) -> list[Anchor]:
        """Every anchor under the prefix, oldest first (a listing call per thousand)."""
        found: list[Anchor] = []
        try:
            pages = self.clients.client("s3").get_paginator("list_objects_v2")
            for page in pages.paginate(Bucket=self.settings.bucket, Prefix=self.settings.prefix):
                for item in page.get("Contents", []):
                    anchor = parse_key(self.settings.prefix, item["Key"])
                    if anchor is not None:
                        found.append(anchor)
        except (ClientError, BotoCoreError) as exc:
            raise AnchorUnavailable(f"reading {self.where}: {error_message(exc)}") from None
        return sorted(found, key=lambda a: (a.time, a.seq))


def anchor_now(trail: AuditLog) -> Anchor:
    """The chain's head as it is now."""
    seq, hash_ = trail.head()
    return Anchor(seq, hash_, dt.datetime.now(dt.UTC))


def check(trail: AuditLog, anchors: list[Anchor]) -> Verdict:
    """``anchors`` (listed before this reads the trail) against the trail: one query for
    the last record, one per thousand anchors for their hashes."""
    last_seq, _ = trail.head()
    hashes = trail.hashes(a.seq for a in anchors if 0 < a.seq <= last_seq)
    return judge(anchors, last_seq, hashes)


def _lock_sentence(code: str) -> str:
    if code == "NoSuchBucket":
        return "no such bucket"
    if code in ("AccessDenied", "AllAccessDisabled"):
        return (
            "cannot read its Object Lock configuration (s3:GetBucketObjectLockConfiguration "
            "is needed)"
        )
    return (
        "the bucket has no Object Lock, so whoever can delete objects there could delete "
        "an anchor; create it with Object Lock and a default retention in compliance mode"
    )
