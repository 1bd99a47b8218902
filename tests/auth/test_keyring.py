"""The kubelet's keyring: which pull credentials it tries for an image, and in which order.

The parametrised tables are ported from kubernetes pkg/credentialprovider keyring_test.go
and config_test.go (each case cites the upstream test); the rest pins what secrets.go and
keyring.go imply when several Secrets and the node's config are combined.
"""

from __future__ import annotations

import base64
import fnmatch
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hoist.auth.credential import Credential
from hoist.auth.keyring import (
    BadPattern,
    Keyring,
    go_filepath_match,
    go_split_host_port,
    is_default_registry_match,
    normalize_key,
    urls_match_str,
)
from hoist.errors import InputError

EMAIL = "foo@bar.baz"
PASSWORD = "S3cr3t-PW-7f1c"  # distinctive, so "never appears" checks mean something


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def legacy_config(location: str, username: str = "foo", password: str = "bar") -> bytes:
    """The sample upstream builds: a bare .dockercfg map with email and auth."""
    entry = {"email": EMAIL, "auth": b64(f"{username}:{password}")}
    return json.dumps({location: entry}).encode()


def pull_secret(
    name: str, auths: dict[str, Any], *, namespace: str = "shop", legacy: bool = False
) -> dict[str, Any]:
    payload = auths if legacy else {"auths": auths}
    key = ".dockercfg" if legacy else ".dockerconfigjson"
    stype = "kubernetes.io/dockercfg" if legacy else "kubernetes.io/dockerconfigjson"
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": stype,
        "data": {key: b64(json.dumps(payload))},
    }


def userpass(creds: list[Credential]) -> list[tuple[str, str]]:
    return [(c.username, c.password) for c in creds]


# --------------------------------------------------------------------------- keyring_test.go


@pytest.mark.parametrize(
    ("glob", "target", "expected"),
    [
        # match when there is no path component
        ("*.kubernetes.io", "prefix.kubernetes.io", True),
        ("prefix.*.io", "prefix.kubernetes.io", True),
        ("prefix.kubernetes.*", "prefix.kubernetes.io", True),
        ("*-good.kubernetes.io", "prefix-good.kubernetes.io", True),
        # match with path components
        ("*.kubernetes.io/blah", "prefix.kubernetes.io/blah", True),
        ("prefix.*.io/foo", "prefix.kubernetes.io/foo/bar", True),
        # match with path components and ports
        ("*.kubernetes.io:1111/blah", "prefix.kubernetes.io:1111/blah", True),
        ("prefix.*.io:1111/foo", "prefix.kubernetes.io:1111/foo/bar", True),
        # no match when number of parts mismatch
        ("*.kubernetes.io", "kubernetes.io", False),
        ("*.*.kubernetes.io", "prefix.kubernetes.io", False),
        ("*.*.kubernetes.io", "kubernetes.io", False),
        # no match when some parts mismatch
        ("kubernetes.io", "kubernetes.com", False),
        ("k*.io", "quay.io", False),
        # no match when ports mismatch
        ("*.kubernetes.io:1234/blah", "prefix.kubernetes.io:1111/blah", False),
        ("prefix.*.io/foo", "prefix.kubernetes.io:1111/foo/bar", False),
    ],
)
def test_urls_match(glob: str, target: str, expected: bool) -> None:
    """keyring_test.go TestURLsMatch."""
    assert urls_match_str(glob, target) is expected


