"""``hoist doctor`` against real registries (Distribution, with htpasswd and token auth),
a fault proxy in front of one, a closed port and a TLS listener: every outcome at least
once, through the CLI, with the JSON document and the exit code users rely on."""

from __future__ import annotations

import base64
import json
import secrets
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hoist.auth.credential import Credential
from hoist.cluster.store import Cluster
from hoist.doctor import COLUMNS
from hoist.node.builtin import BuiltinRuntime
from hoist.node.runtime import AuthConfig
from tests.doctor._support import (
    by_container,
    doctor,
    non_loopback_address,
    pod,
    push_image,
    push_index,
    secret,
    service_account,
    tls_listener,
    write_manifests,
)
from tests.support._net import free_port
from tests.support.distribution import Distribution
from tests.support.faultproxy import FaultProxy
from tests.support.images import ImageFactory
from tests.support.registry_server_fixtures import HoistRegistry

Capsys = pytest.CaptureFixture[str]
StartProxy = Callable[[Distribution | str], FaultProxy]


def unique(prefix: str) -> str:
    return f"doctor/{prefix}-{secrets.token_hex(4)}"


def wrong_password() -> str:
    return "Wrong-" + secrets.token_hex(8)


# ---------------------------------------------------------------------- ok and not found

def test_ok_and_unknown_repository_tag_and_digest(
        distribution_open: Distribution, image_factory: ImageFactory, tmp_path: Path,
        capsys: Capsys) -> None:
    host = distribution_open.host
    repo = unique("found")
    digest = push_image(image_factory, host, repo, "v1")
    missing_digest = "sha256:" + "0" * 64
    path = write_manifests(tmp_path / "pods.yaml", pod("app", {
        "good": f"{host}/{repo}:v1",
        "pinned": f"{host}/{repo}@{digest}",
        "norepo": f"{host}/{unique('absent')}:v1",
        "notag": f"{host}/{repo}:v2",
        "nodigest": f"{host}/{repo}@{missing_digest}",
    }))

    run = doctor(capsys, path, "-o", "json")
    assert run.code == 1, run.err
    rows = by_container(run.rows())
    assert [r["outcome"] for r in run.rows()] == [
        "ok", "ok", "unknown-repository", "unknown-tag", "unknown-digest"]
    assert list(rows["good"]) == list(COLUMNS)
    good = rows["good"]
    assert good["file"] == path and good["line"] > 0 and good["namespace"] == "default"
    assert good["pod"] == "app" and good["container_type"] == "regular"
    assert good["credential"] == "anonymous"
    assert digest[:19] in good["detail"]
    assert f"no tag v2 in {host}/{repo}; it has v1" in rows["notag"]["detail"]
    assert "push tag v2" in rows["notag"]["hint"]
    assert "has no repository" in rows["norepo"]["detail"]
    assert missing_digest[:19] in rows["nodigest"]["detail"]

    only_good = write_manifests(tmp_path / "good.yaml",
                                pod("app", {"good": f"{host}/{repo}:v1"}))
    table = doctor(capsys, only_good)
    assert table.code == 0, table.err
    header = table.out.splitlines()[0]
    for word in ("FILE:LINE / POD", "CONTAINER", "IMAGE", "OUTCOME", "DETAIL", "NEXT STEP"):
        assert word in header
    assert f"{only_good}:" in table.out and " ok " in table.out


def test_ok_index_and_no_platform(distribution_open: Distribution,
                                  image_factory: ImageFactory, tmp_path: Path,
                                  capsys: Capsys) -> None:
    host = distribution_open.host
    multi, foreign = unique("multi"), unique("foreign")
    push_index(image_factory, host, multi, [("linux", "amd64"), ("linux", "arm64", "v8")])
    push_index(image_factory, host, foreign, [("linux", "s390x"), ("windows", "amd64")])
    path = write_manifests(tmp_path / "pods.yaml", pod("app", {
        "multi": f"{host}/{multi}:v1", "foreign": f"{host}/{foreign}:v1"}))

    rows = by_container(doctor(capsys, path, "--platform", "linux/amd64", "-o", "json").rows())
    assert rows["multi"]["outcome"] == "ok"
    assert "linux/amd64 is sha256:" in rows["multi"]["detail"]
    assert rows["foreign"]["outcome"] == "no-platform"
    assert "no image for the node's platform linux/amd64" in rows["foreign"]["detail"]
    assert "linux/s390x" in rows["foreign"]["detail"]
    assert "windows/amd64" in rows["foreign"]["detail"]

    # The node's platform decides: an arm64 node finds its image in the first index.
    arm = by_container(doctor(capsys, path, "--platform", "linux/arm64", "-o", "json").rows())
    assert arm["multi"]["outcome"] == "ok" and "linux/arm64 is" in arm["multi"]["detail"]


