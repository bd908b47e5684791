"""`pinback promote`: the versions one environment runs, verified there, written into the
next environment's pin file (comments kept, validated, one commit with --commit).

Verified means the audit trail shows each version reached the source environment and
passed its gates there (``daemon.core.promotion``); one unverified version refuses the
whole promotion, naming it, unless ``--unverified --reason R`` (recorded). A version the
destination denies is never promoted. The promotion is a ``promoted`` record in the
destination's trail.
"""

from __future__ import annotations

from pathlib import Path

import click

from daemon.cli.common import (
    Failure,
    audit_for,
    complete_environments,
    complete_targets,
    config_option,
)


@click.command()
@config_option
@click.option(
    "--from",
    "source",
    required=True,
    help="The environment whose versions go.",
    shell_complete=complete_environments,
)
@click.option(
    "--to",
    "destination",
    required=True,
    help="The environment whose pins change.",
    shell_complete=complete_environments,
)
@click.option(
    "--target",
    "-t",
    "targets",
    multiple=True,
    help="Only this target (repeatable).",
    shell_complete=complete_targets,
)
@click.option(
    "--unverified", is_flag=True, help="Promote unverified versions too (needs --reason)."
)
@click.option("--reason", help="Why, recorded in the pins and the audit trail.")
@click.option("--commit", "make_commit", is_flag=True, help="Make a git commit of the pin file.")
def promote(
    config_path: Path,
    source: str,
    destination: str,
    targets: tuple[str, ...],
    unverified: bool,
    reason: str | None,
    make_commit: bool,
) -> None:
    """Write the versions of --from, verified there, into the pins of --to."""
    from daemon.cli import rollback as rb
    from daemon.core import lastgood, promotion
    from daemon.core.model import same_version
    from daemon.core.records import Event
    from daemon.spec import load_config, load_desired

    base = load_config(config_path)
    if not base.environments:
        raise Failure(f"{config_path} declares no environments: there is nothing to promote to")
    if source == destination:
        raise Failure(f"--from and --to both name {source}")
    if unverified and not reason:
        raise Failure("--unverified needs --reason R: promoting an unverified version is recorded")
    here, there = base.select(source), base.select(destination)
    pins_here = load_desired(here.state_path, here)
    pins_there = load_desired(there.state_path, there)
    names = list(targets) or [n for n, p in pins_here.pins.items() if p.version is not None]
    unpinned = [n for n in names if (p := pins_here.pins.get(n)) is None or p.version is None]
    if unpinned:
        raise Failure(f"{source} pins no version of {', '.join(unpinned)}: nothing to promote")
    current = {n: p.version for n, p in pins_there.pins.items()}
    chosen = {  # what differs: a version already pinned there needs no promotion
        n: v
        for n in names
        if not same_version(here.kind_of(n), current.get(n), v := str(pins_here.pins[n].version))
    }
    if not chosen:
        click.echo(f"{destination} already pins what {source} pins; nothing to promote")
        return
    records = audit_for(here).query(events=sorted(lastgood.TRACKED))
    refusals = []
    for name, version in chosen.items():
        kind = here.kind_of(name)
        why = promotion.unverified(records, name, version, kind)
        if why is not None and not unverified:
            refusals.append(f"{why} in {source}")
        pin = pins_there.pins.get(name)
        if pin is not None and pin.denies(version, kind) is not None:
            refusals.append(f"{name} {version} is denied in {destination}")
    if refusals:
        hint = "" if unverified else " (--unverified --reason R promotes unverified ones anyway)"
        raise Failure(
            f"nothing promoted from {source} to {destination}: {'; '.join(refusals)}{hint}"
        )
    what = f"promote {source} -> {destination}"
    for line in rb.write(there, pins_there, chosen, reason, False, make_commit, what):
        click.echo(line)
    words = (
        f"from {source}"
        + (f": {reason}" if reason else "")
        + (" [unverified]" if unverified else "")
    )
    promoted = Event.PROMOTED
    rb.record(audit_for(there), there, pins_there.path, promoted, chosen, words, current)