@pytest.mark.parametrize(
    ("glob", "target"),
    [
        ("https://hello.kubernetes.io", "hello.kubernetes.io"),
        ("https://*.docker.io", "prefix.docker.io"),
        ("https://prefix.*.io", "prefix.docker.io"),
        ("https://prefix.docker.*", "prefix.docker.io"),
        ("https://*.docker.io/path", "prefix.docker.io/path"),
        ("https://prefix.*.io/path", "prefix.docker.io/path/subpath"),
        ("https://prefix.docker.*/path", "prefix.docker.io/path"),
        ("https://*.docker.io:8888", "prefix.docker.io:8888"),
        ("https://prefix.*.io:8888", "prefix.docker.io:8888"),
        ("https://prefix.docker.*:8888", "prefix.docker.io:8888"),
        ("https://*.docker.io/path:1111", "prefix.docker.io/path:1111"),
        ("https://*.docker.io/v1/", "prefix.docker.io/path:1111"),
        ("https://*.docker.io/v2/", "prefix.docker.io/path:1111"),
        ("https://prefix.docker.*/path:1111", "prefix.docker.io/path:1111"),
        ("prefix.docker.io:1111", "prefix.docker.io:1111/path"),
        ("*.docker.io:1111", "prefix.docker.io:1111/path"),
    ],
)
def test_docker_keyring_for_glob(glob: str, target: str) -> None:
    """keyring_test.go TestDockerKeyringForGlob."""
    keyring = Keyring.from_config_bytes(legacy_config(glob), "cfg", dockercfg=True)
    creds = keyring.lookup_repository(target + "/foo/bar")
    assert creds, f"no credential for {target}"
    assert (creds[0].username, creds[0].password) == ("foo", "bar")
    assert creds[0].source == "cfg"


@pytest.mark.parametrize(
    ("glob", "lookup"),
    [
        ("https://hello.kubernetes.io", "world.mesos.org/foo/bar"),
        ("https://*.docker.com", "prefix.docker.io"),
        ("https://suffix.*.io", "prefix.docker.io"),
        ("https://prefix.docker.c*", "prefix.docker.io"),
        ("https://prefix.*.io/path:1111", "prefix.docker.io/path/subpath:1111"),
        ("suffix.*.io", "prefix.docker.io"),
    ],
)
def test_keyring_miss(glob: str, lookup: str) -> None:
    """keyring_test.go TestKeyringMiss."""
    keyring = Keyring.from_config_bytes(legacy_config(glob), "cfg", dockercfg=True)
    assert keyring.lookup_repository(lookup + "/foo/bar") == []


HUB = legacy_config("https://index.docker.io/v1/")


def test_keyring_miss_with_docker_hub_credentials() -> None:
    """keyring_test.go TestKeyringMissWithDockerHubCredentials."""
    keyring = Keyring.from_config_bytes(HUB, "cfg", dockercfg=True)
    assert keyring.lookup_repository("world.mesos.org/foo/bar") == []


@pytest.mark.parametrize(
    "name",
    [
        "google/docker-registry",  # TestKeyringHitWithUnqualifiedDockerHub
        "jenkins",  # TestKeyringHitWithUnqualifiedLibraryDockerHub
        "index.docker.io/google/docker-registry",  # TestKeyringHitWithQualifiedDockerHub
    ],
)
def test_keyring_hit_with_docker_hub(name: str) -> None:
    """keyring_test.go TestKeyringHitWith{Unqualified,UnqualifiedLibrary,Qualified}DockerHub."""
    keyring = Keyring.from_config_bytes(HUB, "cfg", dockercfg=True)
    assert userpass(keyring.lookup_repository(name)) == [("foo", "bar")]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("foo/bar", True),
        ("docker.io/foo/bar", True),
        ("index.docker.io/foo/bar", True),
        ("foo", True),
        ("", False),
        ("registry.tld/foo/bar", False),
        ("registry:5000/foo/bar", False),
        ("myhostdocker.io/foo/bar", False),
    ],
)
def test_is_default_registry_match(name: str, expected: bool) -> None:
    """keyring_test.go TestIsDefaultRegistryMatch."""
    assert is_default_registry_match(name) is expected


ADA = ("ada", "smash")
GRACE = ("grace", "squash")


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("bar.example.com", [ADA]),  # direct match
        ("bar.example.com/pong", [GRACE, ADA]),  # deeper than the other match
        ("bar.example.com/ping", [ADA]),  # no direct match, deeper path ignored
        ("bar.example.com/pongz", [GRACE, ADA]),  # first part of a path token
        ("bar.example.com/pong/pang", [GRACE, ADA]),  # regardless of sub-path
        ("example.com", []),  # no host match
        ("foo.example.com", []),
    ],
)
def test_docker_keyring_lookup(image: str, expected: list[tuple[str, str]]) -> None:
    """keyring_test.go TestDockerKeyringLookup."""
    keyring = Keyring.from_config(
        {
            "bar.example.com/pong": {"username": "grace", "password": "squash"},
            "bar.example.com": {"username": "ada", "password": "smash"},
        },
        "cfg",
    )
    assert userpass(keyring.lookup_repository(image)) == expected