# ---------------------------------------------------------------------- credentials

def test_unauthorized_with_a_wrong_secret_never_shows_the_password(
        distribution_basic: Distribution, image_factory: ImageFactory, tmp_path: Path,
        capsys: Capsys) -> None:
    host = distribution_basic.host
    user, password = next(iter(distribution_basic.users.items()))
    repo = unique("private")
    push_image(image_factory, host, repo, credential=Credential(user, password))
    wrong = wrong_password()
    image = f"{host}/{repo}:v1"
    path = write_manifests(
        tmp_path / "pods.yaml",
        secret("wrong", host, user, wrong),
        secret("right", host, user, password),
        pod("withwrong", {"app": image}, imagePullSecrets=[{"name": "wrong"}]),
        pod("withright", {"app": image}, imagePullSecrets=[{"name": "right"}]),
        pod("without", {"app": image}),
        pod("wrongfirst", {"app": image}, imagePullSecrets=[{"name": "wrong"}, {"name": "right"}]),
        pod("rightfirst", {"app": image}, imagePullSecrets=[{"name": "right"}, {"name": "wrong"}]),
    )

    run = doctor(capsys, path, "-o", "json")
    table = doctor(capsys, path)
    for text in (run.out, run.err, table.out, table.err):
        assert wrong not in text and password not in text
        assert base64.b64encode(f"{user}:{wrong}".encode()).decode() not in text
    assert run.code == 1
    rows = {r["pod"]: r for r in run.rows()}
    assert rows["withwrong"]["outcome"] == "unauthorized"
    assert rows["withwrong"]["credential"] == f"secret default/wrong (matched {host})"
    assert f"{host} refused secret default/wrong" in rows["withwrong"]["detail"]
    assert rows["withright"]["outcome"] == "ok"
    assert rows["withright"]["credential"] == f"secret default/right (matched {host})"
    assert rows["without"]["outcome"] == "unauthorized"
    assert rows["without"]["credential"] == "anonymous"
    assert "hoist secret docker-registry" in rows["without"]["hint"]
    # One pull per credential, in the pod's order, until one works.
    assert rows["wrongfirst"]["outcome"] == "ok"
    assert rows["wrongfirst"]["credential"] == f"secret default/right (matched {host})"
    assert (f"tried before: secret default/wrong (matched {host}) (unauthorized)"
            in rows["wrongfirst"]["detail"])
    assert rows["rightfirst"]["outcome"] == "ok"
    assert rows["rightfirst"]["credential"] == f"secret default/right (matched {host})"
    assert "tried before" not in rows["rightfirst"]["detail"]


def test_unauthorized_through_a_token_server(
        distribution_bearer: Distribution, tmp_path: Path, capsys: Capsys) -> None:
    host = distribution_bearer.host
    user = next(iter(distribution_bearer.users))
    wrong = wrong_password()
    path = write_manifests(
        tmp_path / "pods.yaml", secret("stale", host, user, wrong),
        pod("app", {"app": f"{host}/{unique('tok')}:v1"}, imagePullSecrets=[{"name": "stale"}]))
    run = doctor(capsys, path, "-o", "json")
    assert wrong not in run.out + run.err
    [row] = run.rows()
    assert row["outcome"] == "unauthorized", row
    assert row["credential"] == f"secret default/stale (matched {host})"
    assert "token server" in row["detail"]


def test_secret_through_a_service_account_in_files_and_the_docker_config_as_node_keyring(
        distribution_basic: Distribution, image_factory: ImageFactory, tmp_path: Path,
        capsys: Capsys, _empty_home: Path) -> None:
    host = distribution_basic.host
    user, password = next(iter(distribution_basic.users.items()))
    repo = unique("sa")
    push_image(image_factory, host, repo, credential=Credential(user, password))
    path = write_manifests(
        tmp_path / "pods.yaml", secret("regcred", host, user, password),
        service_account("builder", "regcred"),
        pod("viasa", {"app": f"{host}/{repo}:v1"}, serviceAccountName="builder"),
        pod("plain", {"app": f"{host}/{repo}:v1"}))
    rows = {r["pod"]: r for r in doctor(capsys, path, "-o", "json").rows()}
    assert rows["viasa"]["outcome"] == "ok"
    assert rows["viasa"]["credential"] == f"secret default/regcred (matched {host})"
    assert rows["plain"]["outcome"] == "unauthorized"

    # The user's docker config stands in for the node's own keyring.
    config = _empty_home / ".docker" / "config.json"
    config.parent.mkdir()
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    config.write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    run = doctor(capsys, path, "-o", "json")
    assert password not in run.out + run.err
    rows = {r["pod"]: r for r in run.rows()}
    assert rows["plain"]["outcome"] == "ok"
    assert rows["plain"]["credential"] == f"node config {config} (matched {host})"
    assert run.code == 0


