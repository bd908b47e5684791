"""Two environments in one config on one moto server (different clusters, functions,
buckets; staging behind an assumed role) and two SQLite databases: `--env`, one trail with
the environment on every record, and `pinback promote` of verified versions only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from daemon.devtools import sandbox
from tests.stands.service import (
    COMMITS,
    MIGRATIONS,
    REVISIONS,
    TAGS,
    Aws,
    Service,
    audit_json,
    config_copy,
    pinback,
)

STAGING = sandbox.Names(
    bucket="leh-frontend-staging",
    artifacts_bucket="leh-frontend-artifacts-staging",
    cluster="leh-staging",
    service="leh-backend-staging",
    function="leh-ai-worker-staging",
    repository="leh-ai-worker-staging",
)
ROLE = "arn:aws:iam::123456789012:role/pinback-staging"
ENVIRONMENTS = f"""environments:
  staging:
    pins: staging.yaml
    aws: {{roleArn: "{ROLE}"}}
    targets:
      frontend:
        bucket: {STAGING.bucket}
        artifacts: s3://{STAGING.artifacts_bucket}/builds/{{commit}}/
        distributionIdEnv: STAGING_CLOUDFRONT_DISTRIBUTION_ID
      backend: {{cluster: {STAGING.cluster}, service: {STAGING.service}}}
      ai-worker: {{function: {STAGING.function}, repository: {STAGING.repository}}}
      database: {{urlEnv: STAGING_DATABASE_URL}}
  prod:
    pins: prod.yaml
"""


@dataclass
class Stage:
    config: Path
    folder: Path

    def pins(self, env: str, backend: int = 4, ai_worker: str = TAGS[-1]) -> Path:
        """Write ``env``'s pin file: the seeded versions, with the backend and worker given."""
        path = self.folder / f"{env}.yaml"
        path.write_text(
            "apiVersion: pinback/v1\nkind: DesiredVersions\n"
            f"metadata: {{environment: {env}}}\nspec:\n"
            f'  frontend: {{commit: "{COMMITS[-1][:7]}"}}\n'
            f"  backend: {{revision: {backend}}}\n"
            f'  ai-worker: {{imageTag: "{ai_worker}"}}\n'
            f'  database: {{revision: "{REVISIONS[-1]}"}}\n'
        )
        return path

    def cli(self, *args: str) -> object:
        return pinback(*args, "--config", str(self.config))


