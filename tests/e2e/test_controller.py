"""``pinback run`` as a process against moto server: pins in, AWS changes out, metrics and logs."""

from __future__ import annotations

import ctypes
import datetime as dt
import json
import os
import platform
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stands.daemon_process import Daemon, waiting_on
from tests.stands.gitrepo import commit_as, new_repo
from tests.stands.service import TAGS, Aws, Service, audit_json, config_copy, pinback
from tests.stands.waiting import eventually

# tgkill(2): a signal to one thread of a process, which os.kill cannot aim.
SYS_TGKILL = {"x86_64": 234, "aarch64": 131}[platform.machine()]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def revision(aws: Aws) -> str:
    services = aws.client("ecs").describe_services(cluster="leh-cluster", services=["leh-backend"])  # type: ignore[attr-defined]
    return str(services["services"][0]["taskDefinition"]).rsplit(":", 1)[-1]


def drift_by_hand(aws: Aws, to: int) -> None:
    """Someone runs ``aws ecs update-service`` themselves (straight to moto, not through pinback)."""
    aws.client("ecs").update_service(
        cluster="leh-cluster", service="leh-backend", taskDefinition=f"leh-backend:{to}"
    )  # type: ignore[attr-defined]


@pytest.fixture
def start(service: Service, tmp_path: Path) -> Iterator[object]:
    """Start ``pinback run`` with a 1 s resync on the seeded service; stopped at the end."""
    started: list[Daemon] = []

    def launch(
        pins: Path | None = None, replace: dict[str, str] | None = None, listen: str = "127.0.0.1:0"
    ) -> Daemon:
        config = config_copy(
            tmp_path, {"resyncInterval: 30s": "resyncInterval: 1s", **(replace or {})}
        )
        daemon = Daemon(
            "--config",
            str(config),
            "--state",
            str(pins or service.current_pins()),
            "--listen",
            listen,
        )
        started.append(daemon)
        eventually(daemon.ready, timeout=30, what="/readyz")
        return daemon

    yield launch
    for daemon in started:
        daemon.stop(signal.SIGKILL) if daemon.process.poll() is None else None


def test_pin_edit_rolls_back_and_metrics_follow(start: object, service: Service, aws: Aws) -> None:
    """Committing an older pin moves ECS there; drift goes back to 0 and the apply is counted."""
    daemon: Daemon = start()  # type: ignore[operator]
    assert daemon.metric("pinback_target_drift", target="backend") == 0
    service.pins(frontend=service_commit(), backend=3, ai_worker="v1.9.0", database="d92f3a6c8e45")
    eventually(lambda: revision(aws) == "3", timeout=20, what="the service at revision 3")
    eventually(
        lambda: daemon.metric("pinback_reconcile_total", target="backend", result="applied") == 1,
        timeout=10,
        what="the apply counted",
    )
    eventually(
        lambda: daemon.metric("pinback_target_info", target="backend", desired="3", live="3") == 1,
        timeout=10,
        what="the versions in pinback_target_info",
    )
    assert daemon.metric("pinback_target_drift", target="backend") == 0
    succeeded = daemon.event("apply_succeeded", lambda e: e.get("target") == "backend")
    assert succeeded is not None and succeeded["live_after"] == "3" and succeeded["correlation_id"]
    assert (
        daemon.metric(
            "pinback_aws_api_calls_total", service="ecs", operation="UpdateService", outcome="ok"
        )
        or 0
    ) >= 1


def service_commit() -> str:
    from tests.stands.service import COMMITS

    return COMMITS[-1][:7]


def test_manual_drift_is_restored(start: object, aws: Aws) -> None:
    """Someone changes the service by hand; the resync finds the drift and puts the pin back."""
    daemon: Daemon = start()  # type: ignore[operator]
    drift_by_hand(aws, 2)
    eventually(
        lambda: daemon.event("drift_detected", lambda e: e.get("target") == "backend"),
        timeout=10,
        what="the drift logged",
    )
    eventually(lambda: revision(aws) == "4", timeout=20, what="the service back at its pin")


