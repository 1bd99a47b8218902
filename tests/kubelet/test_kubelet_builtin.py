"""The node agent over the embedded control plane with the builtin runtime: pods applied
to the cluster get their images ensured, and their status and events read as the
kubelet's do (run in-process at a time scale of 1/100)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hoist.auth.credential import Credential
from hoist.cluster.agent import NodeOptions
from hoist.cluster.kubelet import BUILTIN_NOTE, IMAGE_PRESENT
from hoist.transfer.copy import Options, copy
from tests.kubelet._node import RunningNode, pod
from tests.support.distribution import Distribution
from tests.support.images import ImageFactory

SCALE = 0.01  # 10 s of kubelet time is 0.1 s here


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Callable[..., RunningNode]]:
    started: list[RunningNode] = []

    def start(**options: Any) -> RunningNode:
        n = RunningNode(tmp_path / "cluster", NodeOptions(runtime="builtin", time_scale=SCALE,
                                                          **options))
        started.append(n)
        return n

    yield start
    for n in started:
        n.close()


def push(factory: ImageFactory, registry: Distribution, repo: str, seed: str = "a",
         credential: Credential | None = None) -> str:
    info = factory.make_image(f"{repo}-{seed}", layers=[1024], seed=f"{repo}-{seed}")
    copy(f"oci:{factory.layout_dir}:{repo}-{seed}", f"docker://{registry.host}/{repo}:v1",
         Options(credentials=credential or Credential()))
    return info.digest


def dockerconfig_secret(name: str, server: str, user: str, password: str) -> dict[str, Any]:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    payload = {"auths": {server: {"username": user, "password": password, "auth": auth}}}
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"name": name, "namespace": "default"},
            "data": {".dockerconfigjson": base64.b64encode(json.dumps(payload).encode()).decode()}}


def test_unpullable_image_goes_into_backoff_and_recovers_once_pushed(
        node: Callable[..., RunningNode], distribution_open: Distribution,
        image_factory: ImageFactory) -> None:
    n = node()
    image = f"{distribution_open.host}/comes-later:v1"
    n.cluster.apply(pod("later", image))
    first = n.wait(lambda: n.waiting("later"))
    assert first["reason"] == "ErrImagePull"
    backoff = n.wait(lambda: (w := n.waiting("later")) and w["reason"] == "ImagePullBackOff"
                     and w)
    assert backoff["message"] == (f'Back-off pulling image "{image}": ErrImagePull: '
                                  f"{first['message']}")
    n.wait(lambda: sum(e[3] for e in n.events("later") if e[1] == "Failed" and
                       e[2].startswith("Failed to pull image")) >= 3, timeout=30)
    reasons = [e[1] for e in n.events("later")]
    assert reasons[:3] == ["Scheduled", "Pulling", "Failed"]
    assert "BackOff" in reasons
    assert ("Warning", "Failed", "Error: ErrImagePull") in [e[:3] for e in n.events("later")]

    push(image_factory, distribution_open, "comes-later")
    ready = n.wait(lambda: (w := n.waiting("later")) and w["reason"] == IMAGE_PRESENT and w)
    assert ready["message"] == BUILTIN_NOTE
    current = n.cluster.get("Pod", "default", "later")
    assert current is not None
    status = current["status"]["containerStatuses"][0]
    assert status["imageID"].startswith(f"{distribution_open.host}/comes-later@sha256:")
    conditions = {c["type"]: c["status"] for c in current["status"]["conditions"]}
    assert conditions["hoist.dev/ImagesReady"] == "True"
    assert conditions["Ready"] == "False"  # nothing runs on the builtin runtime


def test_private_image_through_the_service_account(
        node: Callable[..., RunningNode], distribution_basic: Distribution,
        image_factory: ImageFactory) -> None:
    password = str(distribution_basic.users["alice"])
    push(image_factory, distribution_basic, "private-sa",
         credential=Credential("alice", password))
    image = f"{distribution_basic.host}/private-sa:v1"
    n = node()
    n.cluster.apply(pod("nosecret", image))
    w = n.wait(lambda: n.waiting("nosecret"))
    assert w["reason"] == "ErrImagePull" and "401 Unauthorized" in w["message"]
    assert password not in json.dumps(n.cluster.events("default"))

    n.cluster.apply(dockerconfig_secret("regcred", distribution_basic.host, "alice", password))
    n.cluster.patch("ServiceAccount", "default", "default",
                    {"imagePullSecrets": [{"name": "regcred"}]})
    n.cluster.apply(pod("viasa", image))
    ok = n.wait(lambda: n.waiting("viasa"))
    assert ok["reason"] == IMAGE_PRESENT, ok
    viasa = n.cluster.get("Pod", "default", "viasa")
    assert viasa is not None and viasa["spec"]["imagePullSecrets"] == [{"name": "regcred"}]


def test_missing_pull_secret_is_reported_and_the_pull_goes_on(
        node: Callable[..., RunningNode], distribution_open: Distribution,
        image_factory: ImageFactory) -> None:
    push(image_factory, distribution_open, "public")
    n = node()
    n.cluster.apply(pod("ghost", f"{distribution_open.host}/public:v1",
                        imagePullSecrets=[{"name": "nope"}]))
    n.wait(lambda: (w := n.waiting("ghost")) and w["reason"] == IMAGE_PRESENT)
    assert ("Warning", "FailedToRetrieveImagePullSecret",
            "Unable to retrieve some image pull secrets (nope); attempting to pull the image "
            "may not succeed.") in [e[:3] for e in n.events("ghost")]


def test_never_policy_on_an_absent_image(node: Callable[..., RunningNode],
                                         distribution_open: Distribution) -> None:
    n = node()
    image = f"{distribution_open.host}/never-here:v1"
    n.cluster.apply(pod("never", image, "Never"))
    w = n.wait(lambda: n.waiting("never"))
    msg = f'Container image "{image}" is not present with pull policy of Never'
    assert w == {"reason": "ErrImageNeverPull", "message": msg}
    assert [e[:3] for e in n.events("never")][1:3] == [
        ("Warning", "ErrImageNeverPull", msg), ("Warning", "Failed", "Error: ErrImageNeverPull")]


def test_deleting_a_pod_with_the_node_up_finalizes_it(
        node: Callable[..., RunningNode], distribution_open: Distribution,
        image_factory: ImageFactory) -> None:
    push(image_factory, distribution_open, "deleted")
    n = node()
    n.cluster.apply(pod("bye", f"{distribution_open.host}/deleted:v1"))
    n.wait(lambda: n.waiting("bye"))
    n.wait(n.cluster.node_alive)
    assert n.cluster.delete("Pod", "default", "bye")
    n.wait(lambda: n.cluster.get("Pod", "default", "bye") is None)


def test_always_verify_keeps_a_private_image_from_pods_without_credentials(
        node: Callable[..., RunningNode], distribution_basic: Distribution,
        image_factory: ImageFactory) -> None:
    password = str(distribution_basic.users["alice"])
    push(image_factory, distribution_basic, "kep2535", credential=Credential("alice", password))
    image = f"{distribution_basic.host}/kep2535:v1"
    n = node(verification_policy="AlwaysVerify")
    n.cluster.apply(dockerconfig_secret("regcred", distribution_basic.host, "alice", password))
    n.cluster.apply(pod("owner", image, "IfNotPresent", imagePullSecrets=[{"name": "regcred"}]))
    assert n.wait(lambda: n.waiting("owner"))["reason"] == IMAGE_PRESENT

    # Same image, no credentials: IfNotPresent must pull again (and the registry says no).
    n.cluster.apply(pod("borrower", image, "IfNotPresent"))
    w = n.wait(lambda: n.waiting("borrower"))
    assert w["reason"] == "ErrImagePull" and "401 Unauthorized" in w["message"]
    assert [e[1] for e in n.events("borrower")][1:3] == ["Pulling", "Failed"]

    # Never: the same answer as for an absent image, so the pod learns nothing.
    n.cluster.apply(pod("peeker", image, "Never"))
    w = n.wait(lambda: n.waiting("peeker"))
    assert w == {"reason": "ErrImageNeverPull",
                 "message": f'Container image "{image}" is not present with pull policy of '
                            "Never"}

    # The owner's credentials still work for a new pod that has them.
    n.cluster.apply(pod("sibling", image, "Never", imagePullSecrets=[{"name": "regcred"}]))
    assert n.wait(lambda: n.waiting("sibling"))["reason"] == IMAGE_PRESENT
    assert ("Normal", "Pulled", f'Container image "{image}" already present on machine and can '
            "be accessed by the pod") in [e[:3] for e in n.events("sibling")]


def test_never_verify_lets_every_pod_use_what_the_node_has(
        node: Callable[..., RunningNode], distribution_basic: Distribution,
        image_factory: ImageFactory) -> None:
    password = str(distribution_basic.users["alice"])
    push(image_factory, distribution_basic, "shared", credential=Credential("alice", password))
    image = f"{distribution_basic.host}/shared:v1"
    n = node(verification_policy="NeverVerify")
    n.cluster.apply(dockerconfig_secret("regcred", distribution_basic.host, "alice", password))
    n.cluster.apply(pod("owner", image, "IfNotPresent", imagePullSecrets=[{"name": "regcred"}]))
    assert n.wait(lambda: n.waiting("owner"))["reason"] == IMAGE_PRESENT
    n.cluster.apply(pod("borrower", image, "Never"))
    assert n.wait(lambda: n.waiting("borrower"))["reason"] == IMAGE_PRESENT  # issue #18787
