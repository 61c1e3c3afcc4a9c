"""One typed settings object, loaded from the environment and an optional ``.env`` file.

Everything configurable lives here so that the rest of the code receives plain values and never
reads ``os.environ`` itself; :func:`load_settings` is the only place that does, and importing
this module reads nothing.

A setting is one line in :class:`Settings`: ``name: type = setting("ENV_NAME", default,
"comment", ...constraints)``. The comment doubles as the `.env.example` text, the constraints
(``min``, ``max``, ``choices``, ``check``) are enforced at load time with one clear line per bad
value, and ``secret=True`` keeps the value out of every message and log line.

The ``.env`` file is parsed by python-dotenv (quotes, ``export``, inline ``# comments``), with
interpolation off: a secret that contains ``$`` is taken as written.
"""

from __future__ import annotations

import io
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from dotenv.parser import parse_stream

DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org/bot"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_SLACK_AUTHORIZE_URL = "https://slack.com/oauth/v2/authorize"
#: The bot scopes the app needs (as in slack-app-manifest.yml); an OAuth install asks for these.
DEFAULT_SLACK_SCOPES = (
    "app_mentions:read,channels:read,chat:write,chat:write.public,commands,files:read,"
    "files:write,groups:read,im:history,im:read,im:write,users:read"
)

T = TypeVar("T")
Check = Callable[[Any], str | None]


class SettingsError(ValueError):
    """Configuration that cannot be used: one line per bad value, each naming its variable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def setting(
    env: str,
    default: T,
    doc: str,
    *,
    min: float | None = None,
    max: float | None = None,
    choices: tuple[str, ...] = (),
    check: Check | None = None,
    secret: bool = False,
    example: str | None = None,
) -> T:
    """Declare one setting: its environment variable, default, `.env.example` comment and the
    constraints its value must meet. ``example`` is the value `.env.example` shows (the default
    by default)."""
    meta = {
        "env": env,
        "doc": doc,
        "min": min,
        "max": max,
        "choices": choices,
        "check": check,
        "secret": secret,
        "example": example,
    }
    return field(default=default, metadata=meta)


# -- checks shared by several settings ---------------------------------------------------------
def _http_url(value: str) -> str | None:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL with a host name"
    return None


def _telegram_api_url(value: str) -> str | None:
    problem = _http_url(value)
    if problem:
        return problem
    if not urlsplit(value).path.rstrip("/").endswith("/bot"):
        return f"must end with /bot (the token is appended to it), as in {DEFAULT_TELEGRAM_API_URL}"
    return None


def _optional_http_url(value: str) -> str | None:
    return _http_url(value) if value else None


def _token(value: str) -> str | None:
    """A token is one word of printable ASCII: spaces or quotes mean it was pasted wrongly."""
    if value and not re.fullmatch(r"""[!#-&(-~]+""", value):
        return "contains spaces, quotes or non-ASCII characters; paste the token alone"
    return None


def _telegram_token(value: str) -> str | None:
    """The token becomes part of every Bot API URL: characters that change a URL are refused."""
    if value and (":" not in value or re.search(r"[/?#%\\]", value)):
        return "is not a bot token (@BotFather gives one like 123456789:AAE...)"
    return _token(value)


def _webhook_secret(value: str) -> str | None:
    # Telegram's rule for secret_token: 1-256 characters A-Z, a-z, 0-9, _ and -.
    if value and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value):
        return "may hold only 1-256 letters, digits, _ and - (Telegram's rule)"
    return None


def _slack_scopes(value: str) -> str | None:
    bad = [s for s in value.split(",") if not re.fullmatch(r"[a-z_]+(:[a-z_.]+)*", s.strip())]
    return f"comma-separated scopes like chat:write; not {', '.join(bad)}" if bad else None


def _telegram_ids(value: frozenset[str]) -> str | None:
    bad = sorted(v for v in value if not v.lstrip("-").isdigit())
    return f"user ids are numbers; not {', '.join(bad)}" if bad else None


def _database_target(value: str) -> str | None:
    """A path, or a URL of a scheme we can open (``mysql://`` is refused, not made a file)."""
    if "://" in value and not value.startswith(("postgresql://", "postgres://")):
        return (
            f"unknown database scheme {value.split('://', 1)[0]}://: use a SQLite file path or "
            "postgresql://USER:PASSWORD@HOST:PORT/DBNAME"
        )
    return None


def _model_dir(value: Path | None) -> str | None:
    if value is not None and not value.is_dir():
        return f"{value} is not a folder (make one with `newsbot train`)"
    return None


