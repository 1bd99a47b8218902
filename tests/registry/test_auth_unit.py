"""hoist.registry.auth without a network: WWW-Authenticate parsing (RFC 7235 as registries
send it), scope strings, the token cache's clock and the Basic header."""

from __future__ import annotations

import base64
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hoist.auth.credential import Credential
from hoist.registry.auth import (
    DEFAULT_TOKEN_LIFETIME,
    EXPIRY_MARGIN,
    Challenge,
    TokenCache,
    basic_header,
    parse_challenges,
    repository_scope,
)

DOCKER_HUB = ('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
              'scope="repository:library/nginx:pull"')


# --------------------------------------------------------------------------------------
# parse_challenges: real headers
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("header", "expected"),
    [
        # Docker Hub
        (DOCKER_HUB, [Challenge("bearer", {
            "realm": "https://auth.docker.io/token", "service": "registry.docker.io",
            "scope": "repository:library/nginx:pull"})]),
        # Distribution with htpasswd auth
        ('Basic realm="basic-realm"', [Challenge("basic", {"realm": "basic-realm"})]),
        # Distribution token auth after an insufficient scope
        ('Bearer realm="https://auth.example.com/token",service="Docker registry",'
         'scope="repository:team/app:pull,push",error="insufficient_scope"',
         [Challenge("bearer", {"realm": "https://auth.example.com/token",
                               "service": "Docker registry",
                               "scope": "repository:team/app:pull,push",
                               "error": "insufficient_scope"})]),
        # GHCR
        ('Bearer realm="https://ghcr.io/token",service="ghcr.io",'
         'scope="repository:user/image:pull"',
         [Challenge("bearer", {"realm": "https://ghcr.io/token", "service": "ghcr.io",
                               "scope": "repository:user/image:pull"})]),
        # scheme case does not matter; parameter names are case-insensitive too
        ('basic realm="r"', [Challenge("basic", {"realm": "r"})]),
        ('BASIC Realm="r"', [Challenge("basic", {"realm": "r"})]),
        ('bEaReR realm="t"', [Challenge("bearer", {"realm": "t"})]),
        # unquoted token values and whitespace around "="
        ("Basic realm=simple", [Challenge("basic", {"realm": "simple"})]),
        ('Bearer realm = "t" , service = s', [Challenge("bearer", {"realm": "t",
                                                                     "service": "s"})]),
        # quoted commas and escaped quotes stay inside the value
        ('Bearer realm="https://a/token?x=1,2",service="s"',
         [Challenge("bearer", {"realm": "https://a/token?x=1,2", "service": "s"})]),
        (r'Basic realm="say \"hi\", please"',
         [Challenge("basic", {"realm": 'say "hi", please'})]),
        (r'Basic realm="back\\slash"', [Challenge("basic", {"realm": "back\\slash"})]),
        # several challenges in one header (RFC 7235 §4.1's example)
        (r'Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple"',
         [Challenge("newauth", {"realm": "apps", "type": "1", "title": 'Login to "apps"'}),
          Challenge("basic", {"realm": "simple"})]),
        ('Basic realm="r", Bearer realm="https://t/token",service="reg"',
         [Challenge("basic", {"realm": "r"}),
          Challenge("bearer", {"realm": "https://t/token", "service": "reg"})]),
        # a challenge without parameters, alone, last, or first
        ("Negotiate", [Challenge("negotiate", {})]),
        ('Basic realm="r", Negotiate', [Challenge("basic", {"realm": "r"}),
                                        Challenge("negotiate", {})]),
        ('Negotiate, Basic realm="r"', [Challenge("negotiate", {}),
                                        Challenge("basic", {"realm": "r"})]),
        ("", []),
        ("   ", []),
    ],
)
def test_parse_real_headers(header: str, expected: list[Challenge]) -> None:
    assert parse_challenges(header) == expected


def test_challenge_accessors() -> None:
    (c,) = parse_challenges(
        'Bearer realm="https://r/token",service="svc",'
        'scope="repository:a:pull repository:b:pull,push"')
    assert c.realm == "https://r/token"
    assert c.service == "svc"
    assert c.scopes == ("repository:a:pull", "repository:b:pull,push")


def test_challenge_accessors_default_to_empty() -> None:
    c = Challenge("basic")
    assert (c.realm, c.service, c.scopes) == ("", "", ())


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('Basic realm="unterminated', [Challenge("basic", {})]),
        ("Bearer realm=", [Challenge("bearer", {})]),
        ("=", []),
        ('Bearer realm="r", =oops', [Challenge("bearer", {"realm": "r"})]),
        # a token68 credential form is not a parameter list: the scheme alone remains
        ("Bearer abc123==", [Challenge("bearer", {})]),
    ],
)
def test_unparsable_tails_are_ignored(header: str, expected: list[Challenge]) -> None:
    assert parse_challenges(header) == expected


# --------------------------------------------------------------------------------------
# parse_challenges: properties
# --------------------------------------------------------------------------------------
TCHAR = "!#$%&'*+.^_`|~" + string.ascii_letters + string.digits + "-"
tokens = st.text(TCHAR, min_size=1, max_size=12)
# qdtext and quoted-pair: any visible character, space and tab; '"' and '\' get escaped
quoted_values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.just("\t"),
                        max_size=30)


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@st.composite
def challenges(draw: st.DrawFn) -> tuple[str, str, dict[str, str]]:
    scheme = draw(tokens)
    keys = draw(st.lists(tokens, max_size=4, unique_by=str.lower))
    params: dict[str, str] = {}
    parts = []
    for k in keys:
        if draw(st.booleans()):
            v = draw(quoted_values)
            parts.append(f"{k}={quote(v)}")
        else:
            v = draw(tokens)
            parts.append(f"{k}={v}")
        params[k.lower()] = v
    sep = draw(st.sampled_from([",", ", ", " ,  "]))
    text = scheme + (" " + sep.join(parts) if parts else "")
    return text, scheme.lower(), params


