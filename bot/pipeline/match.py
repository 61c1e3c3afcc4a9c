"""Match stories against many subscription queries at once.

:class:`Matcher` compiles every active subscription into an index so that the work per story
depends on the words of the story and on the subscriptions that can match it, not on the number
of subscriptions:

* the story is tokenised once; each raw token is looked up in a per-matcher cache that gives
  its key and the ids of the word and ``prefix*`` terms it provides (news vocabulary repeats,
  so a word is folded and its prefixes searched only the first time it is seen); adjacent
  keys give the multi-word phrases, and topics, source and language their field terms, all
  through dict look-ups;
* all postings sit in one CSR array of integer codes; the codes of the present terms of a
  whole batch of stories (:meth:`Matcher.match_many`) are gathered, tagged with their story
  and sorted in a few numpy calls, with no Python loop over terms, so the fixed cost of each
  numpy call is shared by the batch; their ranges give one-term matches, satisfied groups,
  exclusions and candidates to test;
* most queries are "grouped": required groups of terms (a group is one term or an OR of
  terms) plus excluded terms, e.g. ``flood``, ``a b -c``, ``-sport``,
  ``(a OR "b c") source:bbc``. A query matches when all its groups are satisfied and none of
  its excluded terms is present. Its rarest group and its OR groups are counted (as runs of
  consecutive group ids); its other one-term groups are checked afterwards, only for the
  queries whose counted groups are all there, so ``flood lang:en`` costs nothing in the many
  stories that have ``lang:en`` but no flood (:func:`_split_groups`). Results are
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
import operator
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass

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
    is_common_word,
    leaves,
    text_tokens,
    token_info,
    word_tokens,
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


@dataclass(frozen=True, slots=True)
class MatchResult:
    """A subscription that matched, and the terms that made it match as the user wrote them
    (words, phrases, ``prefix*`` and ``field:value`` filters; never terms under NOT).

    With slots an instance is one small allocation: a story's hundreds of prebuilt results
    are gathered from all over the index, and compact objects cost fewer cache misses.
    """

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
    """One story as the compiled closures see it.

    ``phrases`` and ``prefixes`` are both the set of all term ids present in the story: ids are
    unique across kinds, so asking for a phrase or prefix id in it answers exactly "is that
    phrase / prefix present". The full :class:`TextAnalysis` is only needed by ALL-CAPS
    phrases and words, so it is built on first use.
    """

    __slots__ = ("_analysis", "_upper_keys", "keys", "phrases", "prefixes", "story", "topics")

    def __init__(self, story: StoryFeatures, keys: set[str], present: set[int]) -> None:
        self.story = story
        self.keys = keys
        self.phrases = present
        self.prefixes = present
        self.topics = _story_topics(story)
        self._analysis: TextAnalysis | None = None
        self._upper_keys: set[str] | None = None

    @property
    def analysis(self) -> TextAnalysis:
        if self._analysis is None:
            self._analysis = analyze_text(self.story.title, self.story.text)
        return self._analysis

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
        self.term_keys: list[TermKey] = []  # by term id - 1

    def term_id(self, term: TermKey) -> int:
        found = self.term_ids.setdefault(term, len(self.term_ids) + 1)
        if found > len(self.term_keys):
            self.term_keys.append(term)
        return found

    def term_cost(self, term: int) -> float:
        return _term_cost(self.term_keys[term - 1])

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


def _term_cost(term: TermKey) -> float:
    """A rough guess of how many stories contain a term (as ``_leaf_cost`` in the query
    module guesses for leaves): words and phrases are specific, topics and languages are
    shared by a large part of all stories."""
    kind, value = term
    if kind in "wu":
        return 1000.0 if kind == "w" and is_common_word(value) else 1.0
    if kind == "p":
        return 0.5
    if kind == "x":
        return 1000.0 if len(value) <= 2 else 20.0 if len(value) == 3 else 3.0
    return {"t": 200.0, "l": 1000.0}.get(kind, 5.0)


def _split_groups(
    groups: list[frozenset[int]], cost: Callable[[int], float]
) -> tuple[list[frozenset[int]], list[int]]:
    """Split the required groups of a grouped query into groups counted through postings and
    single terms checked afterwards, only for the queries whose counted groups are all
    satisfied.

    The rarest group (by ``cost``, :func:`_term_cost` of a term id) is always counted, so it alone decides how often
    the query is even looked at: ``flood lang:en`` is reached through ``flood``, not through
    ``lang:en``, which nearly every story has. The other one-term groups become checks;
    OR groups stay counted.
    """
    if len(groups) < 2:
        return groups, []
    costs = {term: cost(term) for group in groups for term in group}
    anchor = min(groups, key=lambda group: sum(costs[term] for term in group))
    counted = [group for group in groups if group is anchor or len(group) > 1]
    checked = [
        term for group in groups if group is not anchor and len(group) == 1 for term in group
    ]
    return counted, checked


_Posting = tuple[int, int]  # (term id, code): see _Index.codes
# What the matcher saw of a story: the ids of its terms present, and the keys of its title
# and body (with a "" between them).
_Seen = tuple[set[int], tuple[str, ...]]

#: Most reason-bearing terms a grouped OR query may have for all its results to be prebuilt,
#: one per subset of terms present (2**6 results at most); longer ones explain a match in
#: Python from the present terms.
_MAX_PREBUILT_REASON_BITS = 6


@dataclass
class _Index:
    """Everything :meth:`Matcher.build` prepares; see :meth:`Matcher.match_many` for its use.

    All postings live in one CSR structure: the codes of term ``t`` are
    ``codes[starts[t]:starts[t + 1]]``. A code says what the presence of the term does, by
    range: below ``group_base`` it is the slot of a one-term query (a match);
    then ``group_base + g`` satisfies counted group ``g`` of a grouped query;
    then ``exclude_base + s`` rules out grouped query ``s``; then ``anchor_base + s`` makes the
    compiled query ``s`` a candidate to test; then ``reason_base + r`` sets bit ``row_bit[r]``
    of the reason mask of grouped OR query ``row_slot[r]`` (bit ``i``: its ``i``-th positive
    leaf is present). One gather and one sort per batch of stories then give all five lists of
    every story, sorted, without a Python loop over terms.

    Results are prebuilt: the result of slot ``s`` with reason mask ``m`` is
    ``results[result_base[s] + m]`` (queries without OR have one result and mask 0), so the
    result lists of a batch are one numpy gather. ``slow`` slots (compiled queries with OR,
    grouped ones with too many reason terms) hold None there and are explained in Python.
    """

    ids: np.ndarray  # subscription id by slot
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
    has_rows: np.ndarray  # per slot: it has reason rows
    # Counted groups of one slot have consecutive ids; per group its slot, per slot how many
    # counted groups it has.
    group_slot: np.ndarray
    need: np.ndarray
    # Terms each grouped query needs present besides its counted groups (see _split_groups):
    # those of slot ``s`` are ``check_terms[check_start[s]:check_start[s + 1]]``.
    check_start: np.ndarray
    check_terms: np.ndarray
    # Grouped queries without a required group (``-sport``): they match unless excluded.
    negative: np.ndarray
    # Per slow grouped query, its positive leaves as (terms, display), to explain a match
    # from the present terms; the flag says a display may repeat.
    reason_terms: dict[int, tuple[bool, tuple[tuple[frozenset[int], str], ...]]]
    word_terms: dict[str, int]
    upper_terms: dict[str, int]
    # Topic, lang and source terms, keyed like the compiler's term keys.
    field_terms: dict[TermKey, int]
    # Multi-word phrases by their first two keys: the term id of the two-word phrase (0 if
    # none), and the longer phrases starting so, as (" a b c " pattern, term id).
    pair_terms: dict[tuple[str, str], int]
    long_phrases: dict[tuple[str, str], list[tuple[str, int]]]
    # Prefix terms as (stem, term id), by the first _STEM_HEAD characters of the stem; the
    # term ids of shorter stems by stem.
    stems: dict[str, tuple[tuple[str, int], ...]]
    short_stems: dict[str, int]
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
        self.checks: dict[int, list[int]] = {}
        self.reason_terms: dict[int, tuple[bool, tuple[tuple[frozenset[int], str], ...]]] = {}
        self.tests: dict[int, Test] = {}
        self.collects: dict[int, Collect] = {}
        self.always: list[int] = []
        self.reason_rows: list[_Posting] = []
        self.row_slot: list[int] = []
        self.row_bit: list[int] = []
        # Made MatchResult objects in finish(), all at once, so that they lie side by side in
        # memory: gathering a story's results then touches fewer pages.
        self.results: list[tuple[str, ...] | None] = []  # reasons, by result_base of a slot
        self.result_base: list[int] = []
        self.slow: list[bool] = []
        # Fresh shared copies of the strings and reason tuples the index keeps (see fresh()).
        self.strings: dict[str, str] = {}
        self.reason_tuples: dict[tuple[str, ...], tuple[str, ...]] = {}

    def _prebuild(self, variants: Iterable[tuple[str, ...] | None]) -> None:
        """Store the possible reasons of the next slot's results, indexed by reason mask
        (the results are made in :meth:`finish`)."""
        self.result_base.append(len(self.results))
        self.results.extend(variants)

    def add(self, slot: int, root: Node) -> None:
        compiler = self.compiler
        static = _static_reasons(root)
        shape = compiler.groups(root)
        self.slow.append(False)
        if static is not None:
            self._prebuild([static])
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
                    self._add_reason_rows(slot, pairs)
                else:
                    repeats = len({display for _, display in pairs}) < len(pairs)
                    self.reason_terms[slot] = (repeats, pairs)
                    self.slow[slot] = True
                    self._prebuild([None])
            if len(groups) == 1 and len(groups[0]) == 1 and not excluded:
                (term,) = groups[0]
                self.singles.append((term, slot))
                return
            if not groups:
                self.negative.append(slot)
            counted, checked = _split_groups(groups, compiler.term_cost)
            self.need[-1] = len(counted)
            for group in counted:
                self.group_hits.extend((term, len(self.group_slot)) for term in group)
                self.group_slot.append(slot)
            if checked:
                self.checks[slot] = checked
            self.exclusions.extend((term, slot) for term in excluded)
            return
        self.need.append(0)
        self.tests[slot] = compiler.compile_test(root)
        if static is None:
            self.collects[slot] = compiler.compile_collect(root)
            self.slow[slot] = True
            self._prebuild([None])
        anchors = anchor_leaves(root)
        if anchors is None:
            self.always.append(slot)
            return
        anchored = {term for leaf in anchors for term in compiler.anchor_terms(leaf)}
        self.anchors.extend((term, slot) for term in anchored)

    def _add_reason_rows(self, slot: int, pairs: tuple[tuple[frozenset[int], str], ...]) -> None:
        """Give each positive leaf of a grouped OR query a mask bit set by its terms, and
        prebuild the query's result for every mask (every subset of leaves present)."""
        for bit, (terms, _) in enumerate(pairs):
            row = len(self.row_slot)
            self.row_slot.append(slot)
            self.row_bit.append(1 << bit)
            self.reason_rows.extend((term, row) for term in terms)
        self._prebuild(
            (
                tuple(
                    dict.fromkeys(
                        display for bit, (_, display) in enumerate(pairs) if mask >> bit & 1
                    )
                )
                for mask in range(1 << len(pairs))
            ),
        )

    def fresh(self, text: str) -> str:
        """One copy of ``text`` for the whole index, made now.

        The strings of the parsed queries (term keys, displays) are scattered among their ASTs,
        which are dropped once compiled; an index keeping those very objects would keep heap
        pages of the ASTs alive, as the allocator only returns a page with nothing alive on
        it. Copies made here lie together, and identical terms of many queries share one
        (~8 MB less resident at 100,000 subscriptions).
        """
        found = self.strings.get(text)
        if found is None:
            # encode/decode always makes a new object (str() or slicing may return ``text``).
            found = self.strings[text] = text.encode().decode() if len(text) > 1 else text
        return found

    def _results(self, slot_ids: np.ndarray) -> list[MatchResult | None]:
        """The prebuilt results, made at once (side by side in memory: gathering a story's
        results then touches fewer pages), of fresh ids and shared reason tuples (see
        :meth:`fresh`): many queries give the same reasons (``flood``)."""
        fresh, tuples = self.fresh, self.reason_tuples
        made: list[MatchResult | None] = []
        ends = [*self.result_base[1:], len(self.results)][: len(self.result_base)]
        for subscription_id, low, high in zip(
            slot_ids.tolist(), self.result_base, ends, strict=True
        ):
            for reasons in self.results[low:high]:
                if reasons is None:
                    made.append(None)
                    continue
                shared = tuples.get(reasons)
                if shared is None:
                    shared = tuples[reasons] = tuple(map(fresh, reasons))
                made.append(MatchResult(subscription_id, shared))
        return made

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
        codes = np.array([code for _, code in postings], dtype=code_type)
        # The posting tuples (millions of objects with many subscriptions) go before the
        # results are made, which then reuse their memory instead of taking more.
        del postings
        for pairs in (self.singles, self.group_hits, self.exclusions, self.anchors):
            pairs.clear()
        self.reason_rows.clear()
        by_kind: dict[str, dict[str, int]] = {kind: {} for kind in "wupx"}
        field_terms: dict[TermKey, int] = {}
        fresh = self.fresh
        for (kind, value), term in self.compiler.term_ids.items():
            if kind in by_kind:
                by_kind[kind][fresh(value)] = term
            else:
                field_terms[(kind, fresh(value))] = term
        slot_ids = np.array(ids, dtype=np.int64)
        results = np.empty(len(self.results), dtype=object)
        results[:] = self._results(slot_ids)
        self.results.clear()
        check_count = np.zeros(slots + 1, dtype=np.int64)
        check_count[1:][list(self.checks)] = [len(terms) for terms in self.checks.values()]
        check_terms = list(
            itertools.chain.from_iterable(self.checks[slot] for slot in sorted(self.checks))
        )
        stems: dict[str, tuple[tuple[str, int], ...]] = {}
        for stem, term in by_kind["x"].items():
            if len(stem) >= _STEM_HEAD:
                head = stem[:_STEM_HEAD]
                stems[head] = (*stems.get(head, ()), (stem, term))
        pair_terms: dict[tuple[str, str], int] = {}
        long_phrases: dict[tuple[str, str], list[tuple[str, int]]] = {}
        for pattern, term in by_kind["p"].items():
            words = pattern.split()
            first = (fresh(words[0]), fresh(words[1]))  # shared with the word terms' keys
            if len(words) == 2:
                pair_terms[first] = term
            else:
                long_phrases.setdefault(first, []).append((pattern, term))
        return _Index(
            ids=slot_ids,
            results=results,
            result_base=np.array(self.result_base, dtype=result_type),
            slow=np.array(self.slow, dtype=bool),
            starts=np.searchsorted(terms, np.arange(term_count + 1)).astype(np.int64),
            codes=codes,
            group_base=group_base,
            exclude_base=exclude_base,
            anchor_base=anchor_base,
            reason_base=reason_base,
            row_slot=np.array(self.row_slot, dtype=code_type),
            has_rows=np.isin(np.arange(slots), self.row_slot),
            # Masks have at most _MAX_PREBUILT_REASON_BITS (< 8) bits.
            row_bit=np.array(self.row_bit, dtype=np.uint8),
            group_slot=np.array(self.group_slot, dtype=code_type),
            need=np.array(self.need, dtype=need_type),
            check_start=np.cumsum(check_count),
            check_terms=np.array(check_terms, dtype=np.int64),
            negative=np.array(self.negative, dtype=code_type),
            reason_terms=self.reason_terms,
            word_terms=by_kind["w"],
            upper_terms=by_kind["u"],
            field_terms=field_terms,
            pair_terms=pair_terms,
            long_phrases=long_phrases,
            stems=stems,
            short_stems={
                stem: term for stem, term in by_kind["x"].items() if len(stem) < _STEM_HEAD
            },
            tests=self.tests,
            collects=self.collects,
            always=self.always,
        )


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
        self._tokens = _TokenCache(index).__getitem__

    @classmethod
    def build(cls, subscriptions: Iterable[tuple[int, Query]]) -> Matcher:
        """Compile ``(subscription_id, query)`` pairs; ids must be unique."""
        ordered = sorted(subscriptions, key=lambda item: item[0])
        ids = [subscription_id for subscription_id, _ in ordered]
        if len(set(ids)) != len(ids):
            raise ValueError("subscription ids passed to Matcher.build must be unique")
        return cls.build_sorted(ordered)

    @classmethod
    def build_sorted(cls, subscriptions: Iterable[tuple[int, Query]]) -> Matcher:
        """Compile ``(subscription_id, query)`` pairs given in increasing id order, one at a
        time: each query may be parsed just before and dropped just after its turn.

        Holding every parsed query while the index is built, as :meth:`build` must to sort
        them, costs more than their own size: the index's long-lived objects are allocated in
        the holes among the ASTs, which then keep most of the ASTs' heap pages from going back
        to the system once they are dropped (~50 MB resident at 100,000 subscriptions). Fed
        by a generator that parses each query, the ASTs reuse each other's memory instead.
        """
        builder = _Builder()
        ids: list[int] = []
        for subscription_id, query in subscriptions:
            if ids and subscription_id <= ids[-1]:
                raise ValueError(
                    "subscription ids passed to Matcher.build_sorted must be unique and increasing"
                )
            builder.add(len(ids), query.root)
            ids.append(subscription_id)
        return cls(builder.finish(ids))

    def __len__(self) -> int:
        return len(self._index.ids)

    def match(self, story: StoryFeatures) -> list[MatchResult]:
        """The subscriptions ``story`` satisfies, sorted by subscription id.

        The same work as :meth:`match_many` for a batch of one story.
        """
        return self.match_many((story,))[0]

    def match_many(self, stories: Sequence[StoryFeatures]) -> list[list[MatchResult]]:
        """For each story, the subscriptions it satisfies, sorted by subscription id.

        Work per story: tokenise once and turn each raw token into its key and term ids
        through a per-matcher cache (news vocabulary repeats, so folding and prefix search run
        once per new word), adjacent keys into phrase ids (dict look-ups), and topics, source
        and language into field ids. Then, for the whole batch at once, so that the fixed cost of
        each numpy call is shared by all its stories: gather the postings of every present
        term, tagged with their story, and sort them; this yields per story the one-term
        matches, the satisfied groups, the exclusions, the candidates of compiled queries and
        the reason masks; count groups per query; run only the compiled tests of the
        candidates. Results are prebuilt (per reason mask for grouped OR queries), so only the
        rare compiled queries with OR and OR queries of many terms cost Python code per match.
        """
        count = len(stories)
        if count == 0 or not self._index.ids.size:
            return [[] for _ in stories]
        seen = [self._present_terms(story) for story in stories]
        presents = [present for present, _ in seen]
        index = self._index
        slots = len(index.ids)
        span = index.reason_base + index.row_slot.size  # codes of one story: [0, span)
        sizes = list(map(len, presents))
        terms = np.fromiter(
            itertools.chain.from_iterable(presents), dtype=np.int64, count=sum(sizes)
        )
        starts = index.starts[terms]
        lengths = index.starts[terms + 1] - starts
        # Concatenate codes[starts[i]:ends[i]] for every present term in one vectorised step,
        # then shift each story's codes into its own range of width ``span``.
        # Narrow keys sort about twice as fast: int32 whenever the batch's codes fit.
        key_type = np.int32 if count * span < 2**31 else np.int64
        keys = index.codes[_ranges(starts, lengths)].astype(key_type)
        if count > 1:
            term_base = np.repeat(np.arange(0, count * span, span, dtype=key_type), sizes)
            keys += np.repeat(term_base, lengths)
        keys.sort()
        # Where each story's codes of each kind start: kinds are the ranges of _Index.codes.
        story_base = np.arange(count + 1, dtype=np.int64)[:, None] * span
        kind_base = np.array(
            (0, index.group_base, index.exclude_base, index.anchor_base, index.reason_base)
        )
        bounds = np.searchsorted(keys, (story_base + kind_base).ravel()[: 5 * count + 1])
        views: dict[int, _View] = {}
        found = [self._kind(keys, bounds, 0, 0, span, slots)[0]]
        present = terms
        if index.check_terms.size:
            term_count = index.starts.size - 1
            present = np.sort(terms + np.repeat(np.arange(count) * term_count, sizes))
        found.append(self._grouped(keys, bounds, span, present))
        tested = self._tested(stories, seen, views, keys, bounds, span)
        if tested is not None:
            found.append(tested)
        matched = np.concatenate(found)
        if matched.size == 0:
            return [[] for _ in stories]
        matched.sort()
        owner = matched // slots if count > 1 else np.zeros(matched.size, dtype=np.int64)
        matched_slots = matched - owner * slots
        picks = index.result_base[matched_slots]
        if index.row_slot.size:
            # Only grouped OR queries have reason rows: look up masks for those alone.
            with_rows = np.flatnonzero(index.has_rows[matched_slots])
            if with_rows.size:
                picks[with_rows] += self._reason_masks(keys, bounds, span, matched[with_rows])
        results: list[MatchResult] = index.results[picks].tolist()
        for position in np.flatnonzero(index.slow[matched_slots]).tolist():
            number = int(owner[position])
            view = views.get(number)
            if view is None:
                view = views[number] = self._view(stories[number], seen[number])
            results[position] = self._explain(int(matched_slots[position]), view)
        if count == 1:
            return [results]
        edges = np.searchsorted(matched, np.arange(count + 1) * slots).tolist()
        return [results[low:high] for low, high in itertools.pairwise(edges)]

    def _present_terms(self, story: StoryFeatures) -> _Seen:
        """The ids of the terms present in ``story``: words, ALL-CAPS words, prefixes (from
        the token cache), phrases (adjacent keys) and topic/source/language fields; with the
        keys of its title and body."""
        index = self._index
        raws = word_tokens(story.title)
        raws.append("")  # between title and body: its key "" is in no phrase
        raws += word_tokens(story.text)
        keys, terms = zip(*map(self._tokens, raws), strict=True)
        present = set(itertools.chain.from_iterable(terms))
        pair_terms, long_phrases = index.pair_terms, index.long_phrases
        if pair_terms:
            present.update(filter(None, map(pair_terms.get, itertools.pairwise(keys))))
        if long_phrases:
            firsts = long_phrases.keys() & set(itertools.pairwise(keys))
            if firsts:
                # Keys never contain spaces: " a b c " only occurs where they are adjacent.
                joined = " " + " ".join(keys) + " "
                present.update(
                    term
                    for first in firsts
                    for pattern, term in long_phrases[first]
                    if pattern in joined
                )
        if index.field_terms:
            fields = _story_field_terms(story.topics, story.source, story.lang)
            present.update(filter(None, map(index.field_terms.get, fields)))
        return present, keys

    @staticmethod
    def _view(story: StoryFeatures, seen: _Seen) -> _View:
        """What compiled tests and reason collectors look at (only built for candidates)."""
        present, keys = seen
        return _View(story, set(keys), present)

    def _explain(self, slot: int, view: _View) -> MatchResult:
        """The result of a matched slow slot, whose reasons depend on the story."""
        index = self._index
        explained = index.reason_terms.get(slot)
        reasons: list[str] | tuple[str, ...]
        if explained is None:
            reasons = []
            index.collects[slot](view, reasons)
            reasons = tuple(dict.fromkeys(reasons))
        else:
            repeats, pairs = explained
            present = view.phrases
            reasons = tuple(display for terms, display in pairs if not terms.isdisjoint(present))
            if repeats:
                reasons = tuple(dict.fromkeys(reasons))
        return MatchResult(int(index.ids[slot]), reasons)

    @staticmethod
    def _kind(
        keys: np.ndarray, bounds: np.ndarray, kind: int, base: int, span: int, width: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The codes of one kind (0 to 4, see ``kind_base``; ``base`` is where the kind's
        codes start) of every story, as ``story * width + (code - base)``, sorted, with the
        story of each."""
        count = (bounds.size - 1) // 5
        if count == 1:
            picked = keys[bounds[kind] : bounds[kind + 1]] - base
            return picked, np.zeros(picked.size, dtype=np.int64)
        low = bounds[kind : 5 * count : 5]
        lengths = bounds[kind + 1 :: 5] - low
        picked = keys[_ranges(low, lengths)] - base
        owner = np.repeat(np.arange(count, dtype=np.int64), lengths)
        return picked - owner * (span - width), owner

    def _grouped(
        self, keys: np.ndarray, bounds: np.ndarray, span: int, present: np.ndarray
    ) -> np.ndarray:
        """Keys (``story * slots + slot``) of the grouped queries whose every group is
        satisfied and no term excluded.

        Keys are sorted, so the satisfied group ids of a story come out sorted and, as the
        groups of a query are numbered consecutively, so do their slots: runs of equal slots
        are counted without another sort.
        """
        index = self._index
        slots, count = len(index.ids), (bounds.size - 1) // 5
        groups = index.exclude_base - index.group_base
        hits, owner = self._kind(keys, bounds, 1, index.group_base, span, groups)
        keep = _firsts(hits)
        hits, owner = hits[keep], owner[keep]
        if hits.size:
            local = index.group_slot[hits - owner * groups]
            edges = _run_edges(local + owner * slots)
            firsts = edges[:-1]
            local_runs = local[firsts]
            counts = edges[1:] - firsts
            satisfied = counts == index.need[local_runs]
            matched = (local_runs + owner[firsts] * slots)[satisfied]
        else:
            matched = hits
        if index.negative.size:
            everyone = np.arange(count, dtype=np.int64)[:, None] * slots + index.negative
            matched = np.sort(np.concatenate((matched, everyone.ravel())))
        excluded, _ = self._kind(keys, bounds, 2, index.exclude_base, span, slots)
        if excluded.size and matched.size:
            where = np.minimum(np.searchsorted(excluded, matched), excluded.size - 1)
            matched = matched[excluded[where] != matched]
        if index.check_terms.size and matched.size:
            matched = self._checked(matched, present)
        return matched

    def _checked(self, matched: np.ndarray, present: np.ndarray) -> np.ndarray:
        """The keys of ``matched`` whose check terms (see :func:`_split_groups`) are all
        present; ``present`` holds ``story * terms + term`` of every present term, sorted."""
        index = self._index
        slots, terms = len(index.ids), index.starts.size - 1
        owner = matched // slots
        local = matched - owner * slots
        low = index.check_start[local]
        lengths = index.check_start[local + 1] - low
        wanted = index.check_terms[_ranges(low, lengths)] + np.repeat(owner * terms, lengths)
        where = np.minimum(np.searchsorted(present, wanted), present.size - 1)
        missing = present[where] != wanted
        keep = np.ones(matched.size, dtype=bool)
        keep[np.repeat(np.arange(matched.size), lengths)[missing]] = False
        return matched[keep]

    def _tested(
        self,
        stories: Sequence[StoryFeatures],
        seen: list[_Seen],
        views: dict[int, _View],
        keys: np.ndarray,
        bounds: np.ndarray,
        span: int,
    ) -> np.ndarray | None:
        """Keys of the compiled queries that hold: candidates reached through an anchor
        (once, however many of its anchors are present) or without one."""
        index = self._index
        if not index.tests:
            return None
        slots, count = len(index.ids), (bounds.size - 1) // 5
        anchored, _ = self._kind(keys, bounds, 3, index.anchor_base, span, slots)
        candidates: list[int] = anchored[_firsts(anchored)].tolist()
        if index.always:
            candidates += [
                number * slots + slot for number in range(count) for slot in index.always
            ]
        if not candidates:
            return None
        tests, tested = index.tests, []
        for key in candidates:
            number, slot = divmod(key, slots)
            view = views.get(number)
            if view is None:
                view = views[number] = self._view(stories[number], seen[number])
            if tests[slot](view):
                tested.append(key)
        return np.array(tested, dtype=np.int64)

    def _reason_masks(
        self, keys: np.ndarray, bounds: np.ndarray, span: int, matched: np.ndarray
    ) -> np.ndarray:
        """Per matched key, the mask of its slot's positive leaves present (0 for other slots).

        Reason rows are numbered by slot, so the rows present come out grouped by story and
        slot; bits of distinct rows of a slot differ, so adding them is OR-ing.
        """
        index = self._index
        slots, rows = len(index.ids), index.row_slot.size
        found, owner = self._kind(keys, bounds, 4, index.reason_base, span, rows)
        keep = _firsts(found)
        found, owner = found[keep], owner[keep]
        if found.size == 0:
            return np.zeros(matched.size, dtype=index.result_base.dtype)
        local = found - owner * rows
        with_rows_all = index.row_slot[local] + owner * slots
        first = _run_edges(with_rows_all)[:-1]
        with_rows = with_rows_all[first]
        masks = np.add.reduceat(index.row_bit[local], first, dtype=index.result_base.dtype)
        where = np.minimum(np.searchsorted(with_rows, matched), with_rows.size - 1)
        masks = masks[where]
        masks[with_rows[where] != matched] = 0
        return masks


class _TokenCache(dict[str, tuple[str, tuple[int, ...]]]):
    """Per raw token, its matching key (for phrases) and the ids of the word, ALL-CAPS word
    and prefix terms it provides.

    Filled on first sight of a token: news vocabulary is Zipfian, so nearly every token of a
    story is a hit and costs one dict look-up instead of folding and an automaton pass.
    Cleared when full, to bound memory on an unbounded stream of new words.
    """

    def __init__(self, index: _Index) -> None:
        super().__init__()
        self._index = index

    def __missing__(self, raw: str) -> tuple[str, tuple[int, ...]]:
        index = self._index
        key, surface, upper = token_info(raw)
        word = index.word_terms.get(key, 0)
        terms: tuple[int, ...] = (word,) if word else ()
        if upper and (caps := index.upper_terms.get(key, 0)):
            terms += (caps,)
        # A prefix term is present when the word starts with its stem: only the few stems
        # sharing the word's first _STEM_HEAD letters need a look, and the short stems.
        if index.stems:
            terms += tuple(
                term
                for stem, term in index.stems.get(surface[:_STEM_HEAD], ())
                if surface.startswith(stem)
            )
        if index.short_stems:
            terms += tuple(
                term
                for length in range(1, min(_STEM_HEAD, len(surface) + 1))
                if (term := index.short_stems.get(surface[:length], 0))
            )
        found = (key, terms)
        if len(self) >= _TOKEN_CACHE_SIZE:
            self.clear()
        self[raw] = found
        return found


#: Prefix stems are looked up by their first letters, this many (shorter ones by themselves).
_STEM_HEAD = 4

#: Most raw tokens a matcher remembers (a few tens of MB at most).
_TOKEN_CACHE_SIZE = 1 << 17


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The indexes ``starts[i] .. starts[i] + lengths[i] - 1`` of every range, concatenated,
    in a few vectorised steps (no Python loop over ranges)."""
    ends = np.cumsum(lengths)
    return np.repeat(starts - (ends - lengths), lengths) + np.arange(ends[-1] if ends.size else 0)


def _firsts(values: np.ndarray) -> np.ndarray:
    """Mask of the first of each run of equal values of a sorted array: drops repeats
    (cheaper than ``np.unique``, which sorts)."""
    keep = np.empty(values.size, dtype=bool)
    if values.size:
        keep[0] = True
        np.not_equal(values[1:], values[:-1], out=keep[1:])
    return keep


#: The terms of a token cache entry.
_second = operator.itemgetter(1)
#: The key of a token cache entry.
_first = operator.itemgetter(0)
