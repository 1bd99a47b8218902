"""The pure side of ``hoist doctor``: classification from observations, connection
failures from exception chains, Docker Hub's rate-limit headers, credential labels."""

from __future__ import annotations

import socket
import ssl
from typing import Any

import aiohttp
from hypothesis import given, settings
from hypothesis import strategies as st

from hoist.auth.k8s_secret import docker_registry_secret
from hoist.auth.keyring import Keyring
from hoist.core.digest import Digest
from hoist.core.manifest import Descriptor
from hoist.core.platform import Platform
from hoist.doctor import (
    Failure,
    FailureKind,
    Observation,
    Outcome,
    classify,
    connection_failure,
    rate_limit_text,
)
from hoist.doctor.classify import ANONYMOUS_LABEL, parse_rate_header
from hoist.doctor.credentials import credential_choices
from hoist.registry.errors import TransferError

HOST = "reg.example:5000"
DIGEST = "sha256:" + "ab" * 32

statuses = st.integers(min_value=0, max_value=599)
texts = st.text(max_size=40)
header_names = st.sampled_from(["ratelimit-limit", "ratelimit-remaining", "retry-after",
                                "docker-ratelimit-source", "content-type", "x-other"])
failures = st.builds(Failure, st.sampled_from(list(FailureKind)), texts)
arches = st.sampled_from(["amd64", "arm64", "arm", "s390x", "ppc64le", "386", "riscv64"])
platforms = st.builds(Platform, st.sampled_from(["linux", "windows"]), arches,
                      st.sampled_from(["", "v7", "v8"]))


def entry(platform: Platform | None, n: int = 0) -> Descriptor:
    return Descriptor("application/vnd.oci.image.manifest.v1+json",
                      Digest.parse("sha256:" + f"{n:064x}"), 100, platform)


observations = st.builds(
    Observation,
    registry=st.sampled_from([HOST, "docker.io", "127.0.0.1:5000"]),
    repository=st.sampled_from(["team/app", "library/nginx"]),
    reference=st.sampled_from(["v1", "latest", DIGEST]),
    scheme=st.sampled_from(["http", "https"]),
    credential=st.sampled_from([ANONYMOUS_LABEL, "secret ns/regcred (matched reg)"]),
    status=statuses,
    headers=st.dictionaries(header_names, texts, max_size=4),
    error_code=st.sampled_from(["", "NAME_UNKNOWN", "MANIFEST_UNKNOWN", "DENIED"]),
    message=texts,
    failure=st.none() | failures,
    other_scheme_answers=st.none() | st.booleans(),
    repository_exists=st.none() | st.booleans(),
    tags=st.lists(st.sampled_from(["v1", "v2", "latest", "main"]), max_size=8).map(tuple),
    digest=st.sampled_from(["", DIGEST]),
    index=st.none() | st.lists(st.none() | platforms, max_size=5).map(
        lambda ps: tuple(entry(p, i) for i, p in enumerate(ps))),
    node_platform=platforms,
)


# ---------------------------------------------------------------------- classify

@settings(deadline=None, max_examples=300)
@given(observations)
def test_classify_is_total_and_says_something(obs: Observation) -> None:
    verdict = classify(obs)
    assert verdict.outcome in set(Outcome)
    assert verdict.detail
    assert verdict.ok == (verdict.outcome is Outcome.OK)
    if verdict.outcome is not Outcome.OK:
        assert verdict.hint


