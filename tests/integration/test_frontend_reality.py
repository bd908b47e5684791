"""The frontend driver against S3 and CloudFront as they behave: headers and encryption
kept through the copy and the stamp, and an invalidation in progress that a retried apply
waits for instead of starting another."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from daemon.core.model import Outcome
from daemon.devtools import sandbox
from tests.stands.realistic.cloudfront import CloudFrontWorld
from tests.stands.service import COMMITS, Aws, Service, config_copy

HEADERS = {
    "ContentType": "text/html; charset=utf-8",
    "ContentEncoding": "gzip",
    "ContentDisposition": "inline",
    "ContentLanguage": "ko",
    "CacheControl": "no-cache",
    "WebsiteRedirectLocation": "/ko/index.html",
}
EXPIRES = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)


def test_the_stamped_page_keeps_its_headers_and_encryption(service: Service, aws: Aws) -> None:
    """The build's index.html is pre-compressed (Content-Encoding: gzip), with a language,
    a disposition, an expiry, a website redirect and SSE: after the rollback the live page
    (copied, then re-stamped with git-commit) carries every one of them
    (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html: a REPLACE copy keeps
    only what it is given)."""
    s3 = aws.client("s3")
    key = f"builds/{COMMITS[1]}/index.html"
    s3.put_object(  # type: ignore[attr-defined]
        Bucket="leh-frontend-artifacts",
        Key=key,
        Body=b"\x1f\x8b compressed page",
        Expires=EXPIRES,
        ServerSideEncryption="AES256",
        **HEADERS,
    )
    engine, desired = service.engine(frontend=COMMITS[1][:7])
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.outcome is Outcome.APPLIED, result.error
    live = s3.head_object(Bucket="leh-frontend-prod", Key="index.html")  # type: ignore[attr-defined]
    assert live["Metadata"]["git-commit"] == COMMITS[1]
    assert {name: live.get(name) for name in HEADERS} == HEADERS
    assert live["Expires"] == EXPIRES
    assert live["ServerSideEncryption"] == "AES256"


def test_a_retried_apply_waits_for_its_invalidation_instead_of_starting_another(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """The first apply times out while its /* invalidation is still InProgress; the retry
    finds that invalidation (its caller reference names the target and commit) and waits
    for it: one invalidation in all (CloudFront allows 15 in progress)."""
    world = aws.proxy.add_world(CloudFrontWorld(seconds=3.0))
    assert isinstance(world, CloudFrontWorld)
    config = config_copy(tmp_path, {"timeout: 10m": "timeout: 1s"})
    engine, desired = service.engine(config, frontend=COMMITS[1][:7])
    (first,) = engine.apply(engine.snapshot(desired).plan)
    assert first.outcome is Outcome.FAILED
    assert first.error is not None and "InProgress" in first.error
    patient = config_copy(tmp_path, {"timeout: 10m": "timeout: 30s"})
    engine, desired = service.engine(patient, frontend=COMMITS[1][:7])
    (second,) = engine.apply(engine.snapshot(desired).plan)
    assert second.outcome is Outcome.APPLIED, second.error
    assert world.created == 1
    cloudfront = sandbox.client(aws.endpoint, "cloudfront")
    distribution = service.aws.client("cloudfront").list_distributions()["DistributionList"][
        "Items"
    ][0]["Id"]  # type: ignore[attr-defined]
    listed = cloudfront.list_invalidations(DistributionId=distribution)["InvalidationList"]
    assert listed["Quantity"] == 1
