"""Match stories against many subscription queries at once.

:class:`Matcher` compiles every active subscription into an index so that the work per story
depends on the words of the story and on the subscriptions that can match it, not on the number
of subscriptions:

* the story is tokenised once; its words are looked up by a set intersection, multi-word
  phrases and ``prefix*`` terms are found by two Aho-Corasick automata (pyahocorasick) run over
  the normalised token stream, giving the set of index terms present in the story;
* most queries are "grouped": required groups of terms (a group is one term or an OR of
  terms) plus excluded terms, e.g. ``flood``, ``a b -c`` or ``(a OR "b c") topic:x``. Per
  present term, numpy arrays list the groups it satisfies; a query matches when the number of
  its satisfied groups reaches its group count and none of its excluded terms is present.
  One-term queries skip the counting. Their result objects are prebuilt, so most matches cost
  no Python code per subscription;
* the few other queries (OR over AND, nested NOT, ``source:``/``lang:`` filters, ALL-CAPS
  phrases, ``-sport``) are reached through postings of their "anchors"
  (:func:`bot.pipeline.query.anchor_leaves`: terms of which at least one must occur in any
  story the query matches), or always checked when they have none, and evaluated with closures
  compiled from their AST.

:func:`naive_match` is the reference: it walks every subscription's AST directly. Tests and the
benchmark check that both give exactly the same results.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import cast

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


def _primary_language(lang: str) -> str:
    return _fold_label(lang).replace("_", "-").split("-", 1)[0]


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


class _View:
    """One story as the compiled closures see it: sets filled by the index lookups."""

    __slots__ = ("_upper_keys", "analysis", "keys", "phrases", "prefixes", "story", "topics")

    def __init__(self, story: StoryFeatures, analysis: TextAnalysis) -> None:
        self.story = story
        self.analysis = analysis
        self.keys: set[str] = set(analysis.keys)
        self.phrases: set[int] = set()
        self.prefixes: set[str] = set()
        self.topics = _story_topics(story)
        self._upper_keys: set[str] | None = None

    def upper_keys(self) -> set[str]:
        """Keys of the words written in capitals; built only if an ALL-CAPS term asks."""
        if self._upper_keys is None:
            analysis = self.analysis
            self._upper_keys = {
                key for key, upper in zip(analysis.keys, analysis.upper, strict=True) if upper
            }
        return self._upper_keys


Test = Callable[[_View], bool]
Collect = Callable[[_View, list[str]], None]


def _collect_nothing(view: _View, out: list[str]) -> None:
    del view, out


class _Compiler:
    """Turns ASTs into closures and registers their phrases and prefixes for the automata."""

    def __init__(self) -> None:
        self.phrase_ids: dict[str, int] = {}
        self.prefixes: set[str] = set()

    def phrase_pattern(self, phrase: Phrase) -> str:
        return " " + " ".join(phrase.keys) + " "

    def phrase_id(self, phrase: Phrase) -> int:
        return self.phrase_ids.setdefault(self.phrase_pattern(phrase), len(self.phrase_ids))

    def leaf_test(self, leaf: Leaf) -> Test:
        if isinstance(leaf, Word):
            key = leaf.key
            if leaf.prefix:
                self.prefixes.add(key)
                return lambda view: key in view.prefixes
            if leaf.exact_case:
                return lambda view: key in view.upper_keys()
            return lambda view: key in view.keys
        if isinstance(leaf, Phrase):
            if len(leaf.keys) == 1:
                key = leaf.keys[0]
                if leaf.exact_case[0]:
                    return lambda view: key in view.upper_keys()
                return lambda view: key in view.keys
            pid = self.phrase_id(leaf)
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
                self.prefixes.add(node.key)
                return ("prefixes", node.key)
            return ("keys", node.key)
        if isinstance(node, Phrase) and not any(node.exact_case):
            if len(node.keys) == 1:
                return ("keys", node.keys[0])
            return ("phrases", self.phrase_id(node))
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
            if not others and set(required) == set(forbidden) == {"keys"}:
                # The most common shape after a single word: "flood -drill", "a b -c".
                present, absent = frozenset(required["keys"]), frozenset(forbidden["keys"])
                return lambda view: present <= view.keys and absent.isdisjoint(view.keys)
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


# An index term: ("w", key) word, ("u", key) ALL-CAPS word, ("p", pattern) phrase,
# ("x", stem) prefix, ("t", topic) topic filter.
TermKey = tuple[str, str]


def _term(node: Node, compiler: _Compiler) -> TermKey | None:
    """The index term of a leaf whose truth is just "this term is in the story", else None."""
    if isinstance(node, Word):
        if node.prefix:
            compiler.prefixes.add(node.key)
            return ("x", node.key)
        return ("u" if node.exact_case else "w", node.key)
    if isinstance(node, Phrase):
        if len(node.keys) == 1:
            return ("u" if node.exact_case[0] else "w", node.keys[0])
        if any(node.exact_case):
            return None
        compiler.phrase_id(node)
        return ("p", compiler.phrase_pattern(node))
    if isinstance(node, Field) and node.name == "topic":
        return ("t", node.folded)
    return None


def _terms_of(node: Node, compiler: _Compiler) -> set[TermKey] | None:
    """The terms of a term or an OR of terms (any one of them satisfies it), else None."""
    if isinstance(node, Or):
        terms: set[TermKey] = set()
        for child in node.children:
            if (term := _term(child, compiler)) is None:
                return None
            terms.add(term)
        return terms
    term = _term(node, compiler)
    return None if term is None else {term}


def _groups(
    root: Node, compiler: _Compiler
) -> tuple[list[frozenset[TermKey]], set[TermKey]] | None:
    """Split a query shaped like ``a (b OR "c d") -e -(f OR g) topic:x`` into required groups
    (each satisfied by any one of its terms) and excluded terms.

    Most subscriptions have this shape (a single term is the smallest case); they are matched
    by counting satisfied groups with numpy, with no per-subscription code. Returns None for
    anything else (OR over AND, nested NOT, source/lang filters, ALL-CAPS phrases) and for
    queries without a required group.
    """
    children = root.children if isinstance(root, And) else (root,)
    groups: set[frozenset[TermKey]] = set()
    excluded: set[TermKey] = set()
    for child in children:
        if (terms := _terms_of(child, compiler)) is not None:
            groups.add(frozenset(terms))
        elif isinstance(child, Not) and (terms := _terms_of(child.child, compiler)) is not None:
            excluded.update(terms)
        else:
            return None
    return (sorted(groups, key=sorted), excluded) if groups else None


def _automaton(patterns: dict[str, object]) -> ahocorasick.Automaton | None:
    if not patterns:
        return None
    automaton = ahocorasick.Automaton()
    for pattern, value in patterns.items():
        automaton.add_word(pattern, value)
    automaton.make_automaton()
    return automaton


def _array(slots: list[int]) -> np.ndarray:
    return np.array(slots, dtype=np.int32)


@dataclass
class _Index:
    """Everything :meth:`Matcher.build` prepares; see :meth:`Matcher.match` for its use."""

    ids: list[int]
    prebuilt: list[MatchResult | None]
    dynamic: np.ndarray  # per slot: its reasons depend on the story (prebuilt is None)
    # Grouped queries (see _groups), per term id: slots of one-term queries (a hit is a
    # match), groups the term satisfies, slots that exclude it. A slot matches when the
    # number of its satisfied groups reaches ``need``.
    single: dict[int, np.ndarray]
    grouped: dict[int, np.ndarray]
    excluded: dict[int, np.ndarray]
    group_slot: np.ndarray
    need: np.ndarray
    # Positive terms of grouped queries whose reasons depend on the story.
    reason_terms: dict[int, tuple[tuple[int, str], ...]]
    word_terms: dict[str, int]
    upper_terms: dict[str, int]
    topic_terms: dict[str, int]
    # Other queries: compiled tests, found through postings of their anchors.
    tests: dict[int, Test]
    collects: list[Collect | None]
    words: dict[str, list[int]]
    fields: dict[tuple[str, str], list[int]]
    always: list[int]
    # Automata values: (phrase id or stem, term id or -1, anchor postings of other queries).
    phrases: ahocorasick.Automaton | None
    prefixes: ahocorasick.Automaton | None


class _Builder:
    """Accumulates the index while subscriptions are compiled one by one."""

    def __init__(self) -> None:
        self.compiler = _Compiler()
        self.term_ids: dict[TermKey, int] = {}
        self.single: dict[int, list[int]] = {}
        self.grouped: dict[int, list[int]] = {}
        self.excluded: dict[int, list[int]] = {}
        self.group_slot: list[int] = []
        self.need: list[int] = []
        self.reason_terms: dict[int, tuple[tuple[int, str], ...]] = {}
        self.tests: dict[int, Test] = {}
        self.collects: list[Collect | None] = []
        self.words: dict[str, list[int]] = {}
        self.phrase_anchors: dict[str, list[int]] = {}
        self.prefix_anchors: dict[str, list[int]] = {}
        self.fields: dict[tuple[str, str], list[int]] = {}
        self.always: list[int] = []

    def term_id(self, term: TermKey) -> int:
        return self.term_ids.setdefault(term, len(self.term_ids))

    def add(self, slot: int, root: Node) -> None:
        shape = _groups(root, self.compiler)
        if shape is not None:
            groups, excluded = shape
            self.need.append(len(groups))
            if len(groups) == 1 and len(groups[0]) == 1 and not excluded:
                (term,) = groups[0]
                self.single.setdefault(self.term_id(term), []).append(slot)
                return
            for group in groups:
                for term in group:
                    self.grouped.setdefault(self.term_id(term), []).append(len(self.group_slot))
                self.group_slot.append(slot)
            for term in excluded:
                self.excluded.setdefault(self.term_id(term), []).append(slot)
            if any(len(group) > 1 for group in groups):
                self.reason_terms[slot] = tuple(
                    (self.term_id(leaf_term), leaf.display)
                    for leaf, positive in leaves(root)
                    if positive and (leaf_term := _term(leaf, self.compiler)) is not None
                )
            return
        self.need.append(0)
        self.tests[slot] = self.compiler.compile_test(root)
        anchors = anchor_leaves(root)
        if anchors is None:
            self.always.append(slot)
            return
        for leaf in anchors:
            postings: list[int]
            if isinstance(leaf, Word) and leaf.prefix:
                postings = self.prefix_anchors.setdefault(leaf.key, [])
            elif isinstance(leaf, Word):
                postings = self.words.setdefault(leaf.key, [])
            elif isinstance(leaf, Phrase) and len(leaf.keys) == 1:
                postings = self.words.setdefault(leaf.keys[0], [])
            elif isinstance(leaf, Phrase):
                pattern = self.compiler.phrase_pattern(leaf)
                postings = self.phrase_anchors.setdefault(pattern, [])
            else:
                postings = self.fields.setdefault(_field_key(leaf), [])
            if not postings or postings[-1] != slot:
                postings.append(slot)

    def finish(self, ids: list[int], prebuilt: list[MatchResult | None]) -> _Index:
        by_kind: dict[str, dict[str, int]] = {kind: {} for kind in "wuptx"}
        for (kind, value), term in self.term_ids.items():
            by_kind[kind][value] = term
        phrase_values: dict[str, object] = {
            pattern: (
                pid,
                by_kind["p"].get(pattern, -1),
                tuple(self.phrase_anchors.get(pattern, ())),
            )
            for pattern, pid in self.compiler.phrase_ids.items()
        }
        prefix_values: dict[str, object] = {
            " " + stem: (stem, by_kind["x"].get(stem, -1), tuple(self.prefix_anchors.get(stem, ())))
            for stem in self.compiler.prefixes
        }
        return _Index(
            ids=ids,
            prebuilt=prebuilt,
            dynamic=np.array([result is None for result in prebuilt], dtype=bool),
            single={term: _array(slots) for term, slots in self.single.items()},
            grouped={term: _array(groups) for term, groups in self.grouped.items()},
            excluded={term: _array(slots) for term, slots in self.excluded.items()},
            group_slot=_array(self.group_slot),
            need=_array(self.need),
            reason_terms=self.reason_terms,
            word_terms=by_kind["w"],
            upper_terms=by_kind["u"],
            topic_terms=by_kind["t"],
            tests=self.tests,
            collects=self.collects,
            words=self.words,
            fields=self.fields,
            always=self.always,
            phrases=_automaton(phrase_values),
            prefixes=_automaton(prefix_values),
        )


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
        prebuilt: list[MatchResult | None] = []
        for slot, (subscription_id, query) in enumerate(ordered):
            builder.add(slot, query.root)
            reasons = _static_reasons(query.root)
            if reasons is None:
                prebuilt.append(None)
                builder.collects.append(builder.compiler.compile_collect(query.root))
            else:
                prebuilt.append(MatchResult(subscription_id, reasons))
                builder.collects.append(None)
        return cls(builder.finish(ids, prebuilt))

    def __len__(self) -> int:
        return len(self._index.ids)

    def match(self, story: StoryFeatures) -> list[MatchResult]:
        """The subscriptions ``story`` satisfies, sorted by subscription id.

        Work per story: tokenise once; look up the story's words, phrases, prefixes and topics
        as index terms; count term hits of the conjunctive queries with numpy; run the compiled
        tests only of the other queries reached through their anchors.
        """
        index = self._index
        analysis = analyze_text(story.title, story.text)
        view = _View(story, analysis)
        word_terms = index.word_terms
        present = [word_terms[key] for key in word_terms.keys() & view.keys]
        if index.upper_terms:
            upper_terms = index.upper_terms
            present += [upper_terms[key] for key in upper_terms.keys() & view.upper_keys()]
        present += [index.topic_terms[topic] for topic in view.topics if topic in index.topic_terms]
        candidates: set[int] = set(index.always)
        words = index.words
        for key in words.keys() & view.keys:
            candidates.update(words[key])
        if index.phrases is not None:
            for _, (pid, term, postings) in index.phrases.iter(" " + " ".join(analysis.keys) + " "):
                view.phrases.add(pid)
                present.append(term)
                candidates.update(postings)
        if index.prefixes is not None:
            for _, (stem, term, postings) in index.prefixes.iter(" " + " ".join(analysis.surfaces)):
                view.prefixes.add(stem)
                present.append(term)
                candidates.update(postings)
        if index.fields:
            for field_key in _story_field_keys(story, view.topics):
                candidates.update(index.fields.get(field_key, ()))

        terms = set(present)
        found = [index.single[term] for term in terms if term in index.single]
        grouped = [index.grouped[term] for term in terms if term in index.grouped]
        if grouped:
            groups = np.unique(np.concatenate(grouped))
            slots, satisfied = np.unique(index.group_slot[groups], return_counts=True)
            matched = slots[satisfied == index.need[slots]]
            excluded = [index.excluded[term] for term in terms if term in index.excluded]
            if excluded and matched.size:
                matched = matched[~np.isin(matched, np.concatenate(excluded))]
            found.append(matched)
        tests = index.tests
        tested = [slot for slot in candidates if tests[slot](view)]
        if tested:
            found.append(np.array(tested, dtype=np.int32))
        if not found:
            return []
        matched = np.sort(np.concatenate(found))
        ordered: list[int] = matched.tolist()
        results = list(map(index.prebuilt.__getitem__, ordered))
        for position in np.flatnonzero(index.dynamic[matched]).tolist():
            results[position] = self._explain(ordered[position], view, terms)
        return cast(list[MatchResult], results)

    def _explain(self, slot: int, view: _View, terms: set[int]) -> MatchResult:
        """Build the result of a matching query whose reasons depend on the story (OR)."""
        index = self._index
        reason_terms = index.reason_terms.get(slot)
        if reason_terms is not None:
            reasons = [display for term, display in reason_terms if term in terms]
        else:
            collect = index.collects[slot]
            assert collect is not None
            reasons = []
            collect(view, reasons)
        return MatchResult(index.ids[slot], tuple(dict.fromkeys(reasons)))


def _field_key(field: Field) -> tuple[str, str]:
    """The posting key of a field anchor; :func:`_story_field_keys` yields the story's side."""
    if field.name == "topic":
        return ("topic", field.folded)
    if field.name == "lang":
        return ("lang", _primary_language(field.folded))
    if field.keys:
        return ("source-word", field.keys[0])
    return ("source", field.folded)


def _story_field_keys(story: StoryFeatures, topics: frozenset[str]) -> list[tuple[str, str]]:
    keys = [("topic", topic) for topic in topics]
    if story.lang:
        keys.append(("lang", _primary_language(story.lang)))
    if story.source:
        keys.append(("source", _fold_label(story.source)))
        keys.extend(("source-word", token) for token in set(_source_tokens(story.source)))
    return keys
