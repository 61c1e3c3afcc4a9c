"""Plain-text helpers shared by the text stages: sentences, whitespace, boilerplate, kickers.

Sentence splitting is hand-written rather than delegated to ``pysbd``: pysbd is accurate but
handles about 50 BBC-length articles per second here, while the summarizer has to keep up
with hundreds of articles per second. News copy is well edited, so a rule-based splitter that
knows the usual traps (abbreviations such as ``Mr.``/``U.S.``/``No. 3``, decimals, initials
as in ``J. R. R. Tolkien``, closing quotes after the full stop) is both fast and accurate
enough. It knows the same traps in German, Spanish, French, Portuguese, Italian and Russian
(``z. B.``, ``Sra.``, ``S.A.``, ``г.``, ``т.е.``, ordinal dates such as ``3. Oktober``,
guillemets and „German“ quotes, ``¿``/``¡``, the French space before ``?``/``!``), and the
boilerplate lines of feeds in those languages ("Weiterlesen", "Leer más", "Lire la suite",
"Continua a leggere", "Leia mais", "Читать далее"). ``benchmarks/multilingual.py`` measures
both on the real non-English feeds of the shared data. Everything here is pure and does no
work at import time beyond compiling regexes; the stop-word lists (``bot/data/stopwords``)
are read on first use.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from pathlib import Path

__all__ = [
    "STOP_WORD_LANGUAGES",
    "english_common_words",
    "is_boilerplate_line",
    "normalize_whitespace",
    "split_kicker",
    "split_sentences",
    "stop_words",
    "strip_boilerplate",
    "word_set",
]


def word_set(words: str) -> frozenset[str]:
    """The whitespace-separated words of ``words``: lets word lists read as plain text."""
    return frozenset(words.split())


# --- stop words ------------------------------------------------------------------------------

#: Languages with a stop-word list in ``bot/data/stopwords`` (English is built in where needed).
STOP_WORD_LANGUAGES = ("de", "es", "fr", "it", "pt", "ru")
_STOP_WORD_DIR = Path(__file__).resolve().parents[1] / "data" / "stopwords"


@functools.cache
def stop_words(language: str) -> frozenset[str]:
    """Function words, days and months of ``language`` (lower case); empty for a language
    without a list. Read from ``bot/data/stopwords/<code>.txt`` on first use."""
    base = language.lower().replace("_", "-").split("-", 1)[0]
    if base not in STOP_WORD_LANGUAGES:
        return frozenset()
    return _read_word_list(f"{base}.txt")


@functools.cache
def english_common_words() -> frozenset[str]:
    """scikit-learn's English stop words (``bot/data/stopwords/english_common.txt``), read on
    first use: the same list without importing scikit-learn, which costs ~75 MB of memory."""
    return _read_word_list("english_common.txt")


def _read_word_list(name: str) -> frozenset[str]:
    text = (_STOP_WORD_DIR / name).read_text(encoding="utf-8")
    return frozenset(
        word for line in text.splitlines() for word in line.split("#", 1)[0].lower().split()
    )


# --- whitespace -------------------------------------------------------------------------------

# Characters that render as nothing or as a plain space but defeat ``str.split`` based logic.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_HORIZONTAL_SPACE = re.compile(r"[^\S\n]+")
_MANY_BLANK_LINES = re.compile(r"\n{3,}")


def normalize_whitespace(text: str) -> str:
    """Canonical spacing: NFC, one space between words, at most one blank line between blocks.

    Line and paragraph breaks are kept because they carry structure (headline lines, story
    and paragraph separators) that the segmenter needs; only the noise goes: carriage returns,
    tabs, no-break and zero-width spaces, soft hyphens, trailing spaces and runs of blank lines.
    """
    text = unicodedata.normalize("NFC", text).translate(_INVISIBLE)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u2028", "\n").replace("\u2029", "\n\n")
    lines = [_HORIZONTAL_SPACE.sub(" ", line).strip() for line in text.split("\n")]
    return _MANY_BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


# --- control characters ---------------------------------------------------------------------

# Terminal escape sequences (CSI ``ESC[31m``, OSC ``ESC]...BEL``, two-character ``ESC x``) go
# whole, so no "[31m" residue is left; then every remaining control character.
_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]"
)
# C0 controls except tab, newline and carriage return (a line break, made "\n" later), DEL,
# C1 controls, and the bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069)
# that can reverse a headline's direction in a chat.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile(r"[\t\n\r]+")


def strip_control_characters(text: str, *, one_line: bool = False) -> str:
    """``text`` without terminal escapes, C0/C1 controls (tabs and line breaks kept) and bidi
    controls. ``one_line`` also turns tabs and line breaks into spaces (URLs, names, ids).

    Applied once to everything ingested, before any other stage: such characters can colour or
    clear an operator's console and reverse the direction of a headline in a chat.
    """
    text = _CONTROL.sub("", _ESCAPE_SEQUENCE.sub("", text))
    return _LINE_BREAKS.sub(" ", text).strip() if one_line else text


# --- sentences --------------------------------------------------------------------------------

# Abbreviations that are (almost) never the last word of a sentence: titles before names,
# "No." before numbers, and the like. Compared case-insensitively without the final period;
# abbreviations that are also common words ("Sun.", "Sat.", "Art.") are left out.
_NON_FINAL_ABBREVIATIONS = word_set(
    """
    mr mrs ms mx dr prof rev fr sr jr st mt ft gen lt col capt cpt sgt cmdr adm maj gov sen rep
    pres supt insp det hon rt no nos vs v cf viz approx dept fig figs vol vols ch pp para
    jan feb mar apr jun jul aug sep sept oct nov dec tue tues thu thur thurs ave blvd
    z.b d.h u.a o.ä v.a u.u i.d.r bzw ca sog vgl evtl ggf inkl zzgl mio mrd tsd jh jhd bspw
    dipl hrsg gegr geb verh mind
    sra srta dra dña ud uds lic gral avda pág núm aprox dpto cía hnos
    mme mlle mm
    srª exmo exma
    sig sigg dott avv
    т.е т.к им ул кв стр напр проф акад обл пос тов гр ст
    """
)
# "г." is "год" (year) after a number, where it may end the sentence ("в 2020 г. В ..."), and
# "город" (city) before a name, where it never does ("в г. Москве").
_CYRILLIC_YEAR = word_set("г гг")
# Abbreviations that often do end a sentence ("... sold to Apple Inc."): a boundary after them
# is accepted only when the next word is a typical sentence opener.
_AMBIGUOUS_ABBREVIATIONS = word_set(
    "inc ltd co corp plc llc bros etc al e.g i.e a.m p.m u.s u.k u.n e.u u.s.a"
    " usw ee.uu s.a sa lda gmbh ag ecc т.д т.п руб млн млрд тыс"
)
# Words that open sentences far more often than they continue a proper name, used to decide
# the ambiguous cases above ("in the U.S. The next day" versus "the U.S. Army").
_SENTENCE_OPENERS = word_set(
    """
    a an the this that these those it its he she they we i you his her their our my there
    here but and or so yet however meanwhile also then still in on at for if when while after
    before as since although though despite according many some most all no one other others
    both each every such what who why how mr mrs ms dr officials police analysts experts
    """
)
# Month names after which a number with a full stop is an ordinal ("am 3. Oktober", "el 5.
# mayo" is rarer but seen): German, Spanish, French, Portuguese, Italian and Russian (genitive).
_MONTHS = word_set(
    """
    januar jänner februar märz april mai juni juli august september oktober november dezember
    enero febrero marzo abril mayo junio julio agosto septiembre setiembre octubre noviembre
    diciembre janvier février mars avril juin juillet août septembre octobre novembre
    décembre janeiro fevereiro março maio junho julho setembro outubro dezembro gennaio
    febbraio aprile maggio giugno luglio settembre ottobre dicembre января февраля марта
    апреля мая июня июля августа сентября октября ноября декабря
    """
)
# Nouns that German counts with an ordinal ("2. Liga", "3. Platz", "20. Jahrhundert"): after a
# number with a full stop, they continue the sentence.
_GERMAN_ORDINAL_NOUNS = word_set(
    """
    liga bundesliga platz mal jahrhundert jahrtausend spieltag runde klasse etage stock
    geburtstag jahrestag todestag fc minute halbzeit weltkrieg auflage lauf tag woche advent
    quartal halbjahr sitzung lesung staffel folge kapitel ausgabe
    """
)
# Candidate boundary: terminal punctuation, optional closing quotes/brackets (a German “ or ‘
# right after the stop closes a quote), a French closing guillemet after a space (". »"),
# then whitespace.
_CANDIDATE = re.compile(r"(?:[.!?]+|…)[\"'”’»“‘)\]]*(?: [»”](?=\s))?(?=\s)")
_DOTTED_ACRONYM = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")
_NEXT_TOKEN = re.compile(r"\s+([\"'“‘«„»¿¡(\[]*)(\S*)")
_ONE_LETTER_ABBREVIATION = re.compile(r"[^\W\d_]\.")
_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n\s*")


def _is_boundary(
    text: str, punct_start: int, end: int, punct: str, language: str | None = None
) -> bool:
    """Decide whether ``punct`` (at ``text[punct_start:]``, quotes up to ``end``) ends a sentence."""
    match = _NEXT_TOKEN.match(text, end)
    if match is None:
        return True
    opener, word = match.groups()
    if not word:
        return bool(opener)
    first = word[0]
    # A lower-case continuation ('"Stop!" he said', "approx. five") is no boundary.
    if first.islower():
        return False
    if not (first.isupper() or first.isdigit() or opener or not first.isalnum()):
        return False
    if punct[0] != ".":
        return True  # "!", "?" and "…" followed by a capital, a digit or a quote.
    # The word before the punctuation, without opening quotes or brackets ("(U.S" -> "U.S").
    token = text[text.rfind(" ", 0, punct_start) + 1 : punct_start].lstrip("\"'“‘«([")
    bare = token.lower()
    if not bare:
        return True
    if bare in _NON_FINAL_ABBREVIATIONS and not (len(token) > 1 and token.isupper()):
        return False  # "Mr. Smith", "No. 10", "Fig. 3", "bzw. ETP", "Sra. García".
    if len(bare) == 1 and bare.isalpha():
        if token.isupper():
            return False  # An initial: "J. R. R. Tolkien", "George W. Bush", "А. С. Пушкин".
        if _ONE_LETTER_ABBREVIATION.fullmatch(word):
            return False  # "z. B.", "d. h.", "u. a.", "p. ex.": a letter, then another.
    if bare in _CYRILLIC_YEAR:
        before = text[: punct_start - len(token)].rstrip().rsplit(" ", 1)[-1]
        return before.isdigit()  # "в 2020 г. Потом" may end; "в г. Москве" never does.
    next_word = word.strip("\"'“”‘’«„»¿¡(),.;:!?").lower()
    if bare.isdigit() and len(bare) <= 3:
        if next_word in _MONTHS:
            return False  # An ordinal date: "am 3. Oktober", "19. März".
        if language == "de" and next_word in _GERMAN_ORDINAL_NOUNS:
            return False  # "die 2. Liga", "im 20. Jahrhundert".
    if bare in _AMBIGUOUS_ABBREVIATIONS or _DOTTED_ACRONYM.fullmatch(bare):
        return next_word in _SENTENCE_OPENERS or next_word in _opener_words(language)
    return True


def _opener_words(language: str | None) -> frozenset[str]:
    """Function words of ``language`` that open sentences ("Die", "El", "Это"), for the
    abbreviations that may end one ("S.A. El grupo ...")."""
    return stop_words(language) if language else frozenset()


def split_sentences(text: str, language: str | None = None) -> list[str]:
    """Split prose into sentences, keeping each sentence's text exactly (whitespace trimmed).

    Paragraph breaks (blank lines) always end a sentence, so a headline or a truncated
    paragraph never runs into the next one; single line breaks are treated as spaces.
    ``language`` (an ISO 639-1 code) adds that language's own rules, such as German ordinals
    before counted nouns ("2. Liga"); the abbreviations of every supported language are known
    without it.
    """
    sentences: list[str] = []
    for paragraph in _PARAGRAPH_BREAK.split(text):
        start = 0
        for match in _CANDIDATE.finditer(paragraph):
            end = match.end()
            punct = match.group(0).rstrip("\"'”’»“‘)] ")
            if _is_boundary(paragraph, match.start(), end, punct, language):
                piece = " ".join(paragraph[start:end].split())
                if piece:
                    sentences.append(piece)
                start = end
        tail = " ".join(paragraph[start:].split())
        if tail:
            sentences.append(tail)
    return sentences


# --- kickers ----------------------------------------------------------------------------------

# "DISASTER: ...", "UPDATE 2: ...", "SCI/TECH: ...": an upper-case label of at most four words.
_KICKER = re.compile(
    r"^\s*(?P<label>[A-Z][A-Z0-9&/'’.\-]*(?: [A-Z0-9&/'’.\-]+){0,3})\s*:\s+(?=[\"'“‘(\w$£€])"
)


def split_kicker(line: str) -> tuple[str, str]:
    """Split an upper-case kicker label off a line: ``("DISASTER", "Floods ...")``.

    Returns ``("", line)`` when there is none. A label needs two letters or more and must be
    upper case, so times ("10:30"), ordinary words ("Note: ...") and acronyms inside a
    sentence are left alone.
    """
    match = _KICKER.match(line)
    if match is None:
        return "", line
    label = match.group("label").strip()
    if sum(ch.isalpha() for ch in label) < 2 or not label.replace(" ", "").isupper():
        return "", line
    return label, line[match.end() :]


# --- boilerplate ------------------------------------------------------------------------------

_AGENCIES = (
    r"(?:reuters|ap|afp|upi|ians|pti|ani|dpa|efe|ansa|xinhua|kyodo|yonhap|tass|pa|bbc|cnn"
    r"|getty(?: images)?|epa(?:-efe)?|shutterstock|alamy|bloomberg|nyt|the associated press"
    r"|associated press|agence france-presse|press association)"
)
# Boilerplate recognised from its start; only applied to lines short enough to be furniture.
_SHORT_LINE_PATTERNS = [
    # Photo and media credits and captions.
    r"(?:photo|photograph|image|picture|pic|video|graphic|illustration|credit|footage)s?"
    r"(?: credit| copyright| caption| source| by)?\s*[:：|/©-]",
    r"(?:photo|image|picture|video|graphic)s? (?:by|courtesy of|credit|copyright)\b",
    r"(?:image|photo|picture) (?:copyright|caption|source)\b",
    r"\(?\s*(?:" + _AGENCIES + r")\s*(?:photo|photos|image|images|picture|pictures|video)\b",
    r"©|\(c\)\s|copyright\s*(?:©|\(c\)|\d{4})",
    # Calls to action and navigation.
    r"(?:read|see|find out|learn) more\b",
    r"(?:click|tap) (?:here|to|for)\b",
    r"(?:continue|keep) reading\b",
    r"(?:related|more|also read|read also|see also|recommended|trending|most read|"
    r"top stories|editor's picks)\s*(?::|$|-|—|stories|articles|coverage)",
    r"(?:watch|listen)(?: now| live| the video)?\s*[:-]?\s*$",
    r"(?:share|tweet|email|print)(?: this(?: article| story)?)?(?: on \w+)?\s*$",
    r"(?:follow|like|join) (?:us|me|@|our|the \w+ on)\b",
    r"(?:sign up|subscribe|register)\b.{0,80}\b(?:newsletter|updates|alerts|email|free)\b",
    r"(?:download|get) (?:our|the) (?:free )?app\b",
    r"listen to (?:this|the) (?:article|story)\b",
    r"skip to (?:main )?content\b",
    # A site's account and search links, each alone on its line.
    r"(?:(?:sign|log) ?(?:in|out|on)|my account|search|menu)\s*$",
    r"story continues (?:below|after)\b",
    r"(?:advertisement|advertising|sponsored(?: content)?|promoted(?: content)?|ad)\s*$",
    # Newsletter and site footers.
    r"(?:unsubscribe|manage (?:your )?(?:preferences|subscription)|update (?:your )?preferences)",
    r"(?:you (?:are|were) receiving|you received) this\b",
    r"(?:forwarded this (?:email|newsletter)|view (?:this email )?in (?:your )?browser)",
    r"(?:was this (?:email|newsletter) forwarded|if you (?:no longer )?wish to)\b",
    r"(?:privacy policy|terms (?:of use|of service|and conditions)|cookie (?:policy|settings)|"
    r"contact us|about us|all rights reserved)",
    r"(?:reporting|additional reporting|writing|editing|compiled|produced) by\b",
    r"(?:last )?(?:updated|published|posted)\s*(?:on|at|:)?\s*\d",
    # A newsletter's greeting: "Good morning. Here is what you need to know today."
    r"good (?:morning|afternoon|evening|day)\s*[,.!:]"
    r"(?:\s*(?:here(?:'s|’s| is| are)|this is) (?:what|your|the)\b[^.!?]{0,80}[.!:]?)?\s*$",
    # The same furniture in German, Spanish, French, Portuguese, Italian and Russian feeds.
    r"weiterlesen\b|mehr (?:lesen|zum thema|dazu|erfahren|infos)\b|lesen sie (?:auch|mehr|hier"
    r"|weiter)\b|zum (?:artikel|beitrag|video)\b|hier (?:klicken|geht'?s zu)\b|anzeige\s*$|werbung\s*$"
    r"|(?:foto|fotos|bild|bilder|quelle)\s*:|(?:jetzt )?(?:newsletter )?abonnieren\b"
    r"|teilen\s*$|drucken\s*$",
    r"(?:leer|lee) más\b|ver más\s*(?:$|[:»›→(])|seguir leyendo\b|(?:lea|lee|ver) también\b"
    r"|(?:te )?puede interesar"
    r"|(?:suscríbete|suscribite|suscríbase)\b|publicidad\s*$|con información de [^.,;]{1,40}$"
    r"|noticias relacionadas\b|(?:síguenos|seguinos)\b|compartir\s*$|fuente\s*:"
    r"|ver (?:la )?(?:noticia|nota) completa\b",
    r"lire (?:la suite|aussi|également|plus)\b|en savoir plus\b|(?:à )?voir aussi\b"
    r"|(?:abonnez-vous|inscrivez-vous)\b|publicité\s*$|suivez-nous\b|partager\s*$|crédits?\s*:",
    r"leia (?:mais|também|a matéria)\b|saiba mais\b|continue lendo\b|veja (?:também|mais)\b"
    r"|(?:assine|inscreva-se)\b|publicidade\s*$|siga-nos\b|(?:compartilhe|partilhe)\s*$",
    r"continua a leggere\b|leggi (?:anche|tutto|l'articolo)\b|per saperne di più\b"
    r"|iscriviti\b|pubblicità\s*$|seguici\b|condividi\s*$",
    r"читать (?:далее|полностью|также)|читайте (?:также|нас)|подробнее\b|подпи(?:сывайтесь|шитесь)"
    r"|реклама\s*$|поделиться\s*$|(?:фото|источник)\s*:|обсуждение ведем здесь",
]
_SHORT_LINE_RE = re.compile(r"^\s*(?:" + "|".join(_SHORT_LINE_PATTERNS) + ")", re.IGNORECASE)
# Whole-line furniture of any length: WordPress's feed footer, and cookie notices.
_FOOTER_RE = re.compile(
    r"^\s*the post\b.{1,300}\bappeared first on\b.{0,200}$"
    r"|^.{0,120}\b(?:cookies?|cookie-\w+)\b.{0,120}$",
    re.IGNORECASE,
)
# A cookie notice speaks for the site ("We use cookies", "Diese Website verwendet Cookies");
# news about cookies ("Google will phase out third-party cookies") does not.
_COOKIE_NOTICE = re.compile(
    r"\b(?:we (?:use|uses)|this (?:web)?site uses|our (?:web)?site uses|by (?:using|continuing)"
    r"|wir (?:verwenden|nutzen|setzen)|(?:diese|unsere) (?:web)?seite (?:verwendet|nutzt)"
    r"|(?:utilizamos|usamos)|(?:este|nuestro) (?:sitio|site|portal) (?:utiliza|usa)"
    r"|nous utilisons|ce site (?:utilise|web utilise)|utilizziamo|usiamo|questo sito (?:utilizza|usa)"
    r"|мы используем|сайт использует|используя (?:этот )?сайт)\b",
    re.IGNORECASE,
)
_READ_MORE_MARKERS = (
    "more",
    "reading",
    "lesen",
    "más",
    "leyendo",
    "suite",
    "legg",
    "mais",
    "lendo",
    "читать",
    "подробнее",
)
# A call to read on left at the end of a teaser line: "... [Weiterlesen]", "Leer más »".
_TRAILING_READ_MORE = re.compile(
    r"\s*[\[(]?\s*(?:read more|continue reading|weiterlesen|mehr lesen|leer más|seguir leyendo"
    r"|lire la suite|continua a leggere|leggi tutto|leia mais|continue lendo|читать далее"
    r"|читать полностью|подробнее)\s*[\])]?\s*(?:»|›|→|\.\.\.|…)?\s*$",
    re.IGNORECASE,
)
# Boilerplate anywhere in a short line, or a whole line of a recognisable kind.
_WHOLE_LINE_RE = re.compile(
    r"""^\s*(?:
        \(\s*(?:[^()]{0,60}/)?\s*"""
    + _AGENCIES
    + r"""\s*(?:photo|image|picture|pictures|video
          |file\ photo|/[^()]{0,40})?[^()]{0,40}\)\.?      # "(Reuters photo)", "(AP Photo/J. Doe)"
      | [^.!?]{0,60}\b(?:getty\ images|shutterstock|afp\ via\ getty|ap\ photo|reuters/)[^.!?]{0,60}
      | all\ rights\ reserved\.?
      | .{0,80}\ball\ rights\ reserved\.?
    )\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
