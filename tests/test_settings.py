from pathlib import Path

import pytest

from bot.settings import DEFAULT_TELEGRAM_API_URL, SettingsError, env_example, load_settings
from tests.helpers import REPO


def test_defaults_without_environment(tmp_path: Path) -> None:
    settings = load_settings({}, env_file=tmp_path / "missing.env")
    assert settings.db_path == Path("./newsbot.db")
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
    assert settings.db_path == Path("/from/env.db")
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
