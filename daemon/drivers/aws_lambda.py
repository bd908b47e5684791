"""Lambda functions from ECR images (ROLLBACK.md 4.1 and 4.3).

The live version is the image the function runs, by digest: ``CodeSha256`` of an
image function is its manifest digest. It is matched against the ECR repository's
tags, so a tag that was pushed again (same name, new digest) shows as drift. One
``describe_images`` listing per repository serves every function that uses it
(``lambda_images``); a repository pinback may not list (another account's registry that
grants pulls only) is gone by the tag the function was deployed with.

Lambda as it runs (DESIGN section 13): an alias whose ``RoutingConfig`` sends part of the
traffic to another version is not in sync, and a rollback clears the weights; every
``UpdateAlias`` carries the ``RevisionId`` it read, so a concurrent change is not
overwritten blindly; ``ListFunctions`` does not say whether an update is in progress, so a
function it lists as modified recently is read on its own.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from daemon.adapters.aws import error_code, error_message
from daemon.core.durations import format_duration
from daemon.core.model import Action, Kind, Observed, Pin, Resolved, VersionInfo
from daemon.drivers import lambda_images
from daemon.drivers.base import (
    NOTHING_STARTED,
    POLL_SCHEDULE,
    AwsDriver,
    Client,
    Progress,
    Started,
    Waiting,
    fan_out,
    wait_until,
)
from daemon.drivers.lambda_images import Image, Repository, Where
from daemon.errors import ApplyFailed
from daemon.spec import LambdaTarget

# Up to this many functions are read one by one; more, and one list_functions
# listing (50 a page) is cheaper.
LIST_THRESHOLD = 25
# A listed function modified this recently may still be updating: read on its own.
RECENT = dt.timedelta(minutes=10)
IDLE_POLLS = 20  # about a minute of 3 s polls for another update to finish


class LambdaDriver(AwsDriver[LambdaTarget]):
    kind = Kind.LAMBDA
    _lambda = Client("lambda")
    _ecr = Client("ecr")

    def reset_caches(self) -> None:
        """Each pass takes a fresh look at the images for its preflights."""
        with self._lock:
            self._repositories: dict[str, Repository] = {}
            if not hasattr(self, "_settled"):  # kept: which modification was seen finished
                self._settled: dict[str, Any] = {}

    def observe(self, targets: Sequence[str]) -> dict[str, Observed]:
        self.reset_caches()
        try:
            configs = self._configurations(targets)
        except (ClientError, BotoCoreError) as exc:
            return {
                n: _unobserved(n, f"reading Lambda functions failed: {error_message(exc)}")
                for n in targets
            }
        repositories = sorted({self.targets[n].repository for n in targets})
        fan_out(self._prefetch, repositories, self.workers)
        observed: dict[str, Observed] = {}
        for name in targets:
            spec = self.targets[name]
            config = configs.get(name)
            if config is None:
                what = f"alias {spec.alias} of " if spec.alias else ""
                observed[name] = _unobserved(
                    name, f"Lambda {what}function {spec.function} not found"
                )
                continue
            try:
                repository = self._repository(spec.repository)
            except (ClientError, BotoCoreError) as exc:
                observed[name] = _unobserved(
                    name, f"reading ECR repository {spec.repository} failed: {error_message(exc)}"
                )
                continue
            if repository.denied is not None:
                observed[name] = self._by_deployed_tag(name, config, repository.denied)
                continue
            observed[name] = _observed(name, config, repository)
        return observed

    def _by_deployed_tag(self, name: str, config: dict[str, Any], denied: str) -> Observed:
        """Live for a function whose repository pinback may not list: the tag its image was
        deployed with (``Code.ImageUri``), the digest it runs; a re-pushed tag cannot be
        seen from here, and the observation says so."""
        spec = self.targets[name]
        function = self._lambda.get_function(
            FunctionName=spec.function, **({"Qualifier": config["Version"]} if spec.alias else {})
        )
        image_uri = str((function.get("Code") or {}).get("ImageUri") or "")
        tag = image_uri.rpartition(":")[2] if ":" in image_uri.rpartition("/")[2] else None
        seen = _observed(name, config, Repository([]))
        detail = {**seen.detail, "ecr": f"not readable ({denied}): live is the deployed tag"}
        return Observed(
            name, Kind.LAMBDA, tag or seen.live, None, seen.in_progress, None, detail, seen.partial
        )

    def _configurations(self, targets: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Each target's running configuration, by target name: the version its alias points
        at when it has one (one call each), else ``$LATEST`` (batched when many)."""
        aliased = [n for n in targets if self.targets[n].alias]
        plain = [n for n in targets if not self.targets[n].alias]
        found: dict[str, dict[str, Any]] = {}
        for name, config in zip(
            aliased, fan_out(self._aliased, aliased, self.workers), strict=True
        ):
            if config is not None:
                found[name] = config
        by_function = self._latest(plain)
        for name in plain:
            config = by_function.get(self.targets[name].function)
            if config is not None:
                found[name] = config
        return found

    def _aliased(self, target: str) -> dict[str, Any] | None:
        """The configuration of the version the alias points at, with the alias's own
        document (its weights and ``RevisionId``) under ``"Alias"``."""
        spec = self.targets[target]
        assert spec.alias is not None
        try:
            alias = self._lambda.get_alias(FunctionName=spec.function, Name=spec.alias)
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            return None
        config = self._configuration(spec.function, str(alias["FunctionVersion"]))
        return None if config is None else {**config, "Alias": alias}

    def _latest(self, targets: Sequence[str]) -> dict[str, dict[str, Any]]:
        functions = {self.targets[n].function for n in targets}
        if len(functions) <= LIST_THRESHOLD:
            read = fan_out(self._configuration, sorted(functions), self.workers)
            return {config["FunctionName"]: config for config in read if config is not None}
        found = {}
        for page in self._lambda.get_paginator("list_functions").paginate():
            for config in page["Functions"]:
                if config["FunctionName"] in functions:
                    found[config["FunctionName"]] = config
        # The listing has no LastUpdateStatus: a function modified lately is read alone,
        # once per modification (an update seen finished needs no second look).
        with self._lock:
            settled = dict(self._settled)
        recent = sorted(
            n
            for n, c in found.items()
            if _modified_lately(c) and settled.get(n) != c.get("LastModified")
        )
        for config in fan_out(self._configuration, recent, self.workers):
            if config is None:
                continue
            found[config["FunctionName"]] = config
            if (config.get("LastUpdateStatus") or "Successful") == "Successful":
                with self._lock:
                    self._settled[config["FunctionName"]] = config.get("LastModified")
        return found

    def _prefetch(self, name: str) -> None:
        """Read a repository into the cache; a failure is reported per target later."""
        with contextlib.suppress(ClientError, BotoCoreError):
            self._repository(name)

    def _configuration(self, function: str, qualifier: str | None = None) -> dict[str, Any] | None:
        try:
            config: dict[str, Any] = self._lambda.get_function_configuration(
                FunctionName=function, **({"Qualifier": qualifier} if qualifier else {})
            )
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            return None
        return config

    def _repository(self, name: str) -> Repository:
        with self._lock:
            cached = self._repositories.get(name)
        if cached is not None:
            return cached
        repository = lambda_images.read(self._ecr, Where.of(name))
        with self._lock:
            self._repositories[name] = repository
        return repository

    def preflight(self, target: str, pin: Pin, observed: Observed) -> Resolved:
        assert pin.version is not None
        live_tags = observed.detail.get("tags", "").split(",")
        if observed.live == pin.version or pin.version in live_tags:
            # Several tags may name the running image; any of them is in sync.
            return Resolved(target, observed.live or pin.version, rank=observed.rank)
        spec = self.targets[target]
        repository = self._repository(spec.repository)
        if repository.denied is not None:  # a registry that grants pulls only: a warning
            note = f"ECR repository {spec.repository} could not be listed ({repository.denied}): tag {pin.version} is not verified"
            return Resolved(target, pin.version, notes=(note,))
        image = repository.by_tag.get(pin.version)
        if image is None:
            why = lambda_images.missing_tag(self._ecr, Where.of(spec.repository), pin.version)
            return Resolved(target, pin.version, refused=why)
        return Resolved(target, pin.version, rank=_rank(image))

    def apply(self, target: str, action: Action, progress: Progress) -> Started:
        """Without an alias: the function's code to the tag's image. With one: the alias to
        the published version that already runs the tag's image (one ``UpdateAlias``, as AWS
        recommends for a Lambda rollback), or, with none published, the code first; ``wait``
        then publishes and points the alias. Each step is safe to repeat, so a pass that
        finds the alias unmoved after a crash simply goes on from where the last one got."""
        spec = self.targets[target]
        if spec.alias:
            version = self._published(target, action.to_version)
            if version is not None:
                progress(target, f"alias {spec.alias} -> version {version} (already published)")
                self._point_alias(target, version)
                return NOTHING_STARTED
        where = Where.of(spec.repository)
        uri = f"{lambda_images.uri(self._ecr, where)}:{action.to_version}"
        self._when_idle(target, progress)
        progress(target, f"update_function_code {spec.function} -> {uri}")
        self._lambda.update_function_code(FunctionName=spec.function, ImageUri=uri)
        return NOTHING_STARTED

    def _when_idle(self, target: str, progress: Progress) -> None:
        """Wait out an update already in progress (someone else's, or one a restart left):
        Lambda refuses another one meanwhile with ``ResourceConflictException``
        (https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html)."""
        function = self.targets[target].function
        started = time.monotonic()
        for pause in (*POLL_SCHEDULE, *(POLL_SCHEDULE[-1],) * IDLE_POLLS):
            config = self._lambda.get_function_configuration(FunctionName=function)
            if config.get("LastUpdateStatus") != "InProgress":
                return
            waited = format_duration(time.monotonic() - started)
            progress(target, f"an update of {function} is in progress; waiting for it ({waited})")
            time.sleep(pause)
        raise ApplyFailed(
            f"an update of {function} was still in progress after {format_duration(time.monotonic() - started)}"
        )

    def _published(self, target: str, tag: str) -> str | None:
        """The newest published version of the function whose image is ``tag``'s, if any."""
        spec = self.targets[target]
        image = self._repository(spec.repository).by_tag.get(tag)
        if image is None:
            return None
        sha = image.digest.removeprefix("sha256:")
        matching = [
            int(version["Version"])
            for page in self._lambda.get_paginator("list_versions_by_function").paginate(
                FunctionName=spec.function
            )
            for version in page["Versions"]
            if version["Version"] != "$LATEST" and version.get("CodeSha256") == sha
        ]
        return str(max(matching)) if matching else None

    def wait(self, target: str, action: Action, waiting: Waiting) -> None:
        spec = self.targets[target]

        def check() -> tuple[bool, str]:
            config = self._lambda.get_function_configuration(FunctionName=spec.function)
            status = config.get("LastUpdateStatus") or "Successful"
            if status == "Failed":
                reason = config.get("LastUpdateStatusReason") or "no reason given"
                raise ApplyFailed(f"Lambda update failed: {reason}")
            return status == "Successful", f"LastUpdateStatus {status}"

        if spec.alias and self._alias_runs(target, action.to_version):
            return  # the alias was pointed at an already published version
        wait_until(check, target, "Lambda update", waiting)
        if spec.alias:
            image = self._repository(spec.repository).by_tag[action.to_version]
            version = self._lambda.publish_version(
                FunctionName=spec.function, CodeSha256=image.digest.removeprefix("sha256:")
            )["Version"]
            waiting.progress(target, f"alias {spec.alias} -> version {version} (just published)")
            self._point_alias(target, version)

    def _point_alias(self, target: str, version: str) -> None:
        """The alias to ``version`` alone: its weights cleared, and the ``RevisionId`` just
        read carried, so a change someone made meanwhile fails the call (retried with the
        next pass) instead of being overwritten blindly."""
        spec = self.targets[target]
        assert spec.alias is not None
        current = self._lambda.get_alias(FunctionName=spec.function, Name=spec.alias)
        self._lambda.update_alias(
            FunctionName=spec.function,
            Name=spec.alias,
            FunctionVersion=version,
            RoutingConfig={"AdditionalVersionWeights": {}},
            **({"RevisionId": current["RevisionId"]} if current.get("RevisionId") else {}),
        )

    def _alias_runs(self, target: str, tag: str) -> bool:
        """Whether the target's alias already points at a version running ``tag``'s image."""
        spec = self.targets[target]
        config = self._configuration(spec.function, spec.alias)
        image = self._repository(spec.repository).by_tag.get(tag)
        return (
            config is not None
            and image is not None
            and "sha256:" + str(config.get("CodeSha256", "")) == image.digest
        )

    def verify(self, target: str, action: Action) -> Observed:
        self._repositories.pop(self.targets[target].repository, None)
        return self.observe([target])[target]

    def versions(self, target: str, limit: int, seen: Observed | None = None) -> list[VersionInfo]:
        """Tags in ECR, newest first; ``seen``: the target as just observed (whose
        observation read the repository this reuses)."""
        spec = self.targets[target]
        live = seen or self.observe([target])[target]
        repository = self._repository(spec.repository)
        result = []
        for image in repository.images:
            for tag in image.tags:
                result.append(
                    VersionInfo(
                        version=tag,
                        time=image.pushed_at.isoformat() if image.pushed_at else None,
                        live=live.detail.get("digest") == image.digest,
                        detail={"digest": image.digest},
                    )
                )
        return result[:limit]