@pytest.mark.parametrize("image", ["quay.io", "quay.io/foo", "quay.io/foo/bar"])
def test_issue_3797(image: str) -> None:
    """keyring_test.go TestIssue3797: a key with scheme and /v1/ matches by host."""
    keyring = Keyring.from_config(
        {"https://quay.io/v1/": {"username": "rex", "password": "tiny arms"}}, "cfg"
    )
    assert userpass(keyring.lookup_repository(image)) == [("rex", "tiny arms")]


# --------------------------------------------------------------------------- config_test.go


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        # simple case, just decode the fields
        ({"username": "foo", "password": "bar", "email": "foo@example.com"}, ("foo", "bar")),
        # auth field decodes to username & password
        ({"auth": "Zm9vOmJhcg==", "email": "foo@example.com"}, ("foo", "bar")),
        # auth field overrides username & password
        (
            {"username": "foo", "password": "bar", "auth": "cGluZzpwb25n",
             "email": "foo@example.com"},
            ("ping", "pong"),
        ),
        # poorly-formatted auth causes failure
        ({"auth": "pants", "email": "foo@example.com"}, None),
        # invalid JSON causes failure
        ({"email": False}, None),
    ],
)
def test_docker_config_entry_json_decode(
    entry: dict[str, Any], expected: tuple[str, str] | None
) -> None:
    """config_test.go TestDockerConfigEntryJSONDecode."""
    if expected is None:
        with pytest.raises(InputError):
            Keyring.from_config({"reg.example": entry}, "cfg")
        return
    keyring = Keyring.from_config({"reg.example": entry}, "cfg")
    assert userpass(keyring.lookup_repository("reg.example/x")) == [expected]


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        ("Zm9vOmJhcg==", ("foo", "bar")),  # auth field decodes to username & password
        ("cGFudHM=", None),  # good base64 data, but no colon
        ("pants", None),  # bad base64 data
        ("Zm9vOmJhcg", ("foo", "bar")),  # unpadded is accepted (RawStdEncoding)
        ("Zm9vOmJhcjpiYXo=", ("foo", "bar:baz")),  # split at the first colon only
    ],
)
def test_decode_docker_config_field_auth(auth: str, expected: tuple[str, str] | None) -> None:
    """config_test.go TestDecodeDockerConfigFieldAuth (plus the padding rule of config.go)."""
    if expected is None:
        with pytest.raises(InputError) as info:
            Keyring.from_config({"reg.example": {"auth": auth}}, "cfg")
        assert auth not in str(info.value)
        return
    keyring = Keyring.from_config({"reg.example": {"auth": auth}}, "cfg")
    assert userpass(keyring.lookup_repository("reg.example")) == [expected]


def test_docker_config_json_decode() -> None:
    """config_test.go TestDockerConfigJsonJSONDecode and TestDockerConfigJSONDecode."""
    auths = {
        "http://foo.example.com": {"username": "foo", "password": "bar", "email": "a@b"},
        "http://bar.example.com": {"username": "bar", "password": "baz", "email": "c@d"},
    }
    modern = Keyring.from_config_bytes(json.dumps({"auths": auths}), "config.json")
    legacy = Keyring.from_config_bytes(json.dumps(auths), ".dockercfg", dockercfg=True)
    for keyring in (modern, legacy):
        assert userpass(keyring.lookup_repository("foo.example.com/x")) == [("foo", "bar")]
        assert userpass(keyring.lookup_repository("bar.example.com/x")) == [("bar", "baz")]