@dataclass(frozen=True)
class Settings:
    """The bot's whole configuration; see the module docstring for how a setting is declared."""

    db_path: str = setting("NEWSBOT_DB", "./newsbot.db", "SQLite database file (WAL mode; keep it on a local disk), or postgresql://USER:PASSWORD@HOST:PORT/DBNAME for PostgreSQL.", check=_database_target, example="./newsbot.db")
    inbox: Path = setting("NEWSBOT_INBOX", Path("./inbox"), "Folder watched for text dumps; processed files move to done/ or failed/.", example="./inbox")
    http_host: str = setting("NEWSBOT_HTTP_HOST", "127.0.0.1", "Address of the bot's own HTTP server (/healthz, /metrics, /ingest, /slack/events).")
    http_port: int = setting("NEWSBOT_HTTP_PORT", 8080, "Port of that server; 0 picks a free port (logged at start), -1 turns the server off.", min=-1, max=65535)
    ingest_token: str = setting("NEWSBOT_INGEST_TOKEN", "", "Bearer token for POST /ingest; the endpoint is refused while empty.", check=_token, secret=True)
    telegram_bot_token: str = setting("TELEGRAM_BOT_TOKEN", "", "Token from @BotFather; set it to run on Telegram.", check=_telegram_token, secret=True)
    telegram_api_url: str = setting("TELEGRAM_API_URL", DEFAULT_TELEGRAM_API_URL, "Bot API base up to and including /bot; the token is appended (local Bot API servers).", check=_telegram_api_url)
    telegram_admin_ids: frozenset[str] = setting("TELEGRAM_ADMIN_IDS", frozenset[str](), "Comma-separated Telegram user ids allowed to run /admin commands.", check=_telegram_ids)
    telegram_webhook_url: str = setting("TELEGRAM_WEBHOOK_URL", "", "Public URL for webhook mode; empty means long polling.", check=_optional_http_url)
    telegram_webhook_secret: str = setting("TELEGRAM_WEBHOOK_SECRET", "", "Secret token Telegram sends with every webhook request.", check=_webhook_secret, secret=True)
    slack_bot_token: str = setting("SLACK_BOT_TOKEN", "", "Bot token (xoxb-...) of the Slack app.", check=_token, secret=True)
    slack_app_token: str = setting("SLACK_APP_TOKEN", "", "App-level token (xapp-...): enables Socket Mode, no public URL needed.", check=_token, secret=True)
    slack_signing_secret: str = setting("SLACK_SIGNING_SECRET", "", "Signing secret for HTTP mode (/slack/events).", check=_token, secret=True)
    slack_api_url: str = setting("SLACK_API_URL", DEFAULT_SLACK_API_URL, "Slack Web API base URL (tests, proxies).", check=_http_url)
    slack_client_id: str = setting("SLACK_CLIENT_ID", "", "Client ID of the Slack app: with SLACK_CLIENT_SECRET, any workspace can install it at /slack/install (HTTP mode).", check=_token)
    slack_client_secret: str = setting("SLACK_CLIENT_SECRET", "", "Client Secret of the Slack app, for the OAuth install flow.", check=_token, secret=True)
    slack_scopes: str = setting("SLACK_SCOPES", DEFAULT_SLACK_SCOPES, "Bot scopes an OAuth install asks for (comma-separated).", check=_slack_scopes)
    slack_authorize_url: str = setting("SLACK_AUTHORIZE_URL", DEFAULT_SLACK_AUTHORIZE_URL, "Slack's OAuth consent page the install flow sends people to (tests).", check=_http_url)
    slack_admin_ids: frozenset[str] = setting("SLACK_ADMIN_IDS", frozenset[str](), "Comma-separated Slack user ids allowed to run admin commands.")
    log_level: str = setting("NEWSBOT_LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR.", choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
    model_dir: Path | None = setting("NEWSBOT_MODEL", None, "Folder of a topic model made by `newsbot train`; empty uses the bundled one.", check=_model_dir)
    retention_days: int = setting("NEWSBOT_RETENTION_DAYS", 30, "Stories older than this are pruned (FTS kept in sync).", min=1, max=36500)
    allow_private_sources: bool = setting("NEWSBOT_ALLOW_PRIVATE_SOURCES", False, "Allow sources on loopback/private addresses (tests, intranets).")
    dedup_window_hours: float = setting("NEWSBOT_DEDUP_WINDOW_HOURS", 72.0, "How far back reprints and story clusters are looked for.", min=1, max=24 * 365, example="72")
    inbox_poll_seconds: float = setting("NEWSBOT_INBOX_POLL_SECONDS", 5.0, "How often the inbox folder is checked.", min=0.1, max=86400, example="5")
    delivery_poll_seconds: float = setting("NEWSBOT_DELIVERY_POLL_SECONDS", 2.0, "How often the outbox is drained.", min=0.1, max=3600, example="2")
    claim_lease_seconds: float = setting("NEWSBOT_CLAIM_LEASE_SECONDS", 30.0, "PostgreSQL with several deliver processes: how long an outbox row claimed by a process that died waits before another takes it (renewed while the process lives).", min=3, max=3600, example="30")
    default_interval_minutes: int = setting("NEWSBOT_DEFAULT_INTERVAL_MINUTES", 15, "Polling interval for new sources.", min=1, max=7 * 24 * 60)
    startup_retry_seconds: float = setting("NEWSBOT_STARTUP_RETRY_SECONDS", 300.0, "How long start-up retries an unreachable Telegram or Slack API (with backoff) before giving up; 0 tries once.", min=0, max=86400, example="300")
    max_input_bytes: int = setting("NEWSBOT_MAX_INPUT_BYTES", 5_000_000, "Largest inbox file or `newsbot ingest` file read; a larger one moves to failed/.", min=1, max=2**40, example="5000000")
    inbox_settle_seconds: float = setting("NEWSBOT_INBOX_SETTLE_SECONDS", 10.0, "An inbox file is taken once its size and mtime stay unchanged this long.", min=0, max=86400, example="10")
    ingest_max_stories: int = setting("NEWSBOT_INGEST_MAX_STORIES", 2000, "Most stories one POST /ingest may carry (more: 413); send bigger sets in parts.", min=1, max=1_000_000)
    ingest_chunk_stories: int = setting("NEWSBOT_INGEST_CHUNK_STORIES", 100, "Stories stored per database transaction; other writers get their turn in between.", min=1, max=100_000)
    feed_max_items: int = setting("NEWSBOT_FEED_MAX_ITEMS", 500, "Most items taken from one feed fetch (the first ones; the rest is logged and left).", min=1, max=1_000_000)
    http_idle_timeout_seconds: float = setting("NEWSBOT_HTTP_IDLE_TIMEOUT_SECONDS", 15.0, "HTTP connections that send no complete request headers for this long are closed.", min=0.1, max=3600, example="15")
    http_body_timeout_seconds: float = setting("NEWSBOT_HTTP_BODY_TIMEOUT_SECONDS", 30.0, "A request body not received in full within this time gets 408.", min=0.1, max=3600, example="30")
    http_max_connections: int = setting("NEWSBOT_HTTP_MAX_CONNECTIONS", 256, "Open HTTP connections at most; beyond it the longest-open idle one is closed.", min=8, max=100_000)
    console_admin: bool = True  # not configurable: the console is run by whoever owns the machine

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_bot_token)

    @property
    def slack_oauth(self) -> bool:
        """Several workspaces, each installing the app through the OAuth flow. Half of the
        app's credentials is still this mode: start-up then says what is missing rather than
        quietly running on one workspace."""
        return bool(self.slack_client_id or self.slack_client_secret)

    @property
    def slack_enabled(self) -> bool:
        """Slack needs a bot token (or the OAuth install flow, which gets one per workspace)
        plus a way to receive events (Socket Mode or signed HTTP)."""
        return bool(
            (self.slack_bot_token or self.slack_oauth)
            and (self.slack_app_token or self.slack_signing_secret)
        )

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

    def secret_values(self) -> list[str]:
        """Every configured secret, and the password of any URL setting: what logs redact."""
        values: list[str] = []
        for item in _declared():
            value = getattr(self, item.name)
            if item.metadata["secret"] and isinstance(value, str) and value:
                values.append(value)
            elif isinstance(value, str) and "://" in value:
                try:
                    password = urlsplit(value).password
                except ValueError:
                    password = None
                if password:
                    values.append(password)
        return values


