"""The ``newsbot`` command line: thin commands over the service functions.

Every command has ``--help`` with an example. Commands that touch the database open it
themselves (migrating it first), so the CLI works beside a running bot sharing the file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sqlite3
import sys
import textwrap
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot.settings import Settings, SettingsError, load_settings
from storage import db as storage_db

if TYPE_CHECKING:
    from rich.console import Console

    from bot.models import Reply
    from handlers.context import CommandContext
    from storage.engine import Store

log = logging.getLogger("newsbot.cli")


def _example(text: str) -> str:
    return "example:\n" + textwrap.indent(textwrap.dedent(text).strip(), "  ")


def _add(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    example: str,
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help_text,
        description=help_text,
        epilog=_example(example),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsbot",
        description="News alerts for Telegram and Slack: ingest, deduplicate, classify, "
        "summarize, match subscriptions, deliver once.",
        epilog=_example("newsbot run            # console mode with no tokens configured"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--env-file",
        metavar="PATH",
        help="settings file to read (default: .env in the current folder, if there is one); "
        "a PATH that does not exist is an error",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = _add(
        sub,
        "run",
        "run the bot (Telegram, Slack or console, by configuration)",
        "newsbot run\nnewsbot run --once   # poll everything once, deliver, exit",
    )
    run.add_argument(
        "--once", action="store_true", help="poll every source and the inbox once, deliver, exit"
    )
    run.add_argument(
        "--role",
        choices=("all", "ingest", "deliver", "web"),
        default="all",
        help="which parts this process runs (default all); the others need PostgreSQL: "
        "ingest (one leader: sources, pipeline, digests), deliver (outbox; any number), "
        "web (HTTP server; any number); see docs/scaling.md",
    )

    ingest = _add(
        sub,
        "ingest",
        "ingest files or URLs now (text dumps, JSON Lines, feeds, pages)",
        "newsbot ingest wire.txt stories.jsonl https://example.com/feed.xml --json",
    )
    ingest.add_argument("inputs", nargs="+", metavar="PATH_OR_URL")
    ingest.add_argument("--source", help="source name to record for these stories")
    ingest.add_argument("--json", action="store_true", help="print JSON Lines, one per new story")

    sources = _add(
        sub,
        "sources",
        "manage polled sources",
        "newsbot sources add https://example.com/rss --name Example --interval 10\n"
        "newsbot sources list",
    )
    ssub = sources.add_subparsers(dest="sources_command", metavar="ACTION", required=True)
    add = _add(
        ssub,
        "add",
        "add a feed (fetched once and validated first)",
        "newsbot sources add https://example.com/rss --name Example --interval 10",
    )
    add.add_argument("url")
    add.add_argument("--name")
    add.add_argument("--interval", type=int, metavar="MIN", help="minutes between polls")
    add.add_argument(
        "--full-text", action="store_true", help="fetch article pages for teaser items"
    )
    add.add_argument("--no-check", action="store_true", help="save without fetching it first")
    _add(ssub, "list", "list sources with their health", "newsbot sources list")
    for action, text in (
        ("remove", "delete a source"),
        ("pause", "stop polling a source"),
        ("resume", "poll a paused source again"),
    ):
        p = _add(ssub, action, text, f"newsbot sources {action} 3")
        p.add_argument("id", metavar="ID")
    imp = _add(ssub, "import", "add the feeds of an OPML file", "newsbot sources import feeds.opml")
    imp.add_argument("file", type=Path)
    _add(ssub, "export", "print every source as OPML", "newsbot sources export > feeds.opml")

    _add(
        sub,
        "chat",
        "talk to the bot in the terminal (every chat command)",
        "newsbot chat\n> /subscribe earthquake\n> /latest",
    )

    admin = _add(
        sub,
        "admin",
        "run an admin command from the shell (--out PATH saves its file: a chart, an OPML)",
        "newsbot admin stats --out stats.png\nnewsbot admin sources page 2",
    )
    admin.add_argument("words", nargs=argparse.REMAINDER, metavar="COMMAND [ARGS] [--out PATH]")

    db = _add(
        sub,
        "db",
        "database maintenance",
        "newsbot db stats\nnewsbot db backup backup.db\n"
        "newsbot db copy newsbot.db postgresql://newsbot:secret@db.example:5432/newsbot",
    )
    dsub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    _add(dsub, "migrate", "apply pending migrations", "newsbot db migrate")
    backup = _add(
        dsub,
        "backup",
        "online backup of the live database",
        "newsbot db backup /backups/newsbot.db",
    )
    backup.add_argument("path", type=Path)
    _add(dsub, "stats", "row counts and file sizes", "newsbot db stats")
    copy = _add(
        dsub,
        "copy",
        "copy every table of a database into an empty one (SQLite <-> PostgreSQL), ids kept",
        "newsbot db copy ./newsbot.db postgresql://newsbot:secret@db.example:5432/newsbot",
    )
    copy.add_argument("src", metavar="SRC", help="SQLite file or postgresql:// URL")
    copy.add_argument("dst", metavar="DST", help="an empty database: SQLite file or URL")

    dedup = _add(
        sub,
        "dedup",
        "mark reprints and story clusters in JSON Lines from stdin",
        "newsbot dedup --window 48 < stories.jsonl",
    )
    dedup.add_argument("--window", type=float, default=72.0, metavar="HOURS")

    classify = _add(
        sub,
        "classify",
        "topics for JSON Lines stories from stdin",
        "newsbot classify < stories.jsonl",
    )
    classify.add_argument(
        "--model", type=Path, metavar="DIR", help="a model made by `newsbot train`"
    )

    train = _add(
        sub,
        "train",
        "train a topic model on your own labelled stories",
        "newsbot train --data labelled.jsonl --out mymodel/",
    )
    train.add_argument("--data", type=Path, required=True, metavar="FILE.jsonl")
    train.add_argument("--out", type=Path, required=True, metavar="DIR")
    train.add_argument("--folds", type=int, default=5)

    summarize = _add(
        sub,
        "summarize",
        "extractive summaries for JSON Lines from stdin",
        "newsbot summarize --sentences 2 --chars 300 < stories.jsonl",
    )
    summarize.add_argument("--sentences", type=int, default=3)
    summarize.add_argument("--chars", type=int, default=400)

    dashboard = _add(
        sub,
        "dashboard",
        "read-only web view of the database for admins (Datasette, canned queries)",
        "newsbot dashboard                     # http://127.0.0.1:8001/\n"
        "ssh -L 8001:127.0.0.1:8001 server     # then open it from your machine",
    )
    dashboard.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    dashboard.add_argument("--port", type=int, default=8001, help="port (default 8001)")
    return parser


# -- commands ---------------------------------------------------------------------------------
def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import configure_logging, run_bot
    from bot.cluster import database_url
    from bot.roles import role_error

    problem = role_error(args.role, postgres=database_url(settings) is not None, once=args.once)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    configure_logging(settings)
    return asyncio.run(
        run_bot(settings, once=args.once, read_stdin=sys.stdin is not None, role=args.role)
    )


class IngestProgress:
    """How far ``newsbot ingest`` is: a bar per input on a terminal (rich), plain lines
    otherwise (a log, a pipe), so a long file is never minutes of silence."""

    def __init__(self, console: Console) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = console
        self.bar: Progress | None = None
        if console.is_terminal:
            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("stories"),
                TimeElapsedColumn(),
                console=console,
            )

    def __enter__(self) -> IngestProgress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def for_input(self, name: str) -> Callable[[int, int], None]:
        bar = self.bar
        if bar is not None:
            task = bar.add_task(name, total=None)

            def update(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            return update

        def line(done: int, total: int) -> None:
            # One step is the whole of a small input: its summary line is enough.
            from bot.services import PROGRESS_STEP

            if done and total > PROGRESS_STEP:
                self.console.print(f"{name}: {done:,}/{total:,} stories", highlight=False)

        return line


def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    from rich.console import Console

    from bot.app import build_core, configure_logging
    from storage.db import StorageFullError

    configure_logging(settings)
    errors = Console(stderr=True, highlight=False, soft_wrap=True)

    async def go() -> int:
        core = await build_core(settings)
        failures = 0
        queued = 0
        try:
            with IngestProgress(errors) as progress:
                for item in args.inputs:
                    step = progress.for_input(item)
                    try:
                        if item.startswith(("http://", "https://")):
                            outcome = await core.services.ingest_url(
                                item, source_name=args.source or "", progress=step
                            )
                        else:
                            outcome = await core.services.ingest_file(
                                Path(item), source_name=args.source or "", progress=step
                            )
                    except StorageFullError as exc:
                        print(f"error: {item}: {exc}", file=sys.stderr)
                        failures += 1
                        continue
                    # Warnings (a skipped JSON Lines line) are logged once, by the service.
                    if outcome.error:
                        failures += 1
                        print(f"error: {item}: {outcome.error}", file=sys.stderr)
                        continue
                    for story in outcome.report.new:
                        if args.json:
                            print(json.dumps(story.as_json(), ensure_ascii=False))
                        else:
                            topics = ",".join(story.topics[:2])
                            print(f"#{story.id} [{topics}] {story.title} ({story.source})")
                    queued += outcome.report.deliveries
                    print(f"{item}: {outcome.report.summary_line()}", file=sys.stderr)
            if queued:
                print(_where_alerts_go(settings, queued), file=sys.stderr)
        finally:
            await core.close()
        return 1 if failures else 0

    return asyncio.run(go())


def _where_alerts_go(settings: Settings, queued: int) -> str:
    """The alerts an ingest queued are sent by the bot, not by this command (a running bot
    on the same database would otherwise race it): say so, and how to see them now."""
    if settings.console_mode:
        return (
            f"{queued} alert(s) queued: a running `newsbot run` delivers them within seconds "
            "(the console chat's in its terminal); without one, `newsbot run --once` does now"
        )
    return (
        f"{queued} alert(s) queued: the running bot (`newsbot run`) sends them to their chats "
        "within seconds; `newsbot admin queue` shows the outbox"
    )


def _open_db(settings: Settings) -> Store:
    from storage.db import open_store

    return open_store(settings.db_path)


def cmd_sources(settings: Settings, args: argparse.Namespace) -> int:
    from handlers import sources_admin

    action = args.sources_command
    if action == "add":
        return _run_async_admin(
            settings,
            lambda ctx: sources_admin.add_source_checked(
                ctx,
                args.url,
                name=args.name,
                interval=args.interval,
                full_text=args.full_text,
                check=not args.no_check,
            ),
        )
    if action == "import":
        return _run_async_admin(
            settings, lambda ctx: sources_admin.import_opml(ctx, args.file.read_bytes())
        )
    db = _open_db(settings)
    try:
        if action == "list":
            print(sources_admin.format_sources(db, datetime.now(UTC)))
            return 0
        if action == "export":
            sys.stdout.write(sources_admin.export_opml(db).decode("utf-8"))
            return 0
        message = sources_admin.change_state(db, args.id, action)
        print(message)
        return 0
    except LookupError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 1


def _run_async_admin(settings: Settings, step: Callable[[CommandContext], Awaitable[Reply]]) -> int:
    from bot.app import build_core, configure_logging
    from handlers.context import CommandContext as Context

    configure_logging(settings)

    async def go() -> int:
        core = await build_core(settings)
        try:
            reply = await step(Context(core.services, settings))
        finally:
            await core.close()
        print(reply.text)
        return 0 if not reply.text.lower().startswith(("error", "could not")) else 1

    return asyncio.run(go())


def cmd_chat(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import configure_logging
    from bot.chat import run_chat

    configure_logging(settings)
    return asyncio.run(run_chat(settings))


def cmd_admin(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import configure_logging
    from bot.chat import run_single_command
    from handlers.admin import SUBCOMMANDS

    words = list(args.words)
    out: Path | None = None
    for index, word in enumerate(words):
        if word == "--out" or word.startswith("--out="):
            value = word.partition("=")[2] if "=" in word else None
            if value is None and index + 1 < len(words):
                value = words[index + 1]
                del words[index + 1]
            del words[index]
            if not value:
                print("error: --out needs a PATH", file=sys.stderr)
                return 2
            out = Path(value)
            break
    configure_logging(settings)
    code = asyncio.run(run_single_command(settings, "admin", " ".join(words), out=out))
    if words and words[0].lower() not in SUBCOMMANDS:
        return 2  # the reply listed the admin commands; an unknown one is a usage error
    return code


def cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    from storage.db import apply_migrations, backup_database, open_store, pending_migrations
    from storage.engine import SqliteStore

    if args.db_command == "copy":
        return _copy_db(args.src, args.dst)
    if args.db_command == "migrate":
        db = open_store(settings.db_path, migrate=False)
        pending = pending_migrations(db)
        apply_migrations(db)
        print(f"applied {len(pending)} migration(s): {', '.join(pending) or 'none pending'}")
        return 0
    db = open_store(settings.db_path)
    if args.db_command == "backup":
        if not isinstance(db, SqliteStore):
            print(
                "error: `newsbot db backup` copies a SQLite file; for PostgreSQL use pg_dump, or "
                "`newsbot db copy` into a SQLite file",
                file=sys.stderr,
            )
            return 2
        target = backup_database(db, args.path)
        print(f"backup written to {target} ({target.stat().st_size:,} bytes)")
        return 0
    from storage.maintenance import database_stats

    for key, value in database_stats(db, settings.db_path).items():
        print(f"{key}: {value}")
    return 0


def _copy_db(src: str, dst: str) -> int:
    """``newsbot db copy``: every problem is one line on stderr and exit code 2."""
    from storage.copy import CopyError, check_source_exists, copy_database
    from storage.db import DatabaseUrlError, check_target, describe_target, open_store

    try:
        check_target(src)
        check_target(dst)
        check_source_exists(src)
        if str(src) == str(dst):
            raise CopyError("SRC and DST are the same database")
        source, target = open_store(src), open_store(dst)
        try:
            report = copy_database(
                source, target, progress=lambda table, rows: print(f"{table}: {rows} rows")
            )
        finally:
            source.close()
            target.close()
    except (CopyError, DatabaseUrlError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    total = sum(report.tables.values())
    print(
        f"copied {total} rows in {len(report.tables)} tables from {describe_target(src)} to "
        f"{describe_target(dst)}; counts checked"
    )
    return 0


def cmd_dedup(settings: Settings, args: argparse.Namespace) -> int:
    from bot.pipeline.dedup import dedup_jsonl

    dedup_jsonl(sys.stdin, sys.stdout, window_hours=args.window)
    return 0


def cmd_classify(settings: Settings, args: argparse.Namespace) -> int:
    from bot.pipeline.classify import TopicModel, classify_jsonl

    classify_jsonl(sys.stdin, sys.stdout, TopicModel.load(args.model or settings.model_dir))
    return 0


def cmd_train(settings: Settings, args: argparse.Namespace) -> int:
    from bot.pipeline.classify import load_training_rows, train

    try:
        rows = load_training_rows(args.data)
        report = train(rows, args.out, folds=args.folds)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    languages = (
        ", ".join(f"{code} ({count:,} rows)" for code, count in report.languages.items())
        or "none could be told from the texts; taken as English"
    )
    print(
        f"trained on {report.rows} rows, {len(report.labels)} labels, in {report.seconds:.1f} s\n"
        f"languages: {languages} (stories in other languages keep only confident topics)\n"
        f"cross-validated ({report.folds} folds): accuracy {report.accuracy:.3f}, "
        f"macro-F1 {report.macro_f1:.3f}\nmodel written to {args.out}; "
        f"use it with NEWSBOT_MODEL={args.out} or --model {args.out}"
    )
    return 0


def cmd_summarize(settings: Settings, args: argparse.Namespace) -> int:
    from bot.pipeline.summarize import summarize_jsonl

    summarize_jsonl(sys.stdin, sys.stdout, max_sentences=args.sentences, max_chars=args.chars)
    return 0


def cmd_dashboard(settings: Settings, args: argparse.Namespace) -> int:
    from bot.dashboard import serve_dashboard
    from storage.engine import is_postgres_url

    if is_postgres_url(settings.db_path):
        print(
            "error: the dashboard (Datasette) reads a SQLite file and NEWSBOT_DB is PostgreSQL: "
            "`newsbot db copy` it into a file to browse a snapshot",
            file=sys.stderr,
        )
        return 2
    return serve_dashboard(Path(settings.db_path).expanduser(), host=args.host, port=args.port)


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "run": cmd_run,
    "ingest": cmd_ingest,
    "sources": cmd_sources,
    "chat": cmd_chat,
    "admin": cmd_admin,
    "db": cmd_db,
    "dedup": cmd_dedup,
    "classify": cmd_classify,
    "train": cmd_train,
    "summarize": cmd_summarize,
    "dashboard": cmd_dashboard,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    if args.env_file is not None:
        env_file: Path | None = Path(args.env_file)
    else:
        env_file = Path(".env") if Path(".env").is_file() else None
    try:
        settings = load_settings(env_file=env_file)
    except SettingsError as exc:
        for problem in exc.problems:
            print(f"configuration error: {problem}", file=sys.stderr)
        return 2
    from bot.startup import StartupError, install_secret_redaction, one_line

    secrets = settings.secret_values()
    install_secret_redaction(secrets)
    try:
        return COMMANDS[args.command](settings, args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except StartupError as exc:
        print(f"newsbot: cannot start: {one_line(exc, secrets)}", file=sys.stderr)
        return 1
    except sqlite3.OperationalError as exc:
        if is_lock_error(exc):
            # Every connection already waits out the busy timeout; past it, one line, not a trace.
            print(
                "error: the database is busy: another newsbot process held its write lock for "
                f"more than {storage_db.BUSY_TIMEOUT_MS / 1000:g} s ({exc}); what was stored so "
                "far is kept, run the command again to finish",
                file=sys.stderr,
            )
            return EXIT_BUSY
        return _command_failed(args.command, exc, secrets)
    except Exception as exc:
        return _command_failed(args.command, exc, secrets)


def _command_failed(command: str, exc: BaseException, secrets: Iterable[str]) -> int:
    """One masked line on the terminal; the traceback goes to the log at DEBUG (masked too)."""
    from bot.startup import one_line

    log.debug("event=command_failed command=%s", command, exc_info=exc)
    print(
        f"newsbot {command}: failed: {one_line(exc, secrets)} "
        "(NEWSBOT_LOG_LEVEL=DEBUG shows the traceback)",
        file=sys.stderr,
    )
    return 1


EXIT_BUSY = 75  # EX_TEMPFAIL: try again later


def is_lock_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "database is locked" in text or "database is busy" in text


if __name__ == "__main__":
    raise SystemExit(main())
