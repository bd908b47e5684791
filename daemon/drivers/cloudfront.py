"""The frontend's CloudFront step (ROLLBACK.md 3.2): invalidate ``/*`` after the bucket
changed, and wait until the invalidation has completed. What ``invalidate`` started is
handed back (``Started``) for ``wait`` to watch.

An apply retried after its wait failed (a timeout, a restart) finds the invalidation it
already started for the same commit, still in progress, and waits for that one instead of
starting another: CloudFront allows 15 wildcard invalidations in progress per distribution
(https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/cloudfront-limits.html#limits-invalidations),
and a retry storm would reach it. Its ``CallerReference`` names the target and the commit.
"""

from __future__ import annotations

import uuid
from typing import Any

from daemon.adapters import environment
from daemon.drivers.base import NOTHING_STARTED, Progress, Started, Waiting, wait_until
from daemon.spec import FrontendTarget

DISTRIBUTION, INVALIDATION = "distribution", "invalidation"


def distribution_of(spec: FrontendTarget) -> str | None:
    """The target's distribution id, from the config or its environment variable."""
    if spec.distribution_id:
        return spec.distribution_id
    if spec.distribution_id_env:
        return environment.required(spec.distribution_id_env, "the CloudFront distribution id")
    return None


def invalidate(
    cloudfront: Any, target: str, spec: FrontendTarget, commit: str, progress: Progress
) -> Started:
    """Invalidate ``/*`` on the target's distribution; nothing when it has none."""
    distribution = distribution_of(spec)
    if distribution is None:
        return NOTHING_STARTED
    ours = f"pinback-{target}-{commit[:12]}-"
    running = _in_progress(cloudfront, distribution, ours)
    if running is not None:
        progress(
            target,
            f"CloudFront invalidation {running} of /* on {distribution}, already running for this commit",
        )
        return {DISTRIBUTION: distribution, INVALIDATION: running}
    answer = cloudfront.create_invalidation(
        DistributionId=distribution,
        InvalidationBatch={
            "Paths": {"Quantity": 1, "Items": ["/*"]},
            "CallerReference": f"{ours}{uuid.uuid4().hex[:8]}",
        },
    )
    invalidation = answer["Invalidation"]["Id"]
    progress(target, f"CloudFront invalidation {invalidation} of /* on {distribution}")
    return {DISTRIBUTION: distribution, INVALIDATION: invalidation}


def _in_progress(cloudfront: Any, distribution: str, reference: str) -> str | None:
    """The id of an invalidation in progress whose ``CallerReference`` starts with
    ``reference`` (this target's, for this commit), or None. The listing is newest first and
    names no caller reference, so each one in progress (at most 15) is read."""
    listing = cloudfront.list_invalidations(DistributionId=distribution, MaxItems="20")
    for item in (listing.get("InvalidationList") or {}).get("Items") or []:
        if str(item.get("Status", "")).lower() != "inprogress":
            continue
        found = cloudfront.get_invalidation(DistributionId=distribution, Id=item["Id"])
        batch = found["Invalidation"].get("InvalidationBatch") or {}
        if str(batch.get("CallerReference", "")).startswith(reference):
            return str(item["Id"])
    return None


def wait(cloudfront: Any, target: str, waiting: Waiting) -> None:
    """Until the invalidation ``invalidate`` started has completed (nothing to wait for
    when it started none)."""
    started = waiting.started
    if INVALIDATION not in started:
        return
    distribution, invalidation = started[DISTRIBUTION], started[INVALIDATION]

    def check() -> tuple[bool, str]:
        status = cloudfront.get_invalidation(DistributionId=distribution, Id=invalidation)[
            "Invalidation"
        ]["Status"]
        # moto says COMPLETED, AWS says Completed.
        return str(status).lower() == "completed", f"invalidation {status}"

    wait_until(check, target, "CloudFront invalidation", waiting)
