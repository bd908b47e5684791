"""The JSON Schemas under schema/ (what editors read through the modeline of the shipped
files): what `pinback schema` prints, valid draft-07, and strict enough to catch a typo."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from daemon.spec import json_schemas

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = {
    "config": REPO / "schema" / "pinback-config.schema.json",
    "desiredVersions": REPO / "schema" / "desired-versions.schema.json",
}
SHIPPED = {
    "config": ["config/pinback.yaml", "config/environments.yaml"],
    "desiredVersions": ["state/desired-versions.yaml", "state/staging.yaml"],
}


def validator(which: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(SCHEMAS[which].read_text()))


def test_the_committed_schemas_are_what_pinback_schema_prints() -> None:
    """Regenerate with `pinback schema --file config > schema/pinback-config.schema.json`
    (and `--file state > schema/desired-versions.schema.json`)."""
    for which, path in SCHEMAS.items():
        assert json.loads(path.read_text()) == json_schemas()[which], path


@pytest.mark.parametrize("which", sorted(SCHEMAS))
def test_each_schema_is_draft_07_and_the_shipped_files_pass_it(which: str) -> None:
    schema = json.loads(SCHEMAS[which].read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)
    assert "$defs" not in SCHEMAS[which].read_text()  # draft-07 says definitions
    for name in SHIPPED[which]:
        text = (REPO / name).read_text()
        modeline = re.match(r"# yaml-language-server: \$schema=(\S+)\n", text)
        assert modeline, f"{name} has no yaml-language-server modeline"
        assert ((REPO / name).parent / modeline[1]).resolve() == SCHEMAS[which]
        assert list(validator(which).iter_errors(yaml.safe_load(text))) == [], name


def test_a_misspelt_field_is_an_error_in_the_editor() -> None:
    pins = yaml.safe_load((REPO / "state" / "desired-versions.yaml").read_text())
    pins["spec"]["backend"] = {"revison": 3}
    assert list(validator("desiredVersions").iter_errors(pins))
    config = yaml.safe_load((REPO / "config" / "pinback.yaml").read_text())
    config["daemon"]["resyncIntervall"] = "30s"
    assert list(validator("config").iter_errors(config))
