"""Audit anchors (DESIGN section 12): the chain's head, kept where the database's owner
cannot reach, and the verdict of a trail checked against them. Pure: the store writes and
lists the objects, the trail reads the hashes; this module names them and judges.

The hash chain finds a record edited, deleted or reordered in the middle. It cannot find a
trail cut short (the newest records deleted: what is left is still a sound chain) or one
rewritten whole with every hash recomputed. An anchor is the (seq, hash) of the chain's
last record at a moment, written as an object the bucket's Object Lock keeps unchanged:

- every anchored record must still be in the trail, or the trail was cut short below it;
- its hash must be the anchored one, or the trail was rewritten at or before it. Since each
  hash covers every record before it, one anchor that agrees vouches for the whole trail
  up to it; each one is checked all the same, so the answer names the earliest that
  disagrees and the last that still agrees.

An anchor's seq and hash are in its object's key, so checking needs only the listing of
the prefix: no call per anchor, none per record.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

KEY_STAMP = "%Y%m%dT%H%M%S.%fZ"
_KEY = re.compile(r"^(\d{8}T\d{6}\.\d{6}Z)-(\d{12})-([0-9a-f]{64})\.json$")


@dataclass(frozen=True)
class Anchor:
    """The chain's head at ``time``: its last record's ``seq`` and ``hash`` (seq 0 for an
    empty trail)."""

    seq: int
    hash: str
    time: dt.datetime

    def key(self, prefix: str) -> str:
        """Sorted by time (the listing's order), unique, and carrying what a check needs."""
        stamp = self.time.astimezone(dt.UTC).strftime(KEY_STAMP)
        return f"{prefix}{stamp}-{self.seq:012d}-{self.hash}.json"

    @property
    def shown_time(self) -> str:
        return self.time.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_key(prefix: str, key: str) -> Anchor | None:
    """The anchor a key names, or None for an object that is not one of ours."""
    if not key.startswith(prefix):
        return None
    found = _KEY.match(key[len(prefix) :])
    if found is None:
        return None
    moment = dt.datetime.strptime(found.group(1), KEY_STAMP).replace(tzinfo=dt.UTC)
    return Anchor(int(found.group(2)), found.group(3), moment)


@dataclass(frozen=True)
class Verdict:
    """How a trail stands against its anchors: ``problem`` is None when every one agrees."""

    checked: int
    newest: Anchor | None
    problem: str | None = None


def judge(anchors: Sequence[Anchor], last_seq: int, hashes: Mapping[int, str]) -> Verdict:
    """Check each anchor, oldest first, against a trail whose last record is ``last_seq``
    and whose record ``seq`` has the hash ``hashes[seq]`` (for every anchored seq present).

    The anchors must have been listed before the trail was read: one written after could
    cover records appended after the read, and would look like a cut."""
    ordered = sorted(anchors, key=lambda a: (a.time, a.seq))
    agreeing: Anchor | None = None
    for anchor in ordered:
        problem = _disagreement(anchor, last_seq, hashes)
        if problem is not None:
            since = (
                f"; records up to {agreeing.seq} agree with the anchor of {agreeing.shown_time}"
                if agreeing is not None and agreeing.seq > 0
                else ""
            )
            return Verdict(len(ordered), ordered[-1], problem + since)
        if agreeing is None or anchor.seq >= agreeing.seq:
            agreeing = anchor
    return Verdict(len(ordered), ordered[-1] if ordered else None)


def _disagreement(anchor: Anchor, last_seq: int, hashes: Mapping[int, str]) -> str | None:
    if anchor.seq == 0:
        return None  # anchored an empty trail: nothing to vouch for
    if anchor.seq > last_seq:
        return (
            f"cut short: the anchor of {anchor.shown_time} covers record {anchor.seq}, "
            f"the trail ends at {last_seq}"
        )
    found = hashes.get(anchor.seq)
    if found != anchor.hash:
        return (
            f"rewritten: record {anchor.seq} differs from the anchor of {anchor.shown_time} "
            f"(anchored {anchor.hash[:12]}, the trail has {(found or 'nothing')[:12]}): "
            f"the trail was changed at or before record {anchor.seq}"
        )
    return None
