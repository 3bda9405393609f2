"""Token classification label quality: CoNLL / JSONL / table input, out-of-fold probabilities
by sentence, token and sentence scores, flagged tags against cleanlab's token module, the
inconsistency signal and the reliability call."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from assay.exceptions import InputValidationError, InvalidParameterError
from assay.tokens import (
    TokenCorpus,
    TokenIssues,
    cross_fit_token_probs,
    find_token_issues,
    inconsistent_tags,
    read_conll,
    read_jsonl,
    token_label_scores,
    write_conll,
)

# --------------------------------------------------------------------------------------------
# A small generated NER corpus (IOB2) with planted wrong tags

PER = ["Smith", "Jones", "Maria", "Chen", "Ahmed", "Olga", "Peter", "Kowalski", "Tanaka",
       "Garcia", "Müller", "Rossi", "Dubois", "Ivanov", "Nakamura", "Okafor", "Larsen", "Silva"]
LOC = ["Paris", "Berlin", "Tokyo", "Lagos", "Lima", "Oslo", "Cairo", "Delhi", "Quito", "Seoul",
       "New York", "Buenos Aires", "Hong Kong", "Cape Town"]
ORG = ["Siemens", "Reuters", "Toyota", "Nokia", "UNESCO", "Pfizer", "Bayer", "Airbus",
       "Bank of America", "General Motors", "Red Cross", "World Bank"]
TEMPLATES = [
    "{PER} visited {LOC} on Monday .", "{ORG} hired {PER} last week .",
    "Shares of {ORG} fell in {LOC} .", "{PER} said {ORG} would leave {LOC} .",
    "The mayor of {LOC} met {PER} .", "{ORG} opened an office in {LOC} .",
    "In {LOC} , {PER} told reporters that prices rose .", "Analysts at {ORG} expect growth .",
    "{PER} and {PER} left {ORG} in March .", "Flights from {LOC} to {LOC} were cancelled .",
    "The deal was signed on Friday .", "{PER} joined {ORG} from {ORG} .",
]
SWAP = {"PER": "LOC", "LOC": "ORG", "ORG": "PER"}


def _sentence(rng: np.random.Generator) -> tuple[list[str], list[str]]:
    tokens, tags = [], []
    for part in TEMPLATES[rng.integers(len(TEMPLATES))].split():
        if part.startswith("{"):
            kind = part[1:-1]
            pool = {"PER": PER, "LOC": LOC, "ORG": ORG}[kind]
            words = pool[rng.integers(len(pool))].split()
            tokens += words
            tags += [("B-" if i == 0 else "I-") + kind for i in range(len(words))]
        else:
            tokens.append(part)
            tags.append("O")
    return tokens, tags


def make_corpus(n_sentences: int, seed: int, *, rate: float = 0.05):
    """(tokens per sentence, noisy tags per sentence, changed-token mask (T,)). ``rate`` of the
    sentences get one entity token's tag changed (to another type, or to O)."""
    rng = np.random.default_rng(seed)
    sents, tags = zip(*[_sentence(rng) for _ in range(n_sentences)], strict=True)
    noisy = [list(t) for t in tags]
    for s in rng.choice(n_sentences, int(rate * n_sentences), replace=False):
        ents = [i for i, t in enumerate(noisy[s]) if t != "O"]
        if not ents:
            continue
        i = ents[rng.integers(len(ents))]
        kind = noisy[s][i][2:]
        noisy[s][i] = "O" if rng.random() < 0.3 else noisy[s][i][:2] + SWAP[kind]
    changed = np.concatenate([np.array(a) != np.array(b) for a, b in zip(noisy, tags,
                                                                           strict=True)])
    return [list(s) for s in sents], noisy, changed


@pytest.fixture(scope="module")
def planted():
    """1,500 generated sentences (about 12,000 tokens), 5 % with a wrong tag, and their
    out-of-fold probabilities (fitted once)."""
    sents, noisy, changed = make_corpus(1500, seed=0)
    corpus = TokenCorpus.from_sentences(sents, noisy)
    return corpus, changed, cross_fit_token_probs(corpus)


