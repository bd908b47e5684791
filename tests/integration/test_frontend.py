"""The frontend driver: S3 sync from artifacts or a build, then a CloudFront invalidation."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from daemon.core.model import Outcome
from daemon.devtools import sandbox
from tests.stands.gitrepo import git, new_repo
from tests.stands.service import COMMITS, Aws, Recorder, Service, config_copy

BUCKET = "leh-frontend-prod"


def live_keys(aws: Aws) -> set[str]:
    listing = aws.client("s3").list_objects_v2(Bucket=BUCKET)  # type: ignore[attr-defined]
    return {o["Key"] for o in listing.get("Contents", [])}


def live_marker(aws: Aws) -> str:
    return str(
        aws.client("s3").head_object(Bucket=BUCKET, Key="index.html")["Metadata"]["git-commit"]
    )  # type: ignore[attr-defined]


def test_rollback_makes_the_bucket_equal_to_the_build(service: Service, aws: Aws) -> None:
    """After a rollback the bucket holds exactly the commit's files, stamped, and /* is invalidated."""
    old = COMMITS[1]
    engine, desired = service.engine(frontend=old[:7])
    (action,) = engine.snapshot(desired).plan.actions
    assert action.to_version == old  # the short pin resolved to the full commit
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.outcome is Outcome.APPLIED and result.live_after == old
    assert live_keys(aws) == set(sandbox.build_files(old))
    assert live_marker(aws) == old
    head = aws.client("s3").head_object(Bucket=BUCKET, Key="index.html")  # type: ignore[attr-defined]
    assert head["ContentType"] == "text/html"  # the stamp kept the page's headers
    body = aws.client("s3").get_object(Bucket=BUCKET, Key="index.html")["Body"].read()  # type: ignore[attr-defined]
    assert body == sandbox.build_files(old)["index.html"]
    distribution = aws.client("cloudfront").list_distributions()["DistributionList"]["Items"][0][
        "Id"
    ]  # type: ignore[attr-defined]
    invalidations = aws.client("cloudfront").list_invalidations(DistributionId=distribution)[
        "InvalidationList"
    ]  # type: ignore[attr-defined]
    assert invalidations["Quantity"] == 1


def test_assets_land_before_the_page_and_stale_keys_go_after(service: Service, aws: Aws) -> None:
    """Visitors never get a page pointing at missing assets: copy assets, then index.html, then
    delete; the commit is stamped on index.html last of all, once the invalidation is done."""
    engine, desired = service.engine(frontend=COMMITS[0])
    plan = engine.snapshot(desired).plan
    aws.proxy.clear()
    engine.apply(plan)
    writes = [
        c for c in aws.proxy.calls if c.startswith(" PUT /leh-frontend-prod/") or "?delete" in c
    ]
    index_at = next(i for i, c in enumerate(writes) if "/index.html" in c)
    delete_at = next(i for i, c in enumerate(writes) if "?delete" in c)
    assert (index_at, delete_at) == (len(writes) - 3, len(writes) - 2)
    assert "/index.html" in writes[-1]  # the stamp
    invalidated = next(i for i, c in enumerate(aws.proxy.calls) if "/invalidation" in c)
    stamped = max(
        i
        for i, c in enumerate(aws.proxy.calls)
        if c.startswith(" PUT /leh-frontend-prod/index.html")
    )
    assert invalidated < stamped
    assert all("/assets/" in c or "favicon" in c or "version.json" in c for c in writes[:index_at])


def test_unchanged_objects_are_not_copied_again(service: Service, aws: Aws) -> None:
    """Objects whose ETag already matches (favicon.ico is the same in every build) are skipped."""
    engine, desired = service.engine(frontend=COMMITS[2])
    plan = engine.snapshot(desired).plan
    aws.proxy.clear()
    engine.apply(plan)
    copied = [c for c in aws.proxy.calls if c.startswith(" PUT /leh-frontend-prod/")]
    assert not any("favicon.ico" in c for c in copied)
    assert len(copied) == len(sandbox.build_files(COMMITS[2]))  # all but favicon, plus the stamp


def test_missing_artifacts_are_refused(service: Service, aws: Aws) -> None:
    """A commit with no build artifacts (and no build configured) is blocked; the bucket is untouched."""
    engine, desired = service.engine(frontend="abcdef0")
    (action,) = engine.snapshot(desired).plan.actions
    assert (
        action.blocked
        == "no build artifacts for commit abcdef0 under s3://leh-frontend-artifacts/builds/abcdef0/"
    )
    assert live_marker(aws) == COMMITS[-1]