@settings(deadline=None, max_examples=300)
@given(observations)
def test_the_status_decides_when_there_was_an_answer(obs: Observation) -> None:
    verdict = classify(obs).outcome
    status = obs.status
    if not status:
        assert obs.failure is not None or verdict is Outcome.REGISTRY_ERROR
        return
    expected = {401: Outcome.UNAUTHORIZED, 403: Outcome.FORBIDDEN, 429: Outcome.RATE_LIMITED}
    if status in expected:
        assert verdict is expected[status]
    elif status == 404:
        assert verdict in (Outcome.UNKNOWN_REPOSITORY, Outcome.UNKNOWN_TAG,
                           Outcome.UNKNOWN_DIGEST)
        if obs.repository_exists is False:
            assert verdict is Outcome.UNKNOWN_REPOSITORY
        elif obs.error_code != "NAME_UNKNOWN":
            assert (verdict is Outcome.UNKNOWN_DIGEST) == (obs.reference == DIGEST)
    elif 200 <= status < 300:
        assert verdict in (Outcome.OK, Outcome.NO_PLATFORM)
        assert (verdict is Outcome.NO_PLATFORM) == (obs.index is not None and not any(
            e.platform is not None and e.platform.normalized() == obs.node_platform.normalized()
            for e in obs.index))
    elif status == 400 and obs.scheme == "http" and obs.other_scheme_answers:
        assert verdict is Outcome.TLS_MISMATCH
    else:
        assert verdict is Outcome.REGISTRY_ERROR


@settings(deadline=None, max_examples=200)
@given(observations, failures)
def test_no_answer_is_unreachable_unless_the_other_scheme_answers(
        obs: Observation, failure: Failure) -> None:
    obs = Observation(**{**_fields(obs), "status": 0, "failure": failure})
    verdict = classify(obs)
    mismatch = obs.other_scheme_answers is True and failure.kind in (
        FailureKind.TLS, FailureKind.RESET, FailureKind.OTHER)
    assert verdict.outcome is (Outcome.TLS_MISMATCH if mismatch else Outcome.UNREACHABLE)
    if mismatch:
        assert ("plain HTTP" in verdict.detail) and (
            ("node spoke HTTPS" in verdict.detail) == (obs.scheme == "https"))


def _fields(obs: Observation) -> dict[str, Any]:
    return {name: getattr(obs, name) for name in Observation.__dataclass_fields__}


@settings(deadline=None)
@given(st.sampled_from(["secret a/b (matched reg)", "node config /x (matched reg)"]),
       st.booleans())
def test_unauthorized_names_the_credential_tried(label: str, hub: bool) -> None:
    obs = Observation("docker.io" if hub else HOST, "team/app", "v1", credential=label,
                      status=401)
    verdict = classify(obs)
    assert verdict.outcome is Outcome.UNAUTHORIZED and label in verdict.detail
    assert ("does not exist" in verdict.hint) == hub
    anonymous = classify(Observation(HOST, "team/app", "v1", status=401))
    assert "anonymously" in anonymous.detail and HOST in anonymous.hint


def test_no_platform_lists_what_the_index_has() -> None:
    index = (entry(Platform("linux", "arm64", "v8"), 1), entry(None, 2),
             entry(Platform("linux", "s390x"), 3))
    verdict = classify(Observation(HOST, "a", "v1", status=200, index=index, digest=DIGEST,
                                   node_platform=Platform("linux", "amd64")))
    assert verdict.outcome is Outcome.NO_PLATFORM
    assert "(it has linux/arm64, linux/s390x)" in verdict.detail
    # aarch64 is arm64 and v8 its default variant (containerd's normalisation).
    ok = classify(Observation(HOST, "a", "v1", status=200, index=index, digest=DIGEST,
                              node_platform=Platform("linux", "aarch64")))
    assert ok.outcome is Outcome.OK and "linux/arm64 is sha256:" in ok.detail


# ---------------------------------------------------------------------- rate limits

@settings(deadline=None)
@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(1, 10**6),
       st.integers(0, 10**5))
def test_dockerhub_rate_limit_headers_in_words(limit: int, remaining: int, window: int,
                                               after: int) -> None:
    headers = {"ratelimit-limit": f"{limit};w={window}",
               "ratelimit-remaining": f"{remaining};w={window}", "retry-after": str(after)}
    text = rate_limit_text(headers)
    assert f"{remaining} of {limit} pulls left per " in text
    assert "retry after " in text
    assert parse_rate_header(headers["ratelimit-limit"]) == (limit, window)
    verdict = classify(Observation(HOST, "a", "v1", status=429, headers=headers))
    assert verdict.outcome is Outcome.RATE_LIMITED and text in verdict.detail