# --------------------------------------------------------------------------------------------
# Reading and writing


CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O
. . O O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER


BRUSSELS NNP B-NP B-LOC
"""


def test_read_conll_iob_with_docstart_and_blank_runs():
    c = read_conll(CONLL)
    assert (c.n_tokens, c.n_sentences) == (8, 3)
    assert c.offsets.tolist() == [0, 5, 7, 8]
    assert c.sentence(0) == (["EU", "rejects", "German", "call", "."],
                             ["B-ORG", "O", "B-MISC", "O", "O"])
    assert c.sentence(-1) == (["BRUSSELS"], ["B-LOC"])
    assert c.classes.tolist() == ["B-LOC", "B-MISC", "B-ORG", "B-PER", "I-PER", "O"]
    assert [col.tolist()[:2] for col in c.columns] == [["NNP", "VBZ"], ["B-NP", "B-VP"]]
    # the tag column by index, and the POS column as the tag
    assert read_conll(CONLL, tag_col=1).sentence(1)[1] == ["NNP", "NNP"]


def test_read_conll_comments_hashtags_and_conllu(tmp_path):
    text = "# sent_id = 1\n# text = I love #NLP\nI O\nlove O\n#NLP B-MISC\n\n#start O\nx O\n"
    c = read_conll(text)
    # comment lines before a sentence are skipped; inside a sentence '#NLP' is a token;
    # '#start' begins a sentence, so it reads as a comment unless comment=None
    assert c.sentence(0) == (["I", "love", "#NLP"], ["O", "O", "B-MISC"])
    assert c.sentence(1) == (["x"], ["O"])
    assert read_conll(text, comment=None).sentence(1) == (["#start", "x"], ["O", "O"])
    conllu = ("# sent_id = a\n1\tI\tI\tPRON\t_\n2-3\tdon't\t_\t_\t_\n2\tdo\tdo\tAUX\t_\n"
              "3\tn't\tnot\tPART\t_\n4.1\tx\tx\tX\t_\n4\trun\trun\tVERB\t_\n\n")
    path = tmp_path / "a.conllu"
    path.write_text(conllu, encoding="utf-8")
    u = read_conll(path, token_col=1, tag_col=3, sep="\t")
    assert u.sentence(0) == (["I", "do", "n't", "run"], ["PRON", "AUX", "PART", "VERB"])
    assert read_conll(str(path), token_col=1, tag_col=3, sep="\t").n_tokens == 4


def test_read_conll_errors_name_the_line(tmp_path):
    with pytest.raises(InputValidationError, match=r"Line 3 of the text has 1 column\(s\)"):
        read_conll("EU B-ORG\nrejects O\ncall\n")
    with pytest.raises(InputValidationError, match="token_col=1 and tag_col=3 need at least 4"):
        read_conll("1 EU NNP B-ORG\n2 x y\n", token_col=1, tag_col=3)
    with pytest.raises(InputValidationError, match="holds no token lines"):
        read_conll("-DOCSTART- O\n\n\n")
    empty = tmp_path / "empty.conll"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InputValidationError, match="holds no token lines"):
        read_conll(empty)
    with pytest.raises(InputValidationError, match="not found"):
        read_conll(str(tmp_path / "missing.conll"))
    with pytest.raises(InputValidationError, match="Line 2 of the text has an empty token"):
        read_conll("EU\tB-ORG\n\tO\n", sep="\t")
    with pytest.raises(InputValidationError, match="needs a path or the file's text"):
        read_conll(3)
    with pytest.raises(InvalidParameterError, match="'tag_col' parameter of read_conll"):
        read_conll("a O\n", tag_col="last")
    with pytest.raises(InvalidParameterError, match="'sep' parameter"):
        read_conll("a O\n", sep="")


@pytest.mark.parametrize("sep", [" ", "\t"])
def test_write_conll_round_trips_byte_for_byte(tmp_path, sep):
    text = ("EU NNP B-ORG\nrejects VBZ O\nGerman JJ B-MISC\n\nPeter NNP B-PER\n"
            "Blackburn NNP I-PER\n\nBRUSSELS NNP B-LOC\n\n").replace(" ", sep)
    src = tmp_path / "in.conll"
    src.write_bytes(text.encode("utf-8"))
    out = tmp_path / "out.conll"
    write_conll(read_conll(src, sep=sep if sep != " " else None), out, sep=sep)
    assert out.read_bytes() == src.read_bytes()
    two = "Ärger O\nin O\nKöln B-LOC\n\n"  # two columns, non-ASCII
    src.write_bytes(two.encode("utf-8"))
    write_conll(read_conll(src), out)
    assert out.read_bytes() == two.encode("utf-8")


def test_write_conll_with_corrected_tags(tmp_path):
    c = read_conll("EU B-ORG\nrejects O\n\nPeter B-LOC\n")
    out = tmp_path / "fixed.conll"
    fixed = c.tags.copy()
    fixed[2] = list(c.classes).index("B-ORG")
    write_conll(c, out, tags=fixed)
    assert out.read_text() == "EU B-ORG\nrejects O\n\nPeter B-ORG\n\n"
    write_conll(c, out, tags=["B-ORG", "O", "B-PER"])  # names may be new tags
    assert read_conll(out).sentence(1) == (["Peter"], ["B-PER"])
    with pytest.raises(InputValidationError, match=r"one tag per token, shape \(3,\)"):
        write_conll(c, out, tags=[0, 1])
    with pytest.raises(InputValidationError, match="indices into corpus.classes"):
        write_conll(c, out, tags=[0, 1, 7])
    with pytest.raises(InputValidationError, match="must be a TokenCorpus"):
        write_conll([["EU"]], out)


def test_from_frame_keeps_row_order_and_checks_input():
    frame = pd.DataFrame({"sid": ["s1", "s1", "s1", "s2", "s2"],
                          "word": ["New", "York", "wins", "Hi", "Bo"],
                          "ner": ["B-LOC", "I-LOC", "O", "O", "B-PER"]})
    c = TokenCorpus.from_frame(frame, sentence="sid", token="word", tag="ner")
    assert c.offsets.tolist() == [0, 3, 5]
    assert c.tag_names.tolist() == frame["ner"].tolist()
    assert c.to_frame()[["sentence", "position"]].values.tolist() == [
        [0, 0], [0, 1], [0, 2], [1, 0], [1, 1]]
    with pytest.raises(InputValidationError, match="Column 'sidd' .* Did you mean 'sid'"):
        TokenCorpus.from_frame(frame, sentence="sidd", token="word", tag="ner")
    with pytest.raises(InputValidationError, match="Column 'sentence' .sentence. not found"):
        TokenCorpus.from_frame(frame, token="word", tag="ner")
    shuffled = frame.iloc[[0, 3, 1, 2, 4]].reset_index(drop=True)
    with pytest.raises(InputValidationError, match="sentence 's1' are not contiguous"):
        TokenCorpus.from_frame(shuffled, sentence="sid", token="word", tag="ner")
    gap = frame.assign(ner=[None, "I-LOC", "O", "O", "B-PER"])
    with pytest.raises(InputValidationError, match="'ner' has 1 missing value.*row 0"):
        TokenCorpus.from_frame(gap, sentence="sid", token="word", tag="ner")
    with pytest.raises(InputValidationError, match="must be a pandas DataFrame"):
        TokenCorpus.from_frame({"a": [1]})


def test_jsonl_records_and_errors(tmp_path):
    rows = [{"tokens": ["EU", "rejects"], "tags": ["B-ORG", "O"]},
            {"tokens": ["Peter"], "tags": ["B-PER"]}]
    text = "\n".join(json.dumps(r) for r in rows) + "\n\n"
    path = tmp_path / "a.jsonl"
    path.write_text(text, encoding="utf-8")
    for c in (read_jsonl(text), read_jsonl(path), TokenCorpus.from_records(rows)):
        assert c.offsets.tolist() == [0, 2, 3]
        assert c.sentence(1) == (["Peter"], ["B-PER"])
    words = read_jsonl('{"words": ["a"], "ner": ["O"]}\n', tokens="words", tags="ner")
    assert words.n_tokens == 1
    with pytest.raises(InputValidationError, match="Line 2 of the text is not valid JSON"):
        read_jsonl(json.dumps(rows[0]) + "\n{tokens: [}\n")
    with pytest.raises(InputValidationError, match="Line 1 of the text has 2 tokens but 1 tags"):
        read_jsonl('{"tokens": ["a", "b"], "tags": ["O"]}\n')
    with pytest.raises(InputValidationError, match="Line 1 has no 'tags' field"):
        read_jsonl('{"tokens": ["a"], "labels": ["O"]}\n')
    with pytest.raises(InputValidationError, match="Record 0 is list"):
        TokenCorpus.from_records([["a"]])


def test_from_sentences_checks_lengths_and_drops_empty_sentences():
    c = TokenCorpus.from_sentences([["a", "b"], [], ["c"]], [["X", "Y"], [], ["X"]])
    assert c.offsets.tolist() == [0, 2, 3]
    with pytest.raises(InputValidationError, match="Sentence 1 has 2 tokens but 1 tags"):
        TokenCorpus.from_sentences([["a"], ["b", "c"]], [["X"], ["Y"]])
    with pytest.raises(InputValidationError, match="3 sentences but tags 2"):
        TokenCorpus.from_sentences([["a"]] * 3, [["X"]] * 2)
    with pytest.raises(InputValidationError, match="holds no tokens"):
        TokenCorpus.from_sentences([[]], [[]])
    with pytest.raises(InputValidationError, match="Sentence 5 does not exist"):
        c.sentence(5)


# --------------------------------------------------------------------------------------------
# Out-of-fold probabilities


def test_cross_fit_probabilities_are_out_of_fold_by_sentence():
    sents, noisy, _ = make_corpus(300, seed=1, rate=0.0)
    c = TokenCorpus.from_sentences(sents, noisy)
    p = cross_fit_token_probs(c, n_folds=4, random_state=3)
    assert p.shape == (c.n_tokens, len(c.classes))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert (p.argmax(axis=1) == c.tags).mean() > 0.95
    # change every tag of sentence 10: its own probabilities must not move (its fold's model
    # never saw it), while models of the other folds did see the change
    altered = [list(t) for t in noisy]
    altered[10] = ["B-PER"] * len(altered[10])
    c2 = TokenCorpus.from_sentences(sents, altered)
    assert c2.classes.tolist() == c.classes.tolist()
    p2 = cross_fit_token_probs(c2, n_folds=4, random_state=3)
    a, b = c.offsets[10], c.offsets[11]
    np.testing.assert_array_equal(p2[a:b], p[a:b])
    assert not np.array_equal(p2, p)


def test_cross_fit_blocks_jobs_and_bad_input():
    sents, noisy, _ = make_corpus(120, seed=2, rate=0.0)
    c = TokenCorpus.from_sentences(sents, noisy)
    seen = []
    p = cross_fit_token_probs(c, n_folds=3, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (3, 3)
    np.testing.assert_allclose(cross_fit_token_probs(c, n_folds=3, block_tokens=7), p)
    np.testing.assert_allclose(cross_fit_token_probs(c, n_folds=3, n_jobs=2), p)
    with pytest.raises(InvalidParameterError, match="'n_folds' parameter"):
        cross_fit_token_probs(c, n_folds=1)
    with pytest.raises(InputValidationError, match="has 1 sentence"):
        cross_fit_token_probs(TokenCorpus.from_sentences([["a", "b"]], [["X", "Y"]]))
    with pytest.raises(InputValidationError, match="must be a TokenCorpus"):
        cross_fit_token_probs([["a"]])


def test_cross_fit_writes_into_a_disk_array():
    """``out``: the probabilities go into the given (T, K) array (on disk, float32), equal to the
    in-memory ones to float32 precision; a wrong array is refused in one sentence."""
    from assay.data import disk_array

    sents, noisy, _ = make_corpus(150, seed=4, rate=0.0)
    c = TokenCorpus.from_sentences(sents, noisy)
    out = disk_array((c.n_tokens, len(c.classes)))
    got = cross_fit_token_probs(c, n_folds=3, out=out, block_tokens=50)
    assert got is out and isinstance(got, np.memmap) and got.dtype == np.float32
    np.testing.assert_allclose(got, cross_fit_token_probs(c, n_folds=3), atol=1e-6)
    for bad in (np.zeros((c.n_tokens, 1)), np.zeros((c.n_tokens, len(c.classes)), dtype=int),
                [[0.0] * len(c.classes)] * c.n_tokens):
        with pytest.raises(InputValidationError, match="out must be a writable float array"):
            cross_fit_token_probs(c, n_folds=3, out=bad)


def test_issues_from_disk_hold_no_token_by_tag_matrix():
    """find_token_issues reads a (T, K) matrix on disk in blocks: its peak traced memory does not
    grow with T by anything like a (T, K) float64 copy (only per-token vectors grow), and the
    result equals the in-memory run's."""
    import tracemalloc

    from assay.data import disk_array

    k = 60

    def peak(n: int) -> tuple[int, object, object]:
        rng = np.random.default_rng(n)
        y = rng.integers(0, k, n)
        p = disk_array((n, k))
        for s in range(0, n, 20_000):
            b = rng.dirichlet(np.full(k, 0.1), size=min(20_000, n - s))
            b[np.arange(len(b)), y[s:s + len(b)]] += 2.0
            p[s:s + len(b)] = b / b.sum(axis=1, keepdims=True)
        tags = [y[i:i + 10] for i in range(0, n, 10)]
        tracemalloc.start()
        try:
            res = find_token_issues(tags, p, block_tokens=4096)
            top = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        return top, res, (tags, np.asarray(p, dtype=np.float64))

    small, _, _ = peak(60_000)
    large, res, (tags, dense) = peak(240_000)
    full_copy = (240_000 - 60_000) * k * 8
    assert large - small < 0.25 * full_copy, (small, large, full_copy)
    ref = find_token_issues(tags, dense, block_tokens=4096)
    np.testing.assert_array_equal(res.is_issue, ref.is_issue)
    assert res.n_estimated_errors == ref.n_estimated_errors