def test_ambiguous_short_commit_is_refused(service: Service, aws: Aws) -> None:
    """When two artifact commits start with the pin, the pin is refused as ambiguous."""
    twin = COMMITS[1][:7] + "f" * 33
    aws.client("s3").put_object(
        Bucket="leh-frontend-artifacts", Key=f"builds/{twin}/index.html", Body=b"x"
    )  # type: ignore[attr-defined]
    engine, desired = service.engine(frontend=COMMITS[1][:7])
    (action,) = engine.snapshot(desired).plan.actions
    assert action.blocked is not None and "ambiguous" in action.blocked and twin in action.blocked


def test_preflight_lists_only_the_pinned_and_the_live_build(service: Service, aws: Aws) -> None:
    """The artifact bucket keeps every build ever made; a preflight reads the two it needs."""
    s3 = aws.client("s3")
    for n in range(30):
        s3.put_object(Bucket="leh-frontend-artifacts", Key=f"builds/{n:040x}/index.html", Body=b"x")  # type: ignore[attr-defined]
    engine, desired = service.engine(frontend=COMMITS[1][:7])
    aws.proxy.clear()
    snapshot = engine.snapshot(desired)
    (action,) = snapshot.plan.actions
    assert action.to_version == COMMITS[1] and action.blocked is None
    listed = [
        parse_qs(urlsplit(c.split(" ", 2)[2]).query)["prefix"][0]
        for c in aws.proxy.calls
        if "list-type=2" in c
    ]
    live = snapshot.observed["frontend"].live
    assert sorted(listed) == sorted([f"builds/{COMMITS[1][:7]}", f"builds/{live}"])


def test_invalidation_in_progress_is_waited_on(service: Service, aws: Aws) -> None:
    """AWS reports InProgress before Completed; the wait polls until Completed."""
    engine, desired = service.engine(frontend=COMMITS[1])
    plan = engine.snapshot(desired).plan
    aws.proxy.add(
        "GET /2020-05-31/distribution/", "rewrite", count=2, replace={"COMPLETED": "InProgress"}
    )
    progress = Recorder()
    (result,) = engine.apply(plan, progress)
    assert result.outcome is Outcome.APPLIED
    lines = progress.of("frontend")
    assert any("InProgress" in line for line in lines) and any(
        "COMPLETED" in line for line in lines
    )


def repository_with(folder: Path, files: dict[str, str]) -> tuple[Path, str]:
    """A git repository holding ``files`` in one commit; returns it and the commit."""
    repo = folder / "app"
    for relative, text in files.items():
        (repo / relative).parent.mkdir(parents=True, exist_ok=True)
        (repo / relative).write_text(text)
    return repo, new_repo(repo, message="frontend")


def with_build(folder: Path, repo: Path, command: str) -> Path:
    build = f"{{repo: {repo}, workdir: frontend, command: '{command}', output: out}}"
    return config_copy(folder, {"    timeout: 10m\n": f"    timeout: 10m\n    build: {build}\n"})


