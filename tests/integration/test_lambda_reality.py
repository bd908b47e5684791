"""The Lambda driver against Lambda as it runs (``tests.stands.realistic.lambda_functions``):
weighted aliases, RevisionId on UpdateAlias, updates that take time and refuse a second
one, a listing that does not say an update is running, and ECR across accounts."""

from __future__ import annotations

import json
from pathlib import Path

from daemon.core.model import Outcome
from daemon.devtools import sandbox
from daemon.engine.engine import Engine
from daemon.spec import load_config
from tests.stands.realistic.lambda_functions import LambdaWorld, routed
from tests.stands.service import TAGS, Aws, Service, config_copy

ALIASED = {"    repository: leh-ai-worker\n": "    repository: leh-ai-worker\n    alias: live\n"}
FUNCTION = "leh-ai-worker"


def lambdas(aws: Aws, update_seconds: float = 1.0) -> LambdaWorld:
    world = aws.proxy.add_world(LambdaWorld(update_seconds))
    assert isinstance(world, LambdaWorld)
    world.animate(FUNCTION)
    return world


def alias(aws: Aws) -> dict[str, object]:
    found: dict[str, object] = sandbox.client(aws.endpoint, "lambda").get_alias(
        FunctionName=FUNCTION, Name="live"
    )
    return found


def test_a_weighted_alias_is_drift_and_a_rollback_clears_the_weights(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """The alias sends 10% of its traffic to version 3 besides version 4 (v1.9.0): the pin
    v1.9.0 is not wholly live, so it is drift; applying it points the alias at version 4
    alone (https://docs.aws.amazon.com/lambda/latest/dg/configuring-alias-routing.html)."""
    aws.client("lambda").update_alias(  # type: ignore[attr-defined]
        FunctionName=FUNCTION,
        Name="live",
        FunctionVersion="4",
        RoutingConfig={"AdditionalVersionWeights": {"3": 0.1}},
    )
    engine, desired = service.engine(config_copy(tmp_path, ALIASED), ai_worker=TAGS[-1])
    plan = engine.snapshot(desired).plan
    (action,) = plan.actions
    assert not action.wait_only and action.blocked is None
    assert any("routes 10% to version 3" in note for note in action.notes), action.notes
    (result,) = engine.apply(plan)
    assert result.outcome is Outcome.APPLIED, result.error
    assert routed(alias(aws)) == {} and alias(aws)["FunctionVersion"] == "4"  # type: ignore[arg-type]
    assert engine.snapshot(desired).plan.actions == ()


def test_update_alias_carries_the_revision_id_it_read(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """Every UpdateAlias names the RevisionId of the alias as pinback read it, so AWS refuses
    it (PreconditionFailedException) when someone changed the alias meanwhile
    (https://docs.aws.amazon.com/lambda/latest/api/API_UpdateAlias.html)."""
    lambdas(aws)
    before = alias(aws)["RevisionId"]
    aws.proxy.keep_bodies = True
    try:
        engine, desired = service.engine(config_copy(tmp_path, ALIASED), ai_worker="v1.8.0")
        (result,) = engine.apply(engine.snapshot(desired).plan)
        bodies = [json.loads(b) for s, b in aws.proxy.bodies if "/aliases/live" in s and "PUT" in s]
    finally:
        aws.proxy.keep_bodies = False
    assert result.outcome is Outcome.APPLIED, result.error
    assert [b.get("RevisionId") for b in bodies] == [before]


def test_a_running_update_is_waited_out_before_another(service: Service, aws: Aws) -> None:
    """Someone's update is still InProgress when the pin moves: pinback waits for it to end
    instead of sending an UpdateFunctionCode that Lambda refuses with
    ResourceConflictException (https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html)."""
    world = lambdas(aws, update_seconds=2.0)
    uri = f"{sandbox.ACCOUNT}.dkr.ecr.{sandbox.REGION}.amazonaws.com/{FUNCTION}:{TAGS[1]}"
    sandbox.client(aws.endpoint, "lambda").update_function_code(FunctionName=FUNCTION, ImageUri=uri)
    engine, desired = service.engine(ai_worker=TAGS[0])
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.outcome is Outcome.APPLIED and result.live_after == TAGS[0], result.error
    assert world.conflicts == []


def test_an_update_in_progress_is_seen_when_the_listing_does_not_say(
    aws: Aws, tmp_path: Path
) -> None:
    """With many functions pinback lists them (ListFunctions), which carries no
    LastUpdateStatus on AWS: a function updated moments ago is read on its own, and its
    update in progress is seen."""
    world = aws.proxy.add_world(LambdaWorld(update_seconds=30.0))
    assert isinstance(world, LambdaWorld)
    role = sandbox.lambda_role(aws.moto)
    sandbox.seed_images(aws.moto, "repo", ("v1", "v2"))
    targets = ""
    for index in range(26):
        uri = f"{sandbox.ACCOUNT}.dkr.ecr.{sandbox.REGION}.amazonaws.com/repo:v1"
        aws.client("lambda").create_function(  # type: ignore[attr-defined]
            FunctionName=f"fn-{index}", Role=role, PackageType="Image", Code={"ImageUri": uri}
        )
        targets += f"  fn-{index}: {{kind: lambda, function: fn-{index}, repository: repo}}\n"
    path = tmp_path / "fleet.yaml"
    path.write_text(
        f"apiVersion: pinback/v1\nkind: Config\naws: {{region: ap-northeast-2}}\ntargets:\n{targets}"
    )
    engine = Engine(load_config(path))
    names = list(engine.config.model.targets)
    engine.observe(names)
    world.animate("fn-7")
    uri = f"{sandbox.ACCOUNT}.dkr.ecr.{sandbox.REGION}.amazonaws.com/repo:v2"
    sandbox.client(aws.endpoint, "lambda").update_function_code(FunctionName="fn-7", ImageUri=uri)
    observed = engine.observe(names)
    assert observed["fn-7"].in_progress == "LastUpdateStatus InProgress"
    assert [n for n, o in observed.items() if o.in_progress] == ["fn-7"]


def test_an_image_in_another_accounts_registry_that_may_not_be_described(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """The worker's images live in a central registry (another account) that grants pulls
    only: DescribeImages is denied. The pin is not blocked (a warning on the plan), the
    image URI names that registry, and live is read from the tag deployed."""
    central = f"{sandbox.ACCOUNT}.dkr.ecr.{sandbox.REGION}.amazonaws.com/{FUNCTION}"
    config = config_copy(
        tmp_path, {f"    repository: {FUNCTION}\n": f"    repository: {central}\n"}
    )
    aws.proxy.add(
        "DescribeImages",
        "answer",
        count=-1,
        error="AccessDeniedException",
        message="User is not authorized to perform: ecr:DescribeImages on the central registry",
    )
    engine, desired = service.engine(config, ai_worker="v1.8.0")
    snapshot = engine.snapshot(desired)
    assert snapshot.observed["ai-worker"].live == TAGS[-1]
    (action,) = snapshot.plan.actions
    assert action.blocked is None
    assert any("could not be listed" in note for note in action.notes), action.notes
    (result,) = engine.apply(snapshot.plan)
    assert result.outcome is Outcome.APPLIED and result.live_after == "v1.8.0", result.error
    assert aws.proxy.seen("DescribeRepositories") == 0