def test_a_tag_missing_from_a_fold_gets_probability_zero():
    sents = [["a", "b"]] * 20 + [["rare"]]
    tags = [["X", "Y"]] * 20 + [["Z"]]
    c = TokenCorpus.from_sentences(sents, tags)
    p = cross_fit_token_probs(c, n_folds=2)
    assert p[-1, 2] == 0.0  # the only Z sentence is in the test fold of the model that lacks Z


# --------------------------------------------------------------------------------------------
# Scores


def test_scores_by_hand_and_in_cleanlab_format():
    p = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6]])
    # tokens: p of the given tag; sentences (2 + 2 tokens): their lowest token score
    tok, sent = token_label_scores([[0, 0], [1, 0]], p)
    assert tok.tolist() == [0.9, 0.2, 0.3, 0.4]
    assert sent.tolist() == [0.2, 0.3]
    tok2, sent2 = token_label_scores([np.array([0, 0]), [1, 0]], [p[:2], p[2:]], block_tokens=3)
    assert tok2.tolist() == tok.tolist() and sent2.tolist() == sent.tolist()


def test_scores_in_unit_interval_and_planted_errors_rank_low(planted):
    from sklearn.metrics import average_precision_score

    corpus, changed, p = planted
    tok, sent = token_label_scores(corpus, p)
    assert tok.shape == (corpus.n_tokens,) and sent.shape == (corpus.n_sentences,)
    assert tok.min() >= 0.0 and tok.max() <= 1.0 and sent.min() >= 0.0 and sent.max() <= 1.0
    assert np.median(tok[changed]) < 0.1 < np.median(tok[~changed])
    assert average_precision_score(changed, -tok) > 0.8
    wrong_sentences = np.logical_or.reduceat(changed, corpus.offsets[:-1])
    assert average_precision_score(wrong_sentences, -sent) > 0.8