def _rank(image: Image) -> float | None:
    return image.pushed_at.timestamp() if image.pushed_at else None


def _observed(name: str, config: dict[str, Any], repository: Repository) -> Observed:
    digest = "sha256:" + str(config.get("CodeSha256", ""))
    image = repository.by_digest.get(digest)
    status = config.get("LastUpdateStatus")
    in_progress = f"LastUpdateStatus {status}" if status == "InProgress" else None
    if image is None or not image.tags:
        live = digest[:19]  # "sha256:" + 12 hex: an image no tag points at any more
        rank = None
    else:
        live = image.tags[0]
        rank = _rank(image)
    detail = {"digest": digest, "tags": ",".join(image.tags) if image else ""}
    if status == "Failed":
        detail["lastUpdate"] = f"Failed: {config.get('LastUpdateStatusReason', '')}"
    partial = _weights(config.get("Alias") or {})
    if partial is not None:
        detail["routing"] = partial
    return Observed(
        name, Kind.LAMBDA, live, rank=rank, in_progress=in_progress, detail=detail, partial=partial
    )


def _weights(alias: dict[str, Any]) -> str | None:
    """An alias's split of traffic in words, or None when it sends all of it to one version
    (https://docs.aws.amazon.com/lambda/latest/dg/configuring-alias-routing.html)."""
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    if not weights:
        return None
    shares = ", ".join(f"{float(w):.0%} to version {v}" for v, w in sorted(weights.items()))
    return f"alias {alias.get('Name', '')} routes {shares} besides version {alias.get('FunctionVersion')}"


def _modified_lately(config: dict[str, Any]) -> bool:
    """Whether a listed function's ``LastModified`` is recent enough for an update to be
    still in progress; unreadable dates count as recent."""
    try:
        modified = dt.datetime.strptime(str(config.get("LastModified")), "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        return True
    return dt.datetime.now(dt.UTC) - modified < RECENT


def _unobserved(name: str, error: str) -> Observed:
    return Observed(target=name, kind=Kind.LAMBDA, live=None, error=error)