@pytest.fixture
def stage(service: Service, aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Stage:
    """Prod is the seeded service; staging a second copy under other names, with its own
    database, reached through an assumed role."""
    database = f"sqlite:///{tmp_path / 'staging.db'}"
    seeded = sandbox.seed_all(aws.moto, database, MIGRATIONS, STAGING)
    monkeypatch.setenv("STAGING_CLOUDFRONT_DISTRIBUTION_ID", seeded["CLOUDFRONT_DISTRIBUTION_ID"])
    monkeypatch.setenv("STAGING_DATABASE_URL", database)
    faster = {"resyncInterval: 30s": "resyncInterval: 1s"}  # for the controller's tests
    found = Stage(config_copy(tmp_path, faster, ENVIRONMENTS), tmp_path)
    found.pins("staging")
    found.pins("prod")
    return found


def revision(aws: Aws, cluster: str, service: str) -> str:
    answer = aws.client("ecs").describe_services(cluster=cluster, services=[service])  # type: ignore[attr-defined]
    return str(answer["services"][0]["taskDefinition"]).rsplit(":", 1)[-1]


def test_a_pin_change_in_one_environment_never_touches_the_other(stage: Stage, aws: Aws) -> None:
    """Staging's backend pinned back and applied: staging's service moves, prod's does not;
    staging's calls carry the assumed role's credentials; the records name staging."""
    stage.pins("staging", backend=3)
    done = stage.cli("apply", "--yes", "--env", "staging")
    assert done.returncode == 0, done.stderr  # type: ignore[attr-defined]
    assert revision(aws, STAGING.cluster, STAGING.service) == "3"
    assert revision(aws, "leh-cluster", "leh-backend") == "4"
    updates = [key for call, key in aws.proxy.signed if call.startswith("UpdateService")]
    assert len(updates) == 1 and updates[0] not in ("", "testing")  # the role's, from STS
    role_key = updates[0]
    status = stage.cli("status", "--env", "prod", "-o", "json")
    rows = json.loads(status.stdout)["targets"]  # type: ignore[attr-defined]
    assert all(row["inSync"] and row["environment"] == "prod" for row in rows), rows
    prod_reads = [k for c, k in aws.proxy.signed if c.startswith("DescribeServices")][-1]
    assert prod_reads == "testing" != role_key  # prod: the process's own credentials
    records = audit_json("--target", "backend")
    assert records and {r["environment"] for r in records} == {"staging"}
    assert pinback("audit", "verify").returncode == 0


def test_promotion_takes_only_what_passed_in_the_source(stage: Stage, aws: Aws) -> None:
    """A version whose apply failed in staging is refused, naming it, and prod's pins stay;
    once a version is applied in staging, promoting it writes it into prod's pin file and
    records the promotion in prod."""
    aws.proxy.add(
        "UpdateService",
        "answer",
        count=-1,
        body=STAGING.service,
        status=400,
        error="InvalidParameterException",
        message="the service is draining",
    )
    stage.pins("staging", backend=2)
    assert stage.cli("apply", "--yes", "--env", "staging").returncode == 1  # type: ignore[attr-defined]
    aws.proxy.clear()
    prod = (stage.folder / "prod.yaml").read_text()
    refused = stage.cli("promote", "--from", "staging", "--to", "prod")
    assert refused.returncode == 1  # type: ignore[attr-defined]
    assert (
        "nothing promoted from staging to prod: backend 2 failed to apply there" in refused.stderr
    )  # type: ignore[attr-defined]
    assert (stage.folder / "prod.yaml").read_text() == prod

    stage.pins("staging", backend=3, ai_worker=TAGS[-2])
    assert stage.cli("apply", "--yes", "--env", "staging").returncode == 0  # type: ignore[attr-defined]
    done = stage.cli("promote", "--from", "staging", "--to", "prod", "--reason", "release 42")
    assert done.returncode == 0, done.stderr  # type: ignore[attr-defined]
    assert [line.split(" in ")[0] for line in done.stdout.splitlines()] == [  # type: ignore[attr-defined]
        "backend: 4 -> 3",
        f"ai-worker: {TAGS[-1]} -> {TAGS[-2]}",
    ]
    assert pinback("validate", "--config", str(stage.config)).returncode == 0
    promoted = [r for r in audit_json("--event", "promoted")]
    assert [(r["environment"], r["target"], r["desired"]) for r in promoted] == [
        ("prod", "backend", "3"),
        ("prod", "ai-worker", TAGS[-2]),
    ]
    assert promoted[0]["reason"] == "from staging: release 42"
    assert revision(aws, "leh-cluster", "leh-backend") == "4"  # pinned; the controller applies


def test_bad_input_is_one_clear_error_and_changes_nothing(stage: Stage, aws: Aws) -> None:
    before = {p.name: p.read_text() for p in stage.folder.glob("*.yaml")}
    unknown = stage.cli("plan", "--env", "qa")
    assert unknown.returncode == 1  # type: ignore[attr-defined]
    assert "no environment named 'qa' (environments: staging, prod)" in unknown.stderr  # type: ignore[attr-defined]
    unnamed = stage.cli("apply", "--yes")
    assert unnamed.returncode == 1  # type: ignore[attr-defined]
    assert "declares the environments staging, prod: choose one with --env" in unnamed.stderr  # type: ignore[attr-defined]
    same = stage.cli("promote", "--from", "prod", "--to", "prod")
    assert same.returncode == 1 and "--from and --to both name prod" in same.stderr  # type: ignore[attr-defined]
    valid = stage.cli("validate")
    assert valid.returncode == 0, valid.stderr  # type: ignore[attr-defined]
    assert "(4 pins for staging)" in valid.stdout and "(4 pins for prod)" in valid.stdout  # type: ignore[attr-defined]
    assert {p.name: p.read_text() for p in stage.folder.glob("*.yaml")} == before
    assert aws.proxy.mutating_since(0) == []