def test_read_docker_config_file(tmp_path: Any) -> None:
    """config_test.go TestReadDockerConfigFile: its auth decodes to "foo:bar\\n"."""
    path = tmp_path / "config.json"
    path.write_text(
        '{ "auths": { "http://foo.example.com":{"auth":"Zm9vOmJhcgo=","email":"foo@example.com"}}}'
    )
    keyring = Keyring.from_config_file(path)
    assert userpass(keyring.lookup_repository("foo.example.com/img")) == [("foo", "bar\n")]
    assert keyring.lookup_repository("foo.example.com/img")[0].source == str(path)


def test_legacy_file_by_name(tmp_path: Any) -> None:
    """config.go reads ``.dockercfg`` as the bare map and ``config.json`` as {"auths"}."""
    bare = json.dumps({"reg.example": {"auth": b64("u:p")}})
    (tmp_path / ".dockercfg").write_text(bare)
    (tmp_path / "config.json").write_text(bare)
    assert userpass(Keyring.from_config_file(tmp_path / ".dockercfg")
                    .lookup_repository("reg.example/a")) == [("u", "p")]
    # A bare map read as config.json has no "auths": nothing.
    assert Keyring.from_config_file(tmp_path / "config.json").lookup_repository(
        "reg.example/a") == []


# --------------------------------------------------------------------------- key normalisation


@pytest.mark.parametrize(
    ("location", "key"),
    [
        ("https://index.docker.io/v1/", "index.docker.io"),
        ("index.docker.io/v1/", "index.docker.io"),
        ("http://quay.io", "quay.io"),
        ("quay.io/v2/", "quay.io"),
        ("https://quay.io/v1/coreos", "quay.io/coreos"),
        ("https://quay.io/v1", "quay.io/v1"),  # no trailing slash: not the API prefix
        ("https://quay.io/coreos/", "quay.io/coreos/"),
        ("https://user@quay.io:443/x?q=1#frag", "quay.io:443/x"),
        ("https://quay.io/a%2Fb", "quay.io/a/b"),  # Path is the unescaped path
        ("HTTPS://quay.io", "HTTPS://quay.io"),  # scheme test is case-sensitive
        ("https://a b.io", None),  # space in the host: url.Parse fails, entry ignored
        ("https://quay.io:port", None),  # a port must be digits
        ("https://quay.io/%zz", None),  # bad escape
        ("https://[not-ipv6]:5000", None),  # brackets must hold an IPv6 address
        ("https://[::1]:5000/v2/", "[::1]:5000"),
    ],
)
def test_normalize_key(location: str, key: str | None) -> None:
    """keyring.go Add: add https://, parse, strip /v1/ or /v2/, key = host + path."""
    assert normalize_key(location) == key


def test_unparsable_keys_are_dropped_not_fatal() -> None:
    keyring = Keyring.from_config(
        {"https://a b.io": {"auth": b64("x:y")}, "ok.io": {"auth": b64("u:p")}}, "cfg"
    )
    assert keyring.indexes == (("ok.io",),)


@pytest.mark.parametrize(
    ("hostport", "expected"),
    [
        ("host:80", ("host", "80")),
        ("[::1]:80", ("::1", "80")),
        ("host", None),  # missing port
        ("::1", None),  # too many colons
        ("[::1]", None),  # missing port
        ("[::1]x:80", None),
        ("ho[st:80", None),
    ],
)
def test_go_split_host_port(hostport: str, expected: tuple[str, str] | None) -> None:
    assert go_split_host_port(hostport) == expected


# --------------------------------------------------------------------------- glob


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("abc", "abc", True),
        ("*", "abc", True),
        ("*c", "abc", True),
        ("a*", "a", True),
        ("a*/b", "abc/b", True),
        ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
        ("a*", "ab/c", False),
        ("a?b", "a/b", False),
        ("a[b-d]c", "acc", True),
        ("a[^b-d]c", "acc", False),
        ("a[^b-d]c", "axc", True),
        ("[\\]a]", "]", True),
        ("\\*", "*", True),
        ("\\*", "x", False),
        ("a?c", "aéc", True),  # ? is one rune, not one byte
        ("registry[0-9]", "registry7", True),
    ],
)
def test_go_filepath_match(pattern: str, name: str, expected: bool) -> None:
    """Go path/filepath match_test.go cases that apply to host labels."""
    assert go_filepath_match(pattern, name) is expected


