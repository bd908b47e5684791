"""Several replicas on one PostgreSQL: one leads, a dead leader is replaced, a leader cut off
from the database stops before anyone else can start, and nothing is changed twice."""

from __future__ import annotations

import datetime as dt
import json
import signal
import time
from pathlib import Path

from tests.stands.daemon_process import Daemon, waiting_on
from tests.stands.fault_proxy import FaultProxy
from tests.stands.service import COMMITS, REVISIONS, TAGS, Aws, Service, config_copy, pinback
from tests.stands.tcp_proxy import TcpProxy
from tests.stands.waiting import eventually

# seconds: renew every 4 s, give up after 8 s without a renew. The margin to the lease's
# end (4 s) is what a loaded machine has to log leader_lost in time.
LEASE = 12


def ha_config(folder: Path, shards: int = 1, lease: int = LEASE) -> Path:
    return config_copy(
        folder,
        {"resyncInterval: 30s": "resyncInterval: 1s"},
        append=(
            f"leadership:\n  urlEnv: PINBACK_LEADER_URL\n  leaseSeconds: {lease}\n"
            f"  shards: {shards}\n"
        ),
    )


def replica(
    config: Path, pins: Path, leases: str, audit: str, aws_endpoint: str | None = None
) -> Daemon:
    env = {"PINBACK_LEADER_URL": leases, "PINBACK_AUDIT_URL": audit}
    if aws_endpoint:
        env["AWS_ENDPOINT_URL"] = aws_endpoint
    return Daemon.on(config, pins, env=env)


def leaders(replicas: list[Daemon]) -> list[Daemon]:
    return [r for r in replicas if r.process.poll() is None and r.metric("pinback_leader") == 1]


def at(timestamp: str) -> float:
    return dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def one(found: list[Daemon]) -> Daemon | None:
    return found[0] if len(found) == 1 else None


def backend_revision(aws: Aws) -> str:
    services = aws.client("ecs").describe_services(cluster="leh-cluster", services=["leh-backend"])  # type: ignore[attr-defined]
    return str(services["services"][0]["taskDefinition"]).rsplit(":", 1)[-1]


