"""pinback where people already work: the pre-commit hook and the GitHub Action.

The hook runs through `pre-commit try-repo` on a local repository (pre-commit installs
pinback from this checkout, as it would from GitHub). The Action's shell steps run as
GitHub would run them (its inputs substituted, GITHUB_STEP_SUMMARY a file), and the
summary is read back with a Markdown parser."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from markdown_it import MarkdownIt

from tests.stands.gitrepo import new_repo
from tests.stands.service import COMMITS, IN_CI, REPO, REVISIONS, TAGS, Service

BIN = Path(sys.executable).parent


def pre_commit() -> str:
    found = shutil.which("pre-commit", path=str(BIN)) or shutil.which("pre-commit")
    if found is None:
        if IN_CI:
            pytest.fail("pre-commit is required under CI=true (a dev dependency)")
        pytest.skip("pre-commit is not installed (pip install pre-commit)")
    return found


def test_the_pre_commit_hook_passes_good_files_and_stops_a_bad_pin(tmp_path: Path) -> None:
    for folder in ("config", "state"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    new_repo(tmp_path, message="pins")

    def hook() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [pre_commit(), "try-repo", str(REPO), "pinback-validate", "--all-files"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    good = hook()
    assert good.returncode == 0, good.stdout + good.stderr
    assert re.search(r"pinback validate\.+Passed", good.stdout), good.stdout
    pins = tmp_path / "state" / "desired-versions.yaml"
    pins.write_text(pins.read_text().replace("revision: 4 ", 'revision: "four" '))
    bad = hook()
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert re.search(r"pinback validate\.+Failed", bad.stdout), bad.stdout
    assert "desired-versions.yaml:" in bad.stdout and "backend" in bad.stdout


def action_steps(inputs: dict[str, str]) -> list[dict[str, Any]]:
    """The Action's shell steps after installing (this test's venv has pinback), with
    ``${{ inputs.X }}`` substituted as GitHub does."""
    action = yaml.safe_load((REPO / "action.yml").read_text())
    values = {k: inputs.get(k, v.get("default", "")) for k, v in action["inputs"].items()}

    def substitute(text: str) -> str:
        return re.sub(r"\$\{\{\s*inputs\.(\w+)\s*\}\}", lambda m: values[m[1]], text)

    steps = []
    for step in action["runs"]["steps"]:
        if "run" not in step or "pip install" in step["run"]:
            continue
        condition = step.get("if")
        if condition == "inputs.plan == 'true'" and values["plan"] != "true":
            continue
        env = {k: substitute(str(v)) for k, v in (step.get("env") or {}).items()}
        steps.append({"name": step["name"], "run": substitute(step["run"]), "env": env})
    return steps


def run_action(tmp_path: Path, inputs: dict[str, str], extra: dict[str, str]) -> tuple[int, str]:
    summary = tmp_path / "summary.md"
    summary.touch()
    base = {
        **os.environ,
        **extra,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_ACTION_PATH": str(REPO),
        "GITHUB_STEP_SUMMARY": str(summary),
        "RUNNER_TEMP": str(tmp_path),
    }
    for step in action_steps(inputs):
        done = subprocess.run(
            ["bash", "-e", "-c", step["run"]],
            cwd=REPO,
            env={**base, **step["env"]},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            return done.returncode, done.stdout + done.stderr
    return 0, summary.read_text()


def table(markdown: str) -> list[list[str]]:
    """The rows of the first table in ``markdown``, header first, as a parser reads them."""
    rows: list[list[str]] = []
    for token in MarkdownIt().enable("table").parse(markdown):
        if token.type == "tr_open":
            rows.append([])
        elif token.type == "inline" and rows:
            rows[-1].append(token.content)
    return rows


def test_the_action_validates_and_puts_the_plan_in_the_job_summary(
    service: Service, tmp_path: Path
) -> None:
    """A pull request pins the backend back to 3: the Action passes (a plan with changes is
    what a pin change is for) and the job summary holds the plan as a Markdown table."""
    pins = service.pins(
        frontend=COMMITS[-1][:7], backend=3, ai_worker=TAGS[-1], database=REVISIONS[-1]
    )
    code, summary = run_action(tmp_path, {}, {"PINBACK_STATE": str(pins)})
    assert code == 0, summary
    assert summary.startswith("### pinback plan: 1 change(s), in apply order")
    header, *rows = table(summary)
    assert header[:6] == ["#", "target", "kind", "change", "from", "to"]
    assert [row[:6] for row in rows] == [["1", "backend", "ecs", "roll back", "4", "3"]]


def test_the_action_fails_on_a_pin_file_that_does_not_validate(tmp_path: Path) -> None:
    pins = tmp_path / "pins.yaml"
    pins.write_text(
        (REPO / "state" / "desired-versions.yaml")
        .read_text()
        .replace("revision: 4 ", "revison: 4 ")
    )
    code, output = run_action(tmp_path, {"plan": "false"}, {"PINBACK_STATE": str(pins)})
    assert code == 1 and "revison" in output, output
