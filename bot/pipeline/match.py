"""Match stories against many subscription queries at once.

:class:`Matcher` compiles every active subscription into an index so that the work per story
depends on the words of the story and on the subscriptions that can match it, not on the number
of subscriptions:

* the story is tokenised once; its distinct words, topics, source and language become integer
  term ids through dict look-ups, and multi-word phrases and ``prefix*`` terms through two
  Aho-Corasick automata (pyahocorasick) run over the normalised token stream;
* all postings sit in one CSR array of integer codes; the codes of the present terms are
  gathered and sorted in a few numpy calls, with no Python loop over terms, and their ranges
  give one-term matches, satisfied groups, exclusions and candidates to test;
* most queries are "grouped": required groups of terms (a group is one term or an OR of
  terms) plus excluded terms, e.g. ``flood``, ``a b -c``, ``-sport``,
  ``(a OR "b c") source:bbc``. A query matches when all its groups are satisfied (counted as
  runs of consecutive group ids) and none of its excluded terms is present. Results are
  prebuilt: one per query without OR, and for a grouped OR query one per subset of its
  positive terms (its reasons are the displays of those found in the story), picked by a
  bitmask computed in the same numpy pass; the result list is then one gather from an object
  array, with no Python code per match;
* the few other queries (OR over AND, nested NOT, ALL-CAPS phrases) are reached through
  postings of their "anchors" (:func:`bot.pipeline.query.anchor_leaves`: terms of which at
  least one must occur in any story the query matches), or always checked when they have
  none, and evaluated with closures compiled from their AST.

:func:`naive_match` is the reference: it walks every subscription's AST directly. Tests and the
benchmark check that both give exactly the same results.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass

import ahocorasick
import numpy as np

from bot.pipeline.query import (
    And,
    Field,
    Leaf,
    Node,
    Not,
    Or,
    Phrase,
    Query,
    TextAnalysis,
    Word,
    analyze_text,
    anchor_leaves,
    fold,
    leaves,
    text_tokens,
)

__all__ = ["MatchResult", "Matcher", "StoryFeatures", "naive_match"]


@dataclass(frozen=True)
class StoryFeatures:
    """What the matcher needs to know about a story."""

    title: str
    text: str
    topics: tuple[str, ...] = ()
    source: str = ""
    lang: str = ""


@dataclass(frozen=True)
class MatchResult:
    """A subscription that matched, and the terms that made it match as the user wrote them
    (words, phrases, ``prefix*`` and ``field:value`` filters; never terms under NOT)."""

    subscription_id: int
    reasons: tuple[str, ...]


# ---------------------------------------------------------------------------------------------
# Story-side helpers shared by both evaluators (field semantics live in one place)
# ---------------------------------------------------------------------------------------------


def _fold_label(label: str) -> str:
    """Comparison form of topics and field values: folded, whitespace collapsed."""
    return " ".join(fold(label).split())


def _lang_matches(field: Field, story_lang: str) -> bool:
    """``lang:en`` matches en, en-GB, en_US; ``lang:en-gb`` matches only en-GB."""
    wanted = field.folded.replace("_", "-")
    have = _fold_label(story_lang).replace("_", "-")
    return have == wanted or ("-" not in wanted and have.split("-", 1)[0] == wanted)


@functools.lru_cache(maxsize=4096)
def _source_tokens(source: str) -> tuple[str, ...]:
    return tuple(text_tokens(source))


def _contains_run(tokens: Sequence[str], run: Sequence[str]) -> bool:
    width = len(run)
    return any(
        tokens[i] == run[0] and tuple(tokens[i : i + width]) == tuple(run)
        for i in range(len(tokens) - width + 1)
    )


def _source_matches(field: Field, source: str) -> bool:
    """``source:bbc`` matches "BBC", "bbc" and "BBC News" (whole words, in order)."""
    if not source:
        return False
    if _fold_label(source) == field.folded:
        return True
    return bool(field.keys) and _contains_run(_source_tokens(source), field.keys)


def _field_matches(field: Field, story: StoryFeatures, topics: frozenset[str]) -> bool:
    if field.name == "topic":
        return field.folded in topics
    if field.name == "source":
        return _source_matches(field, story.source)
    return _lang_matches(field, story.lang)


def _phrase_with_case(analysis: TextAnalysis, phrase: Phrase) -> bool:
    """A phrase with ALL-CAPS short words (``"US troops"``): check the capitals in place."""
    keys, upper = analysis.keys, analysis.upper
    width = len(phrase.keys)
    first = phrase.keys[0]
    for start in range(len(keys) - width + 1):
        if (
            keys[start] == first
            and keys[start : start + width] == phrase.keys
            and all(upper[start + j] for j, exact in enumerate(phrase.exact_case) if exact)
        ):
            return True
    return False


def _story_topics(story: StoryFeatures) -> frozenset[str]:
    return frozenset(_fold_label(topic) for topic in story.topics)


# ---------------------------------------------------------------------------------------------
# Reference evaluator
# ---------------------------------------------------------------------------------------------


class _NaiveStory:
    """A story prepared for direct AST evaluation: plain sets and strings, no index."""

    def __init__(self, story: StoryFeatures) -> None:
        self.story = story
        self.analysis = analyze_text(story.title, story.text)
        self.keys = set(self.analysis.keys)
        self.upper_keys = {
            key for key, upper in zip(self.analysis.keys, self.analysis.upper, strict=True) if upper
        }
        self.joined_keys = " " + " ".join(self.analysis.keys) + " "
        self.joined_surfaces = " " + " ".join(self.analysis.surfaces) + " "
        self.topics = _story_topics(story)


def _naive_leaf(leaf: Leaf, story: _NaiveStory) -> bool:
    if isinstance(leaf, Word):
        if leaf.prefix:
            return f" {leaf.key}" in story.joined_surfaces
        return leaf.key in (story.upper_keys if leaf.exact_case else story.keys)
    if isinstance(leaf, Phrase):
        if any(leaf.exact_case):
            return _phrase_with_case(story.analysis, leaf)
        return " " + " ".join(leaf.keys) + " " in story.joined_keys
    return _field_matches(leaf, story.story, story.topics)


def _naive_eval(node: Node, story: _NaiveStory) -> bool:
    if isinstance(node, Not):
        return not _naive_eval(node.child, story)
    if isinstance(node, And):
        return all(_naive_eval(child, story) for child in node.children)
    if isinstance(node, Or):
        return any(_naive_eval(child, story) for child in node.children)
    return _naive_leaf(node, story)


def _naive_reasons(node: Node, story: _NaiveStory, out: list[str]) -> None:
    """Collect the terms of the satisfied, non-negated parts of a matching ``node``."""
    if isinstance(node, Not):
        return
    if isinstance(node, And | Or):
        for child in node.children:
            if _naive_eval(child, story):
                _naive_reasons(child, story, out)
        return
    out.append(node.display)


def naive_match(
    subscriptions: Sequence[tuple[int, Query]], story: StoryFeatures
) -> list[MatchResult]:
    """Evaluate every subscription's AST against ``story``: the slow reference for tests."""
    prepared = _NaiveStory(story)
    results = []
    for subscription_id, query in sorted(subscriptions, key=lambda item: item[0]):
        if _naive_eval(query.root, prepared):
            reasons: list[str] = []
            _naive_reasons(query.root, prepared, reasons)
            results.append(MatchResult(subscription_id, tuple(dict.fromkeys(reasons))))
    return results


