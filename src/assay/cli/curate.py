"""``assay curate``: cut a curation funnel from an audit and hand its stages to ``assay review``.

Stage 1 (automatic) keeps the best-ranked rows; stage 2 (amateur) is the next cut, served by the
review app as the ``curation`` queue of the audit run; stage 3 (expert) is the app's expert
stage on that queue (rows the reviewers disagreed on or deferred), capped at the last size.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import typer

from assay.cli._common import console, print_json
from assay.exceptions import InputValidationError, InvalidParameterError

_OWNER = "assay curate"
_SIZES = "three whole numbers > 0, largest first, e.g. 2000,200,20 (automatic, amateur, expert)"


def parse_sizes(text: str) -> list[int]:
    """``"2000,200,20"`` -> ``[2000, 200, 20]``; one clear error for anything else."""
    parts = [p.strip().replace("_", "") for p in str(text).split(",")]
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise InvalidParameterError("--sizes", _SIZES, text, owner=_OWNER)
    sizes = [int(p) for p in parts]
    if min(sizes) < 1:
        raise InvalidParameterError("--sizes", _SIZES, text, owner=_OWNER)
    if any(b > a for a, b in zip(sizes, sizes[1:], strict=False)):
        raise InvalidParameterError(
            "--sizes", _SIZES, text, owner=_OWNER,
            hint="Each stage keeps part of the one before, so the sizes may not grow.")
    return sizes


def register(app: typer.Typer) -> None:
    """Add ``assay curate`` to ``app``."""

    @app.command("curate")
    def curate_cmd(
        sizes: str = typer.Option(
            ..., "--sizes", help="Rows per stage: automatic,amateur,expert (e.g. 2000,200,20)."),
        workspace: Path | None = typer.Option(
            None, "--workspace", "-w",
            help="Workspace (default: .assay/ here or $ASSAY_WORKSPACE)."),
        run: str | None = typer.Option(
            None, "--run", help="Audit run id or prefix (default: latest audit)."),
        balance_by_class: bool = typer.Option(
            False, "--balance-by-class", help="Split each cut evenly across the classes."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Rank an audit's rows by quality, cut the funnel's stages, queue stage 2 for review."""
        from assay.app import stored_audit
        from assay.curate import DEFAULT_STAGES, audit_funnel
        from assay.data import atomic_path
        from assay.workspace import Workspace, default_workspace

        quotas = parse_sizes(sizes)
        ws_path = workspace or default_workspace()
        if not (ws_path / "assay.duckdb").exists():
            raise InvalidParameterError(
                "--workspace", "a workspace folder with an audit in it", str(ws_path),
                owner=_OWNER, hint="Run 'assay audit DATA --label COL' first, or pass --workspace.")
        ws = Workspace.open(ws_path, create=False)
        audit_id, info, result = stored_audit(ws, run, command="curate")
        n_rows = len(result.issues)
        if quotas[0] > n_rows:
            raise InputValidationError(
                f"--sizes asks for {quotas[0]} rows in the first stage, but audit run {audit_id} "
                f"has {n_rows} rows. Pass sizes of at most {n_rows}, largest first.")
        funnel, table = audit_funnel(result.issues, quotas, class_balanced=balance_by_class)
        stages = list(DEFAULT_STAGES)
        counts = {s: int((table["stage"] == s).sum()) for s in stages}
        params = {"audit_run": audit_id, "sizes": quotas, "stages": stages,
                  "balance_by_class": balance_by_class}
        with ws.record_run("curate", params, fingerprint=info["fingerprint"]) as rec:
            folder = ws.results_dir(rec.run_id)
            folder.mkdir(parents=True, exist_ok=True)
            with atomic_path(folder / "funnel.parquet") as tmp:
                table.to_parquet(tmp, index=False)
            rec.summary.update({
                "audit_run": audit_id, "n_rows": n_rows, "sizes": dict(zip(stages, quotas,
                                                                           strict=True)),
                "rows": counts, "n_excluded": int((funnel.ranking["excluded"] != "").sum()),
                "signals": _signals(result.issues), "outputs": {
                    "funnel": str(folder / "funnel.parquet")}})
            summary = dict(rec.summary)
        run_id = rec.run_id
        review = ["assay", "review", "-w", str(ws_path), "--run", audit_id]
        summary.update({"run_id": run_id, "review_command": shlex.join(review),
                        "expert_command": shlex.join([*review, "--expert"])})
        if as_json:
            print_json(summary)
            return
        _print_summary(summary, stages)


def _signals(issues: Any) -> list[str]:
    from assay.curate import AUDIT_SIGNALS

    return [c for c in AUDIT_SIGNALS if c in issues and issues[c].notna().any()]


def _print_summary(summary: dict[str, Any], stages: list[str]) -> None:
    from rich.text import Text

    console.print(Text.assemble(("assay curate", "bold"), f"  run {summary['run_id']}, "
                                f"audit {summary['audit_run']}"))
    console.print(f"  {summary['n_rows']:,} rows ranked by {', '.join(summary['signals'])}",
                  highlight=False)
    if summary["n_excluded"]:
        console.print(f"  {summary['n_excluded']:,} redundant duplicate copies left out")
    what = {"automatic": "kept by the filter (best ranked)",
            "amateur": "queue 'curation' for reviewers, best first",
            "expert": "at most: rows reviewers disagree on or defer"}
    for i, stage in enumerate(stages, 1):
        asked, got = summary["sizes"][stage], summary["rows"][stage]
        short = f" (asked {asked:,})" if got < asked and stage != "expert" else ""
        n = asked if stage == "expert" else got
        console.print(f"  {i}. {stage:<9} {n:>9,}  {what[stage]}{short}", highlight=False)
    console.print(f"  funnel: {summary['outputs']['funnel']}", soft_wrap=True, highlight=False)
    console.print("Stage 2 (reviewers):", soft_wrap=True)
    console.print(f"  {summary['review_command']}", soft_wrap=True, highlight=False,
                  markup=False)
    console.print("Stage 3 (experts, same queue, expert URL):", soft_wrap=True)
    console.print(f"  {summary['expert_command']}", soft_wrap=True, highlight=False,
                  markup=False)