def _declared() -> list[Field[Any]]:
    return [f for f in fields(Settings) if "env" in f.metadata]


# (environment variable, Settings field, default shown in .env.example, comment), derived from
# the declarations above for code that wants the table.
def env_variables() -> list[tuple[str, str, str, str]]:
    rows = []
    for item in _declared():
        meta = item.metadata
        example = meta["example"]
        if example is None:
            example = _show(item.default)
        rows.append((meta["env"], item.name, example, meta["doc"]))
    return rows


def _show(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, frozenset):
        return ",".join(sorted(value))
    return str(value)


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a ``.env`` file with python-dotenv: ``KEY=value`` lines, ``export``, quotes and
    ``# comments`` (also after a value). A line that is not a setting is an error, not skipped:
    a typo there would otherwise silently leave a default in force."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError([f"{path}: no such settings file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError([f"{path}: cannot be read ({exc})"]) from None
    values: dict[str, str] = {}
    problems = []
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            problems.append(
                f"{path} line {binding.original.line}: not a KEY=value line; fix or comment it out"
            )
        elif binding.key is not None:
            values[binding.key] = binding.value or ""
    if problems:
        raise SettingsError(problems)
    return values


def _convert(kind: str, text: str) -> object:
    """``text`` as a value of the declared type; ValueError says why it is not one."""
    if kind in ("Path", "Path | None"):
        return Path(text).expanduser()
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            raise ValueError("expected a whole number") from None
    if kind == "float":
        try:
            number = float(text)
        except ValueError:
            raise ValueError("expected a number") from None
        if not math.isfinite(number):
            raise ValueError("must be a finite number")
        return number
    if kind == "bool":
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError("expected true or false")
    if kind == "frozenset[str]":
        return frozenset(part.strip() for part in text.split(",") if part.strip())
    if kind == "str":
        return text
    raise TypeError(f"a setting of type {kind} cannot be read from the environment")


