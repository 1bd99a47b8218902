"""The docker CLI against hoist's server, through a test dockerd of its own (Debian's
docker.io: own data-root, exec-root and socket, no bridge, no iptables): pull, build and
push (same digests as Distribution), and login with Basic and token auth."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.registry_server._helpers import unique
from tests.support.distribution import Distribution
from tests.support.dockerd import Dockerd
from tests.support.images import ImageFactory
from tests.support.registry_server_fixtures import HoistRegistry
from tests.support.skopeo import Skopeo


def _repo_digests(dockerd: Dockerd, ref: str) -> list[str]:
    out = dockerd.run("image", "inspect", "--format", "{{json .RepoDigests}}", ref)
    digests: list[str] = json.loads(out.stdout)
    return digests


def _pushed_digest(output: str) -> str:
    for line in output.splitlines():
        if "digest: sha256:" in line:
            return line.split("digest: ")[1].split()[0]
    raise AssertionError(f"no digest in docker push output: {output}")


def test_docker_pull_single_and_multi_arch(dockerd: Dockerd, hoist_registry: HoistRegistry,
                                           skopeo: Skopeo,
                                           image_factory: ImageFactory) -> None:
    for media, multi in (("docker", False), ("oci", False), ("docker", True)):
        tag = f"dk-{media}-{multi}"
        image = (image_factory.make_index(tag, media=media) if multi  # type: ignore[arg-type]
                 else image_factory.make_image(tag, media=media))  # type: ignore[arg-type]
        name = unique("docker")
        skopeo.copy(image.ref, f"docker://{hoist_registry.host}/{name}:v1")
        ref = f"{hoist_registry.host}/{name}:v1"
        dockerd.run("pull", ref)
        assert f"{hoist_registry.host}/{name}@{image.digest}" in _repo_digests(dockerd, ref)
        dockerd.run("rmi", ref)


def test_docker_build_and_push_same_digest_as_distribution(
        dockerd: Dockerd, hoist_registry: HoistRegistry, distribution_open: Distribution,
        skopeo: Skopeo, tmp_path: Path) -> None:
    if not Path("/bin/busybox").is_file():
        pytest.skip(reason="/bin/busybox not installed (Debian package busybox-static)")
    context = tmp_path / "context"
    context.mkdir()
    shutil.copy("/bin/busybox", context / "busybox")
    (context / "Dockerfile").write_text('FROM scratch\nCOPY busybox /bin/busybox\n'
                                        'CMD ["/bin/busybox", "true"]\n')
    name = unique("dkbuild")
    local = f"hoist-test/{name}:v1"
    dockerd.run("build", "-q", "-t", local, str(context))
    digests = []
    for registry in (hoist_registry.host, distribution_open.host):
        target = f"{registry}/{name}:v1"
        dockerd.run("tag", local, target)
        digests.append(_pushed_digest(dockerd.run("push", target).stdout))
    assert digests[0] == digests[1]
    assert skopeo.inspect(f"docker://{hoist_registry.host}/{name}:v1")["Digest"] == digests[0]
    # pull it back after removing it locally
    target = f"{hoist_registry.host}/{name}:v1"
    dockerd.run("rmi", target, f"{distribution_open.host}/{name}:v1", local)
    dockerd.run("pull", target)
    assert f"{hoist_registry.host}/{name}@{digests[0]}" in _repo_digests(dockerd, target)
    dockerd.run("rmi", target)


@pytest.mark.parametrize("auth", ["basic", "token"])
def test_docker_login_push_pull(dockerd: Dockerd,
                                hoist_registry_factory: Callable[..., HoistRegistry],
                                image_factory: ImageFactory, skopeo: Skopeo,
                                auth: str) -> None:
    registry = hoist_registry_factory(auth=auth)
    user, password = next(iter(registry.users.items()))
    image = image_factory.make_image(f"login-{auth}", media="docker")
    name = unique("dklogin")
    skopeo.copy(image.ref, f"docker://{registry.host}/{name}:v1", creds=(user, password))
    ref = f"{registry.host}/{name}:v1"
    denied = dockerd.run("pull", ref, check=False)
    assert denied.returncode != 0
    bad = dockerd.run("login", "-u", user, "--password-stdin", registry.host,
                      stdin="wrong\n", check=False)
    assert bad.returncode != 0
    dockerd.run("login", "-u", user, "--password-stdin", registry.host, stdin=password + "\n")
    try:
        dockerd.run("pull", ref)
        assert f"{registry.host}/{name}@{image.digest}" in _repo_digests(dockerd, ref)
        pushed = f"{registry.host}/{name}-pushed:v1"
        dockerd.run("tag", ref, pushed)
        digest = _pushed_digest(dockerd.run("push", pushed).stdout)
        assert skopeo.inspect(f"docker://{pushed}", creds=(user, password))["Digest"] == digest
        dockerd.run("rmi", ref, pushed)
    finally:
        dockerd.run("logout", registry.host, check=False)
    leaked = password in registry.log_text()
    assert not leaked
