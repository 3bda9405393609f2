"""The ``Dataset``: a table plus column roles, labels encoded against an explicit class order."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assay._validation import count_nonfinite_rows, did_you_mean, mark_validated
from assay.data._images import IMAGE_SUFFIXES, scan_image_folder
from assay.data._io import check_unique_columns, read_table
from assay.data._scratch import load_npy
from assay.exceptions import InputValidationError

__all__ = ["Dataset", "Roles", "load"]


@dataclass(frozen=True)
class Roles:
    """Which column plays which part. Every field names a column of ``Dataset.table``."""

    label: str
    id: str | None = None
    split: str | None = None
    group: str | None = None
    text: str | None = None
    image: str | None = None
    features: tuple[str, ...] = ()
    meta: tuple[str, ...] = ()
    embedding_column: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        d = asdict(self)
        d["features"] = list(self.features)
        d["meta"] = list(self.meta)
        return d


@dataclass(frozen=True, eq=False)
class Dataset:
    """A table with column roles and labels encoded as ``0..K-1``.

    Attributes
    ----------
    table : pandas.DataFrame
        The rows as loaded. Never modified by assay.
    roles : Roles
        Column roles.
    classes : list
        Class names in index order: ``labels == j`` means ``classes[j]``.
    labels : ndarray of shape (N,), int64
        Encoded labels.
    embeddings : ndarray of shape (N, d), float32, or None
        User-supplied embeddings, aligned with the rows.
    source : str or None
        Where the data came from (a path), when known.
    root : Path or None
        Folder that relative image paths are resolved against.
    """

    table: pd.DataFrame
    roles: Roles
    classes: list[Any]
    labels: np.ndarray
    embeddings: np.ndarray | None = None
    source: str | None = None
    root: Path | None = None
    _fingerprint: list[str] = field(default_factory=list, repr=False)

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return int(self.table.shape[0])

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    @property
    def ids(self) -> np.ndarray:
        """Row identifiers: the id column when given, else ``0..N-1``."""
        if self.roles.id is not None:
            return self.table[self.roles.id].to_numpy()
        return np.arange(self.n_rows)

    @property
    def fingerprint(self) -> str:
        """Content hash of the rows, roles and embeddings (identifies a dataset version)."""
        if not self._fingerprint:
            h = hashlib.sha256()
            hashed = _hash_table(self.table)
            h.update(hashed.tobytes())
            h.update(json.dumps(list(map(str, self.table.columns))).encode())
            h.update(json.dumps(self.roles.to_dict(), sort_keys=True).encode())
            if self.embeddings is not None:  # in row blocks: no second copy of the matrix
                emb = self.embeddings
                step = max(1, 2**24 // max(1, emb[:1].nbytes))
                for start in range(0, emb.shape[0], step):
                    h.update(np.ascontiguousarray(emb[start:start + step]).data)
            self._fingerprint.append(h.hexdigest()[:16])
        return self._fingerprint[0]

    def column(self, name: str) -> pd.Series:
        """The column ``name`` (raises a clear error when absent)."""
        _require_columns(self.table, [name], role="column")
        return self.table[name]

    def class_names(self) -> list[str]:
        """Classes as strings, for display."""
        return [str(c) for c in self.classes]


def _hash_table(table: pd.DataFrame) -> np.ndarray:
    """Row hashes of a table; cells holding arrays or lists are hashed by their content: numeric
    vectors by their bytes, lists of strings (label sets, tokens) by their JSON text (the bytes
    of an object array are pointers, different on every load)."""
    try:
        return pd.util.hash_pandas_object(table, index=False).to_numpy()
    except TypeError:
        safe = table.copy(deep=False)
        for col in safe.columns:
            if safe[col].dtype == object:
                safe[col] = [_cell_bytes(v) if isinstance(v, np.ndarray | list | tuple) else v
                             for v in safe[col]]
        return pd.util.hash_pandas_object(safe, index=False).to_numpy()


def _cell_bytes(value: Any) -> bytes:
    """A list or array cell as bytes that depend on its content only."""
    import json

    arr = np.asarray(value)
    if arr.dtype.kind in "biuf":
        return arr.tobytes()
    return json.dumps(arr.tolist(), default=str, ensure_ascii=False).encode()


def load(
    source: str | Path | pd.DataFrame,
    *,
    label: str,
    id: str | None = None,  # noqa: A002 - the public name the issue asks for
    split: str | None = None,
    group: str | None = None,
    text: str | None = None,
    image: str | None = None,
    features: Sequence[str] | None = None,
    embeddings: str | Path | np.ndarray | None = None,
    meta: Sequence[str] | None = None,
    classes: Sequence[Any] | None = None,
) -> Dataset:
    """Load a dataset and give its columns roles.

    Parameters
    ----------
    source : str, Path or pandas.DataFrame
        A CSV, TSV, Parquet or JSON Lines file; a DataFrame; or an image folder laid out
        ``root/<class>/<file>`` (its table gets the columns ``path`` and ``label``).
    label : str
        The label column. Integer and string labels both work.
    id, split, group, text, image : str, optional
        Columns with a row identifier (must be unique), the split name, a group (patient,
        session: rows that must stay together), free text, and image paths (relative to the
        file's folder, or absolute).
    features : sequence of str, optional
        Feature columns for tabular featurizing. Default: every other column that is not a role.
    embeddings : str, Path or ndarray, optional
        Precomputed embeddings: a ``.npy`` file aligned with the rows (loaded without pickle),
        an (N, d) array, or the name of a column whose cells are vectors. Embeddings always win
        over featurizing.
    meta : sequence of str, optional
        Columns to slice results by.
    classes : sequence, optional
        The class order. Default: sorted unique label values. Every label must be in it.

    Returns
    -------
    Dataset

    Examples
    --------
    >>> import pandas as pd
    >>> import assay
    >>> ds = assay.load(pd.DataFrame({"x": [1, 2, 3], "y": ["b", "a", "b"]}), label="y")
    >>> ds.classes, ds.labels.tolist()
    (['a', 'b'], [1, 0, 1])
    """
    root: Path | None = None
    src_name: str | None = None
    if isinstance(source, pd.DataFrame):
        table = source.copy(deep=False)
    elif isinstance(source, str | Path):
        path = Path(source)
        src_name = str(path)
        if path.is_dir():
            table = scan_image_folder(path, label=label)
            image = image or "path"
            root = path
        else:
            table = read_table(path)
            root = path.parent
    else:
        raise InputValidationError(
            f"source must be a file path, an image folder or a pandas DataFrame; got "
            f"{type(source).__name__}. Pass a path such as 'data.csv'."
        )
    if table.shape[0] == 0:
        raise InputValidationError("The data has no rows. Pass a table with at least one row.")
    check_unique_columns(
        table.columns, source="The DataFrame" if isinstance(source, pd.DataFrame) else "The table"
    )
    table.columns = [str(c) for c in table.columns]
    named = {"label": label, "id": id, "split": split, "group": group, "text": text, "image": image}
    for role, col in named.items():
        if col is not None:
            _require_columns(table, [col], role=role)
    feature_cols = tuple(features) if features is not None else ()
    meta_cols = tuple(meta) if meta is not None else ()
    _require_columns(table, list(feature_cols), role="feature")
    if features is not None and not feature_cols:
        raise InputValidationError(
            "features is an empty list. Name at least one feature column, or leave it out to use "
            "every column besides the label and the other roles."
        )
    if label in feature_cols:
        raise InputValidationError(
            f"The label column '{label}' is also listed as a feature; a model would read the "
            "answer from its input. Remove it from the features."
        )
    _require_columns(table, list(meta_cols), role="meta")
    if id is not None and table[id].duplicated().any():
        dup = table[id][table[id].duplicated()].iloc[:3].tolist()
        raise InputValidationError(
            f"The id column '{id}' has duplicate values (e.g. {dup}). Ids must be unique: "
            "fix the duplicates or omit --id to use row numbers."
        )
    emb, emb_col = _load_embeddings(embeddings, table)
    codes, class_list = encode_labels(table[label], classes=classes, column=label)
    if not feature_cols:
        used = {c for c in named.values() if c is not None} | set(meta_cols)
        if emb_col:
            used.add(emb_col)
        feature_cols = tuple(c for c in table.columns if c not in used)
    roles = Roles(
        label=label, id=id, split=split, group=group, text=text, image=image,
        features=feature_cols, meta=meta_cols, embedding_column=emb_col,
    )
    return Dataset(table, roles, class_list, codes, emb, src_name, root)


def encode_labels(
    values: pd.Series, *, classes: Sequence[Any] | None = None, column: str = "label"
) -> tuple[np.ndarray, list[Any]]:
    """Encode label values as ``0..K-1`` against ``classes`` (default: sorted unique values)."""
    missing = values.isna()
    if missing.all():
        raise InputValidationError(
            f"The label column '{column}' is empty (every value is missing). "
            "Check that it is the right column."
        )
    if missing.any() and _empty_label_sets(values):
        values, missing = values.fillna(""), values.isna() & False  # an empty cell: no labels
    if missing.any():
        rows = np.flatnonzero(missing.to_numpy())[:5].tolist()
        raise InputValidationError(
            f"The label column '{column}' has {int(missing.sum())} missing value(s) (rows {rows}"
            f"{'...' if missing.sum() > 5 else ''}). Drop unlabelled rows or label them first "
            "(in a multi-label column, write a row without labels as [])."
        )
    raw = values.to_numpy()
    if raw.dtype == object and len(raw) and isinstance(raw[0], list | tuple | set | np.ndarray):
        # label sets or tag sequences (lists): one class per distinct cell, as JSON text in the
        # cell's order (a sequence's order is its meaning; a set is shown as written)
        import json

        raw = np.array([json.dumps(sorted(map(str, v)) if isinstance(v, set) else [
            str(x) for x in v], ensure_ascii=False) if isinstance(
            v, list | tuple | set | np.ndarray) else str(v) for v in raw], dtype=object)
    if raw.dtype == object or pd.api.types.is_string_dtype(values.dtype):
        kinds = {type(v).__name__ for v in raw[: min(len(raw), 100_000)]}
        if len(kinds) > 1 and not kinds <= {"int", "float"}:
            raise InputValidationError(
                f"The label column '{column}' mixes value types ({', '.join(sorted(kinds))}). "
                "Use one type for every label (e.g. convert all to strings)."
            )
    if raw.dtype.kind == "f" and np.all(raw == np.round(raw)):
        raw = raw.astype(np.int64)
    if classes is None:
        class_arr, codes = np.unique(raw, return_inverse=True)
        class_list = [c.item() if hasattr(c, "item") else c for c in class_arr]
    else:
        class_list = list(classes)
        lookup = {c: i for i, c in enumerate(class_list)}
        if len(lookup) != len(class_list):
            raise InputValidationError("classes has repeated entries; list each class once.")
        unknown = sorted({v for v in raw.tolist() if v not in lookup}, key=str)
        if unknown:
            raise InputValidationError(
                f"Labels {unknown[:5]} are not in `classes` ({class_list[:10]}). "
                "Add them to classes or fix the labels."
            )
        codes = np.fromiter((lookup[v] for v in raw.tolist()), dtype=np.int64, count=len(raw))
    if len(class_list) < 2:
        raise InputValidationError(
            f"The label column '{column}' has one class only ({class_list[0]!r}). An audit needs "
            "at least two classes: check the column, or add data of the other classes."
        )
    return np.asarray(codes, dtype=np.int64).ravel(), class_list


def _empty_label_sets(values: pd.Series) -> bool:
    """A multi-label column whose empty cells (read as missing) are rows without labels."""
    from assay.data._label_sets import is_label_set_column

    if pd.api.types.is_numeric_dtype(values):
        return False
    present = values.dropna()
    return bool(len(present)) and is_label_set_column(present.head(20_000).to_numpy(object))


def _require_columns(table: pd.DataFrame, cols: list[str], *, role: str) -> None:
    names = [str(c) for c in table.columns]
    for col in cols:
        if col not in table.columns:
            shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
            raise InputValidationError(
                f"{role.capitalize()} column '{col}' not found.{did_you_mean(col, names)} "
                f"Columns: {shown}."
            )


def _load_embeddings(
    embeddings: str | Path | np.ndarray | None, table: pd.DataFrame
) -> tuple[np.ndarray | None, str | None]:
    if embeddings is None:
        return None, None
    n = table.shape[0]
    column = None
    if isinstance(embeddings, str) and embeddings in table.columns:
        column = embeddings
        try:
            arr = np.stack([np.asarray(v, dtype=np.float32) for v in table[embeddings]])
        except (TypeError, ValueError) as exc:
            raise InputValidationError(
                f"Embedding column '{embeddings}' must hold equal-length numeric vectors in every "
                f"row ({exc}). Fix the rows or pass a .npy file."
            ) from exc
    elif isinstance(embeddings, str | Path):
        p = Path(embeddings)
        if p.suffix.lower() != ".npy":
            raise InputValidationError(
                f"Embeddings must be a .npy file or a column name; got '{p}'. Save them with "
                "numpy.save('emb.npy', array)."
            )
        if not p.exists():
            raise InputValidationError(f"Embeddings file not found: '{p}'. Check the path.")
        try:
            arr = load_npy(p)  # memory-mapped from 8 MiB: pages are read as they are used
        except (ValueError, EOFError, OSError) as exc:  # EOFError: an empty or truncated file
            raise InputValidationError(
                f"Could not read '{p}' as a numeric .npy array without pickle "
                f"({exc or type(exc).__name__}). Save a plain float array with numpy.save."
            ) from exc
    else:
        arr = np.asarray(embeddings)
    if arr.ndim != 2:
        raise InputValidationError(
            f"Embeddings must be a 2-d array (rows x dimensions); got shape {arr.shape}."
        )
    if arr.shape[0] != n:
        raise InputValidationError(
            f"Embeddings have {arr.shape[0]} rows but the data has {n}. Pass one embedding per "
            "row, in the same order."
        )
    if arr.dtype.kind not in "fiub":
        raise InputValidationError(f"Embeddings must be numeric; got dtype {arr.dtype}.")
    arr = np.ascontiguousarray(arr, dtype=np.float32)  # a float32 map stays a map: no copy
    bad = count_nonfinite_rows(arr)
    if bad:
        raise InputValidationError(
            f"Embeddings have NaN or infinite values in {bad} row(s). Recompute or drop them."
        )
    # read-only: no check writes into the user's embeddings (nor into private pages of a map),
    # and checked once (a scan of 10M x 128 reads 5 GB), not again by every function given them
    arr = arr.view()
    arr.flags.writeable = False
    return mark_validated(arr, "features"), column


def is_image_path(value: str) -> bool:
    """True when ``value`` ends with a known image extension."""
    return Path(value).suffix.lower() in IMAGE_SUFFIXES
