"""URL helpers: canonical forms for deduplication and a guard against server-side request forgery.

Everything the bot fetches comes from user-supplied subscriptions, feed items and redirects, so any
of them may point at the machine's own network (``http://127.0.0.1:8080/admin``, the cloud metadata
service, a LAN printer). :func:`check_url_allowed` refuses those before a connection is made.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from courlan import normalize_url

__all__ = [
    "TRACKING_PARAMS",
    "TRACKING_PREFIXES",
    "Resolver",
    "UnsafeURLError",
    "canonical_url",
    "check_url_allowed",
    "is_tracking_param",
    "refusal_for_address",
]

#: Query parameters that only identify the campaign, click or referrer, never the resource.
TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "msclkid",
        "yclid",
        "twclid",
        "igshid",
        "igsh",
        "mc_cid",
        "mc_eid",
        "ref",
        "ref_src",
        "ref_url",
        "referrer",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "__hssc",
        "__hstc",
        "__hsfp",
        "hsctatracking",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "rb_clickid",
        "s_cid",
        "vero_conv",
        "vero_id",
        "wickedid",
        "cmpid",
        "ocid",
        "ncid",
        "sr_share",
        "smid",
        "spm",
        "at_medium",
        "at_campaign",
        "xtor",
    }
)

#: Prefixes of tracking parameter families (``utm_source``, ``utm_medium``, ``pk_campaign``, ...).
TRACKING_PREFIXES: tuple[str, ...] = ("utm_", "pk_", "mtm_", "itm_", "hmb_")

_DEFAULT_PORTS = {"http": 80, "https": 443}
_PERCENT_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")


def is_tracking_param(name: str) -> bool:
    """Whether a query parameter name is a known tracker (case-insensitive)."""
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def canonical_url(url: str) -> str:
    """Return one stable spelling of ``url`` so the same article seen twice compares equal.

    Lowercases scheme and host, decodes punycode, drops the default port, the fragment and
    tracking parameters, collapses duplicate slashes, uppercases percent escapes and sorts the
    remaining query parameters by name (values of a repeated name keep their order). Anything
    that is not an absolute http(s) URL is returned stripped but otherwise untouched, because
    rewriting ``tag:`` or ``mailto:`` identifiers could merge distinct ones.
    """
    stripped = url.strip()
    try:
        parts = urlsplit(stripped)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            return stripped
        port = parts.port
    except ValueError:  # an invalid port or IPv6 literal
        return stripped
    # courlan does the structural part (case, punycode, default port, path quoting). Its query
    # cleaning is not used: its tracker pattern also removes ordinary parameters such as
    # ``source``, ``gallery`` or ``reference``, which would merge distinct pages, and it drops
    # blank values. The query is filtered here against an explicit list instead.
    netloc = parts.netloc
    if port is not None and port == _DEFAULT_PORTS[scheme]:
        netloc = netloc.rsplit(":", 1)[0]
    structural = normalize_url(urlunsplit((scheme, netloc, parts.path, "", "")), strict=True)
    base = urlsplit(structural)
    pairs = [
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if not is_tracking_param(name)
    ]
    pairs.sort(key=lambda pair: pair[0])  # stable: repeated names keep their value order
    query = urlencode(pairs)
    path = _PERCENT_ESCAPE.sub(lambda match: match.group(0).upper(), base.path) or "/"
    return urlunsplit((base.scheme, base.netloc, path, query, ""))


class UnsafeURLError(ValueError):
    """A URL the fetcher must not request: wrong scheme or a non-public destination."""


#: Resolves ``(host, port)`` to the IP address strings it points at.
Resolver = Callable[[str, int], Awaitable[list[str]]]

_METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
        ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    }
)


async def _system_resolve(host: str, port: int) -> list[str]:
    """Resolve through the event loop so a slow DNS answer does not block other fetches."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _refusal_reason(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why connecting to ``address`` is refused, or None when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            inner = _refusal_reason(embedded)
            return None if inner is None else f"{inner} (embedded {embedded})"
    if address in _METADATA_ADDRESSES:
        return "a cloud metadata address"
    checks = (
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_unspecified", "unspecified"),
        ("is_reserved", "reserved"),
        ("is_private", "private"),
    )
    for attribute, label in checks:
        if getattr(address, attribute):
            return "a private address" if label == "private" else f"a private address ({label})"
    if not address.is_global:  # shared address space (CGNAT), documentation ranges, ...
        return "a private address (not globally routable)"
    return None


def refusal_for_address(address: str) -> str | None:
    """Why connecting to the IP address ``address`` is refused, or None when it is public.

    The HTTP client calls this on the address each new connection actually reached, which closes
    the gap between :func:`check_url_allowed` and the connection (DNS rebinding).
    """
    parsed = ipaddress.ip_address(address.split("%", 1)[0])
    reason = _refusal_reason(parsed)
    return None if reason is None else f"refused: {parsed} is {reason}"


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def check_url_allowed(
    url: str, *, allow_private: bool, resolve: Resolver | None = None
) -> None:
    """Raise :class:`UnsafeURLError` unless ``url`` is http(s) and every address it resolves to
    is public.

    All resolved addresses are checked, not only the first, because the HTTP client may connect
    to any of them. ``allow_private`` skips the address checks (tests and self-hosted setups with
    feeds on the LAN). ``resolve`` replaces the system resolver, for tests.

    The check and the later connection resolve separately, so a hostile DNS server could change
    its answer in between (DNS rebinding): the client from
    :func:`bot.pipeline.fetch.build_http_client` with ``public_only=True`` therefore checks the
    address every connection reaches as well (:func:`refusal_for_address`). This check still
    runs first, on every hop, because it gives a clear message before anything is sent.
    """
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = parts.hostname
        port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    except ValueError as exc:
        raise UnsafeURLError(f"refused: invalid URL ({exc})") from exc
    if scheme not in _DEFAULT_PORTS:
        raise UnsafeURLError(f"refused: only http and https URLs are fetched, not {scheme!r}")
    if not host:
        raise UnsafeURLError("refused: the URL has no host")
    if allow_private:
        return
    literal = _ip_literal(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            resolved = await (resolve or _system_resolve)(host, port)
        except (OSError, UnicodeError) as exc:
            raise UnsafeURLError(f"refused: cannot resolve {host} ({exc})") from exc
        # Zone ids ("fe80::1%eth0") are not part of the address.
        addresses = [ipaddress.ip_address(text.split("%", 1)[0]) for text in resolved]
        if not addresses:
            raise UnsafeURLError(f"refused: {host} resolves to no address")
    for address in addresses:
        reason = _refusal_reason(address)
        if reason is not None:
            raise UnsafeURLError(f"refused: {address} is {reason}")


#: Longest image URL kept with a story (platforms refuse much longer ones anyway).
MAX_IMAGE_URL_CHARS = 2048


def public_image_url(url: object) -> str | None:
    """``url`` if it may be handed to a chat platform as a story's image, else None.

    The platforms fetch the image themselves and we never do, so only what can be checked
    without a request is checked: an ``https`` URL with a host that is not ``localhost`` nor an
    IP literal in a private, loopback or otherwise non-public range (the same rules as sources).
    """
    if not isinstance(url, str):
        return None
    url = url.strip()
    if not url or len(url) > MAX_IMAGE_URL_CHARS:
        return None
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError:
        return None
    if parts.scheme.lower() != "https" or not host:
        return None
    host = host.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost") or ("." not in host and ":" not in host):
        return None
    literal = _ip_literal(host.strip("[]"))
    if literal is not None and _refusal_reason(literal) is not None:
        return None
    return "https" + url[len(parts.scheme) :]
