from datetime import UTC, datetime

import pytest

from bot.pipeline.policy import (
    PolicyError,
    in_quiet_hours,
    next_digest_at,
    parse_schedule,
    quiet_hours_end,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_quiet_hours_wrap_past_midnight_in_the_chats_zone() -> None:
    # 22:00-07:00 in Berlin (UTC+1 in winter)
    assert in_quiet_hours("22:00-07:00", "Europe/Berlin", utc(2026, 1, 10, 21, 30))
    assert in_quiet_hours("22:00-07:00", "Europe/Berlin", utc(2026, 1, 10, 5, 30))
    assert not in_quiet_hours("22:00-07:00", "Europe/Berlin", utc(2026, 1, 10, 6, 30))
    assert not in_quiet_hours(None, "UTC", utc(2026, 1, 10, 3, 0))
    assert quiet_hours_end("22:00-07:00", "Europe/Berlin", utc(2026, 1, 10, 23, 0)) == utc(
        2026, 1, 11, 6, 0
    )


def test_daily_digest_keeps_local_time_across_daylight_saving() -> None:
    # Europe/Berlin switches to summer time on 2026-03-29: 08:00 local is 07:00 UTC before
    # and 06:00 UTC after.
    before = next_digest_at("daily 08:00", "Europe/Berlin", utc(2026, 3, 28, 8, 0))
    assert before == utc(2026, 3, 29, 6, 0)
    assert next_digest_at("daily 08:00", "Europe/Berlin", utc(2026, 3, 27, 6, 0)) == utc(
        2026, 3, 27, 7, 0
    )


def test_nonexistent_local_time_on_spring_forward_still_fires_once() -> None:
    # 02:30 does not exist in Berlin on 2026-03-29; the digest must still come, once.
    after = utc(2026, 3, 28, 12, 0)
    first = next_digest_at("daily 02:30", "Europe/Berlin", after)
    assert utc(2026, 3, 29, 0, 0) <= first <= utc(2026, 3, 29, 2, 0)
    assert next_digest_at("daily 02:30", "Europe/Berlin", first) > utc(2026, 3, 29, 12, 0)


def test_weekly_and_hourly() -> None:
    assert next_digest_at("weekly mon 09:00", "UTC", utc(2026, 11, 28, 10, 0)) == utc(
        2026, 11, 30, 9, 0
    )
    assert next_digest_at("hourly", "UTC", utc(2026, 11, 28, 10, 20)) == utc(2026, 11, 28, 11, 0)


@pytest.mark.parametrize("text", ["daily", "daily 25:00", "sometimes", "weekly xyz 08:00"])
def test_bad_schedules_explain_the_form(text: str) -> None:
    with pytest.raises(PolicyError, match=r"daily 08:00|HH:MM"):
        parse_schedule(text)
