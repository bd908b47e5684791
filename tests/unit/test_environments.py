"""Environments in one config (DESIGN section 10): each one's view, and every mistake in
them reported where it was written."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.errors import ConfigError, SpecError
from daemon.spec import EcsTarget, load_config
from tests.stands.service import CONFIG

ENVIRONMENTS = """environments:
  staging:
    pins: staging.yaml
    aws: {region: us-east-1, roleArn: "arn:aws:iam::111111111111:role/pinback"}
    targets:
      backend: {cluster: leh-staging, service: leh-backend-staging}
      database: {urlEnv: STAGING_DATABASE_URL}
  prod:
    pins: prod.yaml
"""


def config_with(tmp_path: Path, environments: str) -> Path:
    path = tmp_path / "pinback.yaml"
    path.write_text(CONFIG.read_text() + environments)
    return path


def test_each_environment_is_the_config_seen_through_its_own_fields(tmp_path: Path) -> None:
    config = load_config(config_with(tmp_path, ENVIRONMENTS))
    assert config.environments == ["staging", "prod"]
    staging, prod = config.select("staging"), config.select("prod")
    assert staging.environment == "staging" and staging.state_path == tmp_path / "staging.yaml"
    backend = staging.model.targets["backend"]
    assert isinstance(backend, EcsTarget)
    assert (backend.cluster, backend.service, backend.owner) == (
        "leh-staging",
        "leh-backend-staging",
        "H",
    )
    assert staging.model.aws.region == "us-east-1"
    assert staging.model.aws.role_arn == "arn:aws:iam::111111111111:role/pinback"
    assert prod.model.aws.region == "ap-northeast-2" and prod.model.aws.role_arn is None
    assert prod.model.targets["backend"] == config.model.targets["backend"]
    assert prod.state_path == tmp_path / "prod.yaml"


def test_choosing_an_environment(tmp_path: Path) -> None:
    config = load_config(config_with(tmp_path, ENVIRONMENTS))
    with pytest.raises(
        ConfigError, match="declares the environments staging, prod: choose one with --env"
    ):
        config.select(None)
    with pytest.raises(
        ConfigError, match=r"no environment named 'qa' \(environments: staging, prod\)"
    ):
        config.select("qa")
    plain = load_config(CONFIG)
    assert plain.select(None) is plain and plain.environment is None
    with pytest.raises(ConfigError, match="--env prod: this config declares no environments"):
        plain.select("prod")
    single = load_config(config_with(tmp_path, "environments:\n  prod:\n    pins: prod.yaml\n"))
    assert single.select(None).environment == "prod"


def test_mistakes_are_reported_where_they_were_written(tmp_path: Path) -> None:
    """An override that breaks its target, a target that does not exist, a kind changed,
    and one pin file for two environments: each one error at its line and column."""
    text = """environments:
  staging:
    pins: shared.yaml
    targets:
      backend: {cluster: 7}
      web: {bucket: b}
      ai-worker: {kind: ecs}
  prod:
    pins: shared.yaml
"""
    with pytest.raises(SpecError) as caught:
        load_config(config_with(tmp_path, text))
    issues = [str(i) for i in caught.value.issues]
    lines = len(CONFIG.read_text().splitlines())
    assert len(issues) == 4, issues
    expected = [
        f":{lines + 6}:7: environments.staging.targets: 'web' is not a target of this config",
        f":{lines + 7}:19: environments.staging.targets.ai-worker.kind: a target is of one kind",
        f":{lines + 5}:17: environments.staging.targets.backend.cluster: Input should be a valid string",
        f":{lines + 9}:5: environments.prod.pins: shared.yaml is also the pin file of environment staging",
    ]
    for issue, words in zip(issues, expected, strict=True):
        assert words in issue


def test_alerts_have_rules_of_their_own_in_each_environment(tmp_path: Path) -> None:
    """A target's rules are per (environment, target): staging's drift pages staging's owner
    and is never prod's page."""
    from daemon.views.alerts import rules

    path = config_with(tmp_path, ENVIRONMENTS.replace("{urlEnv:", "{owner: S, urlEnv:"))
    drift = [
        r
        for g in rules(load_config(path))["groups"]
        for r in g["rules"]
        if r["alert"] == "PinbackTargetDrift" and r["labels"]["target"] == "database"
    ]
    assert [(r["labels"]["environment"], r["labels"]["owner"]) for r in drift] == [
        ("staging", "S"),
        ("prod", "H"),
    ]
    assert 'environment="staging"' in drift[0]["expr"]
    assert drift[0]["annotations"]["summary"] == "database in staging is not at its pinned version"
