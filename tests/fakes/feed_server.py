"""A real HTTP server on 127.0.0.1 for fetcher tests, scriptable per path.

It runs in a background thread with one thread per connection, so concurrency limits in the
client are really exercised (a single-threaded server would serialise requests by itself and
hide a missing per-host lock). Every request is recorded with its headers and timing.

    with FeedServer() as server:
        server.route("/feed.xml", body=rss_bytes, etag='"v1"')
        url = server.url("/feed.xml")
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["FeedServer", "RecordedRequest", "Route", "gzip_of_zeros"]


@dataclass
class Route:
    """How the server answers one path."""

    body: bytes = b""
    status: int = 200
    content_type: str | None = "application/rss+xml; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None  # answers 304 to a matching If-None-Match
    last_modified: str | None = None  # answers 304 to an If-Modified-Since at or after it
    delay_s: float = 0.0  # wait before sending the status line
    trickle_chunk: int = 0  # > 0: send the body this many bytes at a time ...
    trickle_interval_s: float = 0.0  # ... sleeping this long between pieces
    endless: bool = False  # stream zero bytes until the client hangs up
    gzip: bool = False  # compress ``body`` and send Content-Encoding: gzip
    send_length: bool = True  # send Content-Length (False: the body ends when the socket closes)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it (header names lowercased)."""

    path: str
    headers: dict[str, str]
    started: float
    finished: float


def gzip_of_zeros(size: int) -> bytes:
    """Gzip of ``size`` zero bytes, built in 1 MiB steps so the test process never holds them."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    parts = []
    remaining = size
    while remaining > 0:
        step = min(remaining, len(block))
        parts.append(compressor.compress(block[:step]))
        remaining -= step
    parts.append(compressor.flush())
    return b"".join(parts)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection: bodies may end at close

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log."""

    def do_GET(self) -> None:
        owner = self.server.owner
        started = time.monotonic()
        owner._enter()
        try:
            self._serve(owner.lookup(self.path))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (size cap, deadline): exactly what some tests provoke
        finally:
            owner._leave(
                RecordedRequest(
                    path=self.path,
                    headers={name.lower(): value for name, value in self.headers.items()},
                    started=started,
                    finished=time.monotonic(),
                )
            )

    def _not_modified(self, route: Route) -> bool:
        if_none_match = self.headers.get("If-None-Match")
        if route.etag is not None and if_none_match is not None:
            tags = [tag.strip() for tag in if_none_match.split(",")]
            return route.etag in tags or "*" in tags
        since = self.headers.get("If-Modified-Since")
        if route.last_modified is not None and since is not None:
            try:
                return parsedate_to_datetime(since) >= parsedate_to_datetime(route.last_modified)
            except (TypeError, ValueError):
                return False
        return False

    def _serve(self, route: Route | None) -> None:
        if route is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        stopping = self.server.owner.stopping
        if route.delay_s and stopping.wait(route.delay_s):
            return
        validators = {"ETag": route.etag, "Last-Modified": route.last_modified}
        if self._not_modified(route):
            self.send_response(304)
            for name, value in validators.items():
                if value is not None:
                    self.send_header(name, value)
            self.end_headers()
            return
        body = gzip.compress(route.body) if route.gzip else route.body
        self.send_response(route.status)
        if route.content_type:
            self.send_header("Content-Type", route.content_type)
        if route.gzip:
            self.send_header("Content-Encoding", "gzip")
        for name, value in validators.items():
            if value is not None:
                self.send_header(name, value)
        for name, value in route.headers.items():
            self.send_header(name, value)
        if route.send_length and not route.endless:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if route.endless:
            block = bytes(64 * 1024)
            while not stopping.is_set():
                self.wfile.write(block)
            return
        if route.trickle_chunk > 0:
            for start in range(0, len(body), route.trickle_chunk):
                if stopping.wait(route.trickle_interval_s):
                    return
                self.wfile.write(body[start : start + route.trickle_chunk])
                self.wfile.flush()
            return
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FeedServer


class FeedServer:
    """The scriptable server; use as a context manager so its thread always stops."""

    def __init__(self) -> None:
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._active = 0
        self._max_active = 0
        self.stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> FeedServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    # -- scripting -------------------------------------------------------------------------------

    def route(self, path: str, route: Route | None = None, **fields: Any) -> Route:
        """Answer ``path`` with ``route`` (or a Route built from ``fields``); returns it so a
        test can change it between requests."""
        chosen = route if route is not None else Route(**fields)
        with self._lock:
            self._routes[path] = chosen
        return chosen

    def redirect(self, path: str, to: str, status: int = 301) -> Route:
        """Redirect ``path`` to ``to`` (a path on this server or a full URL)."""
        location = self.url(to) if to.startswith("/") else to
        return self.route(path, status=status, headers={"Location": location}, content_type=None)

    def gzip_bomb(self, path: str, decompressed_size: int) -> Route:
        """A feed whose gzip body inflates to ``decompressed_size`` zero bytes."""
        return self.route(
            path,
            body=gzip_of_zeros(decompressed_size),
            headers={"Content-Encoding": "gzip"},
            content_type="application/rss+xml",
        )

    def double_gzip_bomb(self, path: str, decompressed_size: int) -> Route:
        """A feed sent as ``Content-Encoding: gzip, gzip``: gzip of a gzip of zeros. Inflating
        the outer layer gives a few KB; inflating that gives ``decompressed_size`` bytes."""
        return self.route(
            path,
            body=gzip.compress(gzip_of_zeros(decompressed_size), compresslevel=9),
            headers={"Content-Encoding": "gzip, gzip"},
            content_type="application/rss+xml",
        )

    def lookup(self, path: str) -> Route | None:
        with self._lock:
            return self._routes.get(path) or self._routes.get(path.split("?", 1)[0])

    # -- observation -----------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every finished request. A handler records its request just after answering, so a
        client can hold the answer a moment before the record exists: wait (briefly) until no
        request is still being handled."""
        deadline = time.monotonic() + 2.0
        while True:
            with self._lock:
                if self._active == 0 or time.monotonic() > deadline:
                    return list(self._requests)
            time.sleep(0.005)

    def requests_for(self, path: str) -> list[RecordedRequest]:
        return [request for request in self.requests if request.path == path]

    @property
    def max_concurrent(self) -> int:
        """The most requests this server handled at the same moment."""
        with self._lock:
            return self._max_active

    def _enter(self) -> None:
        with self._lock:
            self._active += 1
            self._max_active = max(self._max_active, self._active)

    def _leave(self, request: RecordedRequest) -> None:
        with self._lock:
            self._active -= 1
            self._requests.append(request)