# "By Jane Doe", "By Jane Doe and John Roe, Reuters", "By JANE DOE | Staff writer".
_NAME = r"(?:[A-Z][\w'’.-]*|[A-Z]\.)"
# Capitalised words after "By" that open a sentence, not a byline ("By Monday, prices fell").
_NOT_NAMES = (
    r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|January|February|March"
    r"|April|May|June|July|August|September|October|November|December|Christmas|Easter"
    r"|The|Then|Now|Noon|Midday|Midnight|Contrast|Comparison|Law|Far|Then|Tonight|Today)"
)
_BYLINE_RE = re.compile(
    r"^\s*(?:[Bb]y|BY|[Vv]on|[Pp]ar|[Pp]or)\s+(?!"
    + _NOT_NAMES
    + r"\b)"
    + _NAME
    + r"(?:\s+(?:(?:de|da|van|von|der|la|le|al|bin)\s+)?"
    + _NAME
    + r"){0,3}(?:\s*(?:,|and|&)\s*"
    + _NAME
    + r"(?:\s+"
    + _NAME
    + r"){0,3})*\s*(?:[,|—–-]\s*[\w .,'’&-]{0,60})?$",
)
# A dateline standing alone: "WASHINGTON (Reuters) -", "LONDON, Jan 5 (AP) —", "PARIS --".
# It needs the agency or the dash: "WORLD OF WARCRAFT" alone is an all-caps headline.
_DATELINE_RE = re.compile(
    r"^\s*[A-Z][A-Z .'’-]{1,40}(?:,\s*[A-Za-z .]{2,30})?(?:,?\s*[A-Z][a-z]{2,8}\.? \d{1,2})?"
    r"\s*(?:\((?:" + _AGENCIES + r"|[A-Za-z .]{1,30})\)\s*(?:-{1,2}|—|–|:)?|-{1,2}|—|–|:)\s*$",
    re.IGNORECASE,
)
_SHORT_LINE_LIMIT = 160
# A caption: a short line that ends with its photo credit, "... apertura (Foto: Business Wire)".
_CAPTION_RE = re.compile(
    r"^.{0,140}\((?:foto|fotos|photo|photos|image|imagen|imagem|bild|immagine|фото)\s*:"
    r"[^()]{1,60}\)$",
    re.IGNORECASE,
)
# First words (lower case, without a leading bracket) that can open a _SHORT_LINE_RE match.
_TRIGGER_WORDS = word_set(
    """
    photo photos photograph photographs image images picture pictures pic pics video videos
    graphic graphics illustration illustrations credit credits footage photo: image: reuters ap
    afp upi ians pti ani dpa efe ansa xinhua kyodo yonhap tass pa bbc cnn getty epa epa-efe
    shutterstock alamy bloomberg nyt the associated agence press copyright read see find learn
    click tap continue keep related more also recommended trending most top editor's watch
    listen share tweet email print follow like join sign subscribe register download get skip
    good log login logout signin my search menu
    story advertisement advertising sponsored promoted ad unsubscribe manage update you
    forwarded view was if privacy terms cookie contact about all reporting additional writing
    editing compiled produced last updated published posted
    weiterlesen mehr lesen zum hier anzeige werbung foto fotos bild bilder quelle jetzt
    newsletter abonnieren teilen drucken leer ver lee seguir lea te puede suscríbete suscribite
    suscríbase publicidad con noticias síguenos seguinos compartir fuente lire en à voir
    abonnez-vous inscrivez-vous publicité suivez-nous partager crédit crédits leia saiba veja
    assine inscreva-se publicidade siga-nos compartilhe partilhe continua leggi per iscriviti
    pubblicità seguici condividi читать читайте подробнее подписывайтесь подпишитесь реклама
    поделиться фото источник обсуждение
    """
)
# A site's menu pasted as one line: "Home | World | Business | Sport", "News • Sport • Weather";
# items of one to three words, so that a line of news items run together is not one.
_MENU_LINE_RE = re.compile(
    r"^(?:[^\s|•·.!?]+(?: [^\s|•·.!?]+){0,2}\s?[|•·]\s?){2,}[^\s|•·.!?]+(?: [^\s|•·.!?]+){0,2}$"
)
_CREDIT_MARKERS = ("getty", "shutterstock", "ap photo", "reuters/", "rights reserved")
_WORDS = re.compile(r"\w+")


