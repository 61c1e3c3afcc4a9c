"""Reading JSON Lines records for the pipe-friendly commands (``newsbot classify``,
``newsbot summarize``): one bad line is skipped with a warning naming its number, so a batch is
never stopped by one broken record."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any, TextIO

log = logging.getLogger(__name__)

#: Integers longer than this are refused: Python's int() of a huge digit string is slow (and
#: above 4,300 digits raises an error no JSON caller expects), and no story field needs one.
MAX_INTEGER_DIGITS = 100


class JSONRecordError(ValueError):
    """A line that is not one usable JSON value; the message says why, in one line."""


def _parse_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise JSONRecordError(
            f"a number with {len(digits.lstrip('-')):,} digits (at most {MAX_INTEGER_DIGITS})"
        )
    return int(digits)


def loads_record(line: str) -> Any:
    """``json.loads`` for untrusted lines: every failure is a :class:`JSONRecordError`.

    Besides malformed JSON, a line nested thousands of levels deep (``RecursionError`` in the
    decoder) or holding a number thousands of digits long is refused here, so one such line
    costs a warning, not the whole batch.
    """
    try:
        return json.loads(line, parse_int=_parse_int)
    except JSONRecordError:
        raise
    except json.JSONDecodeError as error:
        raise JSONRecordError(f"not valid JSON ({error.msg})") from None
    except RecursionError:
        raise JSONRecordError("not valid JSON (nested too deeply)") from None
    except ValueError as error:  # e.g. the interpreter's limit on integer string length
        raise JSONRecordError(f"not valid JSON ({error})") from None


def text_records(src: TextIO, *, command: str) -> Iterator[dict[str, Any]]:
    """Yield each line's object that has a string ``text``; ``title`` is always a string."""
    for number, line in enumerate(src, start=1):
        if not line.strip():
            continue
        try:
            record = loads_record(line)
        except JSONRecordError as error:
            log.warning("%s: line %d skipped: %s", command, number, error)
            continue
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            log.warning(
                "%s: line %d skipped: expected an object with a string text", command, number
            )
            continue
        title = record.get("title")
        record["title"] = title if isinstance(title, str) else ""
        yield record
