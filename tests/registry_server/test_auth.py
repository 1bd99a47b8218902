"""htpasswd Basic auth and the server's own Bearer tokens, with raw HTTP and real clients."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from hoist.auth.credential import Credential
from hoist.transfer import Options, copy
from tests.registry_server._helpers import error_code, push_image, unique
from tests.support.images import ImageFactory
from tests.support.registry_http import (
    basic_auth,
    bearer_auth,
    fetch_token,
    parse_challenge,
    request,
)
from tests.support.registry_server_fixtures import HoistRegistry
from tests.support.skopeo import Skopeo

Factory = Callable[..., HoistRegistry]


def test_basic_auth(hoist_registry_factory: Factory, skopeo: Skopeo,
                    image_factory: ImageFactory) -> None:
    registry = hoist_registry_factory(auth="basic")
    user, password = next(iter(registry.users.items()))
    base = registry.url
    r = request(f"{base}/v2/")
    assert r.status == 401
    assert error_code(r) == "UNAUTHORIZED"
    assert parse_challenge(r.headers["WWW-Authenticate"]) == ("basic",
                                                              {"realm": "hoist-registry"})
    assert request(f"{base}/v2/", headers=basic_auth(user, "wrong")).status == 401
    assert request(f"{base}/v2/", headers=basic_auth("mallory", password)).status == 401
    assert request(f"{base}/v2/", headers={"Authorization": "Basic !!!"}).status == 401
    good = basic_auth(user, password)
    assert request(f"{base}/v2/", headers=good).status == 200
    name = unique("basic")
    push_image(base, name, "v1", headers=good)
    assert request(f"{base}/v2/{name}/manifests/v1").status == 401
    assert request(f"{base}/v2/{name}/manifests/v1", headers=good).status == 200
    # skopeo with credentials, both ways
    image = image_factory.make_image("basic-auth")
    skopeo.copy(image.ref, f"docker://{registry.host}/{name}:skopeo", creds=(user, password))
    assert skopeo.inspect(f"docker://{registry.host}/{name}:skopeo",
                          creds=(user, password))["Digest"] == image.digest
    # the password never reaches the log
    leaked = password in registry.log_text()
    assert not leaked
    assert f" {user} [" in registry.log_text()  # the access log names the user


def test_token_auth(hoist_registry_factory: Factory, skopeo: Skopeo,
                    image_factory: ImageFactory) -> None:
    registry = hoist_registry_factory(auth="token")
    user, password = next(iter(registry.users.items()))
    base, name = registry.url, unique("token")
    r = request(f"{base}/v2/{name}/manifests/v1")
    assert r.status == 401
    scheme, params = parse_challenge(r.headers["WWW-Authenticate"])
    assert scheme == "bearer"
    assert params == {"realm": f"{base}/token", "service": "hoist-registry",
                      "scope": f"repository:{name}:pull"}
    # wrong password at the token endpoint: 401
    assert fetch_token(params["realm"], params["service"], [params["scope"]],
                       credentials=(user, "wrong")).status == 401
    # an anonymous token grants nothing
    anonymous = fetch_token(params["realm"], params["service"], [params["scope"]]).json()
    assert request(f"{base}/v2/{name}/manifests/v1",
                   headers=bearer_auth(anonymous["token"])).status == 401
    # a pull token does not push
    pull = fetch_token(params["realm"], params["service"], [f"repository:{name}:pull"],
                       credentials=(user, password)).json()
    assert pull["expires_in"] > 0 and pull["access_token"] == pull["token"]
    r = request(f"{base}/v2/{name}/blobs/uploads/", "POST", body=b"",
                headers=bearer_auth(pull["token"]))
    assert r.status == 401
    assert 'scope="repository:' in r.headers["WWW-Authenticate"]
    assert "push" in r.headers["WWW-Authenticate"]
    push = fetch_token(params["realm"], params["service"],
                       [f"repository:{name}:pull,push"], credentials=(user, password)).json()
    push_image(base, name, "v1", headers=bearer_auth(push["token"]))
    assert request(f"{base}/v2/{name}/manifests/v1",
                   headers=bearer_auth(pull["token"])).status == 200
    # a token for another repository does not open this one
    other = fetch_token(params["realm"], params["service"], ["repository:other/repo:pull"],
                        credentials=(user, password)).json()
    assert request(f"{base}/v2/{name}/manifests/v1",
                   headers=bearer_auth(other["token"])).status == 401
    # a tampered token is refused
    forged = pull["token"][:-4] + ("AAAA" if not pull["token"].endswith("AAAA") else "BBBB")
    assert request(f"{base}/v2/{name}/manifests/v1",
                   headers=bearer_auth(forged)).status == 401
    # Basic credentials are not enough where tokens are required
    assert request(f"{base}/v2/{name}/manifests/v1",
                   headers=basic_auth(user, password)).status == 401
    # the OAuth2 password and refresh-token grants (docker login's POST flow)
    form = urllib.parse.urlencode({"grant_type": "password", "username": user,
                                   "password": password, "service": "hoist-registry",
                                   "scope": f"repository:{name}:pull", "client_id": "test",
                                   "access_type": "offline"}).encode()
    r = request(f"{base}/token", "POST", body=form,
                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 200
    refresh = r.json()["refresh_token"]
    form = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": refresh,
                                   "service": "hoist-registry",
                                   "scope": f"repository:{name}:pull"}).encode()
    r = request(f"{base}/token", "POST", body=form,
                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 200
    assert request(f"{base}/v2/{name}/manifests/v1",
                   headers=bearer_auth(r.json()["access_token"])).status == 200
    # real clients follow the challenge
    image = image_factory.make_index("token-auth")
    skopeo.copy(image.ref, f"docker://{registry.host}/{name}:multi", creds=(user, password))
    result = copy(f"docker://{registry.host}/{name}:multi",
                  f"docker://{registry.host}/{name}-copy:multi",
                  Options(credentials=Credential(username=user, password=password)))
    assert str(result.digest) == image.digest
    leaked = password in registry.log_text()
    assert not leaked


def test_read_only(hoist_registry_factory: Factory) -> None:
    writer = hoist_registry_factory(in_thread=True)
    name = unique("ro")
    manifest, _ = push_image(writer.url, name, "v1")
    writer.stop()
    reader = hoist_registry_factory(store=writer.store, read_only=True)
    base = reader.url
    assert request(f"{base}/v2/{name}/manifests/v1").body == manifest
    for method, path in (("POST", f"/v2/{name}/blobs/uploads/"),
                         ("PUT", f"/v2/{name}/manifests/v2"),
                         ("DELETE", f"/v2/{name}/manifests/v1"),
                         ("PATCH", f"/v2/{name}/blobs/uploads/0123")):
        r = request(base + path, method, body=b"{}")
        assert r.status == 405, (method, path)
        assert error_code(r) == "UNSUPPORTED"
    assert request(f"{base}/v2/{name}/manifests/v1").status == 200


def test_hoist_login_then_pull(hoist_registry_factory: Factory, image_factory: ImageFactory,
                               tmp_path: Path) -> None:
    for auth in ("basic", "token"):
        registry = hoist_registry_factory(auth=auth)
        user, password = next(iter(registry.users.items()))
        image = image_factory.make_image(f"hoist-login-{auth}")
        name = unique("hlogin")
        copy(f"oci:{image_factory.layout_dir}:hoist-login-{auth}",
             f"docker://{registry.host}/{name}:v1",
             Options(credentials=Credential(username=user, password=password)))
        authfile = tmp_path / f"config-{auth}.json"
        env = {**os.environ, "DOCKER_CONFIG": str(tmp_path / "unused")}
        hoist = [sys.executable, "-m", "hoist"]
        bad = subprocess.run([*hoist, "login", registry.host, "-u", user, "--authfile",
                              str(authfile)], input="wrong\n", capture_output=True, text=True,
                             env=env, timeout=60)
        assert bad.returncode != 0
        good = subprocess.run([*hoist, "login", registry.host, "-u", user, "--authfile",
                               str(authfile)], input=password + "\n", capture_output=True,
                              text=True, env=env, timeout=60)
        assert good.returncode == 0, good.stderr
        out = subprocess.run([*hoist, "resolve", f"{registry.host}/{name}:v1", "--authfile",
                              str(authfile), "-o", "json"], capture_output=True, text=True,
                             env=env, timeout=60)
        assert out.returncode == 0, out.stderr
        assert image.digest in out.stdout
