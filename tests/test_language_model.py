"""The compact language detector answers exactly as py3langid's own identifier does.

``bot.pipeline.language`` keeps py3langid's naive Bayes weights but replaces its byte
automaton (39 MB of transitions) with a table of the bytes each state spells; these tests
check the premise (every transition goes to the longest suffix that is a state) and the
result (the same language and the same probability, to the bit).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from bot.pipeline.language import _LENGTH_SHIFT, NEWS_LANGUAGES, _identifier, _spellings


@pytest.fixture(scope="module")
def reference() -> LanguageIdentifier:
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(NEWS_LANGUAGES))
    return identifier


def test_every_transition_goes_to_the_longest_suffix_that_is_a_state(
    reference: LanguageIdentifier,
) -> None:
    nextmove = np.asarray(reference.tk_nextmove).reshape(-1, 256)
    rows = np.asarray(reference.tk_row).astype(np.intp)
    spelled, lengths = _spellings(nextmove, rows)
    assert (lengths >= 0).all(), "a state the walk from the start never reaches"
    keys = spelled | (lengths.astype(np.uint64) << _LENGTH_SHIFT)
    order = np.argsort(keys)
    ordered = keys[order]
    assert np.unique(ordered).size == ordered.size, "two states spell the same bytes"
    depth = int(lengths.max())
    assert depth <= 7, "a state spells more bytes than a key holds"
    for start in range(0, rows.size, 8192):
        states = np.arange(start, min(rows.size, start + 8192))
        moved = (spelled[states, None] << np.uint64(8)) | np.arange(256, dtype=np.uint64)
        expected = nextmove[rows[states]]
        got = np.zeros(expected.shape, dtype=np.int64)  # the start state when nothing matches
        done = np.zeros(expected.shape, dtype=bool)
        for length in range(depth, 0, -1):
            tagged = (moved & np.uint64((1 << (8 * length)) - 1)) | (
                np.uint64(length) << _LENGTH_SHIFT
            )
            at = np.minimum(np.searchsorted(ordered, tagged), ordered.size - 1)
            hit = (ordered[at] == tagged) & (lengths[states, None] + 1 >= length) & ~done
            got[hit] = order[at[hit]]
            done |= hit
        assert np.array_equal(got, expected), f"a transition of states {start}.. differs"


def _texts(shared_data: Path) -> list[str]:
    texts = []
    for name in ("bbc_news/bbc_news.dev.jsonl", "ag_news/ag_news_test.dev.jsonl"):
        with (shared_data / name).open(encoding="utf-8") as lines:
            for line in lines:
                row = json.loads(line)
                texts.append(f"{row.get('title') or ''}. {(row.get('text') or '')[:600]}")
    random.Random(2).shuffle(texts)
    return texts[:1500]


def _random_texts(count: int) -> list[str]:
    rng = random.Random(4)
    alphabet = (
        "abcdefghijklmnopqrstuvwxyzäöüßéèñçøåłżš АБВГДабвгдежзийклмнопрстуфхцчшщыэюя "
        "αβγδεζηθικλ 東京中文日本語한국어 עברית العربية हिन्दी .,!?-'\n0123456789😀ABCDEFGHIJ"
    )
    return ["".join(rng.choice(alphabet) for _ in range(rng.randrange(300))) for _ in range(count)]


EDGE_CASES = ["", "A", "ALL CAPITALS TURN LOWER CASE FIRST", "e\u0301 decomposed", "\udc80 lone"]


def test_detection_is_py3langids_on_random_and_edge_case_texts(
    reference: LanguageIdentifier,
) -> None:
    for text in _random_texts(1500) + EDGE_CASES:
        assert _identifier().classify(text) == reference.classify(text), repr(text)


def test_detection_is_py3langids_on_news_texts(
    reference: LanguageIdentifier, shared_data: Path
) -> None:
    for text in _texts(shared_data):
        assert _identifier().classify(text) == reference.classify(text), text[:80]


def test_the_detector_holds_a_fraction_of_py3langids_automaton() -> None:
    detector = _identifier()
    tables = (
        detector.table_keys.nbytes + detector.table_outputs.nbytes + detector.short_outputs.nbytes
    )
    assert tables < 12_000_000  # py3langid's transitions alone take 39 MB