@pytest.fixture
def cluster_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "cluster"
    with Cluster.open(directory):
        pass
    yield directory


def test_pod_of_the_embedded_cluster_with_the_secret_of_its_service_account(
        distribution_basic: Distribution, image_factory: ImageFactory, cluster_dir: Path,
        capsys: Capsys) -> None:
    host = distribution_basic.host
    user, password = next(iter(distribution_basic.users.items()))
    repo = unique("cluster")
    push_image(image_factory, host, repo, credential=Credential(user, password))
    image = f"{host}/{repo}:v1"
    with Cluster.open(cluster_dir) as cluster:
        cluster.apply(pod("early", {"app": image}))  # before the account has the secret
        cluster.apply(secret("regcred", host, user, password) | {
            "metadata": {"name": "regcred", "namespace": "default"}})
        cluster.patch("ServiceAccount", "default", "default",
                      {"imagePullSecrets": [{"name": "regcred"}]})
        cluster.apply(pod("viasa", {"app": image}))

    args = ("--pod", "viasa", "--cluster-dir", str(cluster_dir), "-o", "json")
    run = doctor(capsys, *args)
    assert run.code == 0, run.out + run.err
    assert password not in run.out + run.err
    [row] = run.rows()
    assert row["outcome"] == "ok"
    assert row["file"] is None and row["line"] is None
    assert (row["namespace"], row["pod"], row["container"]) == ("default", "viasa", "app")
    assert row["credential"] == f"secret default/regcred (matched {host})"
    assert "from service account default" in row["detail"]
    assert "node: unknown (no node agent has run for this cluster)" in row["detail"]

    # The pod made before the account listed the secret does not carry it: the kubelet
    # pulls anonymously, and doctor says why.
    [early] = doctor(capsys, "--pod", "early", "--cluster-dir", str(cluster_dir),
                     "-o", "json").rows()
    assert early["outcome"] == "unauthorized" and early["credential"] == "anonymous"
    assert "created before" in early["detail"]

    # Once the node holds the image, doctor says so.
    runtime = BuiltinRuntime(cluster_dir / "node" / "images")
    try:
        runtime.pull_image(image, AuthConfig(username=user, password=password))
    finally:
        runtime.close()
    with Cluster.open(cluster_dir) as cluster:
        cluster.heartbeat("hoist-node", "builtin", {})
    [row] = doctor(capsys, *args).rows()
    assert "node: image present (IfNotPresent: the node uses it without pulling)" \
        in row["detail"], row


def test_pod_and_cluster_input_errors(cluster_dir: Path, tmp_path: Path,
                                      capsys: Capsys) -> None:
    missing = doctor(capsys, "--pod", "ghost", "--cluster-dir", str(cluster_dir))
    assert missing.code == 2 and 'pods "ghost" not found' in missing.err
    nocluster = doctor(capsys, "--pod", "x", "--cluster-dir", str(tmp_path / "none"))
    assert nocluster.code == 2 and "no embedded cluster" in nocluster.err
    assert not (tmp_path / "none").exists()
    path = write_manifests(tmp_path / "p.yaml", pod("p", {"a": "busybox"}))
    both = doctor(capsys, path, "--pod", "x", "--cluster-dir", str(cluster_dir))
    assert both.code == 2 and "not both" in both.err
    assert doctor(capsys, str(tmp_path / "nope.yaml")).code == 2


def test_forbidden_through_a_fault_proxy(distribution_open: Distribution,
                                         image_factory: ImageFactory,
                                         fault_proxy: StartProxy, tmp_path: Path,
                                         capsys: Capsys) -> None:
    repo = unique("denied")
    push_image(image_factory, distribution_open.host, repo)
    proxy = fault_proxy(distribution_open)
    proxy.http_status(403, path=f"/v2/{repo}/manifests/", times=None)
    path = write_manifests(tmp_path / "p.yaml", pod("p", {"app": f"{proxy.host}/{repo}:v1"}))
    [row] = doctor(capsys, path, "-o", "json").rows()
    assert row["outcome"] == "forbidden"
    assert "denies it pull access" in row["detail"] and "grant" in row["hint"]


