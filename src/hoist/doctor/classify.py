"""Why a pull fails, decided from what was observed: pure functions, no I/O.

The network side (:mod:`hoist.doctor.probe`) records what one pull attempt saw in an
:class:`Observation` — the registry's HTTP answer, or the connection failure, plus what the
follow-up checks found (does the repository exist, does the other scheme answer, which
platforms an index offers). :func:`classify` turns that into a :class:`Verdict`: one
outcome, a one-line detail and the next step. Nothing here ever sees a password or token:
credentials appear only as their labels (``secret team/regcred (matched reg:5000)``).
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from hoist.core.manifest import Descriptor, ManifestError, select_platform
from hoist.core.platform import Platform

ANONYMOUS_LABEL = "anonymous"
# Docker Hub, as the normalized reference names it and as its API host is called.
DOCKER_HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
# How many of a repository's tags a detail lists when the asked-for one is missing.
TAGS_SHOWN = 5


class Outcome(StrEnum):
    OK = "ok"
    INVALID_REFERENCE = "invalid-reference"
    UNKNOWN_REPOSITORY = "unknown-repository"
    UNKNOWN_TAG = "unknown-tag"
    UNKNOWN_DIGEST = "unknown-digest"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate-limited"
    UNREACHABLE = "unreachable"
    TLS_MISMATCH = "tls-mismatch"
    NO_PLATFORM = "no-platform"
    # An answer none of the above explains (a 5xx, a 400, a manifest that does not verify).
    REGISTRY_ERROR = "registry-error"


class FailureKind(StrEnum):
    """Why no HTTP answer came back; declared most specific first, the order in which
    :func:`connection_failure` looks for them along an exception chain."""

    CERTIFICATE = "certificate"  # TLS spoken on both sides, the certificate not trusted
    TLS = "tls"  # the TLS handshake itself failed
    DNS = "dns"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    RESET = "reset"  # connected, then closed or reset before an answer
    OTHER = "other"


# Failures a scheme mismatch produces (a refused connection or a DNS failure looks the same
# in either scheme).
SCHEME_SUSPECTS = frozenset({FailureKind.TLS, FailureKind.RESET, FailureKind.OTHER})


@dataclass(frozen=True, slots=True)
class Failure:
    kind: FailureKind
    text: str  # the client library's one-line description (it names the host)


@dataclass(frozen=True, slots=True)
class Observation:
    """What one pull attempt with one credential saw.

    ``status`` is the manifest request's HTTP status (0 when no answer came: then
    ``failure`` says why). ``other_scheme_answers`` is set after a failed exchange: whether
    the registry's port speaks the scheme the node did not use (None: not checked).
    ``repository_exists`` and ``tags`` come from the tag list after a 404; ``index`` holds
    an index's entries (None for an image manifest)."""

    registry: str
    repository: str
    reference: str  # the tag or digest asked for
    scheme: str = "https"
    credential: str = ANONYMOUS_LABEL
    status: int = 0
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    error_code: str = ""
    message: str = ""  # the registry's or token server's words, free of secrets
    failure: Failure | None = None
    other_scheme_answers: bool | None = None
    repository_exists: bool | None = None
    tags: tuple[str, ...] = ()
    media_type: str = ""
    digest: str = ""
    index: tuple[Descriptor, ...] | None = None
    node_platform: Platform = field(default_factory=lambda: Platform("linux", "amd64"))

    @property
    def by_digest(self) -> bool:
        return ":" in self.reference

    @property
    def docker_hub(self) -> bool:
        return self.registry in DOCKER_HUB_HOSTS


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    detail: str
    hint: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK


# ---------------------------------------------------------------------- connection failures

