"""Machinery shared by the fake Telegram and Slack servers.

Each fake is a real HTTP server on 127.0.0.1 with an ephemeral port, running in its own
background thread, so the code under test (on the test's asyncio loop) talks to it with its
real HTTP client exactly as it would to the real service. Handlers run in per-connection
threads, so all mutable state lives behind one ``threading.Condition``.

The standard library's ``ThreadingHTTPServer`` is used rather than aiohttp's server because the
fakes are driven synchronously from tests (``push_message``, ``fail_chat``...) and a plain lock
is simpler to reason about than handing work to another thread's event loop.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import email.parser
import email.policy
import json
import math
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, unquote, urlsplit


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart body (content kept so the fake can serve it back)."""

    field: str
    filename: str
    content_type: str
    content: bytes

    @property
    def size(self) -> int:
        return len(self.content)

    def summary(self) -> dict[str, Any]:
        """What a recorded call shows for the file: enough to assert on, small to print."""
        return {"filename": self.filename, "size": self.size, "content_type": self.content_type}


@dataclass
class Request:
    """One HTTP request as the fakes see it, with the body already decoded."""

    verb: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    fields: dict[str, Any]  # JSON object, or form / multipart / query fields as strings
    files: dict[str, UploadedFile]
    is_json: bool


@dataclass
class Response:
    """What a fake answers; ``payload`` is kept decoded for the call log."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    payload: Any = None

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        return cls(
            status,
            json.dumps(payload).encode(),
            "application/json",
            dict(headers or {}),
            payload,
        )

    @classmethod
    def text(cls, status: int, text: str, content_type: str = "text/plain") -> Response:
        return cls(status, text.encode(), content_type, {}, text)


@dataclass
class Call:
    """One recorded API call. ``status``/``response`` stay ``None`` until it is answered."""

    method: str
    params: dict[str, Any]
    token: str | None
    headers: dict[str, str]
    timestamp: float
    path: str = ""
    status: int | None = None
    response: Any = None

    @property
    def answered(self) -> bool:
        return self.status is not None

    @property
    def ok(self) -> bool:
        """True when the fake accepted the call (HTTP 200 and, for JSON APIs, ``ok: true``)."""
        if self.status != 200:
            return False
        return not isinstance(self.response, dict) or self.response.get("ok") is True


class ApiError(Exception):
    """Raised by a fake's method handler to answer with an error response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.payload)
        self.response = response


