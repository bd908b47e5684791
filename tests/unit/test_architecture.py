"""The shape of the code, checked: every module of ``daemon`` sits in a layer of the
import-linter contract (so ``lint-imports`` judges it), and modules and classes stay small
enough to read.

The size rule is the house's: no module over 400 lines, no class over 300.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from tests.stands.service import REPO

PACKAGE = REPO / "daemon"
MODULE_LINES = 400
CLASS_LINES = 300
OUTSIDE_LAYERS = {"daemon", "daemon.__main__"}  # the package itself and `python -m daemon`


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def layers() -> list[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    (contract,) = [c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    return [name.strip() for layer in contract["layers"] for name in layer.split("|")]


def test_every_module_is_in_a_layer() -> None:
    """A module outside every layer is one lint-imports never judges."""
    covered = layers()
    outside = [
        name
        for name in modules()
        if name not in OUTSIDE_LAYERS
        and not any(name == layer or name.startswith(layer + ".") for layer in covered)
    ]
    assert outside == [], f"add these to the layers contract in pyproject.toml: {outside}"


def test_every_package_says_its_role() -> None:
    """Each package opens with a docstring naming its role and its neighbours."""
    silent = [
        name
        for name, path in modules().items()
        if path.name == "__init__.py" and not ast.get_docstring(ast.parse(path.read_text()))
    ]
    assert silent == []


def sizes() -> tuple[dict[str, int], dict[str, int]]:
    module_sizes, class_sizes = {}, {}
    for path in modules().values():
        text = path.read_text()
        where = str(path.relative_to(REPO))
        module_sizes[where] = len(text.splitlines())
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                class_sizes[f"{where}:{node.name}"] = node.end_lineno - node.lineno + 1
    return module_sizes, class_sizes


def test_modules_and_classes_stay_small() -> None:
    module_sizes, class_sizes = sizes()
    too_big = [
        f"{where}: {lines} lines" for where, lines in module_sizes.items() if lines > MODULE_LINES
    ] + [f"{where}: {lines} lines" for where, lines in class_sizes.items() if lines > CLASS_LINES]
    assert too_big == []


ENVIRONMENT_READERS = {"daemon/adapters/environment.py", "daemon/devtools/sandbox.py"}


def test_one_module_reads_the_environment() -> None:
    """pinback's variables are named in one place (the sandbox, dev tooling, sets some)."""
    readers = [
        where
        for path in modules().values()
        if (where := str(path.relative_to(REPO))) not in ENVIRONMENT_READERS
        and ("os.environ" in (text := path.read_text()) or "getenv(" in text)
    ]
    assert readers == [], f"read the environment through daemon.adapters.environment: {readers}"


def test_one_module_runs_programs() -> None:
    """git and the configured commands run through daemon.adapters.processes (timeouts,
    captured output, one error style)."""
    runners = [
        str(path.relative_to(REPO))
        for path in modules().values()
        if "import subprocess" in path.read_text()
    ]
    assert runners == ["daemon/adapters/processes.py"]
