"""The composition root: the one place that builds settings-driven objects and wires them.

Importing this module does nothing. :class:`NewsBot` builds the database worker, the HTTP
client, the pipeline, the services, the transports, the delivery worker, the HTTP server and
the scheduler, all in the bot's own asyncio loop; it starts them in that order and stops them in
reverse.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import httpx

from bot.cluster import database_url
from bot.cluster.bucket import SharedBudget, SharedPacer
from bot.cluster.leader import LeaderElection, LeaderGate
from bot.cluster.notify import Listener
from bot.cluster.outbox import ClaimingDeliveryWorker, DeliverLoop
from bot.delivery.worker import DeliveryWorker
from bot.logformat import EscapingFormatter
from bot.metrics import Metrics
from bot.models import Chat, Reply
from bot.pipeline.classify import TopicModel
from bot.pipeline.fetch import Fetcher, build_http_client
from bot.pipeline.run import Pipeline
from bot.roles import role_parts
from bot.scheduler import BotScheduler
from bot.services import Services
from bot.settings import Settings
from bot.startup import StartupError
from bot.transports.base import PlatformRunner, Transport
from bot.web import WebServer
from handlers.registry import build_router
from handlers.router import Router
from storage import coordination
from storage.coordination import OUTBOX_CHANNEL, SUBSCRIPTIONS_CHANNEL
from storage.db import DatabaseUrlError, DatabaseWorker, describe_target, is_database_error
from storage.engine import is_postgres_url
from storage.maintenance import holds_no_data

log = logging.getLogger("newsbot")

#: A source poll taken by the leader (storage.coordination.claim_source_poll) and cut short by a
#: crash is taken again after this long: longer than any fetch may take.
POLL_LEASE_SECONDS = 120.0
#: SQLite (no NOTIFY): how often the newest outbox id is looked at.
OUTBOX_WATCH_SECONDS = 0.25


class SecretsFilter(logging.Filter):
    """Replaces configured tokens with ``***`` in every log record: tokens never reach logs."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if len(s) >= 6]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg, record.args = self.redact(record.getMessage()), None
            if record.exc_info:
                # A traceback can quote a token (a URL with the bot token in it): format it
                # here, redacted, so the handler prints this text instead of the raw one.
                record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def configure_logging(settings: Settings, stream: TextIO | None = None) -> None:
    """One line per event: time, level, logger, then the event's key=value fields."""
    handler = logging.StreamHandler(stream or sys.stderr)
    # Control characters in logged values are escaped: a value cannot forge a line.
    handler.setFormatter(EscapingFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(
        SecretsFilter(
            [
                settings.telegram_bot_token,
                settings.slack_bot_token,
                settings.slack_app_token,
                settings.slack_signing_secret,
                settings.slack_client_secret,
                settings.ingest_token,
                settings.telegram_webhook_secret,
            ]
        )
    )
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    for noisy in (
        "httpx",
        "httpcore",
        "apscheduler",
        "aiohttp.access",
        "telegram",
        "slack_bolt",
        "slack_sdk",
    ):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


@dataclass
class Core:
    """What every entry point needs: database, HTTP client, pipeline, services."""

    settings: Settings
    db: DatabaseWorker
    http: httpx.AsyncClient
    services: Services
    metrics: Metrics

    async def close(self) -> None:
        await self.http.aclose()
        await self.db.close()


async def build_core(
    settings: Settings,
    *,
    http_transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Core:
    clock = clock or (lambda: datetime.now(UTC))
    try:
        db = DatabaseWorker(settings.db_path)
    except DatabaseUrlError as exc:
        raise StartupError(f"NEWSBOT_DB: {exc}") from None
    try:
        await db.start()  # opens the file or connects, and applies pending migrations
    except Exception as exc:
        await db.close()
        if not (isinstance(exc, OSError) or is_database_error(exc)):
            raise
        target = describe_target(settings.db_path)
        if db.dialect == "postgresql":
            raise StartupError(
                f"cannot open the database {target} (NEWSBOT_DB): {' '.join(str(exc).split())}; check "
                "that the server runs, the database exists and the user and password are right"
            ) from None
        raise StartupError(
            f"cannot open the database {target} (NEWSBOT_DB): {exc}; check that its "
            "folder exists and this user may write there, or set NEWSBOT_DB to another file"
        ) from None
    http = build_http_client(
        transport=http_transport, public_only=not settings.allow_private_sources
    )
    classifier = await asyncio.get_running_loop().run_in_executor(
        None, TopicModel.load, settings.model_dir
    )
    pipeline = Pipeline(classifier, window_hours=settings.dedup_window_hours, clock=clock)
    fetcher = Fetcher(http, allow_private=settings.allow_private_sources)
    metrics = Metrics()
    services = Services(settings, db, pipeline, fetcher, metrics, clock=clock)
    return Core(settings, db, http, services, metrics)


class NewsBot:
    """The running bot: transports, delivery, HTTP server and scheduler over one :class:`Core`."""

    def __init__(
        self,
        settings: Settings,
        *,
        console_stream: TextIO | None = None,
        read_stdin: bool = False,
        http_transport: httpx.AsyncBaseTransport | None = None,
        role: str = "all",
    ) -> None:
        self.settings = settings
        self.role = role
        self.parts = role_parts(role)
        #: PostgreSQL: the processes of every role share the database (see docs/scaling.md).
        self.cluster_url = database_url(settings)
        self.exit_code = 0
        self.election: LeaderElection | None = None
        self.listener: Listener | None = None
        self.deliver_loop: DeliverLoop | None = None
        self.claiming: ClaimingDeliveryWorker | None = None
        self._budgets: list[SharedBudget] = []
        self.console_stream = console_stream
        self.read_stdin = read_stdin
        self.http_transport = http_transport
        self.core: Core | None = None
        self.transports: dict[str, Transport] = {}
        self.worker: DeliveryWorker | None = None
        self.router: Router | None = None
        self.web: WebServer | None = None
        self.scheduler: BotScheduler | None = None
        self._stop = asyncio.Event()
        self._background: list[asyncio.Task[None]] = []
        self._platform_runners: list[PlatformRunner] = []

    def mode_line(self) -> str:
        platforms = [
            p
            for p, on in (
                ("Telegram", self.settings.telegram_enabled),
                ("Slack", self.settings.slack_enabled),
            )
            if on
        ]
        if not platforms:
            return (
                "newsbot: no chat platform configured (TELEGRAM_BOT_TOKEN, SLACK_BOT_TOKEN): "
                "running in console mode"
            )
        return f"newsbot: running on {' and '.join(platforms)}"

    async def start(self) -> None:
        settings = self.settings
        # The demo may only ever write into a database it creates itself (see _load_demo).
        fresh_database = (
            not is_postgres_url(settings.db_path)
            and not Path(settings.db_path).expanduser().exists()
        )
        core = self.core = await build_core(settings, http_transport=self.http_transport)
        if is_postgres_url(settings.db_path):
            # A server database is never "created by this start": empty counts as new.
            fresh_database = await core.db.call(holds_no_data)
        services = core.services
        from handlers.context import CommandContext

        context = CommandContext(services, settings)
        self.router = build_router(context)
        await self._build_transports(core)
        if self.cluster_url is not None:
            self._share_platform_limits(self.cluster_url)
        # In a cluster, alerts are claimed (the deliver part's worker); cluster updates and
        # digests are sent by the leader only (its scheduler; /digest anywhere). No process
        # "recovers" rows in flight at start: they may be another live process's.
        if self.cluster_url is not None and "deliver" in self.parts:
            self.worker = self.claiming = await self._claiming_worker(core)
        else:
            self.worker = DeliveryWorker(
                core.db,
                self.transports,
                metrics=core.metrics,
                alerts=self.cluster_url is None,
            )
        if self.cluster_url is None:
            recovered = await self.worker.recover()
            if recovered:
                log.info("event=outbox_recovered rows=%d", recovered)
        context.send_digest = self._send_digest
        context.send_to_chat = self._send_to_chat
        context.transport_status = lambda: {name: "running" for name in self.transports}
        self.scheduler = BotScheduler(services, self.worker)
        context.jobs = self.scheduler.jobs
        if settings.http_port >= 0 and "web" in self.parts:
            self.web = WebServer(services, core.metrics, scheduler_alive=self._scheduler_alive)
            for runner in self._platform_runners:
                attach = getattr(runner, "attach_web", None)
                if attach is not None:
                    attach(self.web)
            try:
                await self.web.start(settings.http_host, settings.http_port)
            except OSError as exc:
                await self.web.stop()
                self.web = None
                raise StartupError(
                    f"cannot listen on {settings.http_host}:{settings.http_port} "
                    f"({exc.strerror or exc}); set NEWSBOT_HTTP_PORT to a free port "
                    "(0 picks one, -1 turns the HTTP server off) or stop what uses it"
                ) from None
        for runner in self._platform_runners:
            await runner.start()
        if self.cluster_url is not None and self.claiming is not None:
            self.deliver_loop = DeliverLoop(
                self.claiming, idle_seconds=self.settings.delivery_poll_seconds
            )
            self._require_listener(self.cluster_url).on(OUTBOX_CHANNEL, self.deliver_loop.poke)
        if self.cluster_url is not None and "ingest" in self.parts:
            # A free lock is taken at once, so a lone process is the whole bot from the start.
            self.election = LeaderElection(self.cluster_url)
            if await self.election.try_once():
                await self._became_leader()
        if settings.console_mode:
            await self._load_demo(fresh_database)

    def _scheduler_alive(self) -> bool:
        if self.cluster_url is not None and "ingest" not in self.parts:
            return True  # no scheduler in this process: the ingest leader runs it
        if self.election is not None and not self.election.leading:
            return True  # an ingest standby: its scheduler starts when it is elected
        return bool(self.scheduler and self.scheduler.alive)

    # -- several processes on PostgreSQL (newsbot run --role) ----------------------------------
    def _share_platform_limits(self, url: str) -> None:
        """Each platform token's budget is kept in the database, shared by every process; who
        receives updates is decided per role (webhooks: web; polling, Socket Mode: the leader,
        once elected)."""
        from bot.transports import slack as slack_module
        from bot.transports import telegram as telegram_module

        settings = self.settings
        for runner in self._platform_runners:
            if isinstance(runner, telegram_module.TelegramRunner):
                runner.register_webhook = "web" in self.parts
                runner.poll_updates = False
                bot_id = settings.telegram_bot_token.split(":", 1)[0]
                budget = SharedBudget(
                    url,
                    f"telegram:{bot_id}",
                    telegram_module.GLOBAL_RATE,
                    window_limit=telegram_module.GLOBAL_WINDOW_LIMIT,
                )
                runner.transport.pacer = SharedPacer(budget)
                self._budgets.append(budget)
            elif isinstance(runner, slack_module.SlackRunner):
                runner.connect_socket = False
                digest = hashlib.sha256(settings.slack_bot_token.encode()).hexdigest()[:16]
                budget = SharedBudget(url, f"slack:{digest}", slack_module.GLOBAL_RATE)
                runner.transport.pacer = SharedPacer(budget, shared_keys=True)
                self._budgets.append(budget)

    async def _claiming_worker(self, core: Core) -> ClaimingDeliveryWorker:
        from bot.cluster.leader import holder_name

        worker = ClaimingDeliveryWorker(
            core.db,
            self.transports,
            metrics=core.metrics,
            updates=False,  # until this process leads (role all)
            digests=False,
            worker_id=holder_name(),
            lease_seconds=self.settings.claim_lease_seconds,
        )
        recovered = await worker.recover()
        if recovered:
            log.info("event=outbox_recovered rows=%d (lease expired)", recovered)
        return worker

    def _require_listener(self, url: str) -> Listener:
        if self.listener is None:
            self.listener = Listener(url)
        return self.listener

    async def _became_leader(self) -> None:
        """The leader's part, before its scheduler starts: fencing, memory, receiving."""
        assert self.core is not None and self.scheduler is not None
        assert self.election is not None and self.worker is not None
        core = self.core
        self.scheduler.gate = LeaderGate(
            self.election, core.db, poll_lease_seconds=POLL_LEASE_SECONDS
        )
        self.worker.updates = self.worker.digests = True
        # The reprint index and the subscriptions live in memory: rebuilt from the database now.
        await core.db.call(core.services.pipeline.refresh)
        for runner in self._platform_runners:
            start_receiving = getattr(runner, "start_polling", None) or getattr(
                runner, "start_socket", None
            )
            if start_receiving is not None:
                await start_receiving()

    async def _lead(self) -> None:
        """Stand by until elected, then run the leader's part until the lock is lost."""
        assert self.election is not None and self.scheduler is not None
        if not self.election.leading:
            await self.election.campaign()
            await self._became_leader()
        self.scheduler.build().start()
        await self.election.watch()
        # Lost (or unsure): stop now; the process exits non-zero and its supervisor restarts
        # it as a standby, while another process is elected.
        self.exit_code = 1
        self.request_stop()

    async def _refresh_subscriptions(self, _payload: str) -> None:
        if self.core is not None:
            await self.core.db.call(self.core.services.pipeline.refresh)

    async def _build_transports(self, core: Core) -> None:
        settings = self.settings
        if settings.console_mode:
            from bot.transports.console import ConsoleTransport

            self.transports["console"] = ConsoleTransport(self.console_stream)
            return
        from bot.demo import remove_demo_data

        removed = await core.db.call(remove_demo_data)
        if removed:
            log.info("event=demo_data_removed stories=%d", removed)
        if settings.telegram_enabled:
            from bot.transports.telegram import TelegramRunner

            runner = TelegramRunner(settings, self._require_router())
            self._platform_runners.append(runner)
            self.transports["telegram"] = runner.transport
        if settings.slack_enabled:
            from bot.transports.slack import SlackRunner

            slack = SlackRunner(settings, self._require_router())
            self._platform_runners.append(slack)
            self.transports["slack"] = slack.transport

    def _require_router(self) -> Router:
        assert self.router is not None
        return self.router

    async def _load_demo(self, fresh_database: bool) -> None:
        """The bundled demo sources, their stories and the console chat's demo subscriptions,
        only in a database the demo created (new at this start, or holding the demo sources
        from an earlier one): a database with the user's own data never gets demo rows, so no
        alert is ever "matched" on a demo term the user did not type."""
        from bot.demo import DEMO_FILES, DEMO_SOURCE_PREFIX, demo_paths, register_demo
        from bot.transports.console import CONSOLE_CHAT_ID
        from storage import sources as source_store

        assert self.core is not None
        first = DEMO_SOURCE_PREFIX + next(iter(DEMO_FILES))
        demo_database = fresh_database or (
            await self.core.db.call(source_store.find_source_by_url, first) is not None
        )
        db_path = describe_target(self.settings.db_path)
        if not demo_database:
            print(
                f"newsbot: {db_path} (NEWSBOT_DB) holds your own data, so the demo is not "
                "loaded: the console shows your sources and subscriptions",
                file=sys.stderr,
                flush=True,
            )
            return
        print(
            f"newsbot: demo sources and subscriptions loaded into {db_path}, a database the "
            "demo created; a database with your own data never gets them",
            file=sys.stderr,
            flush=True,
        )
        await self.core.db.call(register_demo, "console", CONSOLE_CHAT_ID)
        for path in demo_paths():
            source = await self.core.db.call(
                source_store.find_source_by_url, DEMO_SOURCE_PREFIX + path.name
            )
            outcome = await self.core.services.ingest_file(
                path, source_name=DEMO_FILES[path.name], source_id=source.id if source else None
            )
            log.info("event=demo_ingested file=%s %s", path.name, outcome.report.summary_line())

    async def _send_digest(self, chat: Chat) -> int:
        transport = self.transports.get(chat.platform)
        if transport is None or self.worker is None:
            return 0
        return await self.worker.send_digest(chat, transport)

    async def _send_to_chat(self, chat: Chat, reply: Reply) -> bool:
        transport = self.transports.get(chat.platform)
        if transport is None:
            return False
        result = await transport.send_reply(chat, reply)
        return result.ok

    async def run_once(self) -> None:
        """Poll every active source and the inbox once, process, deliver what is pending."""
        assert self.core is not None and self.worker is not None
        await self.core.services.poll_all()
        await self.core.services.scan_inbox(settle_seconds=0)
        await self.worker.drain()  # in a cluster: alerts claimed, other processes may run

    async def run_forever(self) -> None:
        assert self.scheduler is not None
        if self.cluster_url is None:
            self.scheduler.build().start()
            self._background.append(
                asyncio.create_task(self._watch_outbox(), name="newsbot-outbox-watch")
            )
        else:
            await self._run_cluster_parts(self.cluster_url)
        if self.read_stdin and sys.stdin is not None and "console" in self.transports:
            self._background.append(asyncio.create_task(self._console_input()))
        await self._stop.wait()

    async def _watch_outbox(self) -> None:
        """One process on SQLite: drain as soon as alerts are queued, by this process or by
        another (``newsbot ingest``), instead of at the next period of the drain job. SQLite
        has no NOTIFY; the newest outbox id is one index lookup, so looking four times a
        second costs nothing and keeps store-to-send latency well under two seconds."""
        assert self.core is not None and self.scheduler is not None
        db, scheduler = self.core.db, self.scheduler.scheduler
        seen = await db.call(coordination.latest_delivery_id)
        while True:
            await asyncio.sleep(OUTBOX_WATCH_SECONDS)
            try:
                latest = await db.call(coordination.latest_delivery_id)
            except Exception:
                log.exception("event=outbox_watch_failed")
                continue
            if latest > seen and not (self.worker is not None and self.worker.busy):
                seen = latest  # (while a pass runs, looked at again next time)
                job = scheduler.get_job("deliveries")
                if job is not None:
                    job.modify(next_run_time=datetime.now(UTC))

    async def _run_cluster_parts(self, url: str) -> None:
        if "ingest" in self.parts:
            self._require_listener(url).on(SUBSCRIPTIONS_CHANNEL, self._refresh_subscriptions)
        if self.listener is not None:
            await self.listener.start()
        if self.claiming is not None and self.deliver_loop is not None:
            self.claiming.start_heartbeat()
            self.deliver_loop.start()
        if "ingest" in self.parts:
            self._background.append(
                asyncio.create_task(self._lead_or_stop(), name="newsbot-leader")
            )

    async def _lead_or_stop(self) -> None:
        """The leader's part must not fail silently in the background: stop the process."""
        try:
            await self._lead()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("event=leader_failed")
            self.exit_code = 1
            self.request_stop()

    async def _console_input(self) -> None:
        from bot.transports.console import CONSOLE_CHAT_ID, ConsoleTransport, read_commands
        from storage import chats as chat_store

        assert self.core is not None and self.router is not None
        transport = self.transports["console"]
        assert isinstance(transport, ConsoleTransport)
        db = self.core.db

        async def chat_for() -> Chat:
            return await db.call(chat_store.ensure_chat, "console", CONSOLE_CHAT_ID)

        # Commands typed in a terminal or piped in are both read; standard input closing (the
        # end of a pipe, /dev/null) ends the reading, not the bot, and a pipe's end says so.
        stdin = sys.stdin
        terminal = stdin.isatty()
        count = await read_commands(
            stdin, self.router.handle, transport, chat_for, echo=not terminal
        )
        if count and not terminal:
            print(
                "newsbot: end of the commands piped in; the bot keeps running (Ctrl-C stops it). "
                "`newsbot chat` answers commands and exits.",
                file=sys.stderr,
                flush=True,
            )

    def request_stop(self) -> None:
        self._stop.set()

    async def stop(self) -> None:
        """Stop in reverse order of start."""
        if self.scheduler is not None and self.scheduler.scheduler.running:
            await self.scheduler.shutdown(grace_seconds=5.0)
        for task in self._background:
            task.cancel()
        if self.election is not None:
            await self.election.resign()
        if self.deliver_loop is not None:
            await self.deliver_loop.stop()
        if self.claiming is not None:
            await self.claiming.stop_heartbeat()
            if self.core is not None:
                with contextlib.suppress(Exception):
                    await self.core.db.call(coordination.release_claims, self.claiming.worker_id)
        if self.listener is not None:
            await self.listener.stop()
        for runner in reversed(self._platform_runners):
            try:
                await runner.stop()
            except Exception:
                log.exception("event=transport_stop_failed")
        if self.web is not None:
            await self.web.stop()
        for budget in self._budgets:
            with contextlib.suppress(Exception):
                await budget.close()
        if self.core is not None:
            await self.core.close()


async def run_bot(
    settings: Settings, *, once: bool, read_stdin: bool = True, role: str = "all"
) -> int:
    bot = NewsBot(settings, read_stdin=read_stdin, role=role)
    print(bot.mode_line(), file=sys.stderr, flush=True)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, bot.request_stop)
    try:
        # Start-up may wait a while for an unreachable platform API: a stop signal ends it.
        starting = asyncio.create_task(bot.start())
        stopping = asyncio.create_task(bot._stop.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            return 0
        stopping.cancel()
        starting.result()  # raises what start-up raised
        if once:
            await bot.run_once()
        else:
            await bot.run_forever()
    finally:
        await bot.stop()
    return bot.exit_code
