"""The bot's own HTTP server (aiohttp): ``/healthz``, ``/metrics``, ``POST /ingest``.

It binds to ``NEWSBOT_HTTP_HOST``:``NEWSBOT_HTTP_PORT`` only (127.0.0.1 by default). Other
routes (Slack's ``/slack/events``, Telegram's webhook) are added by their transports through
:meth:`WebServer.add_route`.

The port must stay available to ``/healthz`` whatever clients do, so slow and idle clients are
cut off: a connection that has not sent complete request headers within
``NEWSBOT_HTTP_IDLE_TIMEOUT_SECONDS`` of opening (or of its last response) is closed, a body
not received within ``NEWSBOT_HTTP_BODY_TIMEOUT_SECONDS`` gets 408, and at most
``NEWSBOT_HTTP_MAX_CONNECTIONS`` are open at once (the longest-open idle one makes room).
"""

from __future__ import annotations

import asyncio
import codecs
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.metrics import Metrics
from bot.services import Services
from storage import deliveries as outbox
from storage.db import StorageFullError

log = logging.getLogger(__name__)

MAX_INGEST_BYTES = 5_000_000

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def bearer_token_ok(header: str | None, expected: str) -> bool:
    """Constant-time check of ``Authorization: Bearer TOKEN``; an empty expected token never
    matches (the endpoint is closed until a token is configured).

    aiohttp hands over header bytes that are not UTF-8 as lone surrogates, which cannot be
    encoded again: a header that is not plain ASCII is simply a wrong token.
    """
    if not expected or not header or not header.isascii() or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header.removeprefix("Bearer ").encode(), expected.encode())


def secret_header_ok(given: str | None, expected: str) -> bool:
    """Constant-time check of a shared-secret header (Telegram's webhook secret token)."""
    if not expected or not given or not given.isascii():
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


class BadBody(ValueError):
    """A request body that cannot be read as JSON; the message says why, for the 400 answer."""


