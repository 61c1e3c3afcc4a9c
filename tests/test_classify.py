"""Unit tests for topic classification, on short texts written for these tests."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import random
import time
from pathlib import Path

import numpy as np
import pytest

from bot.pipeline.classify import (
    TOPIC_NAMES,
    TOPICS,
    TopicModel,
    TrainReport,
    classify_jsonl,
    load_training_rows,
    prepare_text,
    train,
)
from bot.pipeline.classify_ensemble import WordVectors, write_vectors


@pytest.fixture(scope="module")
def default_model() -> TopicModel:
    return TopicModel.load()


# --------------------------------------------------------------------------- default model
def test_taxonomy_is_the_stable_twelve() -> None:
    assert TOPICS == (
        "world",
        "politics",
        "conflict",
        "crime",
        "disaster",
        "business",
        "technology",
        "science",
        "health",
        "environment",
        "sport",
        "entertainment",
    )
    assert set(TOPIC_NAMES) == set(TOPICS)
    assert TOPIC_NAMES["conflict"] == "Conflict & defence"


def test_default_model_loads_fast_with_every_topic() -> None:
    started = time.perf_counter()
    model = TopicModel.load()
    assert time.perf_counter() - started < 1.0
    assert model.labels == TOPICS
    assert model.display_name("crime") == "Crime & justice"


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Shares slump as the central bank raises interest rates again", "business"),
        ("Parliament votes on the new immigration bill after a long debate", "politics"),
        ("Troops push back a rebel offensive with artillery and air strikes", "conflict"),
        ("New smartphone chip promises longer battery life for mobile users", "technology"),
        ("Astronomers spot water on a distant planet with a space telescope", "science"),
        ("Hospital waiting lists grow as flu cases rise among patients", "health"),
        ("Climate talks end with a deal to cut carbon emissions", "environment"),
        ("Band announces world tour after its chart-topping album", "entertainment"),
        ("Goalkeeper saves two penalties as the club reaches the cup final", "sport"),
        ("Police arrest a suspect after a jewellery shop robbery", "crime"),
        ("Rescuers search for survivors after the flooding and landslide", "disaster"),
    ],
)
def test_default_model_gets_plain_headlines_right(
    default_model: TopicModel, title: str, expected: str
) -> None:
    assert default_model.classify(title, "")[0][0] == expected


def test_scores_are_valid_and_sorted(default_model: TopicModel) -> None:
    result = default_model.classify("Minister resigns", "The minister stepped down on Monday.")
    assert result, "at least the best label is always returned"
    labels = [label for label, _ in result]
    scores = [score for _, score in result]
    assert set(labels) <= set(TOPICS)
    assert len(set(labels)) == len(labels)
    assert all(0.0 <= score <= 1.0 for score in scores)
    assert scores == sorted(scores, reverse=True)


def test_mixed_story_gets_two_topics(default_model: TopicModel) -> None:
    labels = [
        label
        for label, _ in default_model.classify(
            "Striker charged with assault after nightclub brawl",
            "The football club said the player would miss the next match while police investigate.",
        )
    ]
    assert {"crime", "sport"} <= set(labels)


def test_text_without_signal_still_gets_one_label(default_model: TopicModel) -> None:
    result = default_model.classify("", "zzzz qqqq")
    assert len(result) >= 1


def test_classify_many_matches_classify(default_model: TopicModel) -> None:
    items = [
        ("Goalkeeper saves a penalty", ""),
        ("", "Inflation figures surprised economists this quarter."),
        ("Quake hits island", "Thousands evacuated as buildings collapsed."),
    ]
    assert default_model.classify_many(items) == [default_model.classify(t, x) for t, x in items]
    assert default_model.classify_many([]) == []
    assert default_model.scores_many(items).shape == (3, len(TOPICS))


def test_prepare_text_repairs_entities_and_cuts_long_bodies() -> None:
    assert prepare_text("It#39;s &amp; more", "", 100) == "It's & more"
    assert prepare_text("T", "x" * 50, 10) == "T\n" + "x" * 10


# --------------------------------------------------------------------------- training
VOCABULARY = {
    "gardening": "tomato seedlings compost pruning greenhouse soil roses mulch hedge bulbs",
    "cooking": "recipe oven simmer garlic sauce bake flour dough saucepan seasoning",
    "sailing": "yacht mainsail harbour keel regatta knots mooring tack dinghy anchor",
}
FILLER = "the a today new local weekend people said many more after with"


def synthetic_rows(per_label: int, seed: int) -> list[dict]:
    """Short documents drawn from per-label vocabularies plus shared filler words."""
    rng = random.Random(seed)
    rows = []
    for label, words in VOCABULARY.items():
        own, shared = words.split(), FILLER.split()
        for _ in range(per_label):
            body = rng.sample(own, 3) + rng.sample(shared, 5)
            rng.shuffle(body)
            rows.append(
                {"title": " ".join(rng.sample(shared, 2)), "text": " ".join(body), "label": label}
            )
    rng.shuffle(rows)
    return rows


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrainReport]:
    out = tmp_path_factory.mktemp("model")
    return out, train(synthetic_rows(20, seed=1), out, folds=4, seed=0)


def test_train_reports_cross_validated_figures(trained_dir: tuple[Path, TrainReport]) -> None:
    _, report = trained_dir
    assert report.rows == 60
    assert report.labels == sorted(VOCABULARY)
    assert report.folds == 4
    assert report.accuracy > 0.9
    assert report.macro_f1 > 0.9
    assert report.seconds > 0


def test_trained_model_round_trips(trained_dir: tuple[Path, TrainReport]) -> None:
    out, _ = trained_dir
    assert sorted(p.name for p in out.iterdir()) == ["model.json", "weights.npz"]
    model = TopicModel.load(out)
    assert model.labels == tuple(sorted(VOCABULARY))
    unseen = synthetic_rows(5, seed=99)
    predicted = [
        labels[0][0] for labels in model.classify_many([(r["title"], r["text"]) for r in unseen])
    ]
    assert np.mean([p == r["label"] for p, r in zip(predicted, unseen, strict=True)]) > 0.9
    again = TopicModel.load(out)
    items = [(r["title"], r["text"]) for r in unseen]
    np.testing.assert_allclose(again.scores_many(items), model.scores_many(items))


def test_weights_file_loads_without_pickle(trained_dir: tuple[Path, TrainReport]) -> None:
    out, _ = trained_dir
    with np.load(out / "weights.npz", allow_pickle=False) as arrays:
        assert all(arrays[name].dtype != object for name in arrays.files)


def test_changed_hashing_is_reported(trained_dir: tuple[Path, TrainReport], tmp_path: Path) -> None:
    out, _ = trained_dir
    for name in ("model.json", "weights.npz"):
        (tmp_path / name).write_bytes((out / name).read_bytes())
    document = json.loads((tmp_path / "model.json").read_text())
    document["hash_probe"] = [0, 1, 2]
    (tmp_path / "model.json").write_text(json.dumps(document))
    with pytest.raises(ValueError, match="hashes text differently"):
        TopicModel.load(tmp_path).classify("a", "b")


def test_load_rejects_a_folder_that_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        TopicModel.load(tmp_path)
    (tmp_path / "model.json").write_text('{"format": "something-else"}')
    (tmp_path / "weights.npz").write_bytes(b"")
    with pytest.raises(ValueError, match="not a newsbot-topic-model"):
        TopicModel.load(tmp_path)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "no training rows"),
        ([{"text": "a b", "label": "x"}] * 5, "at least two labels"),
        ([{"text": "a b", "label": "x"}, {"label": "y"}], "row 2 has no text"),
        ([{"text": "a b", "label": "x"}, {"text": "c d"}], "row 2 has no label"),
        ([{"text": "a", "label": "x"}] * 3 + [{"text": "b", "label": "y"}], "at least 2"),
        (["not a row"], "row 1 is not an object"),
    ],
)
def test_train_rejects_bad_data(rows: list, message: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=message):
        train(rows, tmp_path)
    assert not (tmp_path / "model.json").exists()


# --------------------------------------------------------------------------- JSONL helpers
def test_classify_jsonl_writes_topics_and_skips_broken_lines(
    default_model: TopicModel, caplog: pytest.LogCaptureFixture
) -> None:
    source = io.StringIO(
        json.dumps({"id": "a", "title": "Cup final", "text": "The team won the match."})
        + "\n"
        + "{broken json\n"
        + "\n"
        + json.dumps(["not", "an", "object"])
        + "\n"
        + json.dumps({"id": 7, "title": "No body"})
        + "\n"
        + json.dumps({"id": 8, "text": "Police arrested two men after the robbery."})
        + "\n"
    )
    sink = io.StringIO()
    with caplog.at_level(logging.WARNING):
        written = classify_jsonl(source, sink, default_model)
    assert written == 2
    records = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert [r["id"] for r in records] == ["a", 8]
    assert records[0]["topics"][0] == "sport"
    assert records[1]["topics"][0] == "crime"
    for record in records:
        assert set(record["scores"]) == set(TOPICS)
        best = max(record["scores"], key=record["scores"].get)
        assert record["topics"][0] == best
    assert sum("skipped" in message for message in caplog.messages) == 3


def test_load_training_rows(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n\n{"title": "t", "text": "b", "label": "y"}\n')
    assert load_training_rows(path) == [
        {"text": "a", "label": "x"},
        {"title": "t", "text": "b", "label": "y"},
    ]
    path.write_text('{"text": "a", "label": "x"}\nnot json\n')
    with pytest.raises(ValueError, match=":2: not valid JSON"):
        load_training_rows(path)


# --------------------------------------------------------------------------- transfer and stacking
SPORT_ROWS = [
    "Striker scores twice as United win the derby",
    "Goalkeeper saves penalty in cup semi-final",
    "Midfielder signs four-year contract with the club",
    "Manager praises defence after clean sheet at home",
    "Late header earns draw in the league match",
    "Fans celebrate promotion after final whistle",
]
CRIME_ROWS = [
    "Police arrest man after armed robbery at shop",
    "Detectives charge suspect with murder of pensioner",
    "Court jails burglar for string of break-ins",
    "Officers seize drugs and cash in dawn raid",
    "Judge sentences fraudster to six years in prison",
    "Teenager stabbed outside nightclub, police say",
]


def news_rows() -> list[dict]:
    return [{"text": t, "label": "sport"} for t in SPORT_ROWS] + [
        {"text": t, "label": "crime"} for t in CRIME_ROWS
    ]


@pytest.fixture(scope="module")
def news_model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, Path]:
    dirs = {}
    for transfer in (True, False):
        out = tmp_path_factory.mktemp(f"transfer-{transfer}")
        train(news_rows(), out, folds=3, seed=0, transfer=transfer)
        dirs[transfer] = out
    return dirs


# Stories that share no word with the training rows: only the shipped model knows these words.
UNSEEN = [
    ("Tennis: Wimbledon champion cruises through opening round", "sport"),
    ("Olympic sprinter breaks world record in Tokyo", "sport"),
    ("Cricket captain hits century against Australia", "sport"),
    ("Gang leader convicted of kidnapping and extortion", "crime"),
    ("Homicide investigation opens after body found", "crime"),
    ("Prosecutors indict smuggler on trafficking counts", "crime"),
]


def test_transfer_labels_stories_with_words_the_rows_lack(
    news_model_dirs: dict[bool, Path],
) -> None:
    model = TopicModel.load(news_model_dirs[True])
    assert model.prior is not None
    assert model.meta["member_weights"]["shipped model's topic scores"] > 0
    predicted = [labels[0][0] for labels in model.classify_many([(t, "") for t, _ in UNSEEN])]
    assert predicted == [label for _, label in UNSEEN]


def test_model_with_prior_round_trips(news_model_dirs: dict[bool, Path]) -> None:
    out = news_model_dirs[True]
    document = json.loads((out / "model.json").read_text())
    assert document["version"] == 3
    assert document["prior"]["labels"] == list(TOPICS)
    assert document["word_vectors"]["digest"] == WordVectors.load().digest
    with np.load(out / "weights.npz", allow_pickle=False) as arrays:
        assert {"prior_coef", "prior_map", "prior_feature_index", "word_map"} <= set(arrays.files)
        assert arrays["prior_map"].shape == (len(TOPICS), 2)
        assert arrays["word_map"].shape == (WordVectors.load().feature_count, 2)
    items = [(t, "") for t, _ in UNSEEN]
    first, again = TopicModel.load(out), TopicModel.load(out)
    np.testing.assert_allclose(first.scores_many(items), again.scores_many(items))
    # The prior is a frozen copy: its raw scores match the shipped model's.
    assert first.prior is not None
    np.testing.assert_allclose(
        first.prior.decision(items), TopicModel.load().decision(items), rtol=1e-5, atol=1e-5
    )


def test_train_without_transfer_writes_a_plain_model(news_model_dirs: dict[bool, Path]) -> None:
    out = news_model_dirs[False]
    document = json.loads((out / "model.json").read_text())
    assert document["version"] == 1
    assert "prior" not in document
    assert "word_vectors" not in document
    with np.load(out / "weights.npz", allow_pickle=False) as arrays:
        assert not any(name.startswith(("prior_", "word_")) for name in arrays.files)
    model = TopicModel.load(out)
    assert model.prior is None
    assert model.word_vectors is None


def test_model_without_word_vectors_is_written_and_read_as_version_2(
    news_model_dirs: dict[bool, Path], tmp_path: Path
) -> None:
    """A version 2 model (prior, no word map) still loads and scores as before."""
    full = TopicModel.load(news_model_dirs[True])
    assert full.word_vectors is not None and full.word_map is not None
    items = [(t, "") for t, _ in UNSEEN]
    word_part = (
        full.word_vectors.features([t for t, _ in items], [t for t, _ in items]) @ full.word_map
    )
    without = dataclasses.replace(full, word_vectors=None, word_map=None)
    without.save(tmp_path)
    document = json.loads((tmp_path / "model.json").read_text())
    assert document["version"] == 2
    assert "word_vectors" not in document
    loaded = TopicModel.load(tmp_path)
    assert loaded.prior is not None and loaded.word_vectors is None
    np.testing.assert_allclose(
        loaded.decision(items), full.decision(items) - word_part, rtol=1e-5, atol=1e-5
    )


def test_model_for_other_word_vectors_is_refused(
    news_model_dirs: dict[bool, Path], tmp_path: Path
) -> None:
    out = news_model_dirs[True]
    for name in ("model.json", "weights.npz"):
        (tmp_path / name).write_bytes((out / name).read_bytes())
    document = json.loads((tmp_path / "model.json").read_text())
    document["word_vectors"]["digest"] = "sha256:" + "0" * 64
    (tmp_path / "model.json").write_text(json.dumps(document))
    with pytest.raises(ValueError, match="other word vectors"):
        TopicModel.load(tmp_path)


def test_newer_model_format_is_refused(news_model_dirs: dict[bool, Path], tmp_path: Path) -> None:
    out = news_model_dirs[True]
    for name in ("model.json", "weights.npz"):
        (tmp_path / name).write_bytes((out / name).read_bytes())
    document = json.loads((tmp_path / "model.json").read_text())
    document["version"] = 4
    (tmp_path / "model.json").write_text(json.dumps(document))
    with pytest.raises(ValueError, match="format version 4"):
        TopicModel.load(tmp_path)


def test_folded_model_scores_like_its_stacked_members() -> None:
    """The stacked members fold into one linear model; folding must not change any score."""
    import scipy.sparse as sp

    from bot.pipeline.classify_ensemble import fit_members, stack

    rng = np.random.default_rng(0)
    features = sp.random(60, 40, density=0.2, format="csr", random_state=1, dtype=np.float32)
    targets = np.arange(60) % 3
    prior_scores = rng.normal(size=(60, 5))
    word_features = rng.normal(size=(60, 8)) * 3.0 + 1.0  # not standardised on purpose
    members = fit_members(features, targets, 3, prior_scores, seed=0, word_features=word_features)
    assert members.count == 4
    weights = np.array([0.7, 0.2, 1.3, 0.9])
    coef, intercept, prior_map, word_map = members.fold(weights)
    assert prior_map is not None and word_map is not None
    folded = (
        np.asarray(features @ coef)
        + intercept
        + prior_scores @ prior_map
        + word_features @ word_map
    )
    stacked = stack(members.decide(features, prior_scores, word_features), weights)
    np.testing.assert_allclose(folded, stacked, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="word features"):
        members.decide(features, prior_scores)


def test_word_member_learns_from_word_features_alone() -> None:
    """With uninformative n-grams, the word member's scores carry the labels."""
    import scipy.sparse as sp

    from bot.pipeline.classify_ensemble import fit_members

    rng = np.random.default_rng(1)
    targets = np.arange(90) % 3
    centres = rng.normal(size=(3, 6)) * 2.0
    word_features = centres[targets] + rng.normal(size=(90, 6))
    features = sp.csr_matrix(np.ones((90, 4), np.float32))
    members = fit_members(features, targets, 3, None, seed=0, word_features=word_features)
    assert members.count == 3
    scores = members.decide(features, None, word_features)
    assert np.mean(scores[2].argmax(axis=1) == targets) > 0.9
    np.testing.assert_allclose(scores[2].sum(axis=1), 0.0, atol=1e-9)  # centred