def test_bad_probabilities_say_what_is_wrong():
    tags = [[0, 1], [1]]
    good = np.array([[0.8, 0.2], [0.3, 0.7], [0.5, 0.5]])
    with pytest.raises(InputValidationError, match=r"one row per token, shape \(3, K\)"):
        token_label_scores(tags, good[:2])
    with pytest.raises(InputValidationError, match="token 1 sums to 1.2"):
        token_label_scores(tags, np.array([[0.8, 0.2], [0.5, 0.7], [0.5, 0.5]]))
    with pytest.raises(InputValidationError, match="NaN or infinite values .first at token 2"):
        find_token_issues(tags, np.array([[0.8, 0.2], [0.3, 0.7], [np.nan, 0.5]]))
    with pytest.raises(InputValidationError, match="not logits"):
        token_label_scores(tags, np.array([[2.0, -1.0], [0.3, 0.7], [0.5, 0.5]]))
    with pytest.raises(InputValidationError, match="hold index 2 but pred_probs has only 2"):
        token_label_scores([[0, 2]], good[:2])
    c = TokenCorpus.from_sentences([["a", "b", "c"]], [["X", "Y", "Z"]])
    with pytest.raises(InputValidationError, match="2 columns but the corpus has 3 tags"):
        find_token_issues(c, good)
    with pytest.raises(InputValidationError, match="Sentence 1 of the tags must be a non-empty"):
        token_label_scores([[0, 1], []], good[:2])
    with pytest.raises(InputValidationError, match="indices 0..K-1"):
        token_label_scores([["B-PER", "O"], [1]], good)
    with pytest.raises(InvalidParameterError, match="'block_tokens' parameter"):
        token_label_scores(tags, good, block_tokens=0)


