"""Polite, bounded HTTP fetching of feeds and article pages.

The fetcher talks to servers nobody on the team controls, so every resource it spends is bounded:
one request at a time per host, a total deadline per fetch (a server trickling one byte a second
cannot hold a worker), a cap on the decompressed body (a gzip bomb stops at the cap), a redirect
limit with the SSRF check repeated on every hop. It is also polite: conditional GETs, honouring
``Retry-After``, ``Cache-Control: max-age`` and RSS ``<ttl>``, and backing off exponentially from
failing sources until they are paused with a reason the user can read.
"""

from __future__ import annotations

import asyncio
import functools
import random
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from importlib import metadata
from typing import Literal
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from bot.pipeline.feeds import ParsedFeed, parse_feed
from bot.pipeline.urls import Resolver, UnsafeURLError, check_url_allowed, refusal_for_address

__all__ = [
    "FEED_ACCEPT",
    "PAGE_ACCEPT",
    "USER_AGENT",
    "FetchError",
    "FetchResult",
    "Fetcher",
    "PublicPeersOnly",
    "SourceState",
    "build_http_client",
]


def _package_version() -> str:
    try:
        return metadata.version("newsbot")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0.0.0"


#: Identifies the bot to feed publishers, with a page explaining what it is.
USER_AGENT = f"newsbot/{_package_version()} (+https://github.com/newsbot/newsbot)"
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/rdf+xml;q=0.9,"
    " application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_PERMANENT_REDIRECTS = frozenset({301, 308})
_RETRY_AFTER_STATUSES = frozenset({429, 503})
_INFLATE_STEP = 64 * 1024  # largest piece of decompressed output produced at once
_MAX_BACKOFF_EXPONENT = 32  # 2**32 intervals is far beyond any cap; avoids huge floats


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One certificate store per process: loading the CA bundle costs ~0.1 s per client."""
    return httpx.create_ssl_context()


class PublicPeersOnly(httpcore.AsyncNetworkBackend):
    """A network backend that refuses connections whose peer is not a public address.

    :func:`bot.pipeline.urls.check_url_allowed` resolves a host before the request and the
    connection resolves it again, so a hostile DNS server can answer with a public address the
    first time and ``127.0.0.1`` the second (DNS rebinding). Checking the address the socket
    actually reached, before a byte is sent, closes that gap whatever the resolver does. A check
    at this level is also the only one that sees every connection the pool opens.
    """

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )
        peer = stream.get_extra_info("server_addr")
        reason = (
            refusal_for_address(str(peer[0]))
            if peer
            else f"refused: cannot tell which address {host} connected to"
        )
        if reason is not None:
            await stream.aclose()
            raise httpcore.ConnectError(reason)
        return stream

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("refused: Unix sockets are not public addresses")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _public_only_transport() -> httpx.AsyncHTTPTransport:
    """httpx's own transport, with its connection pool built on :class:`PublicPeersOnly`.

    httpx does not take a network backend as an argument, so the pool it built is replaced by an
    equal one that has it (``tests/test_fetch.py`` fails if a new httpx stops using ``_pool``;
    pyproject.toml keeps httpx below its next minor release, and ``tests/test_install.py`` allows
    no other private name of a third-party package).
    """
    transport = httpx.AsyncHTTPTransport(verify=_tls_context())
    transport._pool = httpcore.AsyncConnectionPool(  # httpx's default limits
        ssl_context=_tls_context(),
        max_connections=100,
        max_keepalive_connections=20,
        keepalive_expiry=5.0,
        network_backend=PublicPeersOnly(),
    )
    return transport


def build_http_client(
    *,
    timeout: float = 20.0,
    user_agent: str = USER_AGENT,
    transport: httpx.AsyncBaseTransport | None = None,
    public_only: bool = False,
) -> httpx.AsyncClient:
    """The HTTP client the :class:`Fetcher` expects.

    Redirects are not followed by the client: the fetcher follows them itself so it can apply the
    SSRF check and loop detection to every hop. ``timeout`` bounds each connect/read/write step;
    the fetcher adds a total deadline on top. Only gzip and deflate are offered because those are
    the encodings the fetcher inflates with a size bound. ``public_only`` makes every connection
    check the address it reached (:class:`PublicPeersOnly`); it is ignored when ``transport`` is
    given.
    """
    if transport is None and public_only:
        transport = _public_only_transport()
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        headers={"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate"},
        transport=transport,
        verify=_tls_context(),
    )


@dataclass
class SourceState:
    """What the scheduler remembers about one feed between fetches."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    consecutive_errors: int = 0
    interval_minutes: int = 15

    def apply(self, result: FetchResult) -> None:
        """Store what a fetch learned: a permanent redirect, new validators, the error count."""
        if result.permanent_redirect_url:
            self.url = result.permanent_redirect_url
        if result.status != "error":
            self.etag = result.etag
            self.last_modified = result.last_modified
        self.consecutive_errors = result.consecutive_errors


