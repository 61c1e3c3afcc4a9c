"""Strict parsing of numbers typed in chat: ASCII digits only, bounded.

``str.isdigit`` accepts superscripts and other scripts' digits (``"²".isdigit()`` is true, and
``int("²")`` then raises), and ``int`` accepts any length, while SQLite integers stop at 2**63-1
(a 40-digit id raises ``OverflowError`` at the query). Every command that reads a number reads
it here and answers with its usage line when this returns None.
"""

from __future__ import annotations

import re

MAX_ID = 2**63 - 1  # SQLite's largest INTEGER
_ASCII_DIGITS = re.compile(r"[0-9]{1,19}")


def parse_number(text: str, *, low: int = 0, high: int = MAX_ID) -> int | None:
    """``text`` as an int in ``[low, high]`` when it is 1-19 ASCII digits; otherwise None."""
    if not _ASCII_DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if low <= value <= high else None


def parse_id(text: str) -> int | None:
    """A row id as typed (``42`` or ``#42``): a positive integer SQLite can hold, or None."""
    return parse_number(text.strip().removeprefix("#"), low=1)
