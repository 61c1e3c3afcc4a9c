"""One typed settings object, loaded from the environment and an optional ``.env`` file.

Everything configurable lives here so that the rest of the code receives plain values and never
reads ``os.environ`` itself; :func:`load_settings` is the only place that does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org/bot"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"


class SettingsError(ValueError):
    """A configuration value that cannot be used; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """The bot's whole configuration. Field docs double as the `.env.example` comments."""

    db_path: Path = Path("./newsbot.db")
    inbox: Path = Path("./inbox")
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    ingest_token: str = ""
    telegram_bot_token: str = ""
    telegram_api_url: str = DEFAULT_TELEGRAM_API_URL
    telegram_admin_ids: frozenset[str] = field(default_factory=frozenset)
    telegram_webhook_url: str = ""
    telegram_webhook_secret: str = ""
    slack_bot_token: str = ""
    slack_app_token: str = ""
    slack_signing_secret: str = ""
    slack_api_url: str = DEFAULT_SLACK_API_URL
    slack_admin_ids: frozenset[str] = field(default_factory=frozenset)
    log_level: str = "INFO"
    model_dir: Path | None = None
    retention_days: int = 30
    allow_private_sources: bool = False
    dedup_window_hours: float = 72.0
    inbox_poll_seconds: float = 5.0
    delivery_poll_seconds: float = 2.0
    default_interval_minutes: int = 15
    console_admin: bool = True
    # -- limits that keep the database and the HTTP port available under load --------------
    ingest_max_stories: int = 2000
    ingest_chunk_stories: int = 100
    feed_max_items: int = 500
    http_idle_timeout_seconds: float = 15.0
    http_body_timeout_seconds: float = 30.0
    http_max_connections: int = 256

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_bot_token)

    @property
    def slack_enabled(self) -> bool:
        """Slack needs a bot token plus a way to receive events (Socket Mode or signed HTTP)."""
        return bool(self.slack_bot_token and (self.slack_app_token or self.slack_signing_secret))

    @property
    def console_mode(self) -> bool:
        """No chat platform configured: run the console transport over the demo sources."""
        return not (self.telegram_enabled or self.slack_enabled)

    def admin_ids(self, platform: str) -> frozenset[str]:
        """User ids allowed to run admin commands on ``platform``."""
        if platform == "telegram":
            return self.telegram_admin_ids
        if platform == "slack":
            return self.slack_admin_ids
        # The console and the CLI are run by whoever operates the machine.
        return frozenset({"console"}) if self.console_admin else frozenset()


# (environment variable, Settings field, default shown in .env.example, comment)
ENV_VARIABLES: tuple[tuple[str, str, str, str], ...] = (
    (
        "NEWSBOT_DB",
        "db_path",
        "./newsbot.db",
        "SQLite database file (WAL mode; keep it on a local disk).",
    ),
    (
        "NEWSBOT_INBOX",
        "inbox",
        "./inbox",
        "Folder watched for text dumps; processed files move to done/ or failed/.",
    ),
    (
        "NEWSBOT_HTTP_HOST",
        "http_host",
        "127.0.0.1",
        "Address of the bot's own HTTP server (/healthz, /metrics, /ingest, /slack/events).",
    ),
    (
        "NEWSBOT_HTTP_PORT",
        "http_port",
        "8080",
        "Port of that server; 0 picks a free port (logged at start), -1 turns the server off.",
    ),
    (
        "NEWSBOT_INGEST_TOKEN",
        "ingest_token",
        "",
        "Bearer token for POST /ingest; the endpoint is refused while empty.",
    ),
    (
        "TELEGRAM_BOT_TOKEN",
        "telegram_bot_token",
        "",
        "Token from @BotFather; set it to run on Telegram.",
    ),
    (
        "TELEGRAM_API_URL",
        "telegram_api_url",
        DEFAULT_TELEGRAM_API_URL,
        "Bot API base up to and including /bot; the token is appended (local Bot API servers).",
    ),
    (
        "TELEGRAM_ADMIN_IDS",
        "telegram_admin_ids",
        "",
        "Comma-separated Telegram user ids allowed to run /admin commands.",
    ),
    (
        "TELEGRAM_WEBHOOK_URL",
        "telegram_webhook_url",
        "",
        "Public URL for webhook mode; empty means long polling.",
    ),
    (
        "TELEGRAM_WEBHOOK_SECRET",
        "telegram_webhook_secret",
        "",
        "Secret token Telegram sends with every webhook request.",
    ),
    ("SLACK_BOT_TOKEN", "slack_bot_token", "", "Bot token (xoxb-...) of the Slack app."),
    (
        "SLACK_APP_TOKEN",
        "slack_app_token",
        "",
        "App-level token (xapp-...): enables Socket Mode, no public URL needed.",
    ),
    (
        "SLACK_SIGNING_SECRET",
        "slack_signing_secret",
        "",
        "Signing secret for HTTP mode (/slack/events).",
    ),
    (
        "SLACK_API_URL",
        "slack_api_url",
        DEFAULT_SLACK_API_URL,
        "Slack Web API base URL (tests, proxies).",
    ),
    (
        "SLACK_ADMIN_IDS",
        "slack_admin_ids",
        "",
        "Comma-separated Slack user ids allowed to run admin commands.",
    ),
    ("NEWSBOT_LOG_LEVEL", "log_level", "INFO", "DEBUG, INFO, WARNING or ERROR."),
    (
        "NEWSBOT_MODEL",
        "model_dir",
        "",
        "Folder of a topic model made by `newsbot train`; empty uses the bundled one.",
    ),
    (
        "NEWSBOT_RETENTION_DAYS",
        "retention_days",
        "30",
        "Stories older than this are pruned (FTS kept in sync).",
    ),
    (
        "NEWSBOT_ALLOW_PRIVATE_SOURCES",
        "allow_private_sources",
        "false",
        "Allow sources on loopback/private addresses (tests, intranets).",
    ),
    (
        "NEWSBOT_DEDUP_WINDOW_HOURS",
        "dedup_window_hours",
        "72",
        "How far back reprints and story clusters are looked for.",
    ),
    (
        "NEWSBOT_INBOX_POLL_SECONDS",
        "inbox_poll_seconds",
        "5",
        "How often the inbox folder is checked.",
    ),
    (
        "NEWSBOT_DELIVERY_POLL_SECONDS",
        "delivery_poll_seconds",
        "2",
        "How often the outbox is drained.",
    ),
    (
        "NEWSBOT_DEFAULT_INTERVAL_MINUTES",
        "default_interval_minutes",
        "15",
        "Polling interval for new sources.",
    ),
    # -- limits that keep the database and the HTTP port available under load --------------
    (
        "NEWSBOT_INGEST_MAX_STORIES",
        "ingest_max_stories",
        "2000",
        "Most stories one POST /ingest may carry (more: 413); send bigger sets in parts.",
    ),
    (
        "NEWSBOT_INGEST_CHUNK_STORIES",
        "ingest_chunk_stories",
        "100",
        "Stories stored per database transaction; other writers get their turn in between.",
    ),
    (
        "NEWSBOT_FEED_MAX_ITEMS",
        "feed_max_items",
        "500",
        "Most items taken from one feed fetch (the first ones; the rest is logged and left).",
    ),
    (
        "NEWSBOT_HTTP_IDLE_TIMEOUT_SECONDS",
        "http_idle_timeout_seconds",
        "15",
        "HTTP connections that send no complete request headers for this long are closed.",
    ),
    (
        "NEWSBOT_HTTP_BODY_TIMEOUT_SECONDS",
        "http_body_timeout_seconds",
        "30",
        "A request body not received in full within this time gets 408.",
    ),
    (
        "NEWSBOT_HTTP_MAX_CONNECTIONS",
        "http_max_connections",
        "256",
        "Open HTTP connections at most; beyond it the longest-open idle one is closed.",
    ),
)

