"""A validator of Slack messages (Block Kit layout limits and mrkdwn escaping) for tests.

Slack rejects a message whose blocks break a limit with ``invalid_blocks`` and lists the
problems in ``response_metadata.messages`` as ``[ERROR] ... [json-pointer:/blocks/0/text]``;
``validate_message`` returns problems in that same form. slack_sdk's ``Block`` classes check
some limits only when built through them, and our formatter may build plain dicts, so the
fake checks the JSON that actually goes over the wire.

Two rules are stricter than Slack, to catch formatter bugs:

* a top-level ``text`` fallback is required whenever blocks are sent (Slack only warns);
* mrkdwn must be escaped: ``&``, ``<`` and ``>`` may appear only as ``&amp;``/``&lt;``/``&gt;``,
  inside Slack's own control sequences (``<https://x|label>``, ``<@U123>``, ``<#C123>``,
  ``<!here>``...) or, for ``>``, as a block quote marker at the start of a line. Slack itself
  renders most unescaped text somehow, which is exactly how an article's ``<!channel>`` would
  notify a whole channel.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_MESSAGE_TEXT = 40_000
SECTION_TEXT_LIMIT = 3000
SECTION_FIELDS_LIMIT = 10
SECTION_FIELD_TEXT_LIMIT = 2000
HEADER_TEXT_LIMIT = 150
CONTEXT_ELEMENTS_LIMIT = 10
ACTIONS_ELEMENTS_LIMIT = 25
BUTTON_TEXT_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000
ACTION_ID_LIMIT = 255
BLOCK_ID_LIMIT = 255
URL_LIMIT = 3000
IMAGE_ALT_TEXT_LIMIT = 2000
MARKDOWN_BLOCK_LIMIT = 12_000
OPTION_TEXT_LIMIT = 75
OPTION_VALUE_LIMIT = 150
OPTIONS_LIMIT = 100

_BLOCK_TYPES = frozenset(
    {
        "section", "divider", "header", "context", "actions", "image", "rich_text", "input",
        "file", "video", "markdown",
    }
)  # fmt: skip
_SELECT_TYPES = frozenset(
    {
        "static_select", "multi_static_select", "overflow", "radio_buttons", "checkboxes",
    }
)  # fmt: skip
_OTHER_ELEMENT_TYPES = frozenset(
    {
        "users_select", "multi_users_select", "conversations_select",
        "multi_conversations_select", "channels_select", "multi_channels_select",
        "external_select", "multi_external_select", "datepicker", "timepicker",
        "datetimepicker", "plain_text_input", "email_text_input", "url_text_input",
        "number_input", "rich_text_input", "file_input", "workflow_button",
    }
)  # fmt: skip

# Slack's control sequences: <@U…>, <#C…>, <!here>, <!subteam^S…>, <!date^…>, and links.
_CONTROL_SEQUENCE = re.compile(
    r"""
    @[UW][A-Z0-9]+(\|[^<>]*)?
    | \#C[A-Z0-9]+(\|[^<>]*)?
    | !(here|channel|everyone)(\|[^<>]*)?
    | !subteam\^[A-Z0-9]+(\|[^<>]*)?
    | !date\^\d+\^[^|<>]+(\^[^|<>\s]+)?\|[^<>]+
    | (https?://|mailto:|tel:|slack://)[^\s|<>]+(\|[^<>]*)?
    """,
    re.VERBOSE,
)
_ESCAPES = ("&amp;", "&lt;", "&gt;")
_MENTION = re.compile(
    r"<(?:!(?:here|channel|everyone|subteam\^[^>|]*)|@[UW][^>|]*|#C[^>|]*)(?:\|[^>]*)?>"
)
_BARE_BROADCAST = re.compile(r"(?<![\w<!])@(?:here|channel|everyone)\b")


def _error(message: str, pointer: str) -> str:
    return f"[ERROR] {message} [json-pointer:{pointer}]"


def mrkdwn_errors(text: str, pointer: str = "/text") -> list[str]:
    """Escaping problems of one mrkdwn string (see the module docstring for the rules)."""
    errors: list[str] = []
    i = 0
    at_line_start = True
    while i < len(text):
        char = text[i]
        if char == "&" and not text.startswith(_ESCAPES, i):
            errors.append(_error(f"unescaped '&' at offset {i}", pointer))
        elif char == "<":
            end = text.find(">", i + 1)
            body = text[i + 1 : end] if end != -1 else ""
            if end == -1 or "<" in body or not _CONTROL_SEQUENCE.fullmatch(body):
                errors.append(_error(f"unescaped '<' at offset {i}", pointer))
            else:
                label = body.partition("|")[2]
                errors.extend(
                    _error(f"unescaped '&' at offset {i + 1 + body.index('|') + 1 + j}", pointer)
                    for j, c in enumerate(label)
                    if c == "&" and not label.startswith(_ESCAPES, j)
                )
                i = end + 1
                at_line_start = False
                continue
        elif char == ">" and not at_line_start:
            errors.append(_error(f"unescaped '>' at offset {i}", pointer))
        if char == "\n":
            at_line_start = True
        elif not (char == ">" and at_line_start):
            at_line_start = False
        i += 1
    return errors


def validate_untrusted_escaping(text: str, *, link_names: bool = False) -> list[str]:
    """Mentions and broadcasts in ``text`` (``<!channel>``, ``<!here>``, ``<@U1>``, ``<#C1>``).

    Tests put such sequences into article text and assert none reaches Slack: the formatter
    must escape ``<`` so they arrive as harmless ``&lt;!channel&gt;``. With ``link_names``
    (which makes Slack link plain ``@channel``) bare ``@here``/``@channel``/``@everyone``
    count too.
    """
    found = [match.group(0) for match in _MENTION.finditer(text)]
    if link_names:
        found.extend(match.group(0) for match in _BARE_BROADCAST.finditer(text))
    return found


def _length_errors(text: Any, limit: int, pointer: str) -> list[str]:
    if not isinstance(text, str):
        return [_error("must be a string", pointer)]
    if not text:
        return [_error("must be more than 0 characters", pointer)]
    if len(text) > limit:
        return [_error(f"must be less than {limit + 1} characters", pointer)]
    return []


def _text_object(obj: Any, pointer: str, limit: int, *, plain_only: bool = False) -> list[str]:
    if not isinstance(obj, dict):
        return [_error("must be a text object", pointer)]
    kind = obj.get("type")
    if kind not in ("plain_text", "mrkdwn"):
        return [_error("must be one of [plain_text, mrkdwn]", f"{pointer}/type")]
    if plain_only and kind != "plain_text":
        return [_error("must be a plain_text object", f"{pointer}/type")]
    errors = _length_errors(obj.get("text"), limit, f"{pointer}/text")
    if not errors and kind == "mrkdwn":
        errors = mrkdwn_errors(obj["text"], f"{pointer}/text")
    return errors


def _url_errors(url: Any, pointer: str) -> list[str]:
    errors = _length_errors(url, URL_LIMIT, pointer)
    if not errors and not re.match(r"^(https?://|mailto:|tel:|slack://)", url):
        errors.append(_error("must be a valid URL", pointer))
    return errors


def _element(element: Any, pointer: str) -> list[str]:
    """One interactive or context element (buttons and selects in detail, others loosely)."""
    if not isinstance(element, dict):
        return [_error("must be an object", pointer)]
    kind = element.get("type")
    errors: list[str] = []
    if "action_id" in element:
        errors += _length_errors(element["action_id"], ACTION_ID_LIMIT, f"{pointer}/action_id")
    if kind == "button":
        errors += _text_object(
            element.get("text"), f"{pointer}/text", BUTTON_TEXT_LIMIT, plain_only=True
        )
        if "value" in element:
            errors += _length_errors(element["value"], BUTTON_VALUE_LIMIT, f"{pointer}/value")
        if "url" in element:
            errors += _url_errors(element["url"], f"{pointer}/url")
        if element.get("style") not in (None, "primary", "danger"):
            errors.append(_error("must be one of [primary, danger]", f"{pointer}/style"))
    elif kind == "image":
        errors += _length_errors(
            element.get("alt_text"), IMAGE_ALT_TEXT_LIMIT, f"{pointer}/alt_text"
        )
        if "slack_file" not in element:
            errors += _url_errors(element.get("image_url"), f"{pointer}/image_url")
    elif kind in ("plain_text", "mrkdwn"):
        errors += _text_object(element, pointer, SECTION_TEXT_LIMIT)
    elif kind in _SELECT_TYPES:
        options = element.get("options")
        if not isinstance(options, list) or not 1 <= len(options) <= OPTIONS_LIMIT:
            errors.append(_error(f"must have 1 to {OPTIONS_LIMIT} options", f"{pointer}/options"))
        else:
            for n, option in enumerate(options):
                where = f"{pointer}/options/{n}"
                if not isinstance(option, dict):
                    errors.append(_error("must be an object", where))
                    continue
                errors += _text_object(option.get("text"), f"{where}/text", OPTION_TEXT_LIMIT)
                errors += _length_errors(option.get("value"), OPTION_VALUE_LIMIT, f"{where}/value")
    elif kind not in _OTHER_ELEMENT_TYPES:
        errors.append(_error(f"unsupported element type {kind!r}", f"{pointer}/type"))
    return errors


def _unique_action_ids(elements: list[Any], pointer: str) -> list[str]:
    seen: set[str] = set()
    errors = []
    for n, element in enumerate(elements):
        action_id = element.get("action_id") if isinstance(element, dict) else None
        if isinstance(action_id, str):
            if action_id in seen:
                errors.append(_error("action_id must be unique", f"{pointer}/{n}/action_id"))
            seen.add(action_id)
    return errors


def _block(block: dict[str, Any], pointer: str) -> list[str]:
    kind = block.get("type")
    errors: list[str] = []
    if kind == "section":
        if "text" not in block and "fields" not in block:
            errors.append(_error("must provide either text or fields", pointer))
        if "text" in block:
            errors += _text_object(block["text"], f"{pointer}/text", SECTION_TEXT_LIMIT)
        if "fields" in block:
            fields = block["fields"]
            if not isinstance(fields, list) or not 1 <= len(fields) <= SECTION_FIELDS_LIMIT:
                errors.append(
                    _error(f"must have 1 to {SECTION_FIELDS_LIMIT} items", f"{pointer}/fields")
                )
            else:
                for n, item in enumerate(fields):
                    errors += _text_object(item, f"{pointer}/fields/{n}", SECTION_FIELD_TEXT_LIMIT)
        if "accessory" in block:
            errors += _element(block["accessory"], f"{pointer}/accessory")
    elif kind == "header":
        errors += _text_object(
            block.get("text"), f"{pointer}/text", HEADER_TEXT_LIMIT, plain_only=True
        )
    elif kind in ("context", "actions"):
        limit = CONTEXT_ELEMENTS_LIMIT if kind == "context" else ACTIONS_ELEMENTS_LIMIT
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= limit:
            errors.append(_error(f"must have 1 to {limit} items", f"{pointer}/elements"))
        else:
            for n, element in enumerate(elements):
                where = f"{pointer}/elements/{n}"
                if kind == "context" and (
                    not isinstance(element, dict)
                    or element.get("type") not in ("image", "plain_text", "mrkdwn")
                ):
                    errors.append(_error("must be an image or a text object", where))
                    continue
                errors += _element(element, where)
            if kind == "actions":
                errors += _unique_action_ids(elements, f"{pointer}/elements")
    elif kind == "image":
        errors += _element(block, pointer)
        if "title" in block:
            errors += _text_object(block["title"], f"{pointer}/title", 2000, plain_only=True)
    elif kind == "markdown":
        errors += _length_errors(block.get("text"), MARKDOWN_BLOCK_LIMIT, f"{pointer}/text")
    elif kind == "rich_text" and not isinstance(block.get("elements"), list):
        errors.append(_error("must be an array", f"{pointer}/elements"))
    elif kind == "input":
        errors += _text_object(block.get("label"), f"{pointer}/label", 2000, plain_only=True)
        errors += _element(block.get("element"), f"{pointer}/element")
    return errors


def validate_blocks(
    blocks: Any, *, max_blocks: int = MAX_MESSAGE_BLOCKS, pointer: str = "/blocks"
) -> list[str]:
    """Layout errors of a ``blocks`` value (a list, or its JSON text as in form bodies)."""
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except ValueError:
            return [_error("failed to parse blocks JSON", pointer)]
    if not isinstance(blocks, list):
        return [_error("must be an array", pointer)]
    errors: list[str] = []
    if len(blocks) > max_blocks:
        errors.append(_error(f"no more than {max_blocks} items allowed", pointer))
    seen_ids: set[str] = set()
    for n, block in enumerate(blocks):
        where = f"{pointer}/{n}"
        if not isinstance(block, dict):
            errors.append(_error("must be an object", where))
            continue
        if block.get("type") not in _BLOCK_TYPES:
            errors.append(_error(f"unsupported block type {block.get('type')!r}", f"{where}/type"))
            continue
        if "block_id" in block:
            block_id = block["block_id"]
            errors += _length_errors(block_id, BLOCK_ID_LIMIT, f"{where}/block_id")
            if block_id in seen_ids:
                errors.append(_error("block_id must be unique", f"{where}/block_id"))
            if isinstance(block_id, str):
                seen_ids.add(block_id)
        errors += _block(block, where)
    return errors


def _decoded_blocks(params: Mapping[str, Any]) -> Any:
    blocks = params.get("blocks")
    if isinstance(blocks, str):
        try:
            return json.loads(blocks)
        except ValueError:
            return blocks
    return blocks


def validate_message(params: Mapping[str, Any]) -> list[str]:
    """Problems Slack (or our stricter rules) would find in a chat.postMessage/update body."""
    blocks = _decoded_blocks(params)
    text = params.get("text")
    has_blocks = blocks not in (None, "", [])
    errors: list[str] = []
    if text is not None and not isinstance(text, str):
        errors.append(_error("must be a string", "/text"))
    elif not text:
        if has_blocks:
            errors.append(_error("a top-level text fallback is required with blocks", "/text"))
        elif not params.get("attachments"):
            errors.append(_error("one of text, blocks or attachments is required", "/text"))
    elif str(params.get("mrkdwn", "true")).lower() != "false":
        errors += mrkdwn_errors(text, "/text")
    if has_blocks:
        errors += validate_blocks(blocks)
    return errors


def _texts_in(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if value.get("type") in ("plain_text", "mrkdwn", "markdown") and isinstance(
            value.get("text"), str
        ):
            yield value["text"]
        for key, item in value.items():
            if key != "text" or not isinstance(item, str):
                yield from _texts_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts_in(item)


def message_texts(params: Mapping[str, Any]) -> list[str]:
    """Every human-visible string of a message: the top-level text and all block texts."""
    texts = [params["text"]] if isinstance(params.get("text"), str) else []
    texts.extend(_texts_in(_decoded_blocks(params)))
    return texts
