"""The test fixtures themselves, against the real tools they wrap.

If these pass, a registry-client test failing on top of them is the client's fault:
skopeo round-trips images through every registry flavour, credentials are really
checked, Distribution really accepts the token server's tokens, and each fault of the
proxy observably happens.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.distribution import Distribution, missing_requirements, start_distribution
from tests.support.faultproxy import FaultProxy
from tests.support.images import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    REF_NAME,
    ImageFactory,
    Media,
    make_image,
    make_index,
)
from tests.support.recording import RecordingServer
from tests.support.registry_http import (
    MANIFEST_ACCEPT,
    basic_auth,
    bearer_auth,
    fetch_token,
    parse_challenge,
    push_blob,
    request,
    sha256_digest,
)
from tests.support.secret import Secret
from tests.support.skopeo import Skopeo, SkopeoError
from tests.support.tokenserver import TokenServer, decode_jwt, libtrust_key_id

REGISTRIES = ["distribution_open", "distribution_basic", "distribution_bearer"]
StartRegistry = Callable[..., Distribution]
StartProxy = Callable[[Distribution | str], FaultProxy]


def _creds(registry: Distribution) -> tuple[str, str] | None:
    return next(iter(registry.users.items()), None)


def _login(registry: Distribution) -> tuple[str, str]:
    creds = _creds(registry)
    assert creds is not None, f"{registry!r} has no users"
    return creds


def _blob(size: int, seed: int) -> bytes:
    return hashlib.shake_256(f"blob-{seed}".encode()).digest(size)


# -- images ------------------------------------------------------------------------------


@pytest.mark.parametrize("media", ["oci", "docker"])
def test_images_are_deterministic_and_self_consistent(tmp_path: Path, media: Media) -> None:
    one = make_image(tmp_path / "a", "v1", layers=[b"hello", 3000], media=media)
    two = make_image(tmp_path / "b", "v1", layers=[b"hello", 3000], media=media)
    other = make_image(tmp_path / "a", "v2", layers=[b"hello", 3000], media=media)

    assert one.digest == two.digest and one.blob_digests == two.blob_digests
    assert other.digest != one.digest  # the seed defaults to the tag
    assert one.media_type == (OCI_MANIFEST if media == "oci" else DOCKER_MANIFEST)
    manifest = json.loads(one.manifest)
    assert manifest["config"]["digest"] == one.config.digest
    assert [layer["digest"] for layer in manifest["layers"]] == [b.digest for b in one.layers]
    for blob in one.blobs:
        data = blob.path.read_bytes()
        assert sha256_digest(data) == blob.digest and len(data) == blob.size
    index = json.loads((tmp_path / "a" / "index.json").read_text())
    tags = {m["annotations"][REF_NAME]: m["digest"] for m in index["manifests"]}
    assert tags == {"v1": one.digest, "v2": other.digest}
    config = json.loads(one.config.path.read_bytes())
    assert (config["os"], config["architecture"]) == ("linux", "amd64")
    assert len(config["rootfs"]["diff_ids"]) == 2


def test_raw_layers_stream_incompressible_bytes(tmp_path: Path) -> None:
    image = make_image(tmp_path, "big", layers=[3 * 1024 * 1024 + 5], raw=True)
    layer = image.layers[0]
    assert layer.size == 3 * 1024 * 1024 + 5
    assert layer.media_type.endswith(".tar")  # uncompressed: diff_id is the digest
    assert json.loads(image.config.path.read_bytes())["rootfs"]["diff_ids"] == [layer.digest]
    again = make_image(tmp_path / "again", "big", layers=[3 * 1024 * 1024 + 5], raw=True)
    assert again.layers[0].digest == layer.digest


@pytest.mark.parametrize(("media", "index_type"), [("oci", OCI_INDEX), ("docker", DOCKER_LIST)])
def test_make_index_covers_three_platforms(tmp_path: Path, media: Media, index_type: str) -> None:
    info = make_index(tmp_path, "multi", media=media)
    doc = json.loads(info.index)
    assert info.media_type == index_type == doc["mediaType"]
    platforms = [
        (p["os"], p["architecture"], p.get("variant"))
        for p in (m["platform"] for m in doc["manifests"])
    ]
    assert platforms == [("linux", "amd64", None), ("linux", "arm64", "v8"), ("linux", "arm", "v7")]
    assert len({m.digest for m in info.manifests}) == 3  # the children really differ
    assert info.for_platform(("linux", "arm", "v7")).digest == doc["manifests"][2]["digest"]


# -- registries + skopeo -----------------------------------------------------------------


@pytest.mark.parametrize("registry_name", REGISTRIES)
def test_skopeo_round_trip_keeps_digests(
    request: pytest.FixtureRequest,
    registry_name: str,
    skopeo: Skopeo,
    image_factory: ImageFactory,
    tmp_path: Path,
) -> None:
    registry: Distribution = request.getfixturevalue(registry_name)
    creds = _creds(registry)
    token_fetches = registry.token.count(status=200) if registry.token else 0
    image = image_factory.make_image(f"round-{registry_name}", layers=[2048, 4096])
    remote = f"docker://{registry.host}/support/{registry_name}:v1"

    skopeo.copy(image.ref, remote, creds=creds)
    raw = skopeo.inspect_raw(remote, creds=creds)
    assert raw == image.manifest and sha256_digest(raw) == image.digest

    pulled = tmp_path / "pulled"
    skopeo.copy(remote, f"oci:{pulled}:v1", creds=creds)
    index = json.loads((pulled / "index.json").read_text())
    assert [m["digest"] for m in index["manifests"]] == [image.digest]
    for blob in image.blobs:
        hexdigest = blob.digest.partition(":")[2]
        assert (pulled / "blobs" / "sha256" / hexdigest).read_bytes() == blob.path.read_bytes()

    # The registry kept the blobs in its own storage directory.
    assert (registry.storage / "docker" / "registry" / "v2" / "blobs").is_dir()
    if registry.token is not None:
        assert registry.token.count(status=200) > token_fetches
        assert all(r.username == "bob" for r in registry.token.requests if r.status == 200)


@pytest.mark.parametrize("media", ["oci", "docker"])
def test_multi_arch_index_round_trip(
    distribution_open: Distribution,
    skopeo: Skopeo,
    image_factory: ImageFactory,
    media: str,
) -> None:
    info = image_factory.make_index(f"multi-{media}", media=media)
    repo = f"support/multi-{media}"
    skopeo.copy(info.ref, f"docker://{distribution_open.host}/{repo}:v1", multi_arch="all")

    top = request(
        f"{distribution_open.url}/v2/{repo}/manifests/v1", headers={"Accept": MANIFEST_ACCEPT}
    )
    assert top.status == 200 and top.body == info.index
    assert top.headers["Docker-Content-Digest"] == info.digest
    assert top.headers["Content-Type"] == info.media_type
    for child in info.manifests:
        got = request(
            f"{distribution_open.url}/v2/{repo}/manifests/{child.digest}",
            headers={"Accept": MANIFEST_ACCEPT},
        )
        assert got.status == 200 and got.body == child.manifest


@pytest.mark.parametrize("registry_name", ["distribution_basic", "distribution_bearer"])
def test_wrong_credentials_are_refused(
    request: pytest.FixtureRequest,
    registry_name: str,
    skopeo: Skopeo,
    image_factory: ImageFactory,
) -> None:
    registry: Distribution = request.getfixturevalue(registry_name)
    user, password = _login(registry)
    wrong = Secret("not-" + password)
    image = image_factory.make_image("refused", layers=[100])

    with pytest.raises(SkopeoError) as caught:
        skopeo.copy(image.ref, f"docker://{registry.host}/support/refused:v1", creds=(user, wrong))
    message = str(caught.value)
    assert "unauthorized" in message.lower()
    echoed = password in message or wrong in message
    assert not echoed, "skopeo's error message shows a password"

    # Anonymous pushes fail as well: auth is really on.
    with pytest.raises(SkopeoError):
        skopeo.copy(image.ref, f"docker://{registry.host}/support/refused:v1")


def test_basic_registry_checks_the_password(distribution_basic: Distribution) -> None:
    user, password = _login(distribution_basic)
    url = f"{distribution_basic.url}/v2/"
    anonymous = request(url)
    assert anonymous.status == 401
    assert parse_challenge(anonymous.headers["WWW-Authenticate"])[0] == "basic"
    assert request(url, headers=basic_auth(user, "not-" + password)).status == 401
    assert request(url, headers=basic_auth(user, password)).status == 200
    in_log = password in distribution_basic.log_text()
    assert not in_log, "the registry log shows the password"
    assert repr(distribution_basic.users) == "{'alice': '<redacted>'}"
    assert "alice" not in repr(distribution_basic)


# -- token server + Distribution's token auth --------------------------------------------


def test_bearer_challenge_token_and_access(distribution_bearer: Distribution) -> None:
    token_server = distribution_bearer.token
    assert token_server is not None
    user, password = _login(distribution_bearer)
    repo = "support/token-flow"
    data = _blob(5000, 1)
    digest = sha256_digest(data)
    blob_url = f"{distribution_bearer.url}/v2/{repo}/blobs/{digest}"

    # 1. The registry challenges with the token server's realm, its service and the scope.
    challenge = request(blob_url)
    assert challenge.status == 401
    scheme, params = parse_challenge(challenge.headers["WWW-Authenticate"])
    assert scheme == "bearer"
    assert params["realm"] == token_server.realm
    assert params["service"] == token_server.service
    assert params["scope"] == f"repository:{repo}:pull"

    # 2. The token carries what was asked for, for this registry.
    before = token_server.count(grant="basic", status=200)
    scope = f"repository:{repo}:pull,push"
    answer = fetch_token(params["realm"], params["service"], [scope], credentials=(user, password))
    assert answer.status == 200
    body = answer.json()
    same_token = body["token"] == body["access_token"]
    assert same_token, "token and access_token differ"
    assert body["expires_in"] == 300 and body["issued_at"].endswith("Z")
    header, claims = decode_jwt(body["token"])
    assert header["alg"] == "RS256" and len(header["x5c"]) == 1
    assert claims["access"] == [{"type": "repository", "name": repo, "actions": ["pull", "push"]}]
    assert claims["aud"] == token_server.service and claims["iss"] == token_server.issuer
    assert claims["sub"] == user and claims["nbf"] <= time.time() < claims["exp"]
    assert token_server.count(grant="basic", status=200) == before + 1
    record = token_server.requests[-1]
    assert record.scopes == (scope,) and record.authorization and record.access

    # 3. Distribution accepts it for push and pull.
    auth = bearer_auth(body["token"])
    assert push_blob(distribution_bearer.url, repo, data, headers=auth) == digest
    pulled = request(blob_url, headers=auth)
    assert pulled.status == 200 and pulled.body == data

    # 4. A pull-only token cannot push: Distribution checks the access claim.
    pull_only = fetch_token(
        token_server.realm,
        token_server.service,
        [f"repository:{repo}:pull"],
        credentials=(user, password),
    ).json()["token"]
    refused = request(
        f"{distribution_bearer.url}/v2/{repo}/blobs/uploads/",
        "POST",
        headers=bearer_auth(pull_only),
    )
    assert refused.status == 401
    assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
    assert request(blob_url, headers=bearer_auth(pull_only)).status == 200


def test_token_server_refuses_wrong_password(distribution_bearer: Distribution) -> None:
    token_server = distribution_bearer.token
    assert token_server is not None
    user, password = _login(distribution_bearer)
    answer = fetch_token(
        token_server.realm,
        token_server.service,
        ["repository:support/x:pull"],
        credentials=(user, "not-" + password),
    )
    assert answer.status == 401
    assert token_server.requests[-1].status == 401
    assert token_server.requests[-1].grant == "basic"
    recorded = password in repr(token_server.requests)
    assert not recorded, "a token request record holds the password"


@pytest.mark.parametrize(
    ("key_type", "key_reference", "audience_as_list", "accepted"),
    [
        ("rsa", "kid", False, True),
        ("ec", "x5c", False, True),
        ("ec", "kid", False, True),
        # Distribution 2.8's ClaimSet.Audience is a Go string: a JSON list is "malformed".
        ("rsa", "x5c", True, False),
    ],
)
def test_distribution_verifies_each_token_style(
    fresh_distribution: StartRegistry,
    token_server: Callable[..., TokenServer],
    key_type: str,
    key_reference: str,
    audience_as_list: bool,
    accepted: bool,
) -> None:
    server = token_server(
        users={"carol": "pw-for-this-test-only"},
        key_type=key_type,
        key_reference=key_reference,
        audience_as_list=audience_as_list,
    )
    registry = fresh_distribution("token", token=server)
    body = fetch_token(
        server.realm,
        server.service,
        ["registry:catalog:*"],
        credentials=("carol", "pw-for-this-test-only"),
    ).json()
    header, _claims = decode_jwt(body["token"])
    assert header["alg"] == ("RS256" if key_type == "rsa" else "ES256")
    if key_reference == "kid":
        assert header["kid"] == libtrust_key_id(server.material.ca_cert.public_key())
    answer = request(f"{registry.url}/v2/_catalog", headers=bearer_auth(body["token"]))
    assert answer.status == (200 if accepted else 401)
    if not accepted:
        assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]


def test_anonymous_tokens_pull_only_public_repositories(
    fresh_distribution: StartRegistry, token_server: Callable[..., TokenServer]
) -> None:
    server = token_server(users={"bob": "pw-for-this-test-only"}, public_repos=["public/*"])
    registry = fresh_distribution("token", token=server)
    push_token = fetch_token(
        server.realm,
        server.service,
        ["repository:public/app:push,pull", "repository:private/app:push,pull"],
        credentials=("bob", "pw-for-this-test-only"),
    ).json()["token"]
    data = _blob(1000, 2)
    for repo in ("public/app", "private/app"):
        push_blob(registry.url, repo, data, headers=bearer_auth(push_token))

    anonymous = fetch_token(
        server.realm,
        server.service,
        ["repository:public/app:pull,push", "repository:private/app:pull"],
    )
    assert anonymous.status == 200
    _header, claims = decode_jwt(anonymous.json()["token"])
    assert claims["sub"] == ""
    assert claims["access"] == [{"type": "repository", "name": "public/app", "actions": ["pull"]}]
    assert server.requests[-1].grant == "anonymous" and not server.requests[-1].authorization
    auth = bearer_auth(anonymous.json()["token"])
    digest = sha256_digest(data)
    assert request(f"{registry.url}/v2/public/app/blobs/{digest}", headers=auth).status == 200
    denied = request(f"{registry.url}/v2/private/app/blobs/{digest}", headers=auth)
    assert denied.status == 401
    assert 'error="insufficient_scope"' in denied.headers["WWW-Authenticate"]

    server.anonymous = False
    assert fetch_token(server.realm, server.service, ["repository:public/app:pull"]).status == 401


def test_token_post_grants_and_response_shapes(token_server: Callable[..., TokenServer]) -> None:
    password = "pw-for-this-test-only"
    server = token_server(users={"dave": password}, token_fields=("token",), expires_in=None)
    form = {
        "grant_type": "password",
        "username": "dave",
        "password": password,
        "service": server.service,
        "scope": "repository:a/b:pull",
        "client_id": "hoist-tests",
    }

    def post(fields: dict[str, str]) -> tuple[int, dict[str, object]]:
        encoded = "&".join(f"{k}={v}" for k, v in fields.items()).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        answer = request(server.realm, "POST", headers=headers, body=encoded)
        return answer.status, answer.json()

    status, body = post(form)
    assert status == 200
    assert set(body) == {"token", "issued_at", "refresh_token"}  # no access_token, expires_in
    refresh = body["refresh_token"]
    assert isinstance(refresh, str)
    status, again = post(
        {"grant_type": "refresh_token", "refresh_token": refresh, "service": server.service}
    )
    assert status == 200
    fresh = again["token"] != body["token"]
    assert fresh, "the refresh grant returned the old token"
    assert decode_jwt(str(again["token"]))[1]["sub"] == "dave"

    assert post({**form, "password": "wrong"})[0] == 401
    assert post({"grant_type": "refresh_token", "refresh_token": "unknown"})[0] == 401
    assert post({"grant_type": "client_credentials"})[0] == 400
    assert [r.grant for r in server.requests] == [
        "password",
        "refresh_token",
        "password",
        "refresh_token",
        "client_credentials",
    ]
    assert [r.status for r in server.requests] == [200, 200, 401, 401, 400]
    assert "password" not in server.requests[0].query  # records hold no secrets

    offline = request(
        f"{server.realm}?service={server.service}&offline_token=true",
        headers=basic_auth("dave", password),
    ).json()
    assert "refresh_token" in set(offline)  # keys only: the values are tokens


# -- fault proxy ---------------------------------------------------------------------------


@pytest.fixture
def seeded_blob(distribution_open: Distribution) -> tuple[str, bytes]:
    """A 64 KiB blob in support/faults on the open registry: (blob path, bytes)."""
    data = _blob(64 * 1024, 3)
    digest = push_blob(distribution_open.url, "support/faults", data)
    return f"/v2/support/faults/blobs/{digest}", data


def _get_on(conn: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    conn.request("GET", path)
    response = conn.getresponse()
    return response.status, response.read()


def test_proxy_forwards_keep_alive_requests(
    distribution_open: Distribution, fault_proxy: StartProxy, seeded_blob: tuple[str, bytes]
) -> None:
    path, data = seeded_blob
    proxy = fault_proxy(distribution_open)
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    try:
        conn.request("HEAD", path)
        head = conn.getresponse()
        head.read()
        assert head.status == 200 and int(head.headers["Content-Length"]) == len(data)
        assert _get_on(conn, path) == (200, data)
        assert _get_on(conn, "/v2/")[0] == 200
    finally:
        conn.close()
    stats = proxy.stats
    assert (stats.connections, stats.requests) == (1, 3)
    assert stats.bytes_down > len(data) and stats.bytes_up > 0 and stats.events == []


def test_truncate_sends_less_than_content_length(
    distribution_open: Distribution, fault_proxy: StartProxy, seeded_blob: tuple[str, bytes]
) -> None:
    path, data = seeded_blob
    proxy = fault_proxy(distribution_open)
    rule = proxy.truncate_after(1000, path=r"/blobs/sha256:")
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    conn.request("GET", path)
    response = conn.getresponse()
    assert int(response.headers["Content-Length"]) == len(data)
    with pytest.raises(http.client.IncompleteRead) as caught:
        response.read()
    conn.close()
    assert len(caught.value.partial) == 1000 and caught.value.partial == data[:1000]
    assert rule.fired == 1
    # times=1: the next request goes through whole.
    assert request(f"{proxy.url}{path}").body == data


def test_reset_cuts_the_connection(
    distribution_open: Distribution, fault_proxy: StartProxy, seeded_blob: tuple[str, bytes]
) -> None:
    path, data = seeded_blob
    proxy = fault_proxy(distribution_open)
    rule = proxy.reset_after(2048)
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {proxy.host}\r\n\r\n".encode())
    received = b""
    with pytest.raises(ConnectionResetError):
        while chunk := sock.recv(65536):
            received += chunk
    sock.close()
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert body == data[: len(body)] and len(body) <= 2048
    assert rule.fired == 1


def test_stall_delays_the_body(
    distribution_open: Distribution, fault_proxy: StartProxy, seeded_blob: tuple[str, bytes]
) -> None:
    path, data = seeded_blob
    proxy = fault_proxy(distribution_open)
    proxy.stall(0.4, after_bytes=100)
    started = time.monotonic()
    assert request(f"{proxy.url}{path}").body == data
    assert time.monotonic() - started >= 0.4


def test_flip_byte_changes_the_digest(
    distribution_open: Distribution, fault_proxy: StartProxy, seeded_blob: tuple[str, bytes]
) -> None:
    path, data = seeded_blob
    proxy = fault_proxy(distribution_open)
    rule = proxy.flip_byte(40_000, path=r"/blobs/")
    got = request(f"{proxy.url}{path}").body
    assert len(got) == len(data) and sha256_digest(got) != sha256_digest(data)
    assert [i for i in range(len(data)) if got[i] != data[i]] == [40_000]
    assert got[40_000] ^ data[40_000] == 1
    assert rule.fired == 1


def test_injected_statuses(
    distribution_open: Distribution, fault_proxy: StartProxy, seeded_blob: tuple[str, bytes]
) -> None:
    path, data = seeded_blob
    proxy = fault_proxy(distribution_open)
    proxy.http_status(429, {"Retry-After": "3"}, path=r"/blobs/", times=2)
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    try:
        for _ in range(2):
            conn.request("GET", path)
            limited = conn.getresponse()
            body = json.loads(limited.read())
            assert limited.status == 429 and limited.headers["Retry-After"] == "3"
            assert body["errors"][0]["code"] == "TOOMANYREQUESTS"
        # Same keep-alive connection, rule used up: the registry answers again.
        assert _get_on(conn, path) == (200, data)
    finally:
        conn.close()

    # connections=1: every request on the next connection fails, a later one does not.
    proxy.http_500(connections=1)
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    try:
        assert _get_on(conn, "/v2/")[0] == 500
        assert _get_on(conn, path)[0] == 500
    finally:
        conn.close()
    assert request(f"{proxy.url}/v2/").status == 200
    assert [e.kind for e in proxy.stats.events] == ["status"] * 4


def test_blob_redirect_lands_on_the_recording_server(
    distribution_open: Distribution,
    fault_proxy: StartProxy,
    recording_server: RecordingServer,
    seeded_blob: tuple[str, bytes],
) -> None:
    path, data = seeded_blob
    assert recording_server.host.split(":")[0] in ("127.0.0.2", "localhost")
    recording_server.add(path, data, headers={"Content-Type": "application/octet-stream"})
    proxy = fault_proxy(distribution_open)
    proxy.redirect_blobs(recording_server.url, times=None)

    # Manifests and HEADs are not redirected, blob GETs are.
    assert request(f"{proxy.url}/v2/").status == 200
    assert request(f"{proxy.url}{path}", "HEAD").status == 200
    redirect = request(f"{proxy.url}{path}", headers=bearer_auth("registry-token"))
    assert redirect.status == 307
    location = redirect.headers["Location"]
    assert location == f"{recording_server.url}{path}"

    # A careful client drops Authorization for the other host...
    followed = request(location)
    assert followed.status == 200 and followed.body == data
    assert not recording_server.requests[-1].has_authorization

    # ...and the recorder does notice one that does not: urllib forwards the header.
    plain = urllib.request.Request(f"{proxy.url}{path}", headers=bearer_auth("registry-token"))
    with urllib.request.urlopen(plain, timeout=10) as response:
        assert response.read() == data
    leaked = recording_server.requests[-1]
    assert leaked.has_authorization and leaked.header("authorization") == "<redacted>"


def test_skopeo_push_and_pull_through_the_proxy(
    distribution_open: Distribution,
    fault_proxy: StartProxy,
    skopeo: Skopeo,
    image_factory: ImageFactory,
    tmp_path: Path,
) -> None:
    proxy = fault_proxy(distribution_open)
    image = image_factory.make_image("via-proxy", layers=[300_000, 2000])
    remote = f"docker://{proxy.host}/support/via-proxy:v1"
    skopeo.copy(image.ref, remote)
    up = proxy.stats
    skopeo.copy(remote, f"oci:{tmp_path / 'pulled'}:v1")
    down = proxy.stats

    total = sum(b.size for b in image.blobs)
    assert up.bytes_up >= total  # every blob went up through the proxy
    assert down.bytes_down - up.bytes_down >= total  # and came back down through it
    assert down.requests > up.requests > 0
    index = json.loads((tmp_path / "pulled" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == image.digest


def test_proxy_reset_makes_skopeo_fail(
    distribution_open: Distribution,
    fault_proxy: StartProxy,
    skopeo: Skopeo,
    image_factory: ImageFactory,
    tmp_path: Path,
) -> None:
    image = image_factory.make_image("reset-me", layers=[200_000])
    skopeo.copy(image.ref, f"docker://{distribution_open.host}/support/reset-me:v1")
    proxy = fault_proxy(distribution_open)
    # Every blob GET is cut; skopeo is run without retries, so the pull must fail.
    proxy.reset_after(1000, path=r"/blobs/sha256:", method="GET", times=None)
    with pytest.raises(SkopeoError):
        skopeo.copy(f"docker://{proxy.host}/support/reset-me:v1", f"oci:{tmp_path / 'pulled'}:v1")
    assert any(e.kind == "reset" for e in proxy.stats.events)


# -- lifecycle -----------------------------------------------------------------------------


def test_fresh_distribution_is_empty_and_stops_by_pid(fresh_distribution: StartRegistry) -> None:
    registry = fresh_distribution(delete_enabled=False)
    assert registry.running and registry.host == f"127.0.0.1:{registry.port}"
    assert registry.url == f"http://{registry.host}"
    assert request(f"{registry.url}/v2/_catalog").json() == {"repositories": []}
    assert "delete:\n    enabled: false" in registry.config_path.read_text()
    digest = push_blob(registry.url, "support/nodelete", b"x" * 10)
    deleted = request(f"{registry.url}/v2/support/nodelete/blobs/{digest}", "DELETE")
    assert deleted.status == 405  # storage.delete.enabled: false

    registry.stop()
    assert not registry.running
    with pytest.raises(ProcessLookupError):
        os.kill(registry.pid, 0)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", registry.port), timeout=1).close()
    assert registry.log_path.exists()
    registry.stop()  # idempotent


def test_recording_server_is_another_host(recording_server: RecordingServer) -> None:
    answer = request(f"{recording_server.url}/anything?x=1", headers={"X-Probe": "1"})
    assert answer.status == 200 and answer.body
    recorded = recording_server.requests[-1]
    assert (recorded.method, recorded.path) == ("GET", "/anything?x=1")
    assert recorded.header("x-probe") == "1" and not recorded.has_authorization
    assert not recording_server.host.startswith("127.0.0.1:")


@pytest.mark.system
def test_distribution_objects_work_as_context_managers(tmp_path: Path) -> None:
    reason = missing_requirements("none")
    if reason:
        pytest.skip(reason=reason)
    with start_distribution(tmp_path / "ctx") as registry:
        assert request(f"{registry.url}/v2/").status == 200
    assert not registry.running
