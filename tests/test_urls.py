"""Canonical URLs and the SSRF guard."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.pipeline.urls import UnsafeURLError, canonical_url, check_url_allowed, is_tracking_param


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTP://Example.COM:80/a/b", "http://example.com/a/b"),
        ("https://example.com:443/x", "https://example.com/x"),
        ("https://example.com:8443/x", "https://example.com:8443/x"),
        ("https://example.com/story#comments", "https://example.com/story"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com//a///b", "https://example.com/a/b"),
        ("https://example.com/a%2fb", "https://example.com/a%2Fb"),
        ("  https://example.com/x  ", "https://example.com/x"),
        ("http://[::1]:80/x", "http://[::1]/x"),
    ],
)
def test_structural_normalisation(raw: str, expected: str) -> None:
    assert canonical_url(raw) == expected


def test_tracking_parameters_are_removed_and_the_rest_sorted() -> None:
    url = (
        "https://news.example/item?utm_source=tw&id=7&utm_medium=social&fbclid=abc&gclid=x"
        "&mc_cid=1&mc_eid=2&ref=home&ref_src=twsrc&igshid=9&_ga=1.2&page=2"
    )
    assert canonical_url(url) == "https://news.example/item?id=7&page=2"


def test_ordinary_parameters_that_resemble_trackers_are_kept() -> None:
    # A generic tracker regex would drop these and merge distinct pages.
    url = "https://example.com/p?source=docs&gallery=3&reference=x&session=live"
    assert (
        canonical_url(url) == "https://example.com/p?gallery=3&reference=x&session=live&source=docs"
    )


def test_query_order_is_stable_and_repeated_values_keep_their_order() -> None:
    first = canonical_url("https://example.com/s?b=2&a=1&tag=y&tag=x&empty=")
    second = canonical_url("https://example.com/s?tag=y&empty=&a=1&tag=x&b=2")
    assert first == second == "https://example.com/s?a=1&b=2&empty=&tag=y&tag=x"


def test_non_http_identifiers_are_left_alone() -> None:
    assert canonical_url("tag:example.com,2024:entry-1") == "tag:example.com,2024:entry-1"
    assert canonical_url("mailto:Desk@Example.com") == "mailto:Desk@Example.com"
    assert canonical_url("not a url") == "not a url"
    assert canonical_url("http://example.com:notaport/") == "http://example.com:notaport/"


def test_is_tracking_param() -> None:
    assert is_tracking_param("UTM_Campaign")
    assert is_tracking_param("fbclid")
    assert not is_tracking_param("id")
    assert not is_tracking_param("q")


_segment = st.text(alphabet="abcXYZ019-_.~", min_size=1, max_size=8)


@given(
    host=st.sampled_from(["Example.com", "NEWS.example.org", "example.net"]),
    path=st.lists(_segment, max_size=4),
    params=st.lists(st.tuples(_segment, _segment), max_size=5),
)
def test_canonical_url_is_idempotent(host: str, path: list[str], params: list[tuple[str, str]]):
    query = "&".join(f"{name}={value}" for name, value in params)
    url = f"https://{host}/{'/'.join(path)}" + (f"?{query}" if query else "")
    once = canonical_url(url)
    assert canonical_url(once) == once
    assert once.startswith(f"https://{host.lower()}/")


# -- SSRF guard --------------------------------------------------------------------------------


async def _no_dns(host: str, port: int) -> list[str]:
    raise AssertionError(f"IP literals must not be resolved ({host})")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/", "127.0.0.1 is a private address"),
        ("http://10.1.2.3/feed", "10.1.2.3 is a private address"),
        ("http://192.168.0.10:8080/", "is a private address"),
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://[fd00:ec2::254]/", "cloud metadata"),
        ("http://[::1]/", "private address (loopback)"),
        ("http://[fe80::1]/", "link-local"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
        ("http://100.64.0.1/", "not globally routable"),
        ("http://[::ffff:127.0.0.1]/", "embedded 127.0.0.1"),
    ],
)
async def test_non_public_addresses_are_refused(url: str, reason: str) -> None:
    with pytest.raises(UnsafeURLError, match="refused") as caught:
        await check_url_allowed(url, allow_private=False, resolve=_no_dns)
    assert reason in str(caught.value)


async def test_public_address_is_allowed() -> None:
    await check_url_allowed("https://93.184.216.34/feed", allow_private=False, resolve=_no_dns)


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://x/"])
async def test_only_http_schemes(url: str) -> None:
    with pytest.raises(UnsafeURLError, match="only http and https"):
        await check_url_allowed(url, allow_private=True)


async def test_allow_private_skips_address_checks() -> None:
    await check_url_allowed("http://127.0.0.1:8080/", allow_private=True, resolve=_no_dns)


async def test_every_resolved_address_is_checked() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        assert (host, port) == ("rebind.example", 443)
        return ["93.184.216.34", "192.168.1.5"]

    with pytest.raises(UnsafeURLError, match=r"192\.168\.1\.5 is a private address"):
        await check_url_allowed("https://rebind.example/", allow_private=False, resolve=resolve)


async def test_public_hostname_is_allowed() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]

    await check_url_allowed("http://news.example/", allow_private=False, resolve=resolve)


async def test_unresolvable_host_is_refused_with_reason() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(UnsafeURLError, match=r"cannot resolve nowhere\.invalid"):
        await check_url_allowed("http://nowhere.invalid/", allow_private=False, resolve=resolve)


async def test_localhost_name_is_refused_by_the_system_resolver() -> None:
    with pytest.raises(UnsafeURLError, match="private address"):
        await check_url_allowed("http://localhost:9/", allow_private=False)
