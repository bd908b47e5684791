"""Third-party target kinds (DESIGN section 11): the example plug-in under
``examples/pinback-ssm-parameter``, built and installed from its path with pip, drives an SSM
parameter in moto through the real command line and controller, as the built-in kinds do; a
broken plug-in is one sentence naming its distribution, and the built-in kinds keep working.

Every command runs as a child process whose ``PYTHONPATH`` holds the installed plug-in, so
this test process (and the rest of the suite) never sees it: ``pinback schema`` stays the
built-in one that ``schema/`` holds.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.adapters.aws import CALL_LOG_ENV
from tests.stands.daemon_process import Daemon
from tests.stands.service import (
    COMMITS,
    REPO,
    REVISIONS,
    TAGS,
    Aws,
    Service,
    audit_json,
    config_copy,
    pinback,
)
from tests.stands.waiting import eventually

EXAMPLE = REPO / "examples" / "pinback-ssm-parameter"
PARAMETER = "/leh/ai-worker/model"
SSM_TARGET = f"""
  ai-model:
    kind: ssm-parameter
    parameter: {PARAMETER}
    owner: L
"""


def install(project: Path, into: Path) -> None:
    """``pip install`` a project from its path into ``into``, as a user installs a plug-in
    (a copy is built, so the repository is left without build folders)."""
    copy = into.parent / f"{project.name}-src"
    shutil.copytree(project, copy, dirs_exist_ok=True)
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"),
            *("--no-build-isolation", "--no-index", "--target", str(into), str(copy)),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="session")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A folder with the example plug-in installed in it, for a child's ``PYTHONPATH``."""
    into = tmp_path_factory.mktemp("plugin") / "site"
    install(EXAMPLE, into)
    return str(into)


@pytest.fixture
def calls(tmp_path: Path) -> Path:
    """This test's own log of AWS calls: the plug-in's are checked against its own policy
    here, not against pinback's (``test_iam``, which the built-in calls logged here are
    left out of: other tests make them)."""
    return tmp_path / "plugin-calls.log"


@pytest.fixture
def with_plugin(plugin_path: str, calls: Path) -> dict[str, str]:
    return {"PYTHONPATH": plugin_path, CALL_LOG_ENV: str(calls)}


@pytest.fixture
def flags(service: Service, aws: Aws, tmp_path: Path) -> Path:
    """The service's config with an SSM parameter target, the parameter set three times."""
    ssm = aws.client("ssm")
    for value in ("model-a", "model-b", "model-c"):
        ssm.put_parameter(Name=PARAMETER, Value=value, Type="String", Overwrite=True)  # type: ignore[attr-defined]
    return config_copy(tmp_path, append=SSM_TARGET)


def pins(service: Service, ai_model: dict[str, object]) -> Path:
    """Pins equal to the seeded service's live versions, and ``ai_model`` for the parameter."""
    return service.pins(
        frontend=COMMITS[-1][:7],
        backend=4,
        ai_worker=TAGS[-1],
        database=REVISIONS[-1],
        ai_model=ai_model,
    )


def value(aws: Aws) -> str:
    answer = aws.client("ssm").get_parameter(Name=PARAMETER)  # type: ignore[attr-defined]
    return str(answer["Parameter"]["Value"])


def test_pin_errors_come_from_the_plugins_model_with_line_and_column(
    flags: Path, service: Service, with_plugin: dict[str, str]
) -> None:
    """A wrong value is reported at its line and column, in the words of the plug-in's
    model (its field's description), like a built-in kind's."""
    path = pins(service, {"value": 42})
    done = pinback("validate", "--config", str(flags), "--state", str(path), env=with_plugin)
    assert done.returncode == 1, done.stdout + done.stderr
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "value: 42" in text)
    assert f"desired-versions.yaml:{line}:5: spec.ai-model.value:" in done.stderr, done.stderr
    assert "the parameter's value as text" in done.stderr

    path = pins(service, {"values": "model-a"})
    done = pinback("validate", "--config", str(flags), "--state", str(path), env=with_plugin)
    assert "unknown key for a ssm-parameter target; expected one of:" in done.stderr
    assert "value" in done.stderr.split("expected one of:")[1]


def test_config_errors_come_from_the_plugins_model(
    service: Service, tmp_path: Path, with_plugin: dict[str, str]
) -> None:
    config = config_copy(tmp_path, append=SSM_TARGET.replace(PARAMETER, "no spaces allowed"))
    done = pinback("validate", "--config", str(config), env=with_plugin)
    assert done.returncode == 1
    line = 1 + config.read_text().splitlines().index("    parameter: no spaces allowed")
    assert f"pinback.yaml:{line}:5: targets.ai-model.parameter:" in done.stderr, done.stderr