def test_commit_without_artifacts_is_built_from_source(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """With build configured, a commit lacking artifacts is checked out, built and uploaded."""
    repo, commit = repository_with(
        tmp_path,
        {"frontend/src/index.html": "<p>built from source</p>", "frontend/src/assets/app.js": "1"},
    )
    config = with_build(tmp_path, repo, "mkdir -p out && cp -r src/. out/")
    engine, desired = service.engine(config, frontend=commit[:8])
    plan = engine.snapshot(desired).plan
    assert plan.actions[0].to_version == commit and plan.actions[0].blocked is None
    progress = Recorder()
    (result,) = engine.apply(plan, progress)
    assert result.outcome is Outcome.APPLIED, result.error
    assert live_keys(aws) == {"index.html", "assets/app.js"}
    assert live_marker(aws) == commit
    assert any("building" in line for line in progress.of("frontend"))
    assert git(repo, "worktree", "list").count("\n") == 0  # the temporary worktree is gone


def test_failing_build_is_a_failure_and_leaves_the_bucket(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """A build that exits non-zero fails the target with its output; nothing was uploaded."""
    repo, commit = repository_with(tmp_path, {"frontend/README": "x"})
    config = with_build(tmp_path, repo, "echo npm ERR! missing script >&2; exit 3")
    engine, desired = service.engine(config, frontend=commit)
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.outcome is Outcome.FAILED
    assert (
        result.error is not None and "exit 3" in result.error and "missing script" in result.error
    )
    assert live_marker(aws) == COMMITS[-1]


def test_the_plan_knows_the_frontend_direction_from_its_deploy_history(
    service: Service, aws: Aws
) -> None:
    """index.html's version history is the order commits went live (ROLLBACK.md 3.1): an
    earlier one is a roll-back, and once rolled back the newest is a roll-forward."""
    engine, desired = service.engine(frontend=COMMITS[1][:7])
    plan = engine.snapshot(desired).plan
    (action,) = plan.actions
    assert action.direction.value == "back"
    (result,) = engine.apply(plan)
    assert result.outcome is Outcome.APPLIED
    engine, desired = service.engine(frontend=COMMITS[-1][:7])
    (action,) = engine.snapshot(desired).plan.actions
    assert action.direction.value == "forward"


def test_an_unreadable_deploy_history_is_said_in_the_plan(service: Service, aws: Aws) -> None:
    """A role without ``s3:ListBucketVersions`` gets AccessDenied (403, S3's XML error:
    https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html) reading
    index.html's history; the plan still goes on (by the builds' age), and says what its
    direction rests on instead of guessing silently."""
    engine, desired = service.engine(frontend=COMMITS[1][:7])
    aws.proxy.add(
        "?versions", "answer", count=-1, status=403, error="AccessDenied", message="Access Denied"
    )
    (action,) = engine.snapshot(desired).plan.actions
    assert action.blocked is None and action.to_version == COMMITS[1]
    (note,) = [n for n in action.notes if "deploy history" in n]
    assert "s3://leh-frontend-prod/index.html" in note and "AccessDenied" in note
    assert "the age of the builds" in note


def test_a_build_gets_none_of_the_controllers_secrets(
    service: Service, aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pinned commit whose build prints its environment into the site: neither the audit
    database's URL, a webhook secret nor the AWS keys reach it; PATH does, and a variable the
    config names in build.env."""
    monkeypatch.setenv("PINBACK_AUDIT_URL", "postgresql://pinback:hunter2@db/audit")
    monkeypatch.setenv("HOOK_SECRET", "s3cret-hook")
    monkeypatch.setenv("NODE_ENV", "production")
    repo, commit = repository_with(tmp_path, {"frontend/src/index.html": "<p>x</p>"})
    command = "mkdir -p out && cp -r src/. out/ && env > out/env.txt"
    build = (
        f"{{repo: {repo}, workdir: frontend, command: '{command}', output: out, env: [NODE_ENV]}}"
    )
    config = config_copy(
        tmp_path, {"    timeout: 10m\n": f"    timeout: 10m\n    build: {build}\n"}
    )
    engine, desired = service.engine(config, frontend=commit)
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.outcome is Outcome.APPLIED, result.error
    printed = (
        aws.client("s3")
        .get_object(Bucket="leh-frontend-prod", Key="env.txt")["Body"]
        .read()
        .decode()
    )  # type: ignore[attr-defined]
    assert "PATH=" in printed and "NODE_ENV=production" in printed
    for secret in (
        "hunter2",
        "s3cret-hook",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "DATABASE_URL",
    ):
        assert secret not in printed, secret


def test_a_build_whose_output_links_outside_it_is_refused(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """A commit whose build output holds a symbolic link (to the controller's environment
    file, say) is refused naming the link; nothing is uploaded."""
    secret = tmp_path / "sandbox.env"
    secret.write_text("AWS_SECRET_ACCESS_KEY=abc\n")
    repo, commit = repository_with(tmp_path, {"frontend/src/index.html": "<p>x</p>"})
    command = f"mkdir -p out && cp -r src/. out/ && ln -s {secret} out/env.txt"
    config = with_build(tmp_path, repo, command)
    engine, desired = service.engine(config, frontend=commit)
    (result,) = engine.apply(engine.snapshot(desired).plan)
    assert result.outcome is Outcome.FAILED
    assert (
        result.error is not None and "env.txt" in result.error and "symbolic link" in result.error
    )
    assert "env.txt" not in live_keys(aws)
    assert live_marker(aws) == COMMITS[-1]