@dataclass
class FetchResult:
    """The outcome of one :meth:`Fetcher.fetch`; ``error`` is always set when status is "error"."""

    status: Literal["ok", "not_modified", "error"]
    feed: ParsedFeed | None
    final_url: str
    permanent_redirect_url: str | None
    etag: str | None
    last_modified: str | None
    http_status: int | None
    error: str | None
    next_check_seconds: float
    consecutive_errors: int
    should_pause: bool
    elapsed_s: float


class FetchError(Exception):
    """A fetch that failed, with a short message fit to show to the user."""

    def __init__(
        self,
        message: str,
        *,
        url: str = "",
        http_status: int | None = None,
        retry_after_s: float | None = None,
        gone: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.url = url
        self.http_status = http_status
        self.retry_after_s = retry_after_s
        self.gone = gone


@dataclass
class _Response:
    final_url: str
    permanent_url: str | None
    status: int
    headers: httpx.Headers
    body: bytes = b""


@dataclass
class _BoundedInflater:
    """Incremental gzip/deflate decoder whose output comes in pieces of at most 64 KiB.

    httpx's own decoder inflates each network chunk in one call, so a single 64 KiB chunk of a
    gzip bomb becomes ~64 MB in memory before any size check can run. zlib's ``max_length``
    keeps every step small, so the caller's byte cap really bounds memory.
    """

    encoding: str
    _decoder: zlib._Decompress = field(init=False)
    _raw_deflate_fallback: bool = field(init=False, default=False)
    _started: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        if self.encoding == "deflate":
            self._decoder = zlib.decompressobj(zlib.MAX_WBITS)
            self._raw_deflate_fallback = True  # some servers send raw deflate without a header
        else:
            self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        while data:
            try:
                piece = self._decoder.decompress(data, _INFLATE_STEP)
            except zlib.error:
                if self._raw_deflate_fallback and not self._started:
                    self._raw_deflate_fallback = False
                    self._decoder = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise
            self._started = True
            if piece:
                yield piece
            data = self._decoder.unconsumed_tail
            if self._decoder.eof:
                rest = self._decoder.unused_data
                if self.encoding != "deflate" and rest.startswith(b"\x1f\x8b"):
                    self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)  # next gzip member
                    data = rest
                else:
                    return  # trailing bytes after the stream are ignored, as browsers do

    def flush(self) -> bytes:
        return self._decoder.flush()


def _parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _parse_max_age(cache_control: str | None) -> float | None:
    if not cache_control:
        return None
    for directive in cache_control.split(","):
        name, _, value = directive.strip().partition("=")
        if name.strip().lower() == "max-age":
            try:
                return float(int(value.strip().strip('"')))
            except ValueError:
                return None
    return None