@settings(deadline=None)
@given(st.text(max_size=30))
def test_rate_limit_headers_of_any_shape_never_break_the_verdict(value: str) -> None:
    headers = {"ratelimit-limit": value, "ratelimit-remaining": value, "retry-after": value}
    assert classify(Observation(HOST, "a", "v1", status=429, headers=headers)).outcome \
        is Outcome.RATE_LIMITED


def test_rate_limit_units() -> None:
    assert rate_limit_text({"ratelimit-limit": "100;w=21600",
                            "ratelimit-remaining": "0;w=21600", "retry-after": "90"}) == \
        "0 of 100 pulls left per 6 h window; retry after 90 s"
    assert rate_limit_text({"ratelimit-limit": "200"}) == "limit 200 pulls"
    assert rate_limit_text({}) == ""


# ---------------------------------------------------------------------- connection failures

def _wrapped(inner: BaseException) -> TransferError:
    """The shape hoist's transport produces: its error raised ``from None`` inside the
    handler of the library's, which was raised from the socket's."""
    outer = OSError("Cannot connect to host 10.0.0.1:443 ssl:default [boom]")
    outer.__cause__ = inner
    try:
        try:
            raise outer
        except OSError:
            raise TransferError("HEAD failed", registry="r") from None
    except TransferError as e:
        return e


LEAVES: dict[FailureKind, list[BaseException]] = {
    FailureKind.CERTIFICATE: [ssl.SSLCertVerificationError(1, "certificate verify failed")],
    FailureKind.TLS: [ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")],
    FailureKind.DNS: [socket.gaierror(-2, "Name or service not known")],
    FailureKind.REFUSED: [ConnectionRefusedError(111, "Connection refused")],
    FailureKind.TIMEOUT: [TimeoutError(), aiohttp.ServerTimeoutError("read timed out")],
    FailureKind.RESET: [ConnectionResetError(104, "reset"), BrokenPipeError(32, "pipe"),
                        aiohttp.ServerDisconnectedError()],
    FailureKind.OTHER: [ValueError("odd"), RuntimeError("odder")],
}


@settings(deadline=None)
@given(st.sampled_from([(k, e) for k, es in LEAVES.items() for e in es]))
def test_connection_failure_finds_the_cause_behind_the_wrappers(
        case: tuple[FailureKind, BaseException]) -> None:
    kind, leaf = case
    failure = connection_failure(_wrapped(leaf))
    assert failure.kind is kind
    assert failure.text == "Cannot connect to host 10.0.0.1:443 [boom]"  # not hoist's words


@settings(deadline=None)
@given(st.lists(st.sampled_from(list(FailureKind)), min_size=1, max_size=4))
def test_the_most_specific_cause_wins(kinds: list[FailureKind]) -> None:
    order = list(FailureKind)  # declared most specific first, OTHER last
    chain: BaseException | None = None
    for k in kinds:
        e = LEAVES[k][0].__class__(*LEAVES[k][0].args)
        e.__context__ = chain
        chain = e
    assert chain is not None
    assert connection_failure(chain).kind is min(kinds, key=order.index)


def test_a_cyclic_chain_ends() -> None:
    a, b = ValueError("a"), ValueError("b")
    a.__context__, b.__context__ = b, a
    assert connection_failure(a).kind is FailureKind.OTHER


# ---------------------------------------------------------------------- credential labels

secrets_text = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=8, max_size=24)
names = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)


@settings(deadline=None, max_examples=100)
@given(names, names, secrets_text, st.booleans())
def test_credential_labels_name_the_secret_and_host_never_the_password(
        name: str, namespace: str, password: str, padded_host: bool) -> None:
    server = f"https://{HOST}/v1/" if padded_host else HOST
    secret = docker_registry_secret(name, server, "user", password, namespace=namespace)
    [choice] = credential_choices(f"{HOST}/team/app:v1", [secret], Keyring(()))
    assert choice.label == f"secret {namespace}/{name} (matched {HOST})"
    assert password not in repr(choice) and password not in choice.label
    assert choice.credential.password == password  # what the attempt sends
    assert credential_choices("other.example/app:v1", [secret], Keyring(())) == []