@pytest.mark.parametrize(
    ("replace", "pins"),
    [
        ({"  mode: auto": "  mode: observe"}, None),
        ({}, {"revision": 4, "suspend": True, "reason": "INC-231 hands off"}),
    ],
    ids=["observe-mode", "suspended"],
)
def test_drift_is_reported_but_not_touched(
    start: object,
    service: Service,
    aws: Aws,
    replace: dict[str, str],
    pins: dict[str, object] | None,
) -> None:
    """In observe mode or with suspend: true, drift shows in the metrics and nothing is changed."""
    path = service.pins(backend=pins) if pins else service.current_pins()
    daemon: Daemon = start(path, replace)  # type: ignore[operator]
    aws.proxy.clear()
    drift_by_hand(aws, 2)
    eventually(
        lambda: daemon.metric("pinback_target_drift", target="backend") == 1,
        timeout=10,
        what="drift reported",
    )
    blocked_before = (
        daemon.metric("pinback_reconcile_total", target="backend", result="blocked") or 0
    )
    eventually(
        lambda: (
            (daemon.metric("pinback_reconcile_total", target="backend", result="blocked") or 0)
            >= blocked_before + 2
        ),
        timeout=10,
        what="two more passes",
    )
    assert revision(aws) == "2"
    assert aws.proxy.seen("UpdateService") == 0
    if pins:
        assert daemon.metric("pinback_target_suspended", target="backend") == 1


def test_invalid_pin_changes_nothing_then_recovers(
    start: object, service: Service, aws: Aws
) -> None:
    """An invalid pin file keeps the last valid pins in force; a valid one is taken at once."""
    daemon: Daemon = start()  # type: ignore[operator]
    path = service.folder / "desired-versions.yaml"
    path.write_text(
        "apiVersion: pinback/v1\nkind: DesiredVersions\nspec:\n  backend:\n    revision: three\n"
    )
    eventually(
        lambda: daemon.metric("pinback_desired_state_valid") == 0,
        timeout=10,
        what="the pin file reported invalid",
    )
    invalid = daemon.event("desired_invalid")
    assert (
        invalid is not None
        and "desired-versions.yaml:5:5: spec.backend.revision" in invalid["error"]
    )
    status = json.loads(daemon.get("/status")[1])
    assert status["desiredStateValid"] is False
    drift_by_hand(aws, 2)
    eventually(lambda: revision(aws) == "4", timeout=20, what="the last valid pin still enforced")
    service.pins(backend=3)
    eventually(
        lambda: daemon.metric("pinback_desired_state_valid") == 1,
        timeout=10,
        what="the pin file valid again",
    )
    eventually(lambda: revision(aws) == "3", timeout=20, what="the new pin applied")


def test_newer_pin_supersedes_a_failing_one(start: object, service: Service, aws: Aws) -> None:
    """While revision 2 keeps failing and backing off, a pin to 3 is applied at once."""
    daemon: Daemon = start()  # type: ignore[operator]
    aws.proxy.add("UpdateService", "error500", count=-1, body="leh-backend:2")
    service.pins(backend=2)
    eventually(
        lambda: (
            (daemon.metric("pinback_reconcile_total", target="backend", result="failed") or 0) >= 3
        ),
        timeout=60,
        what="three failed attempts (the next retry is then 8 s away)",
    )
    service.pins(backend=3)
    eventually(lambda: revision(aws) == "3", timeout=60, what="the newer pin applied")
    assert applied_within_the_backoff(daemon)


def at(event: dict[str, object]) -> float:
    return dt.datetime.fromisoformat(str(event["timestamp"]).replace("Z", "+00:00")).timestamp()


def applied_within_the_backoff(daemon: Daemon) -> bool:
    """The backend's success came before the retry its last failure had scheduled: it was
    not the backoff running out that applied it (an order of events, not a speed)."""
    succeeded = eventually(  # AWS has the change a moment before the success is logged
        lambda: daemon.event("apply_succeeded", lambda e: e.get("target") == "backend"),
        timeout=60,
        what="the apply's success logged",
    )
    failed = [e for e in daemon.events("apply_failed") if e.get("target") == "backend"]
    assert failed, daemon.log()
    retry_due = at(failed[-1]) + float(failed[-1]["retry_in_s"])
    # A second's margin: the retry, when it comes, lands within milliseconds of its due
    # time (retry_in_s is rounded to 0.1 s), and these tests leave at least 6 s of it.
    return at(succeeded) < retry_due - 1.0


