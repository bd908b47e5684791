"""A local stand-in for the service of ROLLBACK.md: moto server plus an SQLite database.

``pinback sandbox`` starts moto on 127.0.0.1 with the flags that make it realistic
(ECS services get running tasks; Lambda checks image tags against ECR), seeds it like
the real service (four frontend builds, four backend task-definition revisions, four
AI-worker image tags, the Alembic schema at its newest revision) and prints the
environment to point pinback at it. The repo's own config and pin file work against
it unchanged. Tests and benchmarks seed their moto servers with the same functions.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

REGION = "ap-northeast-2"
MOTO_FLAGS = {"MOTO_ECS_SERVICE_RUNNING": "2", "MOTO_LAMBDA_STUB_ECR": "false"}
FRONTEND_COMMITS = tuple(
    hashlib.sha1(f"leh-frontend build {i}".encode()).hexdigest() for i in range(1, 5)
)
WORKER_TAGS = ("v1.7.0", "v1.8.0", "v1.8.2", "v1.9.0")
BACKEND_TAGS = ("v2.0.0", "v2.1.0", "v2.1.1", "v2.2.0")
ACCOUNT = "123456789012"


@dataclass
class Names:
    """The resource names of one seeded service (the ROLLBACK.md ones by default)."""

    bucket: str = "leh-frontend-prod"
    artifacts_bucket: str = "leh-frontend-artifacts"
    cluster: str = "leh-cluster"
    service: str = "leh-backend"
    function: str = "leh-ai-worker"
    repository: str = "leh-ai-worker"


def start_moto(port: int = 0) -> tuple[Any, str]:
    """Start moto server in this process on 127.0.0.1; returns (server, endpoint url)."""
    os.environ.update(MOTO_FLAGS)
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, bound = server.get_host_and_port()
    return server, f"http://{host}:{bound}"


def client(endpoint: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
    )


def image_manifest(seed: str) -> str:
    """A distinct image manifest per ``seed`` (moto's digest hashes the layers)."""
    layer = hashlib.sha256(seed.encode()).hexdigest()
    config = hashlib.sha256(f"config {seed}".encode()).hexdigest()
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 1000,
                "digest": f"sha256:{config}",
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 1000,
                    "digest": f"sha256:{layer}",
                }
            ],
        }
    )


def build_files(commit: str) -> dict[str, bytes]:
    """The files of one frontend build: a page, hashed assets, shared ones."""
    short = commit[:7]
    return {
        "index.html": f'<!doctype html><title>CHAGOK</title><script src="/assets/app-{short}.js"></script><!-- {commit} -->'.encode(),
        f"assets/app-{short}.js": f"console.log('build {commit}');".encode(),
        f"assets/app-{short}.css": f"/* build {commit} */ body {{ margin: 0 }}".encode(),
        "favicon.ico": b"\x00\x00\x01\x00",
        "version.json": json.dumps({"commit": commit}).encode(),
    }


def seed_frontend(endpoint: str, names: Names, commits: tuple[str, ...] = FRONTEND_COMMITS) -> str:
    """Artifacts for every commit, the bucket at the newest; returns the distribution id."""
    s3 = client(endpoint, "s3")
    for bucket in (names.artifacts_bucket, names.bucket):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=names.bucket, VersioningConfiguration={"Status": "Enabled"})
    for commit in commits:
        for key, body in build_files(commit).items():
            s3.put_object(
                Bucket=names.artifacts_bucket,
                Key=f"builds/{commit}/{key}",
                Body=body,
                ContentType=_type(key),
            )
    for commit in commits:  # deployed one after another, so index.html has a history
        files = build_files(commit)
        for key, body in files.items():
            if key != "index.html":
                s3.put_object(Bucket=names.bucket, Key=key, Body=body, ContentType=_type(key))
        s3.put_object(
            Bucket=names.bucket,
            Key="index.html",
            Body=files["index.html"],
            ContentType="text/html",
            Metadata={"git-commit": commit},
        )
        live = {o["Key"] for o in s3.list_objects_v2(Bucket=names.bucket).get("Contents", [])}
        for key in live - set(files):
            s3.delete_object(Bucket=names.bucket, Key=key)
    cloudfront = client(endpoint, "cloudfront")
    distribution = cloudfront.create_distribution(
        DistributionConfig={
            "CallerReference": f"sandbox-{names.bucket}",
            "Comment": "CHAGOK frontend",
            "Enabled": True,
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "s3",
                        "DomainName": f"{names.bucket}.s3.amazonaws.com",
                        "S3OriginConfig": {"OriginAccessIdentity": ""},
                    }
                ],
            },
            "DefaultCacheBehavior": {
                "TargetOriginId": "s3",
                "ViewerProtocolPolicy": "redirect-to-https",
                "MinTTL": 0,
            },
        }
    )
    return str(distribution["Distribution"]["Id"])


def seed_images(endpoint: str, repository: str, tags: tuple[str, ...]) -> None:
    ecr = client(endpoint, "ecr")
    ecr.create_repository(repositoryName=repository)
    for tag in tags:
        ecr.put_image(
            repositoryName=repository,
            imageManifest=image_manifest(f"{repository}:{tag}"),
            imageTag=tag,
        )


