"""Entry point of the ``pledge`` command. Subcommands live in one module per area."""

from __future__ import annotations

import sys

import typer

from pledge.cli import _output

app = typer.Typer(
    name="pledge",
    help="Pledge: a privacy policy, kept by code.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _root() -> None:
    """Pledge: a privacy policy, kept by code."""


def _register() -> None:
    # Each area module adds its commands to `app`; importing them must stay cheap (heavy
    # libraries are imported inside the commands).
    from pledge.cli import audit, consent, declaration, logs, requests, retention, web, worker

    for module in (declaration, audit, requests, retention, logs, web, consent, worker):
        module.register(app)


_register()


def run() -> None:
    """Console-script entry: never a traceback for an expected error."""
    from pledge.errors import PledgeError

    try:
        code = app(standalone_mode=False)
    except PledgeError as error:
        sys.exit(_output.report_error(error))
    except KeyboardInterrupt:
        _output.err.print("interrupted")
        sys.exit(130)
    except typer.Abort:
        sys.exit(1)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.TyperException as exc:  # usage errors: unknown command, bad option, ...
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            _output.err.print(f"error: {exc}")
        sys.exit(_output.EXIT_BAD_INPUT)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    run()