def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions behind it (``raise … from None`` still keeps
    ``__context__``: the client's own error wraps the socket's)."""
    out: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(out) < 32:
        seen.add(id(current))
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


def _named(e: BaseException, *names: str) -> bool:
    return any(c.__name__ in names for c in type(e).__mro__)


def _failure_kind(chain: Sequence[BaseException]) -> FailureKind:
    # Most specific first: a certificate error is also an SSLError, and aiohttp wraps a
    # DNS failure in an OSError of its own.
    if any(isinstance(e, ssl.SSLCertVerificationError)
           or _named(e, "ClientConnectorCertificateError") for e in chain):
        return FailureKind.CERTIFICATE
    if any(isinstance(e, ssl.SSLError) or _named(e, "ClientSSLError") for e in chain):
        return FailureKind.TLS
    if any(_named(e, "gaierror", "herror", "ClientConnectorDNSError") for e in chain):
        return FailureKind.DNS
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return FailureKind.REFUSED
    if any(isinstance(e, TimeoutError) for e in chain):
        return FailureKind.TIMEOUT
    if any(isinstance(e, ConnectionResetError | ConnectionAbortedError | BrokenPipeError)
           or _named(e, "ServerDisconnectedError", "IncompleteReadError",
                     "RemoteDisconnected") for e in chain):
        return FailureKind.RESET
    return FailureKind.OTHER


# aiohttp's connector errors name the TLS setting ("ssl:default") even for plain HTTP.
_SSL_SETTING = re.compile(r" ssl:(?:default|None|True|False|<[^>]*>)")


def _one_line(text: str, limit: int = 200) -> str:
    one = " ".join(_SSL_SETTING.sub("", text).split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


def connection_failure(exc: BaseException) -> Failure:
    """Why a request got no HTTP answer, from the exception and the ones behind it. The
    text is the innermost-but-one description that names something (the client library's
    "Cannot connect to host …"), not hoist's own wrapper."""
    chain = _chain(exc)
    kind = _failure_kind(chain)
    texts = [(type(e).__module__, _one_line(str(e)) or type(e).__name__) for e in chain]
    foreign = [t for module, t in texts if not module.startswith("hoist.")]
    return Failure(kind, foreign[0] if foreign else texts[0][1])


# ---------------------------------------------------------------------- rate limits

_RATE = re.compile(r"\s*(\d+)\s*(?:;\s*w\s*=\s*(\d+))?")


def parse_rate_header(value: str | None) -> tuple[int, int | None] | None:
    """Docker Hub's ``ratelimit-limit``/``ratelimit-remaining``: ``N`` or ``N;w=SECONDS``."""
    if not value:
        return None
    m = _RATE.match(value)
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2)) if m.group(2) else None


def _duration(seconds: float) -> str:
    s = int(seconds)
    if s >= 3600 and s % 3600 == 0:
        return f"{s // 3600} h"
    if s >= 60 and s % 60 == 0:
        return f"{s // 60} min"
    return f"{s} s"


def _retry_after(value: str | None) -> float | None:
    from hoist.registry.transport import retry_after_seconds

    return retry_after_seconds(value)


def rate_limit_text(headers: Mapping[str, str]) -> str:
    """The rate-limit headers of a 429 in words: ``0 of 100 pulls left per 6 h window;
    retry after 3600 s`` (whichever parts the registry sent)."""
    parts: list[str] = []
    limit = parse_rate_header(headers.get("ratelimit-limit"))
    remaining = parse_rate_header(headers.get("ratelimit-remaining"))
    window = (limit and limit[1]) or (remaining and remaining[1])
    per = f" per {_duration(window)} window" if window else ""
    if limit and remaining:
        parts.append(f"{remaining[0]} of {limit[0]} pulls left{per}")
    elif limit:
        parts.append(f"limit {limit[0]} pulls{per}")
    elif remaining:
        parts.append(f"{remaining[0]} pulls left{per}")
    source = headers.get("docker-ratelimit-source")
    if source:
        parts.append(f"counted for {_one_line(source, 64)}")
    after = _retry_after(headers.get("retry-after"))
    if after is not None:
        parts.append(f"retry after {_duration(after)}")
    return "; ".join(parts)


# ---------------------------------------------------------------------- the decision

def _short(digest: str) -> str:
    algorithm, sep, encoded = digest.partition(":")
    return f"{algorithm}:{encoded[:12]}" if sep and len(encoded) > 12 else digest


