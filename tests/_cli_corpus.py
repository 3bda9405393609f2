"""A corpus of bad inputs over every ``assay`` command, run the way a user runs them.

Each case is one command line against small fixture files built by :func:`build_fixtures`. The
runner calls :func:`assay.cli.main.main` (the console script's entry point) once per case in one
process, so that 130 cases cost one interpreter start, and records for each case:

- whether an exception escaped ``main`` (the console script would print a traceback),
- the exit code, stdout and stderr (``Traceback`` anywhere is a failure too),
- whether it ran past its time limit (a hang),
- whether any input file changed (content hash before and after, every case).

``python tests/_cli_corpus.py ROOT [RESULTS.json]`` builds the fixtures under ROOT, runs every
case and prints a one-line summary per failing case; ``tests/test_cli_bad_input.py`` runs it as a
subprocess (the dependency versions CI resolves, a real console) and asserts on the results.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import signal
import socket
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

CASE_SECONDS = 120


@dataclass(frozen=True)
class Case:
    """One command line; ``expect`` is the exit code a user should get (None: 0, 1 or 2)."""

    name: str
    argv: tuple[str, ...]
    expect: int | None = 2


# ---------------------------------------------------------------------------------------- fixtures


def build_fixtures(root: Path) -> Path:
    """Write the input files under ``root / 'in'`` and a good workspace; return ``root / 'in'``."""
    rng = np.random.default_rng(0)
    d = root / "in"
    d.mkdir(parents=True, exist_ok=True)
    n = 90
    y = np.repeat(["a", "b", "c"], n // 3)
    x = rng.normal(size=(n, 3)) + (np.searchsorted(["a", "b", "c"], y)[:, None] * 1.5)
    table = pd.DataFrame({
        "id": [f"r{i}" for i in range(n)], "x1": x[:, 0].round(3), "x2": x[:, 1].round(3),
        "x3": x[:, 2].round(3), "c": rng.choice(["u", "v"], size=n), "grp": rng.integers(0, 15, n),
        "split": np.where(np.arange(n) % 5 == 0, "test", "train"),
        "txt": [f"word{i % 7} thing{i % 3} label {lab}" for i, lab in enumerate(y)], "y": y,
    })
    table.to_csv(d / "t.csv", index=False)
    table.to_parquet(d / "t.parquet", index=False)
    table.to_json(d / "t.jsonl", orient="records", lines=True)
    table.to_csv(d / "t.tsv", sep="\t", index=False)
    table.to_csv(d / "semi.csv", sep=";", index=False)
    table.drop(columns="split").to_csv(d / "nosplit.csv", index=False)
    table.to_csv(d / "t.txt", index=False)
    table.assign(y="a").to_csv(d / "oneclass.csv", index=False)
    table.assign(y=np.nan).to_csv(d / "nolabels.csv", index=False)
    table.assign(y=lambda f: f.y.where(np.arange(n) % 9 != 0)).to_csv(d / "somena.csv", index=False)
    table.assign(y=[*["a"] * (n - 1), "b"]).to_csv(d / "singleton.csv", index=False)
    table.assign(id="same").to_csv(d / "dupid.csv", index=False)
    table.iloc[:1].to_csv(d / "onerow.csv", index=False)
    table.iloc[[0, 1, 30, 31]].to_csv(d / "fourrows.csv", index=False)
    table.iloc[:0].to_csv(d / "header.csv", index=False)
    table[["y"]].to_csv(d / "labelonly.csv", index=False)
    table.assign(x1=np.inf).to_csv(d / "inf.csv", index=False)
    table.assign(x1=np.nan, x2=np.nan, x3=np.nan, c=np.nan, txt=np.nan).to_csv(
        d / "allnan.csv", index=False)
    (d / "dupcols.csv").write_text(
        "x1,x1,y\n" + "".join(f"{i},{i * 2},{'ab'[i % 2]}\n" for i in range(40)))
    (d / "ragged.csv").write_text("x1,x2,y\n1,2,a\n3,4,b,9,9\n5\n")
    (d / "empty.csv").write_text("")
    (d / "blank.csv").write_text("\n\n\n")
    (d / "binary.csv").write_bytes(bytes(range(256)) * 40)
    (d / "latin1.csv").write_bytes(
        ("x1,y\n" + "".join(f"{i},caf\xe9{i % 2}\n" for i in range(40))).encode("latin-1"))
    (d / "utf16.csv").write_text(table.to_csv(index=False), encoding="utf-16")
    (d / "bad.parquet").write_bytes(b"PAR1 this is not a parquet file PAR1")
    (d / "bad.jsonl").write_text('{"x1": 1, "y": "a"}\n{not json\n')
    (d / "t.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    (d / "unquoted.csv").write_text('x1,y\n1,"a\n2,b\n')
    np.save(d / "emb.npy", rng.normal(size=(n, 8)).astype(np.float32))
    np.save(d / "emb_short.npy", rng.normal(size=(n - 5, 8)))
    np.save(d / "emb_1d.npy", rng.normal(size=n))
    np.save(d / "emb_nan.npy", np.full((n, 8), np.nan))
    np.save(d / "emb_str.npy", np.array([["a"] * 8] * n))
    np.save(d / "emb_obj.npy", np.array([{"a": 1}] * n, dtype=object), allow_pickle=True)
    (d / "notnpy.npy").write_text("not an array")
    (d / "empty.npy").write_bytes(b"")
    p = rng.dirichlet(np.ones(3), size=n)
    np.save(d / "probs.npy", p)
    np.save(d / "probs_k2.npy", p[:, :2] / p[:, :2].sum(1, keepdims=True))
    np.save(d / "probs_neg.npy", p - 0.5)
    np.save(d / "probs_rows.npy", p[:10])
    np.save(d / "probs_nan.npy", np.full_like(p, np.nan))
    ann = pd.DataFrame({
        "item": np.repeat([f"r{i}" for i in range(30)], 3),
        "annotator": np.tile(["ann1", "ann2", "ann3"], 30),
        "label": rng.choice(["a", "b", "c"], 90),
        "round": np.repeat(["v1", "v2"], 45),
        "score": rng.integers(1, 6, 90),
    })
    ann.to_csv(d / "ann.csv", index=False)
    ann.assign(annotator="solo").drop_duplicates("item").to_csv(d / "ann_one.csv", index=False)
    ann.assign(label=np.nan).to_csv(d / "ann_nan.csv", index=False)
    ann.iloc[:0].to_csv(d / "ann_empty.csv", index=False)
    ann.assign(score="high").to_csv(d / "ann_text.csv", index=False)
    img = d / "imgs"
    for cls in ("cat", "dog"):
        (img / cls).mkdir(parents=True, exist_ok=True)
    try:
        from PIL import Image

        for i in range(8):
            arr = rng.integers(0, 255, size=(8, 8), dtype=np.uint8)
            Image.fromarray(arr).save(img / ("cat" if i % 2 else "dog") / f"{i}.png")
    except ImportError:  # pragma: no cover - PIL is a dependency of the images extra
        pass
    (img / "cat" / "broken.png").write_bytes(b"\x89PNG not an image")
    (d / "emptydir").mkdir(exist_ok=True)
    vals = pd.DataFrame({"row": [f"r{i}" for i in range(n)], "value": rng.normal(size=n)})
    vals.to_csv(d / "values.csv", index=False)
    vals.rename(columns={"value": "worth"}).to_csv(d / "values_bad.csv", index=False)
    # target priors for `assay train --target-prior` (the classes are a, b, c)
    (d / "prior_missing.csv").write_text("class,share\na,0.5\nb,0.5\n")
    (d / "prior_negative.csv").write_text("class,share\na,0.6\nb,0.5\nc,-0.1\n")
    (d / "prior_sum.csv").write_text("class,share\na,0.5\nb,0.3\nc,0.1\n")
    (d / "prior_wide.csv").write_text("class,share,note\na,0.5,x\nb,0.3,y\nc,0.2,z\n")
    (d / "prior_unknown.json").write_text('{"a": 0.5, "b": 0.3, "c": 0.1, "d": 0.1}')
    (d / "prior_list.json").write_text("[0.2, 0.3, 0.5]")
    (d / "prior_bad.json").write_text('{"a": 0.5, ')
    return d


def input_hashes(d: Path) -> dict[str, str]:
    """Content hash of every input file, and of the damaged workspace (never to be written)."""
    out = {}
    files = [p for p in sorted(d.rglob("*")) if ".assay" not in p.relative_to(d).parts]
    files += sorted((d.parent / "corrupt_ws").glob("*"))
    for p in files:
        if p.is_file():
            key = str(p.relative_to(d.parent))
            out[key] = hashlib.blake2b(p.read_bytes(), digest_size=16).hexdigest()
    return out


# ------------------------------------------------------------------------------------------ cases


def cases(d: Path, root: Path) -> list[Case]:
    """The corpus; ``d`` holds the inputs, ``root`` the workspaces made by :func:`prepare`."""
    t, o, ns = str(d / "t.csv"), str(root / "out"), str(d / "nosplit.csv")
    ws, bad_ws, empty_ws = str(root / "ws"), str(root / "corrupt_ws"), str(root / "empty_ws")
    a = ("audit",)
    au = (*a, t, "--label", "y", "--no-workspace", "--out")
    tr = ("train", str(d / "emb.npy"), "--label", "y", "--labels", t, "--epochs", "1", "--out",
          o + "/train-bad")
    c = [
        # audit: the data file itself
        Case("audit missing file", (*a, str(d / "nope.csv"), "--label", "y")),
        Case("audit directory w/o images", (*a, str(d / "emptydir"), "--label", "y")),
        Case("audit empty file", (*a, str(d / "empty.csv"), "--label", "y")),
        Case("audit blank lines", (*a, str(d / "blank.csv"), "--label", "y")),
        Case("audit binary csv", (*a, str(d / "binary.csv"), "--label", "y")),
        Case("audit header only", (*a, str(d / "header.csv"), "--label", "y")),
        Case("audit one row", (*a, str(d / "onerow.csv"), "--label", "y")),
        Case("audit four rows", (*a, str(d / "fourrows.csv"), "--label", "y", "--out", o + "/4"),
             None),
        Case("audit unknown extension", (*a, str(d / "t.xlsx"), "--label", "y")),
        Case("audit corrupt parquet", (*a, str(d / "bad.parquet"), "--label", "y")),
        Case("audit corrupt jsonl", (*a, str(d / "bad.jsonl"), "--label", "y")),
        Case("audit ragged csv", (*a, str(d / "ragged.csv"), "--label", "y")),
        Case("audit unterminated quote", (*a, str(d / "unquoted.csv"), "--label", "y")),
        Case("audit utf-16 csv", (*a, str(d / "utf16.csv"), "--label", "y", "--out", o + "/u16"),
             None),
        Case("audit latin-1 csv", (*a, str(d / "latin1.csv"), "--label", "y", "--no-workspace",
                                   "--out", o + "/l1"), None),
        Case("audit semicolon csv", (*a, str(d / "semi.csv"), "--label", "y")),
        Case("audit duplicate column names", (*a, str(d / "dupcols.csv"), "--label", "y")),
        Case("audit label is the only column", (*a, str(d / "labelonly.csv"), "--label", "y")),
        Case("audit all features missing", (*a, str(d / "allnan.csv"), "--label", "y"), None),
        Case("audit infinite values", (*a, str(d / "inf.csv"), "--label", "y", "--no-workspace",
                                       "--out", o + "/inf"), None),
        # audit: the label
        Case("audit label typo", (*a, t, "--label", "Y")),
        Case("audit label empty string", (*a, t, "--label", "")),
        Case("audit one class", (*a, str(d / "oneclass.csv"), "--label", "y")),
        Case("audit no labels", (*a, str(d / "nolabels.csv"), "--label", "y")),
        Case("audit some labels missing", (*a, str(d / "somena.csv"), "--label", "y",
                                           "--no-workspace", "--out", o + "/na"), None),
        Case("audit singleton class", (*a, str(d / "singleton.csv"), "--label", "y",
                                       "--no-workspace", "--out", o + "/single"), None),
        # audit: roles
        Case("audit text column typo", (*a, t, "--label", "y", "--text", "txtt")),
        Case("audit text column is label", (*a, t, "--label", "y", "--text", "y")),
        Case("audit image column typo", (*a, t, "--label", "y", "--image", "img")),
        Case("audit image column not paths", (*a, t, "--label", "y", "--image", "txt")),
        Case("audit features typo", (*a, t, "--label", "y", "--features", "x1,x9")),
        Case("audit features empty", (*a, t, "--label", "y", "--features", ",")),
        Case("audit features include label", (*a, t, "--label", "y", "--features", "x1,y")),
        Case("audit split column typo", (*a, t, "--label", "y", "--split", "splt")),
        Case("audit group column typo", (*a, t, "--label", "y", "--group", "group")),
        Case("audit id column typo", (*a, t, "--label", "y", "--id", "ID")),
        Case("audit id not unique", (*a, str(d / "dupid.csv"), "--label", "y", "--id", "id")),
        Case("audit meta typo", (*a, t, "--label", "y", "--meta", "cc")),
        Case("audit checks typo", (*a, t, "--label", "y", "--checks", "label_isues")),
        Case("audit checks empty", (*a, t, "--label", "y", "--checks", "")),
        Case("audit model typo", (*a, t, "--label", "y", "--model", "xgboost")),
        Case("audit text-model typo", (*a, t, "--label", "y", "--text", "txt", "--text-model",
                                       "bert")),
        Case("audit k zero", (*a, t, "--label", "y", "--k", "0")),
        Case("audit k negative", (*a, t, "--label", "y", "--k", "-3")),
        Case("audit k too large", (*a, t, "--label", "y", "--k", "100000"), None),
        Case("audit seed negative", (*a, t, "--label", "y", "--seed", "-1")),
        # audit: arrays
        Case("audit embeddings missing", (*a, t, "--label", "y", "--embeddings",
                                          str(d / "nope.npy"))),
        Case("audit embeddings wrong rows", (*a, t, "--label", "y", "--embeddings",
                                             str(d / "emb_short.npy"))),
        Case("audit embeddings 1-d", (*a, t, "--label", "y", "--embeddings",
                                      str(d / "emb_1d.npy"))),
        Case("audit embeddings all NaN", (*a, t, "--label", "y", "--embeddings",
                                          str(d / "emb_nan.npy"))),
        Case("audit embeddings strings", (*a, t, "--label", "y", "--embeddings",
                                          str(d / "emb_str.npy"))),
        Case("audit embeddings pickled objects", (*a, t, "--label", "y", "--embeddings",
                                                  str(d / "emb_obj.npy"))),
        Case("audit embeddings not npy", (*a, t, "--label", "y", "--embeddings",
                                          str(d / "notnpy.npy"))),
        Case("audit embeddings is a csv", (*a, t, "--label", "y", "--embeddings", t)),
        Case("audit pred-probs wrong K", (*a, t, "--label", "y", "--pred-probs",
                                          str(d / "probs_k2.npy"))),
        Case("audit pred-probs negative", (*a, t, "--label", "y", "--pred-probs",
                                           str(d / "probs_neg.npy"))),
        Case("audit pred-probs wrong rows", (*a, t, "--label", "y", "--pred-probs",
                                             str(d / "probs_rows.npy"))),
        Case("audit pred-probs NaN", (*a, t, "--label", "y", "--pred-probs",
                                      str(d / "probs_nan.npy"))),
        Case("audit pred-probs missing", (*a, t, "--label", "y", "--pred-probs",
                                          str(d / "nope.npy"))),
        Case("audit pred-probs empty file", (*a, t, "--label", "y", "--pred-probs",
                                             str(d / "empty.npy"))),
        Case("audit embeddings empty file", (*a, t, "--label", "y", "--embeddings",
                                             str(d / "empty.npy"))),
        Case("audit no-workspace and workspace", (*a, t, "--label", "y", "--no-workspace",
                                                  "-w", ws)),
        # audit: annotations and values
        Case("audit annotations missing", (*a, t, "--label", "y", "--annotations",
                                           str(d / "nope.csv"))),
        Case("audit annotation columns typo", (*a, t, "--label", "y", "--annotations",
                                               str(d / "ann.csv"), "--annotation-columns",
                                               "item,rater,label")),
        Case("audit annotation columns count", (*a, t, "--label", "y", "--annotations",
                                                str(d / "ann.csv"), "--annotation-columns",
                                                "item,label")),
        Case("audit annotations empty", (*a, t, "--label", "y", "--annotations",
                                         str(d / "ann_empty.csv"))),
        Case("audit values missing", (*a, t, "--label", "y", "--values", str(d / "nope.csv"))),
        Case("audit values wrong columns", (*a, t, "--label", "y", "--values",
                                            str(d / "values_bad.csv"))),
        # audit: options and outputs
        Case("audit fail-on garbage", (*a, t, "--label", "y", "--fail-on", "label>>x")),
        Case("audit fail-on unknown check", (*a, t, "--label", "y", "--fail-on", "lable>0.1")),
        Case("audit fail-on rate above 1", (*a, t, "--label", "y", "--fail-on", "label>5"), None),
        Case("audit out is a file", (*a, t, "--label", "y", "--out", t)),
        Case("audit out is an input folder", (*a, t, "--label", "y", "--out", str(d)), None),
        Case("audit out under /proc", (*au, "/proc/assay-out")),
        Case("audit workspace is a file", (*a, t, "--label", "y", "--workspace", t)),
        Case("audit corrupt workspace", (*a, t, "--label", "y", "--workspace", bad_ws,
                                         "--out", o + "/cw")),
        Case("audit image folder broken image", (*a, str(d / "imgs"), "--label", "label",
                                                 "--no-workspace", "--out", o + "/img"), None),
        Case("audit image folder label typo", (*a, str(d / "imgs"), "--label", "y")),
        # split
        Case("split overwrite input", ("split", ns, "--label", "y", "-o", ns)),
        Case("split overwrite input (a split column)", ("split", t, "--label", "y", "-o", t)),
        Case("split overwrite input other spelling", ("split", ns, "--label", "y", "-o",
                                                      str(d / "." / "nosplit.csv"))),
        Case("split label typo", ("split", ns, "--label", "yy", "-o", o + "/s.csv")),
        Case("split fractions garbage", ("split", ns, "--label", "y", "-o", o + "/s.csv",
                                         "--fractions", "a,b")),
        Case("split fractions sum", ("split", ns, "--label", "y", "-o", o + "/s.csv",
                                     "--fractions", "0.8,0.8")),
        Case("split fractions negative", ("split", ns, "--label", "y", "-o", o + "/s.csv",
                                          "--fractions", "1.2,-0.2")),
        Case("split names count", ("split", ns, "--label", "y", "-o", o + "/s.csv", "--names",
                                   "a,b")),
        Case("split names repeated", ("split", ns, "--label", "y", "-o", o + "/s.csv",
                                      "--names", "a,a,b")),
        Case("split group typo", ("split", ns, "--label", "y", "-o", o + "/s.csv", "--group",
                                  "g")),
        Case("split unknown output format", ("split", ns, "--label", "y", "-o", o + "/s.xyz")),
        Case("split output dir missing parent ok", ("split", ns, "--label", "y", "-o",
                                                    o + "/deep/er/s.csv"), 0),
        Case("split column exists", ("split", ns, "--label", "y", "-o", o + "/s2.csv",
                                     "--column", "x1")),
        Case("split min-per-class negative", ("split", ns, "--label", "y", "-o", o + "/s3.csv",
                                              "--min-per-class", "-1")),
        Case("split strict impossible", ("split", str(d / "singleton.csv"), "--label", "y",
                                         "--column", "fold", "-o", o + "/s4.csv", "--strict", "--min-per-class",
                                         "5")),
        Case("split empty table", ("split", str(d / "header.csv"), "--label", "y", "-o",
                                   o + "/s5.csv")),
        Case("split text typo", ("split", ns, "--label", "y", "-o", o + "/s6.csv", "--text",
                                 "t")),
        # agree
        Case("agree missing file", ("agree", str(d / "nope.csv"), "--item", "item",
                                    "--annotator", "annotator", "--label", "label")),
        Case("agree item typo", ("agree", str(d / "ann.csv"), "--item", "items", "--annotator",
                                 "annotator", "--label", "label")),
        Case("agree one annotator", ("agree", str(d / "ann_one.csv"), "--item", "item",
                                     "--annotator", "annotator", "--label", "label")),
        Case("agree all labels missing", ("agree", str(d / "ann_nan.csv"), "--item", "item",
                                          "--annotator", "annotator", "--label", "label")),
        Case("agree empty", ("agree", str(d / "ann_empty.csv"), "--item", "item",
                             "--annotator", "annotator", "--label", "label")),
        Case("agree level typo", ("agree", str(d / "ann.csv"), "--item", "item", "--annotator",
                                  "annotator", "--label", "label", "--level", "ordnal")),
        Case("agree interval text labels", ("agree", str(d / "ann_text.csv"), "--item", "item",
                                            "--annotator", "annotator", "--label", "score",
                                            "--level", "interval")),
        Case("agree ordinal without categories", ("agree", str(d / "ann.csv"), "--item",
                                                  "item", "--annotator", "annotator",
                                                  "--label", "label", "--level", "ordinal"),
             None),
        Case("agree categories missing a label", ("agree", str(d / "ann.csv"), "--item", "item",
                                                  "--annotator", "annotator", "--label",
                                                  "label", "--level", "ordinal",
                                                  "--categories", "a,b")),
        Case("agree consensus typo", ("agree", str(d / "ann.csv"), "--item", "item",
                                      "--annotator", "annotator", "--label", "label",
                                      "--consensus", "dawid")),
        Case("agree n-boot negative", ("agree", str(d / "ann.csv"), "--item", "item",
                                       "--annotator", "annotator", "--label", "label",
                                       "--n-boot", "-5")),
        Case("agree round typo", ("agree", str(d / "ann.csv"), "--item", "item", "--annotator",
                                  "annotator", "--label", "label", "--round", "rnd")),
        Case("agree top zero", ("agree", str(d / "ann.csv"), "--item", "item", "--annotator",
                                "annotator", "--label", "label", "--top", "0", "--n-boot", "0",
                                "--out", o + "/agree"), None),
        Case("agree out is a file", ("agree", str(d / "ann.csv"), "--item", "item",
                                     "--annotator", "annotator", "--label", "label", "--out",
                                     t)),
        # value
        Case("value label typo", ("value", t, "--label", "z")),
        Case("value method typo", ("value", t, "--label", "y", "--method", "shapley")),
        Case("value k zero", ("value", t, "--label", "y", "--k", "0")),
        Case("value n-estimators zero", ("value", t, "--label", "y", "--method", "data-oob",
                                         "--n-estimators", "0")),
        Case("value max-samples zero", ("value", t, "--label", "y", "--method", "tmc-shapley",
                                        "--max-samples", "0")),
        Case("value max-time negative", ("value", t, "--label", "y", "--method", "banzhaf",
                                         "--max-time", "-1")),
        Case("value group typo", ("value", t, "--label", "y", "--group", "grop")),
        Case("value task typo", ("value", t, "--label", "y", "--task", "c,zz")),
        Case("value embeddings wrong rows", ("value", t, "--label", "y", "--embeddings",
                                             str(d / "emb_short.npy"))),
        Case("value one class", ("value", str(d / "oneclass.csv"), "--label", "y")),
        Case("value one row", ("value", str(d / "onerow.csv"), "--label", "y")),
        Case("value out is a file", ("value", t, "--label", "y", "--out", t)),
        Case("value id not unique", ("value", str(d / "dupid.csv"), "--label", "y", "--id",
                                     "id")),
        # curve
        Case("curve four rows", ("curve", str(d / "fourrows.csv"), "--label", "y")),
        Case("curve one class", ("curve", str(d / "oneclass.csv"), "--label", "y")),
        Case("curve metric typo", ("curve", t, "--label", "y", "--metric", "acc")),
        Case("curve target above 1", ("curve", t, "--label", "y", "--target", "3")),
        Case("curve sizes garbage", ("curve", t, "--label", "y", "--sizes", "x,y")),
        Case("curve sizes too large", ("curve", t, "--label", "y", "--sizes", "5000")),
        Case("curve seeds zero", ("curve", t, "--label", "y", "--seeds", "0")),
        Case("curve budget negative", ("curve", t, "--label", "y", "--budget", "-4")),
        Case("curve objective typo", ("curve", t, "--label", "y", "--budget", "10",
                                      "--objective", "worst")),
        Case("curve plot format typo", ("curve", t, "--label", "y", "--plot-format", "gif")),
        Case("curve features typo", ("curve", t, "--label", "y", "--features", "x1,q")),
        Case("curve out is a file", ("curve", t, "--label", "y", "--out", t)),
        # sanity
        Case("sanity missing file", ("sanity", str(d / "nope.csv"), "--label", "y")),
        Case("sanity label typo", ("sanity", t, "--label", "Y")),
        Case("sanity one class", ("sanity", str(d / "oneclass.csv"), "--label", "y")),
        Case("sanity four rows", ("sanity", str(d / "fourrows.csv"), "--label", "y", "--out",
                                   o + "/sanity4"), None),
        Case("sanity metric typo", ("sanity", t, "--label", "y", "--metric", "acc")),
        Case("sanity model typo", ("sanity", t, "--label", "y", "--model", "hbg")),
        Case("sanity target above 1", ("sanity", t, "--label", "y", "--target", "3")),
        Case("sanity annotations without columns", ("sanity", t, "--label", "y",
                                                    "--annotations", t)),
        Case("sanity annotation column typo", ("sanity", t, "--label", "y", "--annotations", t,
                                               "--item", "idd", "--annotator", "grp",
                                               "--annotation-label", "y")),
        Case("sanity out is a file", ("sanity", t, "--label", "y", "--out", t)),
        Case("sanity no-workspace without out", ("sanity", t, "--label", "y",
                                                 "--no-workspace")),
        # pipeline
        Case("pipeline missing file", ("pipeline", str(d / "nope.csv"), "--stage1", "c",
                                       "--label", "y")),
        Case("pipeline stage1 typo", ("pipeline", t, "--stage1", "cc", "--label", "y")),
        Case("pipeline stage1 is the label", ("pipeline", t, "--stage1", "y", "--label", "y")),
        Case("pipeline metric typo", ("pipeline", t, "--stage1", "c", "--label", "y",
                                      "--metric", "auc")),
        Case("pipeline model typo", ("pipeline", t, "--stage1", "c", "--label", "y",
                                     "--model", "knn")),
        Case("pipeline test size too big", ("pipeline", t, "--stage1", "c", "--label", "y",
                                            "--test-size", "0.9")),
        Case("pipeline out is a file", ("pipeline", t, "--stage1", "c", "--label", "y",
                                        "--out", t)),
        Case("pipeline four rows", ("pipeline", str(d / "fourrows.csv"), "--stage1", "c",
                                    "--label", "y", "--out", o + "/pipe4"), None),
        # train
        Case("train table without vectors", ("train", t, "--label", "y", "--epochs", "2",
                                             "--out", o + "/train"), None),
        Case("train npy without labels", ("train", str(d / "emb.npy"), "--label", "y")),
        Case("train labels wrong rows", ("train", str(d / "emb_short.npy"), "--label", "y",
                                         "--labels", t)),
        Case("train recipe typo", ("train", str(d / "emb.npy"), "--label", "y", "--labels", t,
                                   "--recipe", "ldam")),
        Case("train posthoc-tau garbage", ("train", str(d / "emb.npy"), "--label", "y",
                                           "--labels", t, "--posthoc-tau", "lots")),
        Case("train classifier typo", ("train", str(d / "emb.npy"), "--label", "y", "--labels",
                                       t, "--classifier", "cosin")),
        Case("train lr negative", ("train", str(d / "emb.npy"), "--label", "y", "--labels", t,
                                   "--lr", "-1")),
        Case("train split typo", ("train", str(d / "emb.npy"), "--label", "y", "--labels", t,
                                  "--split", "splt")),
        Case("train embedding column typo", ("train", str(d / "t.parquet"), "--label", "y",
                                             "--embedding", "vec")),
        Case("train label typo", ("train", str(d / "emb.npy"), "--label", "z", "--labels", t)),
        Case("train missing file", ("train", str(d / "nope.npy"), "--label", "y")),
        Case("train empty npy", ("train", str(d / "empty.npy"), "--label", "y", "--labels", t)),
        Case("value missing file", ("value", str(root / "nodir" / "x.csv"), "--label", "y")),
        Case("train out is a file", ("train", str(d / "emb.npy"), "--label", "y", "--labels", t,
                                     "--out", t, "--epochs", "1")),
        Case("train sampler typo", (*tr, "--sampler", "class_balanced")),
        Case("train tau-norm garbage", (*tr, "--tau-norm", "lots")),
        Case("train tau-norm negative", (*tr, "--tau-norm", "-0.5")),
        Case("train tau-norm cosine classifier", (*tr, "--tau-norm", "1", "--classifier",
                                                  "cosine")),
        Case("train tau-norm auto without valid rows", (*tr, "--split", "split", "--tau-norm",
                                                        "auto")),
        Case("train target-prior typo", (*tr, "--target-prior", "unifrom")),
        Case("train target-prior missing file", (*tr, "--target-prior", str(d / "nope.csv"))),
        Case("train target-prior is a folder", (*tr, "--target-prior", str(d / "emptydir"))),
        Case("train prior missing class", (*tr, "--prior", str(d / "prior_missing.csv"))),
        Case("train prior negative share", (*tr, "--prior", str(d / "prior_negative.csv"))),
        Case("train prior sum not 1", (*tr, "--prior", str(d / "prior_sum.csv"))),
        Case("train prior three columns", (*tr, "--prior", str(d / "prior_wide.csv"))),
        Case("train prior unknown class", (*tr, "--prior", str(d / "prior_unknown.json"))),
        Case("train prior json list", (*tr, "--prior", str(d / "prior_list.json"))),
        Case("train prior invalid json", (*tr, "--prior", str(d / "prior_bad.json"))),
        # runs / show
        Case("runs missing workspace", ("runs", "-w", str(root / "nowhere"))),
        Case("runs corrupt workspace", ("runs", "-w", bad_ws)),
        Case("runs workspace is a file", ("runs", "-w", t)),
        Case("runs command typo", ("runs", "-w", ws, "--command", "audti")),
        Case("runs compare missing records", ("runs", "--compare", "--records",
                                              str(root / "nowhere"))),
        Case("runs html onto the data", ("runs", "-w", ws, "--html", t)),
        Case("runs html onto the store", ("runs", "-w", ws, "--html", ws + "/assay.duckdb")),
        Case("runs html inside the run folders", ("runs", "-w", ws, "--html",
                                                  ws + "/runs/history.html")),
        Case("runs html under a file", ("runs", "-w", ws, "--html", t + "/runs.html")),
        Case("runs html with compare", ("runs", "--compare", "-w", ws, "--html",
                                        o + "/history.html")),
        Case("runs html into a new folder", ("runs", "-w", ws, "--html", o + "/history/"), 0),
        Case("show unknown run", ("show", "zzzz", "-w", ws)),
        Case("show corrupt workspace", ("show", "latest", "-w", bad_ws)),
        Case("show empty workspace", ("show", "latest", "-w", empty_ws)),
        # diff
        Case("diff unknown run", ("diff", "zzzz", "-w", ws)),
        Case("diff corrupt workspace", ("diff", "latest", "latest", "-w", bad_ws)),
        Case("diff one run only", ("diff", "latest", "-w", empty_ws)),
        Case("diff html onto the data", ("diff", "latest", "latest", "-w", ws, "--html", t)),
        Case("diff html onto the store", ("diff", "latest", "latest", "-w", ws, "--html",
                                          ws + "/assay.duckdb")),
        Case("diff html under a file", ("diff", "latest", "latest", "-w", ws, "--html",
                                        t + "/diff.html")),
        Case("diff html unknown run", ("diff", "zzzz", "-w", ws, "--html", o + "/d.html")),
        Case("diff html into a new folder", ("diff", "latest", "latest", "-w", ws, "--html",
                                             o + "/diff/"), 0),
        # report
        Case("report unknown run", ("report", "zzzz", "-w", ws)),
        Case("report missing folder", ("report", str(root / "nowhere"))),
        Case("report corrupt workspace", ("report", "latest", "-w", bad_ws)),
        Case("report out is a folder", ("report", "latest", "-w", ws, "-o", str(d)), None),
        Case("report out overwrites input", ("report", "latest", "-w", ws, "-o", t)),
        Case("report audit.json corrupt", ("report", str(root / "badjson" / "audit.json"))),
        Case("report max-rows negative", ("report", "latest", "-w", ws, "--max-rows", "-1")),
        Case("report data wrong file", ("report", "latest", "-w", ws, "--data",
                                        str(d / "ann.csv"), "-o", o + "/r.html")),
        # export
        Case("export corrupt workspace", ("export", "-o", o + "/e1", "-w", bad_ws)),
        Case("export empty workspace", ("export", "-o", o + "/e2", "-w", empty_ws)),
        Case("export unknown run", ("export", "-o", o + "/e3", "-w", ws, "--run", "zzzz")),
        Case("export policy typo", ("export", "-o", o + "/e4", "-w", ws, "--policy", "last")),
        Case("export out is the input folder", ("export", "-o", str(d), "-w", ws)),
        Case("export out is a file", ("export", "-o", t, "-w", ws)),
        Case("export out under /proc", ("export", "-o", "/proc/assay-export", "-w", ws)),
        Case("export source missing", ("export", "-o", o + "/e5", "-w", ws, "--source",
                                       str(d / "nope.csv"))),
        Case("export source changed", ("export", "-o", o + "/e6", "-w", ws, "--source",
                                       str(d / "semi.csv"))),
        Case("export unknown reviewer", ("export", "-o", o + "/e7", "-w", ws, "--reviewer",
                                         "nobody"), None),
        # review (never reaches a running server: every case is refused first)
        Case("review corrupt workspace", ("review", "-w", bad_ws, "--no-browser")),
        Case("review empty workspace", ("review", "-w", empty_ws, "--no-browser")),
        Case("review unknown run", ("review", "-w", ws, "--run", "zzzz", "--no-browser")),
        Case("review port busy", ("review", "-w", ws, "--port", "{busy_port}", "--no-browser")),
        Case("review port out of range", ("review", "-w", ws, "--port", "70000",
                                          "--no-browser")),
        Case("review host does not resolve", ("review", "-w", ws, "--host",
                                              "no-such-host.invalid", "--no-browser")),
        Case("review quota zero", ("review", "-w", ws, "--quota", "0", "--no-browser")),
        # curate
        Case("curate corrupt workspace", ("curate", "-w", bad_ws, "--sizes", "60,20,5")),
        Case("curate empty workspace", ("curate", "-w", empty_ws, "--sizes", "60,20,5")),
        Case("curate unknown run", ("curate", "-w", ws, "--run", "zzzz", "--sizes", "60,20,5")),
        Case("curate sizes growing", ("curate", "-w", ws, "--sizes", "20,60,5")),
        Case("curate sizes larger than the data", ("curate", "-w", ws, "--sizes", "900,20,5")),
        Case("curate sizes two values", ("curate", "-w", ws, "--sizes", "60,20")),
        Case("curate sizes not numbers", ("curate", "-w", ws, "--sizes", "many,some,few")),
        Case("curate sizes zero", ("curate", "-w", ws, "--sizes", "60,20,0")),
        Case("curate sizes missing", ("curate", "-w", ws)),
        # demo
        Case("demo noise above 1", ("demo", "--noise", "1.5")),
        Case("demo out is a file", ("demo", "--out", t)),
    ]
    return c


def prepare(d: Path, root: Path) -> None:
    """A workspace with one audit, an empty one, a corrupt one, and a corrupt audit.json."""
    from assay.cli.main import main

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        rc = main(["audit", str(d / "t.csv"), "--label", "y", "--id", "id", "-w",
                   str(root / "ws"), "--out", str(root / "ws-out"), "--checks",
                   "label_issues,duplicates"])
    if rc not in (0, 1):
        raise RuntimeError(f"the fixture audit failed with exit code {rc}")
    (root / "empty_ws").mkdir(exist_ok=True)
    bad = root / "corrupt_ws"
    bad.mkdir(exist_ok=True)
    for p in (root / "ws").iterdir():
        if p.is_file():
            data = p.read_bytes()
            (bad / p.name).write_bytes(data[: len(data) // 3] if p.suffix == ".duckdb" else data)
    (root / "badjson").mkdir(exist_ok=True)
    (root / "badjson" / "audit.json").write_text('{"summary": {"n_rows": ')


# ----------------------------------------------------------------------------------------- runner


class _Hang(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Hang


def run_case(case: Case, cwd: Path, busy_port: int) -> dict[str, Any]:
    """Run one case through ``main``; classify what a user would see."""
    from assay.cli.main import main

    argv = [a.replace("{busy_port}", str(busy_port)) for a in case.argv]
    out, err = io.StringIO(), io.StringIO()
    escaped = hang = None
    rc: int | None = None
    start = time.perf_counter()
    old = os.getcwd()
    os.chdir(cwd)
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(CASE_SECONDS)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(argv)
    except _Hang:
        hang = True
    except BaseException:  # noqa: BLE001 - anything escaping main is a traceback for a user
        escaped = traceback.format_exc()
    finally:
        signal.alarm(0)
        os.chdir(old)
    text = out.getvalue() + err.getvalue()
    err_lines = [line for line in err.getvalue().strip().splitlines() if line.strip()]
    problems = []
    if escaped:
        problems.append("traceback: " + escaped.strip().splitlines()[-1])
    elif "Traceback (most recent call last)" in text:
        problems.append("traceback printed")
    if hang:
        problems.append(f"hang (> {CASE_SECONDS} s)")
    if rc is not None and case.expect is not None and rc != case.expect:
        problems.append(f"exit {rc}, expected {case.expect}")
    if rc == 2:
        errors = [line for line in err_lines if line.startswith("error:")]
        if len(errors) != 1:
            problems.append(f"{len(errors)} 'error:' lines on stderr")
    return {"name": case.name, "argv": argv, "rc": rc, "problems": problems,
            "stderr": err.getvalue()[-2000:], "seconds": round(time.perf_counter() - start, 2)}


def run_all(root: Path) -> list[dict[str, Any]]:
    """Build the fixtures under ``root``, run every case, return one record per case."""
    import warnings

    warnings.simplefilter("ignore")
    d = build_fixtures(root)
    prepare(d, root)
    before = input_hashes(d)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    results = []
    try:
        for i, case in enumerate(cases(d, root)):
            cwd = root / "cwd" / str(i)
            cwd.mkdir(parents=True, exist_ok=True)
            res = run_case(case, cwd, port)
            after = input_hashes(d)
            changed = sorted(k for k in before if after.get(k) != before[k])
            if changed:
                res["problems"].append(f"changed inputs: {changed}")
                build_fixtures(root)  # restore, so one bad case does not fail the next ones
                before = input_hashes(d)
            results.append(res)
    finally:
        busy.close()
    return results


def main_(argv: list[str]) -> int:
    root = Path(argv[0])
    results = run_all(root)
    bad = [r for r in results if r["problems"]]
    for r in bad:
        print(f"FAIL {r['name']}: {'; '.join(r['problems'])}\n    "  # noqa: T201
              f"{' '.join(r['argv'])}\n    {r['stderr'].strip()[-300:]}")
    print(f"{len(results)} cases, {len(bad)} failing, "  # noqa: T201
          f"{sum(r['seconds'] for r in results):.0f} s")
    if len(argv) > 1:
        Path(argv[1]).write_text(json.dumps(results, indent=1))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main_(sys.argv[1:]))