def test_post_reconcile_resets_the_backoff(start: object, service: Service, aws: Aws) -> None:
    """A target failing and backing off (AWS refusing the update) is retried at once after
    `POST /reconcile?target=` once the cause is fixed: nobody waits out a 16 s backoff
    during an incident."""
    daemon: Daemon = start()  # type: ignore[operator]
    aws.proxy.add(
        "UpdateService",
        "answer",
        count=-1,
        status=400,
        error="InvalidParameterException",
        message="TaskDefinition is inactive",
    )
    service.pins(backend=3)
    eventually(
        lambda: any(
            float(e.get("retry_in_s", 0)) >= 12
            for e in daemon.events("apply_failed")
            if e.get("target") == "backend"
        ),
        timeout=90,
        what="a failure whose next retry is at least 12 s away",
    )
    aws.proxy.drop_rules()
    assert daemon.get("/reconcile?target=backend", "POST")[0] == 202
    eventually(lambda: revision(aws) == "3", timeout=60, what="the pin applied")
    assert applied_within_the_backoff(daemon)


def test_healthz_is_503_while_the_loop_is_stuck(start: object, aws: Aws) -> None:
    """A pass stuck on an AWS call that never answers stops the loop turning: after
    `livenessTimeout` /healthz answers 503, so a liveness probe restarts the controller;
    once the call ends (botocore retries it), 200 again."""
    daemon: Daemon = start(  # type: ignore[operator]
        replace={"  shutdownGrace: 30s": "  shutdownGrace: 30s\n  livenessTimeout: 2s"}
    )
    assert daemon.get("/healthz")[0] == 200
    aws.proxy.add("DescribeServices", "hold-before")
    eventually(lambda: aws.proxy.holding, timeout=30, what="a pass's read held")
    eventually(lambda: daemon.get("/healthz")[0] == 503, timeout=30, what="/healthz 503")
    aws.proxy.release()
    eventually(lambda: daemon.get("/healthz")[0] == 200, timeout=60, what="/healthz 200 again")


def test_an_invalid_config_at_runtime_keeps_the_last_valid_one(
    start: object, service: Service, aws: Aws, tmp_path: Path
) -> None:
    """The config edited into something invalid while running: reported with file, line and
    column, the last valid config and pins still enforced. A valid edit is then taken at
    once (here `mode: observe`: the next pin is reported as drift, not applied)."""
    daemon: Daemon = start()  # type: ignore[operator]
    config = tmp_path / "pinback.yaml"
    good = config.read_text()
    config.write_text(good.replace("  concurrency: 8", "  concurrency: lots"))
    eventually(
        lambda: daemon.metric("pinback_desired_state_valid") == 0,
        timeout=30,
        what="the config reported invalid",
    )
    invalid = daemon.event("desired_invalid")
    line = good.splitlines().index("  concurrency: 8") + 1
    assert invalid is not None and f"pinback.yaml:{line}:" in invalid["error"], invalid
    drift_by_hand(aws, 2)
    eventually(lambda: revision(aws) == "4", timeout=30, what="the last valid pins enforced")
    config.write_text(good.replace("  mode: auto", "  mode: observe"))
    eventually(lambda: daemon.event("config_changed"), timeout=30, what="the edit taken")
    service.pins(backend=3)
    eventually(
        lambda: daemon.metric("pinback_target_drift", target="backend") == 1,
        timeout=30,
        what="the new pin reported as drift",
    )
    daemon.more_passes(2)
    assert revision(aws) == "4" and daemon.metric("pinback_desired_state_valid") == 1


def test_a_freeze_window_holds_the_controller_back_unless_overridden(
    start: object, service: Service, aws: Aws
) -> None:
    """Inside a freeze window the controller plans the rollback, shows it Frozen and does
    not make it; the same pin with `override: true` is applied and the override recorded."""
    now = dt.datetime.now(dt.UTC)
    window = (
        f'freeze:\n  - {{from: "{(now - dt.timedelta(hours=1)).isoformat()}",'
        f' to: "{(now + dt.timedelta(hours=1)).isoformat()}"}}\n'
    )
    daemon: Daemon = start(  # type: ignore[operator]
        replace={"desiredState:": window + "desiredState:"}
    )
    service.pins(backend=3)
    eventually(lambda: frozen_row(daemon), timeout=30, what="backend shown Frozen")
    daemon.more_passes(3)
    assert revision(aws) == "4" and aws.proxy.seen("UpdateService") == 0
    service.pins(backend={"revision": 3, "override": True, "reason": "INC-231"})
    eventually(
        lambda: daemon.event("apply_succeeded", lambda e: e.get("target") == "backend"),
        timeout=30,
        what="the override applied",
    )
    assert revision(aws) == "3"


