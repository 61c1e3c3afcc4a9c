"""Unit tests of reprint detection and story clustering, on articles written for these tests."""

from __future__ import annotations

import io
import json
import logging
import random
import sys
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt
import pytest

from bot.pipeline import dedup
from bot.pipeline.dedup import (
    DedupDecision,
    StoryIndex,
    clean_body,
    dedup_jsonl,
    normalize_text,
    tokenize,
)

T0 = datetime(2024, 5, 7, 21, 0, tzinfo=UTC)

FLOOD_TITLE = "Flood barrier fails as River Marle bursts its banks in Eastbrook"
FLOOD = [
    "Hundreds of homes in Eastbrook were evacuated on Tuesday night after the River Marle burst "
    "its banks and a temporary flood barrier on Mill Lane gave way, the county emergency "
    "service said.",
    "Water reached a depth of almost two metres in the lower town, where firefighters used "
    "inflatable boats to rescue 46 residents, including a family of five trapped on the roof "
    "of a bakery.",
    "Council leader Priya Okonjo said the barrier had been installed only last spring at a cost "
    'of £3.2m and had been expected to withstand a once-in-a-century flood. "We will want '
    "answers from the contractor,\" she said. 'Nobody's home should flood twice.'",
    "The Environment Agency had issued a severe flood warning for the Marle valley on Monday "
    "afternoon after three days of heavy rain across the Harrow Hills, where 120mm of rain "
    "fell in 48 hours.",
    "A rest centre has been opened at Eastbrook Community College, and the town's two primary "
    "schools will remain closed until Friday. Network Rail said the line between Eastbrook "
    "and Wellford was also shut.",
    "Residents downstream in Saltmere have been told to prepare sandbags, with the river "
    "expected to peak there early on Wednesday.",
]

REWRITE_TITLE = "Eastbrook residents rescued by boat after Marle flood defences collapse"
REWRITE = [
    "Firefighters in inflatable boats rescued 46 residents of Eastbrook on Tuesday night, after "
    "the temporary flood barrier on Mill Lane gave way when the River Marle burst its banks.",
    "A family of five was found trapped on a bakery roof. Water in the lower town reached "
    "almost two metres and hundreds of homes were evacuated, the county emergency service said.",
    "Council leader Priya Okonjo said the £3.2m barrier, installed last spring, should have "
    "withstood a once-in-a-century flood, and that the council wants answers from the "
    "contractor.",
    "A severe flood warning had been issued for the Marle valley on Monday after heavy rain on "
    "the Harrow Hills. Schools are closed and the Eastbrook to Wellford rail line is shut.",
]

FOLLOW_UP_TITLE = "Eastbrook flood: contractor admits barrier posts were never bolted"
FOLLOW_UP = [
    "The company that built the temporary flood barrier on Mill Lane in Eastbrook has admitted "
    "that two steel anchoring posts were never bolted into the concrete base, a county "
    "inquiry heard on Thursday, two days after the River Marle burst its banks.",
    "On Tuesday night the river burst its banks and the barrier gave way, flooding the lower "
    "town to a depth of almost two metres. Firefighters used inflatable boats to rescue 46 "
    "residents, hundreds of homes were evacuated, schools remain closed and the rail line to "
    "Wellford is shut.",
    "Harlan Civil Engineering told the inquiry that a subcontractor skipped the final "
    "inspection in April because of staff shortages. Its chief executive, Tomasz Wren, "
    "apologised to every household and promised to pay for temporary housing.",
    "Insurers estimate the damage at £41m. More than 300 properties are uninhabitable, and the "
    "Red Cross has set up a second shelter at St Aidan's church hall for families who cannot "
    "stay with relatives.",
    "Council leader Priya Okonjo said the authority would sue to recover the cost of the "
    "barrier and called on ministers to fund permanent defences along the Marle valley before "
    "next winter.",
    "Volunteers from neighbouring villages spent the day clearing mud and ruined furniture, "
    "while engineers pumped water out of a flooded railway cutting near Wellford.",
]

LIBRARY_TITLE = "Eastbrook council approves new library on Mill Lane"
LIBRARY = [
    "Eastbrook council has approved plans for a new public library on Mill Lane, replacing the "
    "Victorian reading room that closed in 2019 because of a leaking roof.",
    "Council leader Priya Okonjo said the £6m building would include a children's wing, a "
    "makerspace with 3D printers and a café run by a local charity.",
    "Construction is due to begin in September and to finish in time for the autumn term of "
    "the following year. The design was chosen after a public vote in which 2,400 people took "
    "part.",
    "Opposition councillors questioned the cost but backed the scheme after the council "
    "secured a grant from the national heritage fund covering half of the budget.",
]