# ---------------------------------------------------------------------------------------------
# Indexed matcher
# ---------------------------------------------------------------------------------------------

# An index term: ("w", key) word, ("u", key) ALL-CAPS word, ("p", pattern) phrase,
# ("x", stem) prefix, ("t", topic) topic filter. Each gets a small integer id, starting at 1 so
# that 0 never names a term (``filter(None, ...)`` then drops the misses of a lookup).
TermKey = tuple[str, str]


class _View:
    """One story as the compiled closures see it: sets filled by the index lookups.

    ``phrases`` and ``prefixes`` hold the term ids of the phrases and prefixes found.
    """

    __slots__ = ("_upper_keys", "analysis", "keys", "phrases", "prefixes", "story", "topics")

    def __init__(self, story: StoryFeatures, analysis: TextAnalysis, keys: set[str]) -> None:
        self.story = story
        self.analysis = analysis
        self.keys = keys
        self.phrases: set[int] = set()
        self.prefixes: set[int] = set()
        self.topics = _story_topics(story)
        self._upper_keys: set[str] | None = None

    def upper_keys(self) -> set[str]:
        """Keys of the words written in capitals; built only if an ALL-CAPS term asks."""
        if self._upper_keys is None:
            analysis = self.analysis
            self._upper_keys = set(itertools.compress(analysis.keys, analysis.upper))
        return self._upper_keys


Test = Callable[[_View], bool]
Collect = Callable[[_View, list[str]], None]


def _collect_nothing(view: _View, out: list[str]) -> None:
    del view, out


