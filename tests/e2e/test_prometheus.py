"""End to end with the real Prometheus: it scrapes the controller and the drift alert fires, then resolves."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.stands.daemon_process import Daemon
from tests.stands.service import IN_CI, REPO, Aws, Service, config_copy
from tests.stands.waiting import eventually


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        if IN_CI:
            pytest.fail("prometheus is required under CI=true (.ci/run installs it)")
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    return found


def start_prometheus(binary: str, folder: Path, scrape: str) -> tuple[subprocess.Popen[bytes], str]:
    """The shipped config and alerts, with 1 s intervals, `for: 0s`, and the test's controller."""
    config = yaml.safe_load((REPO / "config" / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["scrape_configs"][0]["static_configs"] = [{"targets": [scrape]}]
    rules = (REPO / "config" / "alerts.yml").read_text()
    (folder / "alerts.yml").write_text(
        rules.replace("for: 5m", "for: 0s").replace("for: 1m", "for: 0s")
    )
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, f"http://127.0.0.1:{port}"


def api(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())


def answering(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def drift_alert(prometheus: str) -> dict[str, Any] | None:
    alerts = api(f"{prometheus}/api/v1/alerts")["data"]["alerts"]
    return next(
        (
            a
            for a in alerts
            if a["labels"]["alertname"] == "PinbackTargetDrift" and a["state"] == "firing"
        ),
        None,
    )


@pytest.fixture
def prometheus(prometheus_binary: str, tmp_path: Path) -> Iterator[object]:
    processes: list[subprocess.Popen[bytes]] = []

    def launch(scrape: str) -> str:
        process, url = start_prometheus(prometheus_binary, tmp_path, scrape)
        processes.append(process)
        eventually(lambda: answering(f"{url}/-/ready"), timeout=30, what="Prometheus ready")
        return url

    yield launch
    for process in processes:
        process.terminate()
        process.wait(timeout=30)


def test_drift_alert_fires_and_resolves(
    service: Service, aws: Aws, tmp_path: Path, prometheus: object
) -> None:
    """Suspended target changed by hand: Prometheus fires the drift alert with the owner; unsuspended, pinback restores it and the alert resolves."""
    suspended = {"revision": 4, "suspend": True, "reason": "INC-231"}
    pins = service.pins(frontend=service_commit(), backend=suspended)
    config = config_copy(tmp_path, {"resyncInterval: 30s": "resyncInterval: 1s"})
    daemon = Daemon("--config", str(config), "--state", str(pins), "--listen", "127.0.0.1:0")
    try:
        eventually(daemon.ready, timeout=30, what="the controller ready")
        url = prometheus(daemon.url.removeprefix("http://"))  # type: ignore[operator]
        eventually(
            lambda: api(f"{url}/api/v1/query?query=up")["data"]["result"],
            timeout=30,
            what="a first scrape",
        )
        aws.client("ecs").update_service(
            cluster="leh-cluster", service="leh-backend", taskDefinition="leh-backend:2"
        )  # type: ignore[attr-defined]
        alert = eventually(lambda: drift_alert(url), timeout=60, what="the drift alert firing")
        assert alert["labels"]["target"] == "backend"
        assert alert["labels"]["owner"] == "H" and alert["labels"]["urgency"] == "high"

        service.pins(frontend=service_commit(), backend=4)
        eventually(lambda: drift_alert(url) is None, timeout=60, what="the drift alert resolved")
        services = aws.client("ecs").describe_services(
            cluster="leh-cluster", services=["leh-backend"]
        )  # type: ignore[attr-defined]
        assert services["services"][0]["taskDefinition"].endswith(":4")
    finally:
        daemon.stop(signal.SIGTERM)


def service_commit() -> str:
    from tests.stands.service import COMMITS

    return COMMITS[-1][:7]