CHESS_TITLE = "Teenager wins Port Selwyn chess open with a round to spare"
CHESS = [
    "Fifteen-year-old Mireille Duval won the Port Selwyn open chess tournament on Sunday, "
    "clinching first place with a round to spare after beating the top seed in 41 moves.",
    "Duval, who learned the game from her grandfather, finished with seven and a half points "
    "from eight games and gains a grandmaster norm.",
    "The organisers said a record 212 players from 19 countries entered this year, with the "
    "prize fund doubled thanks to a new sponsor from the shipping industry.",
]


def body(paragraphs: list[str]) -> str:
    return "\n\n".join(paragraphs)


@pytest.fixture
def index() -> StoryIndex:
    return StoryIndex()


@pytest.fixture
def flood_index(index: StoryIndex) -> StoryIndex:
    decision = index.add("flood", FLOOD_TITLE, body(FLOOD), T0)
    assert decision == DedupDecision(None, "flood", True)
    return index


# ------------------------------------------------------------------------------ normalising


def test_normalize_folds_case_quotes_accents_and_whitespace() -> None:
    assert normalize_text("  Café  “Déjà”\n\tVU ") == normalize_text('cafe "deja" vu')


def test_tokenize_treats_curly_and_straight_apostrophes_alike() -> None:
    assert tokenize("The company’s “plan” — approved") == tokenize(
        'the company\'s "plan" - APPROVED'
    )


def test_clean_body_drops_credit_lines_and_dateline_but_keeps_body() -> None:
    text = (
        "LONDON (Reuters) - The mayor opened the bridge.\n\n"
        "Photo: Getty Images\n"
        "Read more: bridges of the county\n"
        "She said Reuters photographers were welcome at every future opening of a bridge, "
        "a line long enough to be a real paragraph of the article and kept as such."
    )
    stripped = clean_body(text)
    assert stripped.startswith("The mayor opened the bridge.")
    assert "Getty" not in stripped and "Read more" not in stripped
    assert "Reuters photographers" in stripped


# -------------------------------------------------------------------------------- reprints


def _curly(text: str) -> str:
    return text.replace('"', "\u201d").replace("'", "\u2019")


REPRINT_EDITS = {
    "new headline": (REWRITE_TITLE, body(FLOOD)),
    "paragraph dropped": (FLOOD_TITLE, body(FLOOD[:2] + FLOOD[3:])),
    "two paragraphs dropped": (FLOOD_TITLE, body(FLOOD[:4])),
    "paragraph added": (
        FLOOD_TITLE,
        body(
            [
                *FLOOD,
                "Update: the county has asked the army for help with sandbags, and a "
                "helicopter is on standby at Wellford.",
            ]
        ),
    ),
    "boilerplate and dateline": (
        FLOOD_TITLE + " | The Courier",
        "EASTBROOK, England (Reuters) - "
        + body(FLOOD)
        + "\n\nPhoto: AP Photo/J. Smith\nRead more: weather news\n"
        "Copyright 2024 The Courier. All rights reserved.\nFollow us on social media",
    ),
    "quotes, whitespace and case": (
        FLOOD_TITLE.upper(),
        _curly("\n".join("  " + paragraph.replace(". ", ".   ") for paragraph in FLOOD)),
    ),
    "accents": (FLOOD_TITLE, body(FLOOD).replace("Okonjo", "Okonjó").replace("centre", "céntre")),
}


@pytest.mark.parametrize("edit", sorted(REPRINT_EDITS))
def test_reprint_is_detected_after_each_edit(flood_index: StoryIndex, edit: str) -> None:
    title, text = REPRINT_EDITS[edit]
    decision = flood_index.add("copy", title, text, T0 + timedelta(hours=2))
    assert decision == DedupDecision("flood", "flood", False)


def test_reprint_of_a_reprint_names_the_original(flood_index: StoryIndex) -> None:
    flood_index.add("copy-1", FLOOD_TITLE, body(FLOOD[1:]), T0)
    decision = flood_index.add("copy-2", FLOOD_TITLE, _curly(body(FLOOD[1:])), T0)
    assert decision.duplicate_of == "flood"