def _phrase_pattern(phrase: Phrase) -> str:
    """What the phrase automaton looks for in the space-joined keys of a story."""
    return " " + " ".join(phrase.keys) + " "


class _Compiler:
    """Turns ASTs into closures, and gives every term of the index its integer id."""

    def __init__(self) -> None:
        self.term_ids: dict[TermKey, int] = {}

    def term_id(self, term: TermKey) -> int:
        return self.term_ids.setdefault(term, len(self.term_ids) + 1)

    def leaf_test(self, leaf: Leaf) -> Test:
        if isinstance(leaf, Word):
            key = leaf.key
            if leaf.prefix:
                stem = self.term_id(("x", key))
                return lambda view: stem in view.prefixes
            if leaf.exact_case:
                return lambda view: key in view.upper_keys()
            return lambda view: key in view.keys
        if isinstance(leaf, Phrase):
            if len(leaf.keys) == 1:
                key = leaf.keys[0]
                if leaf.exact_case[0]:
                    return lambda view: key in view.upper_keys()
                return lambda view: key in view.keys
            pid = self.term_id(("p", _phrase_pattern(leaf)))
            if any(leaf.exact_case):
                return lambda view: pid in view.phrases and _phrase_with_case(view.analysis, leaf)
            return lambda view: pid in view.phrases
        if leaf.name == "topic":
            topic = leaf.folded
            return lambda view: topic in view.topics
        return lambda view: _field_matches(leaf, view.story, view.topics)

    def member(self, node: Node) -> tuple[str, Hashable] | None:
        """For a term that is a plain set-membership test, which view set and which element.

        Grouping these lets one ``frozenset <= set`` call test several terms of an AND.
        """
        if isinstance(node, Word) and not node.exact_case:
            if node.prefix:
                return ("prefixes", self.term_id(("x", node.key)))
            return ("keys", node.key)
        if isinstance(node, Phrase) and not any(node.exact_case):
            if len(node.keys) == 1:
                return ("keys", node.keys[0])
            return ("phrases", self.term_id(("p", _phrase_pattern(node))))
        return None

    def compile_test(self, node: Node) -> Test:
        """A closure telling whether ``node`` holds for a story view."""
        if isinstance(node, Not):
            inner = self.compile_test(node.child)
            return lambda view: not inner(view)
        if isinstance(node, And):
            required: dict[str, set[Hashable]] = {}
            forbidden: dict[str, set[Hashable]] = {}
            others: list[Test] = []
            for child in node.children:
                if (found := self.member(child)) is not None:
                    required.setdefault(found[0], set()).add(found[1])
                elif isinstance(child, Not) and (found := self.member(child.child)) is not None:
                    forbidden.setdefault(found[0], set()).add(found[1])
                else:
                    others.append(self.compile_test(child))
            checks = [_all_in(name, frozenset(values)) for name, values in required.items()]
            checks += [_none_in(name, frozenset(values)) for name, values in forbidden.items()]
            return _all_of(checks + others)
        if isinstance(node, Or):
            wanted: dict[str, set[Hashable]] = {}
            alternatives: list[Test] = []
            for child in node.children:
                if (found := self.member(child)) is not None:
                    wanted.setdefault(found[0], set()).add(found[1])
                else:
                    alternatives.append(self.compile_test(child))
            checks = [_any_in(name, frozenset(values)) for name, values in wanted.items()]
            return _any_of(checks + alternatives)
        return self.leaf_test(node)

    def compile_collect(self, node: Node) -> Collect:
        """A closure appending the reasons of a node already known to hold."""
        if isinstance(node, Not):
            return _collect_nothing
        if isinstance(node, And):
            collects = tuple(self.compile_collect(child) for child in node.children)

            def collect_all(view: _View, out: list[str]) -> None:
                for collect in collects:
                    collect(view, out)

            return collect_all
        if isinstance(node, Or):
            branches = tuple(
                (self.compile_test(child), self.compile_collect(child)) for child in node.children
            )

            def collect_true(view: _View, out: list[str]) -> None:
                for test, collect in branches:
                    if test(view):
                        collect(view, out)

            return collect_true
        display = node.display

        def collect_leaf(view: _View, out: list[str]) -> None:
            out.append(display)

        return collect_leaf

    def leaf_terms(self, node: Node) -> list[int] | None:
        """The terms of which any one present makes leaf ``node`` true, or None when its truth
        is more than presence (an ALL-CAPS phrase, or ``node`` is not a leaf).

        ``source:`` is two terms: the whole folded name and its words as a run, which the
        story side provides as every run of its source's words (:func:`_story_field_terms`).
        """
        if isinstance(node, Word):
            kind = "x" if node.prefix else "u" if node.exact_case else "w"
            return [self.term_id((kind, node.key))]
        if isinstance(node, Phrase):
            if len(node.keys) == 1:
                return [self.term_id(("u" if node.exact_case[0] else "w", node.keys[0]))]
            if any(node.exact_case):
                return None
            return [self.term_id(("p", _phrase_pattern(node)))]
        if isinstance(node, Field):
            if node.name == "topic":
                return [self.term_id(("t", node.folded))]
            if node.name == "lang":
                return [self.term_id(("l", node.folded.replace("_", "-")))]
            terms = [self.term_id(("s", node.folded))]
            if node.keys:
                terms.append(self.term_id(("r", " ".join(node.keys))))
            return terms
        return None

    def terms_of(self, node: Node) -> set[int] | None:
        """The terms of a term or an OR of terms (any one of them satisfies it), else None."""
        children = node.children if isinstance(node, Or) else (node,)
        terms: set[int] = set()
        for child in children:
            if (found := self.leaf_terms(child)) is None:
                return None
            terms.update(found)
        return terms

    def groups(self, root: Node) -> tuple[list[frozenset[int]], set[int]] | None:
        """Split a query shaped like ``a (b OR "c d") -e -(f OR g) topic:x`` into required
        groups (each satisfied by any one of its terms) and excluded terms.

        Most subscriptions have this shape (a single term is the smallest case, ``-sport`` one
        without groups); they are matched by counting satisfied groups with numpy, with no
        per-subscription code. Returns None for anything else (OR over AND, nested NOT,
        ALL-CAPS phrases).
        """
        children = root.children if isinstance(root, And) else (root,)
        groups: set[frozenset[int]] = set()
        excluded: set[int] = set()
        for child in children:
            if (terms := self.terms_of(child)) is not None:
                groups.add(frozenset(terms))
            elif isinstance(child, Not) and (terms := self.terms_of(child.child)) is not None:
                excluded.update(terms)
            else:
                return None
        return sorted(groups, key=sorted), excluded

    def anchor_terms(self, leaf: Leaf) -> list[int]:
        """The terms whose presence makes a story a candidate for a query anchored on
        ``leaf`` (for an ALL-CAPS phrase, the phrase in any case: a superset)."""
        if isinstance(leaf, Phrase) and len(leaf.keys) > 1:
            return [self.term_id(("p", _phrase_pattern(leaf)))]
        terms = self.leaf_terms(leaf)
        assert terms is not None  # only multi-word ALL-CAPS phrases have none
        return terms