def test_registry_errors_a_server_failure_and_a_manifest_that_does_not_verify(
        distribution_open: Distribution, image_factory: ImageFactory,
        fault_proxy: StartProxy, tmp_path: Path, capsys: Capsys) -> None:
    broken, multi = unique("broken"), unique("flipped")
    push_image(image_factory, distribution_open.host, broken)
    push_index(image_factory, distribution_open.host, multi, [("linux", "amd64")])
    proxy = fault_proxy(distribution_open)
    proxy.http_status(500, path=f"/v2/{broken}/manifests/", times=None)
    proxy.flip_byte(40, path=f"/v2/{multi}/manifests/", method="GET", times=None)
    path = write_manifests(tmp_path / "p.yaml", pod("p", {
        "broken": f"{proxy.host}/{broken}:v1", "flipped": f"{proxy.host}/{multi}:v1"}))
    rows = by_container(doctor(capsys, path, "-o", "json", "--platform", "linux/amd64").rows())
    assert rows["broken"]["outcome"] == "registry-error"
    assert "answered HTTP 500" in rows["broken"]["detail"]
    assert rows["flipped"]["outcome"] == "registry-error"
    assert "manifest hashes to" in rows["flipped"]["detail"]


# ---------------------------------------------------------------------- rate limits

def test_rate_limited_with_dockerhub_shaped_headers_from_a_fault_proxy(
        distribution_open: Distribution, image_factory: ImageFactory,
        fault_proxy: StartProxy, tmp_path: Path, capsys: Capsys) -> None:
    """A real registry behind a proxy answering 429 with Docker Hub's rate-limit headers
    (docs.docker.com/docker-hub/usage/pulls: ratelimit-limit, ratelimit-remaining)."""
    repo, multi = unique("limited"), unique("limited-index")
    push_image(image_factory, distribution_open.host, repo)
    push_index(image_factory, distribution_open.host, multi, [("linux", "amd64")])
    proxy = fault_proxy(distribution_open)
    limits = {"ratelimit-limit": "100;w=21600", "ratelimit-remaining": "0;w=21600",
              "docker-ratelimit-source": "192.0.2.7", "retry-after": "3600"}
    proxy.http_status(429, limits, path=f"/v2/{repo}/manifests/", times=None)
    # Docker Hub counts GETs, not HEADs: an index's HEAD passes, the GET is refused.
    proxy.http_status(429, limits, path=f"/v2/{multi}/manifests/", method="GET", times=None)
    path = write_manifests(tmp_path / "p.yaml", pod("p", {
        "app": f"{proxy.host}/{repo}:v1", "multi": f"{proxy.host}/{multi}:v1"}))
    run = doctor(capsys, path, "-o", "json", "--platform", "linux/amd64")
    assert run.code == 1
    for row in run.rows():
        assert row["outcome"] == "rate-limited", row
        assert "0 of 100 pulls left per 6 h window" in row["detail"]
        assert "counted for 192.0.2.7" in row["detail"]
        assert "retry after 1 h" in row["detail"]
    assert proxy.requests == 3  # a 429 is reported, not retried


# ---------------------------------------------------------------------- connections

def test_unreachable_closed_port(tmp_path: Path, capsys: Capsys) -> None:
    host = f"127.0.0.1:{free_port()}"
    path = write_manifests(tmp_path / "p.yaml", pod("p", {"app": f"{host}/app:v1"}))
    run = doctor(capsys, path, "-o", "json")
    [row] = run.rows()
    assert run.code == 1
    assert row["outcome"] == "unreachable"
    assert row["detail"].startswith("connection refused") and host in row["detail"]
    assert "ssl:default" not in row["detail"]


def test_tls_mismatch_plain_http_to_a_tls_listener(tmp_path: Path, capsys: Capsys) -> None:
    """hoist's client (like containerd) speaks plain HTTP to loopback registries, so a
    loopback registry that serves TLS is the mismatch one way round."""
    with tls_listener(tmp_path) as host:
        path = write_manifests(tmp_path / "p.yaml", pod("p", {"app": f"{host}/app:v1"}))
        [row] = doctor(capsys, path, "-o", "json", "--timeout", "5").rows()
    assert row["outcome"] == "tls-mismatch", row
    assert "speaks HTTPS (TLS), but the node sent plain HTTP" in row["detail"]


@pytest.fixture
def exposed_proxy(distribution_open: Distribution) -> Iterator[FaultProxy]:
    address = non_loopback_address()
    if address is None:
        pytest.skip(reason="this machine has no non-loopback IPv4 address to reach a "
                           "registry over TLS (hoist speaks plain HTTP to loopback)")
    proxy = FaultProxy(distribution_open.host, listen_host=address)
    yield proxy
    proxy.stop()