def test_expanded_brief_is_no_reprint_but_adds_information(index: StoryIndex) -> None:
    index.add("brief", FLOOD_TITLE, body(FLOOD[:1]), T0)
    decision = index.add("full", FLOOD_TITLE, body(FLOOD), T0)
    assert decision.duplicate_of is None
    assert decision.cluster == "brief"
    assert decision.new_information


def test_headline_only_items_are_compared_by_headline(index: StoryIndex) -> None:
    index.add("a", FLOOD_TITLE, "", T0)
    assert index.add("b", "\u201c" + FLOOD_TITLE + "\u201d", "", T0).duplicate_of == "a"
    assert index.add("c", CHESS_TITLE, "", T0).duplicate_of is None


# --------------------------------------------------------------------------------- stories


def test_same_subject_different_article_is_no_reprint(flood_index: StoryIndex) -> None:
    decision = flood_index.add("library", LIBRARY_TITLE, body(LIBRARY), T0)
    assert decision.duplicate_of is None
    assert decision.new_information


def test_unrelated_story_starts_its_own_cluster(flood_index: StoryIndex) -> None:
    assert flood_index.add("chess", CHESS_TITLE, body(CHESS), T0) == DedupDecision(
        None, "chess", True
    )


def test_rewrite_joins_cluster_without_new_information(flood_index: StoryIndex) -> None:
    decision = flood_index.add("rewrite", REWRITE_TITLE, body(REWRITE), T0 + timedelta(hours=1))
    assert decision == DedupDecision(None, "flood", False)


def test_follow_up_with_new_facts_joins_cluster_with_new_information(
    flood_index: StoryIndex,
) -> None:
    decision = flood_index.add("follow", FOLLOW_UP_TITLE, body(FOLLOW_UP), T0 + timedelta(days=2))
    assert decision == DedupDecision(None, "flood", True)


@pytest.mark.parametrize(
    ("min_new_terms", "min_new_share", "expected"),
    [(25, 0.5, True), (500, 0.5, False), (25, 0.95, False), (5, 0.05, True)],
)
def test_new_information_rule_thresholds(
    min_new_terms: int, min_new_share: float, expected: bool
) -> None:
    index = StoryIndex(min_new_terms=min_new_terms, min_new_share=min_new_share)
    index.add("flood", FLOOD_TITLE, body(FLOOD), T0)
    decision = index.add("follow", FOLLOW_UP_TITLE, body(FOLLOW_UP), T0)
    assert decision.cluster == "flood"
    assert decision.new_information is expected


def test_novelty_is_measured_against_the_whole_cluster(flood_index: StoryIndex) -> None:
    flood_index.add("follow", FOLLOW_UP_TITLE, body(FOLLOW_UP), T0)
    # The same facts again, under a new headline and merged with the first report.
    merged = body(FOLLOW_UP[:3] + FLOOD[:3])
    decision = flood_index.add("merged", "Eastbrook latest", merged, T0)
    assert decision.cluster == "flood"
    assert not decision.new_information


# ---------------------------------------------------------------------------------- window


def test_window_bounds_comparison_by_published_time() -> None:
    index = StoryIndex(window_hours=72)
    index.add("flood", FLOOD_TITLE, body(FLOOD), T0)
    late = index.add("late", FLOOD_TITLE, body(FLOOD), T0 + timedelta(hours=73))
    assert late == DedupDecision(None, "late", True)
    inside = index.add("inside", FLOOD_TITLE, body(FLOOD), T0 + timedelta(hours=71))
    assert inside.duplicate_of == "flood"


def test_prune_drops_old_stories_and_forgets_them() -> None:
    index = StoryIndex(window_hours=24)
    index.add("flood", FLOOD_TITLE, body(FLOOD), T0)
    index.add("chess", CHESS_TITLE, body(CHESS), T0 + timedelta(hours=20))
    assert index.prune(T0 + timedelta(hours=25)) == 1
    assert len(index) == 1 and "flood" not in index
    assert index.prune(T0 + timedelta(hours=25)) == 0
    again = index.add("flood-again", FLOOD_TITLE, body(FLOOD), T0 + timedelta(hours=1))
    assert again.duplicate_of is None
    _assert_indexes_hold_exactly(index)