async def read_json_body(request: web.Request) -> Any:
    """The request's body as JSON, or :class:`BadBody` with a message fit for the client.

    Every way a body can be unreadable is an answer, not a traceback: an unknown charset, bytes
    that are not in it, nesting deeper than the parser's recursion allows, a number longer than
    Python converts (4,300 digits), or plain bad syntax.
    """
    charset = request.charset or "utf-8"
    try:
        codecs.lookup(charset)
    except LookupError:
        raise BadBody(f"unsupported charset {charset[:40]!r}; send UTF-8") from None
    raw = await request.read()
    try:
        text = raw.decode(charset)
    except (UnicodeDecodeError, ValueError) as exc:
        reason = exc.reason if isinstance(exc, UnicodeDecodeError) else str(exc)
        raise BadBody(f"body is not JSON: it is not valid {charset[:40]} ({reason})") from None
    # A byte order mark is what Windows tools (PowerShell, Notepad) put before UTF-8 JSON;
    # RFC 8259 lets a parser ignore it, and refusing it only fails those clients.
    text = text.removeprefix("\ufeff")
    try:
        return json.loads(text)
    except RecursionError:
        raise BadBody("body is not JSON we accept: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, and "Exceeds the limit ... digits"
        raise BadBody(f"body is not JSON: {str(exc)[:200]}") from None


class BodyTimeout(Exception):
    """Raised into a route's pending body read when the body is overdue."""


def _expire_body(request: web.Request) -> None:
    if not request.content.is_eof():
        request.content.set_exception(BodyTimeout())


class ConnectionGuard:
    """Keeps at most ``limit`` connections open: a new connection beyond it closes the
    longest-open connection that is not handling a request (or itself, when all are busy).

    aiohttp has no connection cap of its own; its server object reports each new connection
    to ``connection_made`` and lists the open ones in ``connections``, which is all this needs.
    """

    def __init__(self, server: web.Server, limit: int) -> None:
        self.server = server
        self.limit = limit
        self.busy: set[object] = set()  # protocols with a request in a handler
        self.evicted = 0
        self._last_warning = -60.0
        self._connection_made = server.connection_made
        server.connection_made = self._on_connection  # type: ignore[method-assign]

    def _on_connection(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        self._connection_made(handler, transport)
        live = [h for h in self.server.connections if h.transport is not None]
        excess = len(live) - self.limit
        if excess <= 0:
            return
        for victim in live:
            if excess <= 0:
                break
            if victim is handler or victim in self.busy:
                continue
            victim.force_close()
            excess -= 1
            self.evicted += 1
        if excess > 0:
            handler.force_close()
            self.evicted += 1
        now = time.monotonic()
        if now - self._last_warning >= 60:  # once a minute, not once per connection
            self._last_warning = now
            log.warning(
                "event=http_connection_cap limit=%d evicted_total=%d", self.limit, self.evicted
            )


class WebServer:
    def __init__(
        self,
        services: Services,
        metrics: Metrics,
        *,
        scheduler_alive: Callable[[], bool],
    ) -> None:
        self.services = services
        self.metrics = metrics
        self.scheduler_alive = scheduler_alive
        self.app = web.Application(
            client_max_size=MAX_INGEST_BYTES, middlewares=[self._read_body_in_time]
        )
        self.app.router.add_get("/healthz", self.healthz)
        self.app.router.add_get("/metrics", self.metrics_view)
        self.app.router.add_post("/ingest", self.ingest)
        self._runner: web.AppRunner | None = None
        self.guard: ConnectionGuard | None = None
        self.port: int | None = None

    def add_route(self, method: str, path: str, handler: Handler) -> None:
        self.app.router.add_route(method, path, handler)

    @web.middleware
    async def _read_body_in_time(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        """Marks the connection busy while its request is handled, and gives its body
        ``NEWSBOT_HTTP_BODY_TIMEOUT_SECONDS`` to arrive: a route still waiting for it then gets
        :class:`BodyTimeout` from its read, answered here with 408 and a closed connection.

        Nothing is read on the route's behalf, so a route that refuses a request before reading
        its body (a wrong token) never buffers it.
        """
        busy = self.guard.busy if self.guard is not None else set()
        busy.add(request.protocol)
        timer = None
        if request.body_exists:
            timer = asyncio.get_running_loop().call_later(
                self.services.settings.http_body_timeout_seconds, _expire_body, request
            )
        try:
            return await handler(request)
        except BodyTimeout:
            response = web.json_response(
                {"error": "the request body did not arrive in time"}, status=408
            )
            response.force_close()
            return response
        finally:
            if timer is not None:
                timer.cancel()
            busy.discard(request.protocol)

    async def start(self, host: str, port: int) -> int:
        settings = self.services.settings
        # keepalive_timeout is also aiohttp's deadline for a request's headers: its timer runs
        # from the connection's start (and from each response) until the headers are complete.
        self._runner = web.AppRunner(
            self.app, access_log=None, keepalive_timeout=settings.http_idle_timeout_seconds
        )
        await self._runner.setup()
        assert self._runner.server is not None
        self.guard = ConnectionGuard(self._runner.server, settings.http_max_connections)
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        addresses = self._runner.addresses  # (host, port, ...) of each bound socket
        self.port = int(addresses[0][1]) if addresses else port
        log.info("event=http_started host=%s port=%s", host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def healthz(self, request: web.Request) -> web.Response:
        checks = {"loop": True, "scheduler": self.scheduler_alive()}
        try:
            await asyncio.wait_for(
                self.services.db.call(lambda db: db.execute("SELECT 1").fetchone()), 5
            )
            checks["database"] = True
        except Exception:
            checks["database"] = False
        status = 200 if all(checks.values()) else 503
        return web.json_response({"ok": status == 200, "checks": checks}, status=status)

    async def metrics_view(self, request: web.Request) -> web.Response:
        counts = await self.services.db.call(outbox.counts_by_status)
        self.metrics.queue_depth.clear()
        for (platform, status), count in counts.items():
            self.metrics.queue_depth.labels(platform, status).set(count)
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def ingest(self, request: web.Request) -> web.Response:
        if not bearer_token_ok(
            request.headers.get("Authorization"), self.services.settings.ingest_token
        ):
            return web.json_response(
                {"error": "missing or wrong bearer token (NEWSBOT_INGEST_TOKEN)"}, status=401
            )
        try:
            payload = await read_json_body(request)
        except BadBody as exc:
            return web.json_response({"error": str(exc)}, status=400)
        if not isinstance(payload, dict | list):
            return web.json_response({"error": "send a story object or a list of them"}, status=400)
        limit = self.services.settings.ingest_max_stories
        if isinstance(payload, list) and len(payload) > limit:
            return web.json_response(
                {
                    "error": f"too many stories in one request: {len(payload)}; at most {limit} "
                    "(NEWSBOT_INGEST_MAX_STORIES), send the rest in further requests"
                },
                status=413,
            )
        try:
            report, errors = await self.services.ingest_payload(payload)
        except StorageFullError as exc:
            return web.json_response({"error": str(exc)}, status=507)
        if errors and not report.new and not report.duplicates:
            return web.json_response({"error": "no valid story", "errors": errors}, status=400)
        return web.json_response(
            {
                "ids": [story.id for story in report.new],
                "stories": [story.as_json() for story in report.new],
                "duplicates": report.duplicates,
                "reprints": report.reprints,
                "errors": errors,
            },
            status=201 if report.new else 200,
        )
