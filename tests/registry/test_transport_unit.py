"""The pure helpers of hoist.registry.transport: which hosts get plain HTTP, Docker Hub's
API host, Retry-After and the back-off bounds. No sockets."""

from __future__ import annotations

import email.utils
import os
import time
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hoist.registry import transport
from hoist.registry.transport import RetryPolicy, api_host, is_local_host, retry_after_seconds


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("localhost", True),
        ("localhost:5000", True),
        ("127.0.0.1", True),
        ("127.0.0.1:5000", True),
        ("127.1.2.3", True),  # all of 127/8 is loopback
        ("127.255.255.254:80", True),
        ("[::1]:5000", True),
        ("[::1]", True),  # containerd's MatchLocalhost accepts it without a port
        ("::1", True),
        ("registry.localhost:5000", True),
        ("example.com", False),
        ("example.com:5000", False),
        ("localhost.localdomain", False),  # not loopback by name (containerd agrees)
        ("notlocalhost", False),
        ("localhost.example.com", False),
        ("10.0.0.1:5000", False),
        ("0.0.0.0", False),
        ("[::2]:5000", False),
        ("[fe80::1]", False),
        ("docker.io", False),
        ("", False),
    ],
)
def test_is_local_host(host: str, local: bool) -> None:
    assert is_local_host(host) is local


@pytest.mark.parametrize(
    ("registry", "api"),
    [
        ("docker.io", "registry-1.docker.io"),
        ("index.docker.io", "registry-1.docker.io"),
        ("registry-1.docker.io", "registry-1.docker.io"),
        ("ghcr.io", "ghcr.io"),
        ("localhost:5000", "localhost:5000"),
        ("docker.io:443", "docker.io:443"),
    ],
)
def test_api_host(registry: str, api: str) -> None:
    assert api_host(registry) == api


# --------------------------------------------------------------------------------------
# Retry-After
# --------------------------------------------------------------------------------------
NOW = 1445412470.0  # Wed, 21 Oct 2015 07:27:50 GMT


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (" 7 ", 7.0),
        ("86400", 86400.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 10.0),  # RFC 9110's example, 10 s from NOW
        ("Wed, 21 Oct 2015 07:27:50 GMT", 0.0),
        ("Wed, 21 Oct 2015 07:00:00 GMT", 0.0),  # in the past: no wait, never negative
        ("Wed, 21 Oct 2015 08:27:50 GMT", 3600.0),
        ("Wednesday, 21-Oct-15 07:28:00 GMT", 10.0),  # obsolete RFC 850 form
    ],
)
def test_retry_after(value: str, seconds: float) -> None:
    assert retry_after_seconds(value, now=NOW) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value",
    [None, "", "   ", "soon", "-1", "1.5", "1e3", "0x10", "Wed, 99 Foo 2015",
     "²", "¹²", "12abc"],
)
def test_retry_after_garbage_is_none(value: str | None) -> None:
    assert retry_after_seconds(value, now=NOW) is None


@pytest.fixture
def tz_tokyo() -> Iterator[None]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Tokyo"
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


@pytest.mark.parametrize(
    "value",
    ["Wed, 21 Oct 2015 07:28:00 GMT", "Wed Oct 21 07:28:00 2015",  # asctime: no zone, GMT
     "Wed, 21 Oct 2015 07:28:00 -0000"],
)
def test_retry_after_dates_are_gmt_whatever_the_local_zone(tz_tokyo: None, value: str) -> None:
    assert retry_after_seconds(value, now=NOW) == pytest.approx(10.0)


def test_retry_after_defaults_now_to_the_wall_clock() -> None:
    when = email.utils.formatdate(time.time() + 100, usegmt=True)
    assert 95 <= (retry_after_seconds(when) or 0) <= 100


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_retry_after_never_raises(value: str) -> None:
    got = retry_after_seconds(value, now=NOW)
    assert got is None or got >= 0


# --------------------------------------------------------------------------------------
# back-off
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("rnd", [0.0, 0.5, 0.999999])
def test_delay_bounds(monkeypatch: pytest.MonkeyPatch, rnd: float) -> None:
    monkeypatch.setattr(transport.random, "random", lambda: rnd)
    p = RetryPolicy(base_delay=0.2, max_delay=5.0)
    for attempt, full in [(1, 0.2), (2, 0.4), (3, 0.8), (4, 1.6), (5, 3.2), (6, 5.0),
                          (20, 5.0)]:
        d = p.delay(attempt)
        assert d == pytest.approx(full * (0.5 + rnd / 2))
        assert full / 2 <= d <= full


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 60), st.floats(0.001, 10), st.floats(0.001, 60))
def test_delay_is_within_half_and_whole_of_the_capped_backoff(
        attempt: int, base: float, cap: float) -> None:
    d = RetryPolicy(base_delay=base, max_delay=cap).delay(attempt)
    full = min(cap, base * 2.0 ** (attempt - 1))
    assert full / 2 <= d <= full


def test_retry_policy_defaults() -> None:
    p = RetryPolicy()
    assert (p.attempts, p.base_delay, p.max_delay, p.max_retry_after) == (5, 0.2, 5.0, 60.0)
