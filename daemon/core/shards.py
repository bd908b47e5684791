"""Which shard each target belongs to: pure, so every replica computes the same answer.

Targets go to ``shards`` shards by a stable hash (SHA-256, not Python's salted ``hash``)
of their group's name. A group is the set of targets an ordering ties together, because
the replica that applies one of them must be able to wait for the others: a config
``after:`` joins the targets it names, and an Alembic target joins every target the
planner orders around it (see ``daemon.core.plan``: all of them unless both sides have their
own ``after:``). A
group is named by its first member in sorted order, so a shard assignment changes only
when the config does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Protocol

from daemon.core.plan import around_the_database


class Placed(Protocol):
    """What assignment reads of a target (a config's target models fit)."""

    @property
    def kind(self) -> str: ...

    @property
    def after(self) -> Sequence[str] | None: ...


class Fleet(Protocol):
    """What assignment reads of a config: its targets by name."""

    @property
    def targets(self) -> Mapping[str, Placed]: ...


def assign(config: Fleet, shards: int) -> dict[str, int]:
    """``{target: shard}`` for every target of ``config``; all 0 when ``shards`` is 1."""
    parent = {name: name for name in config.targets}

    def root(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    def join(a: str, b: str) -> None:
        first, second = sorted((root(a), root(b)))
        parent[second] = first

    for name, target in config.targets.items():
        for other in target.after or ():
            if other in parent:
                join(name, other)
    databases = [n for n, t in config.targets.items() if t.kind == "alembic"]
    for database in databases:
        mine = config.targets[database].after
        for name, target in config.targets.items():
            if target.kind != "alembic" and around_the_database(mine, target.after, None):
                join(database, name)
    return {name: shard_of(root(name), shards) for name in config.targets}


def shard_of(group: str, shards: int) -> int:
    digest = hashlib.sha256(group.encode()).digest()
    return int.from_bytes(digest[:8], "big") % shards


def members(assignment: Mapping[str, int], shard: int) -> list[str]:
    return sorted(n for n, s in assignment.items() if s == shard)
