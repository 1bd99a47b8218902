"""What the API server does to an object between decoding and storing it: defaulting,
then the mutating admission plugins this cluster runs, in kube-apiserver's order.

* Defaulting (pkg/apis/core/v1/defaults.go, pkg/apis/apps/v1/defaults.go) happens while
  the request is decoded, so before admission: ``imagePullPolicy`` of init, regular and
  ephemeral containers (hoist.core.policy.default_pull_policy), restartPolicy Always,
  dnsPolicy ClusterFirst, schedulerName, terminationMessagePath/Policy, and so on — the
  fields ``kubectl get -o yaml`` shows. Pod templates of Deployments are defaulted the same
  way, and the Deployment's own spec (replicas 1, RollingUpdate 25 %/25 %, revision
  history 10, progress deadline 600 s).
* ServiceAccount admission (plugin/pkg/admission/serviceaccount), pods on create only:
  an empty service account name becomes ``default``; the account must exist, else
  Forbidden with the plugin's message; its ``imagePullSecrets`` are copied only when the
  pod names none (replace, never merge). Token volume mounting is not reproduced.
* Priority and DefaultTolerationSeconds admission: ``priority: 0`` and the not-ready /
  unreachable NoExecute tolerations of 300 s, as a real cluster shows them.
* AlwaysPullImages (plugin/pkg/admission/alwayspullimages), when enabled in the cluster's
  :class:`AdmissionConfig`: pods on create and on update (only when an image changed),
  every init, regular and ephemeral container set to ``Always``.

Validation (hoist.cluster.validation) runs after all of this.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hoist.cluster.validation import ForbiddenError
from hoist.core.policy import default_pull_policy

DEFAULT_SERVICE_ACCOUNT = "default"
CONTAINER_KEYS = ("initContainers", "containers", "ephemeralContainers")
# pkg/apis/core/v1/defaults.go and the API's constants.
TERMINATION_MESSAGE_PATH = "/dev/termination-log"
DEFAULT_SCHEDULER = "default-scheduler"
DEFAULT_GRACE_PERIOD = 30
# plugin/pkg/admission/defaulttolerationseconds: 300 s for both taints.
DEFAULT_TOLERATION_SECONDS = 300
DEFAULT_TOLERATIONS = (
    {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists",
     "tolerationSeconds": DEFAULT_TOLERATION_SECONDS},
    {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists",
     "tolerationSeconds": DEFAULT_TOLERATION_SECONDS},
)


@dataclass(frozen=True, slots=True)
class AdmissionConfig:
    """The cluster's admission settings: what kube-apiserver's
    ``--enable-admission-plugins`` decides. Stored in the cluster database, so every
    process that opens the cluster admits pods alike."""

    always_pull_images: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"alwaysPullImages": self.always_pull_images}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AdmissionConfig:
        return cls(always_pull_images=bool(data.get("alwaysPullImages", False)))


# --------------------------------------------------------------------------- defaulting


def default_container(c: dict[str, Any]) -> None:
    """SetDefaults_Container (and the defaults of its ports); only empty fields."""
    image = c.get("image")
    if not c.get("imagePullPolicy"):
        # An empty or missing image does not parse: IfNotPresent, as for any unparsable one.
        c["imagePullPolicy"] = default_pull_policy(image if isinstance(image, str) else "").value
    c.setdefault("terminationMessagePath", TERMINATION_MESSAGE_PATH)
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("resources", {})
    for port in c.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")


def default_pod_spec(spec: dict[str, Any]) -> None:
    """SetDefaults_PodSpec plus each container's defaults."""
    for key in CONTAINER_KEYS:
        for c in spec.get(key) or []:
            if isinstance(c, dict):
                default_container(c)
    for v in spec.get("volumes") or []:
        image = v.get("image") if isinstance(v, dict) else None
        if isinstance(image, dict) and not image.get("pullPolicy") and isinstance(
                image.get("reference"), str):
            image["pullPolicy"] = default_pull_policy(image["reference"]).value
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", DEFAULT_SCHEDULER)
    spec.setdefault("securityContext", {})
    spec.setdefault("terminationGracePeriodSeconds", DEFAULT_GRACE_PERIOD)
    spec.setdefault("enableServiceLinks", True)
    if not spec.get("serviceAccountName") and spec.get("serviceAccount"):
        spec["serviceAccountName"] = spec["serviceAccount"]


