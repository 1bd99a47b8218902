"""Defaulting, ServiceAccount and AlwaysPullImages admission, validation messages."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hoist.cluster import AdmissionConfig, Cluster, ForbiddenError, InvalidError, NotFoundError
from hoist.cluster.admission import admit_pod_create, default_deployment, default_pod
from hoist.cluster.validation import (
    dns1123_label_errors,
    dns1123_subdomain_errors,
    validate_deployment,
    validate_pod,
    validate_secret,
)
from hoist.errors import InputError
from tests.cluster.conftest import deployment, pod

DIGEST = "sha256:" + "a" * 64

# (image, policy the API server stores) — pkg/apis/core/v1/defaults.go SetDefaults_Container
# with pkg/util/parsers.ParseImageName; facts/kubelet.md.
DEFAULTING = [
    ("nginx", "Always"),
    ("nginx:latest", "Always"),
    ("nginx:Latest", "IfNotPresent"),
    ("nginx:1.27", "IfNotPresent"),
    (f"nginx@{DIGEST}", "IfNotPresent"),
    (f"nginx:latest@{DIGEST}", "Always"),
    (f"nginx:1.27@{DIGEST}", "IfNotPresent"),
    ("localhost:5000/team/app", "Always"),
    ("localhost:5000/team/app:v1", "IfNotPresent"),
    ("NotAValidName", "IfNotPresent"),  # unparsable: defaulted anyway, the kubelet objects
]


@pytest.mark.parametrize(("image", "expected"), DEFAULTING)
def test_pull_policy_defaulting_on_every_container_list(image: str, expected: str) -> None:
    obj = pod(image=image, initContainers=[{"name": "init", "image": image}],
              ephemeralContainers=[{"name": "debug", "image": image}])
    default_pod(obj)
    spec = obj["spec"]
    policies = [c["imagePullPolicy"] for key in ("initContainers", "containers",
                                                 "ephemeralContainers") for c in spec[key]]
    assert policies == [expected] * 3


def test_declared_policy_is_never_overwritten_by_defaulting() -> None:
    obj = pod(image="nginx", container={"imagePullPolicy": "Never"})
    default_pod(obj)
    assert obj["spec"]["containers"][0]["imagePullPolicy"] == "Never"


def test_pod_defaults_kubectl_shows() -> None:
    obj = pod(container={"ports": [{"containerPort": 80}]})
    default_pod(obj)
    spec = obj["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["schedulerName"] == "default-scheduler"
    assert spec["terminationGracePeriodSeconds"] == 30
    c = spec["containers"][0]
    assert c["terminationMessagePath"] == "/dev/termination-log"
    assert c["terminationMessagePolicy"] == "File"
    assert c["ports"] == [{"containerPort": 80, "protocol": "TCP"}]


def test_deployment_defaults_and_template_pull_policy() -> None:
    obj = deployment(image=f"app:latest@{DIGEST}")
    del obj["spec"]["replicas"]
    default_deployment(obj)
    spec = obj["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "RollingUpdate",
                                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
    assert spec["progressDeadlineSeconds"] == 600
    assert spec["revisionHistoryLimit"] == 10
    tspec = spec["template"]["spec"]
    assert tspec["containers"][0]["imagePullPolicy"] == "Always"
    assert tspec["restartPolicy"] == "Always"


def test_image_volume_pull_policy_defaulted() -> None:
    obj = pod(volumes=[{"name": "v", "image": {"reference": "data:latest"}},
                       {"name": "w", "image": {"reference": "data:v1"}}])
    default_pod(obj)
    assert [v["image"]["pullPolicy"] for v in obj["spec"]["volumes"]] == ["Always",
                                                                        "IfNotPresent"]


# --------------------------------------------------------------------------- ServiceAccount


def _lookup(accounts: dict[str, dict[str, Any]]) -> Any:
    return lambda namespace, name: accounts.get(name)


def test_service_account_defaults_to_default_and_copies_pull_secrets() -> None:
    sa = {"imagePullSecrets": [{"name": "regcred"}, {"name": "other"}]}
    admitted = admit_pod_create(pod(), "default", _lookup({"default": sa}), AdmissionConfig())
    spec = admitted["spec"]
    assert spec["serviceAccountName"] == "default"
    assert spec["imagePullSecrets"] == [{"name": "regcred"}, {"name": "other"}]


def test_service_account_pull_secrets_replace_not_merge() -> None:
    sa = {"imagePullSecrets": [{"name": "from-sa"}]}
    obj = pod(imagePullSecrets=[{"name": "from-pod"}])
    admitted = admit_pod_create(obj, "default", _lookup({"default": sa}), AdmissionConfig())
    assert admitted["spec"]["imagePullSecrets"] == [{"name": "from-pod"}]


def test_missing_service_account_is_forbidden_with_the_plugins_message() -> None:
    with pytest.raises(ForbiddenError) as e:
        admit_pod_create(pod(serviceAccountName="builder"), "team", _lookup({}),
                         AdmissionConfig())
    assert str(e.value) == ('pods "web" is forbidden: error looking up service account '
                            'team/builder: serviceaccount "builder" not found')
    assert isinstance(e.value, InputError)


def test_admission_does_not_touch_its_input() -> None:
    obj = pod()
    before = copy.deepcopy(obj)
    admit_pod_create(obj, "default", _lookup({"default": {}}), AdmissionConfig(True))
    assert obj == before


def test_always_pull_images_overrides_every_container() -> None:
    obj = pod(container={"imagePullPolicy": "Never"},
              initContainers=[{"name": "i", "image": "x:1", "imagePullPolicy": "IfNotPresent"}])
    admitted = admit_pod_create(obj, "default", _lookup({"default": {}}),
                                AdmissionConfig(always_pull_images=True))
    assert [c["imagePullPolicy"] for c in admitted["spec"]["initContainers"]
            + admitted["spec"]["containers"]] == ["Always", "Always"]


def test_always_pull_images_is_a_stored_cluster_setting(tmp_path: Any) -> None:
    with Cluster.open(tmp_path, admission=AdmissionConfig(always_pull_images=True)):
        pass
    with Cluster.open(tmp_path) as again:
        assert again.admission().always_pull_images
        stored = again.create(pod(container={"imagePullPolicy": "Never"}))
        assert stored["spec"]["containers"][0]["imagePullPolicy"] == "Always"
        # An update that changes no image is left alone (the plugin skips it) …
        again.set_admission(AdmissionConfig())
        assert not again.admission().always_pull_images


def test_always_pull_images_on_update_only_when_an_image_changes(cluster: Cluster) -> None:
    cluster.apply(pod(image="nginx:1.27"))
    cluster.set_admission(AdmissionConfig(always_pull_images=True))
    same, outcome = cluster.apply(pod(image="nginx:1.27"))
    assert outcome == "unchanged"
    assert same["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    # A new image makes the plugin set Always, which a pod update may not change: the
    # API server's Forbidden, as when the plugin is enabled on a running cluster.
    with pytest.raises(InvalidError, match=r"spec: Forbidden: pod updates may not change"):
        cluster.apply(pod(image="nginx:1.28"))
    cluster.apply(pod(name="late", image="nginx:1.27"))
    changed, outcome = cluster.apply(pod(name="late", image="nginx:1.28"))
    assert outcome == "configured"
    assert changed["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert changed["spec"]["containers"][0]["imagePullPolicy"] == "Always"


# --------------------------------------------------------------------------- validation


def _invalid(obj: dict[str, Any]) -> str:
    default_pod(obj)
    with pytest.raises(InvalidError) as e:
        validate_pod(obj)
    return str(e.value)


def test_unsupported_pull_policy_message() -> None:
    msg = _invalid(pod(container={"imagePullPolicy": "Sometimes"}))
    assert msg == ('The Pod "web" is invalid: spec.containers[0].imagePullPolicy: Unsupported '
                   'value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"')


def test_missing_image_message() -> None:
    obj = pod()
    del obj["spec"]["containers"][0]["image"]
    assert _invalid(obj) == 'The Pod "web" is invalid: spec.containers[0].image: Required value'


def test_image_whitespace_message_and_invalid_names_left_to_the_kubelet() -> None:
    msg = _invalid(pod(image=" nginx"))
    assert msg == ('The Pod "web" is invalid: spec.containers[0].image: Invalid value: " nginx": '
                   "must not have leading or trailing whitespace")
    obj = pod(image="Not/A:Valid::Name")
    default_pod(obj)
    validate_pod(obj)  # the API server accepts it; the kubelet reports InvalidImageName


def test_several_errors_are_bracketed_in_order() -> None:
    obj = pod(name="Web_1", restartPolicy="Sometimes")
    del obj["spec"]["containers"][0]["image"]
    msg = _invalid(obj)
    assert msg.startswith('The Pod "Web_1" is invalid: [metadata.name: Invalid value: "Web_1": '
                          "a lowercase RFC 1123 subdomain must consist of")
    assert msg.endswith('spec.containers[0].image: Required value, spec.restartPolicy: '
                        'Unsupported value: "Sometimes": supported values: "Always", '
                        '"OnFailure", "Never"]')


def test_container_names_duplicate_and_label_rules() -> None:
    obj = pod(initContainers=[{"name": "app", "image": "x"}])
    assert _invalid(obj) == ('The Pod "web" is invalid: spec.initContainers[0].name: '
                             'Duplicate value: "app"')
    msg = _invalid(pod(container={"name": "App"}))
    assert 'spec.containers[0].name: Invalid value: "App": a lowercase RFC 1123 label' in msg


def test_deployment_messages() -> None:
    obj = deployment()
    obj["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    default_deployment(obj)
    with pytest.raises(InvalidError) as e:
        validate_deployment(obj)
    assert str(e.value) == (
        'The Deployment "app" is invalid: spec.template.metadata.labels: Invalid value: '
        'map[string]string{"app":"other"}: `selector` does not match template `labels`')
    obj = deployment()
    obj["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    default_deployment(obj)
    with pytest.raises(InvalidError, match=r'spec.template.spec.restartPolicy: Unsupported '
                       r'value: "Never": supported values: "Always"$'):
        validate_deployment(obj)


def test_deployment_selector_is_immutable(cluster: Cluster) -> None:
    cluster.apply(deployment(name="frontend"))
    moved = deployment(name="frontend")
    moved["spec"]["selector"]["matchLabels"] = {"app": "frontend", "tier": "web"}
    moved["spec"]["template"]["metadata"]["labels"] = {"app": "frontend", "tier": "web"}
    with pytest.raises(InvalidError) as e:
        cluster.apply(moved)
    # The text users meet (kubernetes/kubectl#573 and many more).
    assert str(e.value) == (
        'The Deployment "frontend" is invalid: spec.selector: Invalid value: '
        'v1.LabelSelector{MatchLabels:map[string]string{"app":"frontend", "tier":"web"}, '
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable")


def _secret(data: dict[str, bytes], stype: str = "kubernetes.io/dockerconfigjson") -> Any:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "regcred"},
            "type": stype}


@pytest.mark.parametrize(("payload", "expected"), [
    (None, "data[.dockerconfigjson]: Required value"),
    (b"{not json", 'data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": '
                   "invalid character 'n' looking for beginning of object key string"),
    (b"[]", 'data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": json: '
            "cannot unmarshal array into Go value of type map[string]interface {}"),
    (b'{"auths"', 'data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": '
                  "unexpected end of JSON input"),
])
def test_dockerconfigjson_validation(payload: bytes | None, expected: str) -> None:
    decoded = {} if payload is None else {".dockerconfigjson": payload}
    with pytest.raises(InvalidError) as e:
        validate_secret(_secret(decoded), decoded)
    assert str(e.value) == f'The Secret "regcred" is invalid: {expected}'
    validate_secret(_secret({}), {".dockerconfigjson": b'{"auths":{}}'})


def test_namespace_must_exist(cluster: Cluster) -> None:
    obj = pod()
    obj["metadata"]["namespace"] = "nowhere"
    with pytest.raises(NotFoundError, match=r'^namespaces "nowhere" not found$'):
        cluster.create(obj)


@given(st.text(alphabet="abcz09-.", max_size=70))
def test_dns_names_match_the_documented_regex(name: str) -> None:
    import re

    label_ok = bool(re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name)) and len(name) <= 63
    assert (not dns1123_label_errors(name)) == label_ok
    sub_ok = bool(re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*",
                               name)) and len(name) <= 253
    assert (not dns1123_subdomain_errors(name)) == sub_ok