def frozen_row(daemon: Daemon) -> bool:
    rows = {r["target"]: r for r in json.loads(daemon.get("/status")[1])["targets"]}
    return bool(rows["backend"].get("phase") == "Frozen")


def test_rollout_in_progress_is_waited_on_not_reissued(
    start: object, service: Service, aws: Aws
) -> None:
    """At start-up a deployment still rolling toward the pin is waited on; no update is sent."""
    drift_by_hand(aws, 3)
    aws.proxy.add(
        "DescribeServices",
        "rewrite",
        count=6,
        set={"services.*.deployments.*.rolloutState": "IN_PROGRESS"},
    )
    daemon: Daemon = start(service.pins(backend=3))  # type: ignore[operator]
    eventually(
        lambda: daemon.event("apply_succeeded", lambda e: e.get("target") == "backend"),
        timeout=20,
        what="the wait to finish",
    )
    started = daemon.event("apply_started", lambda e: e.get("target") == "backend")
    assert started is not None and started["wait_only"] is True
    assert aws.proxy.seen("UpdateService") == 0


def test_throttling_storm_converges(start: object, service: Service, aws: Aws) -> None:
    """With ECS throttling most calls for a while, the rollback still lands and retries are counted."""
    daemon: Daemon = start()  # type: ignore[operator]
    aws.proxy.add("DescribeServices", "throttle", count=6)
    aws.proxy.add("UpdateService", "throttle", count=4)
    service.pins(backend=3)
    eventually(lambda: revision(aws) == "3", timeout=60, what="convergence after the storm")
    throttled = daemon.metric(
        "pinback_aws_api_calls_total",
        service="ecs",
        operation="UpdateService",
        outcome="ThrottlingException",
    )
    assert throttled is not None and throttled >= 1


def test_endpoints(start: object) -> None:
    """/healthz, /readyz, /status and POST /reconcile answer as documented; nothing else does."""
    daemon: Daemon = start()  # type: ignore[operator]
    assert daemon.get("/healthz")[0] == 200 and daemon.get("/readyz")[0] == 200
    status, body = daemon.get("/status")
    rows = {row["target"]: row for row in json.loads(body)["targets"]}
    assert status == 200 and rows["backend"]["inSync"] is True and rows["backend"]["live"] == "4"
    assert daemon.get("/reconcile?target=backend", "POST")[0] == 202
    assert daemon.get("/reconcile?target=payments", "POST")[0] == 404
    assert daemon.get("/reconcile", "GET")[0] == 404
    assert daemon.get("/nope")[0] == 404


