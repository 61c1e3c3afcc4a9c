"""Per-chat delivery policy, pure functions of a chat's settings and a clock.

Delivery mode (instant or digest), digest schedules (``hourly``, ``daily HH:MM``,
``weekly DAY HH:MM``) in the chat's time zone, and quiet hours (``HH:MM-HH:MM``, may wrap past
midnight). Parsing lives here too so that ``/settings`` validates with the same code that
applies the setting.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.i18n import N_

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: Story-language codes: ISO 639-1, as the language detector gives them.
_LANGUAGE_CODE = re.compile(r"[a-z]{2}")
MAX_LANGUAGES = 20


class PolicyError(ValueError):
    """A setting value that cannot be used; the message shows the accepted form.

    The message is an English message id with ``{name}`` placeholders, kept apart from its
    values so that :meth:`render` can show it in the chat's language.
    """

    def __init__(self, message: str, **values: Any) -> None:
        self.message = message
        self.values = values
        super().__init__(message.format_map(values))

    def render(self, gettext: Callable[..., str]) -> str:
        """The message through ``gettext`` (a :meth:`bot.i18n.Translator._`)."""
        return gettext(self.message, **self.values)


@dataclass(frozen=True)
class Schedule:
    kind: str  # hourly | daily | weekly
    at: time = time(8, 0)
    weekday: int = 0

    def __str__(self) -> str:
        if self.kind == "hourly":
            return "hourly"
        if self.kind == "daily":
            return f"daily {self.at:%H:%M}"
        return f"weekly {WEEKDAYS[self.weekday]} {self.at:%H:%M}"


def parse_clock(text: str) -> time:
    try:
        hours, minutes = text.strip().split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise PolicyError(
            N_("'{text}' is not a time of day: use HH:MM, e.g. 07:30"), text=text
        ) from None


def parse_schedule(text: str) -> Schedule:
    parts = text.lower().split()
    if parts == ["hourly"]:
        return Schedule("hourly")
    if len(parts) == 2 and parts[0] == "daily":
        return Schedule("daily", parse_clock(parts[1]))
    if len(parts) == 3 and parts[0] == "weekly" and parts[1][:3] in WEEKDAYS:
        return Schedule("weekly", parse_clock(parts[2]), WEEKDAYS.index(parts[1][:3]))
    raise PolicyError(
        N_("'{text}' is not a digest schedule: use 'hourly', 'daily 08:00' or 'weekly mon 08:00'"),
        text=text,
    )


def parse_timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise PolicyError(
            N_("'{name}' is not a time zone: use an IANA name such as Europe/Berlin or UTC"),
            name=name,
        ) from None


def parse_quiet_hours(text: str) -> tuple[time, time]:
    start, sep, end = text.partition("-")
    if not sep:
        raise PolicyError(
            N_("'{text}' is not a range: use HH:MM-HH:MM, e.g. 22:00-07:00"), text=text
        )
    return parse_clock(start), parse_clock(end)


def in_quiet_hours(quiet: str | None, timezone: str, now: datetime) -> bool:
    """True when ``now`` falls in the chat's quiet hours (a range may wrap past midnight)."""
    if not quiet:
        return False
    start, end = parse_quiet_hours(quiet)
    local = now.astimezone(parse_timezone(timezone)).time()
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def quiet_hours_end(quiet: str, timezone: str, now: datetime) -> datetime:
    """When the current quiet period ends, in UTC."""
    _start, end = parse_quiet_hours(quiet)
    zone = parse_timezone(timezone)
    local = now.astimezone(zone)
    candidate = datetime.combine(local.date(), end, zone)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), end, zone)
    return candidate.astimezone(UTC)


def next_digest_at(schedule: str, timezone: str, after: datetime) -> datetime:
    """The first digest time strictly after ``after`` (UTC), computed in the chat's zone.

    Wall-clock arithmetic with zoneinfo keeps 08:00 at 08:00 local across daylight-saving
    changes; a nonexistent local time (spring forward) resolves forward, as zoneinfo does.
    """
    parsed = parse_schedule(schedule)
    zone = parse_timezone(timezone)
    local = after.astimezone(zone)
    if parsed.kind == "hourly":
        top = local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        return top.astimezone(UTC)
    day = local.date()
    for offset in range(0, 9):
        candidate_day = day + timedelta(days=offset)
        if parsed.kind == "weekly" and candidate_day.weekday() != parsed.weekday:
            continue
        candidate = datetime.combine(candidate_day, parsed.at, zone)
        if candidate.astimezone(UTC) > after.astimezone(UTC):
            return candidate.astimezone(UTC)
    raise AssertionError("unreachable: a weekly schedule recurs within 8 days")


def parse_languages(text: str) -> tuple[str, ...]:
    """The story languages of ``/settings languages en,de``: two-letter codes, in the order
    given, without repeats; ``()`` for ``any`` (no filter)."""
    words = [w for w in re.split(r"[\s,;]+", text.strip().lower()) if w]
    if not words or words in (["any"], ["all"], ["off"]):
        return ()
    bad = [w for w in words if not _LANGUAGE_CODE.fullmatch(w)]
    if bad or len(words) > MAX_LANGUAGES:
        raise PolicyError(
            N_("languages are two-letter codes separated by commas, e.g. en,de; or any")
        )
    return tuple(dict.fromkeys(words))


def story_language_allowed(setting: str | None, language: str) -> bool:
    """Whether a story in ``language`` may be sent to a chat whose story-language setting is
    ``setting``: a comma-separated list (``"en,de"``; a single code as stored before lists were
    possible), or None/empty for any language. A story whose language could not be told
    (``und`` or empty) always passes: short texts often cannot be told."""
    if not setting:
        return True
    base = language.lower().replace("_", "-").split("-", 1)[0]
    if base in ("", "und"):
        return True
    wanted = {code.strip().lower() for code in setting.split(",") if code.strip()}
    return not wanted or base in wanted or "any" in wanted