def _all_in(name: str, values: frozenset[Hashable]) -> Test:
    if name == "keys":
        return lambda view: values <= view.keys
    if name == "phrases":
        return lambda view: values <= view.phrases
    return lambda view: values <= view.prefixes


def _none_in(name: str, values: frozenset[Hashable]) -> Test:
    if name == "keys":
        return lambda view: values.isdisjoint(view.keys)
    if name == "phrases":
        return lambda view: values.isdisjoint(view.phrases)
    return lambda view: values.isdisjoint(view.prefixes)


def _any_in(name: str, values: frozenset[Hashable]) -> Test:
    if name == "keys":
        return lambda view: not values.isdisjoint(view.keys)
    if name == "phrases":
        return lambda view: not values.isdisjoint(view.phrases)
    return lambda view: not values.isdisjoint(view.prefixes)


def _all_of(checks: list[Test]) -> Test:
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda view: first(view) and second(view)
    every = tuple(checks)
    return lambda view: all(check(view) for check in every)


def _any_of(checks: list[Test]) -> Test:
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda view: first(view) or second(view)
    every = tuple(checks)
    return lambda view: any(check(view) for check in every)


def _static_reasons(node: Node) -> tuple[str, ...] | None:
    """The reasons of a query without OR, which are the same for every story it matches
    (all its terms outside NOT), so its result can be built once; None when OR makes them
    depend on the story."""
    if isinstance(node, Not):
        return ()
    if isinstance(node, Or):
        return None
    if isinstance(node, And):
        reasons: list[str] = []
        for child in node.children:
            found = _static_reasons(child)
            if found is None:
                return None
            reasons.extend(found)
        return tuple(dict.fromkeys(reasons))
    return (node.display,)