def _assert_indexes_hold_exactly(index: StoryIndex) -> None:
    """The slots, band buckets, postings and term frequencies are those of the stories indexed."""
    slots = sorted(index._slot_of.values())
    assert slots == sorted(
        slot for slot, story_id in enumerate(index._story_ids) if story_id is not None
    )
    assert all(index._story_ids[slot] == story_id for story_id, slot in index._slot_of.items())
    free = sorted(index._free_slots)
    assert free == sorted(set(range(len(index._story_ids))) - set(slots))
    for slot in free:  # a free slot holds nothing that a look-up could pick up
        assert not index._shingles_of(slot).size and not index._terms_of(slot).size
        assert np.isnan(index._times[slot])
    bands = sorted(index._bands.pairs())
    assert bands == sorted(
        (key, slot)
        for slot in slots
        if index._shingles_of(slot).size
        for key in index._band_keys(index._stored_signatures(np.array([slot]))[0]).tolist()
    )
    assert len(index._bands) == len(bands)
    # A bucket of the recent entries is a bare slot, or a list of two or more.
    assert all(isinstance(value, int) or len(value) >= 2 for value in index._bands.recent.values())
    postings = sorted((term, slot) for term, posting in index._postings.items() for slot in posting)
    assert postings == sorted(
        (term, slot) for slot in slots for term in index._key_terms_of(slot).tolist()
    )
    frequencies = np.zeros_like(index._vocabulary.df)
    for slot in slots:
        frequencies[index._terms_of(slot)] += 1
    assert index._vocabulary.df.tolist() == frequencies.tolist()


def test_indexes_stay_exact_through_pruning_and_forgotten_words() -> None:
    """Slots and term ids are reused after pruning; decisions must not change because of it.

    A limit of a few thousand terms, about twice what the window holds, makes the index
    forget the terms no story has (and free their ids) several times over the run.
    """
    rng = random.Random(5)
    words = [f"w{number}" for number in range(12000)]
    articles = [" ".join(rng.choices(words, k=120)) for _ in range(60)]
    small = StoryIndex(window_hours=2)
    small._vocabulary.limit = 5000
    large = StoryIndex(window_hours=2)
    # Band entries merged into the sorted arrays every few stories instead of every ~1,600:
    # look-ups through the filter and the arrays, removals leaving holes, merges dropping them.
    merging = StoryIndex(window_hours=2)
    merging._bands.min_recent = 100
    holes = 0
    for number in range(240):
        text = articles[rng.randrange(len(articles))]
        when = T0 + timedelta(minutes=10 * number)
        decisions = [index.add(f"s{number}", "", text, when) for index in (small, large, merging)]
        assert decisions[0] == decisions[1] == decisions[2]
        if number % 7 == 0:
            assert small.prune(when) == large.prune(when) == merging.prune(when)
            _assert_indexes_hold_exactly(small)
            _assert_indexes_hold_exactly(merging)
            holes = max(holes, merging._bands.removed)
    assert merging._bands.keys.size and holes
    assert small._vocabulary.generation > 0
    assert small._vocabulary.known.size <= small._vocabulary.limit == 5000
    # Term ids were reused: fewer were handed out than there are distinct terms.
    assert small._vocabulary.next_id < large._vocabulary.next_id == large._vocabulary.known.size
    _assert_indexes_hold_exactly(small)
    _assert_indexes_hold_exactly(large)


def test_crowded_band_buckets_grow_and_shrink_exactly() -> None:
    """Many copies of one text share every band bucket: past a few copies it becomes a list."""
    index = StoryIndex(window_hours=1)
    for number in range(40):
        decision = index.add(f"c{number}", FLOOD_TITLE, body(FLOOD), T0 + timedelta(minutes=number))
        assert decision.duplicate_of == (None if number == 0 else "c0")
    assert any(
        isinstance(bucket, list) and len(bucket) == 40 for bucket in index._bands.recent.values()
    )
    _assert_indexes_hold_exactly(index)
    for minutes in (75, 90, 99, 100):
        index.prune(T0 + timedelta(minutes=minutes))
        _assert_indexes_hold_exactly(index)
    assert len(index) == 0 and not len(index._bands) and not index._postings


def test_story_without_time_uses_clock_then_arrival_order() -> None:
    now = [T0]
    clocked = StoryIndex(window_hours=1, clock=lambda: now[0])
    clocked.add("flood", FLOOD_TITLE, body(FLOOD))
    now[0] = T0 + timedelta(hours=3)
    assert clocked.add("copy", FLOOD_TITLE, body(FLOOD)).duplicate_of is None

    arrival = StoryIndex(window_hours=1)
    arrival.add("chess", CHESS_TITLE, body(CHESS), T0)
    arrival.add("flood", FLOOD_TITLE, body(FLOOD))  # takes the newest time seen: T0
    assert arrival.add("copy", FLOOD_TITLE, body(FLOOD), T0 + timedelta(minutes=30)).duplicate_of
    assert arrival.prune(T0 + timedelta(hours=2)) == 3


