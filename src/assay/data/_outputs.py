"""Writing output files safely: checked before the work, never over an input, never torn.

Every command that writes files goes through these helpers:

- :func:`check_output_dir` / :func:`check_output_file` run before any work starts. They refuse
  an output that is (or would write over) one of the command's inputs, a file where a folder is
  needed (or the reverse), and a place that cannot be created, each with one line that says how
  to fix it.
- :func:`atomic_path` yields a temporary name beside the target and renames it into place only
  when the block ends without an error, so a crash or ``kill -9`` leaves either the previous file
  or the new one, never a truncated one.
- :func:`remove_stale_temps` deletes the temporaries that a killed process left in a folder
  (their names carry the writer's process id; only those of processes no longer alive go).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from assay.exceptions import InputValidationError

#: Temporary names: ``.<target name>.tmp-<pid>-<random>`` in the target's folder.
_TEMP = re.compile(r"^\..+\.tmp-(\d+)-[0-9a-f]+$")

PathLike = str | os.PathLike[str]


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _resolved(p: Path) -> Path:
    try:
        return p.resolve()
    except OSError:
        return p.absolute()


def _is_input(target: Path, inputs: Iterable[PathLike | None]) -> Path | None:
    """The input that ``target`` is (or lies inside, for a folder input), if any."""
    t = _resolved(target)
    for raw in inputs:
        if raw is None:
            continue
        src = Path(raw)
        s = _resolved(src)
        if t == s or _same(target, src):
            return src
        if src.is_dir() and t.is_relative_to(s):  # inside an input folder (images)
            return src
    return None


def _creatable(folder: Path, what: str) -> None:
    """Create ``folder`` (and parents) or raise one clear error; check that it is writable."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InputValidationError(
            f"The {what} '{folder}' cannot be created: a file of that name (or of one of its "
            "parent folders) exists. Pass another path."
        ) from None
    except OSError as exc:
        raise InputValidationError(
            f"The {what} '{folder}' cannot be created ({exc.strerror or exc}). Pass a path in a "
            "folder you can write to."
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputValidationError(
            f"The {what} '{folder}' is not writable. Pass a path in a folder you can write to."
        )


def check_output_dir(
    path: PathLike,
    *,
    inputs: Iterable[PathLike | None] = (),
    names: Iterable[str] = (),
    option: str = "--out",
) -> Path:
    """Validate an output folder before any work starts; create it.

    Parameters
    ----------
    path : path-like
        The folder the command will write into.
    inputs : iterable of path-like
        The command's input files and folders: none may be the folder itself or one of the
        files the command writes into it.
    names : iterable of str
        The file names the command writes into the folder.
    option : str, default "--out"
        The option's name, for the message.

    Returns
    -------
    Path
        The folder, created if it was missing.

    Raises
    ------
    InputValidationError
        When the path is a file, would write over an input, or cannot be created or written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "data.csv").write_text("x,y\\n1,a\\n")
    >>> check_output_dir(root / "out", inputs=[root / "data.csv"]).is_dir()
    True
    >>> check_output_dir(root / "data.csv", inputs=[root / "data.csv"])
    Traceback (most recent call last):
    ...
    assay.exceptions.InputValidationError: The output folder given with --out ...
    """
    folder = Path(path)
    inputs = [p for p in inputs if p is not None]
    hit = _is_input(folder, inputs)
    if hit is not None:
        raise InputValidationError(
            f"The output folder given with {option} ('{folder}') is the input '{hit}'; inputs "
            f"are never written over. Pass a new folder, e.g. {option} {folder.stem or 'out'}-out."
        )
    if folder.exists() and not folder.is_dir():
        raise InputValidationError(
            f"The output folder given with {option} ('{folder}') is an existing file. Pass a "
            "folder (new or existing), not a file."
        )
    for name in names:
        if (folder / name).is_dir():
            raise InputValidationError(
                f"{option} '{folder}' holds a folder named '{name}', where the command writes a "
                "file. Move that folder, or pass another output folder.")
        hit = _is_input(folder / name, inputs)
        if hit is not None:
            raise InputValidationError(
                f"Writing '{name}' into {option} '{folder}' would overwrite the input '{hit}'; "
                f"inputs are never written over. Pass another {option} folder."
            )
    _creatable(folder, f"output folder given with {option}")
    return folder


def check_output_file(
    path: PathLike,
    *,
    inputs: Iterable[PathLike | None] = (),
    option: str = "--out",
) -> Path:
    """Validate an output file before any work starts; create its folder.

    Parameters
    ----------
    path : path-like
        The file the command will write (an existing file is replaced, atomically).
    inputs : iterable of path-like
        The command's inputs; the output may not be one of them.
    option : str, default "--out"
        The option's name, for the message.

    Returns
    -------
    Path

    Raises
    ------
    InputValidationError
        When the path is an input or a folder, or its folder cannot be created or written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "data.csv").write_text("x,y\\n1,a\\n")
    >>> check_output_file(root / "data.csv", inputs=[root / "data.csv"])
    Traceback (most recent call last):
    ...
    assay.exceptions.InputValidationError: The output file given with --out ...
    """
    target = Path(path)
    hit = _is_input(target, [p for p in inputs if p is not None])
    if hit is not None:
        raise InputValidationError(
            f"The output file given with {option} ('{target}') is the input '{hit}'; inputs are "
            f"never written over. Pass a new file name, e.g. {option} "
            f"{target.with_name(target.stem + '.out' + target.suffix).name}."
        )
    if target.is_dir():
        raise InputValidationError(
            f"The output file given with {option} ('{target}') is a folder. Pass a file name "
            f"(e.g. {option} {target / 'out'})."
        )
    _creatable(target.parent, f"folder of the output file given with {option}")
    return target


def temp_name(target: Path) -> Path:
    """A fresh temporary path beside ``target`` that :func:`remove_stale_temps` recognises."""
    return target.parent / f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"


@contextlib.contextmanager
def atomic_path(target: PathLike) -> Iterator[Path]:
    """Yield a temporary path; rename it to ``target`` when the block succeeds.

    The temporary lies in the target's folder (so the rename is atomic on one file system) and
    is removed when the block raises. Whoever writes it should close the file before the block
    ends; the rename then replaces ``target`` in one step, so readers and crashes see the old
    file or the new one, never a truncated one.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    final = Path(target)
    _remove_stale(final)
    tmp = temp_name(final)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to the temporary file for '{final}'")
        _fsync(tmp)
        os.replace(tmp, final)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    if path.is_dir():
        return
    with contextlib.suppress(OSError), open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    except OSError:
        return False
    return True


def _remove_stale(target: Path) -> None:
    """Remove the temporaries of ``target`` that dead processes left (cheap: one listing)."""
    prefix = f".{target.name}.tmp-"
    if target.parent.is_dir():
        remove_stale_temps(target.parent, only=[
            e for e in target.parent.iterdir() if e.name.startswith(prefix)])


def remove_stale_temps(folder: PathLike, *, keep: Iterable[PathLike] = (),
                       only: Iterable[PathLike] | None = None) -> list[Path]:
    """Delete the temporaries (files or folders) that dead processes left in ``folder``.

    Only names made by :func:`temp_name` count, and only those whose process id is no longer
    running; ``keep`` lists temporaries to leave alone (e.g. one that a recorded export still
    points to); ``only`` limits the look to these entries. Returns what was removed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / ".issues.csv.tmp-999999999-abcd").write_text("partial")
    >>> [p.name for p in remove_stale_temps(d)]
    ['.issues.csv.tmp-999999999-abcd']
    """
    root = Path(folder)
    if not root.is_dir():
        return []
    skip = {_resolved(Path(p)) for p in keep}
    removed = []
    for entry in (root.iterdir() if only is None else (Path(p) for p in only)):
        match = _TEMP.match(entry.name)
        if not match or _alive(int(match.group(1))) or _resolved(entry) in skip:
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
    return removed
