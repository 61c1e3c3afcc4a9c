"""Memory: the per-story pools of the dedup index, and a loose guard on a whole process.

The guard runs ``benchmarks.process_memory`` at a tenth of its default size in a subprocess and
checks the resident memory it prints against bounds well above today's figures (see
docs/operations.md): it is there to catch a step back, such as a library imported again by
the code that runs for every story, or per-story storage several times larger, not to time
anything.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.pipeline.dedup import _Pool

ROOT = Path(__file__).resolve().parents[1]


def test_a_pool_gives_back_what_each_slot_holds_through_reuse_and_compaction() -> None:
    pool = _Pool(np.uint32)
    rng = random.Random(8)
    expected: dict[int, np.ndarray] = {}
    free: list[int] = []
    compactions = 0
    for step in range(4000):
        if expected and rng.random() < 0.45:
            slot = rng.choice(list(expected))
            pool.clear(slot)
            del expected[slot]
            free.append(slot)
            continue
        values = np.arange(rng.randrange(0, 400), dtype=np.uint32) * np.uint32(step + 1)
        slot = free.pop() if free and rng.random() < 0.8 else len(pool.starts)
        if slot in free:
            free.remove(slot)
        before = pool.data
        pool.store(slot, values)
        compactions += pool.data is not before
        expected[slot] = values
        for check in rng.sample(list(expected), min(5, len(expected))):
            assert np.array_equal(pool.values(check), expected[check])
    assert compactions >= 3
    for slot, values in expected.items():
        assert np.array_equal(pool.values(slot), values)
        assert bytes(pool[slot]) == values.tobytes()
    for slot in free:
        assert pool.values(slot).size == 0 and not pool[slot]
    # Garbage never outgrows the live values by much: copies drop it.
    live = sum(values.size for values in expected.values())
    assert pool.end - pool.garbage == live
    assert pool.data.size <= max(2 * live + 400, 1 << 16)


def _rss_lines(output: str) -> dict[str, float]:
    found = {}
    for line in output.splitlines():
        match = re.match(r"(.+?)\s+RSS\s+([\d.]+) MiB", line)
        if match:
            found[match.group(1).strip()] = float(match.group(2))
    return found


def test_a_process_with_models_window_and_matcher_stays_within_loose_bounds(
    shared_data: Path,
) -> None:
    del shared_data  # the benchmark reads it; the fixture skips when it is absent
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.process_memory",
            "--window-stories",
            "10000",
            "--subscriptions",
            "10000",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    steps = _rss_lines(result.stdout)
    models = steps["topic and language models loaded and used"]
    index = steps["dedup index with 10000 stories"]
    matcher = steps["matcher with 10000 subscriptions"]
    # Today ~107 MiB (numpy, SciPy's sparse matrices, the two models); with scikit-learn's
    # text module or py3langid's own automaton loaded it was ~200.
    assert models < 150, result.stdout
    # Today ~35 MiB for 10,000 stories, and ~11 for 10,000 subscriptions.
    assert index - models < 80, result.stdout
    assert matcher - index < 40, result.stdout


@pytest.mark.parametrize("module", ["bot.pipeline.classify", "bot.pipeline.language"])
def test_the_models_modules_import_neither_scikit_learn_nor_py3langid(module: str) -> None:
    """Both are imported only when a model is trained or first loaded, never at import."""
    script = (
        f"import sys, {module}\n"
        "print(sorted({name.split('.')[0] for name in sys.modules} & {'sklearn', 'py3langid'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_signatures_from_the_ring_and_from_the_shingles_agree() -> None:
    """The index keeps the signatures of recent stories only; the others are recomputed."""
    from bot.pipeline.dedup import _RECENT_SIGNATURES, StoryIndex

    rng = random.Random(11)
    words = [f"w{n}" for n in range(3000)]
    index = StoryIndex()
    count = _RECENT_SIGNATURES + 600
    index.restore_many(
        [
            (
                f"s{n}",
                f"title {n}",
                " ".join(rng.choices(words, k=rng.randrange(5, 80))),
                None,
                f"s{n}",
            )
            for n in range(count)
        ]
    )
    slots = np.array(sorted(index._slot_of.values()))
    from_ring = index._stored_signatures(slots)
    ring_rows = index._recent_sequence.copy()
    index._recent_sequence[:] = -1  # forget the ring: every signature is recomputed
    recomputed = index._stored_signatures(slots)
    index._recent_sequence[:] = ring_rows
    assert np.array_equal(from_ring, recomputed)
    assert (index._recent_sequence >= 0).all()  # the ring was in use: both paths were run
