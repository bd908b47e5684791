"""The ``pinback`` command: one short function per verb, parsing and printing only.

Every verb calls the same engine functions the controller uses; each lives in the module
of its kind (``files``, ``changes``, ``running``, ``pins``, ``history``, ``sandbox``).
Errors reach the person as one sentence on stderr with exit 1, never a traceback (set
``PINBACK_DEBUG=1`` to see one). Exit codes are part of the contract (DESIGN.md §5):
``plan`` exits 0 with no changes, 2 with changes, 1 on error.
"""

from __future__ import annotations

from typing import NoReturn

import click

from daemon.adapters import environment
from daemon.cli import changes, files, history, pins, promote, running
from daemon.cli import sandbox as sandbox_verb
from daemon.core.redact import redact
from daemon.errors import PinbackError, SpecError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pinback")
def cli() -> None:
    """Keep deployed versions equal to the versions pinned in a file."""


for verb in (
    files.validate,
    changes.plan,
    changes.apply,
    running.run,
    running.status,
    pins.versions,
    pins.rollback,
    promote.promote,
    history.audit,
    history.report,
    files.schema,
    sandbox_verb.sandbox,
):
    cli.add_command(verb)


def main(argv: list[str] | None = None) -> NoReturn:
    """Run the CLI; turn every error into one sentence on stderr and exit 1."""
    try:
        cli.main(args=argv, prog_name="pinback", standalone_mode=False)
    except SystemExit as exc:
        raise SystemExit(exc.code if isinstance(exc.code, int) else 0) from None
    except click.exceptions.Abort:
        _fail("aborted; nothing was changed")
    except click.ClickException as exc:
        _fail(exc.format_message())
    except SpecError as exc:
        for issue in exc.issues:
            click.echo(redact(str(issue)), err=True)
        raise SystemExit(1) from None
    except PinbackError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _fail("interrupted")
    except Exception as exc:
        if environment.debug():
            raise
        _fail(_describe_unexpected(exc))
    raise SystemExit(0)


def _describe_unexpected(exc: Exception) -> str:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        return (
            "no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)"
        )
    if isinstance(exc, ClientError | BotoCoreError):
        from daemon.adapters.aws import error_message

        return f"AWS call failed: {error_message(exc)}"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"unexpected {exc.__class__.__name__}: {text} (PINBACK_DEBUG=1 shows the traceback)"


def _fail(message: str) -> NoReturn:
    click.echo(f"pinback: {redact(message)}", err=True)
    raise SystemExit(1)
