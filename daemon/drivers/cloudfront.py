"""The frontend's CloudFront step (ROLLBACK.md 3.2): invalidate ``/*`` after the bucket
changed, and wait until the invalidation has completed. What ``invalidate`` started is
handed back (``Started``) for ``wait`` to watch."""

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
    answer = cloudfront.create_invalidation(
        DistributionId=distribution,
        InvalidationBatch={
            "Paths": {"Quantity": 1, "Items": ["/*"]},
            "CallerReference": f"pinback-{target}-{commit[:12]}-{uuid.uuid4().hex[:8]}",
        },
    )
    invalidation = answer["Invalidation"]["Id"]
    progress(target, f"CloudFront invalidation {invalidation} of /* on {distribution}")
    return {DISTRIBUTION: distribution, INVALIDATION: invalidation}


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
