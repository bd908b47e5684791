"""``pinback report``: a Markdown incident timeline from the audit trail.

Pure: records in, text out. It answers the questions of a post-incident review: who
changed which pin and why, what drifted, what pinback did and how long each change
took, what failed or was blocked, and how long each target took to reach its pin.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence

from daemon.core.durations import format_duration
from daemon.core.records import Event, Record


def _time(record: Record) -> dt.datetime:
    return dt.datetime.strptime(record.ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


def _short(version: str | None) -> str:
    if not version:
        return "-"
    return version[:12] if len(version) == 40 else version


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ") or "-"


def restore_times(records: Sequence[Record]) -> dict[str, list[float]]:
    """Seconds from each pin change (or first drift) to the apply that reached it, per target
    (``prod/backend`` when the records name environments)."""
    opened: dict[str, tuple[dt.datetime, str | None]] = {}
    found: dict[str, list[float]] = {}
    for record in records:
        place = record.place
        if not place:
            continue
        if record.event in (Event.DESIRED_CHANGED, Event.DRIFT_DETECTED) and place not in opened:
            opened[place] = (_time(record), record.desired)
        elif record.event == Event.APPLY_SUCCEEDED and place in opened:
            started, _ = opened.pop(place)
            found.setdefault(place, []).append((_time(record) - started).total_seconds())
    return found


def render(records: Sequence[Record], since: dt.datetime | None, until: dt.datetime | None) -> str:
    window = f"{since.isoformat() if since else 'the beginning'} to {until.isoformat() if until else 'now'}"
    lines = [
        "# pinback incident timeline",
        "",
        f"From {window}: {len(records)} audit records.",
        "",
    ]
    targets = sorted({place for r in records if (place := r.place)})
    restores = restore_times(records)
    if targets:
        lines += [
            "## Per target",
            "",
            "| target | pin changes | applies | failed | blocked | time to restore |",
            "|---|---|---|---|---|---|",
        ]
        for target in targets:
            events = Counter(r.event for r in records if r.place == target)
            times = restores.get(target, [])
            restore = ", ".join(format_duration(t) for t in times) if times else "-"
            lines.append(
                f"| {target} | {events[Event.DESIRED_CHANGED]} | {events[Event.APPLY_SUCCEEDED]} | "
                f"{events[Event.APPLY_FAILED]} | {events[Event.BLOCKED]} | {restore} |"
            )
        lines.append("")
    lines += [
        "## Timeline",
        "",
        "| time (UTC) | event | target | from → to | took | who | why / error |",
        "|---|---|---|---|---|---|---|",
    ]
    for record in records:
        versions = (
            f"{_short(record.live_before)} → {_short(record.desired)}" if record.desired else "-"
        )
        if (
            record.live_after
            and record.event.startswith("apply_")
            and record.event != Event.APPLY_STARTED
        ):
            versions += f" (now {_short(record.live_after)})"
        took = format_duration(record.duration_s) if record.duration_s is not None else "-"
        who = record.actor or "-"
        if record.pin_commit:
            who += f" @ {record.pin_commit[:12]}"
        why = record.error or record.reason
        lines.append(
            f"| {record.ts[:19].replace('T', ' ')} | {record.event} | {record.place or '-'} | "
            f"{_cell(versions)} | {took} | {_cell(who)} | {_cell(why)} |"
        )
    return "\n".join(lines) + "\n"
