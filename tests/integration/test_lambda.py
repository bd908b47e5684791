"""The Lambda driver against moto server (with ECR checking image tags), through the fault proxy."""

from __future__ import annotations

from pathlib import Path

from daemon.core.model import Outcome
from daemon.devtools import sandbox
from daemon.engine.engine import Engine
from daemon.spec import load_config
from tests.stands.service import Aws, Recorder, Service, config_copy


def running_digest(aws: Aws) -> str:
    return (
        "sha256:"
        + aws.client("lambda").get_function_configuration(FunctionName="leh-ai-worker")[
            "CodeSha256"
        ]
    )  # type: ignore[attr-defined]


def tag_digest(aws: Aws, tag: str) -> str:
    images = aws.client("ecr").describe_images(
        repositoryName="leh-ai-worker", imageIds=[{"imageTag": tag}]
    )  # type: ignore[attr-defined]
    return str(images["imageDetails"][0]["imageDigest"])


def test_rollback_runs_the_tags_image(service: Service, aws: Aws) -> None:
    """Pinning an older tag updates the function's image; the running digest is the tag's digest."""
    engine, desired = service.engine(ai_worker="v1.8.2")
    plan = engine.snapshot(desired).plan
    progress = Recorder()
    (result,) = engine.apply(plan, progress)
    assert result.outcome is Outcome.APPLIED and result.live_after == "v1.8.2"
    assert running_digest(aws) == tag_digest(aws, "v1.8.2")
    assert any("Successful" in line for line in progress.of("ai-worker"))


def test_missing_tag_is_refused_before_any_change(service: Service, aws: Aws) -> None:
    """A tag that is not in ECR is blocked with a sentence naming it; the function is untouched."""
    before = running_digest(aws)
    engine, desired = service.engine(ai_worker="v0.0.1")
    (action,) = engine.snapshot(desired).plan.actions
    assert action.blocked == "tag v0.0.1 does not exist in ECR repository leh-ai-worker"
    engine.apply(engine.snapshot(desired).plan)
    assert aws.proxy.seen("/functions/leh-ai-worker/code") == 0
    assert running_digest(aws) == before


def test_repushed_tag_is_drift_and_gets_redeployed(service: Service, aws: Aws) -> None:
    """A tag pushed again with a new image no longer matches what runs; apply deploys the new digest."""
    aws.client("ecr").put_image(  # type: ignore[attr-defined]
        repositoryName="leh-ai-worker",
        imageManifest=sandbox.image_manifest("hotfix rebuild"),
        imageTag="v1.9.0",
    )
    engine, desired = service.engine(ai_worker="v1.9.0")
    (action,) = engine.snapshot(desired).plan.actions
    assert action.from_version is not None and action.from_version.startswith("sha256:")
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.outcome is Outcome.APPLIED
    assert running_digest(aws) == tag_digest(aws, "v1.9.0")
    assert engine.snapshot(desired).plan.changes == 0


def test_failed_update_is_a_failure_with_the_reason(service: Service, aws: Aws) -> None:
    """LastUpdateStatus Failed ends the wait with Lambda's reason."""
    engine, desired = service.engine(ai_worker="v1.8.2")
    plan = engine.snapshot(desired).plan
    aws.proxy.add(
        "GET /2015-03-31/functions/leh-ai-worker/configuration",
        "rewrite",
        count=-1,
        set={"LastUpdateStatus": "Failed", "LastUpdateStatusReason": "image layer not found"},
    )
    (result,) = engine.apply(plan)
    assert result.outcome is Outcome.FAILED
    assert result.error == "Lambda update failed: image layer not found"


def test_update_in_progress_is_waited_on(service: Service, aws: Aws) -> None:
    """LastUpdateStatus InProgress after the update is polled until Successful."""
    engine, desired = service.engine(ai_worker="v1.8.2")
    plan = engine.snapshot(desired).plan
    aws.proxy.add(
        "GET /2015-03-31/functions/leh-ai-worker/configuration",
        "rewrite",
        count=2,
        after="PUT /2015-03-31/functions/leh-ai-worker/code",
        set={"LastUpdateStatus": "InProgress"},
    )
    progress = Recorder()
    (result,) = engine.apply(plan, progress)
    assert result.outcome is Outcome.APPLIED
    lines = progress.of("ai-worker")
    assert any("InProgress" in line for line in lines) and "Successful" in lines[-2]


