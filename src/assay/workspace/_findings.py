"""Per-row findings: validation of the long frame, bulk insert through Arrow, typed reads.

The table stores ``row_id`` as text and every column beyond ``row_id, check, score, flag`` packed
into one ``details`` JSON object (packed by DuckDB, vectorised, not by a Python loop). The run's
``findings_schema`` remembers the original ``row_id`` type and the DuckDB type of each extra
column, so ``findings(run_id, expand_details=True)`` gives back the frame that went in.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from assay._validation import did_you_mean
from assay.exceptions import InputValidationError

BASE_COLUMNS = ("row_id", "check", "score", "flag")
_SRC = "_assay_findings_src"
# Types that can be interpolated into a CAST; anything else (structs, maps, unions) stays JSON.
_SAFE_TYPE_RE = re.compile(r"^[A-Z][A-Z0-9_ ]*(\(\d+(, ?\d+)?\))?(\[\d*\])*$")
_INT_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER",
              "UBIGINT", "HUGEINT"}


def quote_ident(name: str) -> str:
    """Quote a column name for SQL (doubling embedded quotes)."""
    return '"' + name.replace('"', '""') + '"'


def _json_path(name: str) -> str:
    import json

    return "$." + json.dumps(name)


def prepare_findings(frame: Any) -> Any:
    """Validate a long findings frame and return it as a ``pyarrow.Table``."""
    import pyarrow as pa

    if not isinstance(frame, pd.DataFrame):
        raise InputValidationError(
            f"findings must be a pandas DataFrame; got {type(frame).__name__}. Build a long frame "
            "with columns row_id, check, score, flag (one row per row and check)."
        )
    columns = [str(c) for c in frame.columns]
    if len(set(columns)) != len(columns):
        raise InputValidationError(
            f"findings has duplicate column names: {columns}. Rename them to be unique."
        )
    frame = frame.set_axis(columns, axis=1)
    for required in ("row_id", "check"):
        if required not in columns:
            raise InputValidationError(
                f"findings has no column '{required}'.{did_you_mean(required, columns)} "
                f"Columns: {', '.join(columns)}. Pass a long frame with row_id and check."
            )
    row_id = frame["row_id"]
    if row_id.isna().any():
        raise InputValidationError(
            f"findings.row_id has {int(row_id.isna().sum())} missing value(s). Every finding "
            "needs the id of its row."
        )
    if not (pd.api.types.is_integer_dtype(row_id) or _is_str(row_id)):
        raise InputValidationError(
            f"findings.row_id must hold ints or strings; got dtype {row_id.dtype}. Use the "
            "dataset's id column or the row position."
        )
    if frame["check"].isna().any() or not _is_str(frame["check"]):
        raise InputValidationError(
            "findings.check must hold the check name (a non-missing string) on every row."
        )
    if "score" in columns:
        score = frame["score"]
        if pd.api.types.is_bool_dtype(score) or not pd.api.types.is_numeric_dtype(score):
            raise InputValidationError(
                f"findings.score must be numeric (a float in [0, 1]); got dtype {score.dtype}."
            )
        values = score.to_numpy(dtype=np.float64, na_value=np.nan)
        finite = values[~np.isnan(values)]
        if finite.size and (not np.all(np.isfinite(finite)) or finite.min() < 0 or finite.max() > 1):
            raise InputValidationError(
                f"findings.score must lie in [0, 1] (lower is worse) or be NaN; got values from "
                f"{finite.min():.4g} to {finite.max():.4g}. Rescale the score before recording it."
            )
    if "flag" in columns and not pd.api.types.is_bool_dtype(frame["flag"]):
        raise InputValidationError(
            f"findings.flag must be boolean; got dtype {frame['flag'].dtype}. "
            "Pass True where the check flags the row."
        )
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise InputValidationError(
            f"findings could not be converted for storage: {exc}. Give each extra column one "
            "type (numbers, strings, bools, timestamps or lists of them)."
        ) from exc


def _is_str(series: pd.Series) -> bool:
    if pd.api.types.is_string_dtype(series) and not pd.api.types.is_object_dtype(series):
        return True
    if pd.api.types.is_object_dtype(series):
        return bool(series.map(type).eq(str).all())
    return False


def insert_findings(
    con: Any, run_id: str, table: Any, schema: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    """Insert ``table`` for ``run_id`` on ``con`` (inside a transaction); return (n, new schema)."""
    n = table.num_rows
    if n == 0:
        return 0, schema
    con.register(_SRC, table)
    try:
        types = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {_SRC}").fetchall()}
        rid_type = "BIGINT" if types["row_id"] in _INT_TYPES else "VARCHAR"
        if schema.get("row_id", rid_type) != rid_type:
            raise InputValidationError(
                f"findings.row_id has type {rid_type}, but earlier findings of run {run_id} used "
                f"{schema['row_id']}. Use one row id type per run."
            )
        clash = [r[0] for r in con.execute(
            f'SELECT DISTINCT "check" FROM {_SRC} WHERE "check" IN '
            '(SELECT DISTINCT "check" FROM findings WHERE run_id = ?) ORDER BY 1',
            [run_id],
        ).fetchall()]
        if clash:
            raise InputValidationError(
                f"Run {run_id} already has findings for check(s) {clash}. Record each check once "
                "per run (all its rows in one call)."
            )
        dup = con.execute(
            f'SELECT row_id, "check" FROM {_SRC} GROUP BY ALL HAVING count(*) > 1 LIMIT 3'
        ).fetchall()
        if dup:
            raise InputValidationError(
                f"findings has repeated (row_id, check) pairs, e.g. {dup}. Record one finding per "
                "row and check."
            )
        extras = {c: t for c, t in types.items() if c not in BASE_COLUMNS}
        details_types = dict(schema.get("details", {}))
        for col, typ in extras.items():
            typ = typ if _SAFE_TYPE_RE.match(typ) else "JSON"
            details_types[col] = typ if details_types.get(col, typ) == typ else "VARCHAR"
        score = "CAST(score AS DOUBLE)" if "score" in types else "NULL"
        flag = "CAST(flag AS BOOLEAN)" if "flag" in types else "NULL"
        if extras:
            packed = ", ".join(f"{quote_ident(c)} := {quote_ident(c)}" for c in extras)
            details = f"to_json(struct_pack({packed}))"
        else:
            details = "NULL"
        con.execute(
            f'INSERT INTO findings SELECT ?, CAST(row_id AS VARCHAR), "check", {score}, {flag}, '
            f"{details} FROM {_SRC}",
            [run_id],
        )
    finally:
        con.unregister(_SRC)
    return n, {"row_id": rid_type, "details": details_types}


def findings_select(
    run_id: str,
    schema: dict[str, Any],
    *,
    check: str | None,
    flagged_only: bool,
    expand_details: bool,
) -> tuple[str, list[Any]]:
    """SQL (and its arguments) reading one run's findings with their recorded types."""
    rid = schema.get("row_id", "VARCHAR")
    rid = rid if rid in ("BIGINT", "VARCHAR") else "VARCHAR"
    select = [f"CAST(row_id AS {rid}) AS row_id", '"check"', "score", "flag"]
    args: list[Any] = []
    if expand_details:
        for col, typ in schema.get("details", {}).items():
            if typ == "VARCHAR":
                expr = "json_extract_string(details, ?)"
            elif typ == "JSON" or not _SAFE_TYPE_RE.match(typ):
                expr = "CAST(json_extract(details, ?) AS VARCHAR)"
            else:
                expr = f"CAST(json_extract(details, ?) AS {typ})"
            select.append(f"{expr} AS {quote_ident(col)}")
            args.append(_json_path(col))
    else:
        select.append("details")
    sql = f"SELECT {', '.join(select)} FROM findings WHERE run_id = ?"
    args.append(run_id)
    if check is not None:
        sql += ' AND "check" = ?'
        args.append(check)
    if flagged_only:
        sql += " AND flag"
    return sql, args
