"""Config values that reach git's command line (DESIGN section 17): a ref must pass git
check-ref-format and is given after --end-of-options; the pin file must be in the repository."""

from __future__ import annotations

from pathlib import Path

from daemon.spec import load_config
from tests.stands.gitrepo import Origin
from tests.stands.service import Service, config_copy, pinback


def test_a_ref_that_is_an_option_is_refused_and_runs_nothing(
    service: Service, tmp_path: Path
) -> None:
    """``ref: --output=FILE`` would make ``git log`` write FILE: validate refuses the config
    naming the key, and no command writes the file."""
    origin = Origin(tmp_path)
    origin.pins.write_text(service.current_pins().read_text())
    origin.push("Alice", "initial pins")
    written = tmp_path / "written-by-git"
    block = origin.source("1m").replace("ref: origin/main", f"ref: --output={written}")
    config = config_copy(tmp_path, {"  path: ../state/desired-versions.yaml\n": block})
    checked = pinback("validate", "--config", str(config))
    planned = pinback("plan", "--config", str(config))
    assert checked.returncode == 1 and "desiredState.git.ref" in checked.stdout + checked.stderr
    assert "check-ref-format" in checked.stdout + checked.stderr
    assert planned.returncode == 1 and "Traceback" not in planned.stderr
    assert not written.exists()


def test_a_pin_file_outside_the_repository_is_a_sentence(service: Service, tmp_path: Path) -> None:
    """desiredState.path resolving outside desiredState.git.repo (a link out of it, or ../):
    refused with a sentence naming both, not a traceback."""
    from daemon.controller.sources import source_for
    from daemon.errors import ConfigError

    origin = Origin(tmp_path)
    origin.pins.write_text(service.current_pins().read_text())
    origin.push("Alice", "initial pins")
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text(service.current_pins().read_text())
    block = origin.source("1m").replace(f"path: {origin.pins}", f"path: {outside}")
    config = load_config(config_copy(tmp_path, {"  path: ../state/desired-versions.yaml\n": block}))
    try:
        source_for(config, config.state_path)
    except ConfigError as exc:
        assert "outside the git repository" in str(exc) and str(outside) in str(exc)
    else:
        raise AssertionError("a pin file outside the repository was accepted")