def test_rolls_the_parameter_back_and_records_it(
    flags: Path, service: Service, aws: Aws, with_plugin: dict[str, str], calls: Path
) -> None:
    """plan, apply, versions, rollback and the audit trail treat the plug-in's kind like a
    built-in one: a rollback is a step back, applied, verified and recorded in the chain;
    the calls it made are exactly the ones its policy grants."""
    path = pins(service, {"value": "model-a", "reason": "model-c hallucinates"})
    args = ("--config", str(flags), "--state", str(path))

    plan = pinback("plan", *args, "-o", "json", env=with_plugin)
    assert plan.returncode == 2, plan.stderr  # changes pending
    (action,) = json.loads(plan.stdout)["actions"]
    assert (action["target"], action["kind"], action["direction"]) == (
        "ai-model",
        "ssm-parameter",
        "back",
    )
    assert (action["from"], action["to"]) == ("model-c", "model-a")

    applied = pinback("apply", *args, "--yes", env=with_plugin)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert value(aws) == "model-a"

    listed = pinback("versions", "ai-model", "--config", str(flags), "-o", "json", env=with_plugin)
    assert listed.returncode == 0, listed.stderr
    versions = json.loads(listed.stdout)["versions"]
    assert [v["version"] for v in versions] == ["model-a", "model-c", "model-b"]
    assert [v["live"] for v in versions] == [True, False, False]
    assert all(v["ready"] is True for v in versions[1:]), versions

    records = [r for r in audit_json() if r["target"] == "ai-model"]
    events = [r["event"] for r in records]
    assert "apply_started" in events and "apply_succeeded" in events, events
    succeeded = next(r for r in records if r["event"] == "apply_succeeded")
    assert (succeeded["kind"], succeeded["live_before"], succeeded["live_after"]) == (
        "ssm-parameter",
        "model-c",
        "model-a",
    )
    assert succeeded["reason"] == "model-c hallucinates"
    assert pinback("audit", "verify").returncode == 0

    # `rollback --steps 1` reads the same history: the value set before the live one.
    stepped = pinback("rollback", "ai-model", "--steps", "1", *args, env=with_plugin)
    assert stepped.returncode == 0, stepped.stdout + stepped.stderr
    assert 'value: "model-c"' in path.read_text() or "value: model-c" in path.read_text()

    policy = json.loads((EXAMPLE / "iam-policy.json").read_text())
    granted = {a for s in policy["Statement"] for a in s["Action"]}
    made = {a for a in calls.read_text().split() if a.startswith("ssm:")}
    assert made == granted  # each call granted, each grant used


def test_a_denied_value_is_blocked(
    flags: Path, service: Service, aws: Aws, with_plugin: dict[str, str]
) -> None:
    path = pins(service, {"value": "model-b", "deny": ["model-b"]})
    done = pinback("apply", "--config", str(flags), "--state", str(path), "--yes", env=with_plugin)
    assert done.returncode != 0
    assert "model-b" in done.stdout + done.stderr and "den" in done.stdout + done.stderr
    assert value(aws) == "model-c"


def test_the_controller_reconciles_a_plugin_target(
    flags: Path, service: Service, aws: Aws, with_plugin: dict[str, str]
) -> None:
    """``pinback run``: a pin edit moves the parameter, drift reads 0, SIGTERM stops it."""
    path = pins(service, {"value": "model-c"})
    daemon = Daemon.on(flags, path, env=with_plugin)
    eventually(daemon.ready, timeout=30, what="/readyz")
    drift = {"target": "ai-model", "kind": "ssm-parameter"}
    eventually(
        lambda: daemon.metric("pinback_target_drift", **drift) == 0, timeout=30, what="in sync"
    )

    pins(service, {"value": "model-b"})
    eventually(lambda: value(aws) == "model-b", timeout=60, what="the parameter to be model-b")
    eventually(
        lambda: daemon.event("apply_succeeded", lambda e: e.get("target") == "ai-model"),
        timeout=60,
        what="the apply to be recorded",
    )
    eventually(
        lambda: daemon.metric("pinback_target_drift", **drift) == 0, timeout=30, what="in sync"
    )
    assert daemon.stop() == 0


def plugin_module(kind: str, methods: str) -> str:
    """A plug-in's module whose driver has ``methods`` (written out, as a plug-in would)."""
    return f"""
from typing import Literal
from daemon.plugin import PinBase, TargetBase, TargetKind


class Target(TargetBase):
    kind: Literal["{kind}"]


class Pin(PinBase):
    value: str | None = None
    deny: list[str] = []


class Driver:
    kind = "{kind}"

    def __init__(self, targets, context): ...
{methods}

KIND = TargetKind("{kind}", Target, Pin, "value", Driver)
"""