def _automaton(patterns: dict[str, int]) -> ahocorasick.Automaton | None:
    if not patterns:
        return None
    automaton = ahocorasick.Automaton()
    for pattern, value in patterns.items():
        automaton.add_word(pattern, value)
    automaton.make_automaton()
    return automaton


_Posting = tuple[int, int]  # (term id, code): see _Index.codes

#: Most reason-bearing terms a grouped OR query may have for all its results to be prebuilt,
#: one per subset of terms present (2**6 results at most); longer ones explain a match in
#: Python from the present terms.
_MAX_PREBUILT_REASON_BITS = 6


@dataclass
class _Index:
    """Everything :meth:`Matcher.build` prepares; see :meth:`Matcher.match` for its use.

    All postings live in one CSR structure: the codes of term ``t`` are
    ``codes[starts[t]:starts[t + 1]]``. A code says what the presence of the term does, by
    range: below ``group_base`` it is the slot of a one-term query (a match);
    then ``group_base + g`` satisfies required group ``g`` of a grouped query;
    then ``exclude_base + s`` rules out grouped query ``s``; then ``anchor_base + s`` makes the
    compiled query ``s`` a candidate to test; then ``reason_base + r`` sets bit ``row_bit[r]``
    of the reason mask of grouped OR query ``row_slot[r]`` (bit ``i``: its ``i``-th positive
    leaf is present). One gather and one sort per story then give all five lists, sorted,
    without a Python loop over terms.

    Results are prebuilt: the result of slot ``s`` with reason mask ``m`` is
    ``results[result_base[s] + m]`` (queries without OR have one result and mask 0), so the
    result list of a story is one numpy gather. ``slow`` slots (compiled queries with OR,
    grouped ones with too many reason terms) hold None there and are explained in Python.
    """

    ids: list[int]
    results: np.ndarray  # object array of MatchResult | None
    result_base: np.ndarray
    slow: np.ndarray  # per slot: its result is built per story (results holds None)
    starts: np.ndarray
    codes: np.ndarray
    group_base: int
    exclude_base: int
    anchor_base: int
    reason_base: int
    row_slot: np.ndarray
    row_bit: np.ndarray
    # Groups of one slot have consecutive ids; per group its slot, per slot its group count.
    group_slot: np.ndarray
    need: np.ndarray
    # Grouped queries without a required group (``-sport``): they match unless excluded.
    negative: np.ndarray
    # Per slow grouped query, its positive leaves as (terms, display), to explain a match
    # from the present terms; the flag says a display may repeat.
    reason_terms: dict[int, tuple[bool, tuple[tuple[frozenset[int], str], ...]]]
    word_terms: dict[str, int]
    upper_terms: dict[str, int]
    # Topic, lang and source terms, keyed like the compiler's term keys.
    field_terms: dict[TermKey, int]
    phrases: ahocorasick.Automaton | None  # values: term ids
    prefixes: ahocorasick.Automaton | None  # values: term ids
    # Compiled queries: tests, reasons, and the ones reached without a term.
    tests: dict[int, Test]
    collects: dict[int, Collect]
    always: list[int]


