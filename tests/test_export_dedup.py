"""``export_version(dedup=True)`` / ``assay export --dedup``: a real audit's duplicates are
dropped only as copies of a row that stays, the best-scored first; review decisions take
precedence; the embeddings are cut block by block."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import assay
from assay.cli.main import main
from assay.curate import audit_scores, keep_one_per_copy, quality_rank, set_representatives
from assay.duplicates import find_duplicates
from assay.export import ExportError, _write_kept_rows, export_version
from assay.pipelines import record_audit
from assay.workspace import Workspace


def _data(tmp_path):
    """240 rows in four classes; three exact-copy sets (sizes 2, 3, 2) and one near pair."""
    rng = np.random.default_rng(3)
    y = np.repeat(np.arange(4), 60)
    x = rng.normal(size=(240, 5)) + 3.0 * np.eye(4, 5)[y]
    x[[11, 12]] = x[10]               # a set of 3
    x[70] = x[71]                     # a set of 2
    x[150] = x[149]                   # a set of 2
    x[200] = x[201] + 1e-4            # a near copy
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(5)])
    frame.insert(0, "uid", [f"u{i}" for i in range(240)])
    frame["label"] = np.array(["a", "b", "c", "d"])[y]
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    return path, frame


def _audit(tmp_path, checks=("label_issues", "duplicates", "outliers")):
    path, frame = _data(tmp_path)
    ds = assay.load(path, label="label", id="uid")
    ws_path = tmp_path / "ws"
    result, run_id = record_audit(ds, ws_path, {"data": str(path)}, checks=list(checks),
                                  random_state=0)
    return Workspace.open(ws_path), run_id, result, frame


def _greedy(copy_of, exact, score, eligible=None):
    """Reference: plain Python over explicit neighbour sets. Identical rows (exact, linked)
    are one node; visit nodes best first; a node stays unless a linked node stays."""
    n = len(copy_of)
    eligible = [True] * n if eligible is None else list(eligible)
    parent = list(range(n))

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(n):
        j = copy_of[i]
        if j >= 0 and exact[i] and exact[j]:
            parent[max(root(i), root(j))] = min(root(i), root(j))
    groups = {}
    for i in range(n):
        if copy_of[i] >= 0 or i in copy_of:
            groups.setdefault(root(i), []).append(i)
    nbrs = {g: set() for g in groups}
    for i in range(n):
        j = copy_of[i]
        if j >= 0 and root(i) != root(j):
            nbrs[root(i)].add(root(j))
            nbrs[root(j)].add(root(i))
    best = {g: max((i for i in m if eligible[i]), key=lambda i: (score[i], -i), default=None)
            for g, m in groups.items()}
    visit = sorted(groups, key=lambda g: (-(score[best[g]] if best[g] is not None
                                            else -np.inf), g))
    kept, drops = {}, {}
    for g in visit:
        stay = [kept[h] for h in nbrs[g] if h in kept]
        if stay:
            for i in groups[g]:
                drops[i] = None
        elif best[g] is not None:
            kept[g] = best[g]
            for i in groups[g]:
                if i != best[g]:
                    drops[i] = None
    return set(drops)


def _expected_drops(result, dropped_by_review=()):
    issues = result.issues
    score = quality_rank(**audit_scores(issues))
    return _greedy(issues["copy_of_row"].tolist(), issues["is_exact_duplicate"].tolist(),
                   score, [i not in dropped_by_review for i in range(len(issues))])


def test_dedup_keeps_the_best_scored_member_of_each_set(tmp_path):
    ws, run_id, result, frame = _audit(tmp_path)
    sets = result.issues["duplicate_set"].to_numpy()
    assert (sets >= 0).sum() >= 9  # the planted sets were found (3 + 2 + 2 + the near pair)
    expected = _expected_drops(result)
    plain = export_version(ws, tmp_path / "v1")
    assert plain.counts["rows_after"] == 240 and plain.counts["dedup_removed"] == 0
    res = export_version(ws, tmp_path / "v2", dedup=True)
    assert res.counts["dedup_removed"] == len(expected) >= 5  # 2 + 1 + 1 + 1 planted copies
    assert res.counts["rows_after"] == 240 - len(expected)
    assert res.counts["duplicates_removed"] == 0 and res.counts["undecided"] == 240 - len(expected)
    left = pd.read_csv(res.data_path)
    assert set(left["uid"]) == set(frame["uid"]) - {f"u{r}" for r in expected}
    # every set keeps a row; each planted set keeps exactly one
    for s in set(sets) - {-1}:
        assert set(left["uid"]) & {f"u{r}" for r in np.flatnonzero(sets == s)}
    for planted in ([10, 11, 12], [70, 71], [149, 150]):
        assert len(set(left["uid"]) & {f"u{r}" for r in planted}) == 1
    log = json.loads((tmp_path / "v2" / "changelog.json").read_text())
    rows = {e["row_id"]: e for e in log["rows"]}
    assert set(rows) == {f"u{r}" for r in expected}
    for e in rows.values():
        assert e["action"] == "duplicate" and e["stage"] == "dedup" and e["new_label"] is None
        assert e["duplicate_of"] in set(left["uid"])
        # a dropped row is identical to, or a direct copy of, the row that stays for it
        i, j = int(e["row_id"][1:]), int(e["duplicate_of"][1:])
        copy = result.issues["copy_of_row"].to_numpy()
        same = np.array_equal(frame.iloc[i, 1:6].to_numpy(float), frame.iloc[j, 1:6].to_numpy(float))
        assert same or copy[i] == j or copy[j] == i
    assert ws.run(ws.runs(command="export")["run_id"].iloc[0])[
        "params"]["dedup"] is True


def test_review_decisions_take_precedence_over_dedup(tmp_path):
    ws, run_id, result, _ = _audit(tmp_path)
    first = _expected_drops(result)
    # the set of three: a reviewer removes the row that would stand for it, and keeps one that
    # dedup would drop
    trio = np.array([10, 11, 12])  # identical rows
    rep = int(next(r for r in trio if r not in first))
    other = [int(r) for r in trio if r != rep]
    with ws.hold():
        ws.append_decision(f"u{rep}", "remove", reviewer="ana", run_id=run_id)
        ws.append_decision(f"u{other[0]}", "keep", reviewer="ana", run_id=run_id)
    res = export_version(ws, tmp_path / "v2", dedup=True)
    expected = _expected_drops(result, dropped_by_review={rep})
    left = set(pd.read_csv(res.data_path)["uid"])
    assert f"u{rep}" not in left and f"u{other[0]}" in left  # the reviewer's decisions hold
    assert res.counts["removed"] == 1 and res.counts["kept"] == 1
    auto = {r for r in expected if r not in (rep, other[0])}
    assert res.counts["dedup_removed"] == len(auto)
    assert left == {f"u{i}" for i in range(240)} - {f"u{r}" for r in auto} - {f"u{rep}"}
    # the identical trio keeps the reviewer's kept row, and only that one
    assert left & {f"u{r}" for r in trio} == {f"u{other[0]}"}


def test_dedup_needs_the_duplicates_check(tmp_path, capsys):
    ws, run_id, _, _ = _audit(tmp_path, checks=("label_issues",))
    with pytest.raises(ExportError, match="ran without the duplicates check"):
        export_version(ws, tmp_path / "v2", dedup=True)
    with pytest.raises(assay.exceptions.InvalidParameterError, match="dedup"):
        export_version(ws, tmp_path / "v2", dedup="yes")
    assert main(["export", "-w", str(ws.path), "-o", str(tmp_path / "v3"), "--dedup"]) == 2
    err = capsys.readouterr().err
    assert "duplicates check" in err and "Traceback" not in err


def test_cli_export_dedup_line(tmp_path, capsys):
    ws, _, result, _ = _audit(tmp_path)
    n_drop = len(_expected_drops(result))
    assert main(["export", "-w", str(ws.path), "-o", str(tmp_path / "v2"), "--dedup"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert f"Exported {240 - n_drop} of 240 rows" in text
    assert f"0 duplicates removed (+{n_drop} by --dedup)" in text


@pytest.mark.parametrize("block_bytes", [1, 40, 1 << 20])
def test_kept_rows_copied_block_by_block(tmp_path, block_bytes):
    x = np.arange(50 * 3, dtype=np.float32).reshape(50, 3)
    np.save(tmp_path / "e.npy", x)
    keep = np.random.default_rng(0).random(50) < 0.6
    _write_kept_rows(tmp_path / "e.npy", tmp_path / "o.npy", keep, block_bytes=block_bytes)
    np.testing.assert_array_equal(np.load(tmp_path / "o.npy"), x[keep])


def test_set_representatives_matches_brute_force():
    rng = np.random.default_rng(1)
    for _ in range(50):
        n = int(rng.integers(1, 30))
        sets = rng.integers(-1, 5, n)
        score = rng.integers(0, 3, n).astype(float)  # ties
        ok = rng.random(n) < 0.7
        rep = set_representatives(sets, score, eligible=ok)
        for s in set(sets.tolist()) - {-1}:
            pool = [i for i in range(n) if sets[i] == s and ok[i]]
            want = max(pool, key=lambda i: (score[i], -i)) if pool else -1
            assert all(rep[i] == want for i in range(n) if sets[i] == s)
        assert (rep[sets < 0] == -1).all()
    assert set_representatives([1, 1, -1]).tolist() == [0, 0, -1]
    with pytest.raises(assay.exceptions.InputValidationError, match="one score"):
        set_representatives([0, 0], [1.0])


def test_keep_one_per_copy_matches_brute_force():
    rng = np.random.default_rng(2)
    for _ in range(200):
        n = int(rng.integers(1, 25))
        x = rng.integers(0, 6, n)  # rows with equal values are identical
        exact = np.array([(x == x[i]).sum() > 1 for i in range(n)])
        copy_of = np.full(n, -1)
        for i in range(n):
            twins = [j for j in range(n) if j != i and x[j] == x[i]]
            if twins:  # the star of find_duplicates: the first row, which links the second
                copy_of[i] = twins[0] if min(twins) > i else min(twins)
            elif rng.random() < 0.6 and n > 1:
                copy_of[i] = int(rng.choice([j for j in range(n) if j != i]))
        score = rng.integers(0, 4, n).astype(float)
        ok = rng.random(n) < 0.8
        drop, kept = keep_one_per_copy(copy_of, exact, score, eligible=ok)
        assert set(np.flatnonzero(drop)) == _greedy(copy_of.tolist(), exact.tolist(), score, ok)
        for i in np.flatnonzero(drop):  # every drop has a kept copy: identical or linked
            j = kept[i]
            assert not drop[j] and ok[j] and j != i
            group_i = [m for m in range(n) if x[m] == x[i]] if exact[i] else [i]
            group_j = [m for m in range(n) if x[m] == x[j]] if exact[j] else [j]
            assert x[i] == x[j] or any(copy_of[a] == b or copy_of[b] == a
                                       for a in group_i for b in group_j)


def test_copy_of_names_a_direct_copy():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(400, 6))
    x[[1, 7, 9]] = x[0]
    x[20] = x[21] + 1e-3
    x[22] = x[21] + 1.5e-3  # a chain 20 ~ 21 ~ 22
    res = find_duplicates(x)
    for i in np.flatnonzero(res.duplicate_set >= 0):
        j = res.copy_of[i]
        assert j >= 0 and res.duplicate_set[j] == res.duplicate_set[i]
        if res.is_exact_duplicate[i]:
            assert np.array_equal(x[i], x[j])
        else:  # the nearest of its near pairs
            mine = [(d, int(p[0] + p[1] - i)) for p, d in zip(res.pairs, res.pair_distances, strict=True)
                    if i in p]
            assert (res.pair_distances[[k for k, p in enumerate(res.pairs) if i in p]].min()
                    == min(mine)[0]) and j == min(mine)[1]
    assert res.copy_of[[0, 1, 7, 9]].tolist() == [1, 0, 0, 0]
    assert (res.copy_of[res.duplicate_set < 0] == -1).all()
