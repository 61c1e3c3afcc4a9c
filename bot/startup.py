"""What start-up failures look like: one line that says what is wrong and how to fix it, a
non-zero exit, and never a secret.

:class:`StartupError` is the failure every part raises when the bot cannot start (a wrong token,
a port in use, a database that cannot be opened); the command line prints its message alone.
:func:`keep_trying` is the one retry policy for a chat platform's API that cannot be reached at
start, Telegram and Slack alike: a warning line per attempt, backoff, and a
:class:`StartupError` once ``NEWSBOT_STARTUP_RETRY_SECONDS`` have passed (what a service under
systemd or compose expects: a network that comes up late is waited for; a wrong token is not).
:func:`install_secret_redaction` is the net under everything: every log record, at every level,
with its traceback, and every uncaught exception's traceback, has each configured secret value
replaced by ``***`` before anything prints it.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import TypeVar

log = logging.getLogger("newsbot")

T = TypeVar("T")
#: The first wait after a failed attempt; each next one doubles, up to MAX_BACKOFF.
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 60.0
MASK = "***"


class StartupError(Exception):
    """The bot cannot start; the message is one line: what is wrong, and how to fix it."""


class Unreachable(Exception):
    """Raised by an attempt passed to :func:`keep_trying`: worth trying again later."""


async def keep_trying(
    what: str,
    attempt: Callable[[], Awaitable[T]],
    *,
    budget_seconds: float,
    hint: str,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Run ``attempt`` until it succeeds; while it raises :class:`Unreachable`, wait (1 s, 2 s,
    4 s ... at most a minute) and try again, logging one line per failed attempt, for at most
    ``budget_seconds``. Then raise :class:`StartupError` naming ``what`` and ``hint``. Anything
    else ``attempt`` raises (a refused token) goes through at once: retrying cannot fix it."""
    started = clock()
    delay = FIRST_BACKOFF
    number = 1
    while True:
        try:
            return await attempt()
        except Unreachable as exc:
            reason = str(exc) or type(exc).__name__
            elapsed = clock() - started
            if elapsed + delay > budget_seconds:
                raise StartupError(
                    f"{what} unreachable ({reason}); gave up after {number} attempt(s) in "
                    f"{elapsed:.0f} s; {hint}"
                ) from None
            log.warning(
                "event=startup_unreachable target=%r attempt=%d retry_in=%.0fs error=%r "
                "(retrying for up to %.0f s: NEWSBOT_STARTUP_RETRY_SECONDS)",
                what,
                number,
                delay,
                reason,
                budget_seconds,
            )
            await sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)
            number += 1


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``***`` (the longest first, so a secret that
    contains another is masked whole)."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, MASK)
    return text


def install_secret_redaction(secrets: Iterable[str]) -> None:
    """Mask ``secrets`` in everything the process can print about itself.

    A log record factory redacts each record as it is made (message, arguments, traceback and
    stack), so no handler, formatter or level can show a secret, whoever configured logging;
    the exception hooks do the same for tracebacks nobody caught; and warnings become log
    records so they pass the same net. Secrets shorter than 6 characters are not masked: they
    would mangle ordinary words (and the settings refuse none of them for that).
    """
    values = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)
    if not values:
        return
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "newsbot_redacting", False):
        make_record = make_record.newsbot_inner  # type: ignore[attr-defined]

    def redacting_record(*args: object, **kwargs: object) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        # Arguments stay arguments (a formatter or filter may still want each value), each
        # masked where its text holds a secret.
        if isinstance(record.msg, str):
            record.msg = redact(record.msg, values)
        else:
            record.msg = redact(str(record.msg), values)
        if isinstance(record.args, tuple):
            record.args = tuple(_masked(arg, values) for arg in record.args)
        elif record.args:
            try:
                record.msg, record.args = redact(record.getMessage(), values), None
            except Exception:  # a bad format string: the raw text, masked
                record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact(
                "".join(traceback.format_exception(*record.exc_info)).rstrip("\n"), values
            )
        if record.stack_info:
            record.stack_info = redact(record.stack_info, values)
        return record

    redacting_record.newsbot_redacting = True  # type: ignore[attr-defined]
    redacting_record.newsbot_inner = make_record  # type: ignore[attr-defined]
    logging.setLogRecordFactory(redacting_record)
    logging.captureWarnings(True)

    def excepthook(
        kind: type[BaseException], error: BaseException, tb: TracebackType | None
    ) -> None:
        sys.stderr.write(redact("".join(traceback.format_exception(kind, error, tb)), values))

    def thread_excepthook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            excepthook(args.exc_type, args.exc_value, args.exc_traceback)

    sys.excepthook = excepthook
    threading.excepthook = thread_excepthook


class _Masked:
    """Stands in for a log argument whose text held a secret; prints as that text, masked."""

    def __init__(self, text: str, representation: str) -> None:
        self.text = text
        self.representation = representation

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.representation


def _masked(arg: object, secrets: list[str]) -> object:
    if isinstance(arg, int | float) or arg is None:
        return arg
    if isinstance(arg, str):
        return redact(arg, secrets)
    try:
        text, representation = str(arg), repr(arg)
    except Exception:
        return arg
    if any(secret in text or secret in representation for secret in secrets):
        return _Masked(redact(text, secrets), redact(representation, secrets))
    return arg


def one_line(error: BaseException, secrets: Iterable[str]) -> str:
    """An exception as one printable line with the secrets masked."""
    text = str(error) or type(error).__name__
    if not isinstance(error, StartupError):
        text = f"{type(error).__name__}: {text}"
    return redact(" ".join(text.split()), secrets)
