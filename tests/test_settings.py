import math
from pathlib import Path

import pytest

from bot.settings import DEFAULT_TELEGRAM_API_URL, SettingsError, env_example, load_settings
from tests.helpers import REPO


def test_defaults_without_environment(tmp_path: Path) -> None:
    settings = load_settings({}, env_file=None)
    assert settings.db_path == "./newsbot.db"
    assert settings.inbox == Path("./inbox")
    assert settings.http_host == "127.0.0.1"
    assert settings.telegram_api_url == DEFAULT_TELEGRAM_API_URL
    assert settings.console_mode


def test_environment_wins_over_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# comment\nNEWSBOT_DB=/from/file.db\nTELEGRAM_ADMIN_IDS='1, 2'\nexport NEWSBOT_HTTP_PORT=9000\n"
    )
    settings = load_settings({"NEWSBOT_DB": "/from/env.db"}, env_file=env_file)
    assert settings.db_path == "/from/env.db"
    assert settings.telegram_admin_ids == frozenset({"1", "2"})
    assert settings.http_port == 9000


def test_platform_selection() -> None:
    assert load_settings({"TELEGRAM_BOT_TOKEN": "1:a"}, env_file=None).telegram_enabled
    slack = load_settings({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}, env_file=None)
    assert slack.slack_enabled and not slack.console_mode
    # A bot token alone cannot receive anything: Slack stays off, console mode stays on.
    assert load_settings({"SLACK_BOT_TOKEN": "xoxb-1"}, env_file=None).console_mode


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("NEWSBOT_HTTP_PORT", "eighty"),
        ("NEWSBOT_HTTP_PORT", "70000"),
        ("NEWSBOT_ALLOW_PRIVATE_SOURCES", "maybe"),
        ("NEWSBOT_LOG_LEVEL", "LOUD"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings({name: value}, env_file=None)


def test_env_example_lists_every_variable() -> None:
    assert (REPO / ".env.example").read_text(encoding="utf-8") == env_example()


def test_env_file_quotes_and_comments_are_removed(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        'TELEGRAM_BOT_TOKEN="abc:def"  # my bot\n'
        "NEWSBOT_INGEST_TOKEN='s3cret#part'\n"
        "NEWSBOT_LOG_LEVEL=warning # quieter\n"
        "NEWSBOT_MODEL=\n"
    )
    settings = load_settings({}, env_file=env_file)
    assert settings.telegram_bot_token == "abc:def"
    assert settings.ingest_token == "s3cret#part"  # a quoted '#' is part of the value
    assert settings.log_level == "WARNING"
    assert settings.model_dir is None  # empty means the default


def test_missing_env_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="no such settings file"):
        load_settings({}, env_file=tmp_path / "nonexistent")


def test_unparseable_env_file_line_is_an_error(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("NEWSBOT_DB=x.db\nthis is not a setting\n")
    with pytest.raises(SettingsError, match="line 2"):
        load_settings({}, env_file=env_file)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("NEWSBOT_RETENTION_DAYS", "0"),
        ("NEWSBOT_RETENTION_DAYS", "-3"),
        ("NEWSBOT_RETENTION_DAYS", "1.5"),
        ("NEWSBOT_INBOX_POLL_SECONDS", "nan"),
        ("NEWSBOT_INBOX_POLL_SECONDS", "-1"),
        ("NEWSBOT_INBOX_POLL_SECONDS", "0"),
        ("NEWSBOT_DELIVERY_POLL_SECONDS", "inf"),
        ("NEWSBOT_DEDUP_WINDOW_HOURS", "NaN"),
        ("NEWSBOT_DEFAULT_INTERVAL_MINUTES", "-15"),
        ("NEWSBOT_STARTUP_RETRY_SECONDS", "-1"),
        ("TELEGRAM_API_URL", "https://api.telegram.org/"),
        ("TELEGRAM_API_URL", "api.telegram.org/bot"),
        ("TELEGRAM_ADMIN_IDS", "12,alice"),
        ("TELEGRAM_WEBHOOK_URL", "not a url"),
        ("TELEGRAM_WEBHOOK_SECRET", "sécret"),
        ("SLACK_API_URL", "ftp://slack.com/api/"),
        ("NEWSBOT_MODEL", "/nonexistent/model"),
    ],
)
def test_every_value_is_validated(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({name: value}, env_file=None)
    assert len(caught.value.problems) == 1
    line = caught.value.problems[0]
    assert line.startswith(f"{name}=") and "\n" not in line


def test_every_bad_value_gets_its_own_line_and_secrets_are_not_shown() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(
            {
                "NEWSBOT_RETENTION_DAYS": "0",
                "NEWSBOT_HTTP_PORT": "eighty",
                "TELEGRAM_BOT_TOKEN": "12345:has a space",
            },
            env_file=None,
        )
    problems = caught.value.problems
    assert [p.split("=")[0] for p in problems] == [
        "NEWSBOT_HTTP_PORT",
        "TELEGRAM_BOT_TOKEN",
        "NEWSBOT_RETENTION_DAYS",
    ]
    assert not any("has a space" in p for p in problems)


def test_good_values_are_converted() -> None:
    settings = load_settings(
        {
            "NEWSBOT_RETENTION_DAYS": "7",
            "NEWSBOT_INBOX_POLL_SECONDS": "0.5",
            "NEWSBOT_ALLOW_PRIVATE_SOURCES": "yes",
            "TELEGRAM_API_URL": "http://127.0.0.1:8081/bot",
        },
        env_file=None,
    )
    assert settings.retention_days == 7
    assert math.isclose(settings.inbox_poll_seconds, 0.5)
    assert settings.allow_private_sources
    assert settings.telegram_api_url == "http://127.0.0.1:8081/bot"


def test_secret_values_include_url_passwords() -> None:
    settings = load_settings(
        {
            "SLACK_BOT_TOKEN": "xoxb-secret-1",
            "SLACK_API_URL": "https://user:pa55word@proxy.example/api/",
        },
        env_file=None,
    )
    assert set(settings.secret_values()) == {"xoxb-secret-1", "pa55word"}


def test_a_misspelt_name_in_the_env_file_is_an_error(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("NEWSBOT_RETENTION_DAY=7\nCOMPOSE_PROJECT_NAME=news\n")
    with pytest.raises(SettingsError) as caught:
        load_settings({}, env_file=env_file)
    assert caught.value.problems == [
        f"NEWSBOT_RETENTION_DAY (in {env_file}): not a newsbot setting; "
        "did you mean NEWSBOT_RETENTION_DAYS?"
    ]
