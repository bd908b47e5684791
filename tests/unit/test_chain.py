"""The hash chain checked in spans (daemon/core/chain.py), with no database: every way of
tampering with a short trail, cut into spans at every place, gives the answer of one walk.
(test_audit does the same through SQLite and PostgreSQL, in several processes.)"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from daemon.core import chain
from daemon.core.records import GENESIS, HASHED, Event, Record, digest_row

LENGTH = 6


def trail(length: int = LENGTH) -> list[list[Any]]:
    """Sound rows as the store reads them: the hash, then the hashed fields in order."""
    rows, prev = [], GENESIS
    for seq in range(1, length + 1):
        values = {name: None for name in HASHED}
        values.update(seq=seq, ts=f"2026-11-30T00:00:0{seq}Z", event="drift_detected")
        values.update(target="backend", desired=str(seq), prev_hash=prev)
        fields = [values[name] for name in HASHED]
        prev = digest_row(fields)
        rows.append([prev, *fields])
    return rows


def edited(rows: list[list[Any]], seq: int) -> list[list[Any]]:
    changed = [list(r) for r in rows]
    changed[seq - 1][1 + HASHED.index("desired")] = "999"
    return changed


def deleted(rows: list[list[Any]], seq: int) -> list[list[Any]]:
    return [r for r in rows if r[1] != seq]


def swapped(rows: list[list[Any]], seq: int) -> list[list[Any]]:
    changed = list(rows)
    changed[seq - 1], changed[seq] = changed[seq], changed[seq - 1]
    return changed


def rehashed(rows: list[list[Any]], seq: int) -> list[list[Any]]:
    """Edited and its own hash recomputed: the next record no longer points at it."""
    changed = edited(rows, seq)
    changed[seq - 1][0] = digest_row(changed[seq - 1][1:])
    return changed


def one_walk(rows: list[list[Any]]) -> tuple[int, chain.Problem | None]:
    return chain.join([chain.check_rows(rows)])


def in_spans(rows: list[list[Any]], cuts: tuple[int, ...]) -> tuple[int, chain.Problem | None]:
    bounds = [0, *cuts, len(rows)]
    return chain.join(chain.check_rows(rows[a:b]) for a, b in itertools.pairwise(bounds))


CUTS = [(), (1,), (2,), (3,), (5,), (1, 2), (2, 4), (1, 3, 5), (0, 3), (3, 3)]


def test_a_sound_trail_is_sound_however_it_is_cut() -> None:
    rows = trail()
    for cuts in CUTS:
        assert in_spans(rows, cuts) == (LENGTH, None), cuts


# tampering with record n -> (the first bad record, how many are sound before it, why)
TAMPERING = [
    (edited, lambda n: (n, n - 1, f"record {n} was changed after it was written")),
    (rehashed, lambda n: (n + 1, n, f"record {n + 1} does not point at the record before it")),
    (deleted, lambda n: (n + 1, n - 1, f"record {n + 1} follows {n - 1}: a record is missing")),
    (swapped, lambda n: (n + 1, n - 1, f"record {n + 1} follows {n - 1}: a record is missing")),
]


@pytest.mark.parametrize(
    ("tamper", "expected"), TAMPERING, ids=lambda t: getattr(t, "__name__", "")
)
@pytest.mark.parametrize("seq", range(1, LENGTH))
def test_every_tampering_is_named_at_its_first_bad_record(
    tamper: Any, expected: Any, seq: int
) -> None:
    rows = tamper(trail(), seq)
    bad, sound, why = expected(seq)
    assert one_walk(rows) == (sound, (bad, why))
    for cuts in CUTS:
        assert in_spans(rows, cuts) == (sound, (bad, why)), cuts


def test_the_first_record_must_follow_the_genesis() -> None:
    rows = trail()[1:]
    assert one_walk(rows) == (0, (2, "record 2 follows 0: a record is missing"))
    forged = trail()
    forged[0][-1] = "f" * 64
    forged[0][0] = digest_row(forged[0][1:])
    assert one_walk(forged) == (0, (1, "record 1 does not point at the record before it"))


def test_an_empty_trail_and_empty_spans() -> None:
    assert one_walk([]) == (0, None)
    assert chain.check_rows([]) == chain.Span(None, None, 0, None)
    rows = trail()
    assert chain.join([chain.check_rows([]), chain.check_rows(rows), chain.check_rows([])]) == (
        LENGTH,
        None,
    )


def test_a_span_reports_its_ends_and_its_sound_count() -> None:
    rows = edited(trail(), 4)
    span = chain.check_rows(rows[1:])
    assert span.first == (2, rows[0][0])
    assert span.last == (3, rows[2][0]) and span.count == 2
    assert span.problem == (4, "record 4 was changed after it was written")


@pytest.mark.parametrize(
    ("low", "high", "parts", "ranges"),
    [
        (1, 10, 3, [(1, 3), (4, 6), (7, 10)]),
        (1, 2, 5, [(1, 1), (2, 2)]),
        (5, 5, 1, [(5, 5)]),
        (1, 10, 0, [(1, 10)]),
    ],
)
def test_split(low: int, high: int, parts: int, ranges: list[tuple[int, int]]) -> None:
    assert chain.split(low, high, parts) == ranges


def test_a_record_read_back_names_its_event_by_member_and_keeps_an_unknown_one() -> None:
    """Read from a database the event is text; a known one becomes its member (so code may
    rely on the type), one written by a newer pinback stays readable text."""
    assert Record(event="apply_started").event is Event.APPLY_STARTED  # type: ignore[arg-type]
    assert Record(event="promoted").event == "promoted"  # type: ignore[arg-type]


def test_a_record_of_an_environment_is_hashed_with_it() -> None:
    """Rows carry the optional fields after the fixed ones: a record stamped with its
    environment verifies, and changing only its environment is found."""
    rows, prev = [], GENESIS
    for seq in (1, 2):
        values = {name: None for name in HASHED}
        values.update(seq=seq, ts="t", event="plan", target="backend", prev_hash=prev)
        fields = [values[name] for name in HASHED]
        prev = digest_row(fields, ["staging"])
        rows.append([prev, *fields, "staging"])
    assert chain.check_rows(rows).problem is None
    rows[1][-1] = "prod"
    assert chain.check_rows(rows).problem == (2, "record 2 was changed after it was written")