@pytest.mark.parametrize(("pattern", "name"), [("[", "a"), ("a[", "a"), ("[]", "a"),
                                               ("[-]", "-"), ("\\", "a"), ("[x-]", "x")])
def test_go_filepath_match_bad_pattern(pattern: str, name: str) -> None:
    with pytest.raises(BadPattern):
        go_filepath_match(pattern, name)


def test_bad_glob_key_matches_nothing() -> None:
    keyring = Keyring.from_config({"reg[.example.com": {"auth": b64("u:p")}}, "cfg")
    assert keyring.lookup_repository("rega.example.com/x") == []


def test_character_class_key() -> None:
    keyring = Keyring.from_config({"registry[0-9].example.com": {"auth": b64("u:p")}}, "cfg")
    assert userpass(keyring.lookup_repository("registry4.example.com/x")) == [("u", "p")]
    assert keyring.lookup_repository("registryx.example.com/x") == []


# --------------------------------------------------------------------------- pod secrets


def test_secrets_share_one_index_in_pod_order() -> None:
    """secrets.go adds every Secret to ONE BasicDockerKeyring: keys from all of them are
    sorted together, and under one key the earlier Secret's credential comes first."""
    first = pull_secret("first", {"quay.io": {"auth": b64("host-first:p1")}})
    second = pull_secret(
        "second",
        {
            "quay.io/coreos": {"auth": b64("path-second:p2")},
            "https://quay.io/v1/": {"auth": b64("host-second:p3")},
        },
    )
    keyring = Keyring.from_secrets([first, second])
    assert keyring.indexes == (("quay.io/coreos", "quay.io"),)
    creds = keyring.lookup("quay.io/coreos/etcd:v3")
    assert userpass(creds) == [("path-second", "p2"), ("host-first", "p1"),
                               ("host-second", "p3")]
    assert [c.source for c in creds] == ["secret shop/second", "secret shop/first",
                                         "secret shop/second"]


def test_secrets_skipped_as_the_kubelet_skips_them() -> None:
    opaque = {"metadata": {"name": "o"}, "type": "Opaque",
              "data": {".dockerconfigjson": b64('{"auths":{"quay.io":{"auth":"eDp5"}}}')}}
    wrong_key = {"metadata": {"name": "w"}, "type": "kubernetes.io/dockerconfigjson",
                 "data": {".dockercfg": b64('{"quay.io":{"auth":"eDp5"}}')}}
    empty = {"metadata": {"name": "e"}, "type": "kubernetes.io/dockerconfigjson",
             "data": {".dockerconfigjson": ""}}
    assert Keyring.from_secrets([opaque, wrong_key, empty]).groups == ()
    legacy = pull_secret("legacy", {"quay.io": {"auth": b64("u:p")}}, legacy=True)
    keyring = Keyring.from_secrets([opaque, legacy])
    assert userpass(keyring.lookup("quay.io/a/b")) == [("u", "p")]


def test_secret_string_data_and_decoded_bytes() -> None:
    payload = json.dumps({"auths": {"reg.example": {"username": "u", "password": "p"}}})
    string_data = {"metadata": {"name": "s"}, "type": "kubernetes.io/dockerconfigjson",
                   "stringData": {".dockerconfigjson": payload}}
    as_bytes = {"metadata": {"name": "b"}, "type": "kubernetes.io/dockerconfigjson",
                "data": {".dockerconfigjson": payload.encode()}}
    keyring = Keyring.from_secrets([string_data, as_bytes])
    assert [c.source for c in keyring.lookup("reg.example/x")] == ["secret s", "secret b"]


