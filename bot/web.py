"""The bot's own HTTP server (aiohttp): ``/healthz``, ``/metrics``, ``POST /ingest``.

It binds to ``NEWSBOT_HTTP_HOST``:``NEWSBOT_HTTP_PORT`` only (127.0.0.1 by default). Other
routes (Slack's ``/slack/events``, Telegram's webhook) are added by their transports through
:meth:`WebServer.add_route`.
"""

from __future__ import annotations

import asyncio
import codecs
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
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
        raise BadBody(
            f"body is not JSON: it is not valid {charset[:40]} ({exc.reason if isinstance(exc, UnicodeDecodeError) else exc})"
        ) from None
    try:
        return json.loads(text)
    except RecursionError:
        raise BadBody("body is not JSON we accept: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, and "Exceeds the limit ... digits"
        raise BadBody(f"body is not JSON: {str(exc)[:200]}") from None


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
        self.app = web.Application(client_max_size=MAX_INGEST_BYTES)
        self.app.router.add_get("/healthz", self.healthz)
        self.app.router.add_get("/metrics", self.metrics_view)
        self.app.router.add_post("/ingest", self.ingest)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    def add_route(self, method: str, path: str, handler: Handler) -> None:
        self.app.router.add_route(method, path, handler)

    async def start(self, host: str, port: int) -> int:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server  # aiohttp exposes the bound sockets only here
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port
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
