"""Logged values cannot forge log lines: control characters are escaped by the formatter."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from bot.app import configure_logging
from bot.logformat import escape_controls
from tests.helpers import make_settings

FORGED = "report.txt\n2026-12-07 10:00:00,000 INFO newsbot event=admin_granted user=mallory"


@pytest.fixture
def captured(tmp_path: Path):  # type: ignore[no-untyped-def]
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure_logging(make_settings(tmp_path, ingest_token="s3cret-token"), stream=stream)
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])


def test_a_newline_in_a_value_does_not_start_a_line(captured: io.StringIO) -> None:
    logging.getLogger("bot.services").info("event=inbox_file name=%s moved_to=done", FORGED)
    lines = captured.getvalue().splitlines()
    assert len(lines) == 1
    assert "name=report.txt\\n2026-12-07" in lines[0]


def test_escapes_terminal_and_bidi_controls(captured: io.StringIO) -> None:
    logging.getLogger("newsbot").warning("title=%s", "\x1b[31mred\u202edesrever\x00\r\x85")
    line = captured.getvalue().rstrip("\n")
    assert "\n" not in line and "\x1b" not in line and "\u202e" not in line
    assert line.endswith("title=\\x1b[31mred\\u202edesrever\\x00\\r\\x85")


def test_a_traceback_is_indented_and_its_message_escaped(captured: io.StringIO) -> None:
    try:
        raise FileNotFoundError(FORGED)
    except FileNotFoundError:
        logging.getLogger("newsbot").exception("event=failed name=%s", "x")
    first, *rest = captured.getvalue().splitlines()
    assert first.endswith("event=failed name=x")
    assert rest and all(line.startswith("    ") for line in rest)
    assert not any(
        "INFO newsbot event=admin_granted" in line and not line.startswith(" ") for line in rest
    )


def test_secrets_are_still_redacted(captured: io.StringIO) -> None:
    logging.getLogger("newsbot").info("token=%s\nnext", "s3cret-token")
    assert captured.getvalue().strip().endswith("token=***\\nnext")


def test_escape_controls_keeps_plain_text() -> None:
    assert escape_controls("Zürich – 東京 ok") == "Zürich – 東京 ok"
