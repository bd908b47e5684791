"""Loading the pin file and the config: strict, positioned errors, safe YAML."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from daemon.core.durations import parse_duration
from daemon.errors import SpecError
from daemon.spec import load_config, load_desired
from tests.stands.service import CONFIG, REPO, pinback

HEADER = "apiVersion: pinback/v1\nkind: DesiredVersions\nspec:\n"


def desired(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pins.yaml"
    path.write_text(text)
    return path


def issues_of(tmp_path: Path, text: str) -> list[str]:
    config = load_config(CONFIG)
    with pytest.raises(SpecError) as caught:
        load_desired(desired(tmp_path, text), config)
    return [str(i) for i in caught.value.issues]


def test_the_repo_files_are_valid() -> None:
    """The shipped config and pin file load, with one pin per target."""
    config = load_config(CONFIG)
    state = load_desired(config.state_path, config)
    assert set(state.pins) == {"frontend", "backend", "ai-worker", "database"}
    assert config.state_path == REPO / "state" / "desired-versions.yaml"


def test_every_error_is_reported_with_line_and_column(tmp_path: Path) -> None:
    """All problems of a file come together, each at its place with the expected form."""
    issues = issues_of(
        tmp_path,
        HEADER
        + '  frontend:\n    commit: xyz\n  backend:\n    revision: "41a"\n  ai-worker:\n    tag: v1\n',
    )
    assert len(issues) == 3
    assert ":5:5: spec.frontend.commit" in issues[0] and "7-40 hex" in issues[0]
    assert "got 'xyz'" in issues[0]
    assert ":7:5: spec.backend.revision" in issues[1] and "whole number" in issues[1]
    assert ":9:5: spec.ai-worker.tag: unknown key" in issues[2] and "imageTag" in issues[2]


def test_pin_field_must_fit_the_kind(tmp_path: Path) -> None:
    """A Lambda target pinned with an ECS field is an error naming the field it takes."""
    (issue,) = issues_of(tmp_path, HEADER + "  ai-worker:\n    revision: 3\n")
    assert "unknown key for a lambda target" in issue and "imageTag" in issue


def test_unknown_target_is_refused(tmp_path: Path) -> None:
    """A target not declared in the config is named, with the declared ones."""
    (issue,) = issues_of(tmp_path, HEADER + "  payments:\n    revision: 3\n")
    assert ":4:3:" in issue and "'payments' is not declared" in issue and "backend" in issue


def test_unquoted_numeric_commit_asks_for_quotes(tmp_path: Path) -> None:
    """YAML reads 1234567 as a number; the error says to quote it rather than losing digits."""
    (issue,) = issues_of(tmp_path, HEADER + "  frontend:\n    commit: 1234567\n")
    assert 'quote it: commit: "1234567"' in issue


def test_base_needs_allow_destructive(tmp_path: Path) -> None:
    """Pinning the database to base drops everything, so it needs allowDestructive."""
    (issue,) = issues_of(tmp_path, HEADER + "  database:\n    revision: base\n")
    assert "allowDestructive" in issue


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: &x [1]\nb: *x\n", "anchors and aliases"),
        ("apiVersion: pinback/v1\napiVersion: pinback/v1\n", "duplicate key"),
        ("spec: !!python/object:os.system {}\n", "explicit YAML tags"),
        ("spec:\n\t- x\n", "not valid YAML"),
        ("- 1\n- 2\n", "expected a mapping"),
        ("a: 1\n---\nb: 2\n", "one YAML document"),
        ("a: " + "[" * 40 + "]" * 40 + "\n", "nested more than 32 levels"),
        ("? [1]\n: x\n", "keys must be plain text"),
    ],
)
def test_unsafe_or_ambiguous_yaml_is_refused(tmp_path: Path, text: str, message: str) -> None:
    """Aliases, tags, duplicate keys, tabs, lists and several documents each give a clear error."""
    issues = issues_of(tmp_path, text)
    assert any(message in i for i in issues), issues
    assert all(i.startswith(str(tmp_path / "pins.yaml") + ":") for i in issues)


def test_alias_bomb_is_refused_before_expansion(tmp_path: Path) -> None:
    """A billion-laughs file is refused at the first anchor, without building anything."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for index in range(1, 9):
        previous, name = chr(ord("a") + index - 1), chr(ord("a") + index)
        lines.append(
            f"{name}: &{name} [*{previous},*{previous},*{previous},*{previous},*{previous},*{previous}]"
        )
    (issue,) = issues_of(tmp_path, "\n".join(lines) + "\n")
    assert ":1:4:" in issue and "anchors and aliases" in issue