class _Builder:
    """Accumulates the index while subscriptions are compiled one by one, in slot order."""

    def __init__(self) -> None:
        self.compiler = _Compiler()
        self.singles: list[_Posting] = []
        self.group_hits: list[_Posting] = []
        self.exclusions: list[_Posting] = []
        self.anchors: list[_Posting] = []
        self.group_slot: list[int] = []
        self.need: list[int] = []
        self.negative: list[int] = []
        self.reason_terms: dict[int, tuple[bool, tuple[tuple[frozenset[int], str], ...]]] = {}
        self.tests: dict[int, Test] = {}
        self.collects: dict[int, Collect] = {}
        self.always: list[int] = []
        self.reason_rows: list[_Posting] = []
        self.row_slot: list[int] = []
        self.row_bit: list[int] = []
        self.results: list[MatchResult | None] = []
        self.result_base: list[int] = []
        self.slow: list[bool] = []

    def _prebuild(self, subscription_id: int, variants: Iterable[tuple[str, ...] | None]) -> None:
        """Store the possible results of the next slot, indexed by reason mask."""
        self.result_base.append(len(self.results))
        self.results.extend(
            None if reasons is None else MatchResult(subscription_id, reasons)
            for reasons in variants
        )

    def add(self, slot: int, subscription_id: int, root: Node) -> None:
        compiler = self.compiler
        static = _static_reasons(root)
        shape = compiler.groups(root)
        self.slow.append(False)
        if static is not None:
            self._prebuild(subscription_id, [static])
        if shape is not None:
            groups, excluded = shape
            self.need.append(len(groups))
            if static is None:
                pairs = tuple(
                    dict.fromkeys(
                        (frozenset(terms), leaf.display)
                        for leaf, positive in leaves(root)
                        if positive and (terms := compiler.leaf_terms(leaf)) is not None
                    )
                )
                if len(pairs) <= _MAX_PREBUILT_REASON_BITS:
                    self._add_reason_rows(slot, subscription_id, pairs)
                else:
                    repeats = len({display for _, display in pairs}) < len(pairs)
                    self.reason_terms[slot] = (repeats, pairs)
                    self.slow[slot] = True
                    self._prebuild(subscription_id, [None])
            if len(groups) == 1 and len(groups[0]) == 1 and not excluded:
                (term,) = groups[0]
                self.singles.append((term, slot))
                return
            if not groups:
                self.negative.append(slot)
            for group in groups:
                self.group_hits.extend((term, len(self.group_slot)) for term in group)
                self.group_slot.append(slot)
            self.exclusions.extend((term, slot) for term in excluded)
            return
        self.need.append(0)
        self.tests[slot] = compiler.compile_test(root)
        if static is None:
            self.collects[slot] = compiler.compile_collect(root)
            self.slow[slot] = True
            self._prebuild(subscription_id, [None])
        anchors = anchor_leaves(root)
        if anchors is None:
            self.always.append(slot)
            return
        anchored = {term for leaf in anchors for term in compiler.anchor_terms(leaf)}
        self.anchors.extend((term, slot) for term in anchored)

    def _add_reason_rows(
        self, slot: int, subscription_id: int, pairs: tuple[tuple[frozenset[int], str], ...]
    ) -> None:
        """Give each positive leaf of a grouped OR query a mask bit set by its terms, and
        prebuild the query's result for every mask (every subset of leaves present)."""
        for bit, (terms, _) in enumerate(pairs):
            row = len(self.row_slot)
            self.row_slot.append(slot)
            self.row_bit.append(1 << bit)
            self.reason_rows.extend((term, row) for term in terms)
        self._prebuild(
            subscription_id,
            (
                tuple(
                    dict.fromkeys(
                        display for bit, (_, display) in enumerate(pairs) if mask >> bit & 1
                    )
                )
                for mask in range(1 << len(pairs))
            ),
        )

    def finish(self, ids: list[int]) -> _Index:
        slots, groups = len(ids), len(self.group_slot)
        group_base, exclude_base = slots, slots + groups
        anchor_base = exclude_base + slots
        reason_base = anchor_base + slots
        postings = list(self.singles)
        postings += [(term, group_base + group) for term, group in self.group_hits]
        postings += [(term, exclude_base + slot) for term, slot in self.exclusions]
        postings += [(term, anchor_base + slot) for term, slot in self.anchors]
        postings += [(term, reason_base + row) for term, row in self.reason_rows]
        postings.sort()
        term_count = len(self.compiler.term_ids) + 1
        # Narrow integer types: the per-story gathers hit these arrays at random places, and
        # smaller arrays stay in the processor caches.
        code_type = np.int32 if reason_base + len(self.row_slot) < 2**31 else np.int64
        result_type = np.int32 if len(self.results) < 2**31 else np.int64
        need_type = np.uint8 if max(self.need, default=0) < 2**8 else np.int64
        terms = np.array([term for term, _ in postings], dtype=np.int64)
        by_kind: dict[str, dict[str, int]] = {kind: {} for kind in "wupx"}
        field_terms: dict[TermKey, int] = {}
        for (kind, value), term in self.compiler.term_ids.items():
            if kind in by_kind:
                by_kind[kind][value] = term
            else:
                field_terms[(kind, value)] = term
        results = np.empty(len(self.results), dtype=object)
        results[:] = self.results
        return _Index(
            ids=ids,
            results=results,
            result_base=np.array(self.result_base, dtype=result_type),
            slow=np.array(self.slow, dtype=bool),
            starts=np.searchsorted(terms, np.arange(term_count + 1)).astype(np.int64),
            codes=np.array([code for _, code in postings], dtype=code_type),
            group_base=group_base,
            exclude_base=exclude_base,
            anchor_base=anchor_base,
            reason_base=reason_base,
            row_slot=np.array(self.row_slot, dtype=code_type),
            # Masks have at most _MAX_PREBUILT_REASON_BITS (< 8) bits.
            row_bit=np.array(self.row_bit, dtype=np.uint8),
            group_slot=np.array(self.group_slot, dtype=code_type),
            need=np.array(self.need, dtype=need_type),
            negative=np.array(self.negative, dtype=code_type),
            reason_terms=self.reason_terms,
            word_terms=by_kind["w"],
            upper_terms=by_kind["u"],
            field_terms=field_terms,
            phrases=_automaton(by_kind["p"]),
            prefixes=_automaton({" " + stem: term for stem, term in by_kind["x"].items()}),
            tests=self.tests,
            collects=self.collects,
            always=self.always,
        )


