"""The pin file as controllers really get it: saved right after readiness, or swapped in by a
ConfigMap volume or git-sync. Each change is applied at once, never at the next resync."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stands.daemon_process import Daemon
from tests.stands.service import COMMITS, REVISIONS, TAGS, Aws, Service, config_copy
from tests.stands.waiting import eventually

# A resync so far off that only the file watcher can explain a change applied in a test.
NO_RESYNC = {"resyncInterval: 30s": "resyncInterval: 10m"}


def backend_at(aws: Aws) -> str:
    services = aws.client("ecs").describe_services(cluster="leh-cluster", services=["leh-backend"])  # type: ignore[attr-defined]
    return str(services["services"][0]["taskDefinition"]).rsplit(":", 1)[-1]


def pins_text(backend: int) -> str:
    return (
        "apiVersion: pinback/v1\nkind: DesiredVersions\nspec:\n"
        f"  frontend: {{commit: '{COMMITS[-1][:7]}'}}\n"
        f"  backend: {{revision: {backend}}}\n"
        f"  ai-worker: {{imageTag: '{TAGS[-1]}'}}\n"
        f"  database: {{revision: '{REVISIONS[-1]}'}}\n"
    )


class ConfigMapVolume:
    """A folder laid out as the kubelet lays out a ConfigMap volume (and git-sync its link):
    ``name -> ..data/name``, ``..data -> ..<version>``; an update writes a new version folder,
    renames a fresh link over ``..data`` and deletes the old folder."""

    def __init__(self, folder: Path, name: str, text: str) -> None:
        self.folder, self.name, self.version = folder, name, 0
        folder.mkdir()
        self._write_version(text)
        os.symlink(f"..v{self.version}", folder / "..data")
        os.symlink(f"..data/{name}", folder / name)

    @property
    def path(self) -> Path:
        return self.folder / self.name

    def _write_version(self, text: str) -> None:
        self.version += 1
        version = self.folder / f"..v{self.version}"
        version.mkdir()
        (version / self.name).write_text(text)

    def update(self, text: str) -> None:
        old = self.folder / f"..v{self.version}"
        self._write_version(text)
        os.symlink(f"..v{self.version}", self.folder / "..data_tmp")
        os.rename(self.folder / "..data_tmp", self.folder / "..data")
        shutil.rmtree(old)


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.stop()


def test_an_edit_saved_right_after_readyz_is_applied_at_once(
    service: Service, aws: Aws, tmp_path: Path, daemons: list[Daemon]
) -> None:
    """Readiness means the watcher is armed: the first thing a deploy script does after
    /readyz turns 200 is seen without waiting for a resync (10 minutes here)."""
    config = config_copy(tmp_path, NO_RESYNC)
    daemon = Daemon.on(config, service.current_pins())
    daemons.append(daemon)
    eventually(daemon.ready, timeout=60, what="/readyz")
    (tmp_path / "desired-versions.yaml").write_text(pins_text(backend=3))
    assert json.loads(daemon.get("/status")[1])["watching"] is True
    eventually(lambda: backend_at(aws) == "3", timeout=60, what="revision 3 live")


def test_a_configmap_swap_of_the_pin_file_is_applied_at_once(
    service: Service, aws: Aws, tmp_path: Path, daemons: list[Daemon]
) -> None:
    """The kubelet updates a ConfigMap volume by swapping ``..data`` to a new folder and
    deleting the old one (https://kubernetes.io/docs/concepts/configuration/configmap/#mounted-configmaps-are-updated-automatically):
    each swap is applied at once, and the deleted folder never makes the pins unreadable."""
    config = config_copy(
        tmp_path,
        {**NO_RESYNC, "path: ../state/desired-versions.yaml": "path: pins/desired-versions.yaml"},
    )
    volume = ConfigMapVolume(tmp_path / "pins", "desired-versions.yaml", pins_text(backend=4))
    daemon = Daemon("--config", str(config), "--listen", "127.0.0.1:0")
    daemons.append(daemon)
    eventually(daemon.ready, timeout=60, what="/readyz")
    volume.update(pins_text(backend=3))
    eventually(lambda: backend_at(aws) == "3", timeout=60, what="the first swap applied")
    volume.update(pins_text(backend=2))
    eventually(lambda: backend_at(aws) == "2", timeout=60, what="the second swap applied")
    assert daemon.events("desired_invalid") == []
    assert daemon.metric("pinback_desired_state_valid") == 1


def test_a_config_in_a_configmap_volume_resolves_paths_against_the_volume(
    service: Service, aws: Aws, tmp_path: Path, daemons: list[Daemon]
) -> None:
    """The config itself in a ConfigMap volume: its relative pin path is read against the
    volume's folder as mounted, not the version folder the link led to at start, and a swap
    of the config is taken at once too."""
    text = config_copy(tmp_path, NO_RESYNC).read_text()
    text = text.replace(
        "path: ../state/desired-versions.yaml", "path: ../pins/desired-versions.yaml"
    )
    assert "../pins/desired-versions.yaml" in text
    (tmp_path / "pins").mkdir()
    (tmp_path / "pins" / "desired-versions.yaml").write_text(pins_text(backend=4))
    volume = ConfigMapVolume(tmp_path / "config", "pinback.yaml", text)
    daemon = Daemon("--config", str(volume.path), "--listen", "127.0.0.1:0")
    daemons.append(daemon)
    eventually(daemon.ready, timeout=60, what="/readyz")
    volume.update(text.replace("mode: auto", "mode: observe"))
    eventually(lambda: daemon.event("config_changed"), timeout=30, what="the config swap")
    (tmp_path / "pins" / "desired-versions.yaml").write_text(pins_text(backend=3))
    eventually(
        lambda: daemon.metric("pinback_target_drift", target="backend", kind="ecs") == 1,
        timeout=30,
        what="drift reported in observe mode",
    )
    assert backend_at(aws) == "4"
    assert daemon.events("desired_invalid") == []
