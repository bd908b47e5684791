"""Text forms of plans, results, status and versions for a terminal.

JSON forms live on the value types (``as_json``) because scripts depend on them;
these are for people and may change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from daemon.core.durations import format_duration
from daemon.core.model import Action, Direction, Outcome, Plan, Result, VersionInfo

ARROW = {Direction.FORWARD: "roll forward", Direction.BACK: "roll back", Direction.NONE: "change"}


def short(version: str | None) -> str:
    if version is None:
        return "(none)"
    if len(version) == 40 and all(c in "0123456789abcdef" for c in version):
        return version[:12]
    return version


def plan_text(plan: Plan, estimates: Mapping[str, tuple[float, int]] | None = None) -> str:
    lines = []
    for index, action in enumerate(plan.actions, 1):
        line = _action_line(index, action)
        estimate = (estimates or {}).get(action.target)
        if estimate is not None and action.blocked is None:
            seconds, count = estimate
            line += f"  (about {format_duration(seconds)}: median of {count} past applies)"
        lines.append(line)
        for step in action.steps:
            lines.append(f"      {step}")
        for note in action.notes:
            lines.append(f"      ! {note}")
    for target in plan.in_sync:
        lines.append(f"  =  {target}: in sync")
    for target, error in plan.unobserved.items():
        lines.append(f"  ?  {target}: live state unknown: {error}")
    if plan.changes:
        head = f"{plan.changes} change(s), in apply order:"
    elif plan.unobserved:
        head = f"No changes found, but {len(plan.unobserved)} target(s) could not be observed."
    else:
        head = "No changes: every pinned target is at its pin."
    return "\n".join([head, *lines])


def plan_markdown(plan: Plan, estimates: Mapping[str, tuple[float, int]] | None = None) -> str:
    """The plan as a Markdown table, for a pull request or a CI job's summary."""
    if plan.changes:
        head = f"### pinback plan: {plan.changes} change(s), in apply order"
    elif plan.unobserved:
        head = f"### pinback plan: no changes found, {len(plan.unobserved)} target(s) not observed"
    else:
        head = "### pinback plan: no changes, every pinned target is at its pin"
    lines = [head, ""]
    if plan.actions:
        lines += [
            "| # | target | kind | change | from | to | steps | after | estimate | blocked |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
    for index, action in enumerate(plan.actions, 1):
        what = "wait for the rollout" if action.wait_only else ARROW[action.direction]
        estimate = (estimates or {}).get(action.target)
        about = f"about {format_duration(estimate[0])} ({estimate[1]} past)" if estimate else ""
        cells = [
            str(index),
            action.target,
            action.kind.value,
            what,
            short(action.from_version),
            short(action.to_version),
            "<br>".join([*action.steps, *(f"note: {n}" for n in action.notes)]),
            ", ".join(action.after),
            about if action.blocked is None else "",
            action.blocked or "",
        ]
        lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
    if plan.in_sync:
        lines += ["", "In sync: " + ", ".join(f"`{t}`" for t in plan.in_sync) + "."]
    for target, error in plan.unobserved.items():
        lines += ["", f"Not observed: `{target}`: {_md(error)}"]
    return "\n".join(lines)


def _md(text: str) -> str:
    """A table cell: pipes escaped, one line, and '-' for nothing."""
    return text.replace("|", "\\|").replace("\n", " ").strip() or "-"


def _action_line(index: int, action: Action) -> str:
    what = "wait for the rollout" if action.wait_only else ARROW[action.direction]
    line = f"  {index}. {action.target} ({action.kind.value}): {what} {short(action.from_version)} -> {short(action.to_version)}"
    if action.after:
        line += f"  [after {', '.join(action.after)}]"
    if action.blocked:
        line += f"\n      BLOCKED: {action.blocked}"
    return line


def results_text(results: Sequence[Result]) -> str:
    lines = []
    for result in results:
        mark = {
            Outcome.APPLIED: "ok",
            Outcome.FAILED: "FAILED",
            Outcome.BLOCKED: "BLOCKED",
            Outcome.NOOP: "=",
        }[result.outcome]
        line = f"  {mark:7} {result.target}: {short(result.live_before)} -> {short(result.live_after)} in {format_duration(result.duration_s)}"
        if result.error:
            line += f"\n          {result.error}"
        lines.append(line)
    return "\n".join(lines)


def status_text(rows: Sequence[Mapping[str, object]]) -> str:
    width = max((len(str(r["target"])) for r in rows), default=6)
    lines = [f"{'TARGET':{width}}  {'KIND':8}  {'DESIRED':14}  {'LIVE':14}  STATE"]
    for row in rows:
        lines.append(
            f"{row['target']!s:{width}}  {row['kind']!s:8}  {short(_opt(row['desired'])):14}  "
            f"{short(_opt(row['live'])):14}  {row['state']}"
        )
    return "\n".join(lines)


def _opt(value: object) -> str | None:
    return None if value is None else str(value)


def versions_text(target: str, versions: Sequence[VersionInfo]) -> str:
    lines = [f"{target}: {len(versions)} version(s), newest first"]
    for info in versions:
        mark = "*" if info.live else " "
        extra = "  ".join(f"{k}={v}" for k, v in info.detail.items() if v)
        if info.ready is False:
            extra = f"NOT READY: {info.why}  {extra}"
        lines.append(f" {mark} {info.version:42} {info.time or '':32} {extra}".rstrip())
    return "\n".join(lines)