def _unique_sorted(values: np.ndarray) -> np.ndarray:
    """Drop repeats from an already sorted array (cheaper than ``np.unique``, which sorts)."""
    if values.size < 2:
        return values
    keep = np.empty(values.size, dtype=bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


def _run_edges(values: np.ndarray) -> np.ndarray:
    """Where the runs of equal values of a non-empty array start, then its length.

    Written with plain ufuncs rather than ``np.diff``/``np.append``, whose Python wrappers cost
    more than the work on arrays of a few hundred values.
    """
    change = np.empty(values.size + 1, dtype=bool)
    change[0] = change[-1] = True
    np.not_equal(values[1:], values[:-1], out=change[1:-1])
    return np.flatnonzero(change)


@functools.lru_cache(maxsize=4096)
def _story_field_terms(topics: tuple[str, ...], source: str, lang: str) -> tuple[TermKey, ...]:
    """The topic, ``source:`` and ``lang:`` term keys a story provides (see
    :meth:`_Compiler.leaf_terms`); cached, as a feed repeats the same source and language.

    ``lang:en`` is term ``("l", "en")``: a story in en-GB provides both ``en-gb`` and ``en``,
    which is exactly :func:`_lang_matches`. ``source:`` matches the whole folded name or a run
    of its words: the story provides its name and every run of its source's words.
    """
    keys: list[TermKey] = [("t", _fold_label(topic)) for topic in topics]
    if lang:
        have = _fold_label(lang).replace("_", "-")
        keys += [("l", have), ("l", have.split("-", 1)[0])]
    if source:
        keys.append(("s", _fold_label(source)))
        words = _source_tokens(source)
        keys += [
            ("r", " ".join(words[start:end]))
            for start in range(len(words))
            for end in range(start + 1, len(words) + 1)
        ]
    return tuple(dict.fromkeys(keys))  # each term once: a repeat would count twice


class Matcher:
    """An index over many subscriptions; :meth:`match` finds those a story satisfies."""

    def __init__(self, index: _Index) -> None:
        """Use :meth:`build`; this only stores the compiled index."""
        self._index = index

    @classmethod
    def build(cls, subscriptions: Iterable[tuple[int, Query]]) -> Matcher:
        """Compile ``(subscription_id, query)`` pairs; ids must be unique."""
        ordered = sorted(subscriptions, key=lambda item: item[0])
        ids = [subscription_id for subscription_id, _ in ordered]
        if len(set(ids)) != len(ids):
            raise ValueError("subscription ids passed to Matcher.build must be unique")
        builder = _Builder()
        for slot, (subscription_id, query) in enumerate(ordered):
            builder.add(slot, subscription_id, query.root)
        return cls(builder.finish(ids))

    def __len__(self) -> int:
        return len(self._index.ids)

    def match(self, story: StoryFeatures) -> list[MatchResult]:
        """The subscriptions ``story`` satisfies, sorted by subscription id.

        Work per story: tokenise once; turn the story's words, phrases, prefixes, topics,
        source and language into term ids (dict look-ups and two Aho-Corasick passes); gather
        the postings of all those terms at once and sort them (numpy), which yields the
        one-term matches, the satisfied groups, the exclusions and the candidates of compiled
        queries; count groups per query; run only the compiled tests of the candidates.
        Results are prebuilt (per reason mask for grouped OR queries), so only the rare compiled
        queries with OR and OR queries of many terms cost Python code per match.
        """
        index = self._index
        analysis = analyze_text(story.title, story.text)
        keys = set(analysis.keys)
        view = _View(story, analysis, keys)
        # Term ids start at 1, so filter(None, ...) drops the words no query mentions.
        present = list(filter(None, map(index.word_terms.get, keys)))
        if index.upper_terms:
            present += filter(None, map(index.upper_terms.get, view.upper_keys()))
        if index.field_terms:
            fields = _story_field_terms(story.topics, story.source, story.lang)
            present += filter(None, map(index.field_terms.get, fields))
        if index.phrases is not None:
            # Keys never contain spaces, so " a b " only occurs where the words are adjacent.
            joined = " " + " ".join(analysis.keys) + " "
            view.phrases = set(map(_second, index.phrases.iter(joined)))
            present += view.phrases
        if index.prefixes is not None:
            # A stem only needs each distinct word once: join the distinct surfaces.
            surfaces = " " + " ".join(set(analysis.surfaces))
            view.prefixes = set(map(_second, index.prefixes.iter(surfaces)))
            present += view.prefixes

        terms = np.array(present, dtype=np.int64)
        starts = index.starts[terms]
        lengths = index.starts[terms + 1] - starts
        total = int(lengths.sum())
        # Concatenate codes[starts[i]:ends[i]] for every present term in one vectorised step.
        offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        codes = np.sort(index.codes[offsets + np.arange(total)])
        bounds = np.searchsorted(
            codes, (index.group_base, index.exclude_base, index.anchor_base, index.reason_base)
        )
        found = [codes[: bounds[0]]]
        if bounds[1] > bounds[0] or index.negative.size:
            found.append(self._grouped(codes, bounds))
        if bounds[3] > bounds[2] or index.always:
            # A query anchored on several present terms is a candidate once.
            anchored = _unique_sorted(codes[bounds[2] : bounds[3]]) - index.anchor_base
            candidates = anchored.tolist() + index.always
            tests = index.tests
            tested = [slot for slot in candidates if tests[slot](view)]
            found.append(np.array(tested, dtype=codes.dtype))
        matched = np.concatenate(found)
        if matched.size == 0:
            return []
        matched.sort()
        picks = index.result_base[matched]
        if bounds[3] < total:
            picks += self._reason_masks(codes[bounds[3] :], matched)
        results: list[MatchResult] = index.results[picks].tolist()
        slow = np.flatnonzero(index.slow[matched]).tolist()
        if slow:
            ids, reason_terms = index.ids, index.reason_terms
            present_terms = set(present)
            for position in slow:
                slot = int(matched[position])
                explained = reason_terms.get(slot)
                reasons: list[str] | tuple[str, ...]
                if explained is None:
                    reasons = []
                    index.collects[slot](view, reasons)
                    reasons = tuple(dict.fromkeys(reasons))
                else:
                    repeats, pairs = explained
                    reasons = tuple(
                        display for terms_, display in pairs if not terms_.isdisjoint(present_terms)
                    )
                    if repeats:
                        reasons = tuple(dict.fromkeys(reasons))
                results[position] = MatchResult(ids[slot], reasons)
        return results

    def _reason_masks(self, reason_codes: np.ndarray, matched: np.ndarray) -> np.ndarray:
        """Per matched slot, the mask of its positive leaves present (0 for other slots).

        ``reason_codes`` is sorted and rows are numbered by slot, so the rows present come out
        grouped by slot; bits of distinct rows of a slot differ, so adding them is OR-ing.
        """
        index = self._index
        rows = _unique_sorted(reason_codes) - index.reason_base
        slots = index.row_slot[rows]
        first = _run_edges(slots)[:-1]
        with_rows = slots[first]
        masks = np.add.reduceat(index.row_bit[rows], first, dtype=index.result_base.dtype)
        where = np.minimum(np.searchsorted(with_rows, matched), with_rows.size - 1)
        masks = masks[where]
        masks[with_rows[where] != matched] = 0
        return masks

    def _grouped(self, codes: np.ndarray, bounds: np.ndarray) -> np.ndarray:
        """Slots of the grouped queries whose every group is satisfied and no term excluded.

        ``codes`` is sorted, so the satisfied group ids come out sorted and, as the groups of
        a query are numbered consecutively, so do their slots: runs of equal slots are counted
        without another sort.
        """
        index = self._index
        groups = _unique_sorted(codes[bounds[0] : bounds[1]] - index.group_base)
        slots = index.group_slot[groups]
        if slots.size:
            edges = _run_edges(slots)
            runs = slots[edges[:-1]]
            counts = edges[1:] - edges[:-1]
            matched = runs[counts == index.need[runs]]
        else:
            matched = slots
        if index.negative.size:
            matched = np.sort(np.concatenate((matched, index.negative)))
        if bounds[2] > bounds[1] and matched.size:
            excluded = codes[bounds[1] : bounds[2]] - index.exclude_base
            where = np.minimum(np.searchsorted(excluded, matched), excluded.size - 1)
            matched = matched[excluded[where] != matched]
        return matched


def _second(pair: tuple[int, int]) -> int:
    """The value of an Aho-Corasick hit ``(end, value)``."""
    return pair[1]