def audit(config: Path, audit_url: str, *args: str) -> list[dict[str, object]]:
    done = pinback(
        "audit", "--config", str(config), "-o", "json", *args, env={"PINBACK_AUDIT_URL": audit_url}
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def rollback_pins(service: Service) -> Path:
    return service.pins(
        frontend=COMMITS[-1][:7], backend=3, ai_worker=TAGS[-1], database=REVISIONS[-1]
    )


def test_one_leads_and_a_killed_leader_is_replaced_without_repeating(
    service: Service, aws: Aws, tmp_path: Path, pg_url: str
) -> None:
    config = ha_config(tmp_path)
    pins = service.current_pins()
    replicas = [replica(config, pins, pg_url, pg_url) for _ in range(3)]
    try:
        for r in replicas:
            eventually(r.ready, timeout=30, what="every replica ready")
        leader = eventually(lambda: one(leaders(replicas)), timeout=LEASE + 10, what="one leader")
        assert [r.metric("pinback_leader") for r in replicas].count(0) == 2
        follower = next(r for r in replicas if r is not leader)
        (lease,) = json.loads(follower.get("/status")[1])["leadership"]["shards"]
        assert lease["holder"] == leader.event("leader_acquired")["holder"]  # type: ignore[index]
        assert lease["mine"] is False
        aws.proxy.clear()
        aws.proxy.add(
            "DescribeServices",
            "rewrite",
            count=-1,
            set={"services.*.deployments.*.rolloutState": "IN_PROGRESS"},
        )
        rollback_pins(service)
        eventually(lambda: waiting_on(leader, "3"), timeout=30, what="the leader mid-apply")
        leader.stop(signal.SIGKILL)
        aws.proxy.drop_rules()  # the rollout completes while nobody leads
        survivors = [r for r in replicas if r is not leader]
        successor = eventually(
            lambda: one(leaders(survivors)), timeout=LEASE + 5, what="a new leader in time"
        )
        eventually(
            lambda: successor.event("open_apply_closed", lambda e: e.get("target") == "backend"),
            timeout=30,
            what="the new leader closing the dead leader's apply",
        )
        eventually(
            lambda: all(r.metric("pinback_target_drift", target="backend") == 0 for r in survivors),
            timeout=30,
            what="every replica seeing backend at its pin",
        )
    finally:
        for r in replicas:
            r.stop()
    assert backend_revision(aws) == "3"
    assert aws.proxy.seen("UpdateService") == 1  # issued once, by the first leader only
    verified = pinback(
        "audit", "--config", str(config), "verify", env={"PINBACK_AUDIT_URL": pg_url}
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    records = audit(config, pg_url)
    acquired = [r["epoch"] for r in records if r["event"] == "leader_acquired"]
    applies = [
        (r["event"], r["epoch"])
        for r in records
        if r.get("target") == "backend" and str(r["event"]).startswith("apply_")
    ]
    assert len(set(acquired)) >= 2, acquired
    # The first leader started the apply; the last word is the successor's, under a later
    # epoch. The successor may also record a wait of its own (a pass that observed the
    # rollout still in progress just before it took the lease plans a wait, not a change):
    # never a second UpdateService, as counted above.
    started = [e for ev, e in applies if ev == "apply_started"]
    assert applies[0] == ("apply_started", started[0])
    assert applies[-1][0] == "apply_succeeded" and applies[-1][1] > started[0]  # type: ignore[operator]


def test_a_leader_cut_off_from_postgres_stops_before_its_lease_can_expire(
    service: Service, aws: Aws, moto_endpoint: str, tmp_path: Path, pg_url: str
) -> None:
    config = ha_config(tmp_path)
    pins = service.current_pins()
    host_port = pg_url.split("@", 1)[-1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    link = TcpProxy(host, int(port))
    own_aws = FaultProxy(moto_endpoint).start()  # the calls the first replica makes, apart
    first = replica(config, pins, link.url(pg_url), link.url(pg_url), own_aws.url)
    second: Daemon | None = None
    try:
        eventually(lambda: first.metric("pinback_leader") == 1, timeout=LEASE + 10, what="lead")
        second = replica(config, pins, pg_url, pg_url)
        eventually(second.ready, timeout=30, what="the second replica ready")
        assert second.metric("pinback_leader") == 0
        link.cut()
        cut_at = time.time()
        rollback_pins(service)  # a change the cut-off leader must not make
        lost = eventually(
            lambda: first.event("leader_lost"), timeout=LEASE + 30, what="leader_lost"
        )
        took_over = eventually(
            lambda: second.event("leader_acquired") if second else None,
            timeout=LEASE + 5,
            what="the second replica leading",
        )
        eventually(
            lambda: backend_revision(aws) == "3", timeout=30, what="the change, by the new leader"
        )
    finally:
        first.stop()
        if second is not None:
            second.stop()
        own_aws.stop()
        link.close()
    assert own_aws.mutating_since(cut_at) == []
    assert aws.proxy.seen("UpdateService") == 1
    lost_at, took_at = (at(e["timestamp"]) for e in (lost, took_over))
    assert lost_at < cut_at + LEASE  # it stopped while its lease still stood (its own clock)...
    assert lost_at <= took_at  # ...so before the other could start


def test_a_change_in_flight_when_the_lease_is_taken_never_reaches_aws(
    service: Service, aws: Aws, moto_endpoint: str, tmp_path: Path, pg_url: str
) -> None:
    """The fencing token, with the old leader still reaching PostgreSQL (so the audit-first
    rule cannot be what stops it). Its UpdateService is held at the proxy, another holder
    takes the lease in the database, then the proxy drops the request unanswered and
    botocore retries it. The retry asks the lease database first and is refused: no
    mutating request reaches AWS after the takeover. The lease is 30 s, so the old leader's
    own renew (every 10 s) has not yet noticed: only the database check can refuse it."""
    import psycopg

    config = ha_config(tmp_path, lease=30)
    own_aws = FaultProxy(moto_endpoint).start()
    leader = replica(config, service.current_pins(), pg_url, pg_url, own_aws.url)
    try:
        eventually(lambda: leader.metric("pinback_leader") == 1, timeout=30, what="it leads")
        own_aws.add("UpdateService", "hold-before")
        service.pins(backend=3)
        eventually(lambda: own_aws.holding, timeout=30, what="the UpdateService held in flight")
        with psycopg.connect(pg_url, autocommit=True) as connection:
            taken = connection.execute(
                "UPDATE pinback_leases SET holder = 'intruder', epoch = epoch + 1,"
                " expires_at = clock_timestamp() + interval '1 hour'"
                " WHERE name = 'pinback:shard:0/1' RETURNING epoch"
            ).fetchall()
        took_over_at = time.time()
        assert len(taken) == 1
        own_aws.release()  # the held request ends unanswered; botocore retries it
        lost = eventually(
            lambda: leader.event("leader_lost"), timeout=30, what="leader_lost recorded"
        )
        outcome = eventually(
            lambda: (
                leader.event("apply_failed", lambda e: e.get("target") == "backend")
                or leader.event("apply_succeeded", lambda e: e.get("target") == "backend")
            ),
            timeout=60,
            what="the backend apply's outcome",
        )
    finally:
        leader.stop()
        own_aws.stop()
    assert own_aws.mutating_since(took_over_at) == []
    assert backend_revision(aws) == "4"  # the intruder holds the lease; nothing was changed
    assert outcome["event"] == "apply_failed" and "no longer epoch" in str(outcome), outcome
    assert "taken over" in str(lost["reason"]), lost
    records = audit(config, pg_url, "--target", "backend")
    assert [r["event"] for r in records if str(r["event"]).startswith("apply_")] == [
        "apply_started",
        "apply_failed",
    ]
    assert any(r["event"] == "leader_lost" for r in audit(config, pg_url))


SERVICES = 300
SHARDS = 6


def seed_fleet(endpoint: str, folder: Path) -> tuple[Path, Path]:
    """300 ECS services at revision 2 (revision 1 registered too); config and pin file."""
    from daemon.devtools import sandbox

    ecs = sandbox.client(endpoint, "ecs")
    ecs.create_cluster(clusterName="fleet")
    targets = []
    for index in range(SERVICES):
        family = f"svc-{index:03d}"
        for _ in range(2):
            ecs.register_task_definition(
                family=family, containerDefinitions=[{"name": "a", "image": "a", "memory": 64}]
            )
        ecs.create_service(
            cluster="fleet", serviceName=family, taskDefinition=f"{family}:2", desiredCount=2
        )
        targets.append(f"  {family}: {{kind: ecs, cluster: fleet, service: {family}}}")
    config = folder / "fleet.yaml"
    config.write_text(
        "apiVersion: pinback/v1\nkind: Config\naws: {region: ap-northeast-2}\n"
        "daemon: {resyncInterval: 5s, concurrency: 8}\n"
        f"leadership: {{urlEnv: PINBACK_LEADER_URL, leaseSeconds: {LEASE}, shards: {SHARDS}}}\n"
        "targets:\n" + "\n".join(targets) + "\n"
    )
    return config, pin_fleet(folder, 2)


def pin_fleet(folder: Path, revision: int) -> Path:
    path = folder / "fleet-pins.yaml"
    lines = [f"  svc-{i:03d}: {{revision: {revision}}}" for i in range(SERVICES)]
    path.write_text(
        "apiVersion: pinback/v1\nkind: DesiredVersions\nspec:\n" + "\n".join(lines) + "\n"
    )
    return path


def fleet_at(aws: Aws, revision: int) -> bool:
    ecs = aws.client("ecs")
    names = [f"svc-{i:03d}" for i in range(SERVICES)]
    for start in range(0, SERVICES, 10):
        found = ecs.describe_services(cluster="fleet", services=names[start : start + 10])  # type: ignore[attr-defined]
        if any(not s["taskDefinition"].endswith(f":{revision}") for s in found["services"]):
            return False
    return True


def shares(replicas: list[Daemon]) -> list[float]:
    return sorted(
        r.metric("pinback_leader_shards") or 0 for r in replicas if r.process.poll() is None
    )


def test_sharded_replicas_split_the_fleet_and_take_over_a_dead_ones_shards(
    aws: Aws, tmp_path: Path, pg_url: str
) -> None:
    config, pins = seed_fleet(aws.moto, tmp_path)
    replicas = [replica(config, pins, pg_url, pg_url) for _ in range(3)]
    try:
        eventually(lambda: shares(replicas) == [2, 2, 2], timeout=60, what="two shards each")
        aws.proxy.clear()
        pin_fleet(tmp_path, 1)
        eventually(lambda: fleet_at(aws, 1), timeout=120, what="the fleet rolled back")
        first_round = aws.proxy.seen("UpdateService")
        replicas[0].stop(signal.SIGKILL)
        survivors = replicas[1:]
        eventually(lambda: shares(survivors) == [3, 3], timeout=LEASE + 10, what="shards moved")
        pin_fleet(tmp_path, 2)
        eventually(lambda: fleet_at(aws, 2), timeout=120, what="the fleet rolled forward")
    finally:
        for r in replicas:
            r.stop()
    assert first_round == SERVICES  # every target changed once: no shard applied twice
    assert aws.proxy.seen("UpdateService") == 2 * SERVICES
    verified = pinback(
        "audit", "--config", str(config), "verify", env={"PINBACK_AUDIT_URL": pg_url}
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr  # one chain, 3 writers


def test_sharded_replicas_observe_only_their_own_shards(
    aws: Aws, moto_endpoint: str, tmp_path: Path, pg_url: str
) -> None:
    """With shards, a replica that leads some observes only theirs: every service it asks
    ECS about (read from its requests at its own proxy) is in a shard it leads, so two
    replicas split the reading of a fleet as well as the changing."""
    from daemon.core.shards import assign
    from daemon.spec import load_config

    config, pins = seed_fleet(aws.moto, tmp_path)
    proxies = [FaultProxy(moto_endpoint, keep_bodies=True).start() for _ in range(2)]
    replicas = [replica(config, pins, pg_url, pg_url, p.url) for p in proxies]
    shard_of = assign(load_config(config).model, SHARDS)
    try:
        eventually(lambda: shares(replicas) == [3, 3], timeout=60, what="three shards each")
        for daemon in replicas:  # a pass begun before the split has ended...
            daemon.more_passes(1, timeout=120)
        for proxy in proxies:  # ...so every request from here on is of a pass after it
            proxy.clear()
        for daemon in replicas:
            daemon.more_passes(3, timeout=120)
        asked = [described(proxy) for proxy in proxies]
        mine = [{n for n, s in shard_of.items() if s in leading(daemon)} for daemon in replicas]
    finally:
        for daemon in replicas:
            daemon.stop()
        for proxy in proxies:
            proxy.stop()
    for names, own in zip(asked, mine, strict=True):
        assert names and names <= own, sorted(names - own)[:5]
    assert asked[0] | asked[1] == set(shard_of)  # between them, the whole fleet is read


def described(proxy: FaultProxy) -> set[str]:
    """The services a replica asked ECS about (DescribeServices request bodies)."""
    names: set[str] = set()
    for signature, body in list(proxy.bodies):
        if signature.startswith("DescribeServices"):
            names.update(json.loads(body)["services"])
    return names


def leading(daemon: Daemon) -> set[int]:
    shards = json.loads(daemon.get("/status")[1])["leadership"]["shards"]
    return {s["shard"] for s in shards if s["mine"]}


def test_a_clean_shutdown_hands_the_lease_over_at_once(
    service: Service, aws: Aws, tmp_path: Path, pg_url: str
) -> None:
    """SIGTERM releases the lease and the member row, so a standby takes over at its next
    try rather than a lease later (both were rolled back by a failed read of the result)."""
    import psycopg

    config = ha_config(tmp_path)
    daemon = replica(config, service.current_pins(), pg_url, f"sqlite:///{tmp_path / 'a.db'}")
    eventually(lambda: daemon.metric("pinback_leader") == 1, timeout=30, what="it leads")
    assert daemon.stop() == 0
    with psycopg.connect(pg_url) as connection:
        rows = connection.execute(
            "SELECT name, expires_at <= clock_timestamp() FROM pinback_leases ORDER BY name"
        ).fetchall()
    assert rows == [("pinback:shard:0/1", True)]  # released; the member row is gone
