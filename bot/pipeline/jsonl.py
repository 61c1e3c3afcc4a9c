"""Reading JSON Lines records for the pipe-friendly commands (``newsbot classify``,
``newsbot summarize``): one bad line is skipped with a warning naming its number, so a batch is
never stopped by one broken record."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any, TextIO

log = logging.getLogger(__name__)


def text_records(src: TextIO, *, command: str) -> Iterator[dict[str, Any]]:
    """Yield each line's object that has a string ``text``; ``title`` is always a string."""
    for number, line in enumerate(src, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            log.warning("%s: line %d skipped: not valid JSON (%s)", command, number, error.msg)
            continue
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            log.warning(
                "%s: line %d skipped: expected an object with a string text", command, number
            )
            continue
        title = record.get("title")
        record["title"] = title if isinstance(title, str) else ""
        yield record
