"""A rollback of all four targets: pinback vs the ROLLBACK.md commands, against one moto server."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from daemon.adapters.audit import AuditLog
from daemon.devtools import sandbox
from daemon.engine.engine import Engine
from daemon.spec import load_config, load_desired
from tests.bench.common import REPO, log, median, own_config, pinback_args, reset_moto, run_child

OLDER = {
    "frontend": sandbox.FRONTEND_COMMITS[2],
    "backend": "3",
    "ai-worker": sandbox.WORKER_TAGS[2],
    "database": "b47e1c2d9a10",
}
ROUNDS = 5


def pins_file(folder: Path) -> Path:
    path = folder / "older.yaml"
    path.write_text(
        "apiVersion: pinback/v1\nkind: DesiredVersions\nspec:\n"
        f"  frontend: {{commit: {OLDER['frontend'][:7]}}}\n"
        f"  backend: {{revision: {OLDER['backend']}}}\n"
        f"  ai-worker: {{imageTag: {OLDER['ai-worker']}}}\n"
        f"  database: {{revision: {OLDER['database']}}}\n"
    )
    return path


def fresh(endpoint: str, folder: Path) -> dict[str, str]:
    reset_moto(endpoint)
    database = folder / "app.db"
    database.unlink(missing_ok=True)
    return sandbox.seed_all(endpoint, f"sqlite:///{database}", REPO / "config" / "migrations")


def manual_procedure(env: dict[str, str], folder: Path) -> int:
    """ROLLBACK.md 3.3, 3.2, 4.2 and 4.3 as AWS CLI commands, 5.2-5.3 as Alembic commands, run
    one after another as a person would; returns how many commands ran."""
    aws = [
        str(Path(sys.executable).parent / "aws"),
        "--endpoint-url",
        env["AWS_ENDPOINT_URL"],
        "--region",
        sandbox.REGION,
    ]
    ini = folder / "alembic.ini"
    ini.write_text(
        f"[alembic]\nscript_location = {REPO / 'config' / 'migrations'}\nsqlalchemy.url = {env['DATABASE_URL']}\n"
    )
    alembic = [str(Path(sys.executable).parent / "alembic"), "-c", str(ini)]
    distribution = env["CLOUDFRONT_DISTRIBUTION_ID"]
    image = f"{sandbox.ACCOUNT}.dkr.ecr.{sandbox.REGION}.amazonaws.com/leh-ai-worker:{OLDER['ai-worker']}"
    commands = [
        [
            *aws,
            "s3",
            "sync",
            f"s3://leh-frontend-artifacts/builds/{OLDER['frontend']}/",
            "s3://leh-frontend-prod/",
            "--delete",
        ],
        [
            *aws,
            "ecs",
            "update-service",
            "--cluster",
            "leh-cluster",
            "--service",
            "leh-backend",
            "--force-new-deployment",
            "--task-definition",
            f"leh-backend:{OLDER['backend']}",
        ],
        [
            *aws,
            "ecs",
            "describe-services",
            "--cluster",
            "leh-cluster",
            "--services",
            "leh-backend",
            "--query",
            "services[0].deployments",
        ],
        [
            *aws,
            "lambda",
            "update-function-code",
            "--function-name",
            "leh-ai-worker",
            "--image-uri",
            image,
        ],
        [*alembic, "downgrade", OLDER["database"]],
        [*alembic, "current"],
    ]
    for command in commands:
        done = run_child(command, env)
        assert done.returncode == 0, " ".join(command) + done.stderr
        if command[4:6] == ["s3", "sync"]:  # 3.2: invalidate after the sync, then check it
            created = run_child(
                [
                    *aws,
                    "cloudfront",
                    "create-invalidation",
                    "--distribution-id",
                    distribution,
                    "--paths",
                    "/*",
                ],
                env,
            )
            invalidation = json.loads(created.stdout)["Invalidation"]["Id"]
            checked = run_child(
                [
                    *aws,
                    "cloudfront",
                    "get-invalidation",
                    "--distribution-id",
                    distribution,
                    "--id",
                    invalidation,
                ],
                env,
            )
            assert checked.returncode == 0, checked.stderr
    return len(commands) + 2


def measure(endpoint: str) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="pinback-bench-"))
    pins = pins_file(folder)
    config_path = own_config(folder)  # the trail in this folder, never the sandbox's
    cli, manual, warm = [], [], []
    engine: Engine | None = None
    commands = 0
    for round_ in range(ROUNDS):
        log(f"apply of four targets, round {round_ + 1}/{ROUNDS}")
        env = fresh(endpoint, folder)
        run = run_child(
            pinback_args("apply", "--yes", "--config", str(config_path), "--state", str(pins)),
            env,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        cli.append(run.seconds)

        env = fresh(endpoint, folder)
        started = time.perf_counter()
        commands = manual_procedure(env, folder)
        manual.append(time.perf_counter() - started)

        sandbox.environment(fresh(endpoint, folder))
        if (
            engine is None
        ):  # one engine for all rounds: warm clients and connections, as in the controller
            # With its audit trail, as the controller runs: apply_started and the outcome
            # are durable commits inside the measured time.
            config = load_config(config_path)
            engine = Engine(config, audit=AuditLog(f"sqlite:///{folder / 'warm-audit.db'}"))
        desired = load_desired(pins, engine.config)
        started = time.perf_counter()
        results = engine.apply(engine.snapshot(desired).plan)
        warm.append(time.perf_counter() - started)
        assert all(r.outcome.value == "applied" for r in results), [r.error for r in results]
    return {
        "rounds": ROUNDS,
        "pinback_apply_cli_s": median(cli),
        "manual_procedure_s": median(manual),
        "manual_procedure_commands": commands,
        "in_process_plan_and_apply_s": median(warm),
        "in_process_first_round_s": round(warm[0], 4),
        "speedup_cli_vs_manual": round(median(manual) / median(cli), 2),
        "speedup_in_process_vs_manual": round(median(manual) / median(warm), 1),
        "note": (
            "pinback waits for, verifies and records each change (two durable audit commits "
            "per target); the manual commands only issue them"
        ),
    }