def test_story_never_timed_expires_one_window_after_first_prune() -> None:
    index = StoryIndex(window_hours=1)
    index.add("flood", FLOOD_TITLE, body(FLOOD))
    assert index.prune(T0) == 0
    assert index.prune(T0 + timedelta(hours=2)) == 1


# --------------------------------------------------------------------------------- restore


def test_restore_keeps_known_cluster_without_deciding(index: StoryIndex) -> None:
    index.restore("flood", FLOOD_TITLE, body(FLOOD), T0, "cluster-7")
    assert index.cluster_of("flood") == "cluster-7"
    reprint = index.add("copy", REWRITE_TITLE, body(FLOOD[1:]), T0)
    assert reprint == DedupDecision("flood", "cluster-7", False)
    rewrite = index.add("rewrite", REWRITE_TITLE, body(REWRITE), T0)
    assert rewrite.cluster == "cluster-7"


def _filler_stories(count: int) -> list[tuple[str, str]]:
    """Distinct stories of made-up words, unrelated to the articles above (seeded)."""
    rng = random.Random(5)
    syllables = ["ka", "lo", "mi", "ren", "tu", "sha", "vo", "dre", "pli", "nor", "ux", "zei"]
    words = sorted({"".join(rng.choices(syllables, k=3)) for _ in range(3000)})
    stories = []
    for _ in range(count):
        sentences = [" ".join(rng.choices(words, k=15)) + "." for _ in range(8)]
        stories.append((" ".join(rng.choices(words, k=6)), body(sentences)))
    return stories


def test_restore_is_at_least_as_fast_as_add() -> None:
    stories = _filler_stories(300)
    adding, restoring = StoryIndex(), StoryIndex()
    adding.add("warm", CHESS_TITLE, body(CHESS), T0)  # load stop words outside the timing
    started = time.process_time()
    for number, (title, text) in enumerate(stories):
        adding.add(str(number), title, text, T0)
    add_seconds = time.process_time() - started
    started = time.process_time()
    for number, (title, text) in enumerate(stories):
        restoring.restore(str(number), title, text, T0, str(number))
    restore_seconds = time.process_time() - started
    assert restore_seconds <= add_seconds * 1.2  # margin for timer noise


def test_candidates_come_from_the_index_not_a_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    index = StoryIndex()
    for number, (title, text) in enumerate(_filler_stories(400)):
        index.restore(str(number), title, text, T0, str(number))
    exact_checks = []
    real = dedup._intersection_size

    def counting(left: object, right: object) -> int:
        exact_checks.append(1)
        return real(left, right)  # type: ignore[arg-type]

    monkeypatch.setattr(dedup, "_intersection_size", counting)
    index.add("chess", CHESS_TITLE, body(CHESS), T0)
    assert len(exact_checks) < 20


def test_adding_an_indexed_id_again_is_refused(flood_index: StoryIndex) -> None:
    with pytest.raises(ValueError, match="already indexed"):
        flood_index.add("flood", FLOOD_TITLE, body(FLOOD), T0)


# ----------------------------------------------------------------------------- JSON Lines


def test_dedup_jsonl_writes_one_line_per_story_and_skips_broken_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lines = [
        json.dumps(
            {
                "id": "a",
                "title": FLOOD_TITLE,
                "text": body(FLOOD),
                "published": "2024-05-07T21:00:00Z",
            }
        ),
        "{not json",
        json.dumps({"id": "b", "title": REWRITE_TITLE, "text": body(FLOOD[:4])}),
        json.dumps({"title": "no id"}),
        json.dumps(
            {
                "id": "c",
                "title": REWRITE_TITLE,
                "text": body(REWRITE),
                "published": "2024-05-07T23:00:00+00:00",
            }
        ),
        json.dumps({"id": "a", "title": "repeat", "text": "repeat"}),
        "",
        json.dumps({"id": 4, "title": CHESS_TITLE, "text": body(CHESS), "published": None}),
        json.dumps(
            {"id": "d", "title": CHESS_TITLE, "text": body(CHESS), "published": "yesterday"}
        ),
    ]
    out = io.StringIO()
    with caplog.at_level(logging.WARNING, logger="bot.pipeline.dedup"):
        written = dedup_jsonl(io.StringIO("\n".join(lines) + "\n"), out, window_hours=72)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert written == len(rows) == 4
    assert rows == [
        {"id": "a", "duplicate_of": None, "cluster": "a"},
        {"id": "b", "duplicate_of": "a", "cluster": "a"},
        {"id": "c", "duplicate_of": None, "cluster": "a"},
        {"id": "4", "duplicate_of": None, "cluster": "4"},
    ]
    skipped = [record for record in caplog.records if "skipping line" in record.getMessage()]
    assert [record.getMessage().split(":")[1].split()[-1] for record in skipped] == [
        "2",
        "4",
        "6",
        "9",
    ]


