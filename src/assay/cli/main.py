"""Entry point of the ``assay`` console script.

User errors (:class:`assay.exceptions.AssayError`, unreadable files) print one line on stderr and
exit with code 2; ``--debug`` shows the traceback instead. Usage errors (unknown command or
option, missing or malformed argument) print one line on stderr and exit with code 2, with or
without ``--debug``: they are never a traceback. ``assay`` alone prints the help on stdout and
exits with code 2, as click >= 8.2 does for a missing command (no command ran, so a script that
calls ``assay`` with an empty argument list fails loudly); ``assay --help`` exits with 0. Each
command group lives in its own module under ``assay.cli`` and exposes ``register(app)``.
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
    "sanity",
    "pipeline",
    "report",
    "export",
    "review",
    "curate",
)


def _print_version(value: bool) -> None:
    if value:
        from assay import __version__

        typer.echo(f"assay {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks for errors."),
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", is_eager=True,
        callback=_print_version,
    ),
) -> None:
    """Measure, value and fix training data."""
    _STATE["debug"] = debug


_STATE: dict[str, bool] = {"debug": False}

for _name in _COMMAND_MODULES:
    importlib.import_module(f"assay.cli.{_name}").register(app)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 ok, 1 findings over --fail-on, 2 user error)."""
    from assay.exceptions import AssayError

    args = _bare_ray(list(sys.argv[1:] if argv is None else argv))
    debug = "--debug" in args
    if not args:  # the same on every click version: help on stdout, exit 2 (see the docstring)
        _run(["--help"])
        return 2
    try:
        return _run(args)
    except KeyboardInterrupt:  # Ctrl-C: one line, the conventional exit code, no traceback
        if debug:
            raise
        err_console.print("interrupted (nothing half-written is left: outputs are renamed into "
                          "place only when complete)")
        return 130
    except (AssayError, FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        if debug:
            raise
        _print_error(str(exc))
        return 2
    except Exception as exc:
        if _is_framework_error(exc, "Abort"):
            err_console.print("aborted")
            return 130
        if _is_framework_error(exc, "Exit"):
            return int(getattr(exc, "exit_code", 0) or 0)
        if _is_framework_error(exc, "ClickException", "TyperException"):
            return _usage_error(exc, args)
        raise


def _bare_ray(args: list[str]) -> list[str]:
    """``--ray`` with no address (last, or followed by another option) means a local Ray."""
    out = []
    for i, a in enumerate(args):
        out.append(a)
        if a == "--ray" and (i + 1 == len(args) or args[i + 1].startswith("-")):
            out.append("local")
    return out


def _run(args: list[str]) -> int:
    """Invoke the app without click's standalone handling; map a return value to an exit code."""
    try:
        rv = app(args=args, prog_name="assay", standalone_mode=False)
    except SystemExit as exc:  # sys.exit() inside commands
        if exc.code == 130:  # typer's own Ctrl-C handling exits 130 without a word
            raise KeyboardInterrupt from exc
        if exc.code is None or isinstance(exc.code, int):
            return int(exc.code or 0)
        _print_error(str(exc.code))
        return 1
    if rv == 130:  # click / typer turned a Ctrl-C into exit code 130 without a word
        raise KeyboardInterrupt
    return rv if isinstance(rv, int) else 0


def _is_framework_error(exc: BaseException, *names: str) -> bool:
    """Whether ``exc`` is one of click's or typer's exception classes called ``names``.

    Matched by class name in the MRO, not by identity: typer >= 0.29 ships its own copy of click
    (``typer._click``, a private module) whose classes are not ``click``'s, and older typer
    raises ``click``'s own. Matching names from either package covers both without a version bound.
    """
    return any(
        cls.__name__ in names and cls.__module__.partition(".")[0] in ("click", "typer")
        for cls in type(exc).__mro__
    )


def _usage_error(exc: Exception, args: list[str]) -> int:
    """Print a click usage error as one line on stderr (never a traceback); return 2."""
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError":  # a group or command called bare: its help
        help_text = ctx.get_help() if ctx is not None else ""  # rich help prints itself
        if help_text:
            typer.echo(help_text)
        return 2
    format_message = getattr(exc, "format_message", None)
    message = format_message() if callable(format_message) else str(exc)
    message = message.strip() or type(exc).__name__
    if message[-1] not in ".?!":
        message += "."
    if message.startswith("No such command") and "Did you mean" not in message:
        message += _did_you_mean(message)  # typer < 0.16 does not suggest commands
    got = _received(exc)
    if got is not None and repr(got) not in message:
        message += f" Got {got!r}."
    command = getattr(ctx, "command_path", "") or _command_path(args)
    _print_error(f"{message} Run '{command} --help' to see the usage.")
    return 2


def _received(exc: BaseException) -> object | None:
    """The value a type conversion rejected, when typer's message leaves it out (pydantic)."""
    errors = getattr(exc.__cause__, "errors", None)
    if not callable(errors):
        return None
    try:
        inputs = [e["input"] for e in errors() if isinstance(e, dict) and "input" in e]
    except Exception:  # noqa: BLE001 - a message without the value beats no message
        return None
    return inputs[0] if len(inputs) == 1 and isinstance(inputs[0], str) else None


def _command_names() -> list[str]:
    return sorted(c.name for c in app.registered_commands if c.name)


def _did_you_mean(message: str) -> str:
    """The suffix " Did you mean 'audit'?" for the command named in ``message``, or ""."""
    import re

    from assay._validation import did_you_mean

    match = re.search(r"'([^']*)'", message)
    return did_you_mean(match.group(1), _command_names()) if match else ""


def _command_path(args: list[str]) -> str:
    """'assay COMMAND' for the first command name in ``args`` (errors raised without a context)."""
    names = set(_command_names())
    return next((f"assay {a}" for a in args if a in names), "assay")


def _print_error(message: str) -> None:
    from rich.text import Text

    one_line = " ".join(message.split())
    err_console.print(Text.assemble(("error: ", "bold red"), one_line), soft_wrap=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