def is_boilerplate_line(line: str) -> bool:
    """Whether ``line`` is page furniture rather than news: credits, calls to action, footers.

    Recognises photo credits and captions ("Photo: ...", "(Reuters photo)", "Image copyright
    ..."), calls to action ("Read more", "Click here", "Follow us on ..."), bylines ("By Jane
    Doe"), an agency dateline standing alone, "Advertisement", and newsletter footer lines.
    Patterns that could also open real sentences are only applied to short lines, so a long
    sentence that happens to start with "Photographs showed ..." is never dropped.
    """
    stripped = line.strip()
    if not stripped:
        return False
    if not any(ch.isalnum() for ch in stripped):
        return True  # Rules and ornaments: "* * *", "———".
    if (
        ("appeared first" in stripped or "ookie" in stripped or "OOKIE" in stripped)
        and _FOOTER_RE.match(stripped)
        and ("appeared first" in stripped or _COOKIE_NOTICE.search(stripped))
    ):
        return True
    # A line not a cookie notice ("Cookie settings") still meets the short-line patterns.
    if len(stripped) > _SHORT_LINE_LIMIT:
        return False
    if stripped[-1] == ")" and _CAPTION_RE.match(stripped):
        return True
    if ("|" in stripped or "•" in stripped or "·" in stripped) and _MENU_LINE_RE.match(stripped):
        return True
    lowered = stripped.lower()
    # Cheap screens first: the patterns are long alternations and most lines are prose.
    first = lowered.split(maxsplit=1)[0].lstrip("(").rstrip(":|-")
    if (first in _TRIGGER_WORDS or not first[:1].isalpha()) and _SHORT_LINE_RE.match(stripped):
        return True
    if (stripped[0] == "(" or any(m in lowered for m in _CREDIT_MARKERS)) and _WHOLE_LINE_RE.match(
        stripped
    ):
        return True
    # Only an all-caps dateline is furniture: "Washington" alone could be a one-word headline.
    if (
        stripped[:2].isupper()
        and _DATELINE_RE.match(stripped)
        and stripped.split("(")[0].split(",")[0].isupper()
    ):
        return True
    if (
        first in {"by", "von", "par", "por"}
        and _BYLINE_RE.match(stripped)
        and not stripped.endswith((".", "!", "?"))
    ):
        return len(_WORDS.findall(stripped)) <= 14
    return False


