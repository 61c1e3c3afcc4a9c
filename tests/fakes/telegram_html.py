"""A validator of Telegram's ``parse_mode=HTML`` text, modelled on TDLib's ``parse_html``.

The Bot API server parses HTML with TDLib, whose parser is much stricter than a browser's: an
unknown tag, a bare ``<`` or a mis-nested end tag makes the whole request fail with
``400 Bad Request: can't parse entities: ...``. Our formatter must never produce such text, so
the fake Telegram server (and fuzz tests) run every HTML message through this module.

Python's ``html.parser`` is deliberately lenient (it silently accepts unknown tags, stray ``<``
and unbalanced markup), so it cannot tell us what Telegram would reject; this module therefore
follows TDLib's scanning rules by hand, including its error descriptions and byte offsets.

One deliberate difference: TDLib keeps a bare ``&`` that does not start an entity as literal
text, but the Bot API documentation requires it to be escaped, and an unescaped ``&`` usually
means a formatter forgot to escape some user text. With ``strict_ampersand=True`` (the default)
it is rejected so that tests catch the missing escape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Tags TDLib accepts, lower-cased. ``span`` additionally needs ``class="tg-spoiler"``.
ALLOWED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    }
)

_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_TYPE_BY_TAG = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_LINK_SCHEMES = ("http://", "https://", "tg://", "ton://", "mailto:")
# Characters TDLib treats as white space inside tags.
_SPACES = " \t\r\n\f\v"


class TelegramHTMLError(ValueError):
    """Raised for text Telegram would reject; ``description`` is the Bot API error text."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.description = f"Bad Request: can't parse entities: {reason}"
        super().__init__(self.description)


