"""Exceptions raised by assay.

Every error raised at the public boundary is an :class:`AssayError`. Each message says what is
wrong, what was expected, what was received and how to fix it. The CLI turns an ``AssayError``
into one line on stderr and exit code 2.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AssayError",
    "CurveWarning",
    "InputValidationError",
    "InvalidParameterError",
    "MissingDependencyError",
    "SplitWarning",
    "StoreError",
]


class AssayError(Exception):
    """Base class of every error assay raises on purpose."""


class InvalidParameterError(AssayError, ValueError):
    """A keyword option has a value outside its allowed range or set.

    Parameters
    ----------
    name : str
        The parameter's name.
    expected : str
        What values are allowed, in words (``"an int in the range [1, 100]"``).
    got : object
        The value received.
    owner : str, optional
        The function or command that owns the parameter.
    hint : str, optional
        How to fix it, when that is more than "pass an allowed value".
    """

    def __init__(
        self, name: str, expected: str, got: object, *, owner: str = "", hint: str = ""
    ) -> None:
        self.name = name
        self.expected = expected
        self.got = got
        self.owner = owner
        where = f" of {owner}" if owner else ""
        msg = f"The '{name}' parameter{where} must be {expected}. Got {got!r} instead."
        if hint:
            msg += f" {hint}"
        super().__init__(msg)


class InputValidationError(AssayError, ValueError):
    """The data passed in (arrays, tables, files) does not have the expected form."""


class MissingDependencyError(AssayError, ImportError):
    """An optional dependency is needed for this feature but is not installed.

    Parameters
    ----------
    package : str
        The importable name that is missing (``"torch"``).
    extra : str
        The pip extra of assay that installs it (``"torch"``).
    feature : str
        What needs it, in words (``"assay.torch"``).
    """

    def __init__(self, package: str, extra: str, feature: str) -> None:
        self.package = package
        self.extra = extra
        self.feature = feature
        super().__init__(
            f"{feature} needs {package}, which is not installed. "
            f"Install it with: pip install 'assay[{extra}]'"
        )


class StoreError(AssayError):
    """The workspace store cannot be opened, read or written."""


class SplitWarning(UserWarning):
    """A split could not give some classes their minimum rows (see :func:`assay.make_splits`).

    Parameters
    ----------
    message : str
        What falls short, the minimum, why, and how to fix it.
    shortfalls : pandas.DataFrame, optional
        One row per (class, split) below the minimum (columns ``class``, ``split``, ``n_rows``,
        ``minimum``, ``class_rows``, ``class_units``, ``reason``); ``None`` when the warning is
        about classes too small for the minimum.
    """

    def __init__(self, message: str, shortfalls: Any = None) -> None:
        super().__init__(message)
        self.shortfalls = shortfalls


class CurveWarning(UserWarning):
    """A learning-curve plan rests on weak evidence (see :func:`assay.curves.allocate_budget`).

    Parameters
    ----------
    message : str
        What is weak, how it was handled, and how to fix it.
    classes : dict, optional
        The classes concerned and their held-out evaluation rows.
    """

    def __init__(self, message: str, classes: dict[str, int] | None = None) -> None:
        super().__init__(message)
        self.classes = dict(classes or {})