def _scheme_mismatch(obs: Observation) -> Verdict:
    if obs.scheme == "https":
        why = f" ({obs.failure.text})" if obs.failure else ""
        return Verdict(
            Outcome.TLS_MISMATCH,
            f"{obs.registry} speaks plain HTTP, but the node spoke HTTPS to it: the TLS "
            f"handshake failed{why}",
            f"serve the registry over TLS, or configure the node's runtime to use plain HTTP "
            f"for {obs.registry} (containerd: certs.d/{obs.registry}/hosts.toml with "
            f"server = \"http://{obs.registry}\"; hoist doctor --insecure-registry "
            f"{obs.registry} to check that way)")
    said = f"HTTP {obs.status}" if obs.status else (obs.failure.text if obs.failure else "")
    return Verdict(
        Outcome.TLS_MISMATCH,
        f"{obs.registry} speaks HTTPS (TLS), but the node sent plain HTTP to it "
        f"({said})",
        f"the node uses plain HTTP only for localhost and loopback registries (or those "
        f"configured as insecure): reach this one by a name the node treats as TLS, or "
        f"serve plain HTTP on {obs.registry}")


def _failure_verdict(obs: Observation, failure: Failure) -> Verdict:
    if failure.kind in SCHEME_SUSPECTS and obs.other_scheme_answers:
        return _scheme_mismatch(obs)
    host = obs.registry
    if failure.kind is FailureKind.REFUSED:
        return Verdict(Outcome.UNREACHABLE, f"connection refused: {failure.text}",
                       f"is a registry listening on {host}? check the host and port")
    if failure.kind is FailureKind.DNS:
        return Verdict(Outcome.UNREACHABLE, f"cannot resolve the host name: {failure.text}",
                       f"check the registry host name in the image ({host}) and the "
                       "node's DNS")
    if failure.kind is FailureKind.TIMEOUT:
        return Verdict(Outcome.UNREACHABLE, f"timed out: {failure.text}",
                       f"a firewall or proxy between the node and {host}? check the "
                       "network path")
    if failure.kind is FailureKind.CERTIFICATE:
        return Verdict(Outcome.UNREACHABLE,
                       f"the TLS certificate of {host} is not trusted: {failure.text}",
                       "install the registry's CA certificate on the node (containerd: "
                       f"certs.d/{host}/ca.crt), or give the registry a trusted certificate")
    if failure.kind is FailureKind.TLS:
        return Verdict(Outcome.UNREACHABLE, f"TLS handshake failed: {failure.text}",
                       f"check the TLS set-up of {host}")
    return Verdict(Outcome.UNREACHABLE, f"no answer from {host}: {failure.text}",
                   f"check that {host} runs a registry and is reachable from the node")


def _platform_verdict(obs: Observation, index: Sequence[Descriptor]) -> Verdict:
    node = obs.node_platform.normalized()
    try:
        entry = select_platform(index, node)
    except ManifestError:
        offered = sorted({str(e.platform.normalized()) for e in index if e.platform})
        has = ", ".join(offered) or "no platform at all"
        return Verdict(
            Outcome.NO_PLATFORM,
            f"index {_short(obs.digest)} has no image for the node's platform {node} "
            f"(it has {has})",
            f"build and push the image for {node} too (a multi-platform build), or run "
            f"the pod on a node of {', '.join(offered) or 'a listed platform'}")
    return Verdict(Outcome.OK, f"index {_short(obs.digest)}: {node} is "
                               f"{_short(str(entry.digest))}")


def _unauthorized(obs: Observation) -> Verdict:
    said = f" ({obs.message})" if obs.message else ""
    if obs.credential == ANONYMOUS_LABEL:
        detail = (f"{obs.registry} wants credentials; none of the pod's pull secrets or "
                  f"the node's config match it, so the node pulled anonymously{said}")
        hint = (f"create a pull secret for {obs.registry} (hoist secret docker-registry "
                f"NAME --docker-server={obs.registry} …) and name it in the pod's "
                "imagePullSecrets or its service account's")
    else:
        detail = f"{obs.registry} refused {obs.credential}{said}"
        hint = ("the credential's username or password is wrong or expired: recreate "
                "the secret (hoist secret docker-registry …) with working ones")
    if obs.docker_hub:
        hint += ("; Docker Hub also answers 401 for a repository that does not exist: "
                 f"check the name {obs.repository}")
    return Verdict(Outcome.UNAUTHORIZED, detail, hint)