def test_dedup_jsonl_respects_the_window() -> None:
    lines = [
        json.dumps(
            {
                "id": "a",
                "title": FLOOD_TITLE,
                "text": body(FLOOD),
                "published": "2024-05-01T00:00:00+00:00",
            }
        ),
        json.dumps(
            {
                "id": "b",
                "title": FLOOD_TITLE,
                "text": body(FLOOD),
                "published": "2024-05-03T00:00:00+00:00",
            }
        ),
    ]
    out = io.StringIO()
    dedup_jsonl(io.StringIO("\n".join(lines)), out, window_hours=24)
    assert [json.loads(line)["duplicate_of"] for line in out.getvalue().splitlines()] == [
        None,
        None,
    ]


# ------------------------------------------------------------------------- vectorised hashing


def _word_hash(word: str) -> int:
    return int(dedup._spans(dedup._word_bytes(word)).hashes[0])


@pytest.mark.parametrize(
    ("title", "text"),
    [
        (FLOOD_TITLE, body(FLOOD)),
        ("", body(CHESS)),
        (CHESS_TITLE, ""),
        ("", ""),
        ("Naïve “résumés”", "Die Straße ß 2 a bus gases crisis Greeks ελληνικάς 日本s 日本語s x 7"),
    ],
)
def test_vectorised_tokens_match_the_scalar_rules(title: str, text: str) -> None:
    index = StoryIndex()
    index.fingerprints([("Greeks", "the court")])  # some words known before, some learned now
    (fingerprint,) = index.fingerprints([(title, text)])
    title_words, body_words = tokenize(title), tokenize(clean_body(text))
    words = title_words + body_words
    shingled = body_words if len(body_words) >= 12 else words
    expected_shingles = dedup.shingle_hashes(
        np.array([_word_hash(word) for word in shingled], dtype=np.uint64)
    )
    assert fingerprint.shingles.tolist() == expected_shingles.tolist()
    expected_terms = {
        _word_hash(term) >> 32 for word in words if (term := dedup.content_term(word)) is not None
    }
    # Sorted distinct term ids; a term has one id whichever word it comes from ("gases" and
    # "gase" are one term).
    assert fingerprint.terms.tolist() == sorted(set(fingerprint.terms.tolist()))
    assert set(index._vocabulary.term_hash[fingerprint.terms].tolist()) == expected_terms
    assert len(fingerprint.terms) == len(expected_terms)


BATCH_STORIES = [
    (FLOOD_TITLE, body(FLOOD)),
    ("", ""),
    ("Quake", ""),  # one token in all
    ("Quake hits", ""),  # two
    (CHESS_TITLE, "Short body of a few words only."),  # shingled with its headline
    ("", body(CHESS)),
    ("Naïve “résumés”", "Die Straße ß 2 a bus gases crisis Greeks ελληνικάς 日本s 日本語s x 7"),
    (REWRITE_TITLE, body(REWRITE)),
    (FLOOD_TITLE, body(FLOOD)),  # the same text twice in one batch
]


def test_batch_fingerprints_equal_one_at_a_time() -> None:
    batched, single = StoryIndex(), StoryIndex()
    in_batch = batched.fingerprints(BATCH_STORIES)
    one_by_one = [single.fingerprints([story])[0] for story in BATCH_STORIES]
    for left, right in zip(in_batch, one_by_one, strict=True):
        assert left.shingles.tolist() == right.shingles.tolist()
        assert left.signature.tolist() == right.signature.tolist()
        assert left.band_keys.tolist() == right.band_keys.tolist()
        # Term ids depend on the order words were learnt; the terms they stand for do not.
        assert sorted(batched._vocabulary.term_hash[left.terms].tolist()) == sorted(
            single._vocabulary.term_hash[right.terms].tolist()
        )
    # A story without words has no shingles, and a signature that matches nothing real.
    assert in_batch[1].shingles.size == 0 and in_batch[1].terms.size == 0
    assert in_batch[2].shingles.size == 1 and in_batch[3].shingles.size == 1