# name, lowest and highest accepted value of the limits above
_LIMITS: tuple[tuple[str, str, float, float], ...] = (
    ("NEWSBOT_INGEST_MAX_STORIES", "ingest_max_stories", 1, 1_000_000),
    ("NEWSBOT_INGEST_CHUNK_STORIES", "ingest_chunk_stories", 1, 100_000),
    ("NEWSBOT_FEED_MAX_ITEMS", "feed_max_items", 1, 1_000_000),
    ("NEWSBOT_HTTP_IDLE_TIMEOUT_SECONDS", "http_idle_timeout_seconds", 0.1, 3600),
    ("NEWSBOT_HTTP_BODY_TIMEOUT_SECONDS", "http_body_timeout_seconds", 0.1, 3600),
    ("NEWSBOT_HTTP_MAX_CONNECTIONS", "http_max_connections", 8, 100_000),
)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a ``.env`` file: ``KEY=value`` lines, ``#`` comments, optional quotes.

    Written by hand because the format is tiny and a dependency (python-dotenv) would add
    nothing but interpolation, which we do not want for secrets.
    """
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key] = value
    return values


def _convert(name: str, field_name: str, raw: str) -> object:
    kind = {f.name: f.type for f in fields(Settings)}[field_name]
    text = raw.strip()
    try:
        if kind in ("Path", "Path | None"):
            return Path(text).expanduser() if text else None
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "bool":
            lowered = text.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError(f"expected true or false, got {raw!r}")
        if kind == "frozenset[str]":
            return frozenset(part.strip() for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from None
    return text


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
) -> Settings:
    """Build :class:`Settings` from ``environ`` (default ``os.environ``) over an optional ``.env``.

    Real environment variables win over the file, as in every twelve-factor tool.
    """
    merged: dict[str, str] = {}
    if env_file is not None:
        merged.update(read_env_file(env_file))
    merged.update(os.environ if environ is None else environ)
    values: dict[str, object] = {}
    for name, field_name, _default, _comment in ENV_VARIABLES:
        if name in merged:
            converted = _convert(name, field_name, merged[name])
            if converted is not None:
                values[field_name] = converted
    settings = Settings(**values)  # type: ignore[arg-type]
    if settings.log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise SettingsError(f"NEWSBOT_LOG_LEVEL: unknown level {settings.log_level!r}")
    if not -1 <= settings.http_port <= 65535:
        raise SettingsError(f"NEWSBOT_HTTP_PORT: {settings.http_port} is not a port")
    for name, field_name, low, high in _LIMITS:
        value = getattr(settings, field_name)
        if not low <= value <= high:
            raise SettingsError(f"{name}: {value} is outside {low:g}..{high:g}")
    return settings


def env_example() -> str:
    """The text of `.env.example`, generated from :data:`ENV_VARIABLES` (a test keeps them equal)."""
    lines = [
        "# newsbot configuration. Copy to .env and edit; real environment variables win.",
        "# With no chat platform token set, `newsbot run` starts in console mode over demo sources.",
        "",
    ]
    for name, _field, default, comment in ENV_VARIABLES:
        lines.append(f"# {comment}")
        lines.append(f"{name}={default}")
        lines.append("")
    return "\n".join(lines)
