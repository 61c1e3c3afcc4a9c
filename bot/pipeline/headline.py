"""Headlines for stories: find one that runs into the lede, or write one from the lede.

Pasted copy loses its layout: a headline or deck often runs straight into the lede with no
full stop ("... as well as an assassination plot Far-right former Brazilian president Jair
Bolsonaro was sentenced ..."). :func:`split_run_on_headline` finds that seam: the words
before it read as a headline (no sentence end, not cut after a function word, title case or
a deck whose words the lede repeats) and the words after it open a sentence (an opener such
as "The", or a capitalised common word that the text elsewhere writes in lower case, never a
name the text uses mid-sentence).

When a story has no headline, :func:`write_headline` writes one by compressing the lede, as
sub-editors do, without a generative model: the dateline, bracketed and dashed asides,
appositives and relative clauses, generic attributions ("police said", "according to ..."),
time phrases ("on Monday") and leading adverbials go; a named source moves up front ("MPs
say ..."), the rest then cut to fit; a name with its acronym becomes the acronym ("WTO"), and
so does a name whose acronym the story uses elsewhere ("European Union" in a story that says
"EU"), which names the subject in fewer characters; articles and passive
auxiliaries go (headline style: "12 killed", not "12 people were killed"); trailing
subordinate clauses go while the headline is longer than a headline should be, unless they
hold the story's subject or names it repeats. Whatever is cut is cut at a clause or phrase
boundary, never inside a word or a quotation, and the result ends on a content word. When
the lede only refers to its subject ("The former president ..."), the story's main subject
(its most frequent name, :func:`main_subject`) takes that place; when the headline names no
one at all and the story is clearly about someone, it opens with that name ("Kelly: ...").

``benchmarks/headlines.py`` measures both on articles whose real headline is known; the
rules and thresholds were chosen on its "tune" half of the BBC ids and are reported on the
other half.
Everything here is pure: no I/O, no state, no transport code.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Sequence

from bot.pipeline.text import split_sentences, word_set

__all__ = [
    "HEADLINE_MAX_CHARS",
    "main_subject",
    "repeats_title",
    "split_run_on_headline",
    "without_repeated_title",
    "write_headline",
]

HEADLINE_MAX_CHARS = 90
# Longer than this, optional trailing clauses are dropped: news headlines run to 40-70
# characters, and each clause past that adds words a reader skims over.
_TARGET_CHARS = 62
_MIN_CHARS = 18
_CONTEXT_CHARS = 1600
# Weighted mentions (see _story_names) from which the subject is named even when the
# lede does not name it.
_STRONG_SUBJECT = 4

_FUNCTION_WORDS = word_set(
    """
    a an the and or but nor of to in on at by for from with into onto over under about after
    before than that which who whom whose as is are was were be been being has have had will
    would can could should may might must shall do does did not no its his her their our my
    your this these those it he she they we i you if while when where because since although
    though so such very more most less also just per via amid despite during including its
    """
)
# Counts and quantifiers: a cut right after one leaves it waiting for its noun ("shares rose
# after two"), though a sentence may end on one ("the toll rose to seven").
_COUNT_WORDS = word_set(
    """
    two three four five six seven eight nine ten eleven twelve dozen dozens hundreds thousands
    millions several many some both each every few other another all any
    """
)
# Words that open a sentence far more often than they continue a headline.
_SENTENCE_OPENERS = word_set(
    """
    the a an this that these those it its he she they we i his her their our there here in on
    at after before following despite amid as while when with for since during police
    officials authorities rescuers firefighters residents witnesses investigators prosecutors
    doctors scientists researchers analysts experts former a the more some many several
    hundreds thousands dozens at least about nearly almost up to two three four five six seven
    eight nine ten twelve
    """
)
# Openers that part even a run of capitals ("... in China The owners ...").
_STRONG_OPENERS = word_set(
    """
    the a an this these those it he she they we there police officials authorities rescuers
    firefighters residents witnesses investigators prosecutors
    """
)
_MODALS = word_set("will would can could must should may might shall")
_NEEDS_OBJECT = word_set("told tells tell asked asks urged urges informed informs")
_SPEECH_VERBS = word_set("said says say told tells asked asks warned warns added adds")
_MONTHS_AND_DAYS = word_set(
    """
    january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday jan feb mar apr jun jul aug sep
    sept oct nov dec
    """
)
# Capitalised words that are not names of a subject: titles, openers, calendar words.
_NOT_SUBJECTS = (
    _MONTHS_AND_DAYS
    | _SENTENCE_OPENERS
    | word_set(
        """
        mr mrs ms dr sir lord lady but and or so yet however meanwhile also then still if
        what who why how where when one new first last next i it's we're he's she's they're
        said says according speaking asked
        """
    )
)
_TERMINAL = re.compile(r"[.!?…][\"'”’»)\]]*$")
_WORD = re.compile(r"\S+")
_LETTERS = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*")


def _bare(token: str) -> str:
    """The token without surrounding quotes, brackets and punctuation."""
    return token.strip("\"'“”‘’«»()[]{},;:.!?")


def _capitalised(token: str) -> bool:
    bare = _bare(token)
    return bool(bare) and bare[0].isupper()


# --- run-on headlines -------------------------------------------------------------------------

_RUN_ON_MIN_WORDS = 3
_RUN_ON_MAX_WORDS = 22
_RUN_ON_MAX_CHARS = 170
_LEDE_MIN_WORDS = 8
_RUN_ON_SCAN_CHARS = 600


# An agency dateline inside a line: "... 'Robo Calls' WASHINGTON (Reuters) - Telemarketers".
# Its place is in capitals, so an ordinary capitalised word is never taken for one.
_INLINE_DATELINE = re.compile(
    r"\s(?=[A-Z][A-Z.'’-]{2,}(?:[ ,]+[A-Z][\w.'’-]*){0,3}"
    r"(?:,?\s+(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)[a-z]*\.?\s+\d{1,2}"
    r"(?:,\s*\d{4})?)?"
    r"\s*(?:\([^()]{1,30}\))?\s+(?:-{1,2}|—|–)\s+\S)"
)


_HEADLINE_DASH = re.compile(r"\s[—–-]\s+(?=[\"“‘']?[A-Z])")
# "... Sounds Off (AP) AP", "... fails to yield results: OECD (AFP)": the agency's credit.
_AGENCY_TAIL = re.compile(
    r"\s*\((?:AP|AFP|Reuters|UPI|PA|DPA|EFE|ANSA|Xinhua|Kyodo|Yonhap|TASS|SPACE\.com)\)"
    r"(?:\s+(?:AP|AFP|Reuters|UPI))?\s*$"
)
_DETERMINERS = word_set("the a an this that these those its his her their our")
_ANY_DASH = re.compile(r"\s[—–-]\s")
_DASHED_HEAD_MAX_WORDS = 14


def _dashed_headline(line: str) -> tuple[str, str] | None:
    """(headline, lede) of a briefing item that sets its headline off with a dash:
    "Quake kills 41 in Veldra — A magnitude 6.8 earthquake struck ...".

    The headline is a few words with no sentence end; the lede opens with a capital and is a
    sentence of its own with no second dash in it (a dash aside, "the club - and Stam - by",
    closes with one).
    """
    match = _HEADLINE_DASH.search(line[: _RUN_ON_MAX_CHARS + 3])
    if match is None:
        return None
    head, lede = line[: match.start()].strip(), line[match.end() :].strip()
    head = _AGENCY_TAIL.sub("", head)
    words = head.split()
    if not (_RUN_ON_MIN_WORDS <= len(words) <= _DASHED_HEAD_MAX_WORDS) or _TERMINAL.search(head):
        return None
    if head[-1:] in ",;:" or _bare(words[-1]).lower() in _FUNCTION_WORDS:
        return None
    first = split_sentences(lede[:_RUN_ON_SCAN_CHARS])[0] if lede else ""
    if (
        len(first.split()) < _LEDE_MIN_WORDS
        or _ANY_DASH.search(first)
        or not _has_verb(first)
        or not _capitalised(words[0])
    ):
        return None
    return head, lede


def opens_sentence(token: str, whole: str) -> bool:
    """Whether capitalised ``token`` reads as the first word of a sentence, not a name.

    It does when it is a usual opener, a capitalised compound ("Far-right"), or a word that
    ``whole`` (the line and more of the story) writes in lower case and capitalises
    mid-sentence nowhere else: the seam itself looks mid-sentence, so a name is a word
    capitalised after an open word at least twice. Searched only for candidate seams.
    """
    bare = _bare(token)
    key = bare.lower()
    if key in _SENTENCE_OPENERS:
        return True
    if "-" in bare and bare.split("-", 1)[1][:1].islower():
        return True  # "Far-right", "Long-awaited": a capitalised compound opens a sentence.
    if not bare.isalpha() or key == bare:
        return False
    # Plain substring counts: a regular expression per candidate word costs a compile each.
    mid_sentence = whole.count(f" {bare}") - sum(
        whole.count(f"{end} {bare}") for end in (".", "!", "?", '."', ".”")
    )
    if mid_sentence > 1:
        return False
    return any(f" {key}{after}" in whole for after in (" ", ",", ".", ";", ":"))


def _content(text: str) -> set[str]:
    return {
        word.lower()
        for word in _LETTERS.findall(text)
        if len(word) > 2 and word.lower() not in _FUNCTION_WORDS
    }


def split_run_on_headline(line: str, context: str = "") -> tuple[str, str] | None:
    """Split ``line`` into (headline, lede) when a headline runs into the lede without a stop.

    ``context`` is more of the story (it helps tell names from sentence openers). Returns
    ``None`` when the line starts with an ordinary sentence. The seam is where a capitalised
    word that opens a sentence follows a headline-shaped run of words: at most
    ``_RUN_ON_MAX_WORDS`` words, no sentence end inside, not ending on a function word or
    punctuation, in title case or with words the lede repeats, and followed by at least
    ``_LEDE_MIN_WORDS`` words of lede.
    """
    tokens = _WORD.findall(line)
    if len(tokens) < _RUN_ON_MIN_WORDS + _LEDE_MIN_WORDS:
        return None
    dateline = _INLINE_DATELINE.search(line[: _RUN_ON_MAX_CHARS + 60])
    if dateline is not None:
        head = line[: dateline.start()].strip()
        if (
            _RUN_ON_MIN_WORDS <= len(head.split()) <= _RUN_ON_MAX_WORDS
            and len(head) <= _RUN_ON_MAX_CHARS
            and not _TERMINAL.search(head)
            and _capitalised(head.split()[0])
            and _bare(head.split()[-1]).lower() not in _FUNCTION_WORDS
            and head.rstrip("\"'”’»")[-1:] not in ",;:-–—"
        ):
            return head, line[dateline.start() :].strip()
    dashed = _dashed_headline(line)
    if dashed is not None:
        return dashed
    # The first sentence is all that is weighed; a headline and a lede open well within this.
    first_sentence = split_sentences(line[:_RUN_ON_SCAN_CHARS])[0] if line.strip() else ""
    first_count = len(first_sentence.split())
    if first_count < _RUN_ON_MIN_WORDS + _LEDE_MIN_WORDS:
        return None  # The headline and the lede's first sentence would not both fit.
    if not (_capitalised(tokens[0]) or tokens[0][:1].isdigit() or tokens[0][:1] in "\"'“‘"):
        return None
    limit = min(_RUN_ON_MAX_WORDS, first_count - _LEDE_MIN_WORDS)
    if not any(
        _capitalised(tokens[seam]) and tokens[seam - 1][-1:] not in ".,;:!?"
        for seam in range(_RUN_ON_MIN_WORDS, limit + 1)
    ):
        return None  # No capital after an open word: no seam to weigh.
    whole = f"{line}\n\n{context}"
    best: tuple[float, int] | None = None
    for seam in range(_RUN_ON_MIN_WORDS, limit + 1):
        if not tokens[seam][:1].isupper() and tokens[seam][:1] not in "\"'“‘":
            continue
        score = _seam_score(tokens, seam, whole)
        # "group The Bravery have ...": a pair of capitals the text repeats is a name.
        if (
            score is not None
            and seam + 1 < len(tokens)
            and _capitalised(tokens[seam + 1])
            and whole.count(f" {tokens[seam]} {_bare(tokens[seam + 1])}") > 1
            # A lede that opens with the name its story repeats ("South Korea's ...").
            and (opens_sentence(tokens[seam], whole) or not _name_led_lede(tokens, seam))
        ):
            score = None
        if score is not None and (best is None or score > best[0]):
            best = (score, seam)
    if best is None:
        return None
    seam = best[1]
    head = " ".join(tokens[:seam])
    if len(head) > _RUN_ON_MAX_CHARS:
        return None
    return head, " ".join(tokens[seam:])


def _seam_score(tokens: Sequence[str], seam: int, whole: str) -> float | None:
    """How well a seam before ``tokens[seam]`` parts a headline from a lede (None: it cannot)."""
    last, word = tokens[seam - 1], tokens[seam]
    if not _capitalised(word) or word[:1] in "(":
        return None
    if last.rstrip("\"'”’»")[-1:] in ".,;:!?-–—…&/" or _bare(last).lower() in _FUNCTION_WORDS:
        return None  # '"... our state," Nebraska's attorney general said': a quotation.
    before = [_bare(token).lower() for token in tokens[max(0, seam - 3) : seam - 1]]
    if before[-1:] and (
        before[-1] in _MODALS or (before[-2:] and before[-1] == "to" and before[0] in _AUXILIARIES)
    ):
        return None  # "... is to pay | Fiat 1.55bn euros": a verb waiting for its object.
    if _bare(last).lower() in _NEEDS_OBJECT:
        return None  # "Governor X told | The Denver Post he ...": the verb needs its object.
    if not _bare(last):
        return None
    head = tokens[:seam]
    content = [t for t in head if _bare(t) and _bare(t).lower() not in _FUNCTION_WORDS]
    if not content:
        return None
    title_case = sum(_capitalised(t) for t in content) / len(content)
    head_names = {_bare(t).lower() for t in tokens[1:seam] if _capitalised(t)}
    head_names.add(_bare(tokens[0]).lower())
    # The lede names the headline's subject again: "Parmalat boasts ... profits Parmalat, the".
    # ... or a word of the headline, capitalised as only a sentence's first word is:
    # "Video phone help for deaf people Deaf people who prefer ...".
    head_words = {_bare(t).lower() for t in head if len(_bare(t)) > 3 and not _capitalised(t)}
    echo_start = (
        not _capitalised(last)
        and (_bare(word).lower() in head_names or _bare(word).lower() in head_words)
        and _bare(last).lower() not in _SPEECH_VERBS
    )
    # A lede that opens with a name: _name_led_lede has found the headline's subject in it.
    name_led = not echo_start and not opens_sentence(word, whole)
    if name_led and not _name_led_lede(tokens, seam):
        return None
    if _capitalised(last) and _bare(word).lower() not in _STRONG_OPENERS:
        return None  # Inside a run of capitals ("Cairn Energy"), only a plain opener parts.
    lede = " ".join(tokens[seam : seam + 40])
    if not _has_verb(split_sentences(lede)[0]):
        return None  # What follows the seam must be a sentence: "French Open champion X 6-4".
    echoed = len(_content(" ".join(head)) & _content(lede))
    score = 0.0
    if title_case >= 0.75 and len(content) >= 2:
        # Title Case headline: the seam is where the capitals stop being the headline's; a
        # name that opens the lede stays with the lede, an opener is the clearest seam.
        rest_upper = 0
        for token in tokens[seam:]:
            if not _capitalised(token):
                break
            rest_upper += 1
        if rest_upper > 4:
            return None
        score += 2.0
        # Do not cut a name the text writes elsewhere: "CPAC Fox" is a seam, "Fox News" not.
        if f"{_bare(last)} {_bare(word)}".lower() in _bigrams(tokens, seam):
            return None
        score += 0.5 * min(echoed, 3)
        return score - 0.05 * seam
    # Sentence-case headline or deck: the next word must open a sentence, and the lede should
    # repeat the headline's words.
    if echoed == 0 and not name_led:
        return None
    strong = 1.0 if _bare(word).lower() in _STRONG_OPENERS else 0.0
    return 1.0 + strong + 0.5 * min(echoed, 3) - 0.02 * seam


_LEDE_SUBJECT_WORDS = 8
_SUBJECT_LINKS = word_set("of the")
_PARTICLES = word_set("up down out off back away over around along ahead")


def _name_led_lede(tokens: Sequence[str], seam: int) -> bool:
    """Whether a lede that opens with a name starts at ``seam``: "... comeback Leicester wing
    Austin Healey hopes to ...", "... firm rescued South Korea's largest card firm has ...".

    A name is no sentence opener, so such a seam needs other proof: the headline ends on a
    lower-case content word, and the lede's subject (the words up to its first lower-case
    verb, nouns and names only) names again a word of the headline, as a lede restates its
    headline's subject. Inside one sentence a capitalised object ("beat Rovers", "told
    Reuters") is not followed by a noun phrase that repeats the words before it and a verb.
    """
    bare_last = _bare(tokens[seam - 1])
    if (
        seam < _RUN_ON_MIN_WORDS
        or not bare_last[:1].islower()
        or bare_last.lower() in _SPEECH_VERBS
        or bare_last.lower() in _AUXILIARIES
        or bare_last.lower() in _PARTICLES  # "Stam spices up | Man Utd ...": a verb's part.
        # "confirmed that the actress | Reid was ...": a noun that the name goes with.
        or _bare(tokens[seam - 2]).lower() in _DETERMINERS
    ):
        return False
    head = {
        _bare(token).lower().removesuffix("'s").removesuffix("’s")
        for token in tokens[:seam]
        if len(_bare(token)) > 2 and _bare(token).lower() not in _FUNCTION_WORDS
    }
    subject: list[str] = []
    for token in tokens[seam : seam + _LEDE_SUBJECT_WORDS + 1]:
        word = _bare(token)
        if not word or token[-1:] in ",;:(" or token[:1] in "(\"“'‘":
            return False  # An aside or a quotation: no plain subject to read.
        if word[:1].islower():
            lowered = word.lower()
            if lowered in _AUXILIARIES or lowered in _SPEECH_VERBS or lowered in _IRREGULAR_PAST:
                break
            if lowered.endswith(("s", "ed")) and subject and not lowered.endswith("ss"):
                break  # "hopes", "says", "averted": the subject's verb.
            if lowered in _FUNCTION_WORDS and lowered not in _SUBJECT_LINKS:
                return False
        subject.append(word.lower().removesuffix("'s").removesuffix("’s"))
    else:
        return False  # No verb close after the name: an object, not a subject.
    named = set(subject[1:] or subject)
    if head & named or any(
        # "Algeria" in the headline, "Algerian militants" in the lede.
        len(word) > 5 and len(other) > 5 and (word.startswith(other) or other.startswith(word))
        for word in named
        for other in head
    ):
        return True
    # "GM pays ... | General Motors of the US is to pay": the headline's acronym of the name.
    leading = list(itertools.takewhile(_capitalised, tokens[seam : seam + len(subject)]))
    acronyms = {_bare(token) for token in tokens[:seam] if _ACRONYM_WORD.fullmatch(_bare(token))}
    return len(leading) > 1 and _initials(leading) in acronyms


def _bigrams(tokens: Sequence[str], seam: int) -> set[str]:
    """Capitalised word pairs seen elsewhere in the line (a name the seam would cut)."""
    pairs: set[str] = set()
    for index in range(len(tokens) - 1):
        if index == seam - 1:
            continue
        first, second = _bare(tokens[index]), _bare(tokens[index + 1])
        if first[:1].isupper() and second[:1].isupper():
            pairs.add(f"{first} {second}".lower())
    return pairs


# --- main subject -----------------------------------------------------------------------------

_NAME_WORD = r"[A-Z](?:[\w'’&-]|\.(?=\w))*"
_CAPITAL_RUN = re.compile(
    r"(?<![\w'’-])"
    + _NAME_WORD
    + r"(?:[ ](?:(?:of|de|da|di|del|van|von|der|bin|al|le|la)[ ])?"
    + _NAME_WORD
    + r")*"
)
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*\s+")
_DEMONYM = re.compile(r"(?:ish|ese|ian|ean|ic)$")
_HONORIFICS = word_set("mr mrs ms dr prof")
_NAME_LINKS = word_set("of de da di del van von der bin al le la")


def main_subject(text: str) -> str | None:
    """The story's most frequent name (a person, place or organisation), as the text writes it.

    See :func:`_story_names`; ``None`` when the text names nothing twice.
    """
    found, _ = _story_names(text)
    return found[0] if found is not None else None


def _story_names(text: str) -> tuple[tuple[str, int] | None, Counter[str]]:
    """The story's main subject with its weighted mentions, and its names counted.

    Names are runs of capitalised words, read with one regular expression rather than word
    by word (this runs for every story of a dump). Mentions are counted by their last word,
    so "Jair Bolsonaro" and "Bolsonaro" are one subject; the form returned is the one the
    text uses most, without "Mr". Mentions in the first two sentences weigh double: news
    names its subject in the lede. Calendar words, titles, sentence openers and demonyms
    ("Irish") are not subjects, and a word only ever seen opening a sentence ("Rail
    services ...") may be an ordinary word. The counter holds every capitalised word seen
    past a sentence's first word, lower-cased.
    """
    ends = [match.end() for match in _SENTENCE_END.finditer(text)]
    early = ends[1] if len(ends) > 1 else len(text)
    starts = {0, *ends}
    names: Counter[str] = Counter()
    heads: Counter[str] = Counter()
    inside: set[str] = set()
    forms: dict[str, list[str]] = {}
    for match in _CAPITAL_RUN.finditer(text):
        begin = match.start()
        opens = begin in starts or (begin - 1 in starts and text[begin - 1] in "\"“‘'(")
        run = match.group(0)
        if " " in run:
            words = [
                word.removesuffix("'s").removesuffix("’s")
                for word in run.split()
                if word.lower() not in _MONTHS_AND_DAYS
            ]
        elif run.lower() in _MONTHS_AND_DAYS:
            continue
        else:
            words = [run.removesuffix("'s").removesuffix("’s")]
        if opens and words and words[0].lower() in _NOT_SUBJECTS:
            words = words[1:]
            opens = False
        while words and words[-1].lower() in _NAME_LINKS:
            words.pop()
        if not words:
            continue
        for word in words[1:] if opens else words:
            names[word.lower()] += 1
        head = words[-1].lower()
        if head in _NOT_SUBJECTS or (len(words) == 1 and _DEMONYM.search(head)):
            continue
        heads[head] += 2 if match.start() < early else 1
        forms.setdefault(head, []).append(" ".join(words))
        if not opens or len(words) > 1:
            inside.add(head)
    named = [(head, count) for head, count in heads.most_common() if head in inside]
    if not named or named[0][1] < 2:
        return None, names
    head, count = named[0]
    form_counts = Counter(forms[head])
    form = max(form_counts, key=lambda form: (form_counts[form], -len(form)))
    honorific = form.split(" ", 1)
    if len(honorific) == 2 and honorific[0].lower() in _HONORIFICS:
        form = honorific[1]  # "Mr Brown" is "Brown" in a headline.
    return (form, count), names


# --- writing a headline -----------------------------------------------------------------------

_DAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November"
    r"|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?"
)
# "LONDON (Reuters) - ", "HARTFORD, Conn. — ", "CLEVELAND, Feb 26 - ", "Lille (AFP) - ": a
# place in capitals (with its date) or with an agency; "David Blunkett - who ..." is no dateline.
_DATELINE = re.compile(
    r"^(?:[A-Z][A-Z.&'’]+(?:[ ,]+[A-Z][\w.&'’]*){0,4}(?:,?\s+" + _MONTH + r"\s+\d{1,2})?"
    r"\s*(?:\([^()]{1,30}\))?"
    r"|[A-Z][\w.&'’]*(?:[ ,]+[A-Z][\w.&'’]*){0,4}\s*\([^()]{1,30}\)|\([^()]{1,30}\))"
    r"\s+(?:-{1,2}|—|–)\s+"
)
_PARENTHESES = re.compile(r"\s*\([^()]{0,80}\)")
# "The World Trade Organisation (WTO)": headlines use the short form.
_NAME_WITH_ACRONYM = re.compile(
    r"\b(?P<name>[A-Z][\w'’&-]*(?:\s+(?:(?:of|and|for|the|de|on)\s+)?[A-Z][\w'’&-]*){1,6})"
    r"\s+\((?P<short>[A-Z][A-Za-z0-9&]{1,6})\)"
)
_DASH_ASIDE = re.compile(r"\s+(?:--|—|–|-)\s+[^-—–]{1,80}?\s+(?:--|—|–|-)\s+")
_TIME_PHRASES = re.compile(
    r"(?:,\s*)?\b(?:(?:on|late on|early on|late|early|by|until|from|since)\s+)?"
    r"(?:(?<!the )(?<!last )(?<!next )(?:"
    + _DAY
    + r"(?!\s+(?-i:[A-Z]))(?:\s+(?:morning|afternoon|evening|night))?(?:,?\s+"
    + _MONTH
    + r"\s+\d{1,2}(?:,\s*\d{4})?)?)"
    r"|(?:" + _MONTH + r"\s+\d{1,2}(?:st|nd|rd|th)?(?:,\s*\d{4})?)"
    r"|(?:\d{1,2}(?:st|nd|rd|th)?\s+" + _MONTH + r"(?:\s+\d{4})?)"
    r"|(?:(?:earlier|later)\s+(?:this|last|next)\s+(?:week|month|year|morning|weekend))"
    r"|(?:(?:last|this|next)\s+(?:week|month|weekend|night|morning|year)(?!'))"
    r"|yesterday|overnight|tonight)\b"
    # "Sunday's clash", "yesterday's vote": a possessive day names the event; cut, it would
    # leave a stray "'s" behind.
    r"(?!['’]\w)",
    re.IGNORECASE,
)
_ATTRIBUTION_TAIL = re.compile(
    r"(?:,|\s)\s*(?:(?:the|a|an|its|his|her|their)\s+)?"
    r"(?:[\w'’.&-]+\s+){0,6}?"
    r"(?:said|says|say|reported|reports|announced|confirmed|told\s+[\w\s'’.-]{1,40}?"
    r"|has\s+(?:found|said|reported|announced|revealed|heard|confirmed|learned|learnt)"
    r"|have\s+(?:found|said|reported|announced|revealed|confirmed)"
    r"|has been reported as saying|it has been revealed|it emerged|it was (?:reported|revealed))"
    r"(?:\s+(?:in\s+a\s+statement|on\s+\w+|at\s+[\w\s]{1,30}|late\s+\w+))?\s*$",
    re.IGNORECASE,
)
# ", MPs have said" / ", said Charles Kennedy": a named speaker a headline keeps up front.
_NAMED_TAIL = re.compile(
    r",\s+(?:(?:the|a|an)\s+)?(?P<speaker>(?:[\w'’.&-]+\s+){0,5}?[\w'’.&-]+)\s+"
    r"(?:(?:has|have)\s+)?(?P<verb>said|says|say|warned|warns|suggested|claimed|claims"
    r"|insisted|argued|believes|told\s+(?:the\s+)?[\w'’-]+(?:\s+[A-Z][\w'’-]+)?)"
    r"(?:\s+(?:on\s+\w+|in\s+a\s+\w+|last\s+\w+))?\s*$"
    r"|,\s+(?P<verb2>said|says)\s+(?P<speaker2>(?:[\w'’.&-]+\s+){0,5}?[\w'’.&-]+)\s*$"
)
_PRESENT_TENSE = {
    "said": "says",
    "warned": "warns",
    "suggested": "suggests",
    "claimed": "claims",
    "insisted": "insists",
    "argued": "argues",
    "told": "says",
}
_LINKS = word_set("and of for")
_ROLES = word_set(
    """
    secretary minister president chancellor governor leader chairman chief spokesman mayor
    premier senator general director commissioner
    """
)
_GENERIC_SPEAKERS = word_set(
    """
    police officials authorities spokesman spokeswoman spokesperson sources source reports
    report analysts experts it he she they company firm group government ministry statement
    study survey figures data researchers investigators witnesses residents officers agency
    """
)
_ACCORDING_TO = re.compile(r",?\s*according to [^,;]+(?=[,;]|$)", re.IGNORECASE)
# "Police said (that) ...": the speaker goes when what they said is a clause of its own.
_LEADING_ATTRIBUTION = re.compile(
    r"^(?P<speaker>(?:[\w'’.&-]+\s+){1,6}?)(?:(?:has|have)\s+)?(?P<verb>said|says|say"
    r"|(?:believes?|fears?|warned|warns|announced|confirmed|reported|claimed|claims|insisted"
    r"|revealed)(?=\s+that))(?:\s+on\s+\w+)?\s+(?:that\s+)?(?=[\w\"'“])",
    re.IGNORECASE,
)
# "Sheriff Mark Overman, in western Nebraska, said ...": an aside between the opening speaker
# and the speech verb hides the attribution; without it the speaker's words are the news.
_ASIDE_BEFORE_SPEECH = re.compile(
    r"^(?P<speaker>[A-Z][^,;]{1,80}?),\s+[^,;\"“]{1,80}?,\s+(?=(?:said|says)\s+(?!that\b)[\w\"“])"
)
_PRONOUN_START = re.compile(r"^(?:it|he|she|they)\s+(?=[a-z])", re.IGNORECASE)
_LEADING_ADVERBIAL = re.compile(
    # "In Lake County, Illinois, a manhunt ...": a place and its region go together.
    r"^(?:In|At|Near)\s+[^,]{1,60},\s+[A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*){0,2},\s+(?=[a-z])|"
    r"^(?:On|In|At|After|Before|Following|Despite|Amid|As|While|When|With|Since|Earlier"
    r"|Later|Last|This|Speaking|Having|Under|During|For the first time|Once|Until|Within"
    r"|Over|Across|Nearly|Almost|More than|Less than)\b[^,]{0,90},\s+(?=\S)"
)
# An aside after a name or noun: ", the firm's chief executive,", ", 45,", ", who ...,".
_APPOSITIVE = re.compile(
    r",\s+(?:(?:the|a|an|its|his|her|their|one|who|which|whose|where|now|once|then|also"
    r"|currently|formerly|aged|himself|herself)\b|\d{1,3},)[^,;]{0,120}?(?:,|(?=\s+(?:--|—|–)))"
)
# "..., former chief executive of X, has started": an aside between the subject and its verb.
_ASIDE_BEFORE_VERB = re.compile(
    r",\s+[a-z][^,;]{0,100},\s+(?=(?:has|have|had|is|are|was|were|will|would|could|can|may"
    r"|might|must|should|\w+ed)\b)"
)
_RELATIVE_TAIL = re.compile(r",\s+(?:who|which|whose|where)\b[^;]*$")
# Where a trailing clause or phrase begins: the headline may end just before it.
_CLAUSE_START = re.compile(
    r"(?:,?\s+(?=(?:after|as|while|because|since|although|though|despite|amid|following"
    r"|before|when|whereas|unless|until|so that|but|and then|forcing|leaving|sparking"
    r"|prompting|raising|saying|adding|amid|in a bid|in an attempt|in what|with|which|who)\b))"
    r"|,\s+(?=[a-z]\w*ing\b)"
)
# "800 killed and more than 2,500 injured after ...": the second conjunct goes first when a
# headline is too long, so the clause that names the event can stay.
_COORDINATION = re.compile(
    r"\s+and\s+(?:more than\s+|at least\s+|about\s+|nearly\s+)?[\d,.]+\s+[a-z]+"
    r"(?=\s+(?:after|as|when|while|in|following)\b)"
)
_PHRASE_START = re.compile(
    r"\s+(?=(?:in|on|at|for|from|to|over|under|into|by|of|against|near|across|with|without"
    r"|between|among|during|and|or|but|than)\b)"
)
_AUXILIARY = re.compile(
    r"\b(?:has|have|had)\s+been\s+(?=\w+(?:ed|en|wn|ung|ught|old|ade|ept|eld|ost|ound|ut)\b)"
    r"|\b(?<!will )(?<!would )(?:was|were|is|are)\s+(?=(?:\w+ly\s+)?\w+(?:ed|en|wn|ung|ught"
    r"|old|ade|eld|ost|ound|ut)\b)"
    r"|\b(?:has|have)\s+(?=\w+ed\b)",
    re.IGNORECASE,
)
_ARTICLE = re.compile(r"(?<![\w'’-])(?:the|a|an)\s+(?=[^\s])")
_LEADING_ARTICLE = re.compile(r"^(?:The|A|An)\s+(?=\S)")
# "The former president was ...": a subject that only refers to someone the text names.
_DESCRIPTOR_SUBJECT = re.compile(
    r"^(?:(?:The|This|That)\s+)?(?:[A-Za-z0-9][a-z0-9'’-]*\s+)?"
    # Words that qualify the noun, not a phrase that places it ("crime in the city").
    r"(?:(?!(?:in|of|at|on|for|from|with|by|to|the|a|an)\s)[a-z0-9][\w'’-]*\s+){0,3}?"
    r"(?:president|prime minister|minister|leader|chancellor|king|queen|prince|pope|chief"
    r"|executive|boss|star|singer|actor|actress|player|striker|coach|manager|champion|firm"
    r"|company|group|giant|maker|bank|carrier|airline|team|club|side|country|nation|state"
    r"|city|government|premier|senator|governor|mayor|man|woman|suspect|rapper|band|author"
    r"|director|founder|officer|driver|pilot)\b|^(?:He|She|They|It)\b"
)
_SPACES = re.compile(r"\s+")
_AUXILIARIES = word_set(
    """
    is are was were has have had will would can could may might must should does did do be
    been being am shall
    """
)
_IRREGULAR_PAST = word_set(
    """
    won lost hit set cut put took made gave got went came saw held led left paid sold bought
    told said thought began ran rose fell grew fought struck shot beat built brought caught
    chose drew drove fled flew froze hung kept knew laid lent meant met quit sent shut slid
    sought spent split spread stood stole swore swept threw took tore understood upheld won
    withdrew wrote bid sank sprang stung swung overtook overcame
    """
)
_QUOTES = re.compile(r"[\"“”]")
_DANGLING_END = re.compile(r"[\s,;:\-–—“‘(]+$")


_COMPANY_ENDINGS = frozenset({"Inc", "Co", "Corp", "Ltd", "Bros", "Jr", "Sr"})


def _tidy(text: str) -> str:
    text = _SPACES.sub(" ", text).strip()
    text = re.sub(r"\s+([,;:.!?%)])", r"\1", text)
    text = re.sub(r",(?:\s*,)+", ",", text)
    text = _DANGLING_END.sub("", text).strip(" ,;")
    if text.endswith(('"', "'")) and text.count(text[-1]) % 2:
        text = _DANGLING_END.sub("", text[:-1]).strip(" ,;")  # A quotation opened, not closed.
    words = text.split()
    if words and words[-1].rstrip(".") in _COMPANY_ENDINGS:
        words[-1] = words[-1].rstrip(".")  # "... ATI Technologies Inc.": no stop in a headline.
    while len(words) > 3 and _bare(words[-1]).lower() in _FUNCTION_WORDS:
        words.pop()  # "... on the last": a headline does not end on a function word.
    # What the function words followed goes too: "... at substation, not by" ends "substation".
    return _DANGLING_END.sub("", " ".join(words)).strip(" ,;")


def _ends_well(text: str) -> bool:
    words = text.split()
    if not words:
        return False
    last = _bare(words[-1]).lower()
    return last not in _FUNCTION_WORDS and last not in _SPEECH_VERBS


def _has_verb(text: str) -> bool:
    """Whether ``text`` holds a finite verb, judged from its words' shape (no tagger)."""
    for token in text.split()[1:]:
        word = _bare(token)
        if not word or not word[0].islower():
            continue
        if word in _AUXILIARIES or word in _IRREGULAR_PAST or word.endswith("ed"):
            return True
        if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
            return True  # Headline present tense ("kills", "wins"); plural nouns slip in.
    return False


def _clean_cut(text: str, position: int, needs_verb: bool) -> bool:
    """Whether cutting ``text`` at ``position`` leaves a whole headline."""
    if len(_QUOTES.findall(text[:position])) % 2:
        return False  # Inside a quotation.
    head = _tidy(text[:position])
    if len(head) < _MIN_CHARS or len(head.split()) < 3 or not _ends_well(head):
        return False
    if _bare(head.split()[-1]).lower() in _COUNT_WORDS and text[position:].lstrip()[:1].islower():
        return False
    return not needs_verb or _has_verb(head)


def _initials(words: Sequence[str]) -> str:
    """The letters an acronym takes from ``words``: each capitalised word or hyphenated part
    gives its first letter, a word in capitals all of it ("UK Independence Party": UKIP), and
    lower-case links ("of", "and") none."""
    letters = []
    for word in words:
        bare = _bare(word).removesuffix("'s").removesuffix("’s")
        if len(bare) > 1 and bare.isupper():
            letters.append(bare)
            continue
        letters.extend(part[0] for part in bare.split("-") if part[:1].isupper())
    return "".join(letters)


def _acronym(match: re.Match[str]) -> str:
    """The acronym in place of the name it stands for, when its letters fit the name's.

    The name found before the brackets can take in words that are not part of it ("Shares of
    Sumitomo Mitsui Financial (SMFG)"): the longest tail of it whose initials spell the
    acronym, or begin it, is what the acronym replaces. An acronym written as a word
    ("Wada", "Balco") must spell the name's initials, not only share their first letter.
    """
    name, short = match.group("name"), match.group("short")
    lead = re.match(r"(?:The|A|An)\s+", name)
    words = name[lead.end() if lead else 0 :].split()
    key = short.lower()
    for start in range(len(words)):
        initials = _initials(words[start:]).lower()
        if not words[start][:1].isupper() or len(initials) < 2:
            continue
        if initials == key or (key.startswith(initials) and len(initials) >= 3):
            kept = " ".join(words[:start])
            prefix = (lead.group(0) if lead and not start else "") + (kept + " " if kept else "")
            return prefix + short
    initials = _initials(words)
    if initials and short[0] == initials[0] and short.isupper():
        return (lead.group(0) if lead else "") + short
    return match.group(0)


# A run of capitalised words, with the links names carry inside ("Bank of England").
_NAME_RUN = re.compile(
    r"(?<![\w'’-])[A-Z][\w'’&-]*(?:\s+(?:(?:of|and|for|the|on)\s+)?[A-Z][\w'’&-]*)+"
    r"(?:(?<=Co)\.|(?<=Inc)\.|(?<=Ltd)\.|(?<=Corp)\.)?"
)
_TICKER = re.compile(r"<[^<>\s]{1,12}>")
_REPEATED_ACRONYM = re.compile(r"\b([A-Z][A-Z&]{1,5})(?:,\s+\1,|\s+\(\1\))(?=\s|$)")
# A word in capitals that may be an acronym: "EU", "FBI", "LSE" (not "I" or "A").
_ACRONYM_WORD = re.compile(r"(?<![\w'’&-])[A-Z][A-Z&]{1,5}(?![\w&-])")


def _story_short_forms(title: str, story: str) -> str:
    """Names in ``title`` written as the acronym the story also uses for them.

    Headlines use the short form a story gives a name ("European Union ministers ..." in a
    story that says "EU" becomes "EU ministers ..."; "Federal Bureau of Investigation",
    "FBI"), which saves room for the rest of the lede. Only an acronym the story writes in
    capitals elsewhere counts, so no abbreviation is invented.
    """
    # Stock tickers ("<SRD>") abbreviate nothing the story spells out.
    counts = Counter(_ACRONYM_WORD.findall(_TICKER.sub(" ", story)))
    # Two letters spell many names ("AP", "HR"): such an acronym must be the story's habit.
    acronyms = {word for word, count in counts.items() if len(word) > 2 or count >= 3}
    if not acronyms:
        return title
    content = [word for word in title.split() if _bare(word).lower() not in _FUNCTION_WORDS]
    if content and sum(_capitalised(word) for word in content) / len(content) >= 0.75:
        return title  # Title Case: capitals do not tell a name from an ordinary word.

    def shorten_run(match: re.Match[str]) -> str:
        words = match.group(0).split()
        for start in range(len(words) - 1):
            for end in range(len(words), start + 1, -1):
                span = words[start:end]
                if not (span[0][:1].isupper() and span[-1][:1].isupper()):
                    continue
                initials = _initials(span)
                if len(initials) < 2 or initials not in acronyms or initials == span[0]:
                    continue
                last = span[-1].rstrip(".")
                possessive = "'s" if last.endswith("'s") else "’s" if last.endswith("’s") else ""
                return " ".join([*words[:start], initials + possessive, *words[end:]])
        return match.group(0)

    shortened = _NAME_RUN.sub(shorten_run, title)
    # "The Commodity Credit Corporation, CCC, accepted": the acronym is not said twice.
    return _REPEATED_ACRONYM.sub(r"\1", shortened) if shortened != title else title


def _named_speaker(text: str) -> tuple[int, str] | None:
    """Where a named speaker's attribution starts, and "MPs say" to put before the rest.

    "X will happen, MPs have said" reads as "MPs say X will happen": a named source is news
    ("Kennedy", "Lib Dems"), a generic one ("police said") is not and goes with the other
    attributions. ``None`` when the sentence ends with no named speaker.
    """
    match = _NAMED_TAIL.search(text)
    if match is None:
        return None
    speaker = match.group("speaker") or match.group("speaker2") or ""
    verb = (match.group("verb") or match.group("verb2") or "").split()[0].lower()
    said = _speaker_says(speaker, verb)
    return (match.start(), said) if said else None


def _speaker_says(speaker: str, verb: str) -> str | None:
    """ "Mike Ruddock says" for the speaker "Wales coach Mike Ruddock" and the verb "said".

    ``None`` when the speaker names no one (generic speakers such as "police" included).
    """
    capitals: list[str] = []
    for word in reversed(speaker.split()):
        if len(capitals) == 6 or not (_capitalised(word) or (capitals and word in _LINKS)):
            break
        capitals.insert(0, word)
    while capitals and not _capitalised(capitals[0]):
        capitals.pop(0)
    roles = [index for index, word in enumerate(capitals) if word.lower() in _ROLES]
    if roles and roles[-1] < len(capitals) - 1:
        # "Secretary Alan Johnson", "Police Chief Anna Berg": the person's name.
        capitals = capitals[roles[-1] + 1 :]
    if not capitals or any(word.lower() in _GENERIC_SPEAKERS for word in capitals):
        return None
    said = _PRESENT_TENSE.get(verb.lower(), verb.lower())
    last = capitals[-1]
    if said.endswith("s") and last.endswith("s") and not last.endswith("ss") and len(capitals) == 1:
        said = said[:-1]  # "MPs say", "Tories warn".
    return f"{' '.join(capitals)} {said}"


_THOUSANDS = re.compile(r"(\d),(\d{3})(?!\d)")
_NUMBER_COMMA = "\ue000"  # A private-use character: no text holds it.


def strip_dateline(sentence: str) -> str:
    """``sentence`` without a leading wire dateline ("LONDON (Reuters) - ", "CLEVELAND, Feb 26
    - ", "WASHINGTON, March 3 (AP) -- "): the place and agency are the copy's furniture, and
    the alert names its source already. A sentence that would be left empty is kept whole."""
    rest = _DATELINE.sub("", sentence, count=1)
    return rest if rest.strip() else sentence


def _drop_asides(sentence: str, names: Counter[str] | None = None) -> str:
    """The sentence without what a headline never carries: dateline, asides, attributions."""
    # "14,000": the comma of a number closes no aside (", 31, who has more than 14,").
    text = _THOUSANDS.sub("\\1" + _NUMBER_COMMA + "\\2", sentence)
    text = _DATELINE.sub("", text)
    text = _TERMINAL.sub("", text.rstrip())
    speaker = _named_speaker(text) if len(text.split()) > 6 else None
    if speaker is not None:
        text = text[: speaker[0]]
    text = _NAME_WITH_ACRONYM.sub(_acronym, text)
    text = _PARENTHESES.sub("", text)
    text = _DASH_ASIDE.sub(" ", text)
    text = _ACCORDING_TO.sub("", text)
    text = _ATTRIBUTION_TAIL.sub("", text) if len(text.split()) > 6 else text
    text = _LEADING_ADVERBIAL.sub("", text)
    text = _ASIDE_BEFORE_SPEECH.sub(r"\g<speaker> ", text, count=1)
    lead = _LEADING_ATTRIBUTION.match(text)
    if lead and any(
        word.lower() in _AUXILIARIES or word.endswith("ed")
        for word in lead.group("speaker").split()
    ):
        lead = None  # "X has played down claims that ...": not a speaker, a clause.
    if lead and len(text[lead.end() :].split()) >= 4:
        said = text[lead.end() :]
        pronoun = _PRONOUN_START.match(said)
        named = _speaker_says(lead.group("speaker"), lead.group("verb"))
        if pronoun:  # "Oracle said it is cutting jobs": the speaker is the subject.
            said = f"{lead.group('speaker').strip()} {said[pronoun.end() :]}"
        elif named and lead.group("verb").lower() in {"said", "says", "say"}:
            said = f"{named} {said}"  # "Tony Blair says ...": a named source is news.
        text = said
    text = _TIME_PHRASES.sub("", text)
    # Commas also close an opening adverbial or a list, so what looks like an appositive or an
    # aside can be the main clause: a step that leaves no verb where there was one is undone.
    for pattern, replacement in (
        (_APPOSITIVE, ""),
        (_ASIDE_BEFORE_VERB, " "),
        (_RELATIVE_TAIL, ""),
    ):
        shorter = pattern.sub(replacement, text)
        if _has_verb(shorter) or not _has_verb(text):
            text = shorter
    if speaker is not None and text and len(text) + len(speaker[1]) < 2 * HEADLINE_MAX_CHARS:
        first, *rest = text.split(" ", 2)
        if first in ("The", "A", "An") or (
            not (len(first) > 1 and first.isupper())
            and (names is None or names[_bare(first).lower()] == 0)
            and not (rest and _capitalised(rest[0]))  # "George W Bush" stays a name.
        ):
            text = text[:1].lower() + text[1:]
        text = f"{speaker[1]} {text}"
    return _tidy(text).replace(_NUMBER_COMMA, ",")


def _headline_style(text: str) -> str:
    """Articles and passive auxiliaries dropped: "12 killed", "Firm reported profit rise"."""
    text = _LEADING_ARTICLE.sub("", text)
    text = _ARTICLE.sub("", text)
    text = _AUXILIARY.sub("", text)
    text = _tidy(text)
    return text[:1].upper() + text[1:] if text else text


def _shorten(
    text: str, max_chars: int, target: int, keep: str = "", names: Counter[str] | None = None
) -> str:
    """``text`` cut at the last clause (else phrase) boundary that leaves it within limits.

    Cuts only while the text is over ``target``; a cut keeps at least ``_MIN_CHARS``, ends
    on a content word, keeps a verb when the text has one, keeps the words of ``keep`` (the
    story's subject) when the text has them, and is not inside a quotation. Returns ``text``
    itself when no cut is needed or none is clean. A clause is not cut for length when it
    names, within ``max_chars``, someone the story names again (``names``) and a longer cut
    keeps them.
    """
    if len(text) <= target:
        return text
    if len(text) > max_chars and (lighter := _COORDINATION.sub("", text, count=1)) != text:
        return _shorten(lighter, max_chars, target, keep, names)
    needs_verb = _has_verb(text)

    def names_lost(position: int) -> bool:
        if names is None:
            return False
        dropped = text[position:max_chars].split()[1:]
        return any(names[_bare(word).lower()] > 1 for word in dropped)

    kept = [word for word in keep.split() if len(word) > 2 and word in text]

    def clean(position: int, verb: bool) -> bool:
        head = text[:position]
        return _clean_cut(text, position, verb) and all(word in head for word in kept)

    tiers = [(target, True), (max_chars, True)]
    if len(text) > max_chars:
        tiers.append((max_chars, False))  # Too long either way: cut, names or not.
    for limit, spare_names in tiers:
        cuts = [
            match.start()
            for match in _CLAUSE_START.finditer(text)
            if match.start() <= limit
            and clean(match.start(), needs_verb)
            and not (spare_names and names_lost(match.start()))
        ]
        if cuts:
            return _tidy(text[: cuts[-1]])
    if len(text) <= max_chars:
        return text
    for verb in (needs_verb, False):
        cuts = [
            match.start()
            for match in _PHRASE_START.finditer(text)
            if match.start() <= max_chars and clean(match.start(), verb)
        ]
        if cuts:
            return _tidy(text[: cuts[-1]])
    if kept:
        return _shorten(text, max_chars, target)
    words = text[: max_chars + 1].split()[:-1]
    while len(words) > 2 and not _ends_well(" ".join(words)):
        words.pop()
    return _tidy(" ".join(words))


def _name_subject(title: str, subject: str | None, names: Counter[str]) -> str:
    """Put the story's subject in place of a subject that only refers to it."""
    if not subject:
        return title
    if any(word.lower() in title.lower() for word in subject.split() if len(word) > 2):
        return title
    match = _DESCRIPTOR_SUBJECT.match(title)
    if match is None or any(names[_bare(word).lower()] for word in match.group(0).split()):
        return title  # "Wales coach ..." names its subject already.
    if match.group(0) == "It" and _DUMMY_IT.match(title[match.end() :]):
        return title  # "It was unclear if ...": "it" stands for no one.
    return _tidy(f"{subject} {title[match.end() :]}")


# "It was unclear", "it is likely that", "it remains to be seen": an "it" that refers to nothing.
_DUMMY_IT = re.compile(
    r"\s+(?:is|was|will be|would be|has been|had been|remains|remained|seems|seemed|appears"
    r"|appeared|looks|looked|may be|might be|could be)\s+(?:\w+ly\s+)?(?:un)?"
    r"(?:clear|likely|possible|certain|known|understood|expected|thought|believed|reported"
    r"|too|not|time|hard|difficult|easy|important|necessary|seen|feared|hoped|said|a|the)\b",
    re.IGNORECASE,
)


def _lede_sentence(text: str) -> str:
    """The lede: the first sentence of at least a few words (a kicker or stray label is not)."""
    sentences = split_sentences(text)
    for sentence in sentences[:3]:
        if len(sentence.split()) >= 5 and not sentence.startswith(("(", "[")):
            return sentence
    return sentences[0] if sentences else ""


def write_headline(
    text: str,
    *,
    lede: str | None = None,
    max_chars: int = HEADLINE_MAX_CHARS,
    target_chars: int = _TARGET_CHARS,
) -> str:
    """A headline of at most ``max_chars`` for a story that has none, from its lede.

    ``text`` is the story (its lede first); ``lede`` overrides the sentence to compress.
    See the module docstring for what is dropped. The result is never cut inside a word and
    ends on a content word; it is empty only when the story has no words.
    """
    sentence = lede if lede is not None else _lede_sentence(text[:_CONTEXT_CHARS])
    sentence = " ".join(sentence.split())
    if not sentence:
        return ""
    # The opening of a long story names its subject; reading all of it only costs time.
    opening = text[:_CONTEXT_CHARS]
    weighted, names = _story_names(opening)
    subject = weighted[0] if weighted is not None else None
    compressed = _drop_asides(sentence, names) or _tidy(_TERMINAL.sub("", sentence))
    compressed = _story_short_forms(compressed, opening)
    styled = _headline_style(compressed)
    if len(styled) < _MIN_CHARS:
        styled = _headline_style(_tidy(_TERMINAL.sub("", _DATELINE.sub("", sentence))))
    styled = _name_subject(styled, subject, names)
    strong = subject if weighted is not None and weighted[1] >= _STRONG_SUBJECT else ""
    title = _shorten(styled, max_chars, max(target_chars, _MIN_CHARS), strong or "", names)
    if not title:
        title = _shorten(_tidy(_TERMINAL.sub("", sentence)), max_chars, max_chars)
    if (
        subject
        and weighted is not None
        and weighted[1] >= _STRONG_SUBJECT
        and not _names(title, subject)
        and not _has_name(title, names)
    ):
        # The story is about someone the lede does not name: "Oracle: ..." says whose news.
        room = max_chars - len(subject) - 2
        short = _shorten(title, room, min(room, max(target_chars, _MIN_CHARS)))
        if len(short) <= room and len(short) >= _MIN_CHARS:
            title = f"{subject}: {short[:1].upper()}{short[1:]}"
    return title[:1].upper() + title[1:]


# " | Theodore Roosevelt IV", " | Erica Chenoweth and Jeremy Pressman": a columnist's credit
# that opinion feeds append to the headline.
_AUTHOR_CREDIT = re.compile(
    r"\s+\|\s+(?:[A-Z][\w'’.-]*(?:\s+(?:[A-Z][\w'’.-]*|de|van|von|der|and|&))*\s*)$"
)


def fit_title(title: str, text: str = "", max_chars: int = HEADLINE_MAX_CHARS) -> str:
    """A publisher's headline made fit for an alert's title.

    An author's credit after a bar is dropped, and a headline longer than ``max_chars`` is
    compressed from its clauses like a lede (:func:`write_headline`), so no chat cuts it
    mid-word. A headline that fits is returned as it is.
    """
    title = _AGENCY_TAIL.sub("", " ".join(title.split())) or title
    credit = _AUTHOR_CREDIT.search(title)
    if credit is not None and len(title[: credit.start()].split()) >= 3:
        title = title[: credit.start()]
    if len(title) <= max_chars:
        return title
    return write_headline(text or title, lede=title, max_chars=max_chars) or title[:max_chars]


def _has_name(title: str, names: Counter[str]) -> bool:
    """Whether ``title`` names anyone or anything: a capitalised word past its first, or a
    first word the story writes capitalised mid-sentence."""
    words = [_bare(word) for word in title.split()]
    if words and words[0] and names[words[0].lower()] > 0:
        return True
    return any(word[:1].isupper() for word in words[1:])


def _names(title: str, subject: str) -> bool:
    """Whether ``title`` holds a word of ``subject`` (a name, possessive or not)."""
    lowered = title.lower()
    return any(word.lower() in lowered for word in subject.split() if len(word) > 2)


def repeats_title(title: str, sentence: str, threshold: float = 0.8) -> bool:
    """Whether ``sentence`` says what the title says: the title's words cover most of it.

    An alert that showed both would show the same sentence twice. Compared on lower-cased
    content words, so a title that is the sentence cut short, or restyled without articles,
    still counts as the same sentence.
    """
    sentence_words = _content(sentence)
    if not sentence_words:
        return False
    return len(_content(title) & sentence_words) / len(sentence_words) >= threshold


def without_repeated_title(title: str, summary: str) -> str:
    """``summary`` without a first sentence that repeats ``title`` (see :func:`repeats_title`).

    Stored summaries can predate the summarizer's own check, and a title may have been set
    after the summary was made; an alert shows the title above the summary, so the same
    sentence would be read twice.
    """
    sentences = split_sentences(summary)
    if sentences and title and repeats_title(title, sentences[0]):
        return " ".join(sentences[1:])
    return summary