def _problem(item: Field[Any], value: object) -> str | None:
    meta = item.metadata
    if meta["choices"] and value not in meta["choices"]:
        return f"must be one of {', '.join(meta['choices'])}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if meta["min"] is not None and value < meta["min"]:
            return f"must be at least {meta['min']:g}"
        if meta["max"] is not None and value > meta["max"]:
            return f"must be at most {meta['max']:g}"
    check: Check | None = meta["check"]
    return check(value) if check is not None else None


_PREFIXES = ("NEWSBOT_", "TELEGRAM_", "SLACK_")


def _unknown_names(path: Path, values: Mapping[str, str]) -> list[str]:
    """A misspelt name in the settings file would leave its default silently in force: any
    name there with one of our prefixes must be a setting (the environment is not checked,
    it holds too much that is not ours)."""
    import difflib

    known = [item.metadata["env"] for item in _declared()]
    problems = []
    for name in values:
        if name.startswith(_PREFIXES) and name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]}?" if close else "see .env.example for the names"
            problems.append(f"{name} (in {path}): not a newsbot setting; {hint}")
    return problems


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> Settings:
    """Build :class:`Settings` from ``environ`` (default ``os.environ``) over a ``.env`` file.

    Real environment variables win over the file, as in every twelve-factor tool. A missing
    ``env_file`` is an error (the caller passes None when there is no file to read). An empty
    value means the default. Every bad value is reported, each in one line that names the
    variable and never shows a secret: :class:`SettingsError` carries them all.
    """
    merged: dict[str, str] = {}
    problems: list[str] = []
    if env_file is not None:
        from_file = read_env_file(env_file)
        problems += _unknown_names(env_file, from_file)
        merged.update(from_file)
    merged.update(os.environ if environ is None else environ)
    values: dict[str, object] = {}
    for item in _declared():
        name = item.metadata["env"]
        raw = merged.get(name, "").strip()
        if not raw:
            continue
        shown = "(hidden)" if item.metadata["secret"] else repr(raw)
        kind = str(item.type)
        if item.metadata["choices"]:
            raw = raw.upper()
        try:
            value = _convert(kind, raw)
        except ValueError as exc:
            problems.append(f"{name}={shown}: {exc}")
            continue
        problem = _problem(item, value)
        if problem:
            problems.append(f"{name}={shown}: {problem}")
            continue
        values[item.name] = value
    if problems:
        raise SettingsError(problems)
    return Settings(**values)  # type: ignore[arg-type]


def env_example() -> str:
    """The text of `.env.example`, generated from the declarations (a test keeps them equal)."""
    lines = [
        "# newsbot configuration. Copy to .env and edit; real environment variables win.",
        "# With no chat platform token set, `newsbot run` starts in console mode over demo sources.",
        "# Values may be quoted; text after ' #' is a comment; an empty value means the default.",
        "",
    ]
    for name, _field, default, comment in env_variables():
        lines.append(f"# {comment}")
        lines.append(f"{name}={default}")
        lines.append("")
    return "\n".join(lines)
