"""The log line format, with every logged value's control characters escaped.

Logged values come from outside (file names, feed titles, chat arguments). A value holding a
newline could otherwise start a forged line (``name=x\\n... INFO newsbot event=admin_granted``),
an escape sequence could recolour or erase the console, and a bidi override could reverse what
an operator reads. So every control character of the message is written as an escape
(``\\n``, ``\\x1b``, ``\\u202e``), and a traceback, which is legitimately several lines, is
indented so that none of its lines can pass for a log line of its own.
"""

from __future__ import annotations

import logging
import re

# C0 and C1 controls, DEL, bidi embeddings/overrides/isolates, line and paragraph separators.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
TRACEBACK_INDENT = "    "


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` on one line, with every control character written as a visible escape."""
    return _CONTROLS.sub(_escape_one, text)


def _escape_block(text: str) -> str:
    """A multi-line block (a traceback): newlines kept, each line escaped and indented."""
    return "\n".join(TRACEBACK_INDENT + escape_controls(line) for line in text.split("\n"))


class EscapingFormatter(logging.Formatter):
    """``logging.Formatter`` whose output has one line per record, plus indented tracebacks."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape_controls(super().formatMessage(record))

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            line = super().format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved
        if record.exc_text:
            line += "\n" + _escape_block(record.exc_text)
        if record.stack_info:
            line += "\n" + _escape_block(self.formatStack(record.stack_info))
        return line