# --------------------------------------------------------------------------- word vectors
TINY_WORDS = ["the", "goal", "striker", "court", "judge", "e-mail", "at&t", "mail"]


def tiny_vectors(path: Path) -> WordVectors:
    """A vocabulary small enough to check by hand: sport words on axis 0, courts on axis 1."""
    matrix = np.zeros((len(TINY_WORDS), 3))
    matrix[[1, 2], 0] = [1.0, 0.5]
    matrix[[3, 4], 1] = [1.0, 0.25]
    matrix[0] = [0.3, 0.3, 0.3]
    matrix[5:, 2] = [1.0, 0.5, -1.0]
    ranks = np.array([0, 500, 9000, 800, 1200, 40000, 300, 3000])
    write_vectors(path, TINY_WORDS, matrix, ranks)
    return WordVectors.load(path)


def test_word_vectors_file_is_deterministic_and_checked(tmp_path: Path) -> None:
    vectors = tiny_vectors(tmp_path / "a.npz")
    tiny_vectors(tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    with np.load(tmp_path / "a.npz", allow_pickle=False) as arrays:
        assert arrays["vectors"].dtype == np.int8
    assert vectors.digest.startswith("sha256:")
    other = tmp_path / "c.npz"
    write_vectors(other, TINY_WORDS, np.eye(len(TINY_WORDS), 3), np.arange(len(TINY_WORDS)))
    assert WordVectors.load(other).digest != vectors.digest


def test_word_vectors_tokenise_like_glove(tmp_path: Path) -> None:
    vectors = tiny_vectors(tmp_path / "v.npz")
    column = vectors.vocabulary
    counts = vectors.counts(["The STRIKER's goal, goal!", "AT&T e-mail; snail-mail", "nothing"])
    assert counts.shape == (3, len(TINY_WORDS))
    # "striker's" is not a word of the list: its parts are looked up instead ("s" is unknown).
    assert counts[0, column["the"]] == 1
    assert counts[0, column["striker"]] == 1
    assert counts[0, column["goal"]] == 2
    assert counts[1, column["at&t"]] == 1
    assert counts[1, column["e-mail"]] == 1
    assert counts[1, column["mail"]] == 1  # from "snail-mail"
    assert counts[2].nnz == 0


def test_word_vectors_weigh_frequent_words_down(tmp_path: Path) -> None:
    vectors = tiny_vectors(tmp_path / "v.npz")
    features = vectors.mean_vectors(["the goal", "the court judge", "the", "no known words"])
    np.testing.assert_allclose(np.linalg.norm(features[:3], axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(features[3], 0.0)
    # "the" (rank 0) is worth far less than "goal" (rank 500), so the story points at sport.
    assert features[0, 0] > 0.95
    assert features[1, 1] > 0.95
    both = vectors.features(["goal"], ["goal\ncourt judge"])
    assert both.shape == (1, vectors.feature_count) == (1, 6)
    assert both[0, 0] > 0.99 and both[0, 4] > both[0, 3] > 0


def test_stacker_gives_a_noise_member_little_weight() -> None:
    from bot.pipeline.classify_ensemble import centre, fit_stack

    rng = np.random.default_rng(0)
    targets = rng.integers(0, 4, size=400)
    informative = centre(np.eye(4)[targets] * 2.0 + rng.normal(size=(400, 4)))
    noise = centre(rng.normal(size=(400, 4)))
    weights = fit_stack(np.stack([informative, noise]), targets)
    assert weights[0] > 0.5
    assert weights[1] < 0.1 * weights[0]


def test_stacker_never_drops_every_member() -> None:
    from bot.pipeline.classify_ensemble import fit_stack

    rng = np.random.default_rng(0)
    targets = rng.integers(0, 2, size=6)
    anti = np.stack([-np.eye(2)[targets]])  # a member that is always wrong out of fold
    np.testing.assert_array_equal(fit_stack(anti, targets), [1.0])
