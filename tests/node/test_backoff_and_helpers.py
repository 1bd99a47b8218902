"""Pure pieces of the node: the back-off, aggregated errors, Go duration texts, the token
bucket, and the pull-error classification."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hoist.cluster.kubelet import format_pod
from hoist.node.backoff import Backoff
from hoist.node.gofmt import aggregate_message, go_duration, go_duration_ms
from hoist.node.image_manager import ImageError, classify_pull_error
from hoist.node.puller import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_backoff_doubles_to_the_maximum_and_forgets_idle_entries() -> None:
    clock = Clock()
    b = Backoff(10, 300, clock=clock)
    assert not b.is_in_backoff_since_update("k")
    delays = []
    for _ in range(8):
        b.next("k")
        delays.append(b.get("k"))
    assert delays == [10, 20, 40, 80, 160, 300, 300, 300]
    assert b.is_in_backoff_since_update("k")
    clock.now += 299.9
    assert b.is_in_backoff_since_update("k")
    clock.now += 0.1
    assert not b.is_in_backoff_since_update("k")
    # Idle for more than 2 x max: the entry is forgotten and starts over at 10 s.
    clock.now += 301
    b.gc()
    assert len(b) == 0
    b.next("k")
    assert b.get("k") == 10


def test_backoff_restarts_after_a_long_quiet_spell_without_gc() -> None:
    clock = Clock()
    b = Backoff(10, 300, clock=clock)
    for _ in range(4):
        b.next("k")
    clock.now += 601
    assert not b.is_in_backoff_since_update("k")
    b.next("k")
    assert b.get("k") == 10


def test_backoff_since_measures_from_the_event() -> None:
    clock = Clock()
    b = Backoff(10, 300, clock=clock)
    b.next("c")
    clock.now = 100.0
    assert b.is_in_backoff_since("c", event_time=95.0)
    assert not b.is_in_backoff_since("c", event_time=89.0)


def test_backoff_refuses_nonsense_bounds() -> None:
    with pytest.raises(ValueError):
        Backoff(0, 10)
    with pytest.raises(ValueError):
        Backoff(10, 5)


@pytest.mark.parametrize(("messages", "text"), [
    (["a"], "a"),
    (["a", "b"], "[a, b]"),
    (["a", "a"], "a"),
    (["a", "b", "a"], "[a, b]"),
])
def test_aggregate_message_as_apimachinery(messages: list[str], text: str) -> None:
    assert aggregate_message(messages) == text


@given(st.lists(st.text(alphabet="abc", min_size=1, max_size=3), min_size=1, max_size=6))
def test_aggregate_keeps_every_distinct_message_once(messages: list[str]) -> None:
    out = aggregate_message(messages)
    distinct = list(dict.fromkeys(messages))
    if len(messages) == 1 or len(distinct) == 1:
        assert out == distinct[0]
    else:
        assert out == "[" + ", ".join(distinct) + "]"


@pytest.mark.parametrize(("seconds", "text"), [
    (0.0, "0s"), (0.0004, "0s"), (0.85, "850ms"), (1.0, "1s"), (1.234, "1.234s"),
    (1.5, "1.5s"), (61.5, "1m1.5s"), (3600.25, "1h0m0.25s"), (120.0, "2m0s"),
])
def test_go_duration_of_pull_times(seconds: float, text: str) -> None:
    assert go_duration_ms(seconds) == text


@pytest.mark.parametrize(("seconds", "text"), [
    (10, "10s"), (40, "40s"), (80, "1m20s"), (300, "5m0s"), (0.5, "500ms")])
def test_go_duration_of_backoffs(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


def test_format_pod() -> None:
    pod = {"metadata": {"name": "web", "namespace": "default", "uid": "u-1"}}
    assert format_pod(pod) == "web_default(u-1)"


def test_classify_pull_errors() -> None:
    assert classify_pull_error("x:1", "rpc error: code = NotFound desc = nope") == (
        "rpc error: code = NotFound desc = nope", ImageError.PULL)
    assert classify_pull_error("x:1", "RegistryUnavailable: down") == (
        "image pull failed for x:1 because the registry is unavailable: down",
        ImageError.REGISTRY_UNAVAILABLE)
    assert classify_pull_error("x:1", "SignatureValidationFailed: bad sig") == (
        "image pull failed for x:1 because the signature validation failed: bad sig",
        ImageError.SIGNATURE_VALIDATION_FAILED)


def test_token_bucket_bursts_then_refills() -> None:
    clock = Clock()
    bucket = TokenBucket(5, 10, clock=clock)
    assert [bucket.try_accept() for _ in range(11)] == [True] * 10 + [False]
    clock.now += 0.2  # one token at 5 QPS
    assert bucket.try_accept() and not bucket.try_accept()
    clock.now += 100
    assert sum(bucket.try_accept() for _ in range(20)) == 10  # capped at the burst


def test_token_bucket_time_scale_refills_faster() -> None:
    clock = Clock()
    bucket = TokenBucket(1, 1, clock=clock, time_scale=0.01)
    assert bucket.try_accept() and not bucket.try_accept()
    clock.now += 0.01  # one scaled second
    assert bucket.try_accept()


def test_unlimited_bucket() -> None:
    bucket = TokenBucket(0, 1)
    assert all(bucket.try_accept() for _ in range(100))
