"""Checking the audit hash chain in spans: pure, so the store can hand spans to processes.

A record is sound when its hash is the SHA-256 of its fields, it points at the record
before it, and its sequence number follows that record's. The first two need only the
record and its predecessor, so a long trail splits into spans of consecutive records that
are checked apart (on every core) and then joined: each span's first record is checked
against the end of the span before it. Joined in order, the spans give the same answer,
the same first bad record and the same reason as one walk from the start.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from daemon.core.records import GENESIS, HASHED, digest_row

Problem = tuple[int, str]  # (seq of the first bad record, why)
FIXED = 1 + len(HASHED)  # a row: the stored hash, then the HASHED fields


@dataclass(frozen=True)
class Span:
    """What checking a run of records among themselves found.

    ``first`` is the first record's (seq, prev_hash) and ``last`` the last sound
    record's (seq, hash), both None for an empty run; ``count`` counts the sound
    records before ``problem`` (all of them when there is none).
    """

    first: tuple[int, str] | None
    last: tuple[int, str] | None
    count: int
    problem: Problem | None


def check_rows(rows: Iterable[Sequence[Any]]) -> Span:
    """Check ``rows`` (each: hash, the ``HASHED`` fields in order, prev_hash last of them,
    then the ``OPTIONAL_HASHED`` ones) among themselves; the first row's place in the
    whole chain is left to ``join``."""
    first: tuple[int, str] | None = None
    last: tuple[int, str] | None = None
    count = 0
    for row in rows:
        stored, values, optional = row[0], row[1:FIXED], row[FIXED:]
        seq = values[0]
        problem: Problem | None = None
        if last is None:
            first = (seq, values[-1])
        elif seq != last[0] + 1:
            problem = (seq, f"record {seq} follows {last[0]}: a record is missing")
        elif values[-1] != last[1]:
            problem = (seq, f"record {seq} does not point at the record before it")
        if problem is None and digest_row(values, optional) != stored:
            problem = (seq, f"record {seq} was changed after it was written")
        if problem is not None:
            return Span(first, last, count, problem)
        last, count = (seq, stored), count + 1
    return Span(first, last, count, None)


def join(spans: Iterable[Span]) -> tuple[int, Problem | None]:
    """The spans, in order, as one chain from the genesis: (sound records, first problem)."""
    previous_seq, previous_hash, count = 0, GENESIS, 0
    for span in spans:
        if span.first is None:
            continue
        seq, prev_hash = span.first
        if seq != previous_seq + 1:
            return count, (seq, f"record {seq} follows {previous_seq}: a record is missing")
        if prev_hash != previous_hash:
            return count, (seq, f"record {seq} does not point at the record before it")
        count += span.count
        if span.problem is not None:
            return count, span.problem
        assert span.last is not None
        previous_seq, previous_hash = span.last
    return count, None


def split(low: int, high: int, parts: int) -> list[tuple[int, int]]:
    """``low..high`` (inclusive) as at most ``parts`` contiguous ranges of near-equal size."""
    size = high - low + 1
    parts = max(1, min(parts, size))
    bounds = [low + size * i // parts for i in range(parts + 1)]
    return [(bounds[i], bounds[i + 1] - 1) for i in range(parts)]
