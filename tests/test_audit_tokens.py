"""The tokens task of the audit: a CoNLL file, a CSV of space-separated sequences and a JSONL
file of lists audit the same way (the task read from the data), the flags are
:func:`assay.find_token_issues`' rolled up to sentences, the class checks are skipped with the
reason, and bad input is one clear error."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from tests.test_tokens import make_corpus

import assay
from assay.data import read_table
from assay.exceptions import AssayError, InputValidationError, InvalidParameterError
from assay.tokens import TokenCorpus, cross_fit_token_probs, find_token_issues


def _conll(path, sents, tags) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("-DOCSTART- O\n\n")
        for s, t in zip(sents, tags, strict=True):
            fh.write("".join(f"{w} {g}\n" for w, g in zip(s, t, strict=True)) + "\n")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """1,500 generated sentences (about 12,000 tokens), 5 % with a wrong tag, as a CoNLL file,
    a CSV and a JSONL file."""
    sents, noisy, changed = make_corpus(1500, seed=0)
    folder = tmp_path_factory.mktemp("tokens")
    _conll(folder / "train.conll", sents, noisy)
    frame = pd.DataFrame({"tokens": [" ".join(s) for s in sents],
                          "tags": [" ".join(t) for t in noisy]})
    frame.to_csv(folder / "train.csv", index=False)
    with open(folder / "train.jsonl", "w", encoding="utf-8") as fh:
        for s, t in zip(sents, noisy, strict=True):
            fh.write(json.dumps({"words": s, "ner": t}) + "\n")
    offsets = np.r_[0, np.cumsum([len(s) for s in sents])]
    truth = np.array([changed[a:b].any() for a, b in zip(offsets[:-1], offsets[1:],
                                                         strict=True)])
    return {"folder": folder, "sents": sents, "noisy": noisy, "changed": changed,
            "truth": truth}


@pytest.fixture(scope="module")
def conll_audit(corpus):
    return assay.audit(corpus["folder"] / "train.conll", label="tags")


def test_a_conll_file_reads_as_sentences(corpus):
    frame = read_table(corpus["folder"] / "train.conll")
    assert list(frame.columns) == ["tokens", "tags"]
    assert len(frame) == len(corpus["sents"])
    assert frame["tokens"].iat[0] == " ".join(corpus["sents"][0])
    assert frame["tags"].iat[0] == " ".join(corpus["noisy"][0])


def test_the_task_is_read_from_the_data_and_class_checks_are_skipped(conll_audit):
    s = conll_audit.summary
    assert s["task"] == "tokens" and "one tag per token" in s["task_reason"]
    assert s["roles"]["text"] == "tokens"  # duplicates and outliers read the sentence
    assert s["classes"] == ["B-LOC", "B-ORG", "B-PER", "I-LOC", "I-ORG", "I-PER", "O"]
    assert "token_labels" in conll_audit.checks and "duplicates" in conll_audit.checks
    for name in ("label_issues", "class_profile", "ambiguous_pairs"):
        assert "one tag per token" in s["skipped"][name]
    assert "token classification only" in assay.audit(
        pd.DataFrame({"x": np.arange(40.0), "y": ["a", "b"] * 20}), label="y",
        checks=["duplicates", "token_labels"]).summary["skipped"]["token_labels"]


def test_flags_are_the_token_estimate_rolled_up_to_sentences(corpus, conll_audit):
    """The check's sentence flags are exactly find_token_issues' on the same out-of-fold
    probabilities (cross_fit_token_probs with the audit's folds and seed), and they recover
    the planted errors."""
    sents, noisy = corpus["sents"], corpus["noisy"]
    probs = cross_fit_token_probs(TokenCorpus.from_sentences(sents, noisy), n_folds=5,
                                  random_state=0)
    direct = find_token_issues(TokenCorpus.from_sentences(sents, noisy), probs)
    iss = conll_audit.issues
    flags = iss["is_label_issue"].to_numpy(bool)
    np.testing.assert_array_equal(flags, direct.sentence_is_issue)
    np.testing.assert_allclose(iss["label_score"].to_numpy(), direct.sentence_scores)
    truth = corpus["truth"]
    precision, recall = truth[flags].mean(), flags[truth].mean()
    assert precision >= 0.8 and recall >= 0.8, (precision, recall)
    s = conll_audit.checks["token_labels"].summary
    assert s["n_tokens"] == sum(map(len, sents)) and s["n_sentences"] == len(sents)
    assert s["n_estimated_errors"] == direct.n_estimated_errors
    assert s["estimates_reliable"] == direct.reliable


def test_suggestions_and_changes_name_each_token(corpus, conll_audit):
    iss = conll_audit.issues
    row = int(np.flatnonzero(iss["is_label_issue"].to_numpy(bool))[0])
    given = iss["given_label"].iat[row].split()
    suggested = iss["suggested_label"].iat[row].split()
    assert len(given) == len(suggested) == len(corpus["sents"][row])
    changes = iss["tag_changes"].iat[row].split("; ")
    moved = [i for i, (a, b) in enumerate(zip(given, suggested, strict=True)) if a != b]
    assert [int(c.split()[0]) for c in changes] == moved
    first = moved[0]
    assert changes[0] == (f"{first} {corpus['sents'][row][first]}: {given[first]} -> "
                          f"{suggested[first]}")
    unflagged = ~iss["is_label_issue"].to_numpy(bool)
    assert (iss.loc[unflagged, "suggested_label"] == iss.loc[unflagged, "given_label"]).all()
    assert (iss.loc[unflagged, "tag_changes"] == "").all()
    ev = conll_audit.checks["token_labels"].evidence
    assert ev["flagged"][0]["label_score"] <= ev["flagged"][-1]["label_score"]
    assert {"tag", "count", "group", "flagged_given"} <= set(ev["tags"].columns)
    assert (ev["tokens"]["context"].str.contains(r"\[", regex=True)).all()


def test_csv_and_jsonl_sources_give_the_same_flags_in_their_own_form(corpus, conll_audit):
    csv = assay.audit(corpus["folder"] / "train.csv", label="tags", checks=["token_labels"])
    jsonl = assay.audit(corpus["folder"] / "train.jsonl", label="ner", text="words",
                        checks=["token_labels"])
    want = conll_audit.issues["is_label_issue"].to_numpy(bool)
    for res in (csv, jsonl):
        assert res.summary["task"] == "tokens"
        np.testing.assert_array_equal(res.issues["is_label_issue"].to_numpy(bool), want)
    row = int(np.flatnonzero(want)[0])
    assert csv.issues["suggested_label"].iat[row] == conll_audit.issues["suggested_label"].iat[row]
    suggested = json.loads(jsonl.issues["suggested_label"].iat[row])  # list cells: JSON text
    assert suggested == conll_audit.issues["suggested_label"].iat[row].split()
    assert json.loads(jsonl.issues["given_label"].iat[row]) == corpus["noisy"][row]


def test_user_probabilities_per_token(corpus):
    sents, noisy = corpus["sents"], corpus["noisy"]
    tc = TokenCorpus.from_sentences(sents, noisy)
    probs = cross_fit_token_probs(tc, n_folds=3, random_state=1)
    res = assay.audit(corpus["folder"] / "train.csv", label="tags", pred_probs=probs,
                      checks=["token_labels"])
    np.testing.assert_array_equal(res.issues["is_label_issue"].to_numpy(bool),
                                  find_token_issues(tc, probs).sentence_is_issue)
    assert res.checks["token_labels"].summary["model"] == "user"
    with pytest.raises(InputValidationError, match=r"one row per token.*got shape"):
        assay.audit(corpus["folder"] / "train.csv", label="tags", pred_probs=probs[:-1])
    with pytest.raises(InputValidationError, match="summing to 1"):
        assay.audit(corpus["folder"] / "train.csv", label="tags", pred_probs=probs * 2)
    with pytest.raises(InvalidParameterError, match="'auto' for a tokens task"):
        assay.audit(corpus["folder"] / "train.csv", label="tags", model="hgb")


def test_a_sentence_whose_tags_and_tokens_differ_is_named():
    frame = pd.DataFrame({"tokens": ["EU rejects call", "Peter Blackburn", "Hi there you"],
                          "tags": ["B-ORG O O", "B-PER", "O O O"]})
    with pytest.raises(InputValidationError, match=r"Row 1 has 2 tokens in 'tokens' but 1 tags"):
        assay.audit(frame, label="tags", task="tokens")
    # auto: not aligned, so not a tokens task (classes, one per distinct cell)
    assert assay.audit(frame, label="tags", checks=["duplicates"]).summary["task"] != "tokens"
    with pytest.raises(InputValidationError, match="needs a column of tokens"):
        assay.audit(frame.rename(columns={"tokens": "sentence"}), label="tags", task="tokens")


def test_label_sets_are_not_read_as_tags():
    """A multi-label column beside a text column of the same lengths stays multi-label: a set
    never repeats a class, a tag sequence repeats its tags."""
    frame = pd.DataFrame({"tokens": ["red fast", "blue slow", "red slow"] * 20,
                          "tags": ["a|b", "b|c", "a|c"] * 20})
    from assay.data import token_task_columns

    assert token_task_columns(frame.assign(tags=frame["tags"].str.replace("|", " ")),
                              "tags") is None
    assert token_task_columns(frame.assign(tags="O O"), "tags") == "tokens"


def test_cli_audits_a_conll_file_and_says_what_it_found(corpus, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "assay.cli.main", "audit", str(corpus["folder"] / "train.conll"),
         "--label", "tags", "--no-workspace", "--out", str(tmp_path / "out"),
         "--checks", "token_labels"],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "sentences" in out.stdout and "tokens tagged in 'tags'" in out.stdout
    assert "Sentences with a tag that looks wrong" in out.stdout
    assert "Fix the tags of the" in out.stdout
    report = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "Sentences with a tag that looks wrong" in report
    bad = subprocess.run(
        [sys.executable, "-m", "assay.cli.main", "audit", str(corpus["folder"] / "train.conll"),
         "--label", "tags", "--task", "token", "--no-workspace"],
        capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "tokens" in bad.stderr + bad.stdout


def test_a_bad_conll_line_is_one_clear_error(tmp_path):
    path = tmp_path / "bad.conll"
    path.write_text("EU B-ORG\nrejects\n", encoding="utf-8")
    with pytest.raises(AssayError, match=r"Line 2 of .*bad.conll has 1 column"):
        read_table(path)