def test_files_over_one_mebibyte_are_refused(tmp_path: Path) -> None:
    """A huge file is refused without parsing it."""
    (issue,) = issues_of(tmp_path, HEADER + "#" * (1024 * 1024 + 1))
    assert "larger than 1 MiB" in issue


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    """Editors on some systems write a BOM; it is not an error."""
    path = tmp_path / "pins.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + (HEADER + "  backend:\n    revision: 3\n").encode())
    state = load_desired(path, load_config(CONFIG))
    assert state.pins["backend"].version == "3"


def test_not_utf8_is_refused(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 give a positioned error, not a decode traceback."""
    path = tmp_path / "pins.yaml"
    path.write_bytes(HEADER.encode() + b"  backend: \xff\n")
    with pytest.raises(SpecError) as caught:
        load_desired(path, load_config(CONFIG))
    assert "not valid UTF-8" in str(caught.value) and ":4:" in str(caught.value)


def test_suspend_alone_needs_no_version(tmp_path: Path) -> None:
    """``suspend: true`` without a version leaves the target alone; no version and no suspend is an error."""
    config = load_config(CONFIG)
    state = load_desired(
        desired(tmp_path, HEADER + "  backend:\n    suspend: true\n    reason: INC-231\n"), config
    )
    assert state.pins["backend"].suspend and state.pins["backend"].reason == "INC-231"
    (issue,) = issues_of(tmp_path, HEADER + "  backend:\n    reason: INC-231\n")
    assert "missing revision" in issue


def write_config(tmp_path: Path, targets: str, extra: str = "") -> Path:
    path = tmp_path / "pinback.yaml"
    path.write_text(
        f"apiVersion: pinback/v1\nkind: Config\naws: {{region: ap-northeast-2}}\n{extra}targets:\n{targets}"
    )
    return path


def test_config_after_cycle_and_unknown_names(tmp_path: Path) -> None:
    """``after:`` must name targets in the file and must not form a cycle."""
    path = write_config(
        tmp_path,
        "  a: {kind: ecs, cluster: c, service: a, after: [b]}\n"
        "  b: {kind: ecs, cluster: c, service: b, after: [a, ghost]}\n",
    )
    with pytest.raises(SpecError) as caught:
        load_config(path)
    text = str(caught.value)
    assert "'ghost' is not a target" in text and "cycle: a -> b -> a" in text


def test_config_errors_name_line_column_and_form(tmp_path: Path) -> None:
    """Wrong kinds, bad durations and unknown keys in the config are positioned too."""
    path = write_config(
        tmp_path,
        "  web:\n    kind: kubernetes\n  api:\n    kind: ecs\n    cluster: c\n    service: s\n    timeout: 10 minutes\n",
        extra="daemon:\n  resyncInterval: 30\n  colour: blue\n",
    )
    with pytest.raises(SpecError) as caught:
        load_config(path)
    text = str(caught.value)
    assert "pinback.yaml:5:3: daemon.resyncInterval: expected a duration such as 500ms" in text
    assert "pinback.yaml:6:3: daemon.colour: unknown key" in text
    assert "pinback.yaml:9:5: targets.web.kind: expected one of 'frontend', 'ecs'" in text
    assert "got 'kubernetes'" in text
    assert "pinback.yaml:14:5: targets.api.timeout: expected a duration" in text


def test_relative_paths_resolve_against_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same config finds its pin file and scripts from any working directory."""
    monkeypatch.chdir(tmp_path)
    config = load_config(CONFIG)
    assert config.state_path == REPO / "state" / "desired-versions.yaml"
    assert config.resolve("migrations") == REPO / "config" / "migrations"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("30s", 30.0), ("5m", 300.0), ("2h", 7200.0), ("1.5s", 1.5)],
)
def test_durations(text: str, seconds: float) -> None:
    """Durations read as people write them."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5", "5 minutes", "-1s", "1w", ""])
def test_bad_durations_name_the_form(text: str) -> None:
    with pytest.raises(ValueError, match="500ms, 30s, 5m"):
        parse_duration(text)


def test_validate_command_lists_every_error_and_exits_1(tmp_path: Path) -> None:
    """``pinback validate`` prints each error on its own line, no traceback, exit 1."""
    path = desired(tmp_path, HEADER + "  frontend:\n    commit: xyz\n  backend:\n    revision: 0\n")
    done = pinback("validate", "--state", str(path))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2 and all(":" in line for line in lines)
    assert "Traceback" not in done.stderr


def test_validate_command_accepts_the_repo_files() -> None:
    done = pinback("validate")
    assert done.returncode == 0, done.stderr
    assert "4 targets" in done.stdout


def test_schema_command_prints_both_schemas() -> None:
    """``pinback schema`` gives editors a JSON Schema for each file."""
    done = pinback("schema")
    assert done.returncode == 0, done.stderr
    schemas = json.loads(done.stdout)
    assert set(schemas) == {"config", "desiredVersions"}
    assert "targets" in schemas["config"]["properties"]
    assert "spec" in schemas["desiredVersions"]["properties"]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("  database:\n    revision: head\n", "expected an Alembic revision id"),
        ("  database:\n    revision: 4b7e-1c2d\n", "got '4b7e-1c2d'"),
        ("  database:\n    revision: 1234\n", 'as text; quote it: "1234"'),
        ("  database:\n    revision: true\n", 'as text; quote it: "True"'),
        ("  ai-worker:\n    imageTag: 2\n", 'quote it: imageTag: "2"'),
        ("  ai-worker:\n    imageTag: '-bad'\n", "expected an image tag"),
        ("  frontend:\n    commit: true\n", 'quote it: commit: "True"'),
    ],
)
def test_each_version_field_names_its_form(tmp_path: Path, entry: str, expected: str) -> None:
    """A version that is not text, or not of its kind's form ("head" moves, so it is not a
    pin), is refused with the form it takes."""
    (issue,) = issues_of(tmp_path, HEADER + entry)
    assert expected in issue


def test_a_variable_name_setting_names_its_form(tmp_path: Path) -> None:
    """``urlEnv`` and its kin name an environment variable, not a value."""
    path = write_config(
        tmp_path, "  db: {kind: alembic, urlEnv: 'postgres://x', scriptLocation: m}\n"
    )
    with pytest.raises(SpecError) as caught:
        load_config(path)
    assert re.search(
        r": expected the name of an environment variable, e\.g\. DATABASE_URL$",
        str(caught.value),
        re.MULTILINE,
    )


def test_deny_entries_take_the_form_of_the_targets_pin_field(tmp_path: Path) -> None:
    """``deny:`` lists versions in the form of the target's pin field, each checked where it is."""
    issues = issues_of(
        tmp_path,
        HEADER
        + "  backend:\n    revision: 4\n    deny: [3, x]\n"
        + '  frontend:\n    commit: "9f1c2ab"\n    deny: ["zz"]\n',
    )
    assert len(issues) == 2
    assert ":6:15: spec.backend.deny.1" in issues[0] and "whole number" in issues[0]
    assert ":9:12: spec.frontend.deny.0" in issues[1] and "7-40 hex" in issues[1]
    state = load_desired(
        desired(
            tmp_path,
            HEADER
            + "  backend:\n    revision: 4\n    deny: [3, 2]\n"
            + '  frontend:\n    commit: "9f1c2ab"\n    deny: ["ABCDEF1"]\n',
        ),
        load_config(CONFIG),
    )
    assert state.pins["backend"].denied == ("3", "2")
    assert state.pins["frontend"].denied == ("abcdef1",)