def seed_ecs(endpoint: str, names: Names, revisions: int = 4) -> None:
    ecs = client(endpoint, "ecs")
    ecs.create_cluster(clusterName=names.cluster)
    for index in range(revisions):
        tag = BACKEND_TAGS[index % len(BACKEND_TAGS)]
        ecs.register_task_definition(
            family=names.service,
            containerDefinitions=[
                {
                    "name": "api",
                    "image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{names.service}:{tag}",
                    "memory": 512,
                }
            ],
        )
    ecs.create_service(
        cluster=names.cluster,
        serviceName=names.service,
        taskDefinition=f"{names.service}:{revisions}",
        desiredCount=2,
    )


def lambda_role(endpoint: str) -> str:
    iam = client(endpoint, "iam")
    try:
        return str(iam.get_role(RoleName="leh-lambda")["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        policy = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        )
        return str(
            iam.create_role(RoleName="leh-lambda", AssumeRolePolicyDocument=policy)["Role"]["Arn"]
        )


def seed_lambda(endpoint: str, names: Names, tags: tuple[str, ...] = WORKER_TAGS) -> None:
    """The worker as it grew: each tag deployed and published in turn (versions 1..N), the
    alias ``live`` on the newest, so a target with ``alias: live`` has versions to go back to."""
    seed_images(endpoint, names.repository, tags)
    lam = client(endpoint, "lambda")
    repository = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{names.repository}"
    for index, tag in enumerate(tags):
        if index == 0:
            lam.create_function(
                FunctionName=names.function,
                Role=lambda_role(endpoint),
                PackageType="Image",
                Code={"ImageUri": f"{repository}:{tag}"},
            )
        else:
            lam.update_function_code(FunctionName=names.function, ImageUri=f"{repository}:{tag}")
        version = lam.publish_version(FunctionName=names.function)["Version"]
    lam.create_alias(FunctionName=names.function, Name="live", FunctionVersion=version)


def seed_database(url: str, script_location: Path, revision: str = "head") -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config(stdout=io.StringIO())
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(cfg, revision)


def seed_all(
    endpoint: str, database_url: str, script_location: Path, names: Names | None = None
) -> dict[str, str]:
    """Seed the whole service; returns the environment pinback needs to reach it."""
    names = names or Names()
    distribution = seed_frontend(endpoint, names)
    seed_images(endpoint, names.service, BACKEND_TAGS)
    seed_ecs(endpoint, names)
    seed_lambda(endpoint, names)
    seed_database(database_url, script_location)
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "sandbox",
        "AWS_SECRET_ACCESS_KEY": "sandbox",
        "AWS_DEFAULT_REGION": REGION,
        "CLOUDFRONT_DISTRIBUTION_ID": distribution,
        "DATABASE_URL": database_url,
    }


def seed_anchor_bucket(endpoint: str, bucket: str, retention_days: int = 1) -> None:
    """The audit anchors' bucket (DESIGN §12): Object Lock on, a default retention in
    compliance mode, so an anchor written there cannot be deleted or changed, even here."""
    s3 = client(endpoint, "s3")
    s3.create_bucket(
        Bucket=bucket,
        CreateBucketConfiguration={"LocationConstraint": REGION},
        ObjectLockEnabledForBucket=True,
    )
    s3.put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": retention_days}},
        },
    )


@dataclass(frozen=True)
class Seed:
    """One environment of the config to seed: its resource names, its database file in the
    sandbox folder, and the variables its config reads the database URL and the CloudFront
    distribution from."""

    names: Names
    script_location: Path
    database: str = "app.db"
    database_env: str = "DATABASE_URL"
    distribution_env: str = "CLOUDFRONT_DISTRIBUTION_ID"


def run_sandbox(
    folder: Path,
    port: int,
    seeds: list[Seed],
    out: Any,
    extra: Mapping[str, str] | None = None,
    anchor_bucket: str | None = None,
) -> None:
    """Start, seed every environment (and the audit anchors' locked bucket), write
    ``folder/env`` (with ``extra``), and serve until SIGINT or SIGTERM."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in [folder / "env", *(folder / seed.database for seed in seeds)]:
        stale.unlink(missing_ok=True)
    server, endpoint = start_moto(port)
    env: dict[str, str] = dict(extra or {})
    for seed in seeds:
        url = f"sqlite:///{(folder / seed.database).resolve()}"
        seeded = seed_all(endpoint, url, seed.script_location, seed.names)
        env.update({k: v for k, v in seeded.items() if k.startswith("AWS_")})
        env[seed.distribution_env] = seeded["CLOUDFRONT_DISTRIBUTION_ID"]
        env[seed.database_env] = seeded["DATABASE_URL"]
    if anchor_bucket is not None:
        seed_anchor_bucket(endpoint, anchor_bucket)
    exports = "".join(f"export {k}={v}\n" for k, v in env.items())
    (folder / "env").write_text(exports)
    print(exports, end="", file=out, flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.2):  # see Fleet.run_until_signalled: moto's threads get signals too
        pass
    server.stop()
    (folder / "env").unlink(missing_ok=True)


def _type(key: str) -> str:
    import mimetypes

    return mimetypes.guess_type(key)[0] or "application/octet-stream"


def environment(pairs: Mapping[str, str]) -> None:
    """Put ``pairs`` into this process's environment (tests and benchmarks)."""
    os.environ.update(pairs)