# --------------------------------------------------------------------------------------------
# Issues


def test_flags_match_or_beat_cleanlab_on_planted_noise(planted):
    """Token F1 at least cleanlab's token module's minus 0.02, on the same probabilities."""
    from cleanlab.token_classification.filter import find_label_issues
    from sklearn.metrics import f1_score

    corpus, changed, p = planted
    res = find_token_issues(corpus, p)
    off = corpus.offsets
    labels = [corpus.tags[off[i]:off[i + 1]].tolist() for i in range(corpus.n_sentences)]
    probs = [p[off[i]:off[i + 1]] for i in range(corpus.n_sentences)]
    mask = np.zeros(corpus.n_tokens, dtype=bool)
    for i, j in find_label_issues(labels, probs):
        mask[off[i] + j] = True
    ours, theirs = f1_score(changed, res.is_issue), f1_score(changed, mask)
    assert ours >= theirs - 0.02, (ours, theirs)
    assert ours > 0.7
    assert 0.8 <= res.n_estimated_errors / changed.sum() <= 1.2
    assert res.reliable, res.caveat
    wrong_sentences = np.logical_or.reduceat(changed, off[:-1])
    assert f1_score(wrong_sentences, res.sentence_is_issue) > 0.7


def _synthetic(n_tokens: int, k: int, seed: int):
    """Tags in sentences of 5-14 tokens and probabilities of a decent model (about 90 %
    accurate, every tag predicted), with 2 % of the tags changed: (tag lists, probs, changed)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n_tokens)
    logits = rng.normal(0, 1, (n_tokens, k))
    logits[np.arange(n_tokens), truth] += 3.0
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    given = truth.copy()
    flip = rng.random(n_tokens) < 0.02
    given[flip] = (truth[flip] + rng.integers(1, k, flip.sum())) % k
    cuts = np.cumsum(rng.integers(5, 15, n_tokens // 5))
    cuts = cuts[cuts < n_tokens]
    return [s.tolist() for s in np.split(given, cuts)], p, flip


def test_issues_are_the_single_label_estimate_on_flattened_tokens():
    """Error probabilities, count, noise matrix and temperature equal
    assay.labels.estimate_label_issues on the flattened tokens (60,000 tokens: the temperature
    is fitted on the same 50,000-token sample), whatever the block size; flags are the lowest
    scores among the tokens whose tag is not the top prediction."""
    from assay.labels import estimate_label_issues

    tags, p, _ = _synthetic(60_000, 5, seed=0)
    flat = np.concatenate(tags)
    res = find_token_issues(tags, p)
    est = estimate_label_issues(flat, p)
    np.testing.assert_array_equal(res.error_probability, est.error_probability)
    assert res.n_estimated_errors == est.n_estimated
    assert res.temperature == est.temperature != 1.0
    np.testing.assert_array_equal(res.noise_matrix, est.noise_matrix)
    assert res.reliable == est.reliable
    small = find_token_issues(tags, p, block_tokens=777)
    np.testing.assert_array_equal(small.error_probability, res.error_probability)
    np.testing.assert_array_equal(small.is_issue, res.is_issue)
    eligible = p.argmax(axis=1) != flat
    assert res.n_issues == min(res.n_estimated_errors, int(eligible.sum()))
    assert res.token_scores[res.is_issue].max() <= res.token_scores[eligible & ~res.is_issue].min()
    # suggestions: the top prediction where flagged, the given tag elsewhere
    np.testing.assert_array_equal(res.suggested[res.is_issue], p[res.is_issue].argmax(axis=1))
    np.testing.assert_array_equal(res.suggested[~res.is_issue], flat[~res.is_issue])
    np.testing.assert_array_equal(
        res.sentence_is_issue, np.logical_or.reduceat(res.is_issue, res.offsets[:-1]))


def test_a_tag_given_only_by_mistake_does_not_break_the_estimate(planted):
    """In the planted corpus I-PER exists only as a mistake (an I-ORG changed to PER): the model
    never predicts it. Confident learning's threshold for it (its mean probability) is then
    tiny, every doubtful I-ORG token counts as confidently I-PER and the noise matrix is nearly
    singular; the chance floor (1/K) on the thresholds keeps the count near the truth."""
    from assay.labels import estimate_label_issues

    corpus, changed, p = planted
    assert "I-PER" in corpus.classes and p[:, list(corpus.classes).index("I-PER")].max() < 0.5
    res = find_token_issues(corpus, p)
    assert 0.8 <= res.n_estimated_errors / changed.sum() <= 1.1
    assert res.undecided_share < 0.05
    plain = estimate_label_issues(corpus.tags, p).n_estimated
    assert abs(plain - changed.sum()) > abs(res.n_estimated_errors - changed.sum())


def test_the_estimate_does_not_depend_on_sentence_order(planted):
    corpus, _, p = planted
    order = np.random.default_rng(0).permutation(corpus.n_sentences)
    sents = [corpus.sentence(int(i)) for i in order]
    shuffled = TokenCorpus.from_sentences([s[0] for s in sents], [s[1] for s in sents])
    rows = np.concatenate([np.arange(corpus.offsets[i], corpus.offsets[i + 1]) for i in order])
    a, b = find_token_issues(corpus, p), find_token_issues(shuffled, p[rows])
    assert a.n_estimated_errors == b.n_estimated_errors
    np.testing.assert_allclose(b.error_probability, a.error_probability[rows], atol=1e-12)
    np.testing.assert_array_equal(b.is_issue, a.is_issue[rows])


def test_corrected_corpus_written_back(planted, tmp_path):
    corpus, changed, p = planted
    res = find_token_issues(corpus, p)
    out = tmp_path / "fixed.conll"
    write_conll(corpus, out, tags=res.suggested)
    fixed = read_conll(out)
    truth = TokenCorpus.from_sentences(*make_corpus(1500, seed=0, rate=0.0)[:2])
    wrong_after = (fixed.tag_names != truth.tag_names).sum()
    assert wrong_after < 0.5 * changed.sum()
    frame = res.to_frame(corpus)
    assert set(frame.columns) >= {"token_index", "sentence", "position", "token", "tag",
                                  "suggested", "token_score", "is_issue", "inconsistent"}
    assert len(frame) == int((res.is_issue | res.inconsistent).sum())
    first = frame.iloc[0]
    assert corpus.tokens[first["token_index"]] == first["token"]
    assert corpus.offsets[first["sentence"]] + first["position"] == first["token_index"]
    assert len(res.to_frame(all_tokens=True)) == corpus.n_tokens
    with pytest.raises(InputValidationError, match="the TokenCorpus the issues were found in"):
        res.to_frame(TokenCorpus.from_sentences([["a"]], [["O"]]))


def test_inconsistent_tags_by_hand():
    # "Paris": 5 times, 4 B-LOC (share 0.8) and once B-PER -> that one is inconsistent;
    # "Jordan": 6 times, 3 B-PER / 3 B-LOC -> no majority of 0.8, never inconsistent;
    # "in": 12 times O; "Nice": 2 times (B-LOC, O), below min_count
    sents = ([["in", "Paris"]] * 5 + [["in", "Jordan"]] * 3 + [["Jordan", "said"]] * 3
             + [["Nice", "in"], ["Nice", "in"], ["in"]])
    tags = ([["O", "B-LOC"]] * 4 + [["O", "B-PER"]] + [["O", "B-LOC"]] * 3
            + [["B-PER", "O"]] * 3 + [["B-LOC", "O"], ["O", "O"], ["O"]])
    c = TokenCorpus.from_sentences(sents, tags)
    flags = inconsistent_tags(c)
    assert flags.nonzero()[0].tolist() == [9]
    assert c.tokens[9] == "Paris" and c.tag_names[9] == "B-PER"
    assert inconsistent_tags(c, min_share=0.9).sum() == 0
    assert inconsistent_tags(c, min_count=6).sum() == 0
    # "Nice" counts at min_count=2, but its tags split evenly
    assert inconsistent_tags(c, min_count=2, min_share=0.6).nonzero()[0].tolist() == [9]
    for bad in (1.5, 0.5):
        with pytest.raises(InvalidParameterError, match=r"'min_share' parameter .* \(0.5, 1\]"):
            inconsistent_tags(c, min_share=bad)
    with pytest.raises(InputValidationError, match="the word forms are needed"):
        inconsistent_tags([[0, 1]])
    # reported beside the flags, not part of them
    p = np.full((c.n_tokens, len(c.classes)), 0.0)
    p[np.arange(c.n_tokens), c.tags] = 1.0
    res = find_token_issues(c, p, min_count=5, min_share=0.8)
    assert res.inconsistent.nonzero()[0].tolist() == [9] and not res.is_issue.any()
    assert not find_token_issues([c.tags.tolist()], p).inconsistent.any()


def test_reliability_call(planted):
    corpus, _, p = planted
    assert find_token_issues(corpus, p).reliable
    # random tags: the model cannot beat always predicting the most frequent tag
    rng = np.random.default_rng(0)
    shuffled = TokenCorpus(corpus.tokens, rng.permutation(corpus.tags), corpus.classes,
                           corpus.offsets)
    res = find_token_issues(shuffled, cross_fit_token_probs(shuffled))
    assert not res.reliable and res.reason == "weak_model"
    assert "most frequent tag" in res.caveat
    small = TokenCorpus.from_sentences(*make_corpus(100, seed=3)[:2])
    res = find_token_issues(small, cross_fit_token_probs(small))
    assert not res.reliable and res.reason == "few_tokens"
    one = [[0] * 50] * 250
    res = find_token_issues(one, np.ones((12500, 1)))
    assert res.reason == "one_tag" and not res.is_issue.any()


def test_issues_dataclass_is_frozen(planted):
    corpus, _, p = planted
    res = find_token_issues(corpus, p)
    assert isinstance(res, TokenIssues)
    with pytest.raises(AttributeError):
        res.reliable = False  # type: ignore[misc]