class TokenBucket:
    """``capacity`` requests at once, refilled at ``rate`` per second: a rate with a burst."""

    def __init__(self, capacity: float, rate: float, now: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self.tokens = capacity
        self.updated = now

    def wait_time(self, now: float) -> float:
        """Seconds until a request would be allowed (0 if allowed now); does not consume."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def consume(self) -> None:
        self.tokens -= 1


class SlidingWindow:
    """At most ``limit`` requests in any ``window`` seconds."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.times: deque[float] = deque()

    def wait_time(self, now: float) -> float:
        while self.times and self.times[0] <= now - self.window:
            self.times.popleft()
        if len(self.times) < self.limit:
            return 0.0
        return self.times[0] + self.window - now

    def consume(self, now: float) -> None:
        self.times.append(now)


def retry_after_seconds(wait: float) -> int:
    """Whole seconds to tell the client, never 0 (both services send integers >= 1)."""
    return max(1, math.ceil(wait))


def parse_body(
    headers: dict[str, str], body: bytes, query: str
) -> tuple[dict[str, Any], dict[str, UploadedFile], bool]:
    """Decode a JSON, form-encoded or multipart body (plus query string) into fields and files."""
    fields: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    files: dict[str, UploadedFile] = {}
    content_type = headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "application/json" and body:
        decoded = json.loads(body)
        if not isinstance(decoded, dict):
            raise ValueError("JSON body must be an object")
        fields.update(decoded)
        return fields, files, True
    if media_type == "application/x-www-form-urlencoded":
        fields.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    elif media_type == "multipart/form-data":
        # The email package parses MIME multipart bodies; the cgi module is deprecated.
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
        )
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str):
                continue
            content = part.get_payload(decode=True)
            data = content if isinstance(content, bytes) else b""
            filename = part.get_filename()
            if filename is not None:
                files[name] = UploadedFile(name, filename, part.get_content_type(), data)
            else:
                charset = part.get_content_charset() or "utf-8"
                fields[name] = data.decode(charset)
    return fields, files, False


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a handler sleeping in a fault delay must not block shutdown
    # The default backlog of 5 makes a burst of concurrent sends (fan-out tests) wait for
    # TCP SYN retries, a second each; real services accept far more.
    request_queue_size = 128

    def __init__(self, fake: FakeServer) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    # HTTP/1.0: one request per connection, so no idle keep-alive threads outlive a test.
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        body = self._read_body()
        url = urlsplit(self.path)
        try:
            fields, files, is_json = parse_body(headers, body, url.query)
        except (ValueError, UnicodeDecodeError) as exc:
            response = self.server.fake.bad_body(str(exc))
        else:
            request = Request(
                self.command, unquote(url.path), headers, body, fields, files, is_json
            )
            response = self.server.fake.dispatch(request)
        with contextlib.suppress(OSError):  # the client may have given up (timeout tests)
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request access log; the call log is the record."""


class FakeServer(abc.ABC):
    """Base class: lifecycle, call log and thread-safe waiting. Subclasses implement ``handle``."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._calls: list[Call] = []
        self._stopping = threading.Event()
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        #: Tracebacks of exceptions inside the fake itself (a test should assert it is empty).
        self.server_errors: list[str] = []

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("already started")
        self._stopping.clear()
        self._server = _HTTPServer(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}-http",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; wakes handlers blocked in long polls or injected delays."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop, and fail the test if a handler crashed: that is a bug in the fake or a
        request it could not parse, never an outcome a test expects."""
        self.stop()
        if exc_type is None and self.server_errors:
            raise AssertionError(
                f"{type(self).__name__} failed while answering requests:\n"
                + "\n".join(self.server_errors)
            )

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the fake server is not running")
        return int(self._server.server_address[1])

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- call log --------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        """A snapshot of every call so far, oldest first."""
        with self._cond:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        """Calls of one API method (answered or not), oldest first."""
        with self._cond:
            return [call for call in self._calls if call.method == method]

    def clear_calls(self) -> None:
        with self._cond:
            self._calls.clear()

    def _find(self, predicate: Callable[[Call], bool]) -> Call | None:
        return next((c for c in self._calls if c.answered and predicate(c)), None)

    def wait_for_blocking(self, predicate: Callable[[Call], bool], timeout: float = 5.0) -> Call:
        """Block the calling thread until an answered call matches; for threaded tests."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while (found := self._find(predicate)) is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no matching call within {timeout} s")
                self._cond.wait(remaining)
            return found

    async def wait_for(self, predicate: Callable[[Call], bool], timeout: float = 5.0) -> Call:
        """Wait, without blocking the event loop, for an answered call matching ``predicate``.

        Async because the code under test usually runs on the same loop as the test: a
        blocking wait would stop it from ever making the call being waited for. Earlier calls
        count too, so there is no race between triggering an action and starting to wait.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                found = self._find(predicate)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no matching call within {timeout} s")
            await asyncio.sleep(0.01)

    # -- request handling ------------------------------------------------------------------

    def record(
        self,
        method: str,
        params: dict[str, Any],
        token: str | None,
        headers: dict[str, str],
        path: str = "",
    ) -> Call:
        call = Call(method, params, token, headers, time.time(), path)
        with self._cond:
            self._calls.append(call)
        return call

    def answer(self, call: Call, response: Response) -> Response:
        with self._cond:
            call.status = response.status
            call.response = response.payload
            self._cond.notify_all()
        return response

    def sleep(self, seconds: float) -> None:
        """Sleep in a handler thread, cut short when the server stops."""
        self._stopping.wait(seconds)

    def dispatch(self, request: Request) -> Response:
        try:
            return self.handle(request)
        except Exception:
            self.server_errors.append(traceback.format_exc())
            return Response.text(500, "internal error in the fake server")

    @abc.abstractmethod
    def handle(self, request: Request) -> Response:
        """Answer one request (called in a handler thread)."""

    def bad_body(self, reason: str) -> Response:
        """Answer for a body that is not valid JSON / form data."""
        return Response.text(400, f"cannot decode request body: {reason}")