def default_pod(pod: dict[str, Any]) -> None:
    spec = pod.setdefault("spec", {})
    if isinstance(spec, dict):
        default_pod_spec(spec)


def default_deployment(dep: dict[str, Any]) -> None:
    """SetDefaults_Deployment and the template's pod defaults."""
    spec = dep.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {})
    if isinstance(strategy, dict):
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            if isinstance(rolling, dict):
                rolling.setdefault("maxSurge", "25%")
                rolling.setdefault("maxUnavailable", "25%")
    template = spec.setdefault("template", {})
    if isinstance(template, dict):
        template.setdefault("metadata", {}).setdefault("creationTimestamp", None)
        tspec = template.setdefault("spec", {})
        if isinstance(tspec, dict):
            default_pod_spec(tspec)


# --------------------------------------------------------------------------- admission

ServiceAccountLookup = Callable[[str, str], "Mapping[str, Any] | None"]


def admit_service_account(pod: dict[str, Any], namespace: str,
                          lookup: ServiceAccountLookup) -> None:
    """The ServiceAccount plugin on pod create."""
    spec = pod["spec"]
    name = pod.get("metadata", {}).get("name") or pod.get("metadata", {}).get(
        "generateName", "")
    if not spec.get("serviceAccountName"):
        spec["serviceAccountName"] = DEFAULT_SERVICE_ACCOUNT
    sa_name = spec["serviceAccountName"]
    account = lookup(namespace, sa_name)
    if account is None:
        raise ForbiddenError(
            f'pods "{name}" is forbidden: error looking up service account '
            f'{namespace}/{sa_name}: serviceaccount "{sa_name}" not found')
    spec["serviceAccount"] = sa_name  # the deprecated alias the API keeps in step
    if not spec.get("imagePullSecrets") and account.get("imagePullSecrets"):
        spec["imagePullSecrets"] = [{"name": ref.get("name", "")}
                                    for ref in account["imagePullSecrets"]
                                    if isinstance(ref, Mapping)]


def admit_priority_and_tolerations(pod: dict[str, Any]) -> None:
    spec = pod["spec"]
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    tolerations = spec.setdefault("tolerations", [])
    keys = {(t.get("key"), t.get("effect")) for t in tolerations if isinstance(t, Mapping)}
    for t in DEFAULT_TOLERATIONS:
        if (t["key"], t["effect"]) not in keys:
            tolerations.append(dict(t))


def _images(spec: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
    return [(key, str(c.get("name")), c.get("image")) for key in CONTAINER_KEYS
            for c in spec.get(key) or [] if isinstance(c, Mapping)]


def admit_always_pull_images(pod: dict[str, Any],
                             old_pod: Mapping[str, Any] | None = None) -> None:
    """AlwaysPullImages: on create, and on an update that changes an image."""
    spec = pod["spec"]
    if old_pod is not None and _images(old_pod.get("spec") or {}) == _images(spec):
        return
    for key in CONTAINER_KEYS:
        for c in spec.get(key) or []:
            if isinstance(c, dict):
                c["imagePullPolicy"] = "Always"


def admit_pod_create(pod: dict[str, Any], namespace: str, lookup: ServiceAccountLookup,
                     config: AdmissionConfig) -> dict[str, Any]:
    """Defaulting then the mutating plugins, on a copy; validation is the caller's."""
    pod = copy.deepcopy(pod)
    default_pod(pod)
    if isinstance(pod.get("spec"), dict):
        admit_service_account(pod, namespace, lookup)
        admit_priority_and_tolerations(pod)
        if config.always_pull_images:
            admit_always_pull_images(pod)
    return pod


def admit_pod_update(pod: dict[str, Any], old_pod: Mapping[str, Any],
                     config: AdmissionConfig) -> dict[str, Any]:
    pod = copy.deepcopy(pod)
    default_pod(pod)
    if config.always_pull_images and isinstance(pod.get("spec"), dict):
        admit_always_pull_images(pod, old_pod)
    return pod