def test_add_many_decides_as_add_does_one_by_one() -> None:
    stories = [
        (f"s{number}", title, text, T0 + timedelta(minutes=number))
        for number, (title, text) in enumerate(
            [
                *BATCH_STORIES,
                (FOLLOW_UP_TITLE, body(FOLLOW_UP)),
                (LIBRARY_TITLE, body(LIBRARY)),
                *REPRINT_EDITS.values(),
            ]
        )
    ]
    batched, single = StoryIndex(), StoryIndex()
    decisions = batched.add_many(stories[:5]) + batched.add_many(stories[5:])
    assert decisions == [single.add(*story) for story in stories]
    # Stories of one batch see each other: the repeated flood text reprints the first.
    assert decisions[8].duplicate_of == "s0"


def _assert_same_terms(index: StoryIndex, reference: StoryIndex, story_id: str) -> None:
    terms = index._terms_of(index._slot_of[story_id])
    expected = reference._terms_of(reference._slot_of[story_id])
    assert sorted(index._vocabulary.term_hash[terms].tolist()) == sorted(
        reference._vocabulary.term_hash[expected].tolist()
    )


def test_a_fingerprint_made_before_terms_were_forgotten_is_worked_out_again() -> None:
    index = StoryIndex()
    index._vocabulary.limit = 200
    (stale,) = index.fingerprints([(FLOOD_TITLE, body(FLOOD))])
    # More new terms than the limit: the vocabulary forgets, and the flood's term ids (no
    # story has them yet) are handed to the terms learnt now.
    index.fingerprints([(FOLLOW_UP_TITLE, body(FOLLOW_UP) + body(LIBRARY))])
    assert stale.generation != index._vocabulary.generation
    index.add("flood", FLOOD_TITLE, body(FLOOD), T0, fingerprint=stale)
    reference = StoryIndex()
    reference.add("flood", FLOOD_TITLE, body(FLOOD), T0)
    _assert_same_terms(index, reference, "flood")
    _assert_indexes_hold_exactly(index)


def test_a_fingerprint_from_another_index_is_worked_out_again() -> None:
    index, reference = StoryIndex(), StoryIndex()
    for each in (index, reference):
        each.add("flood", FLOOD_TITLE, body(FLOOD), T0)
    (foreign,) = StoryIndex().fingerprints([(CHESS_TITLE, body(CHESS))])
    index.add("chess", CHESS_TITLE, body(CHESS), T0, fingerprint=foreign)
    reference.add("chess", CHESS_TITLE, body(CHESS), T0)
    _assert_same_terms(index, reference, "chess")
    _assert_indexes_hold_exactly(index)


def test_dedup_jsonl_decides_across_its_reading_batches() -> None:
    # More stories than one reading batch: a reprint in the second batch names a story of
    # the first.
    filler = _filler_stories(dedup._JSONL_BATCH + 5)
    lines = [
        json.dumps({"id": f"f{number}", "title": title, "text": text})
        for number, (title, text) in enumerate(filler)
    ]
    lines.append(json.dumps({"id": "again", "title": "New headline", "text": filler[3][1]}))
    out = io.StringIO()
    assert dedup_jsonl(io.StringIO("\n".join(lines) + "\n"), out) == len(lines)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert rows[-1] == {"id": "again", "duplicate_of": "f3", "cluster": "f3"}
    assert all(row["duplicate_of"] is None for row in rows[:-1])


# ------------------------------------------------------------------- one-permutation MinHash