def _host_key(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    return f"{(parts.hostname or '').lower()}:{port}"


def _describe_transport_error(exc: Exception) -> str:
    """A short, user-facing description of what went wrong on the wire."""
    if isinstance(exc, httpx.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out waiting for the server"
    detail = str(exc).strip() or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        return f"connection failed: {detail}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"protocol error: {detail}"
    return f"request failed: {detail}"


def _http_error(status: int) -> str:
    reason = httpx.codes.get_reason_phrase(status)
    return f"HTTP {status} {reason}".rstrip()


class Fetcher:
    """Fetches feeds and pages with per-host politeness and hard resource bounds.

    One instance should serve the whole process (it holds the per-host locks). ``rng`` (jitter),
    ``clock`` (elapsed time), ``now`` (HTTP dates) and ``resolve`` (DNS for the SSRF check) are
    injectable so tests are deterministic.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        max_bytes: int = 5_000_000,
        max_redirects: int = 5,
        total_timeout: float = 30.0,
        allow_private: bool = False,
        pause_after_errors: int = 10,
        min_interval_s: float = 60,
        max_interval_s: float = 24 * 3600,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        resolve: Resolver | None = None,
    ) -> None:
        self._client = client
        self._max_bytes = max_bytes
        self._max_redirects = max_redirects
        self._total_timeout = total_timeout
        self._allow_private = allow_private
        self._pause_after_errors = pause_after_errors
        self._min_interval_s = min_interval_s
        self._max_interval_s = max_interval_s
        self._rng = rng or random.Random()
        self._clock = clock
        self._now = now
        self._resolve = resolve
        self._host_locks: dict[str, asyncio.Lock] = {}

    # ----------------------------------------------------------------------------------------
    # Public API

    async def fetch(self, state: SourceState) -> FetchResult:
        """Fetch and parse ``state.url``; never raises for network or content problems."""
        started = self._clock()
        headers = {"Accept": FEED_ACCEPT}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        try:
            response = await self._get(state.url, headers)
        except FetchError as exc:
            return self._failure(state, exc, started)
        except Exception as exc:  # the contract is "never raises": MemoryError included
            failure = FetchError(f"fetch failed ({type(exc).__name__}: {exc})", url=state.url)
            return self._failure(state, failure, started)
        if response.status == 304:
            return FetchResult(
                status="not_modified",
                feed=None,
                final_url=response.final_url,
                permanent_redirect_url=response.permanent_url,
                etag=response.headers.get("etag") or state.etag,
                last_modified=response.headers.get("last-modified") or state.last_modified,
                http_status=304,
                error=None,
                next_check_seconds=self._success_interval(state, response.headers, None),
                consecutive_errors=0,
                should_pause=False,
                elapsed_s=self._clock() - started,
            )
        # Parsing a large feed is seconds of CPU: done in a worker thread, so the loop that
        # drives the chat platforms and the send pacer keeps answering meanwhile.
        feed = await asyncio.to_thread(
            parse_feed,
            response.body,
            url=response.final_url,
            content_type=response.headers.get("content-type"),
            max_decompressed_bytes=self._max_bytes,
        )
        if feed.error is not None and not feed.items:
            failure = FetchError(feed.error, url=response.final_url, http_status=response.status)
            return self._failure(state, failure, started, feed=feed)
        return FetchResult(
            status="ok",
            feed=feed,
            final_url=response.final_url,
            permanent_redirect_url=response.permanent_url,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            http_status=response.status,
            error=None,
            next_check_seconds=self._success_interval(state, response.headers, feed.ttl_minutes),
            consecutive_errors=0,
            should_pause=False,
            elapsed_s=self._clock() - started,
        )

    async def fetch_page(self, url: str) -> tuple[str, bytes, str | None]:
        """Fetch an article page (or any single document) under the same guards as feeds.

        Returns the final URL after redirects, the decompressed body and the content type.
        Raises :class:`FetchError` (with a user-facing message) on any failure.
        """
        response = await self._get(url, {"Accept": PAGE_ACCEPT})
        if response.status == 304:  # not requested conditionally, so the server misbehaved
            raise FetchError(_http_error(304), url=response.final_url, http_status=304)
        return response.final_url, response.body, response.headers.get("content-type")

    def failed(self, state: SourceState, message: str) -> FetchResult:
        """The result of a poll that failed after the fetch (parsing, storing, memory): the same
        backoff and auto-pause as a network error."""
        return self._failure(state, FetchError(message, url=state.url), self._clock())

    # ----------------------------------------------------------------------------------------
    # Scheduling

    def _clamp(self, seconds: float) -> float:
        return min(self._max_interval_s, max(self._min_interval_s, seconds))

    def _success_interval(
        self, state: SourceState, headers: httpx.Headers, ttl_minutes: int | None
    ) -> float:
        """The configured interval, stretched (never shortened) by the server's own hints."""
        candidates = [state.interval_minutes * 60.0]
        max_age = _parse_max_age(headers.get("cache-control"))
        if max_age is not None:
            candidates.append(max_age)
        if ttl_minutes is not None:
            candidates.append(ttl_minutes * 60.0)
        return self._clamp(max(candidates))

    def _failure(
        self,
        state: SourceState,
        exc: FetchError,
        started: float,
        *,
        feed: ParsedFeed | None = None,
    ) -> FetchResult:
        errors = state.consecutive_errors + 1
        exponent = min(errors, _MAX_BACKOFF_EXPONENT)
        backoff = state.interval_minutes * 60.0 * 2**exponent
        backoff *= 1 + self._rng.uniform(0, 0.1)  # jitter spreads retries of sources on one host
        wait = self._clamp(backoff)
        if exc.retry_after_s is not None:
            wait = max(wait, self._clamp(exc.retry_after_s))
        message = exc.message
        should_pause = False
        if exc.gone:
            should_pause = True
            message = f"{message}; paused: the server says the feed was removed"
        elif errors >= self._pause_after_errors:
            should_pause = True
            message = f"{message}; paused after {errors} consecutive errors"
        return FetchResult(
            status="error",
            feed=feed,
            final_url=exc.url or state.url,
            permanent_redirect_url=None,
            etag=state.etag,
            last_modified=state.last_modified,
            http_status=exc.http_status,
            error=message,
            next_check_seconds=wait,
            consecutive_errors=errors,
            should_pause=should_pause,
            elapsed_s=self._clock() - started,
        )

    # ----------------------------------------------------------------------------------------
    # HTTP

    def _lock_for(self, url: str) -> asyncio.Lock:
        key = _host_key(url)
        lock = self._host_locks.get(key)
        if lock is None:
            lock = self._host_locks[key] = asyncio.Lock()
        return lock

    async def _get(self, url: str, headers: dict[str, str]) -> _Response:
        """GET ``url`` following redirects by hand, within the total deadline.

        Waiting for another request to the same host does not count against the deadline: the
        deadline bounds what a slow server can cost, not the politeness queue.
        """
        remaining = self._total_timeout
        current = url
        visited = {url}
        permanent_target: str | None = None
        all_hops_permanent = True
        for _hop in range(self._max_redirects + 1):
            step_started = self._clock()
            try:
                async with asyncio.timeout(max(remaining, 0.0)):
                    await check_url_allowed(
                        current, allow_private=self._allow_private, resolve=self._resolve
                    )
            except UnsafeURLError as exc:
                raise FetchError(str(exc), url=current) from exc
            except TimeoutError as exc:
                raise self._deadline_error(current) from exc
            remaining -= self._clock() - step_started
            async with self._lock_for(current):
                step_started = self._clock()
                try:
                    async with asyncio.timeout(max(remaining, 0.0)):
                        status, response_headers, body = await self._request(current, headers)
                except TimeoutError as exc:
                    raise self._deadline_error(current) from exc
                finally:
                    remaining -= self._clock() - step_started
            if status not in _REDIRECT_STATUSES:
                if status != 304 and not 200 <= status < 300:
                    raise self._status_error(current, status, response_headers)
                return _Response(current, permanent_target, status, response_headers, body)
            location = response_headers.get("location")
            if not location:
                raise FetchError(
                    f"{_http_error(status)} without a Location header",
                    url=current,
                    http_status=status,
                )
            target = urljoin(current, location.strip())
            if target in visited:
                raise FetchError("redirect loop", url=current, http_status=status)
            visited.add(target)
            if all_hops_permanent and status in _PERMANENT_REDIRECTS:
                permanent_target = target
            else:
                all_hops_permanent = False
            current = target
        raise FetchError(f"too many redirects (more than {self._max_redirects})", url=current)

    def _deadline_error(self, url: str) -> FetchError:
        return FetchError(f"timed out after {self._total_timeout:g} s", url=url)

    def _status_error(self, url: str, status: int, headers: httpx.Headers) -> FetchError:
        retry_after = None
        if status in _RETRY_AFTER_STATUSES:
            retry_after = _parse_retry_after(headers.get("retry-after"), self._now())
        message = _http_error(status)
        if retry_after is not None:
            message = f"{message} (retry after {retry_after:.0f} s)"
        return FetchError(
            message, url=url, http_status=status, retry_after_s=retry_after, gone=status == 410
        )

    async def _request(self, url: str, headers: dict[str, str]) -> tuple[int, httpx.Headers, bytes]:
        """One GET without redirects; the body is read only for 2xx answers."""
        try:
            async with self._client.stream("GET", url, headers=headers) as response:
                if not 200 <= response.status_code < 300:
                    return response.status_code, response.headers, b""
                body = await self._read_capped(response)
                return response.status_code, response.headers, body
        except httpx.HTTPError as exc:
            raise FetchError(_describe_transport_error(exc), url=url) from exc
        except httpx.InvalidURL as exc:
            raise FetchError(f"invalid URL: {exc}", url=url) from exc

    async def _read_capped(self, response: httpx.Response) -> bytes:
        """Read the body, decompressed, refusing more than ``max_bytes`` as it streams in.

        The cap applies to the fully decoded body whatever the ``Content-Encoding`` chain: a
        doubled ``gzip, gzip`` is inflated layer by layer in bounded pieces, so 2 KB on the wire
        can no longer become gigabytes in memory.
        """
        too_large = FetchError(
            f"response larger than {self._max_bytes:,} bytes",
            url=str(response.url),
            http_status=response.status_code,
        )
        codings = _content_codings(response)
        declared = response.headers.get("content-length", "")
        if not codings and declared.isdigit() and int(declared) > self._max_bytes:
            raise too_large
        chunks: list[bytes] = []
        total = 0
        async for piece in self._decoded_pieces(response, codings):
            total += len(piece)
            if total > self._max_bytes:
                raise too_large
            chunks.append(piece)
        return b"".join(chunks)

    async def _decoded_pieces(
        self, response: httpx.Response, codings: list[str]
    ) -> AsyncIterator[bytes]:
        """The body with every content coding undone, in pieces of at most 64 KiB each.

        ``codings`` is in the order the server applied them, so they are undone last first.
        Each layer's output feeds the next layer's bounded inflater, never a whole buffer.
        """
        inflaters = [_BoundedInflater(coding) for coding in reversed(codings)]
        try:
            async for chunk in response.aiter_raw():
                for piece in _through_layers([chunk], inflaters):
                    yield piece
            for depth in range(len(inflaters)):
                tail = inflaters[depth].flush()
                for piece in _through_layers([tail], inflaters[depth + 1 :]):
                    yield piece
        except zlib.error as exc:
            raise FetchError(
                f"corrupt {', '.join(codings)} response ({exc})",
                url=str(response.url),
                http_status=response.status_code,
            ) from exc


#: Content codings the fetcher undoes itself, with a bounded inflater.
_INFLATABLE = {"gzip": "gzip", "x-gzip": "gzip", "deflate": "deflate"}
#: More layers than this is no real server's doing; refusing keeps the work per byte bounded.
MAX_CONTENT_CODINGS = 2


def _content_codings(response: httpx.Response) -> list[str]:
    """The response's content codings in the order they were applied (``identity`` dropped).

    Raises :class:`FetchError` for a coding the fetcher did not offer or cannot bound (brotli,
    zstd, compress ...) and for chains longer than :data:`MAX_CONTENT_CODINGS`: decoding those
    through httpx would inflate each network chunk in one unbounded step.
    """
    codings: list[str] = []
    for value in response.headers.get_list("content-encoding"):
        for part in value.split(","):
            coding = part.strip().lower()
            if coding in ("", "identity"):
                continue
            if coding not in _INFLATABLE:
                raise FetchError(
                    f"unsupported content encoding {coding!r} (only gzip and deflate are accepted)",
                    url=str(response.url),
                    http_status=response.status_code,
                )
            codings.append(_INFLATABLE[coding])
    if len(codings) > MAX_CONTENT_CODINGS:
        raise FetchError(
            f"refused: {len(codings)} stacked content encodings "
            f"(at most {MAX_CONTENT_CODINGS} are accepted)",
            url=str(response.url),
            http_status=response.status_code,
        )
    return codings


def _through_layers(pieces: Iterable[bytes], inflaters: list[_BoundedInflater]) -> Iterator[bytes]:
    """Pass ``pieces`` through each inflater in turn, lazily: memory stays at one piece per layer."""
    for inflater in inflaters:
        pieces = _feed_all(inflater, pieces)
    yield from pieces


def _feed_all(inflater: _BoundedInflater, pieces: Iterable[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        yield from inflater.feed(piece)
