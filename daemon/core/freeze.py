"""Freeze windows: when applies wait. Pure: windows and a moment in, an answer out.

A window is either absolute (``from``/``to``) or recurring (a 5-field cron expression,
``0 18 * * FRI``, plus a ``duration``: from each match, for that long). A recurring
window reads its cron in its ``timezone`` (IANA, UTC by default), because on-call
windows are local: "Friday 18:00 in Seoul" moves with Seoul's clock, not with UTC's.

Day-of-month and day-of-week combine as cron combines them: when both are restricted
(neither starts with ``*``), a day matches if *either* does, so ``0 18 13 * FRI`` is
every 13th and every Friday, not only Friday the 13th.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

NAMES = {
    "dow": {n: i for i, n in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])},
    "month": {
        n: i + 1
        for i, n in enumerate(
            ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
        )
    },
}
FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("dom", 1, 31), ("month", 1, 12), ("dow", 0, 7))
CRON_FORM = 'five fields "minute hour day-of-month month day-of-week", e.g. "0 18 * * FRI"'


@dataclass(frozen=True)
class Cron:
    minute: frozenset[int]
    hour: frozenset[int]
    dom: frozenset[int]
    month: frozenset[int]
    dow: frozenset[int]
    days_either: bool = False  # both day fields restricted: either one matching is enough

    def matches(self, moment: dt.datetime) -> bool:
        """Whether ``moment`` (a wall-clock time in the window's zone) is a match."""
        weekday = (moment.weekday() + 1) % 7  # cron: Sunday is 0
        in_dom, in_dow = moment.day in self.dom, weekday in self.dow
        day = (in_dom or in_dow) if self.days_either else (in_dom and in_dow)
        return (
            moment.minute in self.minute
            and moment.hour in self.hour
            and day
            and (moment.month in self.month)
        )


def parse_cron(text: str) -> Cron:
    """Parse a 5-field cron expression; ``ValueError`` names the expected form."""
    parts = text.split()
    if len(parts) != 5:
        raise ValueError(f"expected {CRON_FORM}, got {text!r}")
    sets = []
    for part, (name, low, high) in zip(parts, FIELDS, strict=True):
        values: set[int] = set()
        for item in part.split(","):
            values |= _field(item.upper(), name, low, high, text)
        if name == "dow" and 7 in values:
            values = (values - {7}) | {0}
        sets.append(frozenset(values))
    minute, hour, dom, month, dow = sets
    either = not parts[2].startswith("*") and not parts[4].startswith("*")
    return Cron(minute, hour, dom, month, dow, days_either=either)


def _field(item: str, name: str, low: int, high: int, text: str) -> set[int]:
    step = 1
    if "/" in item:
        item, step_text = item.split("/", 1)
        step = _number(step_text, name, 1, high, text)
    if item == "*":
        start, end = low, high
    elif "-" in item:
        first, last = item.split("-", 1)
        start, end = _number(first, name, low, high, text), _number(last, name, low, high, text)
    else:
        start = end = _number(item, name, low, high, text)
    if start > end:
        raise ValueError(f"cron {name} range {item} runs backwards in {text!r}")
    return set(range(start, end + 1, step))


def _number(token: str, name: str, low: int, high: int, text: str) -> int:
    if token in NAMES.get(name, {}):
        return NAMES[name][token]
    if not token.isdigit() or not low <= int(token) <= high:
        raise ValueError(
            f"cron {name} {token!r} is not in {low}-{high} in {text!r}; expected {CRON_FORM}"
        )
    return int(token)


@dataclass(frozen=True)
class Window:
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    cron: Cron | None = None
    cron_text: str = ""
    duration_s: float = 0.0
    zone: ZoneInfo | None = None  # the cron's time zone; None is UTC


def active(windows: Sequence[Window], now: dt.datetime) -> str | None:
    """A sentence naming the window ``now`` falls in, or None when applies may proceed."""
    now = now.astimezone(dt.UTC)
    for window in windows:
        if window.start is not None and window.end is not None:
            if window.start <= now < window.end:
                return f"freeze window until {window.end.isoformat()}"
        elif window.cron is not None:
            began = _last_match(window.cron, now, window.duration_s, window.zone)
            if began is not None:
                until = began + dt.timedelta(seconds=window.duration_s)
                zone = f" {window.zone.key}" if window.zone is not None else ""
                return (
                    f'freeze window "{window.cron_text}"{zone} until '
                    f"{until.astimezone(window.zone or dt.UTC).isoformat()}"
                )
    return None


def _last_match(
    cron: Cron, now: dt.datetime, duration_s: float, zone: ZoneInfo | None
) -> dt.datetime | None:
    """The latest cron match at most ``duration_s`` before ``now`` (minute by minute), in UTC.

    Steps are taken on the UTC clock and each minute is read on the zone's wall clock, so
    a daylight-saving jump neither skips the scan nor counts an hour twice.
    """
    moment = now.replace(second=0, microsecond=0)
    earliest = now - dt.timedelta(seconds=duration_s)
    while moment > earliest:
        if cron.matches(moment.astimezone(zone) if zone is not None else moment):
            return moment
        moment -= dt.timedelta(minutes=1)
    return None