def _signature(index: StoryIndex, shingles: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
    """The index's signature of one story's sorted shingle hashes (a batch of one)."""
    return index._signatures_of(shingles.astype(np.uint64), shingles, [0, shingles.size])[0]


def _reference_signature(index: StoryIndex, shingles: list[int]) -> list[int]:
    """The signature by its definition: each bin's smallest hash, else the next filled bin's."""
    starts = index._bin_starts.tolist()
    bins = len(starts)
    ends = [*starts[1:], 2**32]
    smallest: list[int | None] = [
        min((value for value in shingles if start <= value < end), default=None)
        for start, end in zip(starts, ends, strict=True)
    ]
    signature = []
    for position in range(bins):
        step = 0
        while smallest[(position + step) % bins] is None:
            step += 1
        value = smallest[(position + step) % bins]
        assert value is not None
        signature.append(value)
    return signature


@pytest.mark.parametrize("count", [1, 2, 7, 119, 400, 3000])
def test_signature_matches_its_definition(count: int) -> None:
    index = StoryIndex()
    rng = random.Random(count)
    values = {rng.randrange(2**32) for _ in range(count)}
    # Hashes on the edges of bins are where an off-by-one would show.
    values |= {index._bin_starts[5].item(), index._bin_starts[9].item() - 1, 2**32 - 1}
    shingles = sorted(values)
    signature = _signature(index, np.array(shingles, dtype=np.uint32))
    assert signature.tolist() == _reference_signature(index, shingles)


def test_signature_agreement_tracks_jaccard_similarity() -> None:
    index = StoryIndex()
    rng = random.Random(3)
    shared = {rng.randrange(2**32) for _ in range(1500)}
    left = np.array(sorted(shared | {rng.randrange(2**32) for _ in range(750)}), dtype=np.uint32)
    right = np.array(sorted(shared | {rng.randrange(2**32) for _ in range(750)}), dtype=np.uint32)
    jaccard = len(shared) / (len(shared) + 1500)  # 0.5
    agreement = float(np.mean(_signature(index, left) == _signature(index, right)))
    # 120 bins: the standard deviation of the estimate is about 0.05.
    assert abs(agreement - jaccard) < 0.15


def test_equally_similar_stories_are_decided_by_rank_not_by_float_noise() -> None:
    # Two earlier stories with the same content words in another order (so no reprints of
    # each other) and different clusters: a rewrite that matches both equally joins the one
    # ranked first (the earlier, among as many shared keys), whatever the batch sizes.
    words = [
        "Marle",
        "Eastbrook",
        "barrier",
        "Okonjo",
        "contractor",
        "Wellford",
        "sandbags",
        "inquiry",
        "Harlan",
        "Saltmere",
        "bakery",
        "firefighters",
        "evacuated",
        "insurers",
    ]
    first = " ".join(words * 2) + "."
    second = " ".join(list(reversed(words)) * 2) + "."
    rewrite = " ".join(words[::2] + words[1::2]) + "."
    for batch in (1, 3):
        index = StoryIndex()
        index.restore("a", "", first, T0, "cluster-a")
        index.restore("b", "", second, T0, "cluster-b")
        stories = [(f"r{number}", "", rewrite, T0) for number in range(batch)]
        decisions = index.add_many(stories)
        assert decisions[0] == DedupDecision(None, "cluster-a", False)


def _deep_bytes(value: object, seen: set[int]) -> int:
    """Bytes held by ``value`` and everything it refers to (each object counted once);
    numpy arrays by their data, whether they own it or not (band arrays are mapped)."""
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if isinstance(value, np.ndarray):
        return value.nbytes + 112
    size = sys.getsizeof(value)
    if isinstance(value, dict):
        size += sum(_deep_bytes(k, seen) + _deep_bytes(v, seen) for k, v in value.items())
    elif isinstance(value, list | tuple | set | frozenset):
        size += sum(_deep_bytes(item, seen) for item in value)
    elif isinstance(value, dedup._BandIndex | dedup._Vocabulary):
        size += _deep_bytes(vars(value), seen)
    return size


def test_index_memory_per_story_stays_within_budget() -> None:
    """The window's index must leave room in one process for the matcher and the rest.

    The budget is 500 MB for a process with 100,000 stories in the window and 100,000
    subscriptions. On these 5,000 stories of ~160 words the index took ~7,100 bytes a story
    while its band buckets were a dict of Python ints and its per-story arrays numpy arrays,
    and ~4,100 with the numpy band index and bytes (of which ~800 are signature rows
    allocated ahead, which the process only pays for once written). Counted from the index's own structures, not the process RSS, so that other
    allocations cannot make it flaky.
    """
    rng = random.Random(3)
    vocabulary = [f"w{number}" for number in range(30000)]
    index = StoryIndex()
    stories = [
        (
            f"s{number}",
            " ".join(rng.choices(vocabulary, k=8)),
            " ".join(rng.choices(vocabulary, k=150)),
            T0 + timedelta(seconds=number),
            f"s{number}",
        )
        for number in range(5_000)
    ]
    for start in range(0, len(stories), 500):
        index.restore_many(stories[start : start + 500])
    assert len(index) == 5_000
    per_story = _deep_bytes(vars(index), set()) / len(index)
    assert per_story < 4500, f"{per_story:.0f} bytes per story"