def strip_boilerplate(text: str) -> str:
    """Drop boilerplate lines, and paragraphs that are boilerplate as a whole.

    Furniture is often wrapped over lines ("You are receiving this email because" / "you
    signed up at ..."): a lower-case line right after a dropped one goes with it, and what is
    left of a multi-line block is also tested joined into one line. Paragraph breaks are kept.
    """
    kept_blocks: list[str] = []
    for block in _PARAGRAPH_BREAK.split(text.strip()):
        kept: list[str] = []
        dropped_previous = False
        for line in block.split("\n"):
            stripped = line.strip()
            if not stripped:
                continue
            # A lower-case line right after dropped furniture is its wrapped continuation.
            if is_boilerplate_line(stripped) or (dropped_previous and stripped[0].islower()):
                dropped_previous = True
                continue
            dropped_previous = False
            tail = stripped[-30:].lower()
            if any(marker in tail for marker in _READ_MORE_MARKERS):
                line = _TRAILING_READ_MORE.sub("", line) or line
            kept.append(line)
        if len(kept) > 1 and is_boilerplate_line(" ".join(line.strip() for line in kept)):
            continue
        if kept:
            kept_blocks.append("\n".join(kept))
    return "\n\n".join(kept_blocks)


# --- Markdown -----------------------------------------------------------------------------------

_MD_HEADING = re.compile(r"^[ ]{0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)
_MD_QUOTE = re.compile(r"^[ ]{0,3}>[ ]?", re.MULTILINE)
_MD_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_MD_LINK = re.compile(r"!?\[([^\]\n]{1,300})\]\((?:https?://|/|#|mailto:)[^)\s]*\)")


def strip_markdown(text: str) -> str:
    """Text pasted from Markdown (a chat, a notes app, a ``.md`` briefing) as plain text.

    Heading marks ("## Quake kills 41"), quote marks, bold ("**A magnitude 6.8 ...**") and
    links ("[Read more](https://...)", kept as their words) are what a reader does not see;
    left in, they end up in titles and summaries and hide a headline from the segmenter.
    A "#hashtag" (no space after the mark) is not a heading.
    """
    if not any(mark in text for mark in ("#", ">", "**", "__", "](")):
        return text
    text = _MD_HEADING.sub(r"\1", text)
    text = _MD_QUOTE.sub("", text)
    text = _MD_STRONG.sub(r"\2", text)
    return _MD_LINK.sub(r"\1", text)
