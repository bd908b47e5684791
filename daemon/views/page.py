"""The status page at ``/``: one server-rendered HTML document, pure and escaped.

Built from the same ``/status`` document people get as JSON, plus recent audit records,
so the page never says anything the API does not. Every value from outside (versions,
reasons, errors, actors) goes through ``html.escape``: a reason with markup in it is
shown as text. No framework, no external font, script or image; the one inline script
swaps in a fresh ``#live`` when the controller's ``/events`` stream says something
changed, and falls back to reloading every 15 s when it cannot listen. Each state has a
text label as well as a colour.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import statistics
from collections.abc import Mapping, Sequence
from html import escape
from importlib import resources
from typing import Any
from urllib.parse import quote

STYLESHEET = resources.files("daemon.views").joinpath("static/page.css").read_text()

SCRIPT = """
(function () {
  var reload = function () { setTimeout(function () { location.reload(); }, 15000); };
  if (!window.EventSource || !window.fetch) { reload(); return; }
  var source = new EventSource("/events"), busy = false, again = false;
  var refresh = function () {
    if (busy) { again = true; return; }
    busy = true;
    fetch("/?part=live", {cache: "no-store"}).then(function (answer) {
      if (!answer.ok) { throw new Error(answer.status); }
      return answer.text();
    }).then(function (html) {
      document.getElementById("live").innerHTML = html;
      var summary = document.querySelector(".summary");
      if (summary) { document.title = "pinback: " + summary.textContent; }
    }).catch(function () {}).then(function () {
      busy = false;
      if (again) { again = false; refresh(); }
    });
  };
  source.onmessage = refresh;
  source.onerror = function () {
    if (source.readyState === EventSource.CLOSED) { reload(); }
  };
})();
"""

# Defence in depth behind the escaping: only the page's own script may run, it may only
# talk to this controller, and nothing is loaded from anywhere.
POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; connect-src 'self'; "
    "script-src 'sha256-"
    + base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    + "'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
CHART_APPLIES = 20


def classify(row: Mapping[str, Any]) -> tuple[str, str, str | None]:
    """(css class, text label, detail) for one target's row of the status document, from
    its ``phase`` (DESIGN section 9) and its typed fields; ``state`` is only ever shown."""
    state = str(row.get("state", ""))
    last = row.get("lastResult") or {}
    applying = row.get("applying")
    phase = row.get("phase")
    if row.get("ledElsewhere"):  # sharded: another replica's target
        return "observed", "LED ELSEWHERE", state
    if phase == "Suspended":
        return "suspended", "SUSPENDED", "the pin says suspend: true; observed, not changed"
    if phase == "Applying" and applying:
        return "applying", "APPLYING", f"{applying['step']} ({applying['elapsed']})"
    if phase == "Unknown":
        detail = row.get("error")
        return "unknown", "UNKNOWN" if detail else "NOT OBSERVED YET", detail and str(detail)
    if phase == "Held":
        label = "HEALTH FAILED" if row.get("healthFailed") else "HELD"
        return "failed", label, str(row.get("heldReason") or state)
    if phase == "InSync":
        if row.get("desired") is None:
            return "observed", "OBSERVED ONLY", "no pin for this target"
        return "ok", "IN SYNC", None
    blocked = str(row.get("blockedReason") or state)
    if phase == "Frozen":
        return "frozen", "FROZEN", blocked
    if phase == "Blocked":
        return "blocked", "BLOCKED", blocked
    if phase == "Failed":
        return "failed", "FAILED", str(last.get("error") or "the last apply failed")
    if phase == "RollingOut":
        return "applying", "ROLLING OUT", str(row.get("inProgress") or state)
    return "drift", "DRIFTING", "live differs from the pin; pinback is on it"


def page(view: Mapping[str, Any]) -> str:
    """The whole page."""
    title = escape(summary_text(view["status"]))
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>pinback: {title}</title><style>{STYLESHEET}</style></head><body>"
        '<header><h1>pinback</h1><p class="note">Read-only. Roll back by committing a pin; '
        "this page follows the controller live.</p></header>"
        f'<main id="live">{live(view)}</main>'
        f"<script>{SCRIPT}</script></body></html>\n"
    )


def summary_text(status: Mapping[str, Any]) -> str:
    rows = status.get("targets", [])
    pinned = [r for r in rows if r.get("desired") is not None]
    at_pin = sum(1 for r in pinned if r.get("inSync"))
    return f"{at_pin} of {len(pinned)} pinned targets at their pins"


def live(view: Mapping[str, Any]) -> str:
    """The part the page swaps in on every change."""
    status = view["status"]
    parts = [
        f'<p class="summary">{escape(summary_text(status))}</p>',
        f'<p class="note">As of {escape(str(view["now"]))} · {escape(_leader_note(status))}'
        f"{escape(_anchor_note(status))}</p>",
    ]
    if status.get("desiredStateError"):
        parts.append(
            '<p class="problem"><strong>The pin file does not validate</strong>; the last valid '
            f"pins stay in force: {escape(str(status['desiredStateError']))}</p>"
        )
    rows = status.get("targets", [])
    environments: Sequence[str] | None = view.get("environments")
    if not environments:
        parts.append(_cards(rows, view.get("durations", {}), None))
    else:  # one process runs several: a section each, in the config's order
        for env in environments:
            mine = [r for r in rows if r.get("environment") == env]
            parts.append(
                f'<h2 class="environment" id="environment-{escape(env)}">{escape(env)}</h2>'
                + _cards(mine, view.get("durations", {}).get(env, {}), env)
            )
    parts.append(_timeline(view.get("events", []), several=bool(environments)))
    return "".join(parts)


def _cards(
    rows: Sequence[Mapping[str, Any]],
    durations: Mapping[str, Sequence[float]],
    environment: str | None,
) -> str:
    cards = "".join(_target(r, durations.get(r["target"], ()), environment) for r in rows)
    return f'<div class="targets">{cards}</div>'


def _leader_note(status: Mapping[str, Any]) -> str:
    leadership = status.get("leadership")
    if not leadership:
        return "this controller applies every target"
    mine = [s for s in leadership.get("shards", []) if s.get("mine")]
    shards = len(leadership.get("shards", []))
    if not mine:
        return f"this replica is a follower ({shards} shard(s) led elsewhere)"
    return f"this replica leads {len(mine)} of {shards} shard(s)"


def _anchor_note(status: Mapping[str, Any]) -> str:
    """When the audit trail was last anchored outside the database (DESIGN §12)."""
    anchor = status.get("auditAnchor")
    if not anchor or not anchor.get("writer"):
        return ""
    if "lastWritten" not in anchor:
        failing = f": {anchor['lastError']}" if anchor.get("lastError") else ""
        return f" · audit trail not anchored yet{failing}"
    note = f" · audit trail anchored at {anchor['lastWritten']} (record {anchor['seq']})"
    return note + (
        f"; the last attempt failed: {anchor['lastError']}" if anchor.get("lastError") else ""
    )


def _target(
    row: Mapping[str, Any], durations: Sequence[float], environment: str | None = None
) -> str:
    css, label, detail = classify(row)
    name = str(row["target"])
    anchor = f"{environment}-{name}" if environment else name
    query = f"?env={quote(environment)}" if environment else ""
    facts = [
        ("desired", row.get("desired")),
        ("live", row.get("live")),
        ("owner", row.get("owner") or "unassigned"),
        ("urgency", row.get("urgency")),
        ("last in sync", row.get("lastInSync") or "not yet"),
        *([("can roll back", _ready(row))] if "rollbackReadySteps" in row else []),
    ]
    listed = "".join(
        f"<dt>{escape(k)}</dt><dd>{escape('—' if v is None else str(v))}</dd>" for k, v in facts
    )
    return (
        f'<section class="target state-{css}" id="target-{escape(anchor)}">'
        f'<h2>{escape(name)} <span class="kind">{escape(str(row.get("kind", "")))}</span></h2>'
        f'<span class="badge">{escape(label)}</span>'
        + (f'<p class="detail">{escape(detail)}</p>' if detail else "")
        + f"<dl>{listed}</dl>"
        + _chart(name, durations)
        + f'<a href="/versions/{escape(quote(name))}{escape(query)}">versions (JSON)</a></section>'
    )


def _ready(row: Mapping[str, Any]) -> str:
    """ "can roll back 3 steps", or why not the next one."""
    steps = int(row["rollbackReadySteps"])
    said = f"{steps} step{'' if steps == 1 else 's'}"
    why = row.get("rollbackNotReady")
    return f"{said}; not further: {why}" if why else said


def _chart(name: str, durations: Sequence[float]) -> str:
    """Recent apply durations as bars, oldest left; the numbers are in the text too."""
    if not durations:
        return '<p class="note">no applies recorded yet</p>'
    recent = list(durations)[-CHART_APPLIES:]
    width, height, gap = 200, 40, 2
    bar = (width - gap * (len(recent) - 1)) / len(recent)
    top = max(recent) or 1.0
    bars = []
    for index, seconds in enumerate(recent):
        tall = max(1.0, seconds / top * height)
        x = index * (bar + gap)
        bars.append(
            f'<rect x="{x:.1f}" y="{height - tall:.1f}" width="{bar:.1f}" height="{tall:.1f}">'
            f"<title>{seconds:.2f} s</title></rect>"
        )
    median = statistics.median(recent)
    text = f"last {len(recent)} applies of {name}: median {median:.2f} s, longest {top:.2f} s"
    return (
        f'<svg class="chart" role="img" aria-label="{escape(text)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">{"".join(bars)}</svg>'
        f'<p class="note">{escape(text)}</p>'
    )


def _timeline(events: Sequence[Mapping[str, Any]], several: bool = False) -> str:
    if not events:
        return '<h3>Recent events</h3><p class="note">The audit trail is empty.</p>'
    rows = []
    for record in reversed(list(events)):  # newest first
        before, to = record.get("live_before"), record.get("live_after") or record.get("desired")
        versions = " → ".join(str(v) for v in (before, to) if v is not None)
        why = record.get("error") or record.get("reason") or ""
        cells = [
            ("time", _time(str(record.get("ts", "")))),
            ("event", record.get("event")),
            *([("environment", record.get("environment") or "")] if several else []),
            ("target", record.get("target") or ""),
            ("versions", versions),
            ("actor", record.get("actor") or ""),
            ("reason", why),
        ]
        rows.append(
            "<tr>"
            + "".join(
                f'<td data-label="{k}">{escape("" if v is None else str(v))}</td>' for k, v in cells
            )
            + "</tr>"
        )
    columns = ("time", "event", *(["environment"] if several else []), "target", "versions")
    head = "".join(f"<th>{h}</th>" for h in (*columns, "actor", "reason / error"))
    return (
        f"<h3>Recent events (last {len(events)})</h3>"
        f'<table class="timeline"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _time(stamp: str) -> str:
    try:
        moment = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