def test_secret_errors_name_the_secret_not_the_password() -> None:
    bad_json = {"metadata": {"name": "bad", "namespace": "ns"},
                "type": "kubernetes.io/dockerconfigjson",
                "data": {".dockerconfigjson": b64('{"auths": {"r": {"password": "'
                                                   + PASSWORD + '"}')}}
    with pytest.raises(InputError) as info:
        Keyring.from_secrets([bad_json])
    assert "secret ns/bad" in str(info.value)
    assert PASSWORD not in str(info.value)
    bad_type = pull_secret("t", {"r.io": {"password": 7, "username": PASSWORD}})
    with pytest.raises(InputError) as info:
        Keyring.from_secrets([bad_type])
    assert "password" in str(info.value)
    assert PASSWORD not in str(info.value)


def test_tokens_are_ignored_by_the_kubelet() -> None:
    """config.go DockerConfigEntry keeps username, password and email only."""
    keyring = Keyring.from_config(
        {"reg.example": {"identitytoken": "tok", "registrytoken": "rt", "auth": b64("u:p")}},
        "cfg",
    )
    (cred,) = keyring.lookup("reg.example/x")
    assert (cred.username, cred.password, cred.identity_token, cred.registry_token) == (
        "u", "p", "", "")


def test_go_json_field_rules() -> None:
    """encoding/json: case-insensitive names, last duplicate wins, null entry is empty."""
    text = ('{"AUTHS": {"a.io": {"USERNAME": "x", "Username": "u", "password": "p"},'
            ' "b.io": null}, "auths": {"c.io": {"auth": "' + b64("c:d") + '"}}}')
    keyring = Keyring.from_config_bytes(text, "cfg")
    assert userpass(keyring.lookup_repository("a.io/x")) == [("u", "p")]
    assert userpass(keyring.lookup_repository("b.io/x")) == [("", "")]
    assert userpass(keyring.lookup_repository("c.io/x")) == [("c", "d")]
    with pytest.raises(InputError):
        Keyring.from_config_bytes('{"auths": {}} trailing', "cfg")  # Unmarshal: one value
    with pytest.raises(InputError):
        Keyring.from_config_bytes('{"auths": {}, "HttpHeaders": {"X": 1}}', "cfg")


# --------------------------------------------------------------------------- union


def test_merged_pod_secrets_then_node_config() -> None:
    """MakeDockerKeyring: UnionDockerKeyring{secrets, node}; each part falls back to
    index.docker.io on its own."""
    secrets = Keyring.from_secrets([pull_secret("hub", {
        "https://index.docker.io/v1/": {"auth": b64("secret-hub:1")},
        "quay.io": {"auth": b64("secret-quay:2")},
    })])
    node = Keyring.from_config({"docker.io": {"auth": b64("node-hub:3")}}, "/var/lib/kubelet")
    keyring = Keyring.merged(secrets, node)
    # The node's "docker.io" matches docker.io/library/nginx directly; the Secret's
    # index.docker.io only through the fallback.
    assert userpass(keyring.lookup("nginx")) == [("secret-hub", "1"), ("node-hub", "3")]
    assert userpass(keyring.lookup("quay.io/x/y")) == [("secret-quay", "2")]
    assert keyring.lookup("ghcr.io/x/y") == []


def test_lookup_normalises_as_the_kubelet() -> None:
    """ParseImageName: the kubelet looks up docker.io/library/nginx, tag and digest gone."""
    keyring = Keyring.from_config(
        {"docker.io/library": {"auth": b64("lib:1")}, "docker.io": {"auth": b64("hub:2")}},
        "cfg",
    )
    assert userpass(keyring.lookup("nginx:1.27")) == [("lib", "1"), ("hub", "2")]
    assert userpass(keyring.lookup("bitnami/redis")) == [("hub", "2")]
    # Before normalisation "nginx" has no host: only the fallback, which is empty here.
    assert keyring.lookup_repository("nginx") == []
    assert keyring.lookup("Not A Valid::Image") == []


def test_secrets_never_in_repr() -> None:
    keyring = Keyring.from_config({"reg.example": {"auth": b64("u:" + PASSWORD)}}, "cfg")
    assert PASSWORD not in repr(keyring)
    assert PASSWORD not in repr(keyring.lookup("reg.example/x"))
    assert PASSWORD not in str(keyring.lookup("reg.example/x")[0])


