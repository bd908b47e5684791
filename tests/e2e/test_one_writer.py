"""One writer: ``pinback apply`` beside a running controller of the same files hands the
change to it; a controller of another config on that port is not believed."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

from tests.stands.daemon_process import Daemon
from tests.stands.service import COMMITS, REVISIONS, TAGS, Aws, Service, config_copy, pinback
from tests.stands.waiting import eventually


def listening_on(config: str, port: int) -> str:
    """The config with ``daemon.listen`` on ``port`` of 127.0.0.1, whatever it said."""
    return re.sub(r"(?m)^(  listen:) \S+", rf"\1 127.0.0.1:{port}", config, count=1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def controller_on(
    tmp_path: Path, service: Service, port: int, note: str = ""
) -> tuple[Path, Daemon]:
    config = config_copy(tmp_path, append=note)
    config.write_text(listening_on(config.read_text(), port))
    daemon = Daemon("--config", str(config), "--state", str(service.current_pins()))
    eventually(daemon.ready, timeout=60, what="ready")
    return config, daemon


def test_apply_beside_a_running_controller_hands_the_change_over(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """The controller is mid-rollout (its UpdateService slowed by 3 s) when someone runs
    ``pinback apply`` on the same files: the command asks the controller and follows it,
    so the rollback is issued once, by the controller, and the command exits 0."""
    config, daemon = controller_on(tmp_path, service, free_port())
    try:
        aws.proxy.add("UpdateService", "latency", count=1, delay=3)
        pins = service.pins(
            frontend=COMMITS[-1][:7], backend=3, ai_worker=TAGS[-1], database=REVISIONS[-1]
        )
        eventually(
            lambda: aws.proxy.seen("UpdateService"), timeout=30, what="the controller's change"
        )
        done = pinback("apply", "--yes", "--config", str(config), "--state", str(pins))
        assert done.returncode == 0, done.stdout + done.stderr
        assert "applied by the controller" in done.stdout
        assert "asked the controller" in done.stderr
    finally:
        daemon.stop()
    assert aws.proxy.seen("UpdateService") == 1
    starts = pinback("audit", "--config", str(config), "--event", "apply_started", "-o", "json")
    assert len(starts.stdout.splitlines()) == 1


def test_apply_local_applies_from_here(service: Service, aws: Aws, tmp_path: Path) -> None:
    """``--local`` is for a controller that answers but is stuck (here its UpdateService never
    comes back): the command applies the change itself and says so."""
    config, daemon = controller_on(tmp_path, service, free_port())
    try:
        aws.proxy.add("UpdateService", "hold-before", count=1)
        pins = service.pins(
            frontend=COMMITS[-1][:7], backend=3, ai_worker=TAGS[-1], database=REVISIONS[-1]
        )
        eventually(lambda: aws.proxy.holding, timeout=30, what="the controller stuck")
        done = pinback("apply", "--yes", "--local", "--config", str(config), "--state", str(pins))
        assert done.returncode == 0, done.stdout + done.stderr
        assert "asked the controller" not in done.stderr
        assert "applied by the controller" not in done.stdout
        assert aws.proxy.seen("UpdateService") == 2  # the stuck one, and this command's
    finally:
        aws.proxy.release()
        daemon.stop()


def test_a_controller_of_another_config_is_not_believed(
    service: Service, aws: Aws, tmp_path: Path
) -> None:
    """Another controller answers on this config's listen address: ``pinback status`` says it
    is not asking it and observes AWS itself."""
    port = free_port()
    other = tmp_path / "other"
    other.mkdir()
    _, daemon = controller_on(other, service, port, "# another team's controller\n")
    try:
        mine = config_copy(tmp_path)
        mine.write_text(listening_on(mine.read_text(), port))
        done = pinback(
            "status", "-o", "json", "--config", str(mine), "--state", str(service.current_pins())
        )
        assert done.returncode == 0, done.stderr
        assert "not asking the controller" in done.stderr and "another config" in done.stderr
        assert json.loads(done.stdout).get("source") is None
    finally:
        daemon.stop()


def leadership_config(folder: Path) -> Path:
    return config_copy(folder, append="leadership: {urlEnv: PINBACK_LEADER_URL, leaseSeconds: 6}\n")


def test_a_local_apply_beside_a_leading_replica_refuses(
    service: Service, aws: Aws, tmp_path: Path, pg_url: str
) -> None:
    """With replicas, a local apply takes the shard's lease like a replica would; a live
    replica holds it, so the command refuses naming it and changes nothing."""
    config = leadership_config(tmp_path)
    env = {"PINBACK_LEADER_URL": pg_url}
    daemon = Daemon.on(config, service.current_pins(), env=env)
    try:
        eventually(lambda: daemon.metric("pinback_leader") == 1, timeout=30, what="it leads")
        other = tmp_path / "mine"
        other.mkdir()
        pins = Service(aws, service.database_url, other).pins(
            frontend=COMMITS[-1][:7], backend=3, ai_worker=TAGS[-1], database=REVISIONS[-1]
        )
        done = pinback(
            "apply", "--yes", "--local", "--config", str(config), "--state", str(pins), env=env
        )
        assert done.returncode == 1
        assert "is led by" in done.stderr and "a local apply would race it" in done.stderr
        assert aws.proxy.seen("UpdateService") == 0
    finally:
        daemon.stop()


def test_a_local_apply_takes_a_free_lease_and_gives_it_back(
    service: Service, aws: Aws, tmp_path: Path, pg_url: str
) -> None:
    """No replica leads: the command takes the lease (a new epoch), applies fenced by it, and
    releases it at once so a replica can take over without waiting out the lease."""
    import psycopg

    config = leadership_config(tmp_path)
    pins = service.pins(
        frontend=COMMITS[-1][:7], backend=3, ai_worker=TAGS[-1], database=REVISIONS[-1]
    )
    done = pinback(
        "apply",
        "--yes",
        "--config",
        str(config),
        "--state",
        str(pins),
        env={"PINBACK_LEADER_URL": pg_url},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert aws.proxy.seen("UpdateService") == 1
    with psycopg.connect(pg_url) as connection:
        ((holder, epoch, expired),) = connection.execute(
            "SELECT holder, epoch, expires_at <= clock_timestamp() FROM pinback_leases"
        ).fetchall()
    assert holder.startswith("pinback apply@") and epoch == 1 and expired
