"""The server's pure decisions: routes and names, scopes and grants, tokens, htpasswd,
Content-Range and Accept parsing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hoist.registry.server import names
from hoist.registry.server.app import _accepts, _location_range, _parse_content_range
from hoist.registry.server.auth import (
    Htpasswd,
    HtpasswdError,
    Scope,
    TokenIssuer,
    allows,
    grant,
    parse_basic,
    parse_scope,
    parse_scopes,
)
from hoist.registry.server.errors import ApiError

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize("path, expected", [
    ("/v2/", names.Route("ping")),
    ("/v2", names.Route("ping")),
    ("/v2/_catalog", names.Route("catalog")),
    ("/v2/a/b/manifests/latest", names.Route("manifest", "a/b", "latest")),
    (f"/v2/a/manifests/{DIGEST}", names.Route("manifest", "a", DIGEST)),
    (f"/v2/a/blobs/{DIGEST}", names.Route("blob", "a", DIGEST)),
    ("/v2/a/blobs/uploads/", names.Route("upload_start", "a")),
    ("/v2/a/blobs/uploads", names.Route("upload_start", "a")),
    ("/v2/a/blobs/uploads/abc", names.Route("upload", "a", "abc")),
    # a repository may be called "blobs" or "manifests"
    ("/v2/blobs/blobs/uploads/x", names.Route("upload", "blobs", "x")),
    ("/v2/x/manifests/manifests/latest", names.Route("manifest", "x/manifests", "latest")),
    ("/v2/a/tags/list", names.Route("tags", "a")),
    (f"/v2/a/referrers/{DIGEST}", names.Route("referrers", "a", DIGEST)),
    ("/token", names.Route("token")),
    ("/metrics", names.Route("metrics")),
])
def test_routes(path: str, expected: names.Route) -> None:
    assert names.route(path) == expected


@pytest.mark.parametrize("path", ["/", "/v1/", "/v2/a", "/v2/a/other/x", "/etc/passwd"])
def test_unknown_endpoints(path: str) -> None:
    with pytest.raises(ApiError) as e:
        names.route(path)
    assert e.value.status == 404


@pytest.mark.parametrize("name", ["../etc", "a/../b", "/abs", "a//b", "A", "a_", "-a", "a.",
                                  "a" * 256, "a/" * 130 + "a", "a\x00b", ".."])
def test_invalid_names(name: str) -> None:
    assert not names.valid_name(name)
    with pytest.raises(ApiError) as e:
        names.route(f"/v2/{name}/tags/list")
    assert (e.value.status, e.value.code) in ((400, "NAME_INVALID"), (404, "UNSUPPORTED"))


@pytest.mark.parametrize("name", ["a", "library/nginx", "a-b/c__d/e.f", "a--b", "0/1",
                                  "a" * 255])
def test_valid_names(name: str) -> None:
    assert names.valid_name(name)


_segment = st.text(alphabet="abcz09._-/%2eEfF", min_size=1, max_size=20)


@given(st.lists(_segment, min_size=1, max_size=6).map("/".join))
def test_any_routed_name_is_safe(name: str) -> None:
    """Whatever the path, a routed name matches the grammar: no dot segments, no empty
    segments, no leading slash (and so never a path outside anything)."""
    try:
        r = names.route(f"/v2/{name}/tags/list")
    except ApiError as e:
        assert e.code in ("NAME_INVALID", "UNSUPPORTED")
        return
    assert names.NAME_RE.fullmatch(r.name)
    assert all(part not in ("", ".", "..") for part in r.name.split("/"))
    assert not r.name.startswith("/")


@given(st.text(max_size=140))
def test_tags(tag: str) -> None:
    ok = names.valid_tag(tag)
    assert ok == bool(tag and len(tag) <= 128 and tag[0] not in ".-"
                      and all(c.isascii() and (c.isalnum() or c in "._-") for c in tag))


def test_parse_digest() -> None:
    assert str(names.parse_digest(DIGEST)) == DIGEST
    for bad in ("sha256:xyz", "md5:" + "a" * 32, "nocolon"):
        with pytest.raises(ApiError) as e:
            names.parse_digest(bad)
        assert e.value.code == "DIGEST_INVALID" and e.value.status == 400


def test_content_range_and_location_range() -> None:
    assert _parse_content_range("0-99") == (0, 99)
    assert _parse_content_range("bytes 100-199/1000") == (100, 199)
    assert _parse_content_range("5-4") is None
    assert _parse_content_range("x-1") is None
    assert _parse_content_range("1") is None
    assert _location_range(0) == "0-0"
    assert _location_range(100) == "0-99"


def test_accepts() -> None:
    oci = "application/vnd.oci.image.manifest.v1+json"
    assert _accepts([], oci)
    assert _accepts([f"{oci}, application/json"], oci)
    assert _accepts(["application/vnd.docker.distribution.manifest.v2+json", oci], oci)
    assert _accepts(["*/*"], oci)
    assert _accepts([f"{oci};q=0.5"], oci)
    assert not _accepts(["application/vnd.docker.distribution.manifest.v2+json"], oci)


def test_scopes_and_grants() -> None:
    assert parse_scope("repository:a/b:pull,push") == Scope("repository", "a/b",
                                                            frozenset({"pull", "push"}))
    assert parse_scope("repository:host:5000/a:pull") == Scope("repository", "host:5000/a",
                                                               frozenset({"pull"}))
    assert parse_scope("nonsense") is None
    assert parse_scopes(["repository:a:pull repository:b:push", "bad"]) == [
        Scope("repository", "a", frozenset({"pull"})),
        Scope("repository", "b", frozenset({"push"}))]
    granted = grant([Scope("repository", "a", frozenset({"pull", "push", "bogus"})),
                     Scope("registry", "catalog", frozenset({"*"})),
                     Scope("other", "x", frozenset({"pull"})),
                     Scope("repository", "b", frozenset({"*"}))])
    assert granted == [Scope("repository", "a", frozenset({"pull", "push"})),
                       Scope("registry", "catalog", frozenset({"*"})),
                       Scope("repository", "b", frozenset({"pull", "push", "delete"}))]
    assert allows(granted, Scope("repository", "a", frozenset({"pull"})))
    assert not allows(granted, Scope("repository", "a", frozenset({"delete"})))
    assert not allows(granted, Scope("repository", "c", frozenset({"pull"})))


@given(st.text(max_size=50))
def test_parse_scope_never_raises(text: str) -> None:
    scope = parse_scope(text)
    if scope is not None:
        assert text.startswith(scope.type + ":")


def test_parse_basic() -> None:
    assert parse_basic("Basic YWxpY2U6cDpx") == ("alice", "p:q")
    assert parse_basic("basic YWxpY2U6") == ("alice", "")
    assert parse_basic("Basic !!!") is None
    assert parse_basic("Bearer abc") is None
    assert parse_basic("Basic OnBhc3M=") is None  # empty user


def test_tokens() -> None:
    issuer = TokenIssuer()
    scopes = [Scope("repository", "a", frozenset({"pull"}))]
    token = issuer.issue("alice", scopes, now=1000.0)
    assert issuer.verify(token, now=1000.0) == ("alice", scopes)
    assert issuer.verify(token, now=1000.0 + issuer.seconds + 1) is None  # expired
    assert TokenIssuer().verify(token, now=1000.0) is None  # another server's key
    head, body, mac = token.split(".")
    assert issuer.verify(f"{head}.{body}x.{mac}", now=1000.0) is None
    assert issuer.verify("not.a.token", now=1000.0) is None
    refresh = issuer.issue_refresh("alice")
    assert issuer.refresh_subject(refresh) == "alice"
    assert issuer.verify(refresh) is None  # a refresh token is no access token
    assert issuer.refresh_subject(token) is None


def test_htpasswd(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    try:
        made = subprocess.run(["htpasswd", "-nbB", "alice", "s3cret"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except FileNotFoundError:
        pytest.skip(reason="htpasswd not installed (Debian package apache2-utils)")
    path.write_text(f"# users\n{made}\n")
    htpasswd = Htpasswd(path)
    assert htpasswd.check("alice", "s3cret")
    assert htpasswd.check("alice", "s3cret")  # remembered
    assert not htpasswd.check("alice", "wrong")
    assert not htpasswd.check("bob", "s3cret")
    assert "s3cret" not in repr(htpasswd)
    # re-read when the file changes
    import bcrypt

    path.write_text(f"bob:{bcrypt.hashpw(b'other', bcrypt.gensalt(4)).decode()}\n")
    assert htpasswd.check("bob", "other")
    assert not htpasswd.check("alice", "s3cret")
    path.write_text("carol:plain\n")
    with pytest.raises(HtpasswdError, match="bcrypt"):
        Htpasswd(path)
    with pytest.raises(HtpasswdError, match="line 1"):
        (tmp_path / "bad").write_text("nocolon\n")
        Htpasswd(tmp_path / "bad")