@settings(max_examples=200, deadline=None)
@given(st.lists(challenges(), min_size=1, max_size=3),
       st.sampled_from([", ", ",", " , "]))
def test_generated_headers_round_trip(chs: list[tuple[str, str, dict[str, str]]],
                                      joiner: str) -> None:
    header = joiner.join(text for text, _, _ in chs)
    assert parse_challenges(header) == [Challenge(s, p) for _, s, p in chs]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80) | st.text(TCHAR + ' =,"\\ \t', max_size=80))
def test_parse_challenges_never_raises(header: str) -> None:
    out = parse_challenges(header)
    assert all(isinstance(c, Challenge) and c.scheme == c.scheme.lower() for c in out)


# --------------------------------------------------------------------------------------
# scopes and Basic
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("actions", "scope"),
    [
        (["pull"], "repository:library/nginx:pull"),
        (["push", "pull"], "repository:library/nginx:pull,push"),
        (["pull", "pull", "push"], "repository:library/nginx:pull,push"),
        (["delete", "push", "pull"], "repository:library/nginx:pull,push,delete"),
        (["*"], "repository:library/nginx:*"),
        (["zz", "delete", "aa"], "repository:library/nginx:delete,aa,zz"),
        ([], "repository:library/nginx:"),
    ],
)
def test_repository_scope(actions: list[str], scope: str) -> None:
    assert repository_scope("library/nginx", actions) == scope


def test_repository_scope_accepts_any_iterable() -> None:
    assert repository_scope("a/b", (a for a in ("push", "pull"))) == "repository:a/b:pull,push"


def test_basic_header() -> None:
    assert basic_header(Credential("aladdin", "opensesame")) == "Basic YWxhZGRpbjpvcGVuc2VzYW1l"
    h = basic_header(Credential("user", "pä:ss wörd"))
    assert base64.b64decode(h.removeprefix("Basic ")).decode() == "user:pä:ss wörd"


# --------------------------------------------------------------------------------------
# TokenCache
# --------------------------------------------------------------------------------------
class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


KEY = ("https://auth.docker.io/token", "registry.docker.io", ("repository:library/x:pull",))


def test_token_lives_expires_in_minus_margin() -> None:
    clock = Clock()
    cache = TokenCache(clock)
    cache.put(*KEY, "tok", 300)
    assert cache.get(*KEY) == "tok"
    clock.t += 300 - EXPIRY_MARGIN - 0.001
    assert cache.get(*KEY) == "tok"
    clock.t += 0.001
    assert cache.get(*KEY) is None
    assert len(cache) == 0  # an expired token is dropped, not kept


@pytest.mark.parametrize("expires_in", [None, 0, 0.0, -5])
def test_default_lifetime_when_expires_in_missing_or_not_positive(
        expires_in: float | None) -> None:
    assert DEFAULT_TOKEN_LIFETIME == 60.0
    clock = Clock()
    cache = TokenCache(clock)
    cache.put(*KEY, "tok", expires_in)
    clock.t += DEFAULT_TOKEN_LIFETIME - EXPIRY_MARGIN - 0.01
    assert cache.get(*KEY) == "tok"
    clock.t += 0.01
    assert cache.get(*KEY) is None


def test_short_lifetime_margin_is_at_most_half() -> None:
    clock = Clock()
    cache = TokenCache(clock)
    cache.put(*KEY, "tok", 4)  # margin min(5, 2) = 2
    clock.t += 1.99
    assert cache.get(*KEY) == "tok"
    clock.t += 0.01
    assert cache.get(*KEY) is None


def test_tokens_are_keyed_by_realm_service_and_scopes() -> None:
    cache = TokenCache(Clock())
    cache.put("r", "s", ("a",), "t1", 100)
    cache.put("r", "s", ("a", "b"), "t2", 100)
    cache.put("r", "s2", ("a",), "t3", 100)
    cache.put("r2", "s", ("a",), "t4", 100)
    assert [cache.get("r", "s", ("a",)), cache.get("r", "s", ("a", "b")),
            cache.get("r", "s2", ("a",)), cache.get("r2", "s", ("a",))] == ["t1", "t2", "t3",
                                                                             "t4"]
    assert cache.get("r", "s", ("b",)) is None
    assert len(cache) == 4


def test_put_replaces_and_drop_removes() -> None:
    clock = Clock()
    cache = TokenCache(clock)
    cache.put(*KEY, "old", 10)
    cache.put(*KEY, "new", 1000)
    clock.t += 100
    assert cache.get(*KEY) == "new"
    cache.drop(*KEY)
    assert cache.get(*KEY) is None
    assert len(cache) == 0
    cache.drop(*KEY)  # dropping what is not there is fine


def test_default_clock_is_monotonic_time() -> None:
    cache = TokenCache()
    cache.put(*KEY, "tok", 3600)
    assert cache.get(*KEY) == "tok"