def _not_found(obs: Observation) -> Verdict:
    if obs.repository_exists is False or obs.error_code == "NAME_UNKNOWN":
        return Verdict(Outcome.UNKNOWN_REPOSITORY,
                       f"{obs.registry} has no repository {obs.repository}",
                       "check the image name, or push the image there first")
    maybe = "" if obs.repository_exists else " (the repository's tags could not be listed)"
    if obs.by_digest:
        return Verdict(Outcome.UNKNOWN_DIGEST,
                       f"{obs.registry}/{obs.repository} has no manifest "
                       f"{_short(obs.reference)}{maybe}",
                       "the digest was deleted or belongs to another repository: resolve "
                       "the tag again (hoist resolve REPO:TAG) and pin that digest")
    shown = ", ".join(obs.tags[:TAGS_SHOWN])
    more = f" (and {len(obs.tags) - TAGS_SHOWN} more)" if len(obs.tags) > TAGS_SHOWN else ""
    has = f"; it has {shown}{more}" if shown else (
        "; it has no tags" if obs.repository_exists else "")
    return Verdict(Outcome.UNKNOWN_TAG,
                   f"no tag {obs.reference} in {obs.registry}/{obs.repository}{has}{maybe}",
                   f"push tag {obs.reference}, or use a tag the repository has")


def classify(obs: Observation) -> Verdict:
    """The outcome of one pull attempt. Total: any observation gets a verdict."""
    if obs.failure is not None and not obs.status:
        return _failure_verdict(obs, obs.failure)
    status = obs.status
    if 200 <= status < 300:
        if obs.index is not None:
            return _platform_verdict(obs, obs.index)
        what = "index" if "index" in obs.media_type or "list" in obs.media_type else "manifest"
        return Verdict(Outcome.OK, f"{what} {_short(obs.digest)}" if obs.digest else what)
    if status == 401:
        return _unauthorized(obs)
    if status == 403:
        said = f" ({obs.message})" if obs.message else ""
        return Verdict(Outcome.FORBIDDEN,
                       f"{obs.registry} knows {obs.credential} but denies it pull access "
                       f"to {obs.repository}{said}",
                       f"grant that account pull access to {obs.repository}, or use a "
                       "credential that has it")
    if status == 404:
        return _not_found(obs)
    if status == 429:
        limits = rate_limit_text(obs.headers)
        return Verdict(Outcome.RATE_LIMITED,
                       f"{obs.registry} answered 429 Too Many Requests"
                       + (f": {limits}" if limits else ""),
                       "wait for the window to pass, pull with a credential (authenticated "
                       "pulls get a higher limit), or mirror the image into a registry of "
                       "your own")
    if status == 400 and obs.scheme == "http" and obs.other_scheme_answers:
        return _scheme_mismatch(obs)
    said = f": {obs.message}" if obs.message else ""
    if status:
        return Verdict(Outcome.REGISTRY_ERROR, f"{obs.registry} answered HTTP {status}{said}",
                       "a server-side problem at the registry: retry later or ask its "
                       "operators" if status >= 500 else
                       "the registry refused the request: check its logs")
    return Verdict(Outcome.REGISTRY_ERROR, f"{obs.registry}{said or ': no usable answer'}",
                   "check the registry's content and logs")


def invalid_reference(image: str, error: str) -> Verdict:
    """An image name the kubelet refuses before any request (InvalidImageName)."""
    if not image:
        return Verdict(Outcome.INVALID_REFERENCE, "no image: the API server rejects the pod",
                       "set the container's image")
    return Verdict(Outcome.INVALID_REFERENCE,
                   f"the kubelet cannot parse the image name ({error}): InvalidImageName",
                   "write the image as [HOST[:PORT]/]NAME[:TAG][@sha256:DIGEST], lowercase")