# --------------------------------------------------------------------------- properties

_LABEL = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
_HOST = st.lists(_LABEL, min_size=1, max_size=4).map(".".join)
_PORT = st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}"))
_PATH = st.lists(_LABEL, min_size=1, max_size=4)


@given(host=_HOST, port=_PORT, path=_PATH, depth=st.integers(0, 4),
       form=st.sampled_from(["{}", "https://{}", "http://{}", "https://{}/v1/", "{}/v2/"]))
def test_key_from_the_images_own_host_matches(
    host: str, port: str, path: list[str], depth: int, form: str
) -> None:
    """A key written from the image's own registry (any accepted form), optionally with a
    leading part of its path, always yields the credential."""
    prefix = "/".join(path[: min(depth, len(path))])
    location = form.format(host + port) + (("/" if not form.endswith("/") else "") + prefix
                                           if prefix else "")
    keyring = Keyring.from_config({location: {"auth": b64("u:p")}}, "cfg")
    assert userpass(keyring.lookup_repository(f"{host}{port}/{'/'.join(path)}")) == [("u", "p")]


@given(host=_HOST, port=_PORT, path=_PATH, which=st.integers(0, 3))
def test_star_label_matches(host: str, port: str, path: list[str], which: int) -> None:
    labels = host.split(".")
    labels[which % len(labels)] = "*"
    keyring = Keyring.from_config({".".join(labels) + port: {"auth": b64("u:p")}}, "cfg")
    assert keyring.lookup_repository(f"{host}{port}/{'/'.join(path)}") != []
    # One more label than the image has never matches.
    wider = Keyring.from_config({"*." + host + port: {"auth": b64("u:p")}}, "cfg")
    assert wider.lookup_repository(f"{host}{port}/{'/'.join(path)}") == []


@given(host=_HOST, path=_PATH, keys=st.lists(st.integers(0, 4), min_size=1, max_size=6))
def test_matches_come_in_reverse_alphabetical_key_order(
    host: str, path: list[str], keys: list[int]
) -> None:
    """Every matching key contributes, in reverse-sorted key order, whatever the insertion
    order."""
    locations = [host + "".join("/" + p for p in path[:n]) for n in keys]
    auths = {loc: {"username": normalize_key(loc) or "", "password": "p"} for loc in locations}
    keyring = Keyring.from_config(auths, "cfg")
    (index,) = keyring.indexes
    assert list(index) == sorted(set(index), reverse=True)
    found = [c.username for c in keyring.lookup_repository(f"{host}/{'/'.join(path)}")]
    assert found == sorted(set(found), reverse=True)
    assert set(found) == set(index)


@settings(max_examples=300)
@given(image=st.text(max_size=60), key=st.text(max_size=30))
def test_lookups_never_raise(image: str, key: str) -> None:
    keyring = Keyring.from_config({key: {}, "*.io": {}, "[": {}}, "cfg")
    assert isinstance(keyring.lookup(image), list)
    assert isinstance(keyring.lookup_repository(image), list)
    assert isinstance(urls_match_str(key, image), bool)


@given(pattern=st.text("ab*?", max_size=8), name=st.text("ab", max_size=8))
def test_glob_agrees_with_fnmatch_without_separators(pattern: str, name: str) -> None:
    """Without '/' or brackets, Go's Match and fnmatch mean the same thing."""
    assert go_filepath_match(pattern, name) is fnmatch.fnmatchcase(name, pattern)


@given(host=_HOST, port=_PORT, rest=st.lists(_LABEL, max_size=3))
def test_key_normalisation_forms_agree(host: str, port: str, rest: list[str]) -> None:
    hostport = host + port
    path = "".join("/" + r for r in rest)
    bare = hostport + path
    assert normalize_key(bare) == normalize_key("https://" + bare) == normalize_key(
        "http://" + bare) == bare
    assert normalize_key(f"https://{hostport}/v1{path or '/'}") == bare
    assert normalize_key(f"{hostport}/v2/") == hostport