def test_tls_mismatch_https_to_a_plain_registry(exposed_proxy: FaultProxy,
                                                image_factory: ImageFactory,
                                                distribution_open: Distribution,
                                                tmp_path: Path, capsys: Capsys) -> None:
    repo = unique("plain")
    push_image(image_factory, distribution_open.host, repo)
    image = f"{exposed_proxy.host}/{repo}:v1"
    path = write_manifests(tmp_path / "p.yaml", pod("p", {"app": image}))
    [row] = doctor(capsys, path, "-o", "json").rows()
    assert row["outcome"] == "tls-mismatch", row
    assert f"{exposed_proxy.host} speaks plain HTTP, but the node spoke HTTPS" in row["detail"]
    assert "--insecure-registry" in row["hint"]
    # Told the registry is plain HTTP, as a node configured so would, the pull works.
    [ok] = doctor(capsys, path, "-o", "json", "--insecure-registry",
                  exposed_proxy.host).rows()
    assert ok["outcome"] == "ok", ok


# ---------------------------------------------------------------------- input

def test_invalid_references_and_every_container_kind(tmp_path: Path, capsys: Capsys) -> None:
    closed = f"127.0.0.1:{free_port()}"
    doc = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
           "spec": {"template": {"spec": {
               "initContainers": [{"name": "init", "image": "MyApp:v1"}],
               "containers": [{"name": "main", "image": f"{closed}/main:v1"}],
               "ephemeralContainers": [{"name": "debug", "image": "bad@sha256:abc"}],
               "volumes": [{"name": "data", "image": {"reference": f"{closed}/data:v1"}}]}}}}
    path = write_manifests(tmp_path / "d.yaml", doc)
    run = doctor(capsys, path, "-o", "json")
    assert run.code == 1
    rows = by_container(run.rows())
    assert [r["container_type"] for r in run.rows()] == [
        "init", "regular", "ephemeral", "image-volume"]
    assert rows["data"]["outcome"] == "unreachable"
    assert rows["init"]["outcome"] == "invalid-reference"
    assert rows["init"]["credential"] == "none"
    assert "InvalidImageName" in rows["init"]["detail"]
    assert rows["debug"]["outcome"] == "invalid-reference"
    assert rows["main"]["outcome"] == "unreachable"
    assert rows["main"]["pod"] == "Deployment/web"


def test_a_malformed_referenced_secret_is_bad_input(tmp_path: Path, capsys: Capsys) -> None:
    broken = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
              "metadata": {"name": "broken"},
              "data": {".dockerconfigjson": base64.b64encode(b"{not json").decode()}}
    path = write_manifests(tmp_path / "p.yaml", broken,
                           pod("p", {"a": "127.0.0.1:1/a:v1"},
                               imagePullSecrets=[{"name": "broken"}]))
    run = doctor(capsys, path)
    assert run.code == 2
    assert f"{path}:2:" in run.err and "not valid JSON" in run.err


def test_unreachable_silent_listener_and_unresolvable_host(tmp_path: Path,
                                                           capsys: Capsys) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)  # connections wait in the backlog; nothing ever answers
        host = f"127.0.0.1:{silent.getsockname()[1]}"
        path = write_manifests(tmp_path / "p.yaml", pod("p", {
            "silent": f"{host}/app:v1", "nodns": "no-such-host.invalid/app:v1"}))
        run = doctor(capsys, path, "-o", "json", "--timeout", "0.5")
    rows = by_container(run.rows())
    assert rows["silent"]["outcome"] == "unreachable"
    assert rows["silent"]["detail"].startswith("timed out")
    assert rows["nodns"]["outcome"] == "unreachable"
    assert rows["nodns"]["detail"].startswith(("cannot resolve", "timed out"))


@pytest.mark.parametrize("kind", ["distribution", "hoist"])
def test_ok_and_not_found_on_both_registry_servers(
        kind: str, distribution_open: Distribution, hoist_registry: HoistRegistry,
        image_factory: ImageFactory, tmp_path: Path, capsys: Capsys) -> None:
    host = distribution_open.host if kind == "distribution" else hoist_registry.host
    repo = unique(f"both-{kind}")
    push_image(image_factory, host, repo)
    path = write_manifests(tmp_path / "p.yaml", pod("p", {
        "ok": f"{host}/{repo}:v1", "tag": f"{host}/{repo}:nope",
        "repo": f"{host}/{unique('none')}:v1"}))
    run = doctor(capsys, path, "-o", "json")
    assert [r["outcome"] for r in run.rows()] == ["ok", "unknown-tag", "unknown-repository"]