def test_status_command_asks_the_running_controller(
    start: object, service: Service, tmp_path: Path
) -> None:
    """``pinback status`` reads the controller's /status when one listens on daemon.listen."""
    port = free_port()
    start(None, {"listen: 127.0.0.1:9464": f"listen: 127.0.0.1:{port}"}, f"127.0.0.1:{port}")  # type: ignore[operator]
    done = pinback(
        "status",
        "-o",
        "json",
        "--config",
        str(tmp_path / "pinback.yaml"),
        "--state",
        str(service.current_pins()),
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["source"] == f"controller at 127.0.0.1:{port}"
    assert {row["target"] for row in document["targets"]} == {
        "frontend",
        "backend",
        "ai-worker",
        "database",
    }


def test_sigterm_stops_cleanly(start: object) -> None:
    """SIGTERM: the controller finishes, logs it, and exits 0."""
    daemon: Daemon = start()  # type: ignore[operator]
    assert daemon.stop(signal.SIGTERM) == 0
    assert daemon.events("shutdown_finished")


def test_sigterm_delivered_to_a_worker_thread_stops_it(start: object) -> None:
    """The kernel hands a process-directed SIGTERM to any thread that does not block it;
    Python runs the handler only when the main thread next runs bytecode. Sent to a worker
    thread here (tgkill), as ECS or the kubelet may happen to, it must still stop the
    controller within the grace period, not leave it reconciling until SIGKILL."""
    daemon: Daemon = start()  # type: ignore[operator]
    pid = daemon.process.pid
    threads = [int(t) for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid]
    libc = ctypes.CDLL(None, use_errno=True)
    # A thread listed a moment ago may have ended since (a pool's observe thread): the
    # signal goes to the first one still there.
    delivered = next(
        (t for t in reversed(threads) if libc.syscall(SYS_TGKILL, pid, t, signal.SIGTERM) == 0),
        None,
    )
    assert delivered is not None, "no thread of the controller took the signal"
    eventually(lambda: daemon.process.poll() is not None, timeout=30, what="the controller to exit")
    assert daemon.process.returncode == 0
    # The log is read by a thread of the test: its last lines may land after the exit.
    eventually(lambda: daemon.events("shutdown_finished"), timeout=10, what="shutdown_finished")


def test_sigterm_during_a_rollout_stops_at_a_safe_point(
    start: object, service: Service, aws: Aws
) -> None:
    """SIGTERM while waiting on a rollout ends the wait, says so, and exits 0; the update stands."""
    daemon: Daemon = start()  # type: ignore[operator]
    aws.proxy.add(
        "DescribeServices",
        "rewrite",
        count=-1,
        set={"services.*.deployments.*.rolloutState": "IN_PROGRESS"},
    )
    service.pins(backend=3)
    eventually(
        lambda: waiting_on(daemon, "3"),
        timeout=20,
        what="the wait to start",
    )
    assert daemon.stop(signal.SIGTERM) == 0
    interrupted = daemon.events("apply_interrupted")
    assert interrupted and interrupted[-1]["reason"] == "controller stopping", daemon.log()
    assert revision(aws) == "3"  # the update was made; the next controller waits on it


def test_sigterm_with_a_hung_call_exits_after_the_grace_period(
    start: object, service: Service, aws: Aws
) -> None:
    """An AWS call that never answers cannot keep the controller alive past shutdownGrace: it
    exits 0, names the stuck threads and prints their stacks for the incident review."""
    daemon: Daemon = start(None, {"shutdownGrace: 30s": "shutdownGrace: 1s"})  # type: ignore[operator]
    aws.proxy.add("DescribeServices", "hold-before", count=1)
    assert daemon.get("/reconcile", method="POST")[0] == 202
    eventually(lambda: aws.proxy.holding, timeout=20, what="the call to hang")
    assert daemon.stop(signal.SIGTERM, timeout=20, stuck_ok=True) == 0
    aws.proxy.release()
    (finished,) = daemon.events("shutdown_finished")
    assert finished["still_running"], daemon.log()
    assert "most recent call first" in daemon.log()


def test_status_shows_a_verified_apply_before_the_next_pass(
    start: object, service: Service, aws: Aws
) -> None:
    """People refresh /status during an incident: once an apply is verified, the row says
    so, rather than the pass's observation from before the apply (with a 1 h resync, the
    next pass is an hour away)."""
    daemon: Daemon = start(replace={"resyncInterval: 30s": "resyncInterval: 1h"})  # type: ignore[operator]
    service.pins(backend=3)
    eventually(
        lambda: daemon.event("apply_succeeded", lambda e: e.get("target") == "backend"),
        timeout=60,
        what="the apply",
    )
    status, body = daemon.get("/status")
    row = next(r for r in json.loads(body)["targets"] if r["target"] == "backend")
    assert (status, row["live"], row["inSync"], row["phase"], row["state"]) == (
        200,
        "3",
        True,
        "InSync",
        "in sync",
    )


def test_a_denied_version_is_recorded_and_blocked_with_who_denied_it(
    start: object, service: Service, aws: Aws
) -> None:
    """A commit adds ``deny: [3]`` to the backend; another pins revision 3 (a CI job
    re-pinning a known-bad build): the denial is recorded once with the author of its
    commit, the pin is blocked with a sentence naming them and why, and ECS stays at 4."""
    pins = service.current_pins()
    new_repo(service.folder, "Ana", "pins", pins.name)

    def commit(author: str, message: str) -> None:
        commit_as(service.folder, author, message, pins.name)

    daemon: Daemon = start(pins)  # type: ignore[operator]
    text = pins.read_text().replace(
        "    revision: 4\n",
        '    revision: 4\n    deny: [3]\n    reason: "INC-9 revision 3 leaks memory"\n',
    )
    pins.write_text(text)
    commit("Ana", "deny backend 3")
    eventually(lambda: daemon.event("denied") is not None, timeout=15, what="the denial logged")
    pins.write_text(text.replace("revision: 4\n", "revision: 3\n"))
    commit("Ci", "pin backend 3 again")

    def blocked() -> str | None:
        rows = json.loads(daemon.get("/status")[1])["targets"]
        return next(r for r in rows if r["target"] == "backend").get("blockedReason")

    eventually(lambda: blocked() is not None, timeout=15, what="the pin blocked")
    reason = blocked() or ""
    assert reason.startswith("3 is denied for backend (denied by Ana <ana@example.com> at ")
    assert reason.endswith(": INC-9 revision 3 leaks memory); pin another version")
    daemon.more_passes(2)
    assert revision(aws) == "4"
    denials = [r for r in audit_json("--event", "denied")]
    assert [(r["target"], r["desired"], r["actor"]) for r in denials] == [
        ("backend", "3", "Ana <ana@example.com>")
    ]


def test_rollback_deny_beside_the_controller_is_recorded_once_by_who_denied(
    start: object, service: Service, aws: Aws
) -> None:
    """``rollback --deny --commit`` while the controller watches the file: the controller
    sees the new ``deny:`` within milliseconds, before the command has committed; the
    denial must still be recorded once, naming the commit's author and the reason, not a
    second time by the controller as an anonymous local edit."""
    pins = service.current_pins()
    new_repo(service.folder, "Ana", "pins", pins.name)
    daemon: Daemon = start(pins)  # type: ignore[operator]
    done = pinback(
        "rollback",
        "ai-worker",
        "--steps",
        "1",
        "--deny",
        "--commit",
        "--reason",
        "INC-77 worker crash",
        "--state",
        str(pins),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    eventually(
        lambda: daemon.event("apply_succeeded", lambda e: e.get("target") == "ai-worker"),
        timeout=30,
        what="the rollback applied",
    )
    daemon.more_passes(2)
    denials = audit_json("--event", "denied")
    assert [(r["target"], r["desired"], r["actor"], r["reason"]) for r in denials] == [
        ("ai-worker", TAGS[-1], "Ana <ana@example.com>", "INC-77 worker crash")
    ]


def test_the_controller_says_how_far_back_a_rollback_can_go(
    start: object, service: Service, aws: Aws
) -> None:
    """Rollback readiness, checked every second here (hourly by default): the backend can go
    back 3 revisions; an ECR lifecycle rule expires v2.1.1, the image of revision 3, and the
    next check says 0 steps, why, on /metrics (the alert's series), /status and the page."""
    daemon: Daemon = start(
        replace={"  concurrency: 8": "  concurrency: 8\n  readinessInterval: 1s"}
    )  # type: ignore[operator]

    def steps() -> float | None:
        return daemon.metric("pinback_rollback_ready_steps", target="backend")

    eventually(lambda: steps() == 3, timeout=30, what="backend ready 3 steps back")
    assert daemon.metric("pinback_rollback_ready_steps", target="database") == 1  # then destructive
    aws.client("ecr").batch_delete_image(  # type: ignore[attr-defined]
        repositoryName="leh-backend", imageIds=[{"imageTag": "v2.1.1"}]
    )
    eventually(lambda: steps() == 0, timeout=30, what="backend not ready after the expiry")
    rows = json.loads(daemon.get("/status")[1])["targets"]
    backend = next(r for r in rows if r["target"] == "backend")
    assert backend["rollbackReadySteps"] == 0
    assert backend["rollbackNotReady"].startswith("3: ") and "v2.1.1" in backend["rollbackNotReady"]
    assert "0 steps; not further: 3: " in daemon.get("/")[1]
    assert aws.proxy.mutating_since(0) == []  # checking changed nothing