BROKEN = {
    "pinback-broken-import": ("broken-import", "import nonexistent_module_of_the_plugin\n"),
    "pinback-no-wait": (  # every method of the port but wait
        "no-wait",
        plugin_module(
            "no-wait",
            """    def observe(self, targets): ...
    def preflight(self, target, pin, observed): ...
    def apply(self, target, action, progress): ...
    def verify(self, target, action): ...
    def versions(self, target, limit, seen=None): ...""",
        ),
    ),
    "pinback-raises": (  # a bug of its own in observe
        "raises",
        plugin_module(
            "raises",
            """    def observe(self, targets):
        raise RuntimeError("a bug in the plug-in")
    def preflight(self, target, pin, observed): ...
    def apply(self, target, action, progress): ...
    def wait(self, target, action, waiting): ...
    def verify(self, target, action): ...
    def versions(self, target, limit, seen=None): ...""",
        ),
    ),
}


@pytest.fixture(scope="session")
def broken_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Three broken plug-ins installed: one whose module does not import, one whose driver
    has no ``wait``, one whose driver raises a bug of its own."""
    base = tmp_path_factory.mktemp("broken")
    into = base / "site"
    for distribution, (kind, code) in BROKEN.items():
        module = distribution.replace("-", "_")
        project = base / distribution
        (project / module).mkdir(parents=True)
        (project / module / "__init__.py").write_text(code)
        (project / "pyproject.toml").write_text(
            f"""[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{distribution}"
version = "0.1.0"

[project.entry-points."pinback.drivers"]
{kind} = "{module}:KIND"
"""
        )
        install(project, into)
    return str(into)


@pytest.fixture
def broken(broken_path: str) -> Iterator[dict[str, str]]:
    yield {"PYTHONPATH": broken_path}


@pytest.mark.parametrize(
    ("kind", "distribution", "problem"),
    [
        ("broken-import", "pinback-broken-import 0.1.0", "No module named"),
        ("no-wait", "pinback-no-wait 0.1.0", "its driver Driver lacks wait"),
    ],
)
def test_a_broken_plugin_is_one_sentence_naming_its_distribution(
    service: Service,
    tmp_path: Path,
    broken: dict[str, str],
    kind: str,
    distribution: str,
    problem: str,
) -> None:
    config = config_copy(tmp_path, append=f"\n  flags:\n    kind: {kind}\n")
    done = pinback("validate", "--config", str(config), env=broken)
    assert done.returncode == 1
    (sentence,) = [line for line in done.stderr.splitlines() if "targets.flags" in line]
    assert f"the plug-in for kind {kind!r} (distribution {distribution}" in sentence
    assert problem in sentence
    assert "Traceback" not in done.stderr


def test_built_in_kinds_keep_working_beside_a_broken_plugin(
    service: Service, aws: Aws, broken: dict[str, str]
) -> None:
    """With both broken plug-ins installed, a config of built-in kinds validates, plans and
    applies a rollback as without them."""
    path = service.pins(
        frontend=COMMITS[-1][:7], backend=3, ai_worker=TAGS[-1], database=REVISIONS[-1]
    )
    args = ("--config", str(service.config), "--state", str(path))
    valid = pinback("validate", *args, env=broken)
    assert valid.returncode == 0
    assert "warning: the plug-in for kind 'broken-import' (distribution pinback-broken-import" in (
        valid.stderr
    )
    done = pinback("apply", *args, "--yes", env=broken)
    assert done.returncode == 0, done.stdout + done.stderr
    ecs = aws.client("ecs")
    (live,) = ecs.describe_services(cluster="leh-cluster", services=["leh-backend"])["services"]  # type: ignore[attr-defined]
    assert live["taskDefinition"].endswith(":3")


def test_a_plugins_own_bug_fails_its_target_only(
    service: Service, tmp_path: Path, broken: dict[str, str]
) -> None:
    """A plug-in driver raising something other than pinback's errors: its target is
    reported unreadable with the plug-in named, the built-in targets are planned."""
    config = config_copy(tmp_path, append="\n  flags:\n    kind: raises\n")
    path = service.pins(
        frontend=COMMITS[-1][:7],
        backend=3,
        ai_worker=TAGS[-1],
        database=REVISIONS[-1],
        flags={"value": "on"},
    )
    done = pinback("plan", "--config", str(config), "--state", str(path), "-o", "json", env=broken)
    assert "Traceback" not in done.stderr, done.stderr
    plan = json.loads(done.stdout)
    assert [a["target"] for a in plan["actions"]] == ["backend"]
    assert plan["errors"]["flags"] == (
        "the plug-in for kind 'raises' (distribution pinback-raises 0.1.0) failed: "
        "RuntimeError: a bug in the plug-in"
    )