def test_many_functions_are_listed_not_read_one_by_one(aws: Aws, tmp_path: Path) -> None:
    """30 functions over 3 repositories cost one listing and one describe_images per
    repository (after the first look, which reads each function modified in the last
    minutes once: the listing does not say whether its update has finished)."""
    role = sandbox.lambda_role(aws.moto)
    targets = ""
    for repo in range(3):
        sandbox.seed_images(aws.moto, f"repo-{repo}", ("v1", "v2"))
    for index in range(30):
        repo = f"repo-{index % 3}"
        uri = f"{sandbox.ACCOUNT}.dkr.ecr.{sandbox.REGION}.amazonaws.com/{repo}:v2"
        aws.client("lambda").create_function(
            FunctionName=f"fn-{index}", Role=role, PackageType="Image", Code={"ImageUri": uri}
        )  # type: ignore[attr-defined]
        targets += f"  fn-{index}: {{kind: lambda, function: fn-{index}, repository: {repo}}}\n"
    path = tmp_path / "fleet.yaml"
    path.write_text(
        f"apiVersion: pinback/v1\nkind: Config\naws: {{region: ap-northeast-2}}\ntargets:\n{targets}"
    )
    engine = Engine(load_config(path))
    names = list(engine.config.model.targets)
    engine.observe(names)  # made moments ago: each is read once (an update may still run)
    aws.proxy.clear()
    observed = engine.observe(names)
    assert {o.live for o in observed.values()} == {"v2"}
    assert [c for c in aws.proxy.calls if "/functions" in c] == [" GET /2015-03-31/functions"]
    assert aws.proxy.seen("DescribeImages") == 3


def test_a_tag_whose_image_ecr_deleted_is_refused(service: Service, aws: Aws) -> None:
    """An ECR lifecycle policy deleted the image of v1.8.0: the pin is blocked at preflight
    naming the tag (https://docs.aws.amazon.com/AmazonECR/latest/userguide/LifecyclePolicies.html)."""
    aws.client("ecr").batch_delete_image(  # type: ignore[attr-defined]
        repositoryName="leh-ai-worker", imageIds=[{"imageTag": "v1.8.0"}]
    )
    engine, desired = service.engine(ai_worker="v1.8.0")
    (action,) = engine.snapshot(desired).plan.actions
    assert action.blocked == "tag v1.8.0 does not exist in ECR repository leh-ai-worker"
    assert aws.proxy.seen("UpdateFunctionCode") == 0


# -- aliases (DESIGN section 9) ------------------------------------------------------------

ALIASED = {"    repository: leh-ai-worker\n": "    repository: leh-ai-worker\n    alias: live\n"}


def alias_version(aws: Aws) -> str:
    alias = aws.client("lambda").get_alias(FunctionName="leh-ai-worker", Name="live")  # type: ignore[attr-defined]
    return str(alias["FunctionVersion"])


def lambda_writes(aws: Aws) -> list[str]:
    """The Lambda requests that change something, in order: PUT code, POST versions, PUT alias."""
    return [
        c
        for c in aws.proxy.calls
        if "/2015-03-31/functions/leh-ai-worker/" in c and c.split(" ")[1] in ("PUT", "POST")
    ]


def push_tag(aws: Aws, tag: str) -> None:
    aws.client("ecr").put_image(  # type: ignore[attr-defined]
        repositoryName="leh-ai-worker",
        imageManifest=sandbox.image_manifest(f"leh-ai-worker:{tag}"),
        imageTag=tag,
    )


def test_with_an_alias_live_is_what_the_alias_runs(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """Someone pointed the alias at version 2 (v1.8.0) by hand while $LATEST runs v1.9.0:
    the alias is what serves traffic, so live is v1.8.0 and the pin v1.9.0 is drift."""
    aws.client("lambda").update_alias(
        FunctionName="leh-ai-worker", Name="live", FunctionVersion="2"
    )  # type: ignore[attr-defined]
    engine, desired = service.engine(config_copy(tmp_path, ALIASED), ai_worker="v1.9.0")
    snapshot = engine.snapshot(desired)
    assert snapshot.observed["ai-worker"].live == "v1.8.0"
    (action,) = snapshot.plan.actions
    assert (action.from_version, action.to_version) == ("v1.8.0", "v1.9.0")


def test_an_alias_rollback_is_one_update_alias_call(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """v1.8.0 is published (version 2): the rollback re-points the alias, the one call AWS
    recommends (https://docs.aws.amazon.com/lambda/latest/dg/configuration-aliases.html);
    nothing is re-published and $LATEST is left alone."""
    engine, desired = service.engine(config_copy(tmp_path, ALIASED), ai_worker="v1.8.0")
    plan = engine.snapshot(desired).plan
    aws.proxy.clear()
    (result,) = engine.apply(plan)
    assert result.outcome is Outcome.APPLIED and result.live_after == "v1.8.0"
    assert lambda_writes(aws) == [" PUT /2015-03-31/functions/leh-ai-worker/aliases/live"]
    assert alias_version(aws) == "2"
    assert running_digest(aws) == tag_digest(aws, "v1.9.0")  # $LATEST untouched


def test_a_tag_never_published_is_deployed_published_and_aliased(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """v2.0.0 was pushed but never published: code, wait, publish, then the alias."""
    push_tag(aws, "v2.0.0")
    engine, desired = service.engine(config_copy(tmp_path, ALIASED), ai_worker="v2.0.0")
    plan = engine.snapshot(desired).plan
    aws.proxy.clear()
    (result,) = engine.apply(plan)
    assert result.outcome is Outcome.APPLIED and result.live_after == "v2.0.0"
    writes = [c.rsplit("/", 1)[-1] for c in lambda_writes(aws)]
    assert writes == ["code", "versions", "live"]
    assert alias_version(aws) == "5"
