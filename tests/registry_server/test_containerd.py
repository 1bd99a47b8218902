"""containerd's CRI PullImage from hoist's server over plain HTTP on 127.0.0.1: single and
multi-arch images, anonymous and with kubelet-style pull credentials (Basic and Bearer)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hoist.auth.credential import Credential
from hoist.node.cri import CriRuntime
from hoist.node.runtime import AuthConfig, RuntimeFailure
from hoist.transfer import Options, copy
from tests.registry_server._helpers import unique
from tests.support.cri_fixtures import ContainerdNode
from tests.support.images import ImageFactory
from tests.support.registry_server_fixtures import HoistRegistry


@pytest.mark.parametrize("multi", [False, True], ids=["single", "multi"])
def test_cri_pull(hoist_registry: HoistRegistry, containerd: ContainerdNode,
                  cri_runtime: CriRuntime, image_factory: ImageFactory, multi: bool) -> None:
    tag = f"cri-{'multi' if multi else 'single'}"
    image = (image_factory.make_index(tag, platforms=(("linux", "amd64"), ("linux", "arm64")))
             if multi else image_factory.make_image(tag, layers=(4096,)))
    name = unique("cri")
    reference = f"{hoist_registry.host}/{name}:v1"
    pushed = copy(f"oci:{image_factory.layout_dir}:{tag}", f"docker://{reference}", Options())
    assert str(pushed.digest) == image.digest
    cri_runtime.pull_image(reference)
    status = cri_runtime.image_status(reference)
    assert status is not None
    assert f"{hoist_registry.host}/{name}@{image.digest}" in status.repo_digests
    assert reference in status.repo_tags
    # the same content from Distribution is the same image (ID and manifest digest)
    twin = f"{containerd.registry.host}/{name}:v1"
    copy(f"oci:{image_factory.layout_dir}:{tag}", f"docker://{twin}", Options())
    cri_runtime.pull_image(twin)
    twin_status = cri_runtime.image_status(twin)
    assert twin_status is not None
    assert twin_status.id == status.id
    assert f"{containerd.registry.host}/{name}@{image.digest}" in twin_status.repo_digests
    cri_runtime.remove_image(reference)
    cri_runtime.remove_image(twin)


@pytest.mark.parametrize("auth", ["basic", "token"])
def test_cri_pull_with_credentials(hoist_registry_factory: Callable[..., HoistRegistry],
                                   cri_runtime: CriRuntime, image_factory: ImageFactory,
                                   auth: str) -> None:
    registry = hoist_registry_factory(auth=auth)
    user, password = next(iter(registry.users.items()))
    name = unique("cricreds")
    reference = f"{registry.host}/{name}:v1"
    image = image_factory.make_image(f"creds-{auth}", layers=(2048,))
    copy(f"oci:{image_factory.layout_dir}:creds-{auth}", f"docker://{reference}",
         Options(credentials=Credential(username=user, password=password)))
    with pytest.raises(RuntimeFailure, match=r"(?i)unauthorized|401"):
        cri_runtime.pull_image(reference)
    # containerd 1.6 url.Parse()s server_address: a bare host:port does not parse, so
    # it is left out (it only restricts which host the credentials go to)
    cri_runtime.pull_image(reference, AuthConfig(username=user, password=password))
    status = cri_runtime.image_status(reference)
    assert status is not None
    assert f"{registry.host}/{name}@{image.digest}" in status.repo_digests
    cri_runtime.remove_image(reference)