@dataclass(frozen=True)
class MessageEntity:
    """One formatting entity; offsets and lengths are in UTF-16 code units, like the Bot API."""

    type: str
    offset: int
    length: int
    url: str | None = None
    language: str | None = None
    custom_emoji_id: str | None = None

    def to_api(self) -> dict[str, Any]:
        """The JSON object the Bot API returns for this entity (``None`` fields omitted)."""
        data: dict[str, Any] = {"type": self.type, "offset": self.offset, "length": self.length}
        for key in ("url", "language", "custom_emoji_id"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data


@dataclass(frozen=True)
class ParsedHTML:
    """The plain text Telegram would display, and the entities it would attach."""

    text: str
    entities: tuple[MessageEntity, ...]


@dataclass
class _OpenTag:
    name: str
    argument: str
    utf16_offset: int
    text_offset: int
    expandable: bool


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, the unit of every Telegram length limit and entity offset."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    # TDLib reports positions as UTF-8 byte offsets; we scan code points, so convert for messages.
    return len(text[:index].encode("utf-8"))


def _decode_entity(text: str, pos: int) -> tuple[str, int] | None:
    """Decode the HTML entity starting at ``text[pos] == '&'`` the way TDLib does.

    Returns the character and the index after the entity, or ``None`` if the ``&`` does not
    start a supported entity. Like TDLib, only four named entities exist and the ``;`` is
    optional.
    """
    end = pos + 1
    if end < len(text) and text[end] == "#":
        end += 1
        is_hex = end < len(text) and text[end] in "xX"
        if is_hex:
            end += 1
        digits_start = end
        allowed = "0123456789abcdefABCDEF" if is_hex else "0123456789"
        while end < len(text) and text[end] in allowed:
            end += 1
        digits = text[digits_start:end]
        if not digits or len(digits) > 8:
            return None
        code_point = int(digits, 16 if is_hex else 10)
        if code_point == 0 or code_point > 0x10FFFF or 0xD800 <= code_point <= 0xDFFF:
            return None
        char = chr(code_point)
    else:
        while end < len(text) and text[end].isascii() and text[end].isalpha():
            end += 1
        named = _NAMED_ENTITIES.get(text[pos + 1 : end])
        if named is None:
            return None
        char = named
    if end < len(text) and text[end] == ";":
        end += 1
    return char, end


def _is_link(url: str) -> bool:
    # TDLib drops (silently) a text_link whose URL it cannot check; we keep only the usual
    # schemes and scheme-less host names, which TDLib would prefix with http://.
    lowered = url.lower()
    if lowered.startswith(_LINK_SCHEMES):
        return True
    return "://" not in lowered and ":" not in lowered.split("/", 1)[0] and "." in lowered


class _Parser:
    """One pass over the text; state is the output text and the stack of open tags."""

    def __init__(self, source: str, strict_ampersand: bool) -> None:
        self.src = source
        self.strict_ampersand = strict_ampersand
        self.out: list[str] = []
        self.out_len = 0  # characters in ``out`` (code points)
        self.utf16 = 0
        self.stack: list[_OpenTag] = []
        self.entities: list[MessageEntity] = []

    def fail(self, reason: str) -> TelegramHTMLError:
        return TelegramHTMLError(reason)

    def emit(self, chars: str) -> None:
        self.out.append(chars)
        self.out_len += len(chars)
        self.utf16 += utf16_length(chars)

    def char_at(self, i: int) -> str:
        # TDLib scans a NUL-terminated buffer; "" plays the part of the terminator here.
        return self.src[i] if i < len(self.src) else ""

    def parse(self) -> ParsedHTML:
        src = self.src
        i = 0
        while i < len(src):
            char = src[i]
            if char == "&":
                decoded = _decode_entity(src, i)
                if decoded is not None:
                    self.emit(decoded[0])
                    i = decoded[1]
                    continue
                if self.strict_ampersand:
                    raise self.fail(
                        "character '&' must be escaped as \"&amp;\" at byte offset "
                        f"{_byte_offset(src, i)}"
                    )
            if char != "<":
                self.emit(char)
                i += 1
                continue
            i = self.end_tag(i) if self.char_at(i + 1) == "/" else self.start_tag(i)
        if self.stack:
            raise self.fail(
                f'Can\'t find end tag corresponding to start tag "{self.stack[-1].name}"'
            )
        self.entities.sort(key=lambda e: (e.offset, -e.length))
        return ParsedHTML("".join(self.out), tuple(self.entities))

    def start_tag(self, begin: int) -> int:
        src = self.src
        i = begin + 1
        while self.char_at(i) and self.char_at(i) not in _SPACES and self.char_at(i) != ">":
            i += 1
        if not self.char_at(i):
            raise self.fail(f"Unclosed start tag at byte offset {_byte_offset(src, begin)}")
        name = src[begin + 1 : i].lower()
        if name not in ALLOWED_TAGS:
            raise self.fail(
                f'Unsupported start tag "{name}" at byte offset {_byte_offset(src, begin)}'
            )
        argument = ""
        expandable = False
        while self.char_at(i) != ">":
            while self.char_at(i) and self.char_at(i) in _SPACES:
                i += 1
            if self.char_at(i) == ">":
                break
            attr_start = i
            while (
                self.char_at(i) and self.char_at(i) not in _SPACES and self.char_at(i) not in "=>"
            ):
                i += 1
            attr_name = src[attr_start:i].lower()
            if not attr_name:
                raise self.fail(
                    f'Empty attribute name in the tag "{name}" at byte offset '
                    f"{_byte_offset(src, begin)}"
                )
            while self.char_at(i) and self.char_at(i) in _SPACES:
                i += 1
            if self.char_at(i) != "=":
                if name == "blockquote" and attr_name == "expandable":
                    expandable = True
                    continue
                if not self.char_at(i):
                    raise self.fail(f"Unclosed start tag at byte offset {_byte_offset(src, begin)}")
                raise self.fail(
                    "Expected equal sign in declaration of an attribute of the tag "
                    f'"{name}" at byte offset {_byte_offset(src, begin)}'
                )
            i += 1
            while self.char_at(i) and self.char_at(i) in _SPACES:
                i += 1
            if not self.char_at(i):
                raise self.fail(
                    f'Unclosed start tag "{name}" at byte offset {_byte_offset(src, begin)}'
                )
            value, i = self.attribute_value(i)
            if not self.char_at(i):
                raise self.fail(f"Unclosed start tag at byte offset {_byte_offset(src, begin)}")
            if name == "a" and attr_name == "href":
                argument = value
            elif name == "code" and attr_name == "class" and value.startswith("language-"):
                argument = value.removeprefix("language-")
            elif name == "span" and attr_name == "class" and value.startswith("tg-"):
                argument = value.removeprefix("tg-")
            elif name == "tg-emoji" and attr_name == "emoji-id":
                argument = value
            elif name == "blockquote" and attr_name == "expandable":
                expandable = True
        if name == "span" and argument != "spoiler":
            raise self.fail(
                f'Tag "span" must have class "tg-spoiler" at byte offset {_byte_offset(src, begin)}'
            )
        self.stack.append(_OpenTag(name, argument, self.utf16, self.out_len, expandable))
        return i + 1

    def attribute_value(self, i: int) -> tuple[str, int]:
        src = self.src
        quote = self.char_at(i)
        if quote not in ("'", '"'):
            # An unquoted value is an HTML name token: letters, digits, '.' and '-'.
            start = i
            while self.char_at(i) and (self.char_at(i).isalnum() or self.char_at(i) in ".-"):
                i += 1
            if self.char_at(i) and self.char_at(i) not in _SPACES and self.char_at(i) != ">":
                raise self.fail(
                    f"Unexpected end of name token at byte offset {_byte_offset(src, start)}"
                )
            return src[start:i].lower(), i
        i += 1
        value: list[str] = []
        while self.char_at(i) and self.char_at(i) != quote:
            if src[i] == "&":
                decoded = _decode_entity(src, i)
                if decoded is not None:
                    value.append(decoded[0])
                    i = decoded[1]
                    continue
            value.append(src[i])
            i += 1
        if self.char_at(i) == quote:
            i += 1
        return "".join(value), i

    def end_tag(self, begin: int) -> int:
        src = self.src
        if not self.stack:
            raise self.fail(f"Unexpected end tag at byte offset {_byte_offset(src, begin)}")
        i = begin + 2
        while self.char_at(i) and self.char_at(i) not in _SPACES and self.char_at(i) != ">":
            i += 1
        end_name = src[begin + 2 : i].lower()
        while self.char_at(i) and self.char_at(i) in _SPACES:
            i += 1
        if self.char_at(i) != ">":
            raise self.fail(f"Unclosed end tag at byte offset {_byte_offset(src, begin)}")
        open_tag = self.stack.pop()
        if end_name and end_name != open_tag.name:
            raise self.fail(
                f"Unmatched end tag at byte offset {_byte_offset(src, begin)}, "
                f'expected "</{open_tag.name}>", found "</{end_name}>"'
            )
        self.close_entity(open_tag)
        return i + 1

    def close_entity(self, tag: _OpenTag) -> None:
        length = self.utf16 - tag.utf16_offset
        if length == 0:
            return  # TDLib drops empty entities rather than failing
        kind = _ENTITY_TYPE_BY_TAG.get(tag.name)
        if tag.name == "a":
            url = tag.argument or "".join(self.out)[tag.text_offset :]
            if _is_link(url):
                self.entities.append(MessageEntity("text_link", tag.utf16_offset, length, url=url))
            return
        if tag.name == "tg-emoji":
            if not tag.argument.isdigit():
                raise self.fail("Invalid custom emoji identifier specified")
            self.entities.append(
                MessageEntity(
                    "custom_emoji", tag.utf16_offset, length, custom_emoji_id=tag.argument
                )
            )
            return
        if tag.name == "pre":
            # <pre><code class="language-x">...</code></pre> is one "pre" with a language.
            inner = self.entities[-1] if self.entities else None
            language = None
            if (
                inner is not None
                and inner.type == "code"
                and inner.offset == tag.utf16_offset
                and inner.length == length
            ):
                self.entities.pop()
                language = inner.language
            self.entities.append(MessageEntity("pre", tag.utf16_offset, length, language=language))
            return
        if tag.name == "blockquote" and tag.expandable:
            kind = "expandable_blockquote"
        assert kind is not None, tag.name  # every allowed tag has a mapping
        language = (tag.argument or None) if tag.name == "code" else None
        self.entities.append(MessageEntity(kind, tag.utf16_offset, length, language=language))


def parse_telegram_html(text: str, *, strict_ampersand: bool = True) -> ParsedHTML:
    """Parse ``text`` as Telegram HTML; raises :class:`TelegramHTMLError` where Telegram would."""
    return _Parser(text, strict_ampersand).parse()


def validate_telegram_html(text: str, *, strict_ampersand: bool = True) -> str:
    """Return the plain text Telegram would display for ``text``, or raise TelegramHTMLError.

    Length limits are not checked here (they depend on whether the text is a message or a
    caption); compare :func:`utf16_length` of the result against the limit.
    """
    return parse_telegram_html(text, strict_ampersand=strict_ampersand).text
