"""Entry point of the ``assay`` console script.

User errors (:class:`assay.exceptions.AssayError`, unreadable files) print one line on stderr and
exit with code 2; ``--debug`` shows the traceback instead. Each command group lives in its own
module under ``assay.cli`` and exposes ``register(app)``.
"""

from __future__ import annotations

import importlib
import sys

import typer

from assay.cli._common import err_console

app = typer.Typer(
    name="assay",
    help="Measure, value and fix training data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Modules under assay.cli that define ``register(app)``; each adds its commands.
_COMMAND_MODULES: tuple[str, ...] = (
    "audit",
    "diff",
    "runs",
    "train",
    "split",
    "agree",
    "value",
    "curve",
    "report",
    "export",
    "review",
)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks for errors."),
) -> None:
    """Measure, value and fix training data."""
    _STATE["debug"] = debug


_STATE: dict[str, bool] = {"debug": False}

for _name in _COMMAND_MODULES:
    importlib.import_module(f"assay.cli.{_name}").register(app)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 ok, 1 findings over --fail-on, 2 user error)."""
    from assay.exceptions import AssayError

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        rv = app(args=args, prog_name="assay", standalone_mode=False)
        if isinstance(rv, int):
            return rv
    except SystemExit as exc:  # typer.Exit inside commands
        return int(exc.code or 0)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except (AssayError, FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        if debug:
            raise
        _print_error(str(exc))
        return 2
    except Exception as exc:  # click usage errors and friends
        import click

        if isinstance(exc, click.exceptions.Abort):
            err_console.print("aborted")
            return 130
        if isinstance(exc, click.ClickException):
            if debug:
                raise
            _print_error(exc.format_message())
            return 2
        raise
    return 0


def _print_error(message: str) -> None:
    from rich.text import Text

    one_line = " ".join(message.split())
    err_console.print(Text.assemble(("error: ", "bold red"), one_line), soft_wrap=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
